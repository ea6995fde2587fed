//! The message types.

use serde::{Deserialize, Serialize};

use super::{Acks, MAX_ACKS, MAX_DOCS_PER_MESSAGE, MAX_ORIGIN, MAX_PRESENCE, MAX_TEXT, WireError};
use crate::bytes::{ByteArray, Bytes};
use crate::envelope::Envelope;
use crate::ids::{DeviceId, DocId};
use crate::keys::Signature;
use crate::membership::{InviteId, MembershipOp};

/// A document and the last per-document sequence number already held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocCursor {
    /// The document.
    pub doc: DocId,
    /// Deliver everything after this doc seq (0 = from the start).
    pub cursor: u64,
}

/// How the receiver of an error should react.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryClass {
    /// Transient: retry after backing off.
    RetryLater,
    /// The request is too large: retrying the same request cannot succeed.
    TooLarge,
    /// Not allowed: do not retry automatically.
    Unauthorised,
    /// Protocol version mismatch: upgrade the software.
    Upgrade,
}

/// Machine-readable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame did not decode.
    Malformed,
    /// The peer speaks another wire version.
    Version,
    /// Authentication failed or is missing.
    AuthFailed,
    /// The device is not on the relay's allow-list.
    NotAllowed,
    /// The device lacks the role for this document.
    Forbidden,
    /// The document is unknown to the relay.
    UnknownDoc,
    /// An envelope failed verification.
    BadEnvelope,
    /// The author's previous envelope has not been received.
    Gap,
    /// The envelope conflicts with one already stored at its position.
    Fork,
    /// A membership op was refused.
    BadMembership,
    /// A limit was exceeded.
    TooLarge,
    /// The relay is overloaded or restarting.
    Busy,
    /// The document was deleted: by its owner (a [`Message::Deleted`]
    /// says so, with the owner's signed op), or by the relay's retention
    /// schedule.
    Deleted,
}

/// Every message of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    /// Client opens: who it claims to be.
    Hello {
        /// The device.
        device: DeviceId,
        /// Software name and version, for logs.
        agent: String,
    },
    /// Relay asks the device to prove its key.
    Challenge {
        /// Relay-chosen random nonce.
        nonce: ByteArray<32>,
        /// The relay's origin (e.g. `wss://relay.example.org`), bound into
        /// the signature so it cannot be relayed to another server.
        origin: String,
        /// The relay's own signing key (acks are signed with it).
        relay: DeviceId,
    },
    /// Device answers the challenge.
    Authenticate {
        /// The device.
        device: DeviceId,
        /// Device clock, unix ms; the relay checks it is within its window.
        timestamp: u64,
        /// Signature over `"starling auth v1" ||` [`super::auth_message`].
        signature: Signature,
    },
    /// Relay accepts the device.
    Welcome {
        /// Relay clock, unix ms.
        server_time: u64,
    },
    /// Start (or resume) receiving documents.
    Subscribe {
        /// Documents with cursors.
        docs: Vec<DocCursor>,
    },
    /// Stop receiving documents.
    Unsubscribe {
        /// Documents.
        docs: Vec<DocId>,
    },
    /// Store and fan out an envelope.
    Publish {
        /// The envelope.
        envelope: Envelope,
    },
    /// Relay's signed receipt for envelopes this connection published,
    /// sent once they are durable.
    Acks(Acks),
    /// An envelope for a subscribed document.
    Deliver {
        /// The document.
        doc: DocId,
        /// Its position in the document's log.
        doc_seq: u64,
        /// The envelope.
        envelope: Envelope,
    },
    /// Everything up to `doc_seq` has been delivered.
    CaughtUp {
        /// The document.
        doc: DocId,
        /// The relay's latest doc seq.
        doc_seq: u64,
    },
    /// Append a membership op (including invite create/revoke and, for a
    /// new document, its genesis).
    MembershipPublish {
        /// The document.
        doc: DocId,
        /// The op.
        op: MembershipOp,
    },
    /// A membership op at `index` in the document's log.
    MembershipDeliver {
        /// The document.
        doc: DocId,
        /// Index in the log.
        index: u64,
        /// The op.
        op: MembershipOp,
        /// The relay's signed statement of when it appended the op
        /// (required on `redeem_invite` ops: their expiry is judged by it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stamp: Option<crate::membership::OpStamp>,
    },
    /// A joiner asks for the log of a document it holds an invite to.
    InviteFetch {
        /// The document.
        doc: DocId,
        /// The invite.
        invite: InviteId,
    },
    /// A device asks where a device invite whose secret it holds is live:
    /// a device link or a recovery code names no document, because it
    /// spans every journal of a person.
    InviteFind {
        /// The invite.
        invite: InviteId,
        /// The invite key's signature over `"starling invite find v1" ||`
        /// the asking device's id, so only a holder of the secret learns
        /// where it is live, and only for itself.
        proof: crate::keys::Signature,
    },
    /// The relay's answer to `InviteFind`: the documents where the invite
    /// is live (empty if none, or if the proof did not verify).
    InviteDocs {
        /// The invite.
        invite: InviteId,
        /// The documents, at most [`super::MAX_DOCS_PER_MESSAGE`].
        docs: Vec<DocId>,
    },
    /// The invite is live: the log has been delivered; redeem now.
    InviteRedeemable {
        /// The document.
        doc: DocId,
        /// The invite.
        invite: InviteId,
    },
    /// A joiner's redeem op.
    InviteRedeem {
        /// The document.
        doc: DocId,
        /// The `RedeemInvite` op.
        op: MembershipOp,
    },
    /// The document's owner deleted it: their signed
    /// [`crate::membership::OpBody::DeleteDocument`] op, which the relay
    /// keeps as the document's tombstone (everything else is erased). A
    /// member erases its copy once the op verifies.
    Deleted {
        /// The document.
        doc: DocId,
        /// Its position in the log (the log itself is gone).
        index: u64,
        /// The owner's op.
        op: MembershipOp,
        /// When the relay appended it, signed.
        stamp: crate::membership::OpStamp,
    },
    /// A member asks for the document's access log.
    AccessLogRequest {
        /// The document.
        doc: DocId,
    },
    /// The relay's signed access log of a document (see
    /// [`super::access`]).
    AccessLog {
        /// The document.
        doc: DocId,
        /// The log.
        log: super::SignedAccessLog,
    },
    /// Ephemeral, encrypted presence; forwarded to the doc's other
    /// subscribers, never stored.
    Presence {
        /// The document.
        doc: DocId,
        /// Sender, filled in by the relay from the authenticated connection.
        from: Option<DeviceId>,
        /// Sealed with [`super::presence::seal`].
        blob: Bytes,
    },
    /// Something went wrong.
    Error {
        /// What.
        code: ErrorCode,
        /// What to do about it.
        retry: RetryClass,
        /// The document concerned, if any.
        doc: Option<DocId>,
        /// Human-readable detail (never secret).
        message: String,
    },
}

impl Message {
    /// Checks every count and length against its limit.
    pub fn validate(&self) -> Result<(), WireError> {
        match self {
            Message::Hello { agent, .. } if agent.len() > MAX_TEXT => {
                Err(WireError::Limit("agent"))
            }
            Message::Challenge { origin, .. } if origin.len() > MAX_ORIGIN => {
                Err(WireError::Limit("origin"))
            }
            Message::Subscribe { docs } if docs.len() > MAX_DOCS_PER_MESSAGE => {
                Err(WireError::Limit("docs"))
            }
            Message::Unsubscribe { docs } if docs.len() > MAX_DOCS_PER_MESSAGE => {
                Err(WireError::Limit("docs"))
            }
            Message::InviteDocs { docs, .. } if docs.len() > MAX_DOCS_PER_MESSAGE => {
                Err(WireError::Limit("docs"))
            }
            Message::Acks(a) if a.entries.is_empty() || a.entries.len() > MAX_ACKS => {
                Err(WireError::Limit("acks"))
            }
            Message::Presence { blob, .. } if blob.0.len() > MAX_PRESENCE => {
                Err(WireError::Limit("presence"))
            }
            Message::Error { message, .. } if message.len() > MAX_TEXT => {
                Err(WireError::Limit("message"))
            }
            _ => Ok(()),
        }
    }

    /// An error message.
    pub fn error(
        code: ErrorCode,
        retry: RetryClass,
        doc: Option<DocId>,
        message: impl Into<String>,
    ) -> Self {
        let mut message: String = message.into();
        if message.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        Message::Error {
            code,
            retry,
            doc,
            message,
        }
    }
}
