//! Sharing a journal: invites, joining, members, revoking.

use std::time::Duration;

use recovery_journal::{Date, DeviceId as JournalDevice, MemberRole};
use starling_client::{ClientError, DeviceId, DocRow, RelayAddr, Role};

use crate::App;
use crate::error::{AppError, Result, invalid, not_found};
use crate::find::{short, title};
use crate::sync::{ProblemKind, SyncOptions};

/// How long `share` tries to register a new invite at the relay.
const REGISTER_WITHIN: Duration = Duration::from_secs(8);

/// Parses a relay address (`host[:port]`, `wss://…`, `ws://…`).
pub(crate) fn relay_addr(text: &str) -> Result<RelayAddr> {
    RelayAddr::parse(text.trim())
        .map_err(|e| invalid(format!("`{}` is not a relay address: {e}", text.trim())))
}

/// A new invite.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Invite {
    /// The single-use link. It holds secrets: hand it over privately.
    pub link: String,
    /// How long it stays valid, ms.
    pub expires_in_ms: u64,
    /// Whether the relay knows it already (`false`: this device was offline;
    /// its next sync registers it, and the link works only after that).
    pub registered: bool,
}

/// What `join` did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum JoinOutcome {
    /// Joined; the journal is on this device.
    Joined {
        /// The journal.
        row: DocRow,
        /// Whose journal (the client's name), once known.
        client: Option<String>,
    },
    /// This device is already in that journal: nothing changed.
    AlreadyMember {
        /// The journal.
        row: DocRow,
    },
    /// Stored without contacting the relay (`offline`); a sync completes it.
    Stored {
        /// The journal.
        row: DocRow,
    },
}

/// A member of a journal, as this device knows them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MemberEntry {
    /// Their device.
    pub device: String,
    /// Their name: as the owner recorded it, as this device invited them,
    /// or (for this device) its own.
    pub name: Option<String>,
    /// Access: owner, editor or viewer (`None` once removed).
    pub role: Option<String>,
    /// Their perspective: client, worker, supporter...
    pub perspective: String,
    /// Whether this is you: this device, or another device of yours.
    pub you: bool,
    /// Whether this is this very device.
    pub this_device: bool,
    /// When they were removed, if they were.
    pub removed: Option<Date>,
    /// Whether they left themselves (rather than being removed).
    pub left: bool,
}

/// An invite not used yet.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InviteEntry {
    /// The invite's id.
    pub id: String,
    /// The name it was made for.
    pub name: String,
    /// The perspective it grants: worker or supporter.
    pub perspective: String,
    /// The access it grants: editor or viewer.
    pub role: String,
    /// When it stops working (unix ms).
    pub expires_at: u64,
}

fn role_name(role: Role) -> String {
    format!("{role:?}").to_lowercase()
}

impl App {
    /// Invites someone as `perspective` (worker or supporter) with access
    /// `role` (editor or viewer), valid for `expires` (`90s`, `30m`, `12h`,
    /// `7d`). Registers the invite at the relay at once when it is reachable.
    pub fn share(
        &self,
        row: &DocRow,
        role: &str,
        perspective: &str,
        name: &str,
        expires: &str,
    ) -> Result<Invite> {
        let role = match role.trim() {
            "editor" => Role::Editor,
            "viewer" => Role::Viewer,
            other => return Err(invalid(format!("access `{other}`: use editor or viewer"))),
        };
        if !matches!(perspective, "worker" | "supporter") {
            return Err(invalid("invite someone as worker or supporter"));
        }
        self.check_owner(row, "invite someone")?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("give the person's name (1 to 200 characters)"));
        }
        // Two current members by one name could not be told apart (in
        // `members`, the history, or `revoke NAME`).
        let (members, _) = self.members(row)?;
        if members.iter().any(|m| {
            m.removed.is_none()
                && m.name
                    .as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        }) {
            return Err(invalid(format!(
                "someone in {} is already called {name}: give the new person a name that tells \
                 them apart",
                journal_label(row)
            )));
        }
        let valid = crate::parse_duration(expires)?;
        let link = self
            .client
            .share(&row.doc, role, perspective, name, valid)?;
        let options = SyncOptions::once(REGISTER_WITHIN);
        let registered = match self.sync(Some(&row.doc), &options, |_| {}) {
            Ok(outcome) => outcome.problems.iter().all(|p| p.journal != row.doc),
            Err(_) => false,
        };
        Ok(Invite {
            link,
            expires_in_ms: valid,
            registered,
        })
    }

    /// Joins a journal from an invite link. Joining one this device is
    /// already in changes nothing. With `offline`, the invite is only
    /// stored; a sync completes the join.
    pub fn join(&self, link: &str, offline: bool) -> Result<JoinOutcome> {
        let joined = match self.client.join(link) {
            Ok(row) => row,
            Err(ClientError::AlreadyMember(doc)) => {
                let row = self.client.find_doc(&doc)?;
                return Ok(JoinOutcome::AlreadyMember { row });
            }
            Err(e) => return Err(e.into()),
        };
        if offline {
            return Ok(JoinOutcome::Stored { row: joined });
        }
        let options = SyncOptions::once(Duration::from_secs(60));
        let outcome = match self.sync(Some(&joined.doc), &options, |_| {}) {
            Ok(o) => o,
            Err(AppError::SyncIncomplete(o)) => *o,
            Err(e) => return Err(e),
        };
        if let Some(p) = outcome.problems.iter().find(|p| p.journal == joined.doc) {
            if p.kind == ProblemKind::InviteUnusable {
                // Nothing to wait for: the link will never work.
                self.client.forget_failed_join(&joined.doc)?;
                return Err(invalid(p.text.clone()));
            }
            return Err(AppError::SyncIncomplete(Box::new(crate::SyncOutcome {
                problems: vec![p.clone()],
                ..outcome
            })));
        }
        let journal = self.load(&joined)?;
        let client = journal
            .owner()
            .and_then(|o| journal.member(o))
            .map(|m| m.name);
        if let Some(name) = &client {
            self.client.set_title(&joined.doc, name)?;
        }
        let row = self.client.find_doc(&joined.doc)?;
        Ok(JoinOutcome::Joined { row, client })
    }

    /// The members of a journal as this device knows them: the verified
    /// membership log, with names from the journal, this device's invites
    /// and its own identity; members the owner removed are listed with the
    /// date. Also whether this device itself was removed.
    pub fn members(&self, row: &DocRow) -> Result<(Vec<MemberEntry>, bool)> {
        let me = self.client.identity()?;
        let named = self.load(row).map(|j| j.members()).unwrap_or_default();
        let name_of = |d: &DeviceId| {
            named
                .iter()
                .find(|n| n.device.as_bytes() == d.as_bytes())
                .map(|n| n.name.clone())
        };
        let current = self.client.members(&row.doc)?;
        let left = self.client.left(&row.doc).unwrap_or_default();
        let has_left = |d: &JournalDevice| left.iter().any(|l| l.as_bytes() == d.as_bytes());
        let mut out: Vec<MemberEntry> = current
            .iter()
            .map(|m| MemberEntry {
                device: m.device.to_string(),
                // Any device of this person goes by this person's name.
                name: if m.person == me.person {
                    Some(me.name.clone())
                } else {
                    name_of(&m.device)
                        .or_else(|| name_of(&m.person))
                        .or_else(|| m.invited_as.clone())
                },
                role: Some(role_name(m.role)),
                perspective: m.perspective.clone(),
                you: m.person == me.person,
                this_device: m.device == me.device,
                removed: None,
                left: false,
            })
            .collect();
        for n in named.iter().filter(|n| n.removed.is_some()) {
            if !current.iter().any(|m| {
                m.device.as_bytes() == n.device.as_bytes()
                    || m.person.as_bytes() == n.device.as_bytes()
            }) {
                out.push(MemberEntry {
                    device: n.device.to_string(),
                    name: Some(n.name.clone()),
                    role: None,
                    perspective: n.role.to_string(),
                    you: n.device.as_bytes() == me.person.as_bytes(),
                    this_device: n.device.as_bytes() == me.device.as_bytes(),
                    removed: n.removed,
                    left: has_left(&n.device),
                });
            }
        }
        let removed_self = !current.is_empty() && !current.iter().any(|m| m.device == me.device);
        Ok((out, removed_self))
    }

    /// The invites to `row` this device made that nobody has used yet, and
    /// that have not expired or been withdrawn: soonest to expire first.
    pub fn invites(&self, row: &DocRow) -> Result<Vec<InviteEntry>> {
        let mut out: Vec<InviteEntry> = self
            .client
            .pending_invites(&row.doc)?
            .into_iter()
            .map(|i| InviteEntry {
                id: i.id.to_string(),
                name: i.name,
                perspective: i.perspective,
                role: role_name(i.role),
                expires_at: i.expires_at,
            })
            .collect();
        out.sort_by_key(|i| i.expires_at);
        Ok(out)
    }

    /// Withdraws an invite not used yet (by the name it was made for, or
    /// its id's start), so its link no longer works; tells the relay at once
    /// when it is reachable. Returns the invite, and whether the relay has
    /// the withdrawal (`false`: the next sync takes it; until then the link
    /// still works).
    pub fn withdraw_invite(&self, row: &DocRow, who: &str) -> Result<(InviteEntry, bool)> {
        self.check_owner(row, "withdraw an invite")?;
        let who = who.trim();
        let pending = self.invites(row)?;
        let by_name: Vec<&InviteEntry> = pending
            .iter()
            .filter(|i| i.name.eq_ignore_ascii_case(who))
            .collect();
        let matching: Vec<&InviteEntry> = if by_name.is_empty() && who.len() >= 4 {
            pending
                .iter()
                .filter(|i| i.id.starts_with(&who.to_ascii_lowercase()))
                .collect()
        } else {
            by_name
        };
        let invite = match matching.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(not_found(format!(
                    "no invite to {} for `{who}` waits to be used: `starling invites` lists them",
                    journal_label(row)
                )));
            }
            many => {
                return Err(invalid(format!(
                    "{} invites match `{who}`: give the start of one's id ({})",
                    many.len(),
                    many.iter()
                        .map(|i| short(&i.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        let id: DeviceId = invite
            .id
            .parse()
            .map_err(|_| invalid(format!("invite id `{}`", invite.id)))?;
        self.client.withdraw_invite(&row.doc, id)?;
        let options = SyncOptions::once(REGISTER_WITHIN);
        let told = match self.sync(Some(&row.doc), &options, |_| {}) {
            Ok(outcome) => outcome.problems.iter().all(|p| p.journal != row.doc),
            Err(_) => false,
        };
        Ok((invite, told))
    }

    /// Removes a member (named as `starling members` lists them, or by a
    /// device id prefix) and rotates to a key they never get. The journal
    /// records them as removed today.
    pub fn revoke(&self, row: &DocRow, member: &str) -> Result<(DeviceId, Option<String>)> {
        let member = member.trim();
        self.check_owner(row, "remove a member")?;
        let (members, _) = self.members(row)?;
        let lower = member.to_ascii_lowercase();
        let named = |m: &&MemberEntry| {
            m.device.starts_with(&lower)
                || m.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(member))
        };
        let hits: Vec<&MemberEntry> = members
            .iter()
            .filter(|m| !m.you && m.removed.is_none())
            .filter(named)
            .collect();
        let hit = match hits.as_slice() {
            [one] => (*one).clone(),
            [] if members.iter().filter(|m| m.you).any(|m| named(&m)) => {
                return Err(invalid(format!(
                    "`{member}` is you: `starling leave` takes you out of a journal someone \
                     else owns, and `starling delete` deletes one you own"
                )));
            }
            [] => {
                return Err(not_found(format!(
                    "no member called `{member}` on this device. If they joined since this \
                     device last synced, sync first so it learns that they joined"
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "`{member}` matches several members; use their device id"
                )));
            }
        };
        let device: DeviceId = hit
            .device
            .parse()
            .map_err(|_| invalid("a member's device id does not parse"))?;
        self.client.revoke(&row.doc, &device)?;
        // Record the removal in the journal, for everyone's view and export.
        let journal_device = JournalDevice::from_bytes(*device.as_bytes());
        let today = crate::actions::today();
        let owns = self.load(row)?.owned_by(self.device()?);
        if owns && self.load(row)?.member(journal_device).is_some() {
            self.edit(row, |j| j.remove_member(journal_device, today))?;
        }
        Ok((device, hit.name))
    }

    /// For journals this device owns: records members who joined through
    /// its invites under the name given at `share` time, and members who
    /// left as removed. Whether it wrote.
    pub(crate) fn name_new_members(&self, docs: &[DocRow]) -> Result<bool> {
        let me = self.device()?;
        let mut wrote = false;
        for row in docs {
            let Ok(journal) = self.load(row) else {
                continue;
            };
            if !journal.owned_by(me) {
                continue;
            }
            let current = self.client.members(&row.doc)?;
            // Members who left (their own removal in the log) are recorded
            // as removed today, as a revoke records them.
            let today = crate::actions::today();
            for gone in journal.members().into_iter().filter(|m| {
                m.removed.is_none()
                    && !journal.owned_by(m.device)
                    && !current.iter().any(|c| {
                        c.device.as_bytes() == m.device.as_bytes()
                            || c.person.as_bytes() == journal.person_of(m.device).as_bytes()
                    })
            }) {
                self.edit(row, |j| j.remove_member(gone.device, today))?;
                wrote = true;
            }
            for m in current {
                let device = JournalDevice::from_bytes(*m.device.as_bytes());
                let (Some(name), None) = (&m.invited_as, journal.member(device)) else {
                    continue;
                };
                let role = match m.perspective.as_str() {
                    "worker" => MemberRole::Worker,
                    _ => MemberRole::Supporter,
                };
                self.edit(row, |j| j.set_member(device, name, role))?;
                wrote = true;
            }
        }
        Ok(wrote)
    }
}

/// A journal's title for messages.
pub fn journal_label(row: &DocRow) -> String {
    if row.title.is_empty() {
        // Still joining: whose it is arrives with the first sync.
        return format!("journal {}", short(&row.doc));
    }
    format!("{}'s journal {}", title(row), short(&row.doc))
}
