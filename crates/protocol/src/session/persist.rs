//! What the client application stores per document, and restores from.
//!
//! Call [`ClientSession::persisted`] after every output that touched a
//! document (an edit is durable once its envelope is stored in the outbox)
//! and [`ClientSession::restore_doc`] at start-up. All fields are plain data
//! the application can put in SQLite; epoch keys are secrets and should be
//! stored as such.

use super::doc::DocSync;
use super::{ClientSession, SessionError};
use crate::chain::ChainTracker;
use crate::envelope::{Cover, Envelope};
use crate::ids::{DocId, Epoch};
use crate::invite::InviteSecret;
use crate::keys::EpochKey;
use crate::membership::{MembershipOp, MembershipState};

/// One document's client-side sync state.
#[derive(Clone, Debug)]
pub struct PersistedDoc {
    /// The document.
    pub doc: DocId,
    /// Last doc seq received from the relay.
    pub cursor: u64,
    /// The membership log as received (or authored).
    pub ops: Vec<MembershipOp>,
    /// Our membership ops the relay has not confirmed yet.
    pub op_outbox: Vec<MembershipOp>,
    /// Epoch keys held.
    pub keys: Vec<(Epoch, EpochKey)>,
    /// Per-author applied heads (including our own chain).
    pub heads: Vec<Cover>,
    /// Our unacknowledged envelopes, in sequence order.
    pub outbox: Vec<Envelope>,
    /// Received envelopes held back for a predecessor (verified once; they
    /// are verified again on restore).
    pub pending: Vec<Envelope>,
    /// An invite being redeemed, if joining.
    pub invite: Option<InviteSecret>,
    /// Last presence counter we sent.
    pub presence_counter: u64,
    /// Invites this device created, with the epoch whose key their link
    /// carries: when one is redeemed after a rotation, the joiner needs the
    /// current key (see [`SessionEvent::RotationNeeded`](super::SessionEvent)).
    pub created_invites: Vec<(crate::membership::InviteId, Epoch)>,
    /// Bytes of the envelopes applied since the last snapshot (see
    /// [`ClientSession::history_bytes`]).
    pub history_bytes: u64,
}

impl ClientSession {
    /// The state to store for `doc`.
    pub fn persisted(&self, doc: &DocId) -> Option<PersistedDoc> {
        let d = self.docs.get(doc)?;
        Some(PersistedDoc {
            doc: *doc,
            cursor: d.cursor,
            ops: d.ops.clone(),
            op_outbox: d.op_outbox.clone(),
            keys: d.keys.iter().map(|(e, k)| (*e, k.clone())).collect(),
            heads: d.chain.heads(),
            outbox: d.outbox.values().cloned().collect(),
            pending: d.pending.iter().map(|v| v.envelope().clone()).collect(),
            invite: self.invites.get(doc).cloned(),
            presence_counter: d.presence_counter,
            created_invites: d.created_invites.iter().map(|(i, e)| (*i, *e)).collect(),
            history_bytes: d.history_bytes,
        })
    }

    /// Restores a stored document, re-verifying its membership log and held
    /// envelopes.
    pub fn restore_doc(&mut self, p: PersistedDoc) -> Result<(), SessionError> {
        let mut d = DocSync::new(p.doc);
        d.cursor = p.cursor;
        if !p.ops.is_empty() {
            d.membership = Some(MembershipState::verify_chain(p.doc, &p.ops)?);
        }
        d.ops = p.ops;
        d.op_outbox = p.op_outbox;
        d.keys = p.keys.into_iter().collect();
        d.chain = ChainTracker::from_heads(&p.heads);
        for env in p.outbox {
            let seq = env.header_unverified().seq;
            d.outbox.insert(seq, env);
        }
        d.pending = p
            .pending
            .into_iter()
            .filter_map(|e| e.verify().ok())
            .collect();
        d.presence_counter = p.presence_counter;
        d.created_invites = p.created_invites.into_iter().collect();
        d.history_bytes = p.history_bytes;
        let me = self.key.device_id();
        d.removed =
            d.membership.as_ref().is_some_and(|m| m.role(&me).is_none()) && p.invite.is_none();
        if let Some(secret) = p.invite {
            d.invite_key = Some(secret.invite_key());
            self.invites.insert(p.doc, secret);
        }
        self.docs.insert(p.doc, d);
        Ok(())
    }
}
