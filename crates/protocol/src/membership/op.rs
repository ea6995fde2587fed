//! Membership ops: content, signing, encoding and hashing.
//!
//! An op is its CBOR-encoded [`OpContent`] plus the author's signature over
//! `"starling membership v1" || content bytes`. The content bytes are kept as
//! received and never re-encoded, so verification does not depend on CBOR
//! canonical form.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    MAX_MEMBERS, MAX_OP_BYTES, MAX_PERSPECTIVE, MEMBERSHIP_VERSION, MEMBERSHIP_VERSION_1,
    MembershipError, Role,
};
use crate::bytes::{ByteArray, Bytes, from_cbor, to_cbor};
use crate::domain;
use crate::ids::{DeviceId, DocId, Epoch};
use crate::keys::{DeviceKey, Signature};

/// Hash of a membership op (content and signature), linking the log.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpHash(pub ByteArray<32>);

impl OpHash {
    /// The `prev` of the genesis op.
    pub const ZERO: Self = Self(ByteArray([0; 32]));
}

impl fmt::Debug for OpHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpHash({})", &hex::encode(self.0.0)[..12])
    }
}

/// Names an invite: the public half of the key pair derived from the invite
/// secret. Only this (never the secret) is registered at the relay.
pub type InviteId = DeviceId;

/// An epoch key encrypted to one member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The recipient.
    pub device: DeviceId,
    /// XChaCha20-Poly1305 nonce.
    pub nonce: ByteArray<24>,
    /// The encrypted 32-byte key and tag.
    pub ciphertext: Bytes,
}

/// What a device invite carries: the person whose device the redeemer
/// becomes, and the current epoch key wrapped for the invite key, so the
/// new device reads without any other device being online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGrant {
    /// The person (the id of their first device).
    pub person: DeviceId,
    /// The epoch of the wrapped key (the current one when the invite was made).
    pub epoch: Epoch,
    /// Ephemeral X25519 public key of the wrap.
    pub ephemeral: ByteArray<32>,
    /// The epoch key, wrapped for the invite key (`key.device` is the invite).
    pub key: WrappedKey,
}

/// A new epoch: its key wrapped for every member, and the previous key
/// encrypted under it so members can read older envelopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateEpoch {
    /// The new epoch (the current one plus one).
    pub epoch: Epoch,
    /// Ephemeral X25519 public key used for every wrap in this rotation.
    pub ephemeral: ByteArray<32>,
    /// The new key, wrapped for each current member.
    pub wrapped: Vec<WrappedKey>,
    /// Nonce for `previous`.
    pub previous_nonce: ByteArray<24>,
    /// The previous epoch's key encrypted under a key derived from the new one.
    pub previous: Bytes,
}

/// What a membership op does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpBody {
    /// Creates the document; the author becomes its first owner.
    Genesis {
        /// The owner's perspective label (e.g. "client").
        perspective: String,
        /// The person the author is a device of, when not its own first
        /// device (absent: the author's own id names the person).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        person: Option<DeviceId>,
    },
    /// Adds a device.
    AddMember {
        /// The device.
        device: DeviceId,
        /// Its role.
        role: Role,
        /// Its perspective label (e.g. "worker", "carer").
        perspective: String,
    },
    /// Removes a person (every device of the one `device` belongs to): by
    /// an owner (follow with a rotation), or by the person, leaving.
    RemoveMember {
        /// The device.
        device: DeviceId,
    },
    /// Removes one device of a person (a lost phone), by another device of
    /// the same person or by an owner; follow with a rotation. A person's
    /// last device is not removed this way: that is `RemoveMember`.
    RemoveDevice {
        /// The device.
        device: DeviceId,
    },
    /// Changes a member's role.
    ChangeRole {
        /// The member.
        device: DeviceId,
        /// The new role.
        role: Role,
    },
    /// Starts a new epoch.
    RotateEpoch(RotateEpoch),
    /// Registers a single-use invite.
    CreateInvite {
        /// The invite's public key.
        invite: InviteId,
        /// Role granted on redemption.
        role: Role,
        /// Perspective granted on redemption.
        perspective: String,
        /// Unix milliseconds after which it cannot be redeemed.
        expires_at: u64,
        /// Present for a device invite: the redeemer becomes another device
        /// of this person, with the person's role and perspective.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<Box<DeviceGrant>>,
    },
    /// Withdraws an invite.
    RevokeInvite {
        /// The invite.
        invite: InviteId,
    },
    /// The joiner (the op's author) redeems an invite.
    RedeemInvite {
        /// The invite.
        invite: InviteId,
        /// Signature by the invite key over
        /// `"starling invite redeem v1" || doc || invite || joiner`.
        proof: Signature,
    },
    /// Deletes the document (owner only): the relay erases everything it
    /// holds of it and keeps this op alone, as the tombstone that refuses
    /// every later write and tells members to erase their copies. Nothing
    /// may follow it in the log.
    DeleteDocument,
}

impl OpBody {
    /// Whether this body uses what version 2 added: persons and devices.
    pub fn needs_v2(&self) -> bool {
        match self {
            OpBody::Genesis { person, .. } => person.is_some(),
            OpBody::CreateInvite { device, .. } => device.is_some(),
            OpBody::RemoveDevice { .. } => true,
            _ => false,
        }
    }

    /// The version an op with this body is written in.
    pub fn version(&self) -> u8 {
        if self.needs_v2() {
            MEMBERSHIP_VERSION
        } else {
            MEMBERSHIP_VERSION_1
        }
    }
}

/// The signed part of a membership op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpContent {
    /// Op format version: 2 ([`MEMBERSHIP_VERSION`]) for what persons
    /// added ([`OpBody::needs_v2`]), 1 otherwise.
    pub version: u8,
    /// The document.
    pub doc: DocId,
    /// Position in the log, from 0 (genesis).
    pub index: u64,
    /// Hash of the op at `index - 1` ([`OpHash::ZERO`] for genesis).
    pub prev: OpHash,
    /// Who signs this op.
    pub author: DeviceId,
    /// The author's clock, unix milliseconds (checked against invite expiry;
    /// the relay rejects ops far from its own clock).
    pub at: u64,
    /// What it does.
    pub body: OpBody,
}

/// A signed membership op.
#[derive(Clone, PartialEq, Eq)]
pub struct MembershipOp {
    content: OpContent,
    bytes: Vec<u8>,
    signature: Signature,
}

impl fmt::Debug for MembershipOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MembershipOp")
            .field("content", &self.content)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct WireOp {
    c: Bytes,
    s: Signature,
}

fn check_limits(c: &OpContent) -> Result<(), MembershipError> {
    // Version 2 marks the ops persons added (a device invite, removing one
    // device, a genesis naming its person, a rotation that wraps for a
    // device invite), so older software refuses them as a newer version
    // instead of misreading them; version 1 may not use them.
    match c.version {
        MEMBERSHIP_VERSION => {}
        MEMBERSHIP_VERSION_1 if !c.body.needs_v2() => {}
        v => return Err(MembershipError::Version(v)),
    }
    let perspective = match &c.body {
        OpBody::Genesis { perspective, .. }
        | OpBody::AddMember { perspective, .. }
        | OpBody::CreateInvite { perspective, .. } => Some(perspective),
        _ => None,
    };
    if perspective.is_some_and(|p| p.len() > MAX_PERSPECTIVE) {
        return Err(MembershipError::TooLarge("perspective"));
    }
    if let OpBody::RotateEpoch(r) = &c.body
        && r.wrapped.len() > MAX_MEMBERS + super::MAX_DEVICE_INVITES
    {
        return Err(MembershipError::TooLarge("wrapped keys"));
    }
    Ok(())
}

impl MembershipOp {
    /// Signs `content` with `author` (whose id must be `content.author`).
    pub fn sign(content: OpContent, author: &DeviceKey) -> Result<Self, MembershipError> {
        if author.device_id() != content.author {
            return Err(MembershipError::Unauthorised);
        }
        check_limits(&content)?;
        let bytes = to_cbor(&content);
        if bytes.len() > MAX_OP_BYTES {
            return Err(MembershipError::TooLarge("op"));
        }
        let signature = author.sign(domain::MEMBERSHIP_SIG, &bytes);
        Ok(Self {
            content,
            bytes,
            signature,
        })
    }

    /// The op's content (trust it only after verification).
    pub fn content(&self) -> &OpContent {
        &self.content
    }

    /// Checks the author's signature.
    pub fn verify_signature(&self) -> Result<(), MembershipError> {
        if self
            .signature
            .verify(&self.content.author, domain::MEMBERSHIP_SIG, &self.bytes)
        {
            Ok(())
        } else {
            Err(MembershipError::BadSignature)
        }
    }

    /// The op's hash.
    pub fn hash(&self) -> OpHash {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(domain::MEMBERSHIP_HASH);
        h.update(&self.bytes);
        h.update(self.signature.0);
        OpHash(ByteArray(h.finalize().into()))
    }

    /// Encodes for storage or the wire (CBOR).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_cbor(&WireOp {
            c: Bytes(self.bytes.clone()),
            s: self.signature,
        })
    }

    /// Decodes from [`MembershipOp::to_bytes`] output. Checks structure and
    /// limits, not the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MembershipError> {
        if bytes.len() > MAX_OP_BYTES + 128 {
            return Err(MembershipError::TooLarge("op"));
        }
        let w: WireOp = from_cbor(bytes).map_err(MembershipError::Malformed)?;
        Self::from_parts(w.c.0, w.s)
    }

    fn from_parts(bytes: Vec<u8>, signature: Signature) -> Result<Self, MembershipError> {
        if bytes.len() > MAX_OP_BYTES {
            return Err(MembershipError::TooLarge("op"));
        }
        let content: OpContent = from_cbor(&bytes).map_err(MembershipError::Malformed)?;
        check_limits(&content)?;
        Ok(Self {
            content,
            bytes,
            signature,
        })
    }
}

impl Serialize for MembershipOp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireOp {
            c: Bytes(self.bytes.clone()),
            s: self.signature,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for MembershipOp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireOp::deserialize(d)?;
        Self::from_parts(w.c.0, w.s).map_err(serde::de::Error::custom)
    }
}
