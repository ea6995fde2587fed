//! One document's relay-side state: membership, per-author heads and the
//! index of stored envelopes.

use std::collections::{BTreeMap, HashMap};

use crate::envelope::{EnvelopeHash, EnvelopeKind, VerifiedEnvelope};
use crate::ids::{DeviceId, DocId};
use crate::membership::{MembershipError, MembershipOp, MembershipState, OpStamp};

/// What the relay knows about one stored envelope (kept even after its
/// bytes are compacted away, so retransmissions still dedupe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvelopeMeta {
    /// Position in the document's log.
    pub doc_seq: u64,
    /// Author.
    pub author: DeviceId,
    /// Author sequence number.
    pub author_seq: u64,
    /// Envelope hash.
    pub hash: EnvelopeHash,
    /// Length of the envelope's encoding, bytes (what a replay of it sends).
    pub len: u64,
}

#[derive(Clone, Debug, Default)]
struct AuthorIndex {
    head: u64,
    by_seq: HashMap<u64, (u64, EnvelopeHash)>,
}

/// The outcome of offering an envelope to a document.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Offer {
    /// New: stored at this meta; `compact` lists doc seqs a snapshot covers.
    Accepted {
        meta: EnvelopeMeta,
        compact: Vec<u64>,
    },
    /// Already stored at this doc seq.
    Duplicate { doc_seq: u64 },
    /// The author's previous envelope is missing.
    Gap { expected: u64 },
    /// Conflicts with the author's stored chain.
    Fork,
    /// A snapshot names positions the relay has not seen, or wrong hashes.
    BadCovers,
}

/// One piece of a replay: envelopes after some doc seq up to `up_to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Last doc seq it covers.
    pub up_to: u64,
    /// Bytes of the stored envelopes in it.
    pub bytes: u64,
    /// Whether it reaches the document's last doc seq.
    pub last: bool,
}

/// Relay-side state of one document.
#[derive(Clone, Debug)]
pub(crate) struct DocState {
    pub(crate) membership: MembershipState,
    pub(crate) ops: Vec<MembershipOp>,
    /// The relay's stamp on each op (`None` for ops stored before stamps).
    pub(crate) stamps: Vec<Option<OpStamp>>,
    pub(crate) last_doc_seq: u64,
    authors: HashMap<DeviceId, AuthorIndex>,
    /// Doc seqs whose envelope bytes are still stored: author, seq, length.
    live: BTreeMap<u64, (DeviceId, u64, u64)>,
}

impl DocState {
    pub(crate) fn new(
        membership: MembershipState,
        ops: Vec<MembershipOp>,
        stamps: Vec<Option<OpStamp>>,
    ) -> Self {
        Self {
            membership,
            ops,
            stamps,
            last_doc_seq: 0,
            authors: HashMap::new(),
            live: BTreeMap::new(),
        }
    }

    /// Rebuilds from stored ops and envelope metadata.
    pub(crate) fn restore(
        doc: DocId,
        ops: Vec<(MembershipOp, Option<OpStamp>)>,
        metas: &[(EnvelopeMeta, bool)],
    ) -> Result<Self, MembershipError> {
        let (ops, stamps): (Vec<_>, Vec<_>) = ops.into_iter().unzip();
        let membership = MembershipState::verify_chain(doc, &ops)?;
        let mut s = Self::new(membership, ops, stamps);
        for (m, live) in metas {
            s.record(m);
            if *live {
                s.live.insert(m.doc_seq, (m.author, m.author_seq, m.len));
            }
        }
        Ok(s)
    }

    /// The next piece of a replay after doc seq `after`: whole stored
    /// envelopes, at least one, adding up to at most `budget` bytes unless
    /// one alone is larger. The last piece reaches the last doc seq (past
    /// any compacted tail).
    pub(crate) fn replay_chunk(&self, after: u64, budget: u64) -> Chunk {
        let mut bytes = 0u64;
        let mut up_to = after;
        for (&seq, &(_, _, len)) in self.live.range(after.saturating_add(1)..) {
            if bytes > 0 && bytes.saturating_add(len) > budget {
                return Chunk {
                    up_to,
                    bytes,
                    last: false,
                };
            }
            bytes = bytes.saturating_add(len);
            up_to = seq;
        }
        Chunk {
            up_to: self.last_doc_seq.max(after),
            bytes,
            last: true,
        }
    }

    fn record(&mut self, m: &EnvelopeMeta) {
        let a = self.authors.entry(m.author).or_default();
        a.head = a.head.max(m.author_seq);
        a.by_seq.insert(m.author_seq, (m.doc_seq, m.hash));
        self.last_doc_seq = self.last_doc_seq.max(m.doc_seq);
    }

    /// Records an envelope another relay instance stored at `m.doc_seq`
    /// (`envelope`: its bytes, while kept). A snapshot drops the bytes of
    /// what it covers, as where it was stored: returns their authors and
    /// lengths.
    pub(crate) fn record_stored(
        &mut self,
        m: &EnvelopeMeta,
        envelope: Option<&crate::envelope::Envelope>,
    ) -> Vec<(DeviceId, u64)> {
        self.record(m);
        let Some(envelope) = envelope else {
            return Vec::new();
        };
        let mut freed = Vec::new();
        if let EnvelopeKind::Snapshot { covers } = &envelope.header_unverified().kind {
            let covered: Vec<u64> = self
                .live
                .iter()
                .filter(|(_, (a, s, _))| covers.iter().any(|c| c.author == *a && *s <= c.seq))
                .map(|(d, _)| *d)
                .collect();
            for d in covered {
                if let Some((a, _, len)) = self.live.remove(&d) {
                    freed.push((a, len));
                }
            }
        }
        self.live.insert(m.doc_seq, (m.author, m.author_seq, m.len));
        freed
    }

    /// Bytes of envelopes still kept, per author.
    pub(crate) fn live_bytes(&self) -> Vec<(DeviceId, u64)> {
        let mut per: HashMap<DeviceId, u64> = HashMap::new();
        for (a, _, len) in self.live.values() {
            *per.entry(*a).or_default() += len;
        }
        per.into_iter().collect()
    }

    /// The doc seq of a byte-identical envelope already stored (by hash), so
    /// retransmissions are re-acked without verifying them again.
    pub(crate) fn stored_at(
        &self,
        author: &DeviceId,
        seq: u64,
        hash: &EnvelopeHash,
    ) -> Option<u64> {
        let (doc_seq, h) = self.authors.get(author)?.by_seq.get(&seq)?;
        (h == hash).then_some(*doc_seq)
    }

    /// Offers a verified envelope; on acceptance the state advances.
    pub(crate) fn offer(&mut self, env: &VerifiedEnvelope) -> Offer {
        let h = env.header();
        let hash = env.hash();
        let empty = AuthorIndex::default();
        let idx = self.authors.get(&h.author).unwrap_or(&empty);
        if h.seq <= idx.head {
            return match idx.by_seq.get(&h.seq) {
                Some((doc_seq, known)) if *known == hash => Offer::Duplicate { doc_seq: *doc_seq },
                _ => Offer::Fork,
            };
        }
        if h.seq != idx.head.saturating_add(1) {
            return Offer::Gap {
                expected: idx.head.saturating_add(1),
            };
        }
        let head_hash = idx
            .by_seq
            .get(&idx.head)
            .map_or(EnvelopeHash::ZERO, |(_, h)| *h);
        if h.prev != head_hash {
            return Offer::Fork;
        }
        let mut compact = Vec::new();
        if let EnvelopeKind::Snapshot { covers } = &h.kind {
            for c in covers {
                let known = if c.author == h.author && c.seq == h.seq.saturating_sub(1) {
                    Some(h.prev)
                } else {
                    self.authors
                        .get(&c.author)
                        .and_then(|a| a.by_seq.get(&c.seq))
                        .map(|(_, h)| *h)
                };
                if known != Some(c.hash) {
                    return Offer::BadCovers;
                }
            }
            let covered = |author: &DeviceId, seq: u64| {
                covers.iter().any(|c| c.author == *author && seq <= c.seq)
            };
            compact = self
                .live
                .iter()
                .filter(|(_, (a, s, _))| covered(a, *s))
                .map(|(d, _)| *d)
                .collect();
            for d in &compact {
                self.live.remove(d);
            }
        }
        let meta = EnvelopeMeta {
            doc_seq: self.last_doc_seq.saturating_add(1),
            author: h.author,
            author_seq: h.seq,
            hash,
            len: env.envelope().as_bytes().len() as u64,
        };
        self.record(&meta);
        self.live
            .insert(meta.doc_seq, (meta.author, meta.author_seq, meta.len));
        Offer::Accepted { meta, compact }
    }

    /// Applies a membership op, keeping the log; returns its index.
    pub(crate) fn apply_op(&mut self, op: &MembershipOp) -> Result<u64, MembershipError> {
        self.membership.apply(op)?;
        self.ops.push(op.clone());
        self.stamps.push(None);
        Ok(self.membership.len().saturating_sub(1))
    }

    /// Records the relay's stamp on the op at `index`.
    pub(crate) fn stamp(&mut self, index: u64, stamp: OpStamp) {
        if let Some(slot) = self.stamps.get_mut(index as usize) {
            *slot = Some(stamp);
        }
    }
}
