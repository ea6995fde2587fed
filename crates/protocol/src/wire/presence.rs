//! Presence: who is here and what they look at, encrypted end to end.
//!
//! The blob is `nonce:[24] || XChaCha20-Poly1305(k, nonce, counter:u64be || data)`
//! with `k = HKDF-SHA256(ikm = epoch key, info = "starling presence v1" || doc)`
//! and the doc id, epoch and sender as associated data. The counter sits
//! inside the ciphertext, so the relay cannot replay an old blob unnoticed:
//! receivers keep the highest counter per sender and drop anything not
//! greater.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::MAX_PRESENCE;
use crate::bytes::Bytes;
use crate::domain;
use crate::ids::{DeviceId, DocId, Epoch};
use crate::keys::EpochKey;

/// Errors sealing or opening presence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// Data exceeds [`MAX_PRESENCE`] once sealed.
    #[error("presence data too large")]
    TooLarge,
    /// Decryption failed (wrong key, sender or tampering).
    #[error("presence does not decrypt")]
    Decrypt,
}

fn key(epoch_key: &EpochKey, doc: &DocId) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(None, epoch_key.as_bytes());
    let mut k = Zeroizing::new([0u8; 32]);
    let _ = hk.expand(&[domain::PRESENCE_KEY, doc.as_bytes()].concat(), k.as_mut());
    k
}

fn aad(doc: &DocId, epoch: Epoch, from: &DeviceId) -> Vec<u8> {
    [
        doc.as_bytes().as_slice(),
        &epoch.0.to_be_bytes(),
        from.as_bytes(),
    ]
    .concat()
}

/// Seals presence `data` with a strictly increasing `counter`.
#[allow(clippy::too_many_arguments)]
pub fn seal(
    epoch_key: &EpochKey,
    doc: &DocId,
    epoch: Epoch,
    from: &DeviceId,
    counter: u64,
    data: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Bytes, PresenceError> {
    if data.len() + 8 + 24 + 16 > MAX_PRESENCE {
        return Err(PresenceError::TooLarge);
    }
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let k = key(epoch_key, doc);
    let msg = [&counter.to_be_bytes()[..], data].concat();
    let ct = XChaCha20Poly1305::new(k.as_ref().into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &msg,
                aad: &aad(doc, epoch, from),
            },
        )
        .map_err(|_| PresenceError::TooLarge)?;
    Ok(Bytes([&nonce[..], &ct].concat()))
}

/// Opens a presence blob, returning its counter and data.
pub fn open(
    epoch_key: &EpochKey,
    doc: &DocId,
    epoch: Epoch,
    from: &DeviceId,
    blob: &[u8],
) -> Result<(u64, Vec<u8>), PresenceError> {
    if blob.len() < 24 + 16 + 8 {
        return Err(PresenceError::Decrypt);
    }
    let (nonce, ct) = blob.split_at(24);
    let k = key(epoch_key, doc);
    let pt = XChaCha20Poly1305::new(k.as_ref().into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: &aad(doc, epoch, from),
            },
        )
        .map_err(|_| PresenceError::Decrypt)?;
    let (c, data) = pt.split_at(8);
    let mut cb = [0u8; 8];
    cb.copy_from_slice(c);
    Ok((u64::from_be_bytes(cb), data.to_vec()))
}
