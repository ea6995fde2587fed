//! The relay's SQLite store, on a dedicated thread.
//!
//! The async side hands the thread [`Job`]s (the storage actions and the
//! outputs of the incoming messages the hub handled together, in order)
//! over a channel. The thread takes every job that is queued, carries all
//! of them out in **one transaction** (group commit), commits, and only
//! then reports the outputs of those jobs ([`StoreEvent::Done`]), in order.
//! So nothing is acknowledged before it is on disk, and a replay sees
//! exactly the envelopes stored before it. Other requests (loading
//! everything at start-up) carry a oneshot reply.
//!
//! WAL checkpoints run on a second thread with its own connection, off the
//! commit path; `wal` explains how the log still starts over under
//! sustained writes.

mod batch;
mod load;
mod pg;
pub use pg::Imported;
mod schema;
mod shared;
mod wal;
pub(crate) use shared::{Fresh, Peer, SharedThreads};

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use starling_protocol::relay::{ConnId, RelayAction};
use starling_protocol::wire::{AckEntry, Message};
use starling_protocol::{DeviceId, DocId};
use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::config::Synchronous;
use crate::metrics::Metrics;
pub use load::Loaded;
pub use schema::SCHEMA_VERSION;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL failed.
    #[error("database error: {0}")]
    Postgres(postgres::Error),
    /// The schema is unusable (too new, wrong journal mode).
    #[error("database schema: {0}")]
    Schema(String),
    /// A stored row does not decode.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The store thread has stopped.
    #[error("store thread stopped")]
    Stopped,
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Another relay instance sharing the database committed to a
    /// document first: this instance's view of it was stale. Nothing in
    /// the batch was stored; the instance reloads.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be read at all.
    #[error(
        "cannot read the relay database {path}: {reason}; restore it (with relay.key) from a \
         backup, see docs/self-hosting.md"
    )]
    Unreadable {
        /// The database file.
        path: std::path::PathBuf,
        /// What SQLite said.
        reason: String,
    },
}

// By hand, not `#[from]`: the message carries SQLite's, so the error is
// not also its own source (a chain would say it twice).
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

/// Work carried out in order, then released as one group: everything the
/// hub decided while draining its inbox once.
#[derive(Debug)]
pub(crate) struct Job {
    pub work: Vec<Work>,
    /// What the work adds to each document, from the heads the hub decided
    /// on (checked on a shared PostgreSQL database; empty otherwise).
    pub heads: Vec<Head>,
    /// The intake the job's messages hold, released once it is committed
    /// (or dropped).
    pub permits: Vec<tokio::sync::OwnedSemaphorePermit>,
}

impl Job {
    /// The connections the job answers.
    pub fn conns(&self) -> Vec<ConnId> {
        answered(&self.work)
    }

    /// Storage actions in the job (what `max_commit_batch` counts).
    pub fn writes(&self) -> usize {
        self.work
            .iter()
            .filter(|w| matches!(w, Work::Store(_) | Work::Access(_)))
            .count()
    }
}

/// The connections `work` answers.
pub(crate) fn answered(work: &[Work]) -> Vec<ConnId> {
    let mut out: Vec<ConnId> = work
        .iter()
        .filter_map(|w| match w {
            Work::Out(o) => Some(o.conn()),
            Work::Store(a) => match &**a {
                RelayAction::Replay { conn, .. } | RelayAction::ReadAccessLog { conn, .. } => {
                    Some(*conn)
                }
                _ => None,
            },
            Work::Access(_) => None,
        })
        .collect();
    out.sort_unstable_by_key(|c| c.0);
    out.dedup();
    out
}

/// The heads a deleted document's row keeps (stored as -1, -1): another
/// instance that has not yet taken in the deletion cannot write to it, nor
/// create it again.
pub(crate) const DELETED: (u64, u64) = (u64::MAX, u64::MAX);

/// Heads no row ever has: the work of a document that left the hub's state
/// while it waited is never committed.
pub(crate) const NOWHERE: (u64, u64) = (u64::MAX - 1, u64::MAX - 1);

/// A document's membership op count and last doc seq before and after a
/// job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub doc: DocId,
    pub before: (u64, u64),
    pub after: (u64, u64),
}

/// One step of a job. Small (boxed payloads): a fan-out queues one output
/// per subscriber.
#[derive(Debug)]
pub(crate) enum Work {
    /// A storage action of the core (store, compact, replay).
    Store(Box<RelayAction>),
    /// Something to send once the job is committed.
    Out(Output),
    /// Access log counts to add.
    Access(Vec<AccessRow>),
}

/// Activity to add to the access log: `count` more of `kind` by `device`
/// on `doc` in the hour starting at `hour`, the last at `last_at`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessRow {
    pub doc: DocId,
    pub device: DeviceId,
    pub kind: starling_protocol::wire::AccessKind,
    pub hour: u64,
    pub count: u64,
    pub last_at: u64,
}

/// Something to send (or do) on a connection after a commit.
#[derive(Debug)]
pub(crate) enum Output {
    /// A message.
    Msg(ConnId, Box<Message>),
    /// An encoded `deliver` frame, shared by a fan-out.
    Frame(ConnId, Bytes),
    /// An acknowledgement, signed with the connection's other acks.
    Ack(ConnId, Box<AckEntry>),
    /// A piece of a replay: stored envelopes (and, for the last piece, the
    /// closing `caught_up`) of the replay of the `DocId`; once it is
    /// written the connection asks for what follows.
    Replay(ConnId, Vec<Message>, DocId),
    /// A document's access log, to sign and send.
    AccessLog(ConnId, Box<starling_protocol::wire::AccessLog>),
    /// Close the connection.
    Close(ConnId),
}

impl Output {
    /// The connection it goes to.
    pub fn conn(&self) -> ConnId {
        match self {
            Output::Msg(c, _)
            | Output::Frame(c, _)
            | Output::Ack(c, _)
            | Output::Replay(c, _, _)
            | Output::AccessLog(c, _)
            | Output::Close(c) => *c,
        }
    }
}

/// What a periodic sweep does (see [`Store::sweep`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sweep {
    /// Access log hours before this (unix ms) are deleted.
    pub log_before: u64,
    /// Documents with no activity since this (unix ms) are reported.
    pub idle_before: Option<u64>,
}

/// Envelope bytes freed by compaction, for quota accounting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freed {
    pub doc: DocId,
    pub author: DeviceId,
    pub bytes: u64,
}

/// What the store thread reports to the hub.
#[derive(Debug)]
pub(crate) enum StoreEvent {
    /// A batch of jobs committed; send these, in order. The `damaged`
    /// documents' stored rows would not read (a replay found them).
    Done {
        jobs: usize,
        outputs: Vec<Output>,
        freed: Vec<Freed>,
        damaged: Vec<(DocId, String)>,
    },
    /// A batch failed and was rolled back; the store drops jobs until the
    /// next successful [`Store::load`]. `fault` says why when the disk
    /// itself refuses writes (full, failing, locked): the relay then
    /// refuses writes until a [`Store::probe`] succeeds. `conns` had work
    /// in the batch.
    Failed {
        jobs: usize,
        error: String,
        fault: Option<String>,
        conns: Vec<ConnId>,
    },
    /// Jobs dropped after a failure (nothing in them done or sent); `conns`
    /// had work in them.
    Dropped { jobs: usize, conns: Vec<ConnId> },
}

enum Request {
    Job(Job),
    Load(oneshot::Sender<Result<Loaded, StoreError>>),
    Probe(oneshot::Sender<Result<(), StoreError>>),
    SetMaxBytes(Option<u64>),
    Sweep(Sweep, oneshot::Sender<Result<Vec<DocId>, StoreError>>),
    Shutdown(oneshot::Sender<()>),
}

/// Why an error means the disk refuses writes (as opposed to a bad row or
/// a bug), in words for `/healthz`.
pub(crate) fn fault_reason(e: &StoreError) -> Option<String> {
    use rusqlite::ErrorCode as C;
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => match f.code {
            C::DiskFull => {
                Some("the disk or the database's size limit (max_db_bytes) is full".into())
            }
            C::SystemIoFailure => Some("the disk fails to read or write".into()),
            C::CannotOpen => Some("the database file cannot be opened".into()),
            C::ReadOnly => Some("the database is read-only".into()),
            C::DatabaseBusy | C::DatabaseLocked => {
                Some("another process holds the database's write lock".into())
            }
            _ => None,
        },
        StoreError::Io(e) => Some(format!("a file operation failed: {e}")),
        StoreError::Postgres(e) => {
            use postgres::error::SqlState;
            if e.is_closed() || e.code().is_none() {
                Some("the database cannot be reached".into())
            } else if e.code() == Some(&SqlState::DISK_FULL) {
                Some("the database's disk is full".into())
            } else if e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
                Some("the database is read-only".into())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Handle to the store thread.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Request::Job(_) => "Job",
            Request::Load(_) => "Load",
            Request::Probe(_) => "Probe",
            Request::SetMaxBytes(_) => "SetMaxBytes",
            Request::Sweep(..) => "Sweep",
            Request::Shutdown(_) => "Shutdown",
        })
    }
}

/// The running store threads, joined on shutdown.
#[derive(Debug)]
pub(crate) struct StoreThreads {
    writer: JoinHandle<()>,
    /// SQLite's WAL checkpointer (none on PostgreSQL).
    checkpointer: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Keeping in step with other instances (a shared PostgreSQL).
    shared: Option<SharedThreads>,
}

impl StoreThreads {
    /// Waits for both threads (after [`Store::shutdown`]).
    pub fn join(self) {
        if let Some(s) = self.shared {
            s.join();
        }
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.writer.join();
        if let Some(c) = self.checkpointer {
            c.thread().unpark();
            let _ = c.join();
        }
    }
}

impl Store {
    /// Opens the database at `path` (created 0600), checks its integrity
    /// (what it found is logged and returned: empty when sound) and starts
    /// the store threads.
    pub fn open(
        path: &Path,
        sync: Synchronous,
        max_batch: usize,
        max_bytes: Option<u64>,
        events: tmpsc::UnboundedSender<StoreEvent>,
        metrics: Arc<Metrics>,
    ) -> Result<(Store, StoreThreads, Vec<String>), StoreError> {
        let unreadable = |e: StoreError| match e {
            StoreError::Sqlite(e) => StoreError::Unreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
            e => e,
        };
        let conn = schema::open_writer(path, sync).map_err(unreadable)?;
        schema::set_max_bytes(&conn, max_bytes)?;
        let integrity = schema::check_integrity(&conn, path).map_err(unreadable)?;
        let (tx, rx) = mpsc::channel();
        let wal = Arc::new(wal::WalState::default());
        let w = wal.clone();
        let writer = std::thread::Builder::new()
            .name("relay-store".into())
            .spawn(move || {
                batch::run(
                    batch::Sqlite { conn, wal: w },
                    rx,
                    events,
                    max_batch,
                    metrics,
                )
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let checkpointer = wal::spawn_checkpointer(path.to_path_buf(), stop.clone(), wal)?;
        Ok((
            Store { tx },
            StoreThreads {
                writer,
                checkpointer: Some(checkpointer),
                stop,
                shared: None,
            },
            integrity,
        ))
    }

    /// Starts the store thread on PostgreSQL at `url`: it connects and
    /// migrates the schema first (the synchronous client keeps off the
    /// async runtime).
    pub async fn open_postgres(
        url: &str,
        instance: u64,
        max_batch: usize,
        events: tmpsc::UnboundedSender<StoreEvent>,
        metrics: Arc<Metrics>,
    ) -> Result<(Store, StoreThreads), StoreError> {
        let (tx, rx) = mpsc::channel();
        let (opened_tx, opened) = oneshot::channel();
        let url = url.to_owned();
        let writer = std::thread::Builder::new()
            .name("relay-store".into())
            .spawn(move || match pg::open(&url, instance) {
                Ok(db) => {
                    let _ = opened_tx.send(Ok(()));
                    batch::run(db, rx, events, max_batch, metrics)
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            })?;
        opened.await.map_err(|_| StoreError::Stopped)??;
        let stop = Arc::new(AtomicBool::new(false));
        Ok((
            Store { tx },
            StoreThreads {
                writer,
                checkpointer: None,
                stop,
                shared: None,
            },
        ))
    }

    /// Whether the database takes a write now: writes a little (64 KiB)
    /// and commits it, then deletes it.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Probe(tx))
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// Changes the database's size limit (none: as large as the disk).
    pub fn set_max_bytes(&self, max: Option<u64>) -> Result<(), StoreError> {
        self.tx
            .send(Request::SetMaxBytes(max))
            .map_err(|_| StoreError::Stopped)
    }

    /// Queues a job; its outputs arrive as a [`StoreEvent`].
    pub fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.tx
            .send(Request::Job(job))
            .map_err(|_| StoreError::Stopped)
    }

    /// Loads every document (at start-up, and after a failed batch).
    pub async fn load(&self) -> Result<Loaded, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Load(tx))
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// Deletes access log entries older than `sweep.log_before`; returns
    /// the documents untouched (no activity, no membership op) since
    /// `sweep.idle_before`, if set.
    pub async fn sweep(&self, sweep: Sweep) -> Result<Vec<DocId>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Sweep(sweep, tx))
            .map_err(|_| StoreError::Stopped)?;
        rx.await.map_err(|_| StoreError::Stopped)?
    }

    /// Finishes queued jobs, checkpoints and stops the writer thread.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl StoreThreads {
    /// Starts the threads that keep this instance in step with the others
    /// sharing the PostgreSQL database at `url` (see `shared`); they stop
    /// with the store's.
    pub fn start_shared(
        &mut self,
        url: &str,
        instance: u64,
        hub: tmpsc::Sender<crate::hub::HubEvent>,
    ) -> std::io::Result<Peer> {
        let (peer, threads) = shared::start(url, instance, hub)?;
        self.shared = Some(threads);
        Ok(peer)
    }
}

/// Erases `doc` from the database at `db` with the relay stopped (after a
/// restore from a backup older than its deletion, or on an operator's
/// decision): every row of it goes, a tombstone without an owner's op stays
/// (members are told the relay deleted it, and keep their copies), and the
/// space is reclaimed. Returns whether the database held anything of it.
pub fn erase_offline(db: &Path, doc: DocId) -> Result<bool, StoreError> {
    if !db.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no database at {}", db.display()),
        )));
    }
    let mut conn = schema::open_writer(db, crate::config::Synchronous::Full)?;
    let tx = conn.transaction()?;
    let key = &doc.as_bytes()[..];
    let held: i64 = tx.query_row(
        "SELECT (SELECT count(*) FROM membership_ops WHERE doc = ?1)
              + (SELECT count(*) FROM envelopes WHERE doc = ?1)
              + (SELECT count(*) FROM access_log WHERE doc = ?1)",
        [key],
        |r| r.get(0),
    )?;
    let tombstoned: bool = tx.query_row(
        "SELECT count(*) FROM tombstones WHERE doc = ?1",
        [key],
        |r| Ok(r.get::<_, i64>(0)? > 0),
    )?;
    if held == 0 && tombstoned {
        return Ok(false);
    }
    let tombstone = starling_protocol::relay::Tombstone {
        at: starling_protocol::now_ms(),
        op: None,
    };
    batch::erase(&tx, doc, &tombstone)?;
    tx.commit()?;
    schema::reclaim(&conn)?;
    Ok(held > 0)
}

/// Copies the SQLite relay database at `db` (the relay stopped) into the
/// empty PostgreSQL database at `url`, in one transaction; a relay then
/// started with `database_url` serves the same documents under the same
/// key (`relay.key` stays in the data directory), so clients notice
/// nothing.
pub fn migrate_to_postgres(db: &Path, url: &str) -> Result<pg::Imported, StoreError> {
    if !db.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no database at {}", db.display()),
        )));
    }
    // Brought to the newest schema first, as the relay would.
    let src = schema::open_writer(db, crate::config::Synchronous::Full)?;
    pg::import_sqlite(&src, url)
}

/// [`erase_offline`] on the PostgreSQL database at `url`.
pub fn erase_offline_postgres(url: &str, doc: DocId) -> Result<bool, StoreError> {
    pg::erase_offline(url, doc)
}

/// Takes a consistent online backup of the database at `db` into `dest`
/// (which must not exist) with SQLite's backup API. Safe while the relay
/// serves: the copy is one read transaction, and WAL readers do not block
/// the writer.
pub fn backup(db: &Path, dest: &Path) -> Result<(), StoreError> {
    use rusqlite::backup::{Backup, StepResult};
    if !db.exists() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no database at {}", db.display()),
        )));
    }
    // The copy is as private as the database.
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(dest).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} already exists", dest.display())
        } else {
            format!("cannot create {}: {e}", dest.display())
        };
        StoreError::Io(std::io::Error::new(e.kind(), what))
    })?;
    let src = schema::open_reader(db)?;
    let mut dst = rusqlite::Connection::open(dest)?;
    {
        let b = Backup::new(&src, &mut dst)?;
        loop {
            match b.step(-1)? {
                StepResult::Done => break,
                StepResult::More => continue,
                StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}
