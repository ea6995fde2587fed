//! Invites: single-use, expiring, revocable links that let a new device join.
//!
//! The owner draws a 32-byte [`InviteSecret`], derives from it an ed25519
//! *invite key*, and registers only its public half (the [`InviteId`]) with a
//! `CreateInvite` op, along with the role, perspective and expiry. The
//! [`InviteLink`] handed to the invitee carries, after `#` (so browsers and
//! proxies never send it to a server), the secret and the current epoch and
//! its key:
//!
//! ```text
//! starling://invite/<relay>/<doc id: 32 hex>#<secret: 64 hex>.<epoch: decimal>.<epoch key: 64 hex>
//! ```
//!
//! where `<relay>` is the relay's canonical address ([`RelayAddr`]):
//! `host[:port]`, or `wss://host[:port]` / `ws://host[:port]` where the
//! scheme departs from the loopback rule.
//!
//! The joiner redeems with a `RedeemInvite` op signed by its own device key
//! whose proof is the invite key's signature over the doc, the invite and the
//! joiner: a relay that sees the redeem cannot reuse the proof for another
//! device.

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::addr::RelayAddr;
use crate::domain;
use crate::ids::{DocId, Epoch};
use crate::keys::{DeviceKey, EpochKey};
use crate::membership::{InviteId, MembershipError, MembershipOp, MembershipState, OpBody, Role};

/// Link scheme and path prefix.
pub const LINK_PREFIX: &str = "starling://invite/";
/// Longest accepted link.
pub const MAX_LINK_LEN: usize = 512;

/// Errors parsing an invite link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// Longer than [`MAX_LINK_LEN`].
    #[error("invite link too long")]
    TooLong,
    /// Does not start with `starling://invite/`.
    #[error("not a starling invite link (expected it to start with {LINK_PREFIX})")]
    Scheme,
    /// The relay address is missing or invalid.
    #[error("the relay address in the link is damaged: {0}")]
    Relay(crate::addr::AddrError),
    /// The document id is not 32 hex characters.
    #[error("the journal part of the link is damaged")]
    DocId,
    /// No `#` fragment with three dot-separated parts.
    #[error("the link is cut short: its secret part, after '#', is missing")]
    Fragment,
    /// The secret is not 64 hex characters.
    #[error("the secret part of the link is damaged")]
    Secret,
    /// The epoch is not a decimal number.
    #[error("the key part of the link is damaged")]
    Epoch,
    /// The epoch key is not 64 hex characters.
    #[error("the key part of the link is damaged")]
    Key,
}

/// The secret an invite link carries. Zeroizes on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct InviteSecret([u8; 32]);

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteSecret(..)")
    }
}

impl InviteSecret {
    /// Draws a fresh secret.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// Wraps raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// The raw secret, for the client's own encrypted-at-rest store. It is a
    /// secret: never log it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The invite key derived from the secret.
    pub fn invite_key(&self) -> DeviceKey {
        let hk = Hkdf::<Sha256>::new(None, &self.0);
        let mut seed = Zeroizing::new([0u8; 32]);
        // 32 bytes is within HKDF's output limit.
        let _ = hk.expand(domain::INVITE_KEY, seed.as_mut());
        DeviceKey::from_seed(*seed)
    }

    /// The public name registered at the relay.
    pub fn id(&self) -> InviteId {
        self.invite_key().device_id()
    }

    /// Signs a `CreateInvite` op for this secret (owner only).
    pub fn create_op(
        &self,
        state: &MembershipState,
        owner: &DeviceKey,
        now: u64,
        role: Role,
        perspective: &str,
        expires_at: u64,
    ) -> Result<MembershipOp, MembershipError> {
        let body = OpBody::CreateInvite {
            invite: self.id(),
            role,
            perspective: perspective.into(),
            expires_at,
            device: None,
        };
        state.sign_op(owner, now, body)
    }

    /// Signs the joiner's `RedeemInvite` op.
    pub fn redeem_op(
        &self,
        state: &MembershipState,
        joiner: &DeviceKey,
        now: u64,
    ) -> Result<MembershipOp, MembershipError> {
        let invite = self.id();
        let msg = crate::membership::redeem_message(&state.doc(), &invite, &joiner.device_id());
        let proof = self.invite_key().sign(domain::INVITE_REDEEM, &msg);
        state.sign_op(joiner, now, OpBody::RedeemInvite { invite, proof })
    }
}

/// A parsed invite link.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteLink {
    /// The relay the document syncs through.
    pub relay: RelayAddr,
    /// The document.
    pub doc: DocId,
    /// The invite secret.
    pub secret: InviteSecret,
    /// The epoch of `key`.
    pub epoch: Epoch,
    /// The epoch key, so the joiner can read (and with the rotations' chain,
    /// read history).
    pub key: EpochKey,
}

impl fmt::Debug for InviteLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteLink")
            .field("relay", &self.relay)
            .field("doc", &self.doc)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl InviteLink {
    /// The link text. It holds secrets: hand it over privately.
    pub fn to_link(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{LINK_PREFIX}{}/{}#{}.{}.{}",
            self.relay,
            self.doc,
            hex::encode(self.secret.0),
            self.epoch,
            hex::encode(self.key.as_bytes())
        ))
    }
}

/// 64 hex digits as 32 bytes (links carry their secrets so).
pub(crate) fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl FromStr for InviteLink {
    type Err = InviteError;
    fn from_str(s: &str) -> Result<Self, InviteError> {
        if s.len() > MAX_LINK_LEN {
            return Err(InviteError::TooLong);
        }
        let rest = s.strip_prefix(LINK_PREFIX).ok_or(InviteError::Scheme)?;
        let (path, fragment) = rest.split_once('#').ok_or(InviteError::Fragment)?;
        // The relay may carry its scheme, `wss://host` or `ws://host`.
        let (scheme, body) = match path.strip_prefix("wss://") {
            Some(b) => ("wss://", b),
            None => match path.strip_prefix("ws://") {
                Some(b) => ("ws://", b),
                None => ("", path),
            },
        };
        let (host, doc) = body.split_once('/').ok_or(InviteError::DocId)?;
        let relay = RelayAddr::parse(&format!("{scheme}{host}")).map_err(InviteError::Relay)?;
        if doc.len() != 32 || !doc.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InviteError::DocId);
        }
        let doc: DocId = doc.parse().map_err(|_| InviteError::DocId)?;
        let mut parts = fragment.split('.');
        let (Some(secret), Some(epoch), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InviteError::Fragment);
        };
        let secret = InviteSecret(hex32(secret).ok_or(InviteError::Secret)?);
        if epoch.is_empty() || epoch.len() > 20 || !epoch.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InviteError::Epoch);
        }
        let epoch = Epoch(epoch.parse().map_err(|_| InviteError::Epoch)?);
        let key = EpochKey::from_bytes(hex32(key).ok_or(InviteError::Key)?);
        Ok(InviteLink {
            relay,
            doc,
            secret,
            epoch,
            key,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn link() -> InviteLink {
        InviteLink {
            relay: "relay.example.org:8443".parse().unwrap(),
            doc: DocId::from_bytes([0xab; 16]),
            secret: InviteSecret::from_bytes([1; 32]),
            epoch: Epoch(3),
            key: EpochKey::from_bytes([2; 32]),
        }
    }

    #[test]
    fn round_trip() {
        let l = link();
        let text = l.to_link();
        assert_eq!(text.parse::<InviteLink>().unwrap(), l);
        assert!(!format!("{l:?}").contains("0101"));
    }

    #[test]
    fn a_relay_with_its_scheme_round_trips() {
        for relay in [
            "wss://localhost:8443",
            "ws://relay.example.org:8080",
            "[::1]:7878",
        ] {
            let mut l = link();
            l.relay = relay.parse().unwrap();
            let text = l.to_link();
            assert!(
                text.starts_with(&format!("starling://invite/{relay}/")),
                "{}",
                *text
            );
            assert_eq!(text.parse::<InviteLink>().unwrap(), l);
        }
        let odd = link()
            .to_link()
            .replace("relay.example.org:8443", "ftp://x");
        assert!(matches!(
            odd.parse::<InviteLink>(),
            Err(InviteError::Relay(_))
        ));
    }

    #[test]
    fn strict_errors() {
        let good = link().to_link().to_string();
        let cases = [
            (good.replace("starling://", "http://"), InviteError::Scheme),
            (
                good.replace("relay.example.org:8443", "bad host"),
                InviteError::Relay(crate::addr::AddrError::Host("bad host".into())),
            ),
            (
                good.replace("relay.example.org:8443", ""),
                InviteError::Relay(crate::addr::AddrError::Length),
            ),
            (good.replace(&"ab".repeat(16), "abc"), InviteError::DocId),
            (
                good.split('#').next().unwrap().to_string(),
                InviteError::Fragment,
            ),
            (good.replace(".3.", ".x."), InviteError::Epoch),
            (good.replace(".3.", ".3.4."), InviteError::Fragment),
            (good.replace(&"01".repeat(32), "01"), InviteError::Secret),
            (format!("{good}0"), InviteError::Key),
            ("x".repeat(600), InviteError::TooLong),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<InviteLink>().unwrap_err(), want, "{text}");
        }
    }
}
