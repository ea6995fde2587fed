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
//! themselves: they refuse while any other process has it open.

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
    let conn = Connection::open(path)?;
    if let Some(p) = from {
        key(&conn, p)?;
    }
    conn.busy_timeout(Duration::from_millis(500))?;
    // Leaving WAL mode needs every other connection closed: the proof that
    // no other process is using the store. Then hold it alone throughout.
    // (Its journal stays in memory: after the rename, a journal file of
    // the old store must never sit beside the new one.)
    let in_use = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ClientError::StoreInUse,
        _ => e.into(),
    };
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "MEMORY", |r| r.get(0))
        .map_err(in_use)?;
    if !mode.eq_ignore_ascii_case("memory") {
        return Err(ClientError::StoreInUse);
    }
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // A write takes the exclusive lock, kept until the connection closes.
    conn.pragma_update(None, "user_version", version)
        .map_err(in_use)?;
    let next = sibling(path, "rewrite");
    let _ = std::fs::remove_file(&next);
    let _ = std::fs::remove_file(sibling(&next, "journal"));
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
        let _ = std::fs::remove_file(&next);
        return Err(e.into());
    }
    std::fs::File::open(&next)?.sync_all()?;
    crate::store::restrict(&next, 0o600);
    std::fs::rename(&next, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    // Anyone who opened the old file meanwhile (waiting on our lock) finds
    // it refusing, rather than writing where nobody will read.
    let _ = conn.pragma_update(None, "user_version", -1);
    Ok(())
}

/// `path` with `.suffix` appended (`starling.db` -> `starling.db.rewrite`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}
