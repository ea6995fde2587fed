//! The store thread: group commit of queued jobs.

use std::sync::Arc;
use std::sync::mpsc::{self, TryRecvError};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use starling_protocol::relay::{RelayAction, Tombstone, replay_messages};
use starling_protocol::{DocId, Envelope};
use tokio::sync::mpsc as tmpsc;

use super::wal::{self, WalState};
use super::{
    AccessRow, Freed, Job, Output, Request, StoreError, StoreEvent, Sweep, Work, fault_reason,
    load, schema,
};
use crate::metrics::Metrics;
use starling_protocol::wire::{AccessEntry, AccessKind, AccessLog, StoredStats};

/// What a storage engine does for the store thread: [`Sqlite`] (the
/// default) or PostgreSQL (`super::pg`).
pub(super) trait Backend {
    /// Carries out every job in one transaction.
    fn commit(&mut self, jobs: Vec<Job>) -> Result<Committed, StoreError>;
    /// Reads every document.
    fn load(&mut self) -> Result<load::Loaded, StoreError>;
    /// Writes a little and commits it.
    fn probe(&mut self) -> Result<(), StoreError>;
    /// Changes the database's size limit, where it has one.
    fn set_max_bytes(&mut self, max: Option<u64>) -> Result<(), StoreError>;
    /// Prunes the access log; finds idle documents.
    fn sweep(&mut self, sweep: Sweep) -> Result<Vec<DocId>, StoreError>;
    /// After a commit (`erased`: a document was erased in it).
    fn committed(&mut self, _erased: bool) {}
    /// Nothing queued.
    fn idle(&mut self) {}
    /// Before the thread stops.
    fn close(&mut self) {}
}

/// The embedded SQLite database.
pub(super) struct Sqlite {
    pub conn: Connection,
    pub wal: Arc<WalState>,
}

impl Backend for Sqlite {
    fn commit(&mut self, jobs: Vec<Job>) -> Result<Committed, StoreError> {
        commit(&mut self.conn, jobs)
    }

    fn load(&mut self) -> Result<load::Loaded, StoreError> {
        load::load_all(&self.conn)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        probe(&mut self.conn)
    }

    fn set_max_bytes(&mut self, max: Option<u64>) -> Result<(), StoreError> {
        schema::set_max_bytes(&self.conn, max)
    }

    fn sweep(&mut self, sweep: Sweep) -> Result<Vec<DocId>, StoreError> {
        run_sweep(&mut self.conn, sweep)
    }

    fn committed(&mut self, erased: bool) {
        self.wal.committed();
        if erased && let Err(e) = schema::reclaim(&self.conn) {
            // The rows are gone and zeroed; the file keeps its size (and
            // the log its old frames) until the next erasure or a clean
            // shutdown.
            tracing::warn!(error = %e, "could not reclaim the space of an erased document");
        }
    }

    fn idle(&mut self) {
        // Finish a due checkpoint so the log starts over (see `wal`).
        if self.wal.finish_now() {
            if let Err(e) = wal::checkpoint(&self.conn) {
                tracing::warn!(error = %e, "wal checkpoint failed");
            }
            self.wal.finished();
        }
    }

    fn close(&mut self) {
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "final checkpoint failed");
        }
    }
}

pub(super) fn run(
    mut db: impl Backend,
    rx: mpsc::Receiver<Request>,
    events: tmpsc::UnboundedSender<StoreEvent>,
    max_batch: usize,
    metrics: Arc<Metrics>,
) {
    // After a failed batch the hub's state no longer matches the disk:
    // queued jobs are dropped (and reported) until it reloads.
    let mut failed = false;
    loop {
        let first = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                db.idle();
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            }
        };
        let mut jobs = Vec::new();
        let mut writes = 0;
        let mut other = None;
        match first {
            Request::Job(j) => {
                writes += j.writes();
                jobs.push(j);
            }
            r => other = Some(r),
        }
        while other.is_none() && writes < max_batch {
            match rx.try_recv() {
                Ok(Request::Job(j)) => {
                    writes += j.writes();
                    jobs.push(j);
                }
                Ok(r) => other = Some(r),
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            let n = jobs.len();
            let event = if failed {
                let conns = jobs.iter().flat_map(Job::conns).collect();
                StoreEvent::Dropped { jobs: n, conns }
            } else {
                let conns: Vec<_> = jobs.iter().flat_map(Job::conns).collect();
                let start = Instant::now();
                match db.commit(jobs) {
                    Ok((outputs, freed, damaged, erased)) => {
                        db.committed(erased);
                        metrics.record_commit(writes, start.elapsed());
                        StoreEvent::Done {
                            jobs: n,
                            outputs,
                            freed,
                            damaged,
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, jobs = n, "commit failed; rolled back, nothing in it acknowledged");
                        metrics.rejection("store_failure");
                        metrics.commit_failures.inc();
                        failed = true;
                        StoreEvent::Failed {
                            jobs: n,
                            fault: fault_reason(&e),
                            error: e.to_string(),
                            conns,
                        }
                    }
                }
            };
            if events.send(event).is_err() {
                break;
            }
        }
        match other {
            None => {}
            Some(Request::Job(_)) => {}
            Some(Request::Load(reply)) => {
                let loaded = db.load();
                // Jobs are carried out again only on a state the hub has.
                failed = loaded.is_err();
                let _ = reply.send(loaded);
            }
            Some(Request::Probe(reply)) => {
                let _ = reply.send(db.probe());
            }
            Some(Request::SetMaxBytes(max)) => {
                if let Err(e) = db.set_max_bytes(max) {
                    tracing::error!(error = %e, "cannot change the database size limit");
                }
            }
            Some(Request::Sweep(sweep, reply)) => {
                let _ = reply.send(db.sweep(sweep));
            }
            Some(Request::Shutdown(reply)) => {
                db.close();
                let _ = reply.send(());
                return;
            }
        }
    }
}

/// Deletes every row of `doc` (envelopes, membership log, access log) and
/// keeps `tombstone`; returns the envelope bytes freed, per author.
pub(super) fn erase(
    tx: &Transaction<'_>,
    doc: DocId,
    tombstone: &Tombstone,
) -> Result<Vec<Freed>, StoreError> {
    let key = &doc.as_bytes()[..];
    let mut freed = Vec::new();
    let mut kept = tx.prepare_cached(
        "SELECT author, sum(length(bytes)) FROM envelopes
         WHERE doc = ?1 AND bytes IS NOT NULL GROUP BY author",
    )?;
    let mut rows = kept.query(params![key])?;
    while let Some(r) = rows.next()? {
        let author: Vec<u8> = r.get(0)?;
        let bytes: i64 = r.get(1)?;
        if let Some(author) = load::device(&author) {
            freed.push(Freed {
                doc,
                author,
                bytes: bytes.max(0) as u64,
            });
        }
    }
    tx.execute("DELETE FROM envelopes WHERE doc = ?1", params![key])?;
    tx.execute("DELETE FROM membership_ops WHERE doc = ?1", params![key])?;
    tx.execute("DELETE FROM access_log WHERE doc = ?1", params![key])?;
    let (idx, op, stamp) = match &tombstone.op {
        Some((i, op, stamp)) => (
            Some(*i as i64),
            Some(op.to_bytes()),
            Some(load::encode_stamp(stamp)),
        ),
        None => (None, None, None),
    };
    tx.execute(
        "INSERT OR REPLACE INTO tombstones (doc, at, idx, op, stamp)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![key, tombstone.at as i64, idx, op, stamp],
    )?;
    tracing::info!(%doc, by_owner = tombstone.op.is_some(), "document deleted: erased, tombstone kept");
    Ok(freed)
}

pub(super) fn kind_code(kind: AccessKind) -> i64 {
    match kind {
        AccessKind::Publish => 0,
        AccessKind::Fetch => 1,
        AccessKind::Membership => 2,
    }
}

pub(super) fn kind_of(code: i64) -> Option<AccessKind> {
    match code {
        0 => Some(AccessKind::Publish),
        1 => Some(AccessKind::Fetch),
        2 => Some(AccessKind::Membership),
        _ => None,
    }
}

fn add_access(tx: &Transaction<'_>, rows: &[AccessRow]) -> Result<(), StoreError> {
    let mut q = tx.prepare_cached(
        "INSERT INTO access_log (doc, device, kind, hour, count, last_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (doc, device, kind, hour) DO UPDATE SET
             count = count + excluded.count,
             last_at = max(last_at, excluded.last_at)",
    )?;
    for r in rows {
        q.execute(params![
            &r.doc.as_bytes()[..],
            &r.device.as_bytes()[..],
            kind_code(r.kind),
            r.hour as i64,
            r.count as i64,
            r.last_at as i64,
        ])?;
    }
    Ok(())
}

/// `doc`'s access log (the newest entries, oldest first) and what is
/// stored of it. `at` and `since` are the hub's to fill in.
fn read_access_log(tx: &Transaction<'_>, doc: DocId) -> Result<AccessLog, StoreError> {
    let key = &doc.as_bytes()[..];
    let (envelopes, bytes, positions): (i64, i64, i64) = tx
        .prepare_cached(
            "SELECT count(bytes), coalesce(sum(length(bytes)), 0), count(*)
             FROM envelopes WHERE doc = ?1",
        )?
        .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let ops: i64 = tx
        .prepare_cached("SELECT count(*) FROM membership_ops WHERE doc = ?1")?
        .query_row(params![key], |r| r.get(0))?;
    let genesis: Option<Option<Vec<u8>>> = tx
        .prepare_cached("SELECT stamp FROM membership_ops WHERE doc = ?1 AND idx = 0")?
        .query_row(params![key], |r| r.get(0))
        .optional()?;
    let created_at = genesis
        .flatten()
        .and_then(|b| load::decode_stamp(&b))
        .map(|s| s.at);
    let mut q = tx.prepare_cached(
        "SELECT device, kind, hour, count, last_at FROM access_log WHERE doc = ?1
         ORDER BY hour DESC, device, kind LIMIT ?2",
    )?;
    let limit = starling_protocol::wire::access::MAX_ACCESS_ENTRIES as i64;
    let mut rows = q.query(params![key, limit])?;
    let mut entries = Vec::new();
    while let Some(r) = rows.next()? {
        let device: Vec<u8> = r.get(0)?;
        let (Some(device), Some(kind)) = (load::device(&device), kind_of(r.get(1)?)) else {
            continue;
        };
        let n =
            |i: usize| -> Result<u64, rusqlite::Error> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        entries.push(AccessEntry {
            device,
            kind,
            hour: n(2)?,
            count: n(3)?,
            last_at: n(4)?,
        });
    }
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

/// Deletes old access log hours; finds documents untouched since
/// `idle_before` (by their access log and their membership ops' stamps).
fn run_sweep(conn: &mut Connection, sweep: Sweep) -> Result<Vec<DocId>, StoreError> {
    let pruned = conn.execute(
        "DELETE FROM access_log WHERE hour < ?1",
        params![sweep.log_before as i64],
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
    let mut q = conn.prepare("SELECT DISTINCT doc FROM membership_ops")?;
    let docs: Vec<Vec<u8>> = q.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut last_access =
        conn.prepare_cached("SELECT max(last_at) FROM access_log WHERE doc = ?1")?;
    let mut stamps = conn.prepare_cached("SELECT stamp FROM membership_ops WHERE doc = ?1")?;
    let mut idle = Vec::new();
    for raw in docs {
        let Ok(id) = <[u8; 16]>::try_from(raw.as_slice()) else {
            continue;
        };
        let accessed: Option<i64> = last_access.query_row(params![raw], |r| r.get(0))?;
        let stamped = stamps
            .query_map(params![raw], |r| r.get::<_, Option<Vec<u8>>>(0))?
            .filter_map(|s| s.ok().flatten())
            .filter_map(|b| load::decode_stamp(&b))
            .map(|s| s.at)
            .max();
        let last = accessed.map(|a| a.max(0) as u64).max(stamped);
        // A document with no time at all (ops from before stamps, never
        // touched since the access log began) is not judged idle.
        if last.is_some_and(|t| t < before) {
            idle.push(DocId::from_bytes(id));
        }
    }
    Ok(idle)
}

/// Writes a little, commits, deletes it: whether the disk takes writes.
fn probe(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute("INSERT INTO probe (bytes) VALUES (zeroblob(65536))", [])?;
    tx.commit()?;
    conn.execute("DELETE FROM probe", [])?;
    Ok(())
}

/// What to send, the envelope bytes freed, documents found damaged, and
/// whether a document was erased (its space is reclaimed after the commit).
pub(super) type Committed = (Vec<Output>, Vec<Freed>, Vec<(DocId, String)>, bool);

/// Carries out every job in one transaction; returns what to send. The
/// jobs' intake is released only after the commit.
fn commit(conn: &mut Connection, jobs: Vec<Job>) -> Result<Committed, StoreError> {
    let tx = conn.transaction()?;
    let mut outputs = Vec::new();
    let mut freed = Vec::new();
    let mut damaged = Vec::new();
    let mut permits = Vec::new();
    let mut erased = false;
    for job in jobs {
        permits.extend(job.permits);
        for w in job.work {
            match w {
                Work::Out(o) => outputs.push(o),
                Work::Access(rows) => add_access(&tx, &rows)?,
                Work::Store(action) => {
                    erased |= matches!(*action, RelayAction::EraseDoc { .. });
                    execute(&tx, *action, &mut outputs, &mut freed, &mut damaged)?
                }
            }
        }
    }
    tx.commit()?;
    drop(permits);
    Ok((outputs, freed, damaged, erased))
}

/// The stored envelopes of `doc` with `after < doc_seq <= up_to`.
fn read_replay(
    tx: &Transaction<'_>,
    doc: DocId,
    after: u64,
    up_to: u64,
) -> Result<Vec<(u64, Envelope)>, StoreError> {
    let mut rows = Vec::new();
    if after >= up_to {
        return Ok(rows);
    }
    let mut q = tx.prepare_cached(
        "SELECT doc_seq, bytes FROM envelopes
         WHERE doc = ?1 AND doc_seq > ?2 AND doc_seq <= ?3 AND bytes IS NOT NULL
         ORDER BY doc_seq",
    )?;
    let mut r = q.query(params![&doc.as_bytes()[..], after as i64, up_to as i64])?;
    while let Some(row) = r.next()? {
        let seq: i64 = row.get(0)?;
        let bytes: Vec<u8> = row.get(1)?;
        let env = Envelope::from_bytes(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{doc}: envelope {seq}: {e}")))?;
        rows.push((seq as u64, env));
    }
    Ok(rows)
}

fn execute(
    tx: &Transaction<'_>,
    action: RelayAction,
    outputs: &mut Vec<Output>,
    freed: &mut Vec<Freed>,
    damaged: &mut Vec<(DocId, String)>,
) -> Result<(), StoreError> {
    // Messages never get here: the hub queues them as outputs (`prepare`).
    match action {
        RelayAction::StoreEnvelope {
            doc,
            meta,
            envelope,
        } => {
            tx.prepare_cached(
                "INSERT INTO envelopes (doc, doc_seq, author, author_seq, hash, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &doc.as_bytes()[..],
                meta.doc_seq as i64,
                &meta.author.as_bytes()[..],
                meta.author_seq as i64,
                &meta.hash.as_bytes()[..],
                envelope.envelope().as_bytes(),
            ])?;
        }
        RelayAction::StoreMembershipOp {
            doc,
            index,
            op,
            stamp,
        } => {
            tx.prepare_cached(
                "INSERT INTO membership_ops (doc, idx, op, stamp) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &doc.as_bytes()[..],
                index as i64,
                op.to_bytes(),
                load::encode_stamp(&stamp),
            ])?;
        }
        RelayAction::Compact { doc, doc_seqs } => {
            let mut find = tx.prepare_cached(
                "SELECT author, length(bytes) FROM envelopes
                 WHERE doc = ?1 AND doc_seq = ?2 AND bytes IS NOT NULL",
            )?;
            let mut drop_bytes = tx.prepare_cached(
                "UPDATE envelopes SET bytes = NULL WHERE doc = ?1 AND doc_seq = ?2",
            )?;
            for s in doc_seqs {
                let key = params![&doc.as_bytes()[..], s as i64];
                let row: Option<(Vec<u8>, i64)> = find
                    .query_row(key, |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((author, len)) = row {
                    drop_bytes.execute(key)?;
                    if let Some(author) = load::device(&author) {
                        freed.push(Freed {
                            doc,
                            author,
                            bytes: len.max(0) as u64,
                        });
                    }
                }
            }
        }
        RelayAction::EraseDoc { doc, tombstone, .. } => {
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
        } => {
            match read_replay(tx, doc, after, up_to) {
                Ok(rows) => outputs.push(Output::Replay(
                    conn,
                    replay_messages(doc, rows, up_to, last),
                    doc,
                )),
                // The disk failing fails the batch (and is retried)...
                Err(e) if fault_reason(&e).is_some() => return Err(e),
                // ...a damaged row takes down its own document only: the
                // hub refuses it from now on; the rest of the batch stands.
                Err(e) => {
                    tracing::error!(%doc, error = %e, "a stored envelope is damaged; the document is refused until restored");
                    damaged.push((doc, e.to_string()));
                    outputs.push(Output::Replay(conn, Vec::new(), doc));
                }
            }
        }
        other => {
            tracing::warn!(action = ?std::mem::discriminant(&other), "not a storage action; ignored");
        }
    }
    Ok(())
}
