//! The invites this device handed out: those nobody has used yet, and
//! withdrawing one.

use starling_protocol::DeviceId;
use starling_protocol::membership::{InviteStatus, Role};

use super::{Client, now_ms, parse_doc, relay_of};
use crate::error::Result;

/// An invite this device handed out that nobody has used yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingInvite {
    /// The invite's id.
    pub id: DeviceId,
    /// The name it was made for.
    pub name: String,
    /// Perspective it grants ("worker", "supporter").
    pub perspective: String,
    /// Access it grants.
    pub role: Role,
    /// Unix milliseconds after which it cannot be used.
    pub expires_at: u64,
}

impl Client {
    /// The invites to `doc` this device made that are still usable: not
    /// used, withdrawn or expired (links to another device of this person
    /// are not listed).
    pub fn pending_invites(&self, doc: &str) -> Result<Vec<PendingInvite>> {
        let row = self.find_doc(doc)?;
        let relay = relay_of(&row)?;
        let session = self.session_with(&relay, std::slice::from_ref(&row))?;
        let Some(state) = session.membership(&parse_doc(&row.doc)?) else {
            return Ok(Vec::new());
        };
        let names = self.store.invites(&row.doc)?;
        let now = now_ms();
        Ok(state
            .invites()
            .iter()
            .filter(|(_, inv)| {
                inv.status == InviteStatus::Live && !inv.is_device_invite() && inv.expires_at > now
            })
            .filter_map(|(id, inv)| {
                let key = id.to_string();
                let (_, name, _) = names.iter().find(|(i, _, _)| *i == key)?;
                Some(PendingInvite {
                    id: *id,
                    name: name.clone(),
                    perspective: inv.perspective.clone(),
                    role: inv.role,
                    expires_at: inv.expires_at,
                })
            })
            .collect())
    }

    /// Withdraws an invite to `doc` (queued for the relay: nobody can use
    /// it once the relay has it).
    pub fn withdraw_invite(&self, doc: &str, invite: DeviceId) -> Result<()> {
        self.membership_change(doc, |session, doc| {
            session.revoke_invite(now_ms(), doc, invite)
        })
    }
}
