//! Wire messages: one CBOR-encoded [`Message`] per binary websocket frame.
//!
//! Every frame is `{"v": WIRE_VERSION, "m": message}`. A frame whose version
//! is not ours decodes to [`WireError::Version`] so the peer can answer
//! with an `upgrade` error instead of guessing.
//!
//! ## Message flow
//!
//! ```text
//! client                                  relay
//!   Hello{device}                  ->
//!                                  <-  Challenge{nonce, origin, relay id}
//!   Authenticate{device, ts, sig}  ->      sig over "starling auth v1" || nonce || origin || ts || relay
//!                                  <-  Welcome{server time}
//!   Subscribe{[(doc, cursor)]}     ->
//!                                  <-  MembershipDeliver{doc, index, op}*   (whole log)
//!                                  <-  Deliver{doc, doc seq, envelope}*     (after cursor)
//!                                  <-  CaughtUp{doc, doc seq}
//!   Publish{envelope}              ->
//!                                  <-  Acks{[doc, author, seq, hash, doc seq]*, relay sig}
//!                                          (one per connection and group commit; the
//!                                          signature covers a Merkle root of the entries)
//!                                  <-  Deliver (to the doc's other subscribers)
//!   MembershipPublish{doc, op}     ->  (invite create / revoke too)
//!                                  <-  MembershipDeliver (to every subscriber)
//!   InviteFetch{doc, invite}       ->  (a joiner, not yet a member)
//!                                  <-  MembershipDeliver* then InviteRedeemable
//!   InviteFind{invite, proof}      ->  (a device link or recovery code)
//!                                  <-  InviteDocs{invite, [doc]}
//!   InviteRedeem{doc, op}          ->
//!   Presence{doc, blob}            ->  forwarded, never stored
//!   AccessLogRequest{doc}          ->  (a member)
//!                                  <-  AccessLog{doc, signed log}
//!                                  <-  Error{code, retry, message} at any point
//! ```

pub mod access;
mod ack;
mod message;
pub mod presence;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use access::{AccessEntry, AccessKind, AccessLog, SignedAccessLog, StoredStats};
pub use ack::{AckEntry, Acks, MAX_ACKS, Receipt, auth_message};
pub use message::{DocCursor, ErrorCode, Message, RetryClass};

/// The wire version spoken by this crate.
pub const WIRE_VERSION: u16 = 1;
/// Largest frame accepted (1 MiB).
pub const MAX_FRAME: usize = 1024 * 1024;
/// Most documents in one subscribe or unsubscribe.
pub const MAX_DOCS_PER_MESSAGE: usize = 1024;
/// Longest relay origin string.
pub const MAX_ORIGIN: usize = 256;
/// Longest free-text field (error messages, client names).
pub const MAX_TEXT: usize = 1024;
/// Largest presence blob.
pub const MAX_PRESENCE: usize = 4096;

/// Errors encoding or decoding a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Larger than [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// A different wire version.
    #[error("unsupported wire version {0}")]
    Version(u16),
    /// Not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A count or length inside the message exceeds its limit.
    #[error("message field over its limit: {0}")]
    Limit(&'static str),
}

#[derive(Serialize)]
struct FrameRef<'a> {
    v: u16,
    m: &'a Message,
}

#[derive(Deserialize)]
struct Frame {
    v: u16,
    m: Message,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: u16,
}

/// Encodes one message as a frame.
pub fn encode(msg: &Message) -> Result<Vec<u8>, WireError> {
    msg.validate()?;
    let mut out = Vec::new();
    ciborium::into_writer(
        &FrameRef {
            v: WIRE_VERSION,
            m: msg,
        },
        &mut out,
    )
    .map_err(|e| WireError::Malformed(e.to_string()))?;
    if out.len() > MAX_FRAME {
        return Err(WireError::TooLarge(out.len()));
    }
    Ok(out)
}

/// Decodes one frame of untrusted bytes. Never panics; every size is bounded.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() > MAX_FRAME {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let probe: VersionProbe = crate::bytes::from_cbor(bytes).map_err(WireError::Malformed)?;
    if probe.v != WIRE_VERSION {
        return Err(WireError::Version(probe.v));
    }
    let frame: Frame = crate::bytes::from_cbor(bytes).map_err(WireError::Malformed)?;
    if frame.v != WIRE_VERSION {
        return Err(WireError::Version(frame.v));
    }
    frame.m.validate()?;
    Ok(frame.m)
}
