//! Compaction: a member with write access publishes a snapshot of a whole
//! document (its automerge document, saved) when the document's history at
//! the relay grows past [`SNAPSHOT_AFTER_BYTES`], or when the relay refused
//! an edit over a quota; the relay then drops the envelopes it covers. A
//! receiving member checks a snapshot before it takes it in:
//!
//! - it must load as an automerge document;
//! - it must hold every change this device received in an envelope the
//!   snapshot covers (the store records, per applied envelope, the highest
//!   change seq of each automerge actor it carried: `coverage`), or the
//!   snapshot dropped someone's change;
//! - every change in it that this device lacks must come from an author
//!   this device has not yet heard from up to the covered position: a
//!   change under the actor of an author whose covered envelopes this
//!   device has all seen was never sent by that author, so someone forged
//!   it.
//!
//! A device that has no content yet (a new member) takes the first snapshot
//! on trust in its author, a member with write access. A snapshot that
//! fails a check is quarantined and reported as tampering; what the device
//! already holds is untouched.

use std::collections::BTreeMap;

use automerge::{Automerge, Change};
use starling_protocol::envelope::{Cover, MAX_PAYLOAD};
use starling_protocol::{Bytes, DeviceId};

use crate::client::Client;
use crate::error::{ClientError, Result};

/// Past this many bytes of envelopes since the last snapshot, a writer
/// publishes a snapshot once it has caught up.
pub const SNAPSHOT_AFTER_BYTES: u64 = 256 * 1024;

/// Per automerge actor (its bytes), the highest change seq seen.
pub type Clock = BTreeMap<Vec<u8>, u64>;

/// The clock of a batch of change chunks (already checked to parse).
pub(crate) fn clock_of(changes: &[Vec<u8>]) -> Clock {
    let mut clock = Clock::new();
    for c in changes
        .iter()
        .filter_map(|c| crate::changes::parse_change(c))
    {
        let seq = clock.entry(c.actor_id().to_bytes().to_vec()).or_default();
        *seq = (*seq).max(c.seq());
    }
    clock
}

/// Raises `into` to everything `from` has.
pub(crate) fn fold(into: &mut Clock, from: &Clock) {
    for (actor, seq) in from {
        let s = into.entry(actor.clone()).or_default();
        *s = (*s).max(*seq);
    }
}

pub(crate) fn encode_clock(clock: &Clock) -> Vec<u8> {
    let items: Vec<(Bytes, u64)> = clock.iter().map(|(a, s)| (Bytes(a.clone()), *s)).collect();
    let mut out = Vec::new();
    // Writing CBOR into a Vec cannot fail.
    let _ = ciborium::into_writer(&items, &mut out);
    out
}

pub(crate) fn decode_clock(bytes: &[u8]) -> Result<Clock> {
    let items: Vec<(Bytes, u64)> = ciborium::from_reader(bytes)
        .map_err(|e| ClientError::CorruptStore(format!("coverage: {e}")))?;
    Ok(items.into_iter().map(|(a, s)| (a.0, s)).collect())
}

/// Loads automerge bytes from anywhere, never panicking.
pub(crate) fn load(bytes: &[u8]) -> Option<Automerge> {
    let owned = bytes.to_vec();
    std::panic::catch_unwind(move || Automerge::load(&owned).ok())
        .ok()
        .flatten()
}

fn device_of(change: &Change) -> Option<DeviceId> {
    let actor = change.actor_id().to_bytes();
    let key: [u8; 32] = actor.get(..32)?.try_into().ok()?;
    DeviceId::from_bytes(key).ok()
}

fn short(d: &DeviceId) -> String {
    d.to_string().chars().take(8).collect()
}

/// The rows a taken snapshot leaves in `coverage`: for each author it
/// covers, one row at the covered seq folding what this device knew with
/// what the snapshot holds of that author's actors; and one for the
/// snapshot itself at its own place in its author's chain.
pub(crate) type Folds = Vec<(String, String, u64, Vec<u8>)>;

fn device_clocks(am: &Automerge) -> BTreeMap<DeviceId, Clock> {
    let mut out: BTreeMap<DeviceId, Clock> = BTreeMap::new();
    for c in am.get_changes(&[]) {
        if let Some(d) = device_of(&c) {
            let seq = out
                .entry(d)
                .or_default()
                .entry(c.actor_id().to_bytes().to_vec())
                .or_default();
            *seq = (*seq).max(c.seq());
        }
    }
    out
}

impl Client {
    /// See [`Folds`].
    pub(crate) fn snapshot_folds(
        &self,
        doc: &str,
        author: DeviceId,
        seq: u64,
        covers: &[Cover],
        payload: &[u8],
    ) -> Result<Folds> {
        let Some(snap) = load(payload) else {
            return Ok(Vec::new());
        };
        let clocks = device_clocks(&snap);
        let mut out = Vec::new();
        for c in covers {
            let a = c.author.to_string();
            let (mut clock, _) = self.store.coverage(doc, &a, c.seq)?;
            if let Some(theirs) = clocks.get(&c.author) {
                fold(&mut clock, theirs);
            }
            out.push((doc.to_owned(), a, c.seq, encode_clock(&clock)));
        }
        let own = clocks.get(&author).cloned().unwrap_or_default();
        out.push((doc.to_owned(), author.to_string(), seq, encode_clock(&own)));
        Ok(out)
    }

    /// A snapshot payload for `doc`: its automerge document saved whole.
    /// `None` when it has no content yet, or is larger than one envelope
    /// carries (it is then not compacted; see docs/protocol.md).
    pub(crate) fn snapshot_payload(&self, doc: &str) -> Result<Option<Vec<u8>>> {
        if let Some(p) = self
            .snapshot_override
            .lock()
            .ok()
            .and_then(|mut o| o.remove(doc))
        {
            return Ok(Some(p));
        }
        let chunks = self.store.chunks(doc)?;
        if chunks.is_empty() {
            return Ok(None);
        }
        let bytes: Vec<u8> = chunks.into_iter().flat_map(|(_, b)| b).collect();
        let Some(am) = load(&bytes) else {
            return Ok(None);
        };
        let saved = am.save();
        Ok((saved.len() <= MAX_PAYLOAD).then_some(saved))
    }

    /// Checks a snapshot of `doc` someone published (see the module docs);
    /// the reason, for people, when it fails.
    pub(crate) fn check_snapshot(
        &self,
        doc: &str,
        payload: &[u8],
        covers: &[Cover],
    ) -> std::result::Result<(), String> {
        let snap = load(payload).ok_or("it is not an automerge document")?;
        let chunks = self.store.chunks(doc).map_err(|e| e.to_string())?;
        if chunks.is_empty() {
            return Ok(());
        }
        let bytes: Vec<u8> = chunks.into_iter().flat_map(|(_, b)| b).collect();
        let Some(mine) = load(&bytes) else {
            return Ok(());
        };
        let mut covered = Clock::new();
        let mut heads: BTreeMap<DeviceId, (u64, u64)> = BTreeMap::new();
        for c in covers {
            let (clock, head) = self
                .store
                .coverage(doc, &c.author.to_string(), c.seq)
                .map_err(|e| e.to_string())?;
            fold(&mut covered, &clock);
            heads.insert(c.author, (c.seq, head));
        }
        // What this device has that the snapshot lacks: fine if it came
        // after the covered positions (or was never sent), not otherwise.
        for c in snap.get_changes_added(&mine) {
            let actor = c.actor_id().to_bytes().to_vec();
            if covered.get(&actor).is_some_and(|max| c.seq() <= *max) {
                let who = device_of(&c).map(|d| short(&d)).unwrap_or_default();
                return Err(format!(
                    "it leaves out a change by device {who} that it claims to cover"
                ));
            }
        }
        // What the snapshot has that this device lacks: only from authors
        // this device has not yet heard from up to the covered position.
        for c in mine.get_changes_added(&snap) {
            let Some(device) = device_of(&c) else {
                return Err("it holds a change under an actor of no device".into());
            };
            match heads.get(&device) {
                None => {
                    return Err(format!(
                        "it holds a change by device {} that it does not cover",
                        short(&device)
                    ));
                }
                Some((cover, head)) if head >= cover => {
                    return Err(format!(
                        "it holds a change by device {} that this device never received from it",
                        short(&device)
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
