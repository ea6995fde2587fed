//! The device's SQLite store: one file under the user's data directory.
//!
//! It holds the identity, each document's automerge state (a snapshot plus
//! change chunks), the sync state of each document (membership log, epoch
//! keys, chains, cursor, sealed outbox), local edits waiting to be sealed,
//! invites this device handed out, anything quarantined, and the key each
//! relay presented the first time this device met it (pinned, so a relay
//! that suddenly presents another key is refused).
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so two processes of one
//! device (a live session and a score typed in another terminal) serialize
//! their writes; readers never see half an edit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

/// Newest schema this build reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Schema migrations: entry `i` moves the store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    SCHEMA, SCHEMA_2, SCHEMA_3, SCHEMA_4, SCHEMA_5, SCHEMA_6, SCHEMA_7,
];
/// Schema 7: a person, not a device. `person` is the id of the person's
/// first device when this device is a later one (NULL: this device is its
/// own person); `recovery` the public id of the person's recovery invite,
/// which this device registers in every journal it is in. `device_joins`
/// holds the device links and recovery codes this device is redeeming:
/// the secret, until the relay has said where it is live.
const SCHEMA_7: &str = "
ALTER TABLE identity ADD COLUMN person TEXT;
ALTER TABLE identity ADD COLUMN recovery TEXT;
CREATE TABLE device_joins (
    invite TEXT PRIMARY KEY,
    relay TEXT NOT NULL,
    secret BLOB NOT NULL,
    kind TEXT NOT NULL,
    created INTEGER NOT NULL
);
";
/// Schema 6: what the application computed from a document (a summary, a
/// view), kept beside it and tagged with the stored chunks it was read from
/// (see [`Store::cached`]): a cache, rebuilt whenever the tag does not match
/// or the value does not decode, never trusted otherwise.
const SCHEMA_6: &str = "
CREATE TABLE doc_cache (
    doc TEXT NOT NULL,
    kind TEXT NOT NULL,
    tag TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (doc, kind)
);
";

/// Schema 5: why a journal did not sync last time, shown until a sync
/// catches it up.
const SCHEMA_5: &str = "ALTER TABLE docs ADD COLUMN problem TEXT;";

/// Tables added by schema 4: which automerge changes each applied envelope
/// carried (per actor, the highest change seq), so a member can tell when
/// someone's snapshot leaves out a change, or adds one nobody sent. Rows a
/// snapshot covers are folded into one per author.
const SCHEMA_4: &str = "
CREATE TABLE coverage (
    doc TEXT NOT NULL,
    author TEXT NOT NULL,
    seq INTEGER NOT NULL,
    clock BLOB NOT NULL,
    PRIMARY KEY (doc, author, seq)
);
";

/// Tables added by schema 3: certificate authorities this device trusts
/// for `wss://` relays, besides the built-in and platform roots.
const SCHEMA_3: &str = "
CREATE TABLE trusted_cas (
    fingerprint TEXT PRIMARY KEY,
    der BLOB NOT NULL,
    label TEXT NOT NULL,
    added INTEGER NOT NULL
);
";

/// Tables added by schema 2: relay keys pinned on first use.
const SCHEMA_2: &str = "
CREATE TABLE relays (
    relay TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    pinned INTEGER NOT NULL
);
";

const SCHEMA: &str = "
CREATE TABLE identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seed BLOB NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE docs (
    doc TEXT PRIMARY KEY,
    relay TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    last_sync INTEGER
);
CREATE TABLE doc_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX doc_chunks_doc ON doc_chunks (doc, id);
CREATE TABLE sync_state (
    doc TEXT PRIMARY KEY,
    state BLOB NOT NULL
);
CREATE TABLE unsealed (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE invites (
    doc TEXT NOT NULL,
    invite TEXT NOT NULL,
    name TEXT NOT NULL,
    perspective TEXT NOT NULL,
    PRIMARY KEY (doc, invite)
);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL,
    author TEXT NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    at INTEGER NOT NULL
);
";

/// A device join waiting for its relay: `(invite id, secret, kind)`.
pub type DeviceJoinRow = (String, Zeroizing<Vec<u8>>, String);

/// A document as listed on this device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocRow {
    /// Protocol document id (hex).
    pub doc: String,
    /// Relay address (`host:port`).
    pub relay: String,
    /// Title for people (the client's name).
    pub title: String,
    /// When it arrived on this device (unix ms).
    pub created: i64,
    /// Last completed sync (unix ms).
    pub last_sync: Option<i64>,
    /// Why the last sync could not catch this journal up, until one does.
    pub problem: Option<String>,
}

/// A document's content tag and what is cached for it (see
/// [`Store::cached_all`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// Protocol document id (hex).
    pub doc: String,
    /// The tag of its stored content; `None` before any arrived.
    pub content: Option<String>,
    /// The cached value and the content tag it was computed from.
    pub cached: Option<(String, Vec<u8>)>,
}

/// A certificate authority this device trusts for `wss://` relays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedCa {
    /// SHA-256 of the certificate (DER), hex.
    pub fingerprint: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Where it came from (the file it was read from).
    pub label: String,
    /// When it was added (unix ms).
    pub added: i64,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Held shared while the store is open (a lock or unlock waits for it).
    _gate: crate::locked::Gate,
}

impl Store {
    /// Open (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let fresh = !path.exists();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
            restrict(dir, 0o700);
        }
        let gate = crate::locked::Gate::shared(path)?;
        // No lock or unlock is under way: what one left behind goes.
        crate::locked::remove_leftovers(path);
        let conn = Connection::open(path)?;
        restrict(path, 0o600);
        if crate::locked::is_locked(path) {
            crate::locked::unlock_connection(&conn)?;
        }
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| ClientError::CorruptStore(e.to_string()))?;
        if version < 0 {
            return Err(ClientError::CorruptStore(format!(
                "schema version {version} is not one Starling writes"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(ClientError::NewerStore {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let store = Store {
            conn,
            path: path.to_owned(),
            _gate: gate,
        };
        if version == 0 {
            let has_tables: i64 = store
                .conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| ClientError::CorruptStore(e.to_string()))?;
            if has_tables > 0 && !fresh {
                return Err(ClientError::CorruptStore(
                    "the file has tables but no Starling schema version".into(),
                ));
            }
        }
        if version < SCHEMA_VERSION {
            store.write(|tx| {
                for sql in &MIGRATIONS[version as usize..] {
                    tx.execute_batch(sql)?;
                }
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                Ok(())
            })?;
        }
        Ok(store)
    }

    /// After an erasure: rebuilds the file without the freed pages and
    /// empties the write-ahead log, whose old frames may still hold what
    /// was erased. (Deleted rows are already zeroed: `secure_delete`.)
    pub fn reclaim(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.conn.execute_batch("VACUUM;")?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction; commit if it succeeds.
    pub fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Like [`Store::write`], for what may be lost on a power cut (a cache):
    /// committed without waiting for the disk (`synchronous = NORMAL`; the
    /// next durable commit syncs it too).
    pub fn write_lazily<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = self.write(f);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        result
    }

    /// The identity seed and display name, if any.
    pub fn identity(&self) -> Result<Option<(Vec<u8>, String)>> {
        Ok(self
            .conn
            .query_row("SELECT seed, name FROM identity WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// The person this device belongs to, if not itself, and the public
    /// id of the person's recovery invite, if known.
    pub fn person(&self) -> Result<(Option<String>, Option<String>)> {
        Ok(self
            .conn
            .query_row(
                "SELECT person, recovery FROM identity WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or_default())
    }

    /// The device links and recovery codes being redeemed through `relay`:
    /// `(invite id, secret, kind)`.
    pub fn device_joins(&self, relay: &str) -> Result<Vec<DeviceJoinRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT invite, secret, kind FROM device_joins WHERE relay = ?1")?;
        let rows = stmt.query_map([relay], |r| {
            Ok((r.get(0)?, Zeroizing::new(r.get(1)?), r.get(2)?))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every device join waiting: `(relay, kind)`.
    pub fn all_device_joins(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT relay, kind FROM device_joins ORDER BY created")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every document on this device, oldest first.
    pub fn docs(&self) -> Result<Vec<DocRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT doc, relay, title, created, last_sync, problem FROM docs ORDER BY created, doc",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DocRow {
                doc: r.get(0)?,
                relay: r.get(1)?,
                title: r.get(2)?,
                created: r.get(3)?,
                last_sync: r.get(4)?,
                problem: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The automerge chunks of a document, in order (concatenate to load),
    /// with their row ids.
    pub fn chunks(&self, doc: &str) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, bytes FROM doc_chunks WHERE doc = ?1 ORDER BY id")?;
        let rows = stmt.query_map([doc], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// What identifies a document's stored content: its last chunk's row id
    /// and how many chunks it has (`"id:count"`); `None` before its first
    /// content arrives. Any change to the chunks (a new one, compaction)
    /// changes it.
    pub fn content_tag(&self, doc: &str) -> Result<Option<String>> {
        let (last, count): (Option<i64>, i64) = self.conn.query_row(
            "SELECT max(id), count(*) FROM doc_chunks WHERE doc = ?1",
            [doc],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(last.map(|id| format!("{id}:{count}")))
    }

    /// For every document: its content tag (see [`Store::content_tag`]) and
    /// the `kind` value cached for it, if one is, with that value's tag. One
    /// query for a whole caseload.
    pub fn cached_all(&self, kind: &str) -> Result<Vec<CacheEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.doc,
                    (SELECT max(id) || ':' || count(*) FROM doc_chunks c WHERE c.doc = d.doc),
                    k.tag, k.value
             FROM docs d LEFT JOIN doc_cache k ON k.doc = d.doc AND k.kind = ?1",
        )?;
        let rows = stmt.query_map([kind], |r| {
            Ok(CacheEntry {
                doc: r.get(0)?,
                content: r.get(1)?,
                cached: match (r.get::<_, Option<String>>(2)?, r.get(3)?) {
                    (Some(tag), Some(value)) => Some((tag, value)),
                    _ => None,
                },
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The `kind` value cached for `doc`, if it was computed from the
    /// document as stored now.
    pub fn cached(&self, doc: &str, kind: &str) -> Result<Option<Vec<u8>>> {
        let Some(tag) = self.content_tag(doc)? else {
            return Ok(None);
        };
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM doc_cache WHERE doc = ?1 AND kind = ?2 AND tag = ?3",
                params![doc, kind, tag],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A document's stored sync state.
    pub fn sync_state(&self, doc: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT state FROM sync_state WHERE doc = ?1", [doc], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Local edits waiting to be sealed, oldest first: `(row id, doc, payload)`.
    pub fn unsealed(&self) -> Result<Vec<(i64, String, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, doc, payload FROM unsealed ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Invites this device handed out for `doc`: `(invite id, name, perspective)`.
    pub fn invites(&self, doc: &str) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT invite, name, perspective FROM invites WHERE doc = ?1")?;
        let rows = stmt.query_map([doc], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The key pinned for `relay` (`host:port`) and when it was pinned (unix ms).
    pub fn pinned_relay(&self, relay: &str) -> Result<Option<(String, i64)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT key, pinned FROM relays WHERE relay = ?1",
                [relay],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Every pinned relay key: `(relay, key, pinned at)`, by relay.
    pub fn pinned_relays(&self) -> Result<Vec<(String, String, i64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT relay, key, pinned FROM relays ORDER BY relay")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Certificate authorities this device trusts for `wss://` relays.
    pub fn trusted_cas(&self) -> Result<Vec<TrustedCa>> {
        let mut stmt = self.conn.prepare(
            "SELECT fingerprint, der, label, added FROM trusted_cas ORDER BY added, fingerprint",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TrustedCa {
                fingerprint: r.get(0)?,
                der: r.get(1)?,
                label: r.get(2)?,
                added: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// What `author`'s envelopes up to `seq` of `doc` carried, per actor
    /// (hex) the highest change seq, folded together; and the highest of
    /// `author`'s envelopes recorded (0: none).
    pub fn coverage(
        &self,
        doc: &str,
        author: &str,
        seq: u64,
    ) -> Result<(crate::compact::Clock, u64)> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, clock FROM coverage WHERE doc = ?1 AND author = ?2")?;
        let rows = stmt.query_map(params![doc, author], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut clock = crate::compact::Clock::new();
        let mut head = 0u64;
        for row in rows {
            let (s, bytes) = row?;
            let s = s.max(0) as u64;
            head = head.max(s);
            if s <= seq {
                crate::compact::fold(&mut clock, &crate::compact::decode_clock(&bytes)?);
            }
        }
        Ok((clock, head))
    }

    /// Why each quarantined payload of `doc` was set aside, oldest first.
    pub fn quarantine_reasons(&self, doc: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT reason FROM quarantine WHERE doc = ?1 ORDER BY id")?;
        let rows = stmt.query_map([doc], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// How many payloads of `doc` are quarantined.
    pub fn quarantined(&self, doc: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM quarantine WHERE doc = ?1",
            [doc],
            |r| r.get(0),
        )?)
    }
}

/// Rows written inside a transaction.
pub(crate) mod rows {
    use super::*;

    /// Pin `key` for `relay` unless a key is already pinned for it.
    pub fn pin_relay(
        tx: &rusqlite::Transaction<'_>,
        relay: &str,
        key: &str,
        now: i64,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT OR IGNORE INTO relays (relay, key, pinned) VALUES (?1, ?2, ?3)",
            params![relay, key, now],
        )?;
        Ok(())
    }

    /// Trust a certificate authority (DER) under `fingerprint`.
    pub fn trust_ca(
        tx: &rusqlite::Transaction<'_>,
        fingerprint: &str,
        der: &[u8],
        label: &str,
        now: i64,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO trusted_cas (fingerprint, der, label, added) VALUES (?1, ?2, ?3, ?4)",
            params![fingerprint, der, label, now],
        )?;
        Ok(())
    }

    /// Stop trusting the authorities whose fingerprint starts with `prefix`;
    /// how many there were.
    pub fn untrust_ca(tx: &rusqlite::Transaction<'_>, prefix: &str) -> rusqlite::Result<usize> {
        tx.execute(
            "DELETE FROM trusted_cas WHERE substr(fingerprint, 1, length(?1)) = ?1",
            [prefix],
        )
    }

    /// Forget the key pinned for `relay`; whether there was one.
    pub fn unpin_relay(tx: &rusqlite::Transaction<'_>, relay: &str) -> rusqlite::Result<bool> {
        Ok(tx.execute("DELETE FROM relays WHERE relay = ?1", [relay])? > 0)
    }

    /// Renames this device's person (the name it shows for itself).
    pub fn set_name(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<()> {
        tx.execute("UPDATE identity SET name = ?1 WHERE id = 1", [name])?;
        Ok(())
    }

    /// Names the person this device belongs to (`None`: itself).
    pub fn set_person(tx: &rusqlite::Transaction<'_>, person: Option<&str>) -> Result<()> {
        tx.execute("UPDATE identity SET person = ?1 WHERE id = 1", [person])?;
        Ok(())
    }

    /// Records the public id of the person's recovery invite.
    pub fn set_recovery(tx: &rusqlite::Transaction<'_>, invite: Option<&str>) -> Result<()> {
        tx.execute("UPDATE identity SET recovery = ?1 WHERE id = 1", [invite])?;
        Ok(())
    }

    /// Keeps a device link's or recovery code's secret until the relay has
    /// said where it is live.
    pub fn add_device_join(
        tx: &rusqlite::Transaction<'_>,
        invite: &str,
        relay: &str,
        secret: &[u8],
        kind: &str,
        now: i64,
    ) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO device_joins (invite, relay, secret, kind, created)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![invite, relay, secret, kind, now],
        )?;
        Ok(())
    }

    /// Forgets a device join (the relay answered).
    pub fn remove_device_join(tx: &rusqlite::Transaction<'_>, invite: &str) -> Result<()> {
        tx.execute("DELETE FROM device_joins WHERE invite = ?1", [invite])?;
        Ok(())
    }

    /// Forgets every device join (an attempt that failed, said so).
    pub fn clear_device_joins(tx: &rusqlite::Transaction<'_>) -> Result<()> {
        tx.execute("DELETE FROM device_joins", [])?;
        Ok(())
    }

    pub fn put_identity(
        tx: &rusqlite::Transaction<'_>,
        seed: &[u8],
        name: &str,
        now: i64,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO identity (id, seed, name, created) VALUES (1, ?1, ?2, ?3)",
            params![seed, name, now],
        )?;
        Ok(())
    }

    pub fn put_doc(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        relay: &str,
        title: &str,
        now: i64,
    ) -> Result<()> {
        tx.execute(
            "INSERT OR IGNORE INTO docs (doc, relay, title, created) VALUES (?1, ?2, ?3, ?4)",
            params![doc, relay, title, now],
        )?;
        Ok(())
    }

    pub fn set_relay(tx: &rusqlite::Transaction<'_>, doc: &str, relay: &str) -> Result<()> {
        tx.execute(
            "UPDATE docs SET relay = ?2 WHERE doc = ?1",
            params![doc, relay],
        )?;
        Ok(())
    }

    pub fn set_title(tx: &rusqlite::Transaction<'_>, doc: &str, title: &str) -> Result<()> {
        tx.execute(
            "UPDATE docs SET title = ?2 WHERE doc = ?1",
            params![doc, title],
        )?;
        Ok(())
    }

    /// Records what `author`'s envelope `seq` of `doc` carried.
    pub fn record_coverage(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        author: &str,
        seq: u64,
        clock: &[u8],
    ) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO coverage (doc, author, seq, clock) VALUES (?1, ?2, ?3, ?4)",
            params![doc, author, seq as i64, clock],
        )?;
        Ok(())
    }

    /// Forgets what `author`'s envelopes from `seq` on carried (they were
    /// withdrawn before the relay took them).
    pub fn drop_coverage_from(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        author: &str,
        seq: u64,
    ) -> Result<()> {
        tx.execute(
            "DELETE FROM coverage WHERE doc = ?1 AND author = ?2 AND seq >= ?3",
            params![doc, author, seq as i64],
        )?;
        Ok(())
    }

    /// Folds `author`'s rows up to `seq` into one at `seq` holding `clock`.
    pub fn fold_coverage(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        author: &str,
        seq: u64,
        clock: &[u8],
    ) -> Result<()> {
        tx.execute(
            "DELETE FROM coverage WHERE doc = ?1 AND author = ?2 AND seq <= ?3",
            params![doc, author, seq as i64],
        )?;
        record_coverage(tx, doc, author, seq, clock)
    }

    /// Caches `value` as `doc`'s `kind`, computed from its content as of
    /// `tag` (see [`Store::content_tag`]).
    pub fn put_cache(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        kind: &str,
        tag: &str,
        value: &[u8],
    ) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO doc_cache (doc, kind, tag, value) VALUES (?1, ?2, ?3, ?4)",
            params![doc, kind, tag, value],
        )?;
        Ok(())
    }

    pub fn forget(tx: &rusqlite::Transaction<'_>, doc: &str) -> Result<()> {
        for table in [
            "docs",
            "sync_state",
            "unsealed",
            "invites",
            "coverage",
            "doc_cache",
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE doc = ?1"), [doc])?;
        }
        Ok(())
    }

    /// Every row of `doc`: its content, keys, sync state, caches, set-aside
    /// payloads and invites ([`Store::reclaim`] then clears the freed
    /// space).
    pub fn erase(tx: &rusqlite::Transaction<'_>, doc: &str) -> Result<()> {
        for table in [
            "docs",
            "doc_chunks",
            "sync_state",
            "unsealed",
            "invites",
            "coverage",
            "doc_cache",
            "quarantine",
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE doc = ?1"), [doc])?;
        }
        Ok(())
    }

    pub fn synced(tx: &rusqlite::Transaction<'_>, doc: &str, now: i64) -> Result<()> {
        tx.execute(
            "UPDATE docs SET last_sync = ?2, problem = NULL WHERE doc = ?1",
            params![doc, now],
        )?;
        Ok(())
    }

    pub fn set_problem(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        problem: Option<&str>,
    ) -> Result<()> {
        tx.execute(
            "UPDATE docs SET problem = ?2 WHERE doc = ?1",
            params![doc, problem],
        )?;
        Ok(())
    }

    pub fn add_chunk(tx: &rusqlite::Transaction<'_>, doc: &str, bytes: &[u8]) -> Result<()> {
        tx.execute(
            "INSERT INTO doc_chunks (doc, bytes) VALUES (?1, ?2)",
            params![doc, bytes],
        )?;
        Ok(())
    }

    /// Replace the chunks of `doc` up to row `upto` with one snapshot that
    /// covers them, in this transaction. Chunks added after `upto` (by another
    /// process, meanwhile) stay, after the snapshot.
    pub fn compact(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        snapshot: &[u8],
        upto: i64,
    ) -> Result<()> {
        tx.execute(
            "DELETE FROM doc_chunks WHERE doc = ?1 AND id <= ?2",
            params![doc, upto],
        )?;
        tx.execute(
            "INSERT INTO doc_chunks (id, doc, bytes) VALUES (?1, ?2, ?3)",
            params![upto, doc, snapshot],
        )?;
        Ok(())
    }

    pub fn put_sync_state(tx: &rusqlite::Transaction<'_>, doc: &str, state: &[u8]) -> Result<()> {
        tx.execute(
            "INSERT INTO sync_state (doc, state) VALUES (?1, ?2)
             ON CONFLICT (doc) DO UPDATE SET state = excluded.state",
            params![doc, state],
        )?;
        Ok(())
    }

    pub fn queue_unsealed(tx: &rusqlite::Transaction<'_>, doc: &str, payload: &[u8]) -> Result<()> {
        tx.execute(
            "INSERT INTO unsealed (doc, payload) VALUES (?1, ?2)",
            params![doc, payload],
        )?;
        Ok(())
    }

    pub fn drop_unsealed(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<()> {
        tx.execute("DELETE FROM unsealed WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn put_invite(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        invite: &str,
        name: &str,
        perspective: &str,
    ) -> Result<()> {
        tx.execute(
            "INSERT OR REPLACE INTO invites (doc, invite, name, perspective) VALUES (?1, ?2, ?3, ?4)",
            params![doc, invite, name, perspective],
        )?;
        Ok(())
    }

    pub fn quarantine(
        tx: &rusqlite::Transaction<'_>,
        doc: &str,
        author: &str,
        seq: u64,
        reason: &str,
        payload: &[u8],
        now: i64,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO quarantine (doc, author, seq, reason, payload, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![doc, author, seq as i64, reason, payload, now],
        )?;
        Ok(())
    }
}

#[cfg(unix)]
pub(crate) fn restrict(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: a store on a filesystem without modes still works.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
pub(crate) fn restrict(_path: &Path, _mode: u32) {}
