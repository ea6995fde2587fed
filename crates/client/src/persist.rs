//! A document's sync state as stored: the protocol's `PersistedDoc` in CBOR.

use serde::{Deserialize, Serialize};
use starling_protocol::envelope::{Cover, Envelope, EnvelopeHash};
use starling_protocol::invite::InviteSecret;
use starling_protocol::membership::MembershipOp;
use starling_protocol::session::PersistedDoc;
use starling_protocol::{ByteArray, DeviceId, DocId, Epoch, EpochKey};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u8,
    doc: DocId,
    cursor: u64,
    ops: Vec<MembershipOp>,
    op_outbox: Vec<MembershipOp>,
    keys: Vec<(Epoch, ByteArray<32>)>,
    heads: Vec<(DeviceId, u64, EnvelopeHash)>,
    outbox: Vec<Envelope>,
    pending: Vec<Envelope>,
    invite: Option<ByteArray<32>>,
    presence_counter: u64,
    #[serde(default)]
    created_invites: Vec<(DeviceId, Epoch)>,
    #[serde(default)]
    history_bytes: u64,
}

/// Encode a document's sync state (it holds epoch keys: it is a secret).
pub fn encode(p: &PersistedDoc) -> Zeroizing<Vec<u8>> {
    let stored = Stored {
        version: 1,
        doc: p.doc,
        cursor: p.cursor,
        ops: p.ops.clone(),
        op_outbox: p.op_outbox.clone(),
        keys: p
            .keys
            .iter()
            .map(|(e, k)| (*e, ByteArray(*k.as_bytes())))
            .collect(),
        heads: p.heads.iter().map(|c| (c.author, c.seq, c.hash)).collect(),
        outbox: p.outbox.clone(),
        pending: p.pending.clone(),
        invite: p.invite.as_ref().map(|s| ByteArray(*s.as_bytes())),
        presence_counter: p.presence_counter,
        created_invites: p.created_invites.clone(),
        history_bytes: p.history_bytes,
    };
    let mut out = Zeroizing::new(Vec::new());
    // Writing CBOR into a Vec cannot fail.
    let _ = ciborium::into_writer(&stored, &mut *out);
    out
}

/// Decode what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<PersistedDoc> {
    let s: Stored = ciborium::from_reader(bytes)
        .map_err(|e| ClientError::CorruptStore(format!("sync state: {e}")))?;
    if s.version != 1 {
        return Err(ClientError::CorruptStore(format!(
            "sync state version {} is not supported",
            s.version
        )));
    }
    Ok(PersistedDoc {
        doc: s.doc,
        cursor: s.cursor,
        ops: s.ops,
        op_outbox: s.op_outbox,
        keys: s
            .keys
            .into_iter()
            .map(|(e, k)| (e, EpochKey::from_bytes(k.0)))
            .collect(),
        heads: s
            .heads
            .into_iter()
            .map(|(author, seq, hash)| Cover { author, seq, hash })
            .collect(),
        outbox: s.outbox,
        pending: s.pending,
        invite: s.invite.map(|b| InviteSecret::from_bytes(b.0)),
        presence_counter: s.presence_counter,
        created_invites: s.created_invites,
        history_bytes: s.history_bytes,
    })
}
