//! The store: identity, edits with their outbox entry, crash-safe compaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::transaction::Transactable;
use starling_client::{Client, ClientError, RelayAddr, decode_batch, encode_batch};

fn doc_with(actor: &[u8], key: &str) -> automerge::Automerge {
    let mut doc = automerge::Automerge::new().with_actor(automerge::ActorId::from(actor.to_vec()));
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, key, 1).unwrap();
    tx.commit();
    doc
}

#[test]
fn identity_is_created_once_and_the_store_file_is_private() {
    let home = tempfile::tempdir().unwrap();
    let client = Client::open(home.path()).unwrap();
    assert!(matches!(client.identity(), Err(ClientError::NoIdentity)));
    let id = client.init("Sam").unwrap();
    assert_eq!(client.identity().unwrap(), id);
    assert!(matches!(
        client.init("Sam"),
        Err(ClientError::IdentityExists(_))
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(client.store().path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the store holds the device key: owner-only"
        );
    }
    drop(client);
    assert_eq!(Client::open(home.path()).unwrap().identity().unwrap(), id);
}

#[test]
fn a_commit_stores_the_change_and_its_outbox_entry_together_and_compaction_keeps_later_chunks() {
    let home = tempfile::tempdir().unwrap();
    let client = Client::open(home.path()).unwrap();
    let me = client.init("Sam").unwrap();
    let mut actor = me.device.as_bytes().to_vec();
    actor.extend([0; 8]);
    let mut doc = doc_with(&actor, "a");
    let relay = RelayAddr::parse("127.0.0.1:9").unwrap();
    let id = client
        .create(&relay, "Sam", "client", &[doc.save()])
        .unwrap()
        .to_string();
    let heads = doc.get_heads();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "b", 2).unwrap();
    tx.commit();
    let change: Vec<Vec<u8>> = doc
        .get_changes(&heads)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    client.commit(&id, &change).unwrap();
    assert_eq!(
        client.store().unsealed().unwrap().len(),
        2,
        "creation and edit both queued"
    );

    let (bytes, chunks, mark) = client.document_marked(&id).unwrap();
    assert_eq!(chunks, 2);
    // Another process commits after we read, before we compact.
    let heads = doc.get_heads();
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "c", 3).unwrap();
    tx.commit();
    let late: Vec<Vec<u8>> = doc
        .get_changes(&heads)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    client.commit(&id, &late).unwrap();
    let snapshot = automerge::Automerge::load(&bytes).unwrap().save();
    client.compact(&id, &snapshot, mark).unwrap();
    let reloaded = automerge::Automerge::load(&client.document(&id).unwrap()).unwrap();
    use automerge::ReadDoc;
    for key in ["a", "b", "c"] {
        assert!(
            reloaded.get(automerge::ROOT, key).unwrap().is_some(),
            "{key} survived compaction"
        );
    }
    assert_eq!(
        client.document_marked(&id).unwrap().1,
        2,
        "snapshot plus the late chunk"
    );
}

#[test]
fn batches_only_carry_changes_made_by_the_signing_device() {
    let home = tempfile::tempdir().unwrap();
    let client = Client::open(home.path()).unwrap();
    let me = client.init("Sam").unwrap();
    let mut mine = me.device.as_bytes().to_vec();
    mine.extend([1; 8]);
    let ours = doc_with(&mine, "x")
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect::<Vec<_>>();
    let theirs = doc_with(&[9; 40], "y")
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect::<Vec<_>>();
    assert_eq!(
        decode_batch(&encode_batch(&ours), &me.device).unwrap(),
        ours
    );
    assert!(decode_batch(&encode_batch(&theirs), &me.device).is_err());
    let mixed = [ours.clone(), theirs].concat();
    assert!(
        decode_batch(&encode_batch(&mixed), &me.device).is_err(),
        "one foreign change spoils the batch"
    );
    assert!(decode_batch(b"not cbor", &me.device).is_err());
    assert!(
        decode_batch(
            &encode_batch(&[vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 3, 0]]),
            &me.device
        )
        .is_err()
    );
}

/// The store as release schema 1 wrote it, frozen here so migrations from
/// it stay tested whatever later schemas add.
const SCHEMA_1: &str = "
CREATE TABLE identity (id INTEGER PRIMARY KEY CHECK (id = 1), seed BLOB NOT NULL,
    name TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE docs (doc TEXT PRIMARY KEY, relay TEXT NOT NULL, title TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL, last_sync INTEGER);
CREATE TABLE doc_chunks (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL, bytes BLOB NOT NULL);
CREATE INDEX doc_chunks_doc ON doc_chunks (doc, id);
CREATE TABLE sync_state (doc TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE unsealed (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL, payload BLOB NOT NULL);
CREATE TABLE invites (doc TEXT NOT NULL, invite TEXT NOT NULL, name TEXT NOT NULL,
    perspective TEXT NOT NULL, PRIMARY KEY (doc, invite));
CREATE TABLE quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL, author TEXT NOT NULL,
    seq INTEGER NOT NULL, reason TEXT NOT NULL, payload BLOB NOT NULL, at INTEGER NOT NULL);
INSERT INTO identity (id, seed, name, created) VALUES (1, x'0101010101010101010101010101010101010101010101010101010101010101', 'Sam', 1);
INSERT INTO docs (doc, relay, title, created, last_sync) VALUES ('00112233445566778899aabbccddeeff', '127.0.0.1:7878', 'Sam', 1, 2);
PRAGMA user_version = 1;
";

#[test]
fn a_store_from_schema_1_migrates_in_place_and_keeps_its_identity_and_journals() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join(starling_client::STORE_FILE);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SCHEMA_1)
        .unwrap();
    let client = Client::open(home.path()).unwrap();
    assert_eq!(
        client.identity().unwrap().name,
        "Sam",
        "the identity survives"
    );
    let docs = client.docs().unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(
        (docs[0].title.as_str(), docs[0].last_sync),
        ("Sam", Some(2))
    );
    assert_eq!(docs[0].problem, None);
    let relay = RelayAddr::parse("127.0.0.1:7878").unwrap();
    assert_eq!(client.pinned_relay(&relay).unwrap(), None);
    assert!(client.pinned_relays().unwrap().is_empty());
    assert!(!client.forget_relay_key(&relay).unwrap());
    assert!(client.trusted_cas().unwrap().is_empty());
    client
        .set_sync_problem(&docs[0].doc, Some("not in sync"))
        .unwrap();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, starling_client::SCHEMA_VERSION);
    // Opened again: nothing to migrate, nothing lost.
    drop(client);
    let again = Client::open(home.path()).unwrap();
    assert_eq!(
        again.docs().unwrap()[0].problem.as_deref(),
        Some("not in sync")
    );
}
