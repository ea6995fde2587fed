//! The access log: what the relay saw each device do with a document, and
//! what it stores of it, signed by the relay.
//!
//! The relay sees which device publishes to and receives which document,
//! and when (it must, to route them). It keeps that per document, counted
//! per device, kind and hour, for its retention period, and gives it to the
//! document's members on request, signed, so a member can show who looked
//! at their journal and prove what the relay said. The signed content is
//! kept as the bytes the relay signed (CBOR of [`AccessLog`]), never
//! re-encoded.

use serde::{Deserialize, Serialize};

use crate::bytes::{Bytes, from_cbor, to_cbor};
use crate::domain;
use crate::ids::{DeviceId, DocId};
use crate::keys::{DeviceKey, Signature};

/// Most entries in one access log (the newest are kept).
pub const MAX_ACCESS_ENTRIES: usize = 4096;

/// What a device did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// Published envelopes (changes or snapshots) the relay stored.
    Publish,
    /// Received stored envelopes (a catch-up, or live).
    Fetch,
    /// Appended membership ops (joined, invited, removed, left).
    Membership,
}

/// One device's activity of one kind on a document within one hour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// The device.
    pub device: DeviceId,
    /// What it did.
    pub kind: AccessKind,
    /// Start of the hour, unix ms.
    pub hour: u64,
    /// How many envelopes (or ops).
    pub count: u64,
    /// The last time within the hour, unix ms.
    pub last_at: u64,
}

/// What the relay stores of a document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStats {
    /// Envelopes whose bytes are kept.
    pub envelopes: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Envelopes ever stored (positions in the document's log).
    pub positions: u64,
    /// Membership ops.
    pub ops: u64,
    /// When the document was created (the genesis op's stamp), unix ms.
    pub created_at: Option<u64>,
}

/// The access log of one document, as the relay states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLog {
    /// The document.
    pub doc: DocId,
    /// When the relay answered (its clock), unix ms.
    pub at: u64,
    /// Entries before this time were deleted under the relay's retention
    /// setting (0: none were).
    pub since: u64,
    /// What the relay stores of the document.
    pub stored: StoredStats,
    /// The entries, oldest first.
    pub entries: Vec<AccessEntry>,
}

/// An [`AccessLog`] signed by the relay: the CBOR bytes it signed, and the
/// signature over `"starling access log v1" || bytes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAccessLog {
    /// CBOR of the [`AccessLog`].
    pub content: Bytes,
    /// The relay's signature.
    pub signature: Signature,
}

/// Why a signed access log was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessLogError {
    /// The signature is not the relay's.
    #[error("the access log is not signed by the relay")]
    BadSignature,
    /// The content does not decode.
    #[error("the access log does not decode: {0}")]
    Malformed(String),
    /// It is about another document.
    #[error("the access log is about another document")]
    WrongDoc,
    /// Too many entries.
    #[error("the access log has too many entries")]
    TooLarge,
}

impl SignedAccessLog {
    /// The relay signs `log`.
    pub fn sign(relay: &DeviceKey, log: &AccessLog) -> Self {
        let content = to_cbor(log);
        let signature = relay.sign(domain::ACCESS_LOG, &content);
        SignedAccessLog {
            content: Bytes(content),
            signature,
        }
    }

    /// Its encoding (CBOR), to keep in a file.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_cbor(self)
    }

    /// Reads [`SignedAccessLog::to_bytes`] (verify it before trusting it).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AccessLogError> {
        from_cbor(bytes).map_err(AccessLogError::Malformed)
    }

    /// The log, if `relay` signed it and it is about `doc`.
    pub fn verify(&self, relay: &DeviceId, doc: &DocId) -> Result<AccessLog, AccessLogError> {
        if !self
            .signature
            .verify(relay, domain::ACCESS_LOG, &self.content.0)
        {
            return Err(AccessLogError::BadSignature);
        }
        let log: AccessLog = from_cbor(&self.content.0).map_err(AccessLogError::Malformed)?;
        if log.entries.len() > MAX_ACCESS_ENTRIES {
            return Err(AccessLogError::TooLarge);
        }
        if log.doc != *doc {
            return Err(AccessLogError::WrongDoc);
        }
        Ok(log)
    }
}
