//! Change batches: the plaintext inside a `changes` envelope.
//!
//! A batch is a CBOR array of raw automerge change chunks. The sync engine
//! never interprets the document; it only checks that every change was made
//! under an actor id of the device that signed the envelope: the device's
//! 32-byte public key followed by a per-process suffix.

use automerge::Change;
use starling_protocol::{Bytes, DeviceId};

/// Most changes one batch may hold.
pub const MAX_CHANGES_PER_BATCH: usize = 10_000;

/// Why a received batch was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Not a CBOR array of byte strings.
    #[error("the payload is not a batch of changes")]
    NotABatch,
    /// A chunk is not an automerge change.
    #[error("change {0} is not a valid automerge change")]
    BadChange(usize),
    /// A change was made under another device's actor.
    #[error("change {index} was made by actor {actor}, not by the device that signed it")]
    ForeignActor {
        /// Which change.
        index: usize,
        /// Its actor, hex.
        actor: String,
    },
}

/// Encode raw change chunks as one payload.
pub fn encode_batch(changes: &[Vec<u8>]) -> Vec<u8> {
    let items: Vec<Bytes> = changes.iter().map(|c| Bytes(c.clone())).collect();
    let mut out = Vec::new();
    // Writing CBOR into a Vec cannot fail.
    let _ = ciborium::into_writer(&items, &mut out);
    out
}

/// Decode a payload and check every change's actor against `signer`.
pub fn decode_batch(payload: &[u8], signer: &DeviceId) -> Result<Vec<Vec<u8>>, BatchError> {
    let items: Vec<Bytes> = ciborium::from_reader(payload).map_err(|_| BatchError::NotABatch)?;
    if items.len() > MAX_CHANGES_PER_BATCH {
        return Err(BatchError::NotABatch);
    }
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let bytes = item.0;
        let change = parse_change(&bytes).ok_or(BatchError::BadChange(index))?;
        let actor = change.actor_id().to_bytes();
        if actor.len() <= 32 || actor[..32] != signer.as_bytes()[..] {
            return Err(BatchError::ForeignActor {
                index,
                actor: hex::encode(actor),
            });
        }
        out.push(bytes);
    }
    Ok(out)
}

/// Parse one change chunk from untrusted bytes, never panicking.
pub(crate) fn parse_change(bytes: &[u8]) -> Option<Change> {
    // Only change chunks (types 1 and 2) belong in a batch.
    if bytes.len() < 9 || bytes[..4] != [0x85, 0x6f, 0x4a, 0x83] || !matches!(bytes[8], 1 | 2) {
        return None;
    }
    let owned = bytes.to_vec();
    std::panic::catch_unwind(move || Change::from_bytes(owned).ok())
        .ok()
        .flatten()
}

/// The messages of checked change chunks, for people.
pub fn messages(changes: &[Vec<u8>]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| parse_change(c))
        .filter_map(|c| {
            c.message()
                .map(|m| m.lines().next().unwrap_or_default().to_owned())
        })
        .collect()
}
