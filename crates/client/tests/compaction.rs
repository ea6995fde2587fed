//! Compaction against a real relay on 127.0.0.1: a writer's snapshot lets
//! the relay drop what it covers; a document at its size limit becomes
//! writable again; a member refuses a snapshot that drops or forges a
//! change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ReadDoc};
use starling_client::{Client, RelayAddr, Role, SyncMode, SyncReport};
use tempfile::TempDir;

struct World {
    runtime: tokio::runtime::Runtime,
    relay: Option<starling_relay::RelayHandle>,
    addr: RelayAddr,
    root: TempDir,
}

impl World {
    fn new(limit: Option<u64>) -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let root = tempfile::tempdir().unwrap();
        let mut config = starling_relay::RelayConfig::for_data_dir(root.path().join("relay"));
        if let Some(l) = limit {
            config.limits.max_doc_bytes = l;
        }
        let relay = runtime.block_on(starling_relay::start(config)).unwrap();
        let addr = RelayAddr::parse(&relay.local_addr().to_string()).unwrap();
        World {
            runtime,
            relay: Some(relay),
            addr,
            root,
        }
    }

    fn person(&self, name: &str) -> Person {
        let client = Client::open(&self.root.path().join(name)).unwrap();
        let id = client.init(name).unwrap();
        let mut actor = id.device.as_bytes().to_vec();
        actor.extend(rand_suffix(name));
        Person {
            client,
            actor: ActorId::from(actor),
            doc: None,
        }
    }

    fn sync(&self, p: &Person) -> SyncReport {
        self.runtime
            .block_on(p.client.sync(
                &self.addr,
                SyncMode::Once {
                    timeout: Duration::from_secs(20),
                },
                std::future::pending(),
                |_| {},
            ))
            .unwrap()
    }

    /// `(envelope rows, rows whose bytes are kept, kept bytes)` of the relay.
    fn stored(&self) -> (i64, i64, i64) {
        let db = rusqlite::Connection::open(self.relay.as_ref().unwrap().db_path()).unwrap();
        db.query_row(
            "SELECT count(*), count(bytes), coalesce(sum(length(bytes)), 0) FROM envelopes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(r) = self.relay.take() {
            self.runtime.block_on(r.shutdown());
        }
    }
}

fn rand_suffix(name: &str) -> [u8; 8] {
    let mut s = [0u8; 8];
    for (i, b) in name.bytes().enumerate().take(8) {
        s[i] = b;
    }
    s
}

struct Person {
    client: Client,
    actor: ActorId,
    doc: Option<String>,
}

impl Person {
    fn create(&mut self, w: &World) -> String {
        let mut am = Automerge::new().with_actor(self.actor.clone());
        let mut tx = am.transaction();
        tx.put(automerge::ROOT, "title", "a journal").unwrap();
        tx.commit();
        let changes: Vec<Vec<u8>> = am
            .get_changes(&[])
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        let doc = self
            .client
            .create(&w.addr, "Sam", "client", &changes)
            .unwrap()
            .to_string();
        self.doc = Some(doc.clone());
        doc
    }

    fn doc(&self) -> String {
        self.doc.clone().unwrap()
    }

    fn load(&self) -> Automerge {
        Automerge::load(&self.client.document(&self.doc()).unwrap())
            .unwrap()
            .with_actor(self.actor.clone())
    }

    /// Sets `key` to `value` as one stored, queued local edit.
    fn edit(&self, key: &str, value: &str) {
        let mut am = self.load();
        let before = am.get_heads();
        let mut tx = am.transaction();
        tx.put(automerge::ROOT, key, value).unwrap();
        tx.commit();
        let changes: Vec<Vec<u8>> = am
            .get_changes(&before)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        self.client.commit(&self.doc(), &changes).unwrap();
    }

    fn get(&self, key: &str) -> Option<String> {
        self.load()
            .get(automerge::ROOT, key)
            .unwrap()
            .map(|(v, _)| v.as_str().unwrap_or_default().to_owned())
    }
}

/// Sam (owner) and Alex (editor) sharing one document.
fn pair(w: &World) -> (Person, Person) {
    let mut sam = w.person("sam");
    let mut alex = w.person("alex");
    let doc = sam.create(w);
    w.sync(&sam);
    let link = sam
        .client
        .share(&doc, Role::Editor, "worker", "Alex", 3_600_000)
        .unwrap();
    w.sync(&sam);
    alex.client.join(&link).unwrap();
    w.sync(&alex);
    w.sync(&sam);
    alex.doc = Some(doc);
    (sam, alex)
}

#[test]
fn a_writers_snapshot_lets_the_relay_drop_the_history_and_members_converge() {
    let w = World::new(None);
    let (sam, alex) = pair(&w);
    sam.client.set_snapshot_after(8 * 1024);
    for i in 0..60 {
        sam.edit(&format!("note-{i}"), &"x".repeat(300));
        if i % 10 == 9 {
            w.sync(&sam);
        }
    }
    w.sync(&sam);
    let (rows, kept, _) = w.stored();
    assert!(
        kept < rows / 3,
        "the relay kept {kept} of {rows} envelopes after a snapshot"
    );
    let report = w.sync(&alex);
    assert_eq!((report.quarantined, report.tampering), (0, 0));
    assert_eq!(
        alex.get("note-59").as_deref(),
        Some("x".repeat(300).as_str())
    );
    assert_eq!(alex.load().get_heads(), sam.load().get_heads());

    // A newcomer gets the snapshot and what followed, nothing dropped.
    let mut carer = w.person("carer");
    let link = sam
        .client
        .share(&sam.doc(), Role::Viewer, "carer", "Jo", 3_600_000)
        .unwrap();
    w.sync(&sam);
    carer.client.join(&link).unwrap();
    w.sync(&carer);
    carer.doc = Some(sam.doc());
    assert_eq!(carer.load().get_heads(), sam.load().get_heads());
}

#[test]
fn a_document_at_its_size_limit_becomes_writable_again_after_compaction() {
    let w = World::new(Some(24 * 1024));
    let (sam, alex) = pair(&w);
    // Far past the limit: the relay refuses an edit, Sam's sync answers with
    // a snapshot in its place, and the document takes writes again.
    for i in 0..60 {
        sam.edit(&format!("note-{i}"), &"y".repeat(400));
        let report = w.sync(&sam);
        assert!(report.refused.is_empty(), "edit {i}: {:?}", report.refused);
    }
    let (_, _, kept) = w.stored();
    assert!(kept <= 24 * 1024, "kept {kept} bytes over a 24 KiB limit");
    w.sync(&alex);
    assert_eq!(
        alex.get("note-59").as_deref(),
        Some("y".repeat(400).as_str())
    );
    assert_eq!(alex.load().get_heads(), sam.load().get_heads());
}

/// Sam's document without the changes whose actor starts with `device`.
fn without(am: &Automerge, device: &[u8]) -> Vec<u8> {
    let mut out = Automerge::new();
    let keep: Vec<automerge::Change> = am
        .get_changes(&[])
        .into_iter()
        .filter(|c| !c.actor_id().to_bytes().starts_with(device))
        .collect();
    out.apply_changes(keep).unwrap();
    out.save()
}

#[test]
fn a_snapshot_that_drops_a_members_change_is_refused_by_that_member() {
    let w = World::new(None);
    let (sam, alex) = pair(&w);
    alex.edit("alex-says", "7");
    w.sync(&alex);
    w.sync(&sam);
    assert_eq!(sam.get("alex-says").as_deref(), Some("7"));
    // Sam publishes a snapshot that leaves Alex's change out, though its
    // covers claim Alex's envelope.
    sam.edit("sam-says", "4");
    let alex_device = &alex.actor.to_bytes()[..32];
    sam.client
        .set_next_snapshot(&sam.doc(), without(&sam.load(), alex_device));
    sam.client.set_snapshot_after(0);
    w.sync(&sam);
    let report = w.sync(&alex);
    assert_eq!(report.tampering, 1, "{report:?}");
    assert_eq!(report.quarantined, 1);
    let reasons: Vec<String> = alex.client.store().quarantine_reasons(&alex.doc()).unwrap();
    assert!(
        reasons.iter().any(|r| r.contains("leaves out a change")),
        "{reasons:?}"
    );
    // Nothing Alex holds is lost.
    assert_eq!(alex.get("alex-says").as_deref(), Some("7"));
}

#[test]
fn a_snapshot_that_forges_a_members_change_is_refused_by_that_member() {
    let w = World::new(None);
    let (sam, alex) = pair(&w);
    alex.edit("alex-says", "7");
    w.sync(&alex);
    w.sync(&sam);
    // Sam writes a change under Alex's actor into a snapshot.
    sam.edit("sam-says", "4");
    let mut forged = sam.load().with_actor(alex.actor.clone());
    let before = forged.get_heads();
    let mut tx = forged.transaction();
    tx.put(automerge::ROOT, "alex-says", "1").unwrap();
    tx.commit();
    assert_ne!(forged.get_heads(), before);
    sam.client.set_next_snapshot(&sam.doc(), forged.save());
    sam.client.set_snapshot_after(0);
    w.sync(&sam);
    let report = w.sync(&alex);
    assert_eq!(report.tampering, 1, "{report:?}");
    let reasons = alex.client.store().quarantine_reasons(&alex.doc()).unwrap();
    assert!(
        reasons.iter().any(|r| r.contains("never received")),
        "{reasons:?}"
    );
    assert_eq!(alex.get("alex-says").as_deref(), Some("7"));
}
