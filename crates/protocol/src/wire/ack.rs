//! Signed acknowledgements and the authentication transcript.
//!
//! The relay acknowledges envelopes in batches: one [`Acks`] message lists
//! every envelope of one connection that a group commit made durable, under
//! one relay signature. The signature covers the root of a Merkle tree over
//! the entries (RFC 9162 shape, Starling's own domain labels), so
//! [`Acks::receipt`] can cut a [`Receipt`] for a single envelope that a
//! third party verifies without seeing the rest of the batch.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bytes::ByteArray;
use crate::domain;
use crate::envelope::EnvelopeHash;
use crate::ids::{DeviceId, DocId};
use crate::keys::{DeviceKey, Signature};

/// Most entries in one [`Acks`] message.
pub const MAX_ACKS: usize = 1024;

/// Deepest inclusion path of a [`Receipt`] (enough for `u32::MAX` entries).
const MAX_PATH: usize = 32;

/// One envelope the relay durably accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AckEntry {
    /// The document.
    pub doc: DocId,
    /// The envelope's author. Not decoded as a key when received (an ack
    /// names the author; nothing is verified with its key), which spares
    /// a point decompression per entry.
    #[serde(with = "author_bytes")]
    pub author: DeviceId,
    /// The envelope's author sequence number.
    pub author_seq: u64,
    /// The envelope's hash.
    pub hash: EnvelopeHash,
    /// Position the relay assigned in the document's log.
    pub doc_seq: u64,
}

mod author_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::bytes::ByteArray;
    use crate::ids::DeviceId;

    pub fn serialize<S: Serializer>(d: &DeviceId, s: S) -> Result<S::Ok, S::Error> {
        d.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DeviceId, D::Error> {
        Ok(DeviceId::from_bytes_unchecked(
            ByteArray::<32>::deserialize(d)?.0,
        ))
    }
}

impl AckEntry {
    /// `doc || author || author_seq:u64be || hash || doc_seq:u64be`.
    pub fn to_bytes(&self) -> [u8; 96] {
        let mut v = [0u8; 96];
        v[..16].copy_from_slice(self.doc.as_bytes());
        v[16..48].copy_from_slice(self.author.as_bytes());
        v[48..56].copy_from_slice(&self.author_seq.to_be_bytes());
        v[56..88].copy_from_slice(self.hash.as_bytes());
        v[88..].copy_from_slice(&self.doc_seq.to_be_bytes());
        v
    }

    fn leaf(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(domain::ACK_LEAF)
            .chain_update(self.to_bytes())
            .finalize()
            .into()
    }
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update(domain::ACK_NODE)
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The largest power of two below `n` (for `n >= 2`).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle tree hash of `leaves` (not empty).
fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion path of leaf `m`, innermost sibling first.
fn path(leaves: &[[u8; 32]], m: usize, out: &mut Vec<ByteArray<32>>) {
    if leaves.len() < 2 {
        return;
    }
    let k = split(leaves.len());
    if m < k {
        path(&leaves[..k], m, out);
        out.push(ByteArray(root(&leaves[k..])));
    } else {
        path(&leaves[k..], m - k, out);
        out.push(ByteArray(root(&leaves[..k])));
    }
}

/// Recomputes the root from a leaf and its inclusion path (RFC 9162,
/// section 2.1.3.2); `None` if the path does not fit `index` and `count`.
fn root_from_path(
    leaf: [u8; 32],
    index: u64,
    count: u64,
    path: &[ByteArray<32>],
) -> Option<[u8; 32]> {
    if index >= count {
        return None;
    }
    let (mut f, mut s) = (index, count - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(&p.0, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, &p.0);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// The bytes the relay signs (after `"starling ack batch v1"`):
/// `count:u32be || root`.
fn signed(count: usize, root: &[u8; 32]) -> [u8; 36] {
    let mut v = [0u8; 36];
    v[..4].copy_from_slice(&(count as u32).to_be_bytes());
    v[4..].copy_from_slice(root);
    v
}

/// The relay's signed receipt for a batch of envelopes: proof it durably
/// accepted each entry at its `doc_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acks {
    /// The acknowledged envelopes, 1 to [`MAX_ACKS`] of them.
    pub entries: Vec<AckEntry>,
    /// Relay signature over `"starling ack batch v1" || count:u32be || root`,
    /// `root` being the Merkle tree hash of the entries.
    pub signature: Signature,
}

impl Acks {
    /// Signs `entries` (1 to [`MAX_ACKS`]) with the relay's key.
    pub fn sign(relay: &DeviceKey, entries: Vec<AckEntry>) -> Self {
        let mut acks = Self {
            entries,
            signature: crate::keys::Signature([0; 64]),
        };
        let msg = signed(acks.entries.len(), &acks.root());
        acks.signature = relay.sign(domain::ACK_SIG, &msg);
        acks
    }

    /// Checks the signature against the relay's id (once for every entry).
    pub fn verify(&self, relay: &DeviceId) -> bool {
        if self.entries.is_empty() || self.entries.len() > MAX_ACKS {
            return false;
        }
        let msg = signed(self.entries.len(), &self.root());
        self.signature.verify(relay, domain::ACK_SIG, &msg)
    }

    /// The Merkle tree hash of the entries (all zeros for none), which the
    /// signature covers.
    pub fn root(&self) -> [u8; 32] {
        let leaves: Vec<[u8; 32]> = self.entries.iter().map(AckEntry::leaf).collect();
        if leaves.is_empty() {
            [0; 32]
        } else {
            root(&leaves)
        }
    }

    /// The receipt for entry `index` alone, which a third party can verify
    /// without seeing the other entries.
    pub fn receipt(&self, index: usize) -> Option<Receipt> {
        let entry = *self.entries.get(index)?;
        let leaves: Vec<[u8; 32]> = self.entries.iter().map(AckEntry::leaf).collect();
        let mut p = Vec::new();
        path(&leaves, index, &mut p);
        Some(Receipt {
            entry,
            index: index as u32,
            count: self.entries.len() as u32,
            path: p,
            signature: self.signature,
        })
    }
}

/// The relay's signed receipt for one envelope, cut from an [`Acks`] batch:
/// the entry, its position in the batch, the sibling hashes up to the
/// signed root, and the batch signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The acknowledged envelope.
    pub entry: AckEntry,
    /// Its index in the batch.
    pub index: u32,
    /// Entries in the batch.
    pub count: u32,
    /// Sibling hashes from the entry's leaf up to the root.
    pub path: Vec<ByteArray<32>>,
    /// The batch's relay signature.
    pub signature: Signature,
}

impl Receipt {
    /// Checks the inclusion path and the relay's signature.
    pub fn verify(&self, relay: &DeviceId) -> bool {
        if self.count == 0 || self.count as usize > MAX_ACKS || self.path.len() > MAX_PATH {
            return false;
        }
        let Some(root) = root_from_path(
            self.entry.leaf(),
            u64::from(self.index),
            u64::from(self.count),
            &self.path,
        ) else {
            return false;
        };
        let msg = signed(self.count as usize, &root);
        self.signature.verify(relay, domain::ACK_SIG, &msg)
    }
}

/// The bytes a device signs (after `"starling auth v1"`) to authenticate:
/// `nonce || len(origin):u16be || origin || timestamp:u64be || relay id || device id`.
pub fn auth_message(
    nonce: &[u8; 32],
    origin: &str,
    timestamp: u64,
    relay: &DeviceId,
    device: &DeviceId,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + 2 + origin.len() + 8 + 64);
    v.extend_from_slice(nonce);
    v.extend_from_slice(&(origin.len().min(u16::MAX as usize) as u16).to_be_bytes());
    v.extend_from_slice(origin.as_bytes());
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(relay.as_bytes());
    v.extend_from_slice(device.as_bytes());
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<AckEntry> {
        let author = DeviceKey::from_seed([1; 32]).device_id();
        (0..n as u64)
            .map(|i| AckEntry {
                doc: DocId::from_bytes([i as u8; 16]),
                author,
                author_seq: i + 1,
                hash: EnvelopeHash::from_bytes([i as u8 ^ 0x55; 32]),
                doc_seq: 100 + i,
            })
            .collect()
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512)] {
            assert_eq!(split(n), k, "n = {n}");
        }
    }

    #[test]
    fn every_receipt_of_every_batch_size_verifies_alone() {
        let relay = DeviceKey::from_seed([2; 32]);
        for n in 1..=33 {
            let acks = Acks::sign(&relay, entries(n));
            assert!(acks.verify(&relay.device_id()), "n = {n}");
            for i in 0..n {
                let r = acks.receipt(i).unwrap();
                assert!(r.verify(&relay.device_id()), "n = {n}, i = {i}");
            }
            assert!(acks.receipt(n).is_none());
        }
    }

    #[test]
    fn a_receipt_proves_only_its_own_entry() {
        let relay = DeviceKey::from_seed([2; 32]);
        let other = DeviceKey::from_seed([3; 32]);
        let acks = Acks::sign(&relay, entries(7));
        let r = acks.receipt(3).unwrap();
        assert!(!r.verify(&other.device_id()));
        let mut moved = r.clone();
        moved.entry.doc_seq += 1;
        assert!(!moved.verify(&relay.device_id()));
        let mut swapped = r.clone();
        swapped.entry = acks.entries[4];
        assert!(!swapped.verify(&relay.device_id()));
        let mut reindexed = r.clone();
        reindexed.index = 2;
        assert!(!reindexed.verify(&relay.device_id()));
        let mut recounted = r.clone();
        recounted.count = 8;
        assert!(!recounted.verify(&relay.device_id()));
        let mut short = r;
        short.path.pop();
        assert!(!short.verify(&relay.device_id()));
    }

    #[test]
    fn a_batch_signature_covers_every_entry() {
        let relay = DeviceKey::from_seed([2; 32]);
        let acks = Acks::sign(&relay, entries(5));
        for i in 0..5 {
            let mut forged = acks.clone();
            forged.entries[i].author_seq += 1;
            assert!(!forged.verify(&relay.device_id()), "entry {i}");
        }
        let mut dropped = acks.clone();
        dropped.entries.pop();
        assert!(!dropped.verify(&relay.device_id()));
        let mut reordered = acks;
        reordered.entries.swap(0, 1);
        assert!(!reordered.verify(&relay.device_id()));
        assert!(!Acks::sign(&relay, Vec::new()).verify(&relay.device_id()));
    }
}
