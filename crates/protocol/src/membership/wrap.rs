//! Epoch key wrapping.
//!
//! A rotation draws one ephemeral X25519 key `e`. For each member `m` (whose
//! X25519 key is the Montgomery form of its ed25519 device key):
//!
//! ```text
//! k_m  = HKDF-SHA256(salt = E, ikm = X25519(e, M),
//!                    info = "starling epoch wrap v1" || doc || epoch || m)
//! wrap = XChaCha20-Poly1305(k_m, nonce_m, new key, aad = doc || epoch || m)
//! ```
//!
//! The previous key travels as
//! `XChaCha20-Poly1305(HKDF(ikm = new key, info = "starling epoch chain v1" || doc || epoch), nonce, previous key)`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::MembershipError;
use super::op::{DeviceGrant, RotateEpoch, WrappedKey};
use crate::bytes::{ByteArray, Bytes};
use crate::ids::{DeviceId, DocId, Epoch};
use crate::keys::{DeviceKey, EpochKey};

fn context(doc: &DocId, epoch: Epoch, device: Option<&DeviceId>) -> Vec<u8> {
    let mut v = Vec::with_capacity(56);
    v.extend_from_slice(doc.as_bytes());
    v.extend_from_slice(&epoch.0.to_be_bytes());
    if let Some(d) = device {
        v.extend_from_slice(d.as_bytes());
    }
    v
}

fn wrap_key(shared: &[u8; 32], salt: &[u8], info_ctx: &[u8], prefix: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(salt), shared);
    let mut out = Zeroizing::new([0u8; 32]);
    let info = [prefix, info_ctx].concat();
    // A 32-byte output is always within HKDF's limit.
    let _ = hk.expand(&info, out.as_mut());
    out
}

fn seal(key: &[u8; 32], nonce: &[u8; 24], msg: &[u8], aad: &[u8]) -> Vec<u8> {
    let c = XChaCha20Poly1305::new(key.into());
    c.encrypt(XNonce::from_slice(nonce), Payload { msg, aad })
        .unwrap_or_default()
}

fn open(
    key: &[u8; 32],
    nonce: &[u8; 24],
    ct: &[u8],
    aad: &[u8],
) -> Result<EpochKey, MembershipError> {
    let c = XChaCha20Poly1305::new(key.into());
    let pt = Zeroizing::new(
        c.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| MembershipError::Unwrap)?,
    );
    let arr: [u8; 32] = pt
        .as_slice()
        .try_into()
        .map_err(|_| MembershipError::Unwrap)?;
    Ok(EpochKey::from_bytes(arr))
}

fn wrap_one(
    e: &StaticSecret,
    e_pub: &PublicKey,
    doc: &DocId,
    epoch: Epoch,
    key: &EpochKey,
    m: &DeviceId,
    rng: &mut impl CryptoRngCore,
) -> Result<WrappedKey, MembershipError> {
    let public = m
        .x25519_public()
        .ok_or(MembershipError::Invalid("member key is not a public key"))?;
    let shared = e.diffie_hellman(&public);
    let ctx = context(doc, epoch, Some(m));
    let k = wrap_key(
        shared.as_bytes(),
        e_pub.as_bytes(),
        &ctx,
        crate::domain::EPOCH_WRAP,
    );
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let ct = seal(&k, &nonce, key.as_bytes(), &ctx);
    Ok(WrappedKey {
        device: *m,
        nonce: ByteArray(nonce),
        ciphertext: Bytes(ct),
    })
}

/// Wraps `key` (of `epoch`) for one recipient, as a rotation would: the
/// grant of a device invite.
pub(crate) fn build_grant(
    doc: &DocId,
    person: DeviceId,
    epoch: Epoch,
    key: &EpochKey,
    recipient: &DeviceId,
    rng: &mut impl CryptoRngCore,
) -> Result<DeviceGrant, MembershipError> {
    let e = StaticSecret::random_from_rng(&mut *rng);
    let e_pub = PublicKey::from(&e);
    let key = wrap_one(&e, &e_pub, doc, epoch, key, recipient, rng)?;
    Ok(DeviceGrant {
        person,
        epoch,
        ephemeral: ByteArray(*e_pub.as_bytes()),
        key,
    })
}

/// Opens a device invite's grant with the invite key.
pub(crate) fn unwrap_grant(
    doc: &DocId,
    g: &DeviceGrant,
    me: &DeviceKey,
) -> Result<EpochKey, MembershipError> {
    open_wrap(
        doc,
        g.epoch,
        &g.ephemeral.0,
        std::slice::from_ref(&g.key),
        me,
    )
}

/// Builds a rotation to `epoch` with `new_key` for `members`.
pub(crate) fn build_rotation(
    doc: &DocId,
    epoch: Epoch,
    new_key: &EpochKey,
    previous_key: &EpochKey,
    members: &[DeviceId],
    rng: &mut impl CryptoRngCore,
) -> Result<RotateEpoch, MembershipError> {
    let e = StaticSecret::random_from_rng(&mut *rng);
    let e_pub = PublicKey::from(&e);
    let wrapped = members
        .iter()
        .map(|m| wrap_one(&e, &e_pub, doc, epoch, new_key, m, rng))
        .collect::<Result<Vec<_>, MembershipError>>()?;
    let ctx = context(doc, epoch, None);
    let chain = wrap_key(new_key.as_bytes(), &[], &ctx, crate::domain::EPOCH_CHAIN);
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let previous = seal(&chain, &nonce, previous_key.as_bytes(), &ctx);
    Ok(RotateEpoch {
        epoch,
        ephemeral: ByteArray(*e_pub.as_bytes()),
        wrapped,
        previous_nonce: ByteArray(nonce),
        previous: Bytes(previous),
    })
}

/// Recovers the rotation's new key with `me`'s device key.
pub(crate) fn unwrap_for(
    doc: &DocId,
    r: &RotateEpoch,
    me: &DeviceKey,
) -> Result<EpochKey, MembershipError> {
    open_wrap(doc, r.epoch, &r.ephemeral.0, &r.wrapped, me)
}

fn open_wrap(
    doc: &DocId,
    epoch: Epoch,
    ephemeral: &[u8; 32],
    wrapped: &[WrappedKey],
    me: &DeviceKey,
) -> Result<EpochKey, MembershipError> {
    let id = me.device_id();
    let w = wrapped
        .iter()
        .find(|w| w.device == id)
        .ok_or(MembershipError::Unwrap)?;
    let shared = me
        .x25519_secret()
        .diffie_hellman(&PublicKey::from(*ephemeral));
    let ctx = context(doc, epoch, Some(&id));
    let k = wrap_key(
        shared.as_bytes(),
        ephemeral,
        &ctx,
        crate::domain::EPOCH_WRAP,
    );
    open(&k, &w.nonce.0, &w.ciphertext.0, &ctx)
}

/// Recovers the previous epoch's key from the rotation and its new key.
pub(crate) fn unwrap_previous(
    doc: &DocId,
    r: &RotateEpoch,
    new_key: &EpochKey,
) -> Result<EpochKey, MembershipError> {
    let ctx = context(doc, r.epoch, None);
    let chain = wrap_key(new_key.as_bytes(), &[], &ctx, crate::domain::EPOCH_CHAIN);
    open(&chain, &r.previous_nonce.0, &r.previous.0, &ctx)
}
