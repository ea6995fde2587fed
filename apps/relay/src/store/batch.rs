//! The store thread: group commit of queued jobs.

use std::sync::Arc;
use std::sync::mpsc::{self, TryRecvError};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use starling_protocol::Envelope;
use starling_protocol::relay::{RelayAction, replay_messages};
use tokio::sync::mpsc as tmpsc;

use super::wal::{self, WalState};
use super::{Freed, Job, Output, Request, StoreError, StoreEvent, Work, load};
use crate::metrics::Metrics;

pub(super) fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Request>,
    events: tmpsc::UnboundedSender<StoreEvent>,
    max_batch: usize,
    metrics: Arc<Metrics>,
    wal: Arc<WalState>,
) {
    // After a failed batch the hub's state no longer matches the disk:
    // queued jobs are dropped until it reloads.
    let mut failed = false;
    loop {
        let first = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                // Idle: finish a due checkpoint so the log starts over
                // (see `wal`).
                if wal.finish_now() {
                    if let Err(e) = wal::checkpoint(&conn) {
                        tracing::warn!(error = %e, "wal checkpoint failed");
                    }
                    wal.finished();
                }
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
        if !jobs.is_empty() && !failed {
            let n = jobs.len();
            let start = Instant::now();
            let event = match commit(&mut conn, jobs) {
                Ok((outputs, freed)) => {
                    wal.committed();
                    metrics.record_commit(writes, start.elapsed());
                    StoreEvent::Done {
                        jobs: n,
                        outputs,
                        freed,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, jobs = n, "commit failed; rolled back");
                    metrics.rejection("store_failure");
                    failed = true;
                    StoreEvent::Failed {
                        jobs: n,
                        error: e.to_string(),
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
                failed = false;
                let _ = reply.send(load::load_all(&conn));
            }
            Some(Request::Shutdown(reply)) => {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "final checkpoint failed");
                }
                let _ = reply.send(());
                return;
            }
        }
    }
}

/// Carries out every job in one transaction; returns what to send.
fn commit(conn: &mut Connection, jobs: Vec<Job>) -> Result<(Vec<Output>, Vec<Freed>), StoreError> {
    let tx = conn.transaction()?;
    let mut outputs = Vec::new();
    let mut freed = Vec::new();
    for job in jobs {
        for w in job.work {
            match w {
                Work::Out(o) => outputs.push(o),
                Work::Store(action) => execute(&tx, *action, &mut outputs, &mut freed)?,
            }
        }
    }
    tx.commit()?;
    Ok((outputs, freed))
}

fn execute(
    tx: &Transaction<'_>,
    action: RelayAction,
    outputs: &mut Vec<Output>,
    freed: &mut Vec<Freed>,
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
        RelayAction::Replay {
            conn,
            doc,
            after,
            up_to,
            last,
            ..
        } => {
            let mut rows = Vec::new();
            if after < up_to {
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
                        .map_err(|e| StoreError::Corrupt(format!("envelope {seq}: {e}")))?;
                    rows.push((seq as u64, env));
                }
            }
            let next = (!last).then_some(doc);
            outputs.push(Output::Replay(
                conn,
                replay_messages(doc, rows, up_to, last),
                next,
            ));
        }
        other => {
            tracing::warn!(action = ?std::mem::discriminant(&other), "not a storage action; ignored");
        }
    }
    Ok(())
}
