//! Versioned domain-separation strings.
//!
//! Every signature and every key derivation in Starling starts from one of
//! these, so a signature made for one purpose can never be replayed as
//! another, and a bump of the version string makes old and new formats
//! mutually unintelligible instead of confusable.

/// Prefix of the bytes an author signs for an envelope.
pub const ENVELOPE_SIG: &[u8] = b"starling envelope v1";
/// HKDF info for the per-envelope encryption subkey.
pub const ENVELOPE_KEY: &[u8] = b"starling envelope key v1";
/// HKDF info for the per-envelope key commitment.
pub const ENVELOPE_COMMIT: &[u8] = b"starling envelope commit v1";
/// Prefix of the bytes hashed to name an envelope.
pub const ENVELOPE_HASH: &[u8] = b"starling envelope hash v1";
/// Prefix of the bytes signed for a membership operation.
pub const MEMBERSHIP_SIG: &[u8] = b"starling membership v1";
/// Prefix of the bytes hashed to name a membership operation.
pub const MEMBERSHIP_HASH: &[u8] = b"starling membership hash v1";
/// HKDF info for wrapping an epoch key to one member.
pub const EPOCH_WRAP: &[u8] = b"starling epoch wrap v1";
/// HKDF info for wrapping the previous epoch key under the new one.
pub const EPOCH_CHAIN: &[u8] = b"starling epoch chain v1";
/// HKDF info deriving the invite signing key from the invite secret.
pub const INVITE_KEY: &[u8] = b"starling invite key v1";
/// Prefix of the bytes the invite key signs when redeeming.
pub const INVITE_REDEEM: &[u8] = b"starling invite redeem v1";
/// Prefix of the bytes an invite key signs to ask a relay where it is live
/// (a device link or a recovery code spans every journal of a person).
pub const INVITE_FIND: &[u8] = b"starling invite find v1";
/// Prefix of the bytes a device signs to authenticate to a relay.
pub const AUTH_SIG: &[u8] = b"starling auth v1";
/// Prefix of the bytes a relay signs to acknowledge a batch of envelopes
/// (the root of a Merkle tree over their ack entries).
pub const ACK_SIG: &[u8] = b"starling ack batch v1";
/// Prefix of the bytes hashed into an ack tree's leaf (one entry).
pub const ACK_LEAF: &[u8] = b"starling ack leaf v1";
/// Prefix of the bytes hashed into an ack tree's inner node.
pub const ACK_NODE: &[u8] = b"starling ack node v1";
/// Prefix of the bytes a relay signs to stamp the time it appended a
/// membership op.
pub const OP_STAMP: &[u8] = b"starling op stamp v1";
/// Prefix of the bytes a relay signs for a document's access log.
pub const ACCESS_LOG: &[u8] = b"starling access log v1";
/// HKDF info for the presence encryption subkey.
pub const PRESENCE_KEY: &[u8] = b"starling presence v1";
