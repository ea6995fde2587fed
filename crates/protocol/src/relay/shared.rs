//! Relays sharing one database: what another instance committed, taken in
//! as if this relay had stored it, and sent on to this relay's own
//! subscribers.
//!
//! An instance's in-memory state runs ahead of the database only by its
//! own uncommitted work; the database decides between instances (one row
//! per chain position, and each commit names the heads it was decided
//! on). What the others committed arrives here, read back from the
//! database, in order, after what this instance already has.

use crate::envelope::Envelope;
use crate::ids::DocId;
use crate::membership::{MembershipOp, MembershipState, OpStamp};
use crate::wire::Message;

use super::doc::{DocState, EnvelopeMeta};
use super::{ConnId, RelayAction, RelayCore, Tombstone, send};

/// What another instance committed to one document, read back from the
/// shared database: membership ops by index, envelopes by doc seq (the
/// bytes are `None` once compacted), each run in order. Rows this relay
/// already has are skipped.
#[derive(Clone, Debug, Default)]
pub struct Committed {
    /// Membership ops with their index and the relay's stamp.
    pub ops: Vec<(u64, MembershipOp, Option<OpStamp>)>,
    /// Envelopes with their metadata.
    pub envelopes: Vec<(EnvelopeMeta, Option<Envelope>)>,
}

/// What [`RelayCore::absorb`] took in.
#[derive(Clone, Debug, Default)]
pub struct Absorbed {
    /// What to send this relay's subscribers.
    pub actions: Vec<RelayAction>,
    /// Envelopes newly recorded with their bytes kept: author and length
    /// (for quotas).
    pub stored: Vec<(crate::ids::DeviceId, u64)>,
    /// Bytes a snapshot among them let go: author and length.
    pub freed: Vec<(crate::ids::DeviceId, u64)>,
}

/// Why [`RelayCore::absorb`] could not take what another instance
/// committed: this relay's view of the document and the database's
/// disagree. Reload the document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{doc}: {what}")]
pub struct Diverged {
    /// The document.
    pub doc: DocId,
    /// What did not line up.
    pub what: String,
}

impl RelayCore {
    /// A document's heads: how many membership ops it has and its last doc
    /// seq (`None`: unknown here, deleted or damaged).
    pub fn heads(&self, doc: &DocId) -> Option<(u64, u64)> {
        self.docs
            .get(doc)
            .map(|s| (s.ops.len() as u64, s.last_doc_seq))
    }

    /// Takes in what another instance committed to `doc` (see
    /// [`Committed`]): ops are applied and sent to this relay's
    /// subscribers (who are dropped if it removed them), envelopes are
    /// recorded (so they dedupe) and delivered. Nothing is stored: it is
    /// in the database already. A deleted or damaged document takes
    /// nothing.
    pub fn absorb(&mut self, doc: DocId, c: Committed) -> Result<Absorbed, Diverged> {
        let mut done = Absorbed::default();
        if self.deleted.contains_key(&doc) || self.damaged.contains(&doc) {
            return Ok(done);
        }
        let diverged = |what: String| Diverged { doc, what };
        let out = &mut done.actions;
        for (index, op, stamp) in c.ops {
            let (have, _) = self.heads(&doc).unwrap_or((0, 0));
            if index < have {
                continue;
            }
            if index > have {
                return Err(diverged(format!("op {index} follows op {have}")));
            }
            match self.docs.get_mut(&doc) {
                Some(state) => {
                    state
                        .apply_op(&op)
                        .map_err(|e| diverged(format!("op {index}: {e}")))?;
                }
                None => {
                    let m = MembershipState::verify_chain(doc, std::slice::from_ref(&op))
                        .map_err(|e| diverged(format!("op 0: {e}")))?;
                    self.docs
                        .insert(doc, DocState::new(m, vec![op.clone()], vec![None]));
                }
            }
            let stamp = match stamp {
                Some(s) => s,
                // Stored before stamps: as `restore_doc` stamps it.
                None => OpStamp::sign(&self.key, &doc, index, &op.hash(), op.content().at),
            };
            if let Some(state) = self.docs.get_mut(&doc) {
                state.stamp(index, stamp);
            }
            out.extend(self.fan_out_op(doc, index, op, stamp, None));
        }
        for (meta, envelope) in c.envelopes {
            let Some(state) = self.docs.get_mut(&doc) else {
                return Err(diverged(format!(
                    "envelope {} of a document with no membership log",
                    meta.doc_seq
                )));
            };
            let have = state.last_doc_seq;
            if meta.doc_seq <= have {
                continue;
            }
            if meta.doc_seq != have + 1 {
                return Err(diverged(format!(
                    "envelope {} follows {have}",
                    meta.doc_seq
                )));
            }
            done.freed
                .extend(state.record_stored(&meta, envelope.as_ref()));
            let Some(envelope) = envelope else {
                continue;
            };
            done.stored.push((meta.author, meta.len));
            let subscribers: Vec<ConnId> = self.subscribers(&doc);
            for conn in subscribers {
                out.push(send(
                    conn,
                    Message::Deliver {
                        doc,
                        doc_seq: meta.doc_seq,
                        envelope: envelope.clone(),
                    },
                ));
            }
        }
        Ok(done)
    }

    /// Bytes of `doc`'s envelopes still kept, per author (what its erasure
    /// frees).
    pub fn live_bytes(&self, doc: &DocId) -> Vec<(crate::ids::DeviceId, u64)> {
        self.docs.get(doc).map_or_else(Vec::new, |s| s.live_bytes())
    }

    /// Takes in that another instance deleted `doc`: this relay's
    /// followers of it get the notice, and every later request about it
    /// too. Nothing is stored.
    pub fn absorb_deleted(&mut self, doc: DocId, tombstone: Tombstone) -> Vec<RelayAction> {
        if self.deleted.contains_key(&doc) {
            return Vec::new();
        }
        self.damaged.remove(&doc);
        let mut out = self.erase(doc, tombstone, None);
        out.retain(|a| !matches!(a, RelayAction::EraseDoc { .. }));
        out
    }

    /// Sends on a presence blob a member sent through another instance to
    /// this relay's subscribers of `doc` (presence is never stored).
    pub fn absorb_presence(
        &self,
        doc: DocId,
        from: crate::ids::DeviceId,
        blob: crate::bytes::Bytes,
    ) -> Vec<RelayAction> {
        let member = self
            .docs
            .get(&doc)
            .is_some_and(|d| d.membership.role(&from).is_some());
        if !member {
            return Vec::new();
        }
        self.subscribers(&doc)
            .into_iter()
            .map(|c| {
                send(
                    c,
                    Message::Presence {
                        doc,
                        from: Some(from),
                        blob: blob.clone(),
                    },
                )
            })
            .collect()
    }
}
