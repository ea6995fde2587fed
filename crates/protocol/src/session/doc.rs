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
    /// Bytes of the envelopes (ours and others') applied since the last
    /// snapshot: about what the relay keeps that a snapshot would compact.
    pub(super) history_bytes: u64,
    /// The relay refused one of our envelopes over the document's (or our)
    /// quota: a snapshot would free room.
    pub(super) compaction_wanted: bool,
    /// The key of the device invite we are joining through, whose grant
    /// (and the rotations made while it was live) carry the epoch keys.
    pub(super) invite_key: Option<DeviceKey>,
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
            history_bytes: 0,
            compaction_wanted: false,
            invite_key: None,
        }
    }

    /// Learns every epoch key reachable from what we hold: rotations wrapped
    /// to us, and the previous-key chain down from the newest key.
    pub(super) fn derive_keys(&mut self, me: &DeviceKey) {
        let Some(m) = &self.membership else { return };
        if let Some(invite) = &self.invite_key
            && let Ok((e, k)) = m.unwrap_grant(invite)
        {
            self.keys.entry(e).or_insert(k);
        }
        let mut e = m.epoch();
        loop {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.keys.entry(e)
                && let Some(k) = std::iter::once(me)
                    .chain(self.invite_key.as_ref())
                    .find_map(|key| m.unwrap_epoch_key(e, key).ok())
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

    /// Counts an applied envelope towards the history a snapshot would
    /// compact; a snapshot starts the count again.
    pub(super) fn count_history(&mut self, env: &VerifiedEnvelope) {
        match env.header().kind {
            crate::envelope::EnvelopeKind::Snapshot { .. } => self.history_bytes = 0,
            crate::envelope::EnvelopeKind::Changes => {
                let len = env.envelope().as_bytes().len() as u64;
                self.history_bytes = self.history_bytes.saturating_add(len);
            }
        }
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
                        self.count_history(env);
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
