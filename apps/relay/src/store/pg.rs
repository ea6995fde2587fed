//! The relay's store on PostgreSQL (`database_url`): the same tables and
//! the same group commit as on SQLite, on the store thread, through the
//! synchronous `postgres` client. Migrations live in
//! `apps/relay/migrations/postgres/`, applied in order under a lock, so
//! instances starting together migrate once.

use std::collections::HashMap;

use postgres::{Client, NoTls, Transaction};
use starling_protocol::membership::MembershipOp;
use starling_protocol::relay::{EnvelopeMeta, RelayAction, Tombstone, replay_messages};
use starling_protocol::wire::{AccessEntry, AccessLog, StoredStats};
use starling_protocol::{DeviceId, DocId, Envelope};

use super::batch::{Backend, Committed, kind_code, kind_of};
use super::load::{self, Loaded, LoadedDoc, decode_stamp, device, encode_stamp};
use super::{AccessRow, Freed, Head, Job, Output, StoreError, Sweep, Work, fault_reason};

/// Schema migrations, in order; entry `i` takes version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_initial.sql"),
    include_str!("../../migrations/postgres/0002_doc_heads.sql"),
];

/// The channel instances tell each other what they committed on (see
/// `crate::shared`).
pub(crate) const CHANNEL: &str = "starling_relay";

/// Most bytes of one notification's payload (PostgreSQL's limit is 8000).
const PAYLOAD: usize = 7900;

/// The schema version this relay writes on PostgreSQL.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The PostgreSQL store: a connection, made again after it drops.
pub(crate) struct Postgres {
    url: String,
    client: Option<Client>,
    /// This relay process among the instances sharing the database.
    instance: u64,
}

/// Connects and migrates the schema (a database newer than this relay is
/// refused rather than misread). `instance` names this process in what it
/// tells the other instances.
pub(crate) fn open(url: &str, instance: u64) -> Result<Postgres, StoreError> {
    let mut client = Client::connect(url, NoTls)?;
    migrate(&mut client)?;
    Ok(Postgres {
        url: url.to_owned(),
        client: Some(client),
        instance,
    })
}

/// Moves each document's heads row from what its instance decided on to
/// what the job leaves (in document order, so two instances never wait on
/// each other's rows in a cycle). A row that is not where the instance
/// thought means another instance committed first: the whole batch fails.
fn advance_heads(tx: &mut Transaction<'_>, heads: &mut [Head]) -> Result<(), StoreError> {
    heads.sort_unstable_by_key(|h| h.doc);
    let insert = tx.prepare(
        "INSERT INTO doc_heads (doc, ops, seq) VALUES ($1, $2, $3) ON CONFLICT (doc) DO NOTHING",
    )?;
    let update = tx.prepare(
        "UPDATE doc_heads SET ops = $2, seq = $3 WHERE doc = $1 AND ops = $4 AND seq = $5",
    )?;
    for h in heads.iter() {
        let key = &h.doc.as_bytes()[..];
        let (ops, seq) = (h.after.0 as i64, h.after.1 as i64);
        let moved = if h.before == (0, 0) {
            tx.execute(&insert, &[&key, &ops, &seq])?
        } else {
            let (was_ops, was_seq) = (h.before.0 as i64, h.before.1 as i64);
            tx.execute(&update, &[&key, &ops, &seq, &was_ops, &was_seq])?
        };
        if moved != 1 {
            return Err(StoreError::Conflict(format!(
                "{}: another relay instance committed to it first",
                h.doc
            )));
        }
    }
    Ok(())
}

/// Tells the other instances which documents changed (delivered when the
/// transaction commits).
fn notify(tx: &mut Transaction<'_>, instance: u64, docs: &[DocId]) -> Result<(), StoreError> {
    let mut payload = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if payload.is_empty() {
            payload = format!("c {instance:016x} ");
        } else {
            payload.push(',');
        }
        payload.push_str(&doc.to_string());
        if payload.len() > PAYLOAD - 40 || i + 1 == docs.len() {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
            payload.clear();
        }
    }
    Ok(())
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS starling_schema (version BIGINT NOT NULL);
         LOCK TABLE starling_schema IN EXCLUSIVE MODE;",
    )?;
    let version: i64 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM starling_schema", &[])?
        .get(0);
    if version > PG_SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "the database has schema version {version}; this relay writes up to {PG_SCHEMA_VERSION}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO starling_schema (version) VALUES ($1)",
            &[&(i as i64 + 1)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl Postgres {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let c = Client::connect(&self.url, NoTls)?;
            self.client = Some(c);
        }
        self.client.as_mut().ok_or(StoreError::Stopped)
    }
}

impl Backend for Postgres {
    fn commit(&mut self, jobs: Vec<Job>) -> Result<Committed, StoreError> {
        let instance = self.instance;
        let mut tx = self.client()?.transaction()?;
        let mut outputs = Vec::new();
        let mut freed = Vec::new();
        let mut damaged = Vec::new();
        let mut permits = Vec::new();
        let mut erased = false;
        let mut heads: Vec<Head> = jobs.iter().flat_map(|j| j.heads.iter().copied()).collect();
        advance_heads(&mut tx, &mut heads)?;
        let mut changed: Vec<DocId> = heads.iter().map(|h| h.doc).collect();
        // Envelopes in a row go in as one statement (a round trip each
        // would cap the relay at the network's latency); anything else
        // first writes the ones before it, so it sees them.
        let mut pending = Envelopes::default();
        for job in jobs {
            permits.extend(job.permits);
            for w in job.work {
                match w {
                    Work::Out(o) => outputs.push(o),
                    Work::Access(rows) => {
                        pending.flush(&mut tx)?;
                        add_access(&mut tx, &rows)?
                    }
                    Work::Store(action) => {
                        if let RelayAction::StoreEnvelope {
                            doc,
                            meta,
                            envelope,
                        } = *action
                        {
                            pending.push(doc, &meta, envelope.envelope().as_bytes());
                            continue;
                        }
                        pending.flush(&mut tx)?;
                        if let RelayAction::EraseDoc { doc, .. } = &*action {
                            erased = true;
                            changed.push(*doc);
                        }
                        execute(&mut tx, *action, &mut outputs, &mut freed, &mut damaged)?
                    }
                }
            }
        }
        pending.flush(&mut tx)?;
        changed.sort_unstable();
        changed.dedup();
        notify(&mut tx, instance, &changed)?;
        tx.commit()?;
        drop(permits);
        Ok((outputs, freed, damaged, erased))
    }

    fn load(&mut self) -> Result<Loaded, StoreError> {
        load_all(self.client()?)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        let c = self.client()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "INSERT INTO probe (bytes) VALUES (decode(repeat('00', 65536), 'hex'))",
            &[],
        )?;
        tx.commit()?;
        c.execute("DELETE FROM probe", &[])?;
        Ok(())
    }

    fn set_max_bytes(&mut self, max: Option<u64>) -> Result<(), StoreError> {
        if max.is_some() {
            tracing::warn!(
                "max_db_bytes limits the SQLite file; on PostgreSQL, set the database's own limits"
            );
        }
        Ok(())
    }

    fn sweep(&mut self, sweep: Sweep) -> Result<Vec<DocId>, StoreError> {
        let c = self.client()?;
        let pruned = c.execute(
            "DELETE FROM access_log WHERE hour < $1",
            &[&(sweep.log_before as i64)],
        )?;
        if pruned > 0 {
            tracing::info!(
                entries = pruned,
                "access log entries past their retention deleted"
            );
        }
        let Some(before) = sweep.idle_before else {
            return Ok(Vec::new());
        };
        let mut idle = Vec::new();
        for row in c.query("SELECT DISTINCT doc FROM membership_ops", &[])? {
            let raw: Vec<u8> = row.get(0);
            let Some(doc) = load::doc_id(&raw) else {
                continue;
            };
            let accessed: Option<i64> = c
                .query_one(
                    "SELECT max(last_at) FROM access_log WHERE doc = $1",
                    &[&raw],
                )?
                .get(0);
            let stamped = c
                .query(
                    "SELECT stamp FROM membership_ops WHERE doc = $1 AND stamp IS NOT NULL",
                    &[&raw],
                )?
                .into_iter()
                .filter_map(|r| decode_stamp(&r.get::<_, Vec<u8>>(0)))
                .map(|s| s.at)
                .max();
            let last = accessed
                .map(|a| a.max(0) as u64)
                .into_iter()
                .chain(stamped)
                .max();
            if last.is_none_or(|t| t < before) {
                idle.push(doc);
            }
        }
        Ok(idle)
    }
}

/// Envelopes waiting to be inserted together, column by column.
#[derive(Default)]
struct Envelopes {
    doc: Vec<Vec<u8>>,
    doc_seq: Vec<i64>,
    author: Vec<Vec<u8>>,
    author_seq: Vec<i64>,
    hash: Vec<Vec<u8>>,
    bytes: Vec<Vec<u8>>,
}

impl Envelopes {
    fn push(&mut self, doc: DocId, meta: &EnvelopeMeta, bytes: &[u8]) {
        self.doc.push(doc.as_bytes().to_vec());
        self.doc_seq.push(meta.doc_seq as i64);
        self.author.push(meta.author.as_bytes().to_vec());
        self.author_seq.push(meta.author_seq as i64);
        self.hash.push(meta.hash.as_bytes().to_vec());
        self.bytes.push(bytes.to_vec());
    }

    fn flush(&mut self, tx: &mut Transaction<'_>) -> Result<(), StoreError> {
        if self.doc.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO envelopes (doc, doc_seq, author, author_seq, hash, bytes)
             SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::bigint[],
                                  $5::bytea[], $6::bytea[])",
            &[
                &self.doc,
                &self.doc_seq,
                &self.author,
                &self.author_seq,
                &self.hash,
                &self.bytes,
            ],
        )?;
        *self = Envelopes::default();
        Ok(())
    }
}

fn add_access(tx: &mut Transaction<'_>, rows: &[AccessRow]) -> Result<(), StoreError> {
    let q = tx.prepare(
        "INSERT INTO access_log (doc, device, kind, hour, count, last_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (doc, device, kind, hour) DO UPDATE SET
             count = access_log.count + excluded.count,
             last_at = greatest(access_log.last_at, excluded.last_at)",
    )?;
    for r in rows {
        tx.execute(
            &q,
            &[
                &&r.doc.as_bytes()[..],
                &&r.device.as_bytes()[..],
                &kind_code(r.kind),
                &(r.hour as i64),
                &(r.count as i64),
                &(r.last_at as i64),
            ],
        )?;
    }
    Ok(())
}

fn execute(
    tx: &mut Transaction<'_>,
    action: RelayAction,
    outputs: &mut Vec<Output>,
    freed: &mut Vec<Freed>,
    damaged: &mut Vec<(DocId, String)>,
) -> Result<(), StoreError> {
    match action {
        RelayAction::StoreEnvelope {
            doc,
            meta,
            envelope,
        } => {
            tx.execute(
                "INSERT INTO envelopes (doc, doc_seq, author, author_seq, hash, bytes)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &&doc.as_bytes()[..],
                    &(meta.doc_seq as i64),
                    &&meta.author.as_bytes()[..],
                    &(meta.author_seq as i64),
                    &&meta.hash.as_bytes()[..],
                    &envelope.envelope().as_bytes(),
                ],
            )?;
        }
        RelayAction::StoreMembershipOp {
            doc,
            index,
            op,
            stamp,
        } => {
            tx.execute(
                "INSERT INTO membership_ops (doc, idx, op, stamp) VALUES ($1, $2, $3, $4)",
                &[
                    &&doc.as_bytes()[..],
                    &(index as i64),
                    &op.to_bytes(),
                    &encode_stamp(&stamp),
                ],
            )?;
        }
        RelayAction::Compact { doc, doc_seqs } => {
            let key = &doc.as_bytes()[..];
            for s in doc_seqs {
                let row = tx.query_opt(
                    "SELECT author, octet_length(bytes) FROM envelopes
                     WHERE doc = $1 AND doc_seq = $2 AND bytes IS NOT NULL",
                    &[&key, &(s as i64)],
                )?;
                if let Some(row) = row {
                    tx.execute(
                        "UPDATE envelopes SET bytes = NULL WHERE doc = $1 AND doc_seq = $2",
                        &[&key, &(s as i64)],
                    )?;
                    let author: Vec<u8> = row.get(0);
                    let len: Option<i32> = row.get(1);
                    if let Some(author) = device(&author) {
                        freed.push(Freed {
                            doc,
                            author,
                            bytes: len.unwrap_or(0).max(0) as u64,
                        });
                    }
                }
            }
        }
        RelayAction::EraseDoc { doc, tombstone } => {
            freed.extend(erase(tx, doc, &tombstone)?);
        }
        RelayAction::ReadAccessLog { conn, doc } => {
            let log = read_access_log(tx, doc)?;
            outputs.push(Output::AccessLog(conn, Box::new(log)));
        }
        RelayAction::Replay {
            conn,
            doc,
            after,
            up_to,
            last,
            ..
        } => match read_replay(tx, doc, after, up_to) {
            Ok(rows) => outputs.push(Output::Replay(
                conn,
                replay_messages(doc, rows, up_to, last),
                doc,
            )),
            Err(e) if fault_reason(&e).is_some() => return Err(e),
            Err(e) => {
                tracing::error!(%doc, error = %e, "a stored envelope is damaged; the document is refused until restored");
                damaged.push((doc, e.to_string()));
                outputs.push(Output::Replay(conn, Vec::new(), doc));
            }
        },
        other => {
            tracing::warn!(action = ?std::mem::discriminant(&other), "not a storage action; ignored");
        }
    }
    Ok(())
}

fn read_replay(
    tx: &mut Transaction<'_>,
    doc: DocId,
    after: u64,
    up_to: u64,
) -> Result<Vec<(u64, Envelope)>, StoreError> {
    if after >= up_to {
        return Ok(Vec::new());
    }
    let rows = tx.query(
        "SELECT doc_seq, bytes FROM envelopes
         WHERE doc = $1 AND doc_seq > $2 AND doc_seq <= $3 AND bytes IS NOT NULL
         ORDER BY doc_seq",
        &[&&doc.as_bytes()[..], &(after as i64), &(up_to as i64)],
    )?;
    rows.into_iter()
        .map(|row| {
            let seq: i64 = row.get(0);
            let bytes: Vec<u8> = row.get(1);
            let env = Envelope::from_bytes(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{doc}: envelope {seq}: {e}")))?;
            Ok((seq as u64, env))
        })
        .collect()
}

/// Fills `doc_heads` from the stored rows (after an import).
const HEADS_FROM_ROWS: &str = "INSERT INTO doc_heads (doc, ops, seq)
    SELECT m.doc, count(*),
           coalesce((SELECT max(e.doc_seq) FROM envelopes e WHERE e.doc = m.doc), 0)
    FROM membership_ops m GROUP BY m.doc";

/// Deletes every row of `doc` and keeps `tombstone`; the envelope bytes
/// freed, per author.
pub(crate) fn erase(
    tx: &mut Transaction<'_>,
    doc: DocId,
    tombstone: &Tombstone,
) -> Result<Vec<Freed>, StoreError> {
    let key = &doc.as_bytes()[..];
    let freed = tx
        .query(
            "SELECT author, sum(octet_length(bytes))::BIGINT FROM envelopes
             WHERE doc = $1 AND bytes IS NOT NULL GROUP BY author",
            &[&key],
        )?
        .into_iter()
        .filter_map(|r| {
            let author: Vec<u8> = r.get(0);
            let bytes: i64 = r.get(1);
            Some(Freed {
                doc,
                author: device(&author)?,
                bytes: bytes.max(0) as u64,
            })
        })
        .collect();
    tx.execute("DELETE FROM envelopes WHERE doc = $1", &[&key])?;
    tx.execute("DELETE FROM membership_ops WHERE doc = $1", &[&key])?;
    tx.execute("DELETE FROM access_log WHERE doc = $1", &[&key])?;
    tx.execute("DELETE FROM doc_heads WHERE doc = $1", &[&key])?;
    let (idx, op, stamp) = match &tombstone.op {
        Some((i, op, stamp)) => (
            Some(*i as i64),
            Some(op.to_bytes()),
            Some(encode_stamp(stamp)),
        ),
        None => (None, None, None),
    };
    tx.execute(
        "INSERT INTO tombstones (doc, at, idx, op, stamp) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (doc) DO UPDATE SET at = excluded.at, idx = excluded.idx,
             op = excluded.op, stamp = excluded.stamp",
        &[&key, &(tombstone.at as i64), &idx, &op, &stamp],
    )?;
    tracing::info!(%doc, by_owner = tombstone.op.is_some(), "document deleted: erased, tombstone kept");
    Ok(freed)
}

fn read_access_log(tx: &mut Transaction<'_>, doc: DocId) -> Result<AccessLog, StoreError> {
    let key = &doc.as_bytes()[..];
    let row = tx.query_one(
        "SELECT count(bytes), coalesce(sum(octet_length(bytes)), 0)::BIGINT, count(*)
         FROM envelopes WHERE doc = $1",
        &[&key],
    )?;
    let (envelopes, bytes, positions): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let ops: i64 = tx
        .query_one(
            "SELECT count(*) FROM membership_ops WHERE doc = $1",
            &[&key],
        )?
        .get(0);
    let created_at = tx
        .query_opt(
            "SELECT stamp FROM membership_ops WHERE doc = $1 AND idx = 0",
            &[&key],
        )?
        .and_then(|r| r.get::<_, Option<Vec<u8>>>(0))
        .and_then(|b| decode_stamp(&b))
        .map(|s| s.at);
    let limit = starling_protocol::wire::access::MAX_ACCESS_ENTRIES as i64;
    let mut entries: Vec<AccessEntry> = tx
        .query(
            "SELECT device, kind, hour, count, last_at FROM access_log WHERE doc = $1
             ORDER BY hour DESC, device, kind LIMIT $2",
            &[&key, &limit],
        )?
        .into_iter()
        .filter_map(|r| {
            let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
            Some(AccessEntry {
                device: device(&r.get::<_, Vec<u8>>(0))?,
                kind: kind_of(r.get(1))?,
                hour: n(2),
                count: n(3),
                last_at: n(4),
            })
        })
        .collect();
    entries.reverse();
    let n = |v: i64| v.max(0) as u64;
    Ok(AccessLog {
        doc,
        at: 0,
        since: 0,
        stored: StoredStats {
            envelopes: n(envelopes),
            bytes: n(bytes),
            positions: n(positions),
            ops: n(ops),
            created_at,
        },
        entries,
    })
}

fn load_all(c: &mut Client) -> Result<Loaded, StoreError> {
    let mut out = Loaded::default();
    for row in c.query("SELECT DISTINCT doc FROM membership_ops", &[])? {
        let raw: Vec<u8> = row.get(0);
        let Some(doc) = load::doc_id(&raw) else {
            tracing::error!(
                len = raw.len(),
                "a stored document id is damaged; its rows are skipped"
            );
            continue;
        };
        match load_doc(c, &raw, doc, &mut out.device_bytes) {
            Ok(d) => out.docs.push(d),
            Err(e) => {
                tracing::error!(doc = %doc, error = %e, "stored document is damaged; it is refused until restored");
                out.damaged.push((doc, e.to_string()));
            }
        }
    }
    for r in c.query("SELECT doc, at, idx, op, stamp FROM tombstones", &[])? {
        let raw: Vec<u8> = r.get(0);
        let Some(doc) = load::doc_id(&raw) else {
            continue;
        };
        let parts = (
            r.get::<_, Option<i64>>(2),
            r.get::<_, Option<Vec<u8>>>(3),
            r.get::<_, Option<Vec<u8>>>(4),
        );
        match load::tombstone(r.get::<_, i64>(1), parts) {
            Some(t) => out.tombstones.push((doc, t)),
            None => out.damaged.push((doc, "its tombstone is damaged".into())),
        }
    }
    Ok(out)
}

fn load_doc(
    c: &mut Client,
    raw: &[u8],
    doc: DocId,
    device_bytes: &mut HashMap<DeviceId, u64>,
) -> Result<LoadedDoc, StoreError> {
    let mut ops = Vec::new();
    for r in c.query(
        "SELECT idx, op, stamp FROM membership_ops WHERE doc = $1 ORDER BY idx",
        &[&raw],
    )? {
        let idx: i64 = r.get(0);
        if idx != ops.len() as i64 {
            return Err(StoreError::Corrupt(format!(
                "{doc}: membership op {idx} out of order"
            )));
        }
        let op = MembershipOp::from_bytes(&r.get::<_, Vec<u8>>(1))
            .map_err(|e| StoreError::Corrupt(format!("{doc}: membership op {idx}: {e}")))?;
        let stamp: Option<Vec<u8>> = r.get(2);
        ops.push((op, stamp.as_deref().and_then(decode_stamp)));
    }
    let mut metas = load::Metas::default();
    for r in c.query(
        "SELECT doc_seq, author, author_seq, hash, octet_length(bytes)::BIGINT FROM envelopes
         WHERE doc = $1 ORDER BY doc_seq",
        &[&raw],
    )? {
        let author: Vec<u8> = r.get(1);
        let hash: Vec<u8> = r.get(3);
        metas.push(doc, r.get(0), &author, r.get(2), &hash, r.get(4))?;
    }
    Ok(metas.finish(doc, ops, device_bytes))
}

/// Erases `doc` from the PostgreSQL database at `url` (see
/// `super::erase_offline`); whether it held anything of it.
pub(crate) fn erase_offline(url: &str, doc: DocId) -> Result<bool, StoreError> {
    let mut client = Client::connect(url, NoTls)?;
    migrate(&mut client)?;
    let mut tx = client.transaction()?;
    let key = &doc.as_bytes()[..];
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM membership_ops WHERE doc = $1)
                  + (SELECT count(*) FROM envelopes WHERE doc = $1)
                  + (SELECT count(*) FROM access_log WHERE doc = $1)",
            &[&key],
        )?
        .get(0);
    let tombstoned: i64 = tx
        .query_one("SELECT count(*) FROM tombstones WHERE doc = $1", &[&key])?
        .get(0);
    if held == 0 && tombstoned > 0 {
        return Ok(false);
    }
    let tombstone = Tombstone {
        at: starling_protocol::now_ms(),
        op: None,
    };
    erase(&mut tx, doc, &tombstone)?;
    tx.commit()?;
    Ok(held > 0)
}

/// What [`import_sqlite`] copied: membership ops, envelopes, tombstones and
/// access log rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Membership ops.
    pub ops: u64,
    /// Envelopes (kept or compacted).
    pub envelopes: u64,
    /// Tombstones of deleted documents.
    pub tombstones: u64,
    /// Access log rows.
    pub access: u64,
}

/// Copies every row of the SQLite relay database `src` into the empty
/// PostgreSQL database at `url`, in one transaction: all of it or nothing.
pub(crate) fn import_sqlite(src: &rusqlite::Connection, url: &str) -> Result<Imported, StoreError> {
    let mut db = open(url, 0)?;
    let mut tx = db.client()?.transaction()?;
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM membership_ops) + (SELECT count(*) FROM tombstones)",
            &[],
        )?
        .get(0);
    if held > 0 {
        return Err(StoreError::Schema(
            "the PostgreSQL database already holds a relay's data: migrate into an empty one"
                .into(),
        ));
    }
    let mut done = Imported::default();
    let ins =
        tx.prepare("INSERT INTO membership_ops (doc, idx, op, stamp) VALUES ($1, $2, $3, $4)")?;
    let mut q = src.prepare("SELECT doc, idx, op, stamp FROM membership_ops")?;
    let mut rows = q.query([])?;
    while let Some(r) = rows.next()? {
        let (doc, idx, op, stamp): (Vec<u8>, i64, Vec<u8>, Option<Vec<u8>>) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        tx.execute(&ins, &[&doc, &idx, &op, &stamp])?;
        done.ops += 1;
    }
    let ins = tx.prepare(
        "INSERT INTO envelopes (doc, doc_seq, author, author_seq, hash, bytes)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )?;
    let mut q =
        src.prepare("SELECT doc, doc_seq, author, author_seq, hash, bytes FROM envelopes")?;
    let mut rows = q.query([])?;
    while let Some(r) = rows.next()? {
        let doc: Vec<u8> = r.get(0)?;
        let seq: i64 = r.get(1)?;
        let author: Vec<u8> = r.get(2)?;
        let aseq: i64 = r.get(3)?;
        let hash: Vec<u8> = r.get(4)?;
        let bytes: Option<Vec<u8>> = r.get(5)?;
        tx.execute(&ins, &[&doc, &seq, &author, &aseq, &hash, &bytes])?;
        done.envelopes += 1;
    }
    let ins =
        tx.prepare("INSERT INTO tombstones (doc, at, idx, op, stamp) VALUES ($1, $2, $3, $4, $5)")?;
    let mut q = src.prepare("SELECT doc, at, idx, op, stamp FROM tombstones")?;
    let mut rows = q.query([])?;
    while let Some(r) = rows.next()? {
        let doc: Vec<u8> = r.get(0)?;
        let at: i64 = r.get(1)?;
        let idx: Option<i64> = r.get(2)?;
        let op: Option<Vec<u8>> = r.get(3)?;
        let stamp: Option<Vec<u8>> = r.get(4)?;
        tx.execute(&ins, &[&doc, &at, &idx, &op, &stamp])?;
        done.tombstones += 1;
    }
    let ins = tx.prepare(
        "INSERT INTO access_log (doc, device, kind, hour, count, last_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )?;
    let mut q = src.prepare("SELECT doc, device, kind, hour, count, last_at FROM access_log")?;
    let mut rows = q.query([])?;
    while let Some(r) = rows.next()? {
        let (doc, device, kind, hour, count, last_at): (Vec<u8>, Vec<u8>, i64, i64, i64, i64) = (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        );
        tx.execute(&ins, &[&doc, &device, &kind, &hour, &count, &last_at])?;
        done.access += 1;
    }
    tx.batch_execute(HEADS_FROM_ROWS)?;
    tx.commit()?;
    Ok(done)
}
