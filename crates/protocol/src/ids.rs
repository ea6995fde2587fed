//! Identifiers: devices, documents and epochs.
//!
//! All identifiers print as lowercase hex and parse back from it, so they can
//! appear in links, logs and configuration files.

use std::fmt;
use std::str::FromStr;

use ed25519_zebra::VerificationKey;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::bytes::ByteArray;

/// Errors parsing or validating an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text was not hex of the right length.
    #[error("expected {expected} hex characters")]
    BadHex {
        /// Number of hex characters expected.
        expected: usize,
    },
    /// The bytes are not a valid ed25519 public key, or a small-order one.
    #[error("not a valid ed25519 public key")]
    BadPublicKey,
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    let mut out = [0u8; N];
    if s.len() != N * 2 {
        return Err(IdError::BadHex { expected: N * 2 });
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| IdError::BadHex { expected: N * 2 })?;
    Ok(out)
}

/// A device's identity: its ed25519 public key.
///
/// [`DeviceId::from_bytes`] (and deserialization) validate that the bytes
/// decode to a curve point of large order and keep the decoded point, so the
/// id verifies signatures without decoding again (by the ZIP-215 rules; see
/// [`crate::Signature::verify`]). Envelope parsing defers
/// that work to verification (see [`crate::Envelope::verify_with`]).
#[derive(Clone, Copy)]
pub struct DeviceId {
    bytes: [u8; 32],
    key: Option<VerificationKey>,
}

impl PartialEq for DeviceId {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for DeviceId {}

impl std::hash::Hash for DeviceId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl PartialOrd for DeviceId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DeviceId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

/// Decodes a public key, refusing small-order points: a signature under
/// one would verify for many messages and prove nothing about its author.
fn decode_key(bytes: &[u8; 32]) -> Option<VerificationKey> {
    let point = ed25519_dalek::VerifyingKey::from_bytes(bytes).ok()?;
    if point.is_weak() {
        return None;
    }
    VerificationKey::try_from(*bytes).ok()
}

impl DeviceId {
    /// Wraps 32 bytes, checking they are a valid ed25519 public key.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdError> {
        let key = decode_key(&bytes).ok_or(IdError::BadPublicKey)?;
        Ok(Self {
            bytes,
            key: Some(key),
        })
    }

    /// Wraps 32 bytes without decoding them; verification decodes (and
    /// fails on an invalid key).
    pub(crate) fn from_bytes_unchecked(bytes: [u8; 32]) -> Self {
        Self { bytes, key: None }
    }

    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The key for signature verification; `None` if the bytes are not a
    /// valid key (possible only for ids parsed from an unverified envelope).
    pub(crate) fn key(&self) -> Option<VerificationKey> {
        self.key.or_else(|| decode_key(&self.bytes))
    }

    /// The same id with its key decoded, if valid.
    pub(crate) fn validated(&self) -> Option<Self> {
        self.key().map(|key| Self {
            bytes: self.bytes,
            key: Some(key),
        })
    }

    /// The id of a key this process holds (so known to be valid).
    pub(crate) fn of_own_key(key: &ed25519_dalek::VerifyingKey) -> Self {
        let bytes = key.to_bytes();
        Self {
            bytes,
            key: VerificationKey::try_from(bytes).ok(),
        }
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", &hex::encode(self.as_bytes())[..12])
    }
}

impl FromStr for DeviceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::from_bytes(parse_hex::<32>(s)?)
    }
}

impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ByteArray(*self.as_bytes()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ByteArray(b) = ByteArray::<32>::deserialize(d)?;
        Self::from_bytes(b).map_err(serde::de::Error::custom)
    }
}

/// A document's identity: 128 random bits chosen by its owner.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocId(ByteArray<16>);

impl DocId {
    /// Draws a fresh random document id.
    pub fn random(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        Self(ByteArray(b))
    }

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(ByteArray(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0.0
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.0))
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({self})")
    }
}

impl FromStr for DocId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Ok(Self::from_bytes(parse_hex::<16>(s)?))
    }
}

/// An epoch number: which document key is in force. Starts at 0 at genesis
/// and increases by one with every key rotation.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The next epoch, saturating at `u64::MAX`.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Epoch {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.parse()?))
    }
}

impl DeviceId {
    /// The X25519 public key birationally equivalent to this ed25519 key.
    pub(crate) fn x25519_public(&self) -> Option<x25519_dalek::PublicKey> {
        let point = ed25519_dalek::VerifyingKey::from_bytes(&self.bytes)
            .ok()?
            .to_montgomery();
        Some(x25519_dalek::PublicKey::from(point.to_bytes()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let d = DocId::from_bytes([7; 16]);
        assert_eq!(d.to_string().parse::<DocId>().unwrap(), d);
        let k = crate::DeviceKey::from_seed([3; 32]);
        let id = k.device_id();
        assert_eq!(id.to_string().parse::<DeviceId>().unwrap(), id);
        assert!("zz".parse::<DocId>().is_err());
        assert!("00".repeat(15).parse::<DocId>().is_err());
    }
}
