//! Loading every document at start-up, to restore the relay core.

use std::collections::HashMap;

use rusqlite::{Connection, params};
use starling_protocol::Signature;
use starling_protocol::membership::{MembershipOp, OpStamp};
use starling_protocol::relay::{EnvelopeMeta, Tombstone};
use starling_protocol::{DeviceId, DocId, EnvelopeHash};

use super::StoreError;

/// One stored document.
#[derive(Debug)]
pub struct LoadedDoc {
    /// The document.
    pub doc: DocId,
    /// Its membership log, in order, with the relay's stamps.
    pub ops: Vec<(MembershipOp, Option<OpStamp>)>,
    /// Every stored envelope's metadata by doc seq, and whether its bytes
    /// are still kept.
    pub metas: Vec<(EnvelopeMeta, bool)>,
    /// Bytes of envelopes still kept.
    pub live_bytes: u64,
}

/// Everything stored.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every document.
    pub docs: Vec<LoadedDoc>,
    /// Bytes of kept envelopes per author.
    pub device_bytes: HashMap<DeviceId, u64>,
    /// Documents whose rows do not load, with what was wrong.
    pub damaged: Vec<(DocId, String)>,
    /// Deleted documents: all that is kept of each.
    pub tombstones: Vec<(DocId, Tombstone)>,
}

pub(crate) fn device(b: &[u8]) -> Option<DeviceId> {
    DeviceId::from_bytes(b.try_into().ok()?).ok()
}

pub(super) fn doc_id(b: &[u8]) -> Option<DocId> {
    Some(DocId::from_bytes(b.try_into().ok()?))
}

/// A stamp as stored: the time (u64 big-endian) then the signature.
pub(crate) fn encode_stamp(stamp: &OpStamp) -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    out.extend_from_slice(&stamp.at.to_be_bytes());
    out.extend_from_slice(&stamp.signature.0);
    out
}

pub(crate) fn decode_stamp(bytes: &[u8]) -> Option<OpStamp> {
    let at = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let sig: [u8; 64] = bytes.get(8..)?.try_into().ok()?;
    Some(OpStamp {
        at,
        signature: Signature(sig),
    })
}

pub(super) fn load_all(conn: &Connection) -> Result<Loaded, StoreError> {
    let mut out = Loaded::default();
    let mut docs_q = conn.prepare("SELECT DISTINCT doc FROM membership_ops")?;
    let docs: Vec<Vec<u8>> = docs_q
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for raw in docs {
        let Some(doc) = doc_id(&raw) else {
            tracing::error!(
                len = raw.len(),
                "a stored document id is damaged; its rows are skipped"
            );
            continue;
        };
        // A damaged row takes down its own document, never the relay.
        match load_doc(conn, &raw, doc, &mut out.device_bytes) {
            Ok(d) => out.docs.push(d),
            Err(e) => {
                tracing::error!(doc = %doc, error = %e, "stored document is damaged; it is refused until restored");
                out.damaged.push((doc, e.to_string()));
            }
        }
    }
    load_tombstones(conn, &mut out)?;
    Ok(out)
}

/// The tombstones; one that does not decode leaves its document damaged
/// (refused), never served as if it were not deleted.
fn load_tombstones(conn: &Connection, out: &mut Loaded) -> Result<(), StoreError> {
    let mut q = conn.prepare("SELECT doc, at, idx, op, stamp FROM tombstones")?;
    let mut rows = q.query([])?;
    while let Some(r) = rows.next()? {
        let raw: Vec<u8> = r.get(0)?;
        let Some(doc) = doc_id(&raw) else {
            tracing::error!(len = raw.len(), "a tombstone's document id is damaged");
            continue;
        };
        let at: i64 = r.get(1)?;
        match tombstone(at, (r.get(2)?, r.get(3)?, r.get(4)?)) {
            Some(t) => out.tombstones.push((doc, t)),
            None => out.damaged.push((doc, "its tombstone is damaged".into())),
        }
    }
    Ok(())
}

/// A tombstone from its stored columns (`idx`, `op`, `stamp`: all set for
/// an owner's deletion, none for a retention deletion); `None` when they
/// do not decode.
pub(super) fn tombstone(
    at: i64,
    parts: (Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>),
) -> Option<Tombstone> {
    let op = match parts {
        (None, None, None) => None,
        (Some(i), Some(op), Some(stamp)) => {
            let op = MembershipOp::from_bytes(&op).ok()?;
            Some((i.max(0) as u64, op, decode_stamp(&stamp)?))
        }
        _ => return None,
    };
    Some(Tombstone {
        at: at.max(0) as u64,
        op,
    })
}

fn load_doc(
    conn: &Connection,
    raw: &[u8],
    doc: DocId,
    device_bytes: &mut HashMap<DeviceId, u64>,
) -> Result<LoadedDoc, StoreError> {
    let mut ops_q = conn
        .prepare_cached("SELECT idx, op, stamp FROM membership_ops WHERE doc = ?1 ORDER BY idx")?;
    let mut env_q = conn.prepare_cached(
        "SELECT doc_seq, author, author_seq, hash, length(bytes) FROM envelopes
         WHERE doc = ?1 ORDER BY doc_seq",
    )?;
    let mut ops = Vec::new();
    let mut rows = ops_q.query(params![raw])?;
    while let Some(r) = rows.next()? {
        let idx: i64 = r.get(0)?;
        if idx != ops.len() as i64 {
            return Err(StoreError::Corrupt(format!(
                "{doc}: membership op {idx} out of order"
            )));
        }
        let bytes: Vec<u8> = r.get(1)?;
        let op = MembershipOp::from_bytes(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{doc}: membership op {idx}: {e}")))?;
        let stamp: Option<Vec<u8>> = r.get(2)?;
        ops.push((op, stamp.as_deref().and_then(decode_stamp)));
    }
    let mut metas = Metas::default();
    let mut rows = env_q.query(params![raw])?;
    while let Some(r) = rows.next()? {
        let author: Vec<u8> = r.get(1)?;
        let hash: Vec<u8> = r.get(3)?;
        metas.push(doc, r.get(0)?, &author, r.get(2)?, &hash, r.get(4)?)?;
    }
    Ok(metas.finish(doc, ops, device_bytes))
}

/// A document's envelope rows, as either store reads them, checked and
/// counted.
#[derive(Default)]
pub(super) struct Metas {
    metas: Vec<(EnvelopeMeta, bool)>,
    live_bytes: u64,
    per_device: HashMap<DeviceId, u64>,
}

impl Metas {
    /// One row: `len` is the kept bytes' length, `None` once compacted.
    pub(super) fn push(
        &mut self,
        doc: DocId,
        doc_seq: i64,
        author: &[u8],
        author_seq: i64,
        hash: &[u8],
        len: Option<i64>,
    ) -> Result<(), StoreError> {
        let corrupt = || StoreError::Corrupt(format!("{doc}: envelope {doc_seq}"));
        let author = device(author).ok_or_else(corrupt)?;
        let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt())?;
        if let Some(n) = len {
            let n = n.max(0) as u64;
            self.live_bytes += n;
            *self.per_device.entry(author).or_default() += n;
        }
        self.metas.push((
            EnvelopeMeta {
                doc_seq: doc_seq as u64,
                author,
                author_seq: author_seq as u64,
                hash: EnvelopeHash::from_bytes(hash),
                len: len.unwrap_or(0).max(0) as u64,
            },
            len.is_some(),
        ));
        Ok(())
    }

    /// The rows' metadata, each flagged whether its bytes are kept.
    pub(super) fn into_metas(self) -> Vec<(EnvelopeMeta, bool)> {
        self.metas
    }

    /// The loaded document; its authors' bytes are counted into
    /// `device_bytes` only now that the whole document loaded.
    pub(super) fn finish(
        self,
        doc: DocId,
        ops: Vec<(MembershipOp, Option<OpStamp>)>,
        device_bytes: &mut HashMap<DeviceId, u64>,
    ) -> LoadedDoc {
        for (d, n) in self.per_device {
            *device_bytes.entry(d).or_default() += n;
        }
        LoadedDoc {
            doc,
            ops,
            metas: self.metas,
            live_bytes: self.live_bytes,
        }
    }
}
