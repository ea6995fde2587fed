//! Identifiers: devices, automerge actors, and the ids of journal items.
//!
//! A device is its ed25519 public key. Each process that edits a journal does
//! so under its own automerge actor id: the device key followed by a random
//! suffix, so two processes of one device never reuse one actor's sequence
//! numbers, and a receiver can still tie every change to the device that
//! signed it ([`DeviceId::owns_actor`]).

use std::fmt;
use std::str::FromStr;

use automerge::ActorId;
use ed25519_dalek::VerifyingKey;
use rand::RngCore;

use crate::error::JournalError;

/// Length of the random suffix that follows the device key in an actor id.
pub const ACTOR_SUFFIX_LEN: usize = 8;

/// A device: the 32 bytes of its ed25519 public key, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; 32]);

impl DeviceId {
    /// The device whose public key is `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DeviceId(bytes)
    }

    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The ed25519 key, if the bytes are a valid curve point of large
    /// order. (With a small-order key, signatures that verify for chosen
    /// messages can be made without any secret: such a device can sign off
    /// nothing.)
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0)
            .ok()
            .filter(|k| !k.is_weak())
    }

    /// A fresh actor id for one editing process of this device.
    pub fn new_actor(&self) -> ActorId {
        let mut suffix = [0u8; ACTOR_SUFFIX_LEN];
        rand::thread_rng().fill_bytes(&mut suffix);
        self.actor_with_suffix(suffix)
    }

    /// The actor id of this device with a given suffix (deterministic, for tests).
    pub fn actor_with_suffix(&self, suffix: [u8; ACTOR_SUFFIX_LEN]) -> ActorId {
        let mut bytes = Vec::with_capacity(32 + ACTOR_SUFFIX_LEN);
        bytes.extend_from_slice(&self.0);
        bytes.extend_from_slice(&suffix);
        ActorId::from(bytes)
    }

    /// The device an actor id belongs to, if it has the Starling shape.
    pub fn of_actor(actor: &ActorId) -> Option<DeviceId> {
        let bytes = actor.to_bytes();
        if bytes.len() != 32 + ACTOR_SUFFIX_LEN {
            return None;
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        Some(DeviceId(key))
    }

    /// Whether `actor` is one of this device's actors.
    pub fn owns_actor(&self, actor: &ActorId) -> bool {
        DeviceId::of_actor(actor) == Some(*self)
    }

    /// The first eight hex digits, for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl From<&VerifyingKey> for DeviceId {
    fn from(key: &VerifyingKey) -> Self {
        DeviceId(key.to_bytes())
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.short())
    }
}

impl serde::Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read in place, without a String per id: a view holds thousands.
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = DeviceId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a device id (64 hex digits)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DeviceId, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Hex)
    }
}

impl FromStr for DeviceId {
    type Err = JournalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || JournalError::InvalidValue {
            kind: "device id",
            value: s.to_owned(),
        };
        let mut key = [0u8; 32];
        hex::decode_to_slice(s, &mut key).map_err(|_| invalid())?;
        Ok(DeviceId(key))
    }
}

macro_rules! item_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id (64 bits, 16 hex digits).
            pub fn random() -> Self {
                $name(hex::encode(rand::random::<[u8; 8]>()))
            }

            /// The id as stored in the document.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wrap a key read from the document (any string a peer wrote).
            pub(crate) fn from_key(key: &str) -> Self {
                $name(key.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = JournalError;

            /// Ids typed by a person: 1 to 64 characters of `[0-9A-Za-z_-]`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let ok = !s.is_empty()
                    && s.len() <= 64
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if ok {
                    Ok($name(s.to_owned()))
                } else {
                    Err(JournalError::InvalidValue { kind: $kind, value: s.to_owned() })
                }
            }
        }
    };
}

item_id!(
    /// A reading (one dated assessment).
    ReadingId,
    "reading id"
);
item_id!(
    /// A goal of the action plan.
    GoalId,
    "goal id"
);
item_id!(
    /// A step towards a goal.
    StepId,
    "step id"
);
item_id!(
    /// A dated journal note.
    NoteId,
    "note id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_keys_verify_nothing() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut minus_one = [0xff; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        for bytes in [identity, minus_one] {
            assert!(VerifyingKey::from_bytes(&bytes).is_ok(), "a curve point");
            assert!(DeviceId::from_bytes(bytes).verifying_key().is_none());
        }
        let real = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
        assert!(DeviceId::from(&real).verifying_key().is_some());
    }

    #[test]
    fn actor_ids_carry_their_device() {
        let device = DeviceId::from_bytes([7; 32]);
        let a = device.new_actor();
        let b = device.new_actor();
        assert_ne!(a, b, "two processes of one device get distinct actors");
        assert!(device.owns_actor(&a) && device.owns_actor(&b));
        assert!(!DeviceId::from_bytes([8; 32]).owns_actor(&a));
        assert_eq!(DeviceId::of_actor(&ActorId::from(vec![1u8; 16])), None);
    }

    #[test]
    fn device_id_parses_only_64_hex_digits() {
        let device = DeviceId::from_bytes([0xab; 32]);
        assert_eq!(device.to_string().parse::<DeviceId>().ok(), Some(device));
        assert!("abc".parse::<DeviceId>().is_err());
        assert!("zz".repeat(32).parse::<DeviceId>().is_err());
    }

    #[test]
    fn item_ids_reject_odd_characters() {
        assert!("r-1_a".parse::<ReadingId>().is_ok());
        assert!("".parse::<ReadingId>().is_err());
        assert!("a/b".parse::<GoalId>().is_err());
        assert!("x".repeat(65).parse::<NoteId>().is_err());
    }
}
