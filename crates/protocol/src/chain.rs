//! Per-author chain checking: detects a relay that drops, reorders,
//! replays or forks an author's envelopes.
//!
//! Every author numbers its envelopes for a document 1, 2, 3, ... and links
//! each to the previous one's hash. A [`ChainTracker`] (one per document)
//! remembers, per author, how far it has applied. Given a verified envelope
//! it says whether to apply it ([`ChainEvent::Apply`]), ignore it as a replay
//! ([`ChainEvent::Duplicate`]), hold it until its predecessor arrives
//! ([`ChainEvent::Gap`]), or raise the alarm ([`ChainEvent::Fork`]).
//!
//! A snapshot carries the hash of each author's last covered envelope, so a
//! receiver that never saw the compacted history can continue every chain
//! from it.

use std::collections::HashMap;

use crate::envelope::{EnvelopeHash, EnvelopeKind, VerifiedEnvelope};
use crate::ids::DeviceId;

/// What a receiver should do with a verified envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
// DeviceId carries its decoded key; events are short-lived.
#[allow(clippy::large_enum_variant)]
pub enum ChainEvent {
    /// Next in the author's chain (or a snapshot that continues it): apply.
    Apply,
    /// Already applied: a replay or retransmission; ignore.
    Duplicate,
    /// Sequence numbers before this one are missing: hold it back.
    Gap {
        /// The sequence number expected next from this author.
        expected: u64,
    },
    /// Two different envelopes claim the same place in the author's chain,
    /// or the prev-hash link does not match. Tampering or a misbehaving
    /// author: do not apply.
    Fork {
        /// The author whose chain forked.
        author: DeviceId,
        /// The contested sequence number.
        seq: u64,
    },
}

#[derive(Clone, Debug, Default)]
struct AuthorChain {
    /// Highest applied sequence number (0 = none).
    head: u64,
    /// Hashes of applied envelopes by sequence number (those known).
    hashes: HashMap<u64, EnvelopeHash>,
}

impl AuthorChain {
    fn head_hash(&self) -> EnvelopeHash {
        if self.head == 0 {
            EnvelopeHash::ZERO
        } else {
            self.hashes
                .get(&self.head)
                .copied()
                .unwrap_or(EnvelopeHash::ZERO)
        }
    }
}

/// Tracks every author's chain within one document.
#[derive(Clone, Debug, Default)]
pub struct ChainTracker {
    authors: HashMap<DeviceId, AuthorChain>,
}

impl ChainTracker {
    /// An empty tracker: nothing applied.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker resuming from stored heads (see [`ChainTracker::heads`]).
    pub fn from_heads(heads: &[crate::envelope::Cover]) -> Self {
        let mut t = Self::new();
        for c in heads {
            let chain = t.authors.entry(c.author).or_default();
            chain.head = c.seq;
            chain.hashes.insert(c.seq, c.hash);
        }
        t
    }

    /// The highest applied sequence number of `author` (0 if none).
    pub fn head(&self, author: &DeviceId) -> u64 {
        self.authors.get(author).map_or(0, |a| a.head)
    }

    /// The hash of `author`'s last applied envelope.
    pub fn head_hash(&self, author: &DeviceId) -> EnvelopeHash {
        self.authors
            .get(author)
            .map_or(EnvelopeHash::ZERO, AuthorChain::head_hash)
    }

    /// Whether exactly this envelope (by hash) was already applied at
    /// `(author, seq)`. Byte-identical replays can then be dropped without
    /// verifying their signature again.
    pub fn knows(&self, author: &DeviceId, seq: u64, hash: &EnvelopeHash) -> bool {
        self.authors
            .get(author)
            .and_then(|a| a.hashes.get(&seq))
            .is_some_and(|h| h == hash)
    }

    /// Every author's applied head, sorted by author: the per-author
    /// sequence vector, as a snapshot would list it.
    pub fn heads(&self) -> Vec<crate::envelope::Cover> {
        let mut v: Vec<_> = self
            .authors
            .iter()
            .filter(|(_, c)| c.head > 0)
            .map(|(a, c)| crate::envelope::Cover {
                author: *a,
                seq: c.head,
                hash: c.head_hash(),
            })
            .collect();
        v.sort_by_key(|c| c.author);
        v
    }

    /// Classifies `env` without changing any state.
    pub fn check(&self, env: &VerifiedEnvelope) -> ChainEvent {
        let h = env.header();
        let hash = env.hash();
        let empty = AuthorChain::default();
        let chain = self.authors.get(&h.author).unwrap_or(&empty);
        // A snapshot may fast-forward its own author's chain too.
        let (head, head_hash) = match &h.kind {
            EnvelopeKind::Snapshot { covers } => match covers.iter().find(|c| c.author == h.author)
            {
                Some(c) if c.seq > chain.head => (c.seq, c.hash),
                _ => (chain.head, chain.head_hash()),
            },
            EnvelopeKind::Changes => (chain.head, chain.head_hash()),
        };
        if h.seq <= chain.head {
            return match chain.hashes.get(&h.seq) {
                Some(known) if *known != hash => ChainEvent::Fork {
                    author: h.author,
                    seq: h.seq,
                },
                _ => ChainEvent::Duplicate,
            };
        }
        // A snapshot may claim any position: never overflow.
        let expected = head.saturating_add(1);
        if h.seq > expected {
            return ChainEvent::Gap { expected };
        }
        if h.seq <= head {
            // Covered by its own snapshot: a contradiction.
            return ChainEvent::Fork {
                author: h.author,
                seq: h.seq,
            };
        }
        if h.prev != head_hash {
            return ChainEvent::Fork {
                author: h.author,
                seq: h.seq,
            };
        }
        ChainEvent::Apply
    }

    /// Records `env` as applied (after [`ChainTracker::check`] said
    /// [`ChainEvent::Apply`]). A snapshot also fast-forwards every author it
    /// covers.
    pub fn accept(&mut self, env: &VerifiedEnvelope) {
        let h = env.header();
        if let EnvelopeKind::Snapshot { covers } = &h.kind {
            for c in covers {
                let chain = self.authors.entry(c.author).or_default();
                if c.seq > chain.head {
                    chain.head = c.seq;
                    chain.hashes.insert(c.seq, c.hash);
                }
            }
        }
        let chain = self.authors.entry(h.author).or_default();
        if h.seq > chain.head {
            chain.head = h.seq;
        }
        chain.hashes.insert(h.seq, env.hash());
    }

    /// Sets `author`'s head back to `seq` with hash `hash` (our own
    /// envelopes after it were withdrawn before the relay took them).
    pub(crate) fn rewind(&mut self, author: &DeviceId, seq: u64, hash: EnvelopeHash) {
        let chain = self.authors.entry(*author).or_default();
        chain.hashes.retain(|s, _| *s <= seq);
        chain.head = seq;
        if seq > 0 {
            chain.hashes.insert(seq, hash);
        }
    }

    /// Checks and, if it applies, accepts in one step.
    pub fn observe(&mut self, env: &VerifiedEnvelope) -> ChainEvent {
        let ev = self.check(env);
        if ev == ChainEvent::Apply {
            self.accept(env);
        }
        ev
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::envelope::{Cover, Envelope, EnvelopeHeader};
    use crate::testing::SeededRng;
    use crate::{DeviceKey, DocId, Epoch, EpochKey};

    struct Author {
        key: DeviceKey,
        seq: u64,
        prev: EnvelopeHash,
        rng: SeededRng,
    }

    impl Author {
        fn new(seed: u8) -> Self {
            Self {
                key: DeviceKey::from_seed([seed; 32]),
                seq: 0,
                prev: EnvelopeHash::ZERO,
                rng: SeededRng::new(seed.into()),
            }
        }
        fn next(&mut self, payload: &[u8]) -> VerifiedEnvelope {
            self.seq += 1;
            let h = EnvelopeHeader::changes(
                DocId::from_bytes([0; 16]),
                Epoch(0),
                self.key.device_id(),
                self.seq,
                self.prev,
            );
            let e = Envelope::seal(
                h,
                payload,
                &EpochKey::from_bytes([0; 32]),
                &self.key,
                &mut self.rng,
            )
            .unwrap();
            self.prev = e.hash();
            e.verify().unwrap()
        }
        fn snapshot(&mut self, covers: Vec<Cover>) -> VerifiedEnvelope {
            self.seq += 1;
            let h = EnvelopeHeader::snapshot(
                DocId::from_bytes([0; 16]),
                Epoch(0),
                self.key.device_id(),
                self.seq,
                self.prev,
                covers,
            );
            let e = Envelope::seal(
                h,
                b"snap",
                &EpochKey::from_bytes([0; 32]),
                &self.key,
                &mut self.rng,
            )
            .unwrap();
            self.prev = e.hash();
            e.verify().unwrap()
        }
    }

    #[test]
    fn in_order_duplicate_gap() {
        let mut a = Author::new(1);
        let (e1, e2, e3) = (a.next(b"1"), a.next(b"2"), a.next(b"3"));
        let mut t = ChainTracker::new();
        assert_eq!(t.observe(&e1), ChainEvent::Apply);
        assert_eq!(t.observe(&e3), ChainEvent::Gap { expected: 2 });
        assert_eq!(t.observe(&e1), ChainEvent::Duplicate);
        assert_eq!(t.observe(&e2), ChainEvent::Apply);
        assert_eq!(t.observe(&e3), ChainEvent::Apply);
        assert_eq!(t.head(&a.key.device_id()), 3);
    }

    #[test]
    fn forks_are_detected() {
        let mut a = Author::new(2);
        let e1 = a.next(b"1");
        let mut b = Author::new(2);
        let other1 = b.next(b"other");
        let mut t = ChainTracker::new();
        t.observe(&e1);
        let id = a.key.device_id();
        assert_eq!(t.observe(&other1), ChainEvent::Fork { author: id, seq: 1 });
        // seq 2 linking to the other branch.
        let other2 = b.next(b"x");
        assert_eq!(t.observe(&other2), ChainEvent::Fork { author: id, seq: 2 });
    }

    #[test]
    fn snapshot_fast_forwards() {
        let mut a = Author::new(3);
        let mut s = Author::new(4);
        let _lost: Vec<_> = (0..3).map(|i| a.next(&[i])).collect();
        let s1 = s.next(b"s1");
        let cover_a = Cover {
            author: a.key.device_id(),
            seq: a.seq,
            hash: a.prev,
        };
        let cover_s = Cover {
            author: s.key.device_id(),
            seq: s.seq,
            hash: s.prev,
        };
        let snap = s.snapshot(vec![cover_a, cover_s]);
        let a4 = a.next(b"4");
        let mut t = ChainTracker::new();
        assert_eq!(t.observe(&a4), ChainEvent::Gap { expected: 1 });
        assert_eq!(t.observe(&snap), ChainEvent::Apply);
        assert_eq!(t.observe(&a4), ChainEvent::Apply);
        assert_eq!(t.observe(&s1), ChainEvent::Duplicate);
        assert_eq!(t.heads().len(), 2);
    }
}
