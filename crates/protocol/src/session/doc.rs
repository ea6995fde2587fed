//! One document's client-side sync state and incoming-envelope pipeline.

use std::collections::{BTreeMap, HashMap};

use super::{SessionEvent, Tampering};
use crate::chain::{ChainEvent, ChainTracker};
use crate::envelope::{Envelope, VerifiedEnvelope};
use crate::ids::{DeviceId, DocId, Epoch};
use crate::keys::{DeviceKey, EpochKey};
use crate::membership::{MembershipOp, MembershipState};

/// Most envelopes held back per document awaiting a predecessor.
pub const MAX_PENDING: usize = 4096;

#[derive(Clone, Debug)]
pub(super) struct DocSync {
    pub(super) doc: DocId,
    pub(super) cursor: u64,
    pub(super) subscribed: bool,
    pub(super) ops: Vec<MembershipOp>,
    pub(super) membership: Option<MembershipState>,
    pub(super) keys: BTreeMap<Epoch, EpochKey>,
    pub(super) chain: ChainTracker,
    pub(super) pending: Vec<VerifiedEnvelope>,
    /// Our unacknowledged envelopes by author seq.
    pub(super) outbox: BTreeMap<u64, Envelope>,
    /// Our membership ops not yet seen in the log.
    pub(super) op_outbox: Vec<MembershipOp>,
    pub(super) presence_counter: u64,
    pub(super) presence_seen: HashMap<DeviceId, u64>,
    pub(super) removed: bool,
    /// Invites this session created, with the epoch whose key the link carries.
    pub(super) created_invites: BTreeMap<crate::membership::InviteId, Epoch>,
}

/// Our unconfirmed membership ops, taken back to be redone after another
/// member's op, and the keys of the rotations among them.
pub(super) struct TakenBack {
    pub(super) ops: Vec<MembershipOp>,
    pub(super) keys: Vec<(Epoch, EpochKey)>,
}

enum Step {
    Done,
    Hold,
    Drop,
}

impl DocSync {
    pub(super) fn new(doc: DocId) -> Self {
        Self {
            doc,
            cursor: 0,
            subscribed: false,
            ops: Vec::new(),
            membership: None,
            keys: BTreeMap::new(),
            chain: ChainTracker::new(),
            pending: Vec::new(),
            outbox: BTreeMap::new(),
            op_outbox: Vec::new(),
            presence_counter: 0,
            presence_seen: HashMap::new(),
            removed: false,
            created_invites: BTreeMap::new(),
        }
    }

    /// Takes back our ops from log position `at` on, where the relay put
    /// `foreign`, another member's op, if that is safe to merge: none of our
    /// ops from `at` on has been confirmed, and `foreign` applies to the log
    /// before them and only adds (a join, an added member, an invite
    /// created or revoked), so every device our ops gave keys to is still a
    /// member after it. The state returns to the confirmed log; the keys of
    /// our rotations among the ops are set aside to be wrapped again.
    /// `None` means the logs really diverged.
    pub(super) fn take_back(&mut self, at: usize, foreign: &MembershipOp) -> Option<TakenBack> {
        use crate::membership::OpBody;
        let additive = matches!(
            foreign.content().body,
            OpBody::RedeemInvite { .. }
                | OpBody::AddMember { .. }
                | OpBody::CreateInvite { .. }
                | OpBody::RevokeInvite { .. }
        );
        let pending = |o: &MembershipOp| self.op_outbox.iter().any(|p| p.hash() == o.hash());
        if !additive || at == 0 || at >= self.ops.len() || !self.ops[at..].iter().all(pending) {
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
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> usize {
        use crate::envelope::{EnvelopeHeader, EnvelopeKind};
        let key_in = |keys: &[(Epoch, EpochKey)], e: Epoch| {
            keys.iter().find(|(k, _)| *k == e).map(|(_, k)| k.clone())
        };
        let author = me.device_id();
        let mut prev: Option<crate::envelope::EnvelopeHash> = None;
        let seqs: Vec<u64> = self.outbox.keys().copied().collect();
        for (i, seq) in seqs.iter().enumerate() {
            let Some(env) = self.outbox.get(seq).cloned() else {
                continue;
            };
            let h = env.header_unverified().clone();
            let set_aside = key_in(old, h.epoch);
            if set_aside.is_none() && prev.is_none() {
                continue;
            }
            let opened_with = set_aside.or_else(|| self.keys.get(&h.epoch).cloned());
            let seal_with = key_in(new, h.epoch).or_else(|| {
                key_in(old, h.epoch)
                    .is_none()
                    .then(|| self.keys.get(&h.epoch).cloned())
                    .flatten()
            });
            let resealed = opened_with.zip(seal_with).and_then(|(from, to)| {
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

    /// Learns every epoch key reachable from what we hold: rotations wrapped
    /// to us, and the previous-key chain down from the newest key.
    pub(super) fn derive_keys(&mut self, me: &DeviceKey) {
        let Some(m) = &self.membership else { return };
        let mut e = m.epoch();
        loop {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.keys.entry(e)
                && let Ok(k) = m.unwrap_epoch_key(e, me)
            {
                slot.insert(k);
            }
            if e.0 == 0 {
                break;
            }
            e = Epoch(e.0 - 1);
        }
        if let Some((top, key)) = self.keys.iter().next_back().map(|(e, k)| (*e, k.clone())) {
            for (e, k) in m.history_keys(top, key) {
                self.keys.entry(e).or_insert(k);
            }
        }
    }

    fn key_for(&mut self, epoch: Epoch, me: &DeviceKey) -> Option<EpochKey> {
        if !self.keys.contains_key(&epoch) {
            self.derive_keys(me);
        }
        self.keys.get(&epoch).cloned()
    }

    /// Takes in a verified envelope and applies whatever can be applied.
    pub(super) fn receive(
        &mut self,
        env: VerifiedEnvelope,
        me: &DeviceKey,
        events: &mut Vec<SessionEvent>,
    ) {
        if let ChainEvent::Gap { expected } = self.chain.check(&env) {
            events.push(SessionEvent::Waiting {
                doc: self.doc,
                author: env.header().author,
                expected,
            });
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(env);
        self.drain(me, events);
    }

    /// Applies held envelopes until none can progress.
    pub(super) fn drain(&mut self, me: &DeviceKey, events: &mut Vec<SessionEvent>) {
        loop {
            let mut progress = false;
            let mut i = 0;
            while i < self.pending.len() {
                let env = self.pending[i].clone();
                match self.try_apply(&env, me, events) {
                    Step::Hold => i += 1,
                    Step::Done | Step::Drop => {
                        self.pending.remove(i);
                        progress = true;
                    }
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn try_apply(
        &mut self,
        env: &VerifiedEnvelope,
        me: &DeviceKey,
        events: &mut Vec<SessionEvent>,
    ) -> Step {
        let h = env.header();
        let doc = Some(self.doc);
        let Some(m) = &self.membership else {
            return Step::Hold;
        };
        if !m.was_writer(&h.author, h.epoch) {
            if h.epoch > m.epoch() {
                return Step::Hold;
            }
            events.push(SessionEvent::Tampering {
                doc,
                what: Tampering::NotAWriter(h.author),
            });
            return Step::Drop;
        }
        match self.chain.check(env) {
            ChainEvent::Duplicate => Step::Drop,
            ChainEvent::Gap { .. } => Step::Hold,
            ChainEvent::Fork { author, seq } => {
                events.push(SessionEvent::Tampering {
                    doc,
                    what: Tampering::Fork { author, seq },
                });
                Step::Drop
            }
            ChainEvent::Apply => {
                let Some(key) = self.key_for(h.epoch, me) else {
                    return Step::Hold;
                };
                match env.clone().open(&key) {
                    Ok(opened) => {
                        self.chain.accept(env);
                        let (v, payload) = opened.into_parts();
                        let h = v.header();
                        events.push(SessionEvent::Apply {
                            doc: self.doc,
                            author: h.author,
                            seq: h.seq,
                            kind: h.kind.clone(),
                            payload,
                        });
                        Step::Done
                    }
                    Err(_) => {
                        events.push(SessionEvent::Tampering {
                            doc,
                            what: Tampering::Undecryptable(h.author),
                        });
                        Step::Drop
                    }
                }
            }
        }
    }
}
