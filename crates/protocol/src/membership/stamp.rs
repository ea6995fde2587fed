//! The relay's stamp on a membership op: when it appended the op to the
//! log, signed with the relay's key.
//!
//! Members judge an invite's expiry by the relay's clock, not the joiner's:
//! a `redeem_invite` op carries the joiner's own time, which the joiner
//! chooses, but every member also requires the relay's stamp on it and
//! refuses the join when the stamped time is past the invite's expiry. A
//! relay that accepts a late join therefore either says so in its own
//! signature (and every member refuses the join), or signs a time it knows
//! to be false.

use serde::{Deserialize, Serialize};

use super::OpHash;
use crate::domain;
use crate::ids::{DeviceId, DocId};
use crate::keys::{DeviceKey, Signature};

/// A relay's signed statement: "I appended op `hash` at `index` of `doc`'s
/// log at `at` (unix ms, my clock)".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpStamp {
    /// The relay's clock when it appended the op, unix ms.
    pub at: u64,
    /// The relay's signature over `"starling op stamp v1" || doc ||
    /// index:u64be || op hash || at:u64be`.
    pub signature: Signature,
}

fn message(doc: &DocId, index: u64, op: &OpHash, at: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + 8 + 32 + 8);
    m.extend_from_slice(doc.as_bytes());
    m.extend_from_slice(&index.to_be_bytes());
    m.extend_from_slice(&op.0.0);
    m.extend_from_slice(&at.to_be_bytes());
    m
}

impl OpStamp {
    /// The relay stamps the op it appended at `index`.
    pub fn sign(relay: &DeviceKey, doc: &DocId, index: u64, op: &OpHash, at: u64) -> Self {
        OpStamp {
            at,
            signature: relay.sign(domain::OP_STAMP, &message(doc, index, op, at)),
        }
    }

    /// Whether `relay` made this stamp for op `op` at `index` of `doc`.
    pub fn verify(&self, relay: &DeviceId, doc: &DocId, index: u64, op: &OpHash) -> bool {
        self.signature
            .verify(relay, domain::OP_STAMP, &message(doc, index, op, self.at))
    }
}
