//! A locked store: the whole device store (identity seed, document keys,
//! journal text, caches, and the write-ahead log) encrypted at rest with
//! SQLCipher, under a key SQLCipher derives from a passphrase
//! (PBKDF2-HMAC-SHA512, its default 256,000 rounds, a random salt per file).
//!
//! Whether a store is locked is read from the file itself: a plain SQLite
//! file starts with its format string, an encrypted one with random bytes.
//! Locking and unlocking write a whole new file beside the old one and
//! rename it over the old one, so a crash at any instant leaves one whole
//! store, locked or not, never a half-encrypted one. Both need the store to
//! themselves: every open store holds a gate file (`starling.db.gate`)
//! shared, and they refuse unless they can hold it alone.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, params};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

/// The environment variable a script sets to the store's passphrase.
pub const PASSPHRASE_ENV: &str = "STARLING_PASSPHRASE";

/// The fewest characters a new passphrase may have.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// The passphrase this process was given (by a prompt, say), if any.
static PASSPHRASE: Mutex<Option<Zeroizing<String>>> = Mutex::new(None);

/// Gives this process the store's passphrase: every store it opens
/// afterwards uses it (the UI's sync, for one). Without it, the
/// [`PASSPHRASE_ENV`] variable is read.
pub fn set_passphrase(passphrase: Zeroizing<String>) {
    if let Ok(mut p) = PASSPHRASE.lock() {
        *p = Some(passphrase);
    }
}

/// Forgets the passphrase this process was given.
pub fn forget_passphrase() {
    if let Ok(mut p) = PASSPHRASE.lock() {
        *p = None;
    }
}

/// The passphrase this process was given, or the environment's.
pub fn passphrase() -> Option<Zeroizing<String>> {
    if let Some(p) = PASSPHRASE.lock().ok().and_then(|p| p.clone()) {
        return Some(p);
    }
    std::env::var(PASSPHRASE_ENV).ok().map(Zeroizing::new)
}

/// Whether the store file at `path` is locked (encrypted). A missing or
/// empty file is not.
pub fn is_locked(path: &Path) -> bool {
    let mut head = [0u8; 16];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) => &head != b"SQLite format 3\0",
        Err(_) => false,
    }
}

/// Keys `conn` (the store at `path`, which is locked) with the
/// passphrase, and checks that it opens the file.
pub(crate) fn unlock_connection(conn: &Connection) -> Result<()> {
    let passphrase = passphrase().ok_or(ClientError::Locked)?;
    key(conn, &passphrase)
}

fn key(conn: &Connection, passphrase: &str) -> Result<()> {
    // SQLCipher's own log would print its internals ("hmac check failed for
    // pgno=1") under our one-line message about a wrong passphrase.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    conn.pragma_update(None, "key", passphrase)?;
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            Err(ClientError::WrongPassphrase)
        }
        Err(e) => Err(e.into()),
    }
}

/// Encrypts the store at `path` under `passphrase`.
pub fn lock(path: &Path, passphrase: &str) -> Result<()> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(ClientError::WeakPassphrase(MIN_PASSPHRASE_CHARS));
    }
    if is_locked(path) {
        return Err(ClientError::AlreadyLocked);
    }
    rewrite(path, None, passphrase)
}

/// Decrypts the store at `path` (locked under `passphrase`) for good.
pub fn unlock(path: &Path, passphrase: &str) -> Result<()> {
    if !is_locked(path) {
        return Err(ClientError::NotLocked);
    }
    rewrite(path, Some(passphrase), "")
}

/// Writes the store at `path` (opened with `from`, if locked) whole into a
/// new file under `to` (empty: not encrypted), and renames it over `path`.
fn rewrite(path: &Path, from: Option<&str>, to: &str) -> Result<()> {
    if !path.exists() {
        return Err(ClientError::CorruptStore(format!(
            "there is no store at {}",
            path.display()
        )));
    }
    // Every open store holds the gate shared: taking it alone proves no
    // other process has the store open, and keeps any from opening it
    // (and from touching its journal or log by name) until the new file
    // is in place.
    let _gate = Gate::exclusive(path)?;
    let conn = Connection::open(path)?;
    if let Some(p) = from {
        key(&conn, p)?;
    }
    conn.busy_timeout(Duration::from_millis(500))?;
    let in_use = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ClientError::StoreInUse,
        _ => e.into(),
    };
    // Out of WAL mode (its log checkpointed into the file, with a
    // rollback journal on disk while it does), so the copy reads one file
    // and no log of the old store outlives it.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .map_err(in_use)?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(ClientError::StoreInUse);
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let next = sibling(path, "rewrite");
    remove_leftovers(path);
    let next_text = next
        .to_str()
        .ok_or_else(|| ClientError::CorruptStore("the store's path is not UTF-8".into()))?;
    conn.execute(
        "ATTACH DATABASE ?1 AS target KEY ?2",
        params![next_text, to],
    )?;
    let copied = conn
        .query_row("SELECT sqlcipher_export('target')", [], |_| Ok(()))
        .and_then(|()| conn.pragma_update(Some("target"), "user_version", version))
        .and_then(|()| conn.execute("DETACH DATABASE target", []).map(|_| ()));
    if let Err(e) = copied {
        let _ = conn.execute("DETACH DATABASE target", []);
        remove_leftovers(path);
        return Err(e.into());
    }
    let synced = std::fs::File::open(&next).and_then(|f| f.sync_all());
    if let Err(e) = synced {
        remove_leftovers(path);
        return Err(e.into());
    }
    crate::store::restrict(&next, 0o600);
    drop(conn);
    std::fs::rename(&next, path)?;
    // The rename is done: a failure to sync the folder is not worth
    // reporting the change as failed.
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// What an interrupted lock or unlock leaves beside the store: a copy
/// being written (in the clear, after an interrupted unlock) and its
/// journal. Removed by the next open and the next rewrite.
pub(crate) fn remove_leftovers(path: &Path) {
    let next = sibling(path, "rewrite");
    let _ = std::fs::remove_file(sibling(&next, "-journal"));
    let _ = std::fs::remove_file(&next);
}

/// The gate file beside the store (`starling.db.gate`): held shared by
/// every open store, alone by a lock or unlock.
#[derive(Debug)]
pub(crate) struct Gate {
    _file: std::fs::File,
}

impl Gate {
    fn file(path: &Path) -> Result<std::fs::File> {
        let gate = sibling(path, "gate");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&gate)?;
        crate::store::restrict(&gate, 0o600);
        Ok(file)
    }

    /// Shared, waiting up to 10 s for a lock or unlock to finish.
    pub(crate) fn shared(path: &Path) -> Result<Gate> {
        let file = Self::file(path)?;
        let until = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match file.try_lock_shared() {
                Ok(()) => return Ok(Gate { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(ClientError::StoreInUse),
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
    }

    /// Alone, or [`ClientError::StoreInUse`] at once.
    fn exclusive(path: &Path) -> Result<Gate> {
        let file = Self::file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Gate { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ClientError::StoreInUse),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// `path` with `suffix` appended (`starling.db` -> `starling.db.rewrite`;
/// SQLite names a journal with `-journal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    if !suffix.starts_with('-') {
        s.push(".");
    }
    s.push(suffix);
    PathBuf::from(s)
}
