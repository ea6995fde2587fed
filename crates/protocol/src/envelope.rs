//! Envelopes: the unit of sync.
//!
//! An envelope is a public [`EnvelopeHeader`] (who wrote what, where, in which
//! order) and a ciphertext of an opaque payload (an automerge change bundle or
//! snapshot; this crate never looks inside). Its canonical byte encoding is
//! fixed-layout (see `docs/protocol.md`) and is what is signed, hashed and
//! sent: nothing is ever re-encoded before verification.
//!
//! Flow: the author calls [`Envelope::seal`]; a receiver parses with
//! [`Envelope::from_bytes`], then [`Envelope::verify`] (signature only; the
//! relay stops here) to get a [`VerifiedEnvelope`], then
//! [`VerifiedEnvelope::open`] (key commitment, then decryption) to get an
//! [`OpenedEnvelope`]. Only an opened envelope exposes plaintext, and only a
//! verified one can be opened.

mod codec;
mod seal;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bytes::ByteArray;
use crate::ids::{DeviceId, DocId, Epoch};
use crate::keys::Signature;

pub use seal::{OpenedEnvelope, VerifiedEnvelope, verify_batch, verify_batch_with};

/// Protocol version written in every envelope header.
pub const ENVELOPE_VERSION: u8 = 1;
/// Largest plaintext payload an envelope may carry (512 KiB).
pub const MAX_PAYLOAD: usize = 512 * 1024;
/// Largest number of authors a snapshot may list as covered.
pub const MAX_COVERS: usize = 1024;
/// Bytes of the AEAD tag added to the payload.
pub const TAG_LEN: usize = 16;
/// Largest encoded envelope.
pub const MAX_ENVELOPE_BYTES: usize = codec::FIXED_HEADER
    + 2
    + MAX_COVERS * codec::COVER_LEN
    + codec::TRAILER
    + MAX_PAYLOAD
    + TAG_LEN;

/// Errors building, parsing, verifying or opening an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes end before the envelope does.
    #[error("envelope truncated")]
    Truncated,
    /// Bytes follow the end of the envelope.
    #[error("trailing bytes after envelope")]
    Trailing,
    /// An unknown protocol version.
    #[error("unsupported envelope version {0}")]
    Version(u8),
    /// An unknown envelope kind byte.
    #[error("unknown envelope kind {0}")]
    Kind(u8),
    /// A field holds an invalid value (bad key, zero sequence number, ...).
    #[error("invalid envelope field: {0}")]
    Invalid(&'static str),
    /// Something exceeds its limit.
    #[error("envelope too large: {0}")]
    TooLarge(&'static str),
    /// The author's signature does not verify.
    #[error("bad envelope signature")]
    BadSignature,
    /// The key commitment does not match the key: wrong epoch key or a
    /// ciphertext crafted to open under two keys.
    #[error("key commitment mismatch")]
    BadCommitment,
    /// Authenticated decryption failed.
    #[error("decryption failed")]
    Decrypt,
    /// The signing key is not the header's author.
    #[error("signing key does not match the header's author")]
    WrongAuthor,
}

/// SHA-256 of an envelope's canonical encoding (domain-separated). Links an
/// author's envelopes into a chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvelopeHash(ByteArray<32>);

impl EnvelopeHash {
    /// The `prev` of an author's first envelope.
    pub const ZERO: Self = Self(ByteArray([0; 32]));

    /// Wraps raw bytes.
    pub const fn from_bytes(b: [u8; 32]) -> Self {
        Self(ByteArray(b))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0.0
    }
}

impl fmt::Debug for EnvelopeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeHash({})", &hex::encode(self.0.0)[..12])
    }
}

impl fmt::Display for EnvelopeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.0))
    }
}

/// One author's position covered by a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cover {
    /// The author.
    pub author: DeviceId,
    /// The author's last sequence number the snapshot includes.
    pub seq: u64,
    /// The hash of that envelope, so a receiver can continue the chain.
    pub hash: EnvelopeHash,
}

/// What an envelope's payload is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnvelopeKind {
    /// A batch of changes.
    Changes,
    /// A full snapshot, including everything up to `covers` (sorted by
    /// author, at most one entry per author). The relay may drop what it
    /// covers.
    Snapshot {
        /// Per-author sequence vector included in the snapshot.
        covers: Vec<Cover>,
    },
}

/// The public part of an envelope: bound as AEAD associated data and signed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvelopeHeader {
    /// Envelope format version; [`ENVELOPE_VERSION`].
    pub version: u8,
    /// The document.
    pub doc: DocId,
    /// The epoch whose key encrypts the payload.
    pub epoch: Epoch,
    /// The author, whose key signs the envelope.
    pub author: DeviceId,
    /// The author's sequence number for this doc, starting at 1 and
    /// contiguous, so a receiver notices a missing envelope.
    pub seq: u64,
    /// Hash of the author's previous envelope for this doc ([`EnvelopeHash::ZERO`]
    /// for seq 1), so a receiver notices a forked or substituted history.
    pub prev: EnvelopeHash,
    /// Changes or snapshot.
    pub kind: EnvelopeKind,
}

impl EnvelopeHeader {
    /// A header for a change batch.
    pub fn changes(
        doc: DocId,
        epoch: Epoch,
        author: DeviceId,
        seq: u64,
        prev: EnvelopeHash,
    ) -> Self {
        Self {
            version: ENVELOPE_VERSION,
            doc,
            epoch,
            author,
            seq,
            prev,
            kind: EnvelopeKind::Changes,
        }
    }

    /// A header for a snapshot covering `covers`.
    pub fn snapshot(
        doc: DocId,
        epoch: Epoch,
        author: DeviceId,
        seq: u64,
        prev: EnvelopeHash,
        mut covers: Vec<Cover>,
    ) -> Self {
        covers.sort_by_key(|c| c.author);
        Self {
            version: ENVELOPE_VERSION,
            doc,
            epoch,
            author,
            seq,
            prev,
            kind: EnvelopeKind::Snapshot { covers },
        }
    }
}

/// A parsed but not yet verified envelope. Carries its canonical bytes.
///
/// Cloning is cheap: the bytes are shared, so a relay fanning one envelope
/// out to many subscribers never copies them.
#[derive(Clone)]
pub struct Envelope {
    header: EnvelopeHeader,
    /// The complete canonical encoding (shared between clones).
    bytes: Arc<[u8]>,
    /// Length of the header prefix of `bytes`.
    header_len: usize,
    /// Hash of `bytes`, computed on first use (opening does not need it).
    hash: std::sync::OnceLock<EnvelopeHash>,
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        // The header and offsets are functions of the bytes.
        Arc::ptr_eq(&self.bytes, &other.bytes) || self.bytes == other.bytes
    }
}

impl Eq for Envelope {}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("header", &self.header)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Envelope {
    /// Parses the canonical encoding. Checks structure and limits only; call
    /// [`Envelope::verify`] before trusting anything in it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        codec::parse(bytes)
    }

    /// The canonical encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The header, unverified. Useful for routing; do not act on it before
    /// verification.
    pub fn header_unverified(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// The hash naming this envelope.
    pub fn hash(&self) -> EnvelopeHash {
        *self.hash.get_or_init(|| {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(crate::domain::ENVELOPE_HASH);
            h.update(&self.bytes);
            EnvelopeHash::from_bytes(h.finalize().into())
        })
    }

    pub(crate) fn new(header: EnvelopeHeader, bytes: Arc<[u8]>, header_len: usize) -> Self {
        Self {
            header,
            bytes,
            header_len,
            hash: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn header_bytes(&self) -> &[u8] {
        &self.bytes[..self.header_len]
    }

    pub(crate) fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - codec::SIG_LEN]
    }

    pub(crate) fn signature(&self) -> Signature {
        let mut s = [0u8; 64];
        s.copy_from_slice(&self.bytes[self.bytes.len() - codec::SIG_LEN..]);
        Signature(s)
    }

    pub(crate) fn commitment(&self) -> &[u8] {
        &self.bytes[self.header_len..self.header_len + 32]
    }

    pub(crate) fn nonce(&self) -> &[u8] {
        &self.bytes[self.header_len + 32..self.header_len + 56]
    }

    pub(crate) fn ciphertext(&self) -> &[u8] {
        &self.bytes[self.header_len + 60..self.bytes.len() - codec::SIG_LEN]
    }
}

impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.bytes)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = crate::bytes::Bytes::deserialize(d)?;
        Envelope::from_bytes(&b.0).map_err(serde::de::Error::custom)
    }
}
