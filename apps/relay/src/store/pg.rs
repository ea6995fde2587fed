//! The relay's store on PostgreSQL (`database_url`): the same tables and
//! the same group commit as on SQLite, on the store thread, through the
//! synchronous `postgres` client. Migrations live in
//! `apps/relay/migrations/postgres/`, applied in order under a lock, so
//! instances starting together migrate once.

use std::collections::HashMap;
use std::time::Duration;

use postgres::{Client, NoTls, Statement, Transaction};
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
    /// The commit path's statements, prepared on `client`.
    stmts: Option<Stmts>,
    /// This relay process among the instances sharing the database.
    instance: u64,
}

/// Statements every commit runs, prepared once per connection (a statement
/// prepared on the fly costs a round trip of its own).
struct Stmts {
    insert_envelopes: Statement,
    lock_heads: Statement,
    move_heads: Statement,
    new_heads: Statement,
    notify: Statement,
}

impl Stmts {
    fn prepare(c: &mut Client) -> Result<Stmts, StoreError> {
        Ok(Stmts {
            insert_envelopes: c.prepare(
                "INSERT INTO envelopes (doc, doc_seq, author, author_seq, hash, bytes)
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::bigint[],
                                      $5::bytea[], $6::bytea[])",
            )?,
            // Locked in document order, so two instances never wait on
            // each other's rows in a cycle.
            lock_heads: c.prepare(
                "SELECT doc FROM doc_heads WHERE doc = ANY($1::bytea[]) ORDER BY doc FOR UPDATE",
            )?,
            move_heads: c.prepare(
                "WITH moved AS (
                     UPDATE doc_heads h SET ops = n.ops1, seq = n.seq1
                     FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[],
                                 $5::bigint[]) AS n(doc, ops0, seq0, ops1, seq1)
                     WHERE h.doc = n.doc AND h.ops = n.ops0 AND h.seq = n.seq0
                     RETURNING h.doc)
                 SELECT count(*) FROM moved",
            )?,
            new_heads: c.prepare(
                "INSERT INTO doc_heads (doc, ops, seq)
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[])
                 ON CONFLICT (doc) DO NOTHING",
            )?,
            notify: c.prepare("SELECT pg_notify($1, $2)")?,
        })
    }
}

/// Connects and migrates the schema (a database newer than this relay is
/// refused rather than misread). `instance` names this process in what it
/// tells the other instances.
pub(crate) fn open(url: &str, instance: u64) -> Result<Postgres, StoreError> {
    let mut client = connect(url)?;
    migrate(&mut client)?;
    Ok(Postgres {
        url: url.to_owned(),
        client: Some(client),
        stmts: None,
        instance,
    })
}

/// How long reaching the database may take (a host that does not answer
/// would otherwise hold a thread, and a shutdown, for minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the database at `url`, giving up after [`CONNECT_TIMEOUT`]
/// unless the URL sets its own `connect_timeout`.
pub(crate) fn connect(url: &str) -> Result<Client, StoreError> {
    let mut config: postgres::Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config.connect(NoTls)?)
}

/// One move per document for a batch of jobs, in job order: from where the
/// first job found it to where the last left it. Each job must start where
/// the one before left the document (the hub decided them in that order).
fn merge_heads(moves: impl IntoIterator<Item = Head>) -> Result<Vec<Head>, StoreError> {
    let mut merged: HashMap<DocId, Head> = HashMap::new();
    for m in moves {
        match merged.get_mut(&m.doc) {
            None => {
                merged.insert(m.doc, m);
            }
            Some(h) if h.after == m.before => h.after = m.after,
            Some(h) => {
                return Err(StoreError::Conflict(format!(
                    "{}: jobs out of step ({:?} then {:?})",
                    m.doc, h.after, m.before
                )));
            }
        }
    }
    Ok(merged.into_values().collect())
}

/// Moves each document's heads row from what its instance decided on to
/// what the job leaves. A row that is not where the instance thought means
/// another instance committed first: the whole batch fails.
fn advance_heads(
    tx: &mut Transaction<'_>,
    st: &Stmts,
    heads: &mut [Head],
) -> Result<(), StoreError> {
    if heads.is_empty() {
        return Ok(());
    }
    heads.sort_unstable_by_key(|h| h.doc);
    let key = |h: &Head| h.doc.as_bytes().to_vec();
    let n = |v: u64| v as i64;
    let (new, known): (Vec<&Head>, Vec<&Head>) = heads.iter().partition(|h| h.before == (0, 0));
    if !known.is_empty() {
        let docs: Vec<Vec<u8>> = known.iter().map(|h| key(h)).collect();
        tx.query(&st.lock_heads, &[&docs])?;
        let ops0: Vec<i64> = known.iter().map(|h| n(h.before.0)).collect();
        let seq0: Vec<i64> = known.iter().map(|h| n(h.before.1)).collect();
        let ops1: Vec<i64> = known.iter().map(|h| n(h.after.0)).collect();
        let seq1: Vec<i64> = known.iter().map(|h| n(h.after.1)).collect();
        let moved: i64 = tx
            .query_one(&st.move_heads, &[&docs, &ops0, &seq0, &ops1, &seq1])?
            .get(0);
        if moved != known.len() as i64 {
            // Name one, for the log.
            let mut stale = String::new();
            for h in &known {
                let key = key(h);
                let row = tx.query_opt("SELECT ops, seq FROM doc_heads WHERE doc = $1", &[&key])?;
                let now = row.map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)));
                if now != Some((n(h.after.0), n(h.after.1))) {
                    stale = format!("{} is at {now:?}, not {:?}", h.doc, h.before);
                    break;
                }
            }
            return Err(StoreError::Conflict(format!(
                "{} of {} documents: another relay instance committed to them first ({stale})",
                known.len() as i64 - moved,
                known.len()
            )));
        }
    }
    if !new.is_empty() {
        let docs: Vec<Vec<u8>> = new.iter().map(|h| key(h)).collect();
        let ops: Vec<i64> = new.iter().map(|h| n(h.after.0)).collect();
        let seq: Vec<i64> = new.iter().map(|h| n(h.after.1)).collect();
        let made = tx.execute(&st.new_heads, &[&docs, &ops, &seq])?;
        if made != new.len() as u64 {
            return Err(StoreError::Conflict(
                "a new document: another relay instance created it first".into(),
            ));
        }
    }
    Ok(())
}

/// What one commit adds to a document: its new ops (with their stamps)
/// and envelopes, encoded, in order.
#[derive(Default)]
struct Added {
    ops: Vec<(Vec<u8>, Vec<u8>)>,
    envelopes: Vec<Vec<u8>>,
    /// About how many bytes the notification carrying them takes.
    len: usize,
}

/// What the jobs add to each document, for the other instances.
fn added(jobs: &[Job]) -> HashMap<DocId, Added> {
    let mut out: HashMap<DocId, Added> = HashMap::new();
    for w in jobs.iter().flat_map(|j| j.work.iter()) {
        let Work::Store(a) = w else { continue };
        match &**a {
            RelayAction::StoreEnvelope { doc, envelope, .. } => {
                let e = out.entry(*doc).or_default();
                let b = envelope.envelope().as_bytes().to_vec();
                e.len += b.len() * 4 / 3 + 4;
                e.envelopes.push(b);
            }
            RelayAction::StoreMembershipOp { doc, op, stamp, .. } => {
                let e = out.entry(*doc).or_default();
                let (op, stamp) = (op.to_bytes(), encode_stamp(stamp));
                e.len += (op.len() + stamp.len()) * 4 / 3 + 8;
                e.ops.push((op, stamp));
            }
            _ => {}
        }
    }
    out
}

/// Tells the other instances what changed (delivered when the transaction
/// commits). A document's new rows travel in the notification itself when
/// they fit (`r`: the heads they follow, then the ops and envelopes, so
/// the others deliver them without reading them back); otherwise only its
/// id does (`c`: the others read the rows back).
fn notify(
    tx: &mut Transaction<'_>,
    st: &Stmts,
    instance: u64,
    heads: &[Head],
    mut added: HashMap<DocId, Added>,
    changed: &[DocId],
) -> Result<(), StoreError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut ids: Vec<DocId> = Vec::new();
    for h in heads {
        match added.remove(&h.doc) {
            Some(a) if a.len < PAYLOAD - 120 => {
                let mut payload = format!(
                    "r {instance:016x} {} {} {} {}",
                    h.doc,
                    h.before.0,
                    h.before.1,
                    a.ops.len()
                );
                for (op, stamp) in &a.ops {
                    payload.push(' ');
                    payload.push_str(&b64.encode(op));
                    payload.push('.');
                    payload.push_str(&b64.encode(stamp));
                }
                for e in &a.envelopes {
                    payload.push(' ');
                    payload.push_str(&b64.encode(e));
                }
                tx.query(&st.notify, &[&CHANNEL, &payload])?;
            }
            _ => ids.push(h.doc),
        }
    }
    ids.extend(
        changed
            .iter()
            .filter(|d| !heads.iter().any(|h| h.doc == **d)),
    );
    ids.sort_unstable();
    ids.dedup();
    let mut payload = String::new();
    for (i, doc) in ids.iter().enumerate() {
        if payload.is_empty() {
            payload = format!("c {instance:016x} ");
        } else {
            payload.push(',');
        }
        payload.push_str(&doc.to_string());
        if payload.len() > PAYLOAD - 40 || i + 1 == ids.len() {
            tx.query(&st.notify, &[&CHANNEL, &payload])?;
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
            self.stmts = None;
            let c = connect(&self.url)?;
            self.client = Some(c);
        }
        self.client.as_mut().ok_or(StoreError::Stopped)
    }

    /// The connection with the commit path's statements prepared on it.
    fn prepared(&mut self) -> Result<(&mut Client, &Stmts), StoreError> {
        self.client()?;
        let (Some(c), stmts) = (self.client.as_mut(), &mut self.stmts) else {
            return Err(StoreError::Stopped);
        };
        if stmts.is_none() {
            *stmts = Some(Stmts::prepare(c)?);
        }
        match stmts {
            Some(st) => Ok((c, st)),
            None => Err(StoreError::Stopped),
        }
    }
}

impl Backend for Postgres {
    fn commit(&mut self, jobs: Vec<Job>) -> Result<Committed, StoreError> {
        let instance = self.instance;
        let (client, st) = self.prepared()?;
        let mut tx = client.transaction()?;
        let mut outputs = Vec::new();
        let mut freed = Vec::new();
        let mut damaged = Vec::new();
        let mut permits = Vec::new();
        let mut erased = false;
        let mut heads = merge_heads(jobs.iter().flat_map(|j| j.heads.iter().copied()))?;
        advance_heads(&mut tx, st, &mut heads)?;
        let added = if heads.is_empty() {
            HashMap::new()
        } else {
            added(&jobs)
        };
        let mut changed: Vec<DocId> = Vec::new();
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
                        pending.flush(&mut tx, st)?;
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
                        pending.flush(&mut tx, st)?;
                        if let RelayAction::EraseDoc { doc, .. } = &*action {
                            erased = true;
                            changed.push(*doc);
                        }
                        execute(&mut tx, *action, &mut outputs, &mut freed, &mut damaged)?
                    }
                }
            }
        }
        pending.flush(&mut tx, st)?;
        notify(&mut tx, st, instance, &heads, added, &changed)?;
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

    fn flush(&mut self, tx: &mut Transaction<'_>, st: &Stmts) -> Result<(), StoreError> {
        if self.doc.is_empty() {
            return Ok(());
        }
        tx.execute(
            &st.insert_envelopes,
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
    FROM membership_ops m GROUP BY m.doc;
    INSERT INTO doc_heads (doc, ops, seq) SELECT doc, -1, -1 FROM tombstones
    ON CONFLICT (doc) DO NOTHING";

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
    // The row stays, marked deleted: no instance writes to the document or
    // creates it again.
    tx.execute(
        "INSERT INTO doc_heads (doc, ops, seq) VALUES ($1, -1, -1)
         ON CONFLICT (doc) DO UPDATE SET ops = -1, seq = -1",
        &[&key],
    )?;
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
    let mut client = connect(url)?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head(doc: u8, before: (u64, u64), after: (u64, u64)) -> Head {
        Head {
            doc: DocId::from_bytes([doc; 16]),
            before,
            after,
        }
    }

    #[test]
    fn jobs_in_one_batch_move_each_document_once_from_first_to_last() {
        let mut got = merge_heads([
            head(1, (2, 5), (2, 7)),
            head(2, (0, 0), (1, 0)),
            head(1, (2, 7), (3, 9)),
            head(2, (1, 0), (1, 1)),
        ])
        .unwrap();
        got.sort_unstable_by_key(|h| h.doc);
        let got: Vec<_> = got.iter().map(|h| (h.before, h.after)).collect();
        assert_eq!(got, vec![((2, 5), (3, 9)), ((0, 0), (1, 1))]);
        // A job that does not start where the one before left the document
        // is refused rather than written.
        assert!(merge_heads([head(1, (0, 1), (0, 2)), head(1, (0, 3), (0, 4))]).is_err());
    }
}
