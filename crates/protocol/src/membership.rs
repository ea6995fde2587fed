//! The membership log: who may read and write a document.
//!
//! Each document has an append-only log of [`MembershipOp`]s, each signed by
//! its author's device key and linked to its predecessor by index and hash.
//! The owner's genesis op starts it. The relay orders the log (it assigns
//! nothing but position, and a wrong position fails the link check) and can
//! delay or withhold it, but cannot forge an op. Every client replays the
//! whole log with [`MembershipState::verify_chain`], checking signatures,
//! links and authority:
//!
//! - a member is a *person*: one or more devices, each a member entry tagged
//!   with the person's id (the id of their first device). Role and
//!   perspective belong to the person, and every device of it holds them;
//! - only owners add, remove or re-role people, create or revoke ordinary
//!   invites, and delete the document (after which no op applies); a person
//!   may always leave (all their devices go), but the last owning person may
//!   not;
//! - any device of a person may invite another device of the same person (a
//!   *device invite*: the person's own role and perspective, and the current
//!   epoch key wrapped for the invite key), revoke such an invite, and remove
//!   one of the person's devices, but not their last;
//! - a redeem must prove the secret of a live, unexpired, unused invite and be
//!   signed by the joiner, who gains the invite's role and perspective (for a
//!   device invite: becomes a device of its person);
//! - any member may rotate the epoch; a rotation wraps the new epoch key for
//!   exactly the current member devices and the live device invites, and
//!   carries the previous epoch key encrypted under the new one.
//!
//! Removing a member is a [`OpBody::RemoveMember`] followed by an
//! [`OpBody::RotateEpoch`] ([`MembershipState::remove_and_rotate`] builds
//! both); the removed device keeps every key it already had.
//! [`OpBody::RemoveDevice`] does the same for one lost device of a person.

mod op;
mod stamp;
mod state;
#[cfg(test)]
mod tests;
mod wrap;

use serde::{Deserialize, Serialize};

pub use op::{
    DeviceGrant, InviteId, MembershipOp, OpBody, OpContent, OpHash, RotateEpoch, WrappedKey,
};
pub use stamp::OpStamp;
pub use state::{Invite, InviteStatus, Member, MembershipState};

/// Version written in every membership op.
pub const MEMBERSHIP_VERSION: u8 = 2;
/// Version of ops that use nothing persons added (still written for those,
/// so a person with one device stays readable by older software).
pub const MEMBERSHIP_VERSION_1: u8 = 1;
/// Longest perspective label, in bytes.
pub const MAX_PERSPECTIVE: usize = 64;
/// Most members (and so wrapped keys) a document may have.
pub const MAX_MEMBERS: usize = 256;
/// Most live device invites (links and recovery codes) a document holds
/// at once: a rotation wraps for each, besides the members.
pub const MAX_DEVICE_INVITES: usize = 128;
/// Most live device invites one person holds in a document.
pub const MAX_DEVICE_INVITES_PER_PERSON: usize = 4;
/// Largest encoded membership op.
pub const MAX_OP_BYTES: usize = 64 * 1024;
/// Most ops a log may hold.
pub const MAX_OPS: usize = 100_000;

/// A member's access role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads, writes, and administers membership.
    Owner,
    /// Reads and writes.
    Editor,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Whether this role may publish envelopes.
    pub fn can_write(self) -> bool {
        matches!(self, Role::Owner | Role::Editor)
    }

    /// Whether this role may change membership.
    pub fn can_admin(self) -> bool {
        self == Role::Owner
    }
}

/// Errors decoding, building or applying membership ops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The op bytes are malformed.
    #[error("malformed membership op: {0}")]
    Malformed(String),
    /// Something exceeds its limit.
    #[error("membership op too large: {0}")]
    TooLarge(&'static str),
    /// An unknown op version.
    #[error("unsupported membership op version {0}")]
    Version(u8),
    /// The author's signature does not verify.
    #[error("bad membership op signature")]
    BadSignature,
    /// The op is for another document.
    #[error("membership op belongs to another document")]
    WrongDoc,
    /// The op's index or previous hash does not follow the log's head.
    #[error("membership op does not follow the log head (expected index {expected})")]
    BadLink {
        /// The index the next op must have.
        expected: u64,
    },
    /// The log does not start with a genesis, or has a second one.
    #[error("log must start with exactly one genesis")]
    Genesis,
    /// The author lacks the authority for this op.
    #[error("author is not allowed to do this")]
    Unauthorised,
    /// The op contradicts the state (adding a member twice, removing the
    /// last owner, a rotation to the wrong epoch or for the wrong members,
    /// ...).
    #[error("invalid membership op: {0}")]
    Invalid(&'static str),
    /// The invite is unknown, revoked, used or expired, or its proof is bad.
    #[error("invite not redeemable: {0}")]
    Invite(&'static str),
    /// An epoch key could not be unwrapped.
    #[error("cannot unwrap epoch key")]
    Unwrap,
}

pub(crate) use state::redeem_message;
