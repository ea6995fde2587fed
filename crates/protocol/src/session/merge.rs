//! Merging this device's offline membership changes after another
//! member's op that the relay ordered first (see docs/protocol.md, "A device
//! applies its own ops at once"): take ours back, let the other op in,
//! redo ours on top, and seal again what was sealed under a key whose
//! rotation was redone.

use rand_core::CryptoRngCore;

use super::doc::DocSync;
use super::incoming::push_outbox;
use super::{ClientSession, Link, Output, SessionEvent};
use crate::envelope::{Envelope, EnvelopeHash, EnvelopeHeader, EnvelopeKind, VerifiedEnvelope};
use crate::ids::{DocId, Epoch};
use crate::keys::{DeviceKey, EpochKey};
use crate::membership::{MembershipError, MembershipOp, MembershipState, OpBody};
use crate::wire::Message;

/// Our unconfirmed membership ops, taken back to be redone after another
/// member's op, and the keys of the rotations among them.
pub(super) struct TakenBack {
    pub(super) ops: Vec<MembershipOp>,
    pub(super) keys: Vec<(Epoch, EpochKey)>,
}

impl DocSync {
    /// Takes back our ops from log position `at` on, where the relay put
    /// `foreign`, another member's op, if that is safe to merge: none of our
    /// ops from `at` on has been confirmed, and `foreign` applies to the log
    /// before them and leaves the epoch as it is: it adds (a join, an added
    /// member, an invite created or revoked) or removes (a member leaving,
    /// a device removed). Nobody saw our ops (the relay refused them), and
    /// a rotation among them is redone with a fresh key wrapped for the
    /// members there are after `foreign`, so a device it removed gets
    /// none of our keys. The state returns to the confirmed log; the keys
    /// of our rotations among the ops are set aside to be wrapped again.
    /// `None` means the logs really diverged (another rotation, a role
    /// change, a deletion).
    pub(super) fn take_back(&mut self, at: usize, foreign: &MembershipOp) -> Option<TakenBack> {
        let keeps_epoch = matches!(
            foreign.content().body,
            OpBody::RedeemInvite { .. }
                | OpBody::AddMember { .. }
                | OpBody::CreateInvite { .. }
                | OpBody::RevokeInvite { .. }
                | OpBody::RemoveMember { .. }
                | OpBody::RemoveDevice { .. }
        );
        let pending = |o: &MembershipOp| self.op_outbox.iter().any(|p| p.hash() == o.hash());
        if !keeps_epoch || at == 0 || at >= self.ops.len() || !self.ops[at..].iter().all(pending) {
            return None;
        }
        let state = MembershipState::verify_chain(self.doc, &self.ops[..at]).ok()?;
        state.clone().apply(foreign).ok()?;
        let mine = self.ops.split_off(at);
        self.membership = Some(state);
        self.op_outbox
            .retain(|o| !mine.iter().any(|m| m.hash() == o.hash()));
        let keys = mine
            .iter()
            .filter_map(|o| match &o.content().body {
                OpBody::RotateEpoch(r) => self.keys.remove(&r.epoch).map(|k| (r.epoch, k)),
                _ => None,
            })
            .collect();
        Some(TakenBack { ops: mine, keys })
    }

    /// Seals our queued envelopes again after our rotations were redone:
    /// one sealed under a set-aside key (`old`) is opened and sealed under
    /// its epoch's new key (`new`); from the first one changed on, each
    /// links to its re-sealed predecessor. The relay refused the old ones
    /// (it had not seen their epoch), so their places in our chain are
    /// free. Returns how many could not be sealed again (their epoch got no
    /// new key); those are dropped from the queue, with everything after
    /// them, so the chain stays whole.
    pub(super) fn reseal_outbox(
        &mut self,
        me: &DeviceKey,
        old: &[(Epoch, EpochKey)],
        new: &[(Epoch, EpochKey)],
        rng: &mut impl CryptoRngCore,
    ) -> usize {
        let key_in = |keys: &[(Epoch, EpochKey)], e: Epoch| {
            keys.iter().find(|(k, _)| *k == e).map(|(_, k)| k.clone())
        };
        let author = me.device_id();
        let mut prev: Option<EnvelopeHash> = None;
        let seqs: Vec<u64> = self.outbox.keys().copied().collect();
        for (i, seq) in seqs.iter().enumerate() {
            let Some(env) = self.outbox.get(seq).cloned() else {
                continue;
            };
            let h = env.header_unverified().clone();
            // Under a set-aside key: from it to its epoch's new key (if the
            // rotation was redone). Otherwise only relinked, same key.
            let keys = match key_in(old, h.epoch) {
                Some(from) => key_in(new, h.epoch).map(|to| (from, to)),
                None if prev.is_none() => continue,
                None => self.keys.get(&h.epoch).map(|k| (k.clone(), k.clone())),
            };
            let resealed = keys.and_then(|(from, to)| {
                let payload = env.clone().open(&from).ok()?.into_parts().1;
                let link = prev.unwrap_or(h.prev);
                let header = match h.kind {
                    EnvelopeKind::Changes => {
                        EnvelopeHeader::changes(h.doc, h.epoch, author, h.seq, link)
                    }
                    EnvelopeKind::Snapshot { covers } => {
                        EnvelopeHeader::snapshot(h.doc, h.epoch, author, h.seq, link, covers)
                    }
                };
                Envelope::seal(header, &payload, &to, me, rng).ok()
            });
            match resealed {
                Some(e) => {
                    prev = Some(e.hash());
                    self.chain.accept(&VerifiedEnvelope::own(e.clone()));
                    self.outbox.insert(*seq, e);
                }
                None => {
                    let lost = seqs.len() - i;
                    for s in &seqs[i..] {
                        self.outbox.remove(s);
                    }
                    self.chain.rewind(&author, seq - 1, prev.unwrap_or(h.prev));
                    return lost;
                }
            }
        }
        0
    }
}

impl ClientSession {
    /// Redoes our taken-back ops on top of the log as it now is, each signed
    /// again at its new place. An op that no longer applies is dropped, and
    /// said so. A rotation gets a fresh key, wrapped for the members there
    /// now are: the first one already went to the relay (which refused it),
    /// wrapped for other members, and a key must never be wrapped in two
    /// histories. Our envelopes sealed under the set-aside keys (which the
    /// relay refused, not knowing their epoch) are sealed again under the
    /// new ones at their places in our chain, and go out again.
    pub(super) fn redo_ops(&mut self, now: u64, doc: DocId, mine: TakenBack, out: &mut Output) {
        let ready = self.link == Link::Ready;
        let Some(d) = self.docs.get_mut(&doc) else {
            return;
        };
        let TakenBack {
            ops: mine,
            keys: old_keys,
        } = mine;
        let mut new_keys: Vec<(Epoch, EpochKey)> = Vec::new();
        for op in mine {
            let Some(state) = d.membership.as_mut() else {
                return;
            };
            let body = op.content().body.clone();
            // A removal of someone who is gone already (they left first)
            // has happened: nothing to redo, nothing to report.
            if let OpBody::RemoveMember { device } | OpBody::RemoveDevice { device } = &body
                && state.role(device).is_none()
            {
                continue;
            }
            let redone = match &body {
                OpBody::RotateEpoch(r) => match d.keys.get(&state.epoch()) {
                    Some(current) if r.epoch == state.epoch().next() => {
                        let fresh = EpochKey::generate(&mut self.rng.0);
                        state
                            .rotate(&self.key, now, current, &fresh, &mut self.rng.0)
                            .map(|o| (o, Some((r.epoch, fresh))))
                    }
                    _ => Err(MembershipError::Invalid("its epoch is taken")),
                },
                _ => state
                    .sign_op(&self.key, now, body.clone())
                    .map(|o| (o, None)),
            };
            match redone.and_then(|(o, key)| state.apply(&o).map(|()| (o, key))) {
                Ok((o, key)) => {
                    if let Some((epoch, key)) = key {
                        d.keys.insert(epoch, key.clone());
                        new_keys.push((epoch, key));
                    }
                    d.ops.push(o.clone());
                    d.op_outbox.push(o.clone());
                    if ready {
                        out.send.push(Message::MembershipPublish { doc, op: o });
                    }
                }
                Err(e) => out.events.push(SessionEvent::MembershipChangeDropped {
                    doc,
                    reason: format!("{}: {e}", describe_op(&body)),
                }),
            }
        }
        out.events.push(SessionEvent::MembershipChanged { doc });
        if old_keys.is_empty() {
            return;
        }
        let lost = d.reseal_outbox(&self.key, &old_keys, &new_keys, &mut self.rng.0);
        if lost > 0 {
            out.events.push(SessionEvent::MembershipChangeDropped {
                doc,
                reason: format!(
                    "{lost} change(s) sealed under a new key this device made offline, whose rotation could not be redone"
                ),
            });
        }
        if ready {
            push_outbox(d, out);
        }
    }
}

/// A membership change, for people.
fn describe_op(body: &OpBody) -> String {
    match body {
        OpBody::Genesis { .. } => "creating the document".into(),
        OpBody::AddMember { device, role, .. } => format!("adding {device} as {role:?}"),
        OpBody::RemoveMember { device } => format!("removing {device}"),
        OpBody::RemoveDevice { device } => format!("removing the device {device}"),
        OpBody::ChangeRole { device, role } => format!("making {device} {role:?}"),
        OpBody::RotateEpoch(r) => format!("starting epoch {}", r.epoch),
        OpBody::CreateInvite { .. } => "creating an invite".into(),
        OpBody::RevokeInvite { .. } => "revoking an invite".into(),
        OpBody::RedeemInvite { .. } => "redeeming an invite".into(),
        OpBody::DeleteDocument => "deleting the document".into(),
    }
}
