//! An in-memory relay: the core plus a store that carries out its actions.
//! Used by the simulation tests, and a reference for the real application.

use std::collections::{BTreeMap, HashMap};

use rand_core::CryptoRngCore;

use super::{
    ConnId, EnvelopeMeta, RelayAction, RelayConfig, RelayCore, Tombstone, replay_messages,
};
use crate::envelope::Envelope;
use crate::ids::DocId;
use crate::keys::DeviceKey;
use crate::membership::{MembershipOp, OpStamp};
use crate::wire::{Acks, Message};

#[derive(Clone, Debug, Default)]
struct StoredDoc {
    ops: Vec<(MembershipOp, Option<OpStamp>)>,
    metas: BTreeMap<u64, EnvelopeMeta>,
    bytes: BTreeMap<u64, Envelope>,
}

/// Relay core plus in-memory storage.
#[derive(Clone, Debug)]
pub struct MemoryRelay {
    core: RelayCore,
    key: DeviceKey,
    config: RelayConfig,
    store: HashMap<DocId, StoredDoc>,
    tombstones: HashMap<DocId, Tombstone>,
}

impl MemoryRelay {
    /// A fresh relay.
    pub fn new(key: DeviceKey, config: RelayConfig) -> Self {
        Self {
            core: RelayCore::new(key.clone(), config.clone()),
            key,
            config,
            store: HashMap::new(),
            tombstones: HashMap::new(),
        }
    }

    /// The core, for inspection.
    pub fn core(&self) -> &RelayCore {
        &self.core
    }

    /// Number of envelopes whose bytes are stored for `doc`.
    pub fn stored_envelopes(&self, doc: &DocId) -> usize {
        self.store.get(doc).map_or(0, |d| d.bytes.len())
    }

    /// The stored envelopes of `doc`, by doc seq.
    pub fn stored(&self, doc: &DocId) -> Vec<(u64, Envelope)> {
        self.store.get(doc).map_or_else(Vec::new, |d| {
            d.bytes.iter().map(|(s, e)| (*s, e.clone())).collect()
        })
    }

    /// Simulates a crash and restart: every connection is gone; the core is
    /// rebuilt from what was stored.
    pub fn restart(&mut self) {
        self.core = RelayCore::new(self.key.clone(), self.config.clone());
        for (doc, s) in &self.store {
            let metas: Vec<(EnvelopeMeta, bool)> = s
                .metas
                .values()
                .map(|m| (*m, s.bytes.contains_key(&m.doc_seq)))
                .collect();
            // Stored ops were verified when appended; a failure here would
            // mean corrupted storage, and the doc is skipped.
            let _ = self.core.restore_doc(*doc, s.ops.clone(), &metas);
        }
        for (doc, t) in &self.tombstones {
            self.core.restore_tombstone(*doc, t.clone());
        }
    }

    /// Whether anything of `doc` is stored besides its tombstone.
    pub fn holds(&self, doc: &DocId) -> bool {
        self.store.contains_key(doc)
    }

    /// A connection opened.
    pub fn connect(&mut self, conn: ConnId) {
        self.core.handle_connect(conn);
    }

    /// A connection closed.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.core.handle_disconnect(conn);
    }

    /// Handles a frame and carries out storage; returns messages to send and
    /// connections to close (`None` message).
    pub fn handle_frame(
        &mut self,
        now: u64,
        conn: ConnId,
        frame: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Vec<(ConnId, Option<Message>)> {
        let actions = self.core.handle_frame(now, conn, frame, rng);
        self.execute(actions)
    }

    fn execute(&mut self, actions: Vec<RelayAction>) -> Vec<(ConnId, Option<Message>)> {
        let mut out = Vec::new();
        for a in actions {
            match a {
                RelayAction::Send { conn, msg } => out.push((conn, Some(msg))),
                RelayAction::Close { conn } => out.push((conn, None)),
                RelayAction::StoreEnvelope {
                    doc,
                    meta,
                    envelope,
                } => {
                    let d = self.store.entry(doc).or_default();
                    d.metas.insert(meta.doc_seq, meta);
                    d.bytes.insert(meta.doc_seq, envelope.into_envelope());
                }
                // Storage here is synchronous, so each ack is durable at
                // once and is signed alone.
                RelayAction::Ack { conn, entry } => {
                    let acks = Acks::sign(&self.key, vec![entry]);
                    out.push((conn, Some(Message::Acks(acks))));
                }
                RelayAction::StoreMembershipOp {
                    doc,
                    index,
                    op,
                    stamp,
                } => {
                    let d = self.store.entry(doc).or_default();
                    if d.ops.len() as u64 == index {
                        d.ops.push((op, Some(stamp)));
                    }
                }
                // This relay keeps no access log: it answers with what it
                // stores.
                RelayAction::ReadAccessLog { conn, doc } => {
                    let stored = self.store.get(&doc).map(|d| crate::wire::StoredStats {
                        envelopes: d.bytes.len() as u64,
                        bytes: d.bytes.values().map(|e| e.as_bytes().len() as u64).sum(),
                        positions: d.metas.len() as u64,
                        ops: d.ops.len() as u64,
                        created_at: d.ops.first().and_then(|(_, s)| s.map(|s| s.at)),
                    });
                    let log = crate::wire::AccessLog {
                        doc,
                        at: 0,
                        since: 0,
                        stored: stored.unwrap_or_default(),
                        entries: Vec::new(),
                    };
                    out.push((conn, Some(self.core.signed_access_log(&log))));
                }
                RelayAction::EraseDoc { doc, tombstone, .. } => {
                    self.store.remove(&doc);
                    self.tombstones.insert(doc, tombstone);
                }
                RelayAction::Compact { doc, doc_seqs } => {
                    if let Some(d) = self.store.get_mut(&doc) {
                        for s in doc_seqs {
                            d.bytes.remove(&s);
                        }
                    }
                }
                RelayAction::Replay {
                    conn,
                    doc,
                    after,
                    up_to,
                    last,
                    ..
                } => {
                    let rows: Vec<(u64, Envelope)> = match self.store.get(&doc) {
                        Some(d) if after < up_to => d
                            .bytes
                            .range(after + 1..=up_to)
                            .map(|(s, e)| (*s, e.clone()))
                            .collect(),
                        _ => Vec::new(),
                    };
                    for m in replay_messages(doc, rows, up_to, last) {
                        out.push((conn, Some(m)));
                    }
                    // Sent at once here: ask for what follows.
                    let next = self.core.handle_replay_next(conn, doc);
                    out.extend(self.execute(next));
                }
            }
        }
        out
    }
}
