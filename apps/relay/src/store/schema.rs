//! Opening the database and migrating its schema.
//!
//! The schema version lives in SQLite's `user_version`; each entry of
//! [`MIGRATIONS`] moves it up by one inside a transaction. A database newer
//! than this relay is refused rather than misread.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use crate::config::Synchronous;

/// Schema migrations; entry `i` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // v1: the membership log and the envelopes of every document. An
    // envelope row is kept forever (dedupe); compaction nulls its bytes.
    "CREATE TABLE membership_ops (
         doc BLOB NOT NULL,
         idx INTEGER NOT NULL,
         op BLOB NOT NULL,
         PRIMARY KEY (doc, idx)
     ) WITHOUT ROWID;
     CREATE TABLE envelopes (
         doc BLOB NOT NULL,
         doc_seq INTEGER NOT NULL,
         author BLOB NOT NULL,
         author_seq INTEGER NOT NULL,
         hash BLOB NOT NULL,
         bytes BLOB,
         PRIMARY KEY (doc, doc_seq),
         UNIQUE (doc, author, author_seq)
     );",
    // v2: the relay's signed stamp of when it appended each membership op
    // (72 bytes: time u64be || signature); members judge invite expiry by
    // it. Ops stored before have none.
    "ALTER TABLE membership_ops ADD COLUMN stamp BLOB;",
    // v3: where the relay writes a little to learn whether the disk takes
    // writes again after a fault; empty between probes.
    "CREATE TABLE probe (bytes BLOB NOT NULL);",
    // v4: what is kept of a deleted document: when, and the owner's signed
    // delete op (its log index, the op, the relay's stamp) that members
    // verify before erasing their copies; no op for a retention deletion.
    "CREATE TABLE tombstones (
         doc BLOB PRIMARY KEY,
         at INTEGER NOT NULL,
         idx INTEGER,
         op BLOB,
         stamp BLOB
     ) WITHOUT ROWID;",
    // v5: the access log: per document, device, kind (0 publish, 1 fetch,
    // 2 membership) and hour, how many and the last time; deleted with its
    // document, and after the retention period.
    "CREATE TABLE access_log (
         doc BLOB NOT NULL,
         device BLOB NOT NULL,
         kind INTEGER NOT NULL,
         hour INTEGER NOT NULL,
         count INTEGER NOT NULL,
         last_at INTEGER NOT NULL,
         PRIMARY KEY (doc, device, kind, hour)
     ) WITHOUT ROWID;
     CREATE INDEX access_log_hour ON access_log (hour);",
];

/// The schema version this relay writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Opens (creating if needed) the relay database for writing, in WAL mode,
/// migrated to [`SCHEMA_VERSION`].
pub(crate) fn open_writer(path: &Path, sync: Synchronous) -> Result<Connection, StoreError> {
    create_private(path)?;
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Schema(format!(
            "journal mode {mode}, wanted wal"
        )));
    }
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    // Checkpoints run on their own thread, off the commit path.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Deleted rows are overwritten with zeros, so an erased document
    // leaves no bytes in free space; a new database frees pages to the
    // file system on demand (see `reclaim`).
    conn.pragma_update(None, "secure_delete", true)?;
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// After an erasure: gives the freed pages back to the file system and
/// empties the write-ahead log (whose old frames may still hold the erased
/// rows). A database made before incremental vacuum is rebuilt once by a
/// full `VACUUM`, which converts it.
pub(crate) fn reclaim(conn: &Connection) -> Result<(), StoreError> {
    let mode: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))?;
    if mode == 2 {
        conn.execute_batch("PRAGMA incremental_vacuum;")?;
    } else {
        tracing::info!("rebuilding the database once (VACUUM) to reclaim erased space");
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.execute_batch("VACUUM;")?;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Creates the database file, readable by its owner only, if it is not
/// there: SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Limits the database to `max` bytes (none: the disk's size). SQLite
/// refuses to grow it further with `SQLITE_FULL`; a limit below its size
/// stops it where it is.
pub(crate) fn set_max_bytes(conn: &Connection, max: Option<u64>) -> Result<(), StoreError> {
    let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    // SQLite's own ceiling when there is no limit.
    let pages: i64 = max.map_or(0xFFFF_FFFE, |m| {
        (m / page.max(1) as u64).clamp(1, 0xFFFF_FFFE) as i64
    });
    let set: i64 = conn.pragma_update_and_check(None, "max_page_count", pages, |r| r.get(0))?;
    match max {
        Some(bytes) => tracing::info!(
            max_db_bytes = bytes,
            pages = set,
            "database size limit applied"
        ),
        None => tracing::info!("database size limit: none"),
    }
    Ok(())
}

/// SQLite's `quick_check` of the whole file: what it found, empty when the
/// database is sound. Logged either way.
pub(crate) fn check_integrity(conn: &Connection, path: &Path) -> Result<Vec<String>, StoreError> {
    let start = std::time::Instant::now();
    let mut q = conn.prepare("PRAGMA quick_check(20)")?;
    let found: Vec<String> = q
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?
        .into_iter()
        .filter(|l| l != "ok")
        .collect();
    let ms = start.elapsed().as_millis() as u64;
    if found.is_empty() {
        tracing::info!(db = %path.display(), ms, "database integrity check: ok");
    } else {
        tracing::error!(
            db = %path.display(),
            ms,
            problems = found.len(),
            first = %found[0],
            "database integrity check found damage; documents whose rows do not read are refused. Stop the relay and restore {} from a backup (starling-relay backup)",
            path.display()
        );
        for f in &found {
            tracing::error!(db = %path.display(), "integrity: {f}");
        }
    }
    Ok(found)
}

/// Opens the database read-only (backups, checkpoints, inspection).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "database schema v{version} is newer than this relay (v{SCHEMA_VERSION}); upgrade the relay"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "migrated relay database");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.db");
        drop(open_writer(&p, Synchronous::Full).unwrap());
        let c = open_writer(&p, Synchronous::Full).unwrap();
        let v: u32 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        assert!(matches!(
            open_writer(&p, Synchronous::Full),
            Err(StoreError::Schema(_))
        ));
    }
}
