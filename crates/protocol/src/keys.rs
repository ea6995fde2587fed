//! Secret keys: a device's signing key and a document's epoch key.
//!
//! Both zeroize on drop and print as `DeviceKey(..)` / `EpochKey(..)`, so
//! they never reach a log by accident.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::bytes::ByteArray;
use crate::ids::DeviceId;

/// A device's ed25519 signing key. Its public half is the [`DeviceId`].
#[derive(Clone)]
pub struct DeviceKey {
    key: SigningKey,
    /// The public half, decoded once.
    id: DeviceId,
}

impl DeviceKey {
    /// Generates a fresh key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_signing_key(SigningKey::generate(rng))
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let id = DeviceId::of_own_key(&key.verifying_key());
        Self { key, id }
    }

    /// Rebuilds a key from its 32-byte seed (as stored by the client).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self::from_signing_key(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for storage. Zeroize the copy when done.
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes())
    }

    /// This device's public identity.
    pub fn device_id(&self) -> DeviceId {
        self.id
    }

    /// Signs `domain || message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        let mut buf = Vec::with_capacity(domain.len() + message.len());
        buf.extend_from_slice(domain);
        buf.extend_from_slice(message);
        Signature(self.key.sign(&buf).to_bytes())
    }

    /// The signing key, for tests that build unusual signatures by hand.
    #[cfg(test)]
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The X25519 secret for key agreement, derived from the signing key.
    pub(crate) fn x25519_secret(&self) -> x25519_dalek::StaticSecret {
        let mut b = self.key.to_scalar_bytes();
        let s = x25519_dalek::StaticSecret::from(b);
        b.zeroize();
        s
    }
}

impl ZeroizeOnDrop for DeviceKey {}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(..)")
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Signature(#[serde(with = "sig_serde")] pub [u8; 64]);

mod sig_serde {
    use super::ByteArray;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        ByteArray(*v).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        Ok(ByteArray::<64>::deserialize(d)?.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..6]))
    }
}

impl Signature {
    /// Verifies this signature over `domain || message` by `signer`.
    ///
    /// The rules are ZIP-215's (as `ed25519-zebra` implements them): the
    /// cofactored equation `[8][S]B = [8]R + [8][k]A`, `S` canonical, and
    /// `k` hashed from the encodings of `R` and `A` as sent. Batch
    /// verification ([`crate::envelope::verify_batch`]) follows the same
    /// rules, so one signature gets the same verdict alone and in any batch,
    /// and every member and the relay agree on every envelope. Every
    /// signature RFC 8032 signers make passes; a third party cannot turn a
    /// valid signature into another valid one (`S` is canonical and `k`
    /// binds the encoding of `R`). Small-order signer keys are refused
    /// when the id is decoded.
    pub fn verify(&self, signer: &DeviceId, domain: &[u8], message: &[u8]) -> bool {
        let mut buf = Vec::with_capacity(domain.len() + message.len());
        buf.extend_from_slice(domain);
        buf.extend_from_slice(message);
        let sig = ed25519_zebra::Signature::from_bytes(&self.0);
        signer.key().is_some_and(|k| k.verify(&sig, &buf).is_ok())
    }
}

/// A document key for one epoch: 256 random bits.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct EpochKey([u8; 32]);

impl EpochKey {
    /// Draws a fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Hex encoding (for invite links). Treat the result as secret.
    pub fn to_hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(hex::encode(self.0))
    }
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochKey(..)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let k = DeviceKey::from_seed([1; 32]);
        assert_eq!(format!("{k:?}"), "DeviceKey(..)");
        assert_eq!(
            format!("{:?}", EpochKey::from_bytes([2; 32])),
            "EpochKey(..)"
        );
    }

    #[test]
    fn sign_verify_with_domain() {
        let k = DeviceKey::from_seed([1; 32]);
        let s = k.sign(b"a", b"msg");
        assert!(s.verify(&k.device_id(), b"a", b"msg"));
        assert!(!s.verify(&k.device_id(), b"b", b"msg"));
    }

    #[test]
    fn x25519_agrees() {
        let a = DeviceKey::from_seed([1; 32]);
        let b = DeviceKey::from_seed([2; 32]);
        let ab = a
            .x25519_secret()
            .diffie_hellman(&b.device_id().x25519_public().unwrap());
        let ba = b
            .x25519_secret()
            .diffie_hellman(&a.device_id().x25519_public().unwrap());
        assert_eq!(ab.as_bytes(), ba.as_bytes());
    }
}
