//! A locked store: encrypted at rest under a passphrase, opened only with
//! it, and unlocked for good without losing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use starling_client::locked::{self, forget_passphrase, set_passphrase};
use starling_client::{Client, ClientError, RelayAddr};
use zeroize::Zeroizing;

const PASS: &str = "correct horse battery staple";

/// Every file under `home`, read whole.
fn files(home: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(home).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn assert_nowhere(home: &Path, needles: &[&[u8]]) {
    for (name, bytes) in files(home) {
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == *needle),
                "{name} holds {:?} in the clear",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

fn edit(client: &Client, doc: &str, key: &str) {
    let mut d = automerge::Automerge::load(&client.document(doc).unwrap()).unwrap();
    let mut actor = client.identity().unwrap().device.as_bytes().to_vec();
    actor.extend([1; 8]);
    d.set_actor(automerge::ActorId::from(actor));
    let heads = d.get_heads();
    let mut tx = d.transaction();
    tx.put(automerge::ROOT, key, "in the journal").unwrap();
    tx.commit();
    let changes: Vec<Vec<u8>> = d
        .get_changes(&heads)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    client.commit(doc, &changes).unwrap();
}

/// One test, in order: the passphrase is process-wide.
#[test]
fn a_locked_store_keeps_nothing_in_the_clear_and_opens_only_with_its_passphrase() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join(starling_client::STORE_FILE);
    let client = Client::open(home.path()).unwrap();
    client.init("PLANTED-NAME-7d1f").unwrap();
    let (seed, _) = client.store().identity().unwrap().unwrap();
    let mut actor = client.identity().unwrap().device.as_bytes().to_vec();
    actor.extend([0; 8]);
    let mut doc = automerge::Automerge::new().with_actor(automerge::ActorId::from(actor));
    let mut tx = doc.transaction();
    tx.put(
        automerge::ROOT,
        "PLANTED-TEXT-3b9c",
        "Slept badly; PLANTED-NOTE-55aa",
    )
    .unwrap();
    tx.commit();
    let relay = RelayAddr::parse("127.0.0.1:9").unwrap();
    let id = client
        .create(&relay, "PLANTED-TITLE-e0e0", "client", &[doc.save()])
        .unwrap()
        .to_string();
    drop(client);
    let planted: [&[u8]; 4] = [
        b"PLANTED-NAME-7d1f",
        b"PLANTED-TEXT-3b9c",
        b"PLANTED-NOTE-55aa",
        b"PLANTED-TITLE-e0e0",
    ];
    // The plain store does hold them: the scan can find what it looks for.
    for needle in planted {
        assert!(
            files(home.path())
                .iter()
                .any(|(_, b)| b.windows(needle.len()).any(|w| w == needle)),
            "{} not found before locking",
            String::from_utf8_lossy(needle)
        );
    }

    assert!(matches!(
        locked::lock(&path, "short"),
        Err(ClientError::WeakPassphrase(_))
    ));
    assert!(!locked::is_locked(&path));
    locked::lock(&path, PASS).unwrap();
    assert!(locked::is_locked(&path));
    assert!(matches!(
        locked::lock(&path, PASS),
        Err(ClientError::AlreadyLocked)
    ));
    let mut needles = planted.to_vec();
    needles.push(&seed);
    assert_nowhere(home.path(), &needles);

    // No passphrase, or a wrong one: refused, and the files stay as they were.
    forget_passphrase();
    if std::env::var_os(locked::PASSPHRASE_ENV).is_none() {
        assert!(matches!(
            Client::open(home.path()),
            Err(ClientError::Locked)
        ));
    }
    let before = files(home.path());
    set_passphrase(Zeroizing::new("not the passphrase".into()));
    assert!(matches!(
        Client::open(home.path()),
        Err(ClientError::WrongPassphrase)
    ));
    assert_eq!(files(home.path()), before);

    // The right one opens it; what is written now is encrypted too (the
    // write-ahead log included).
    set_passphrase(Zeroizing::new(PASS.into()));
    let client = Client::open(home.path()).unwrap();
    assert_eq!(client.identity().unwrap().name, "PLANTED-NAME-7d1f");
    edit(&client, &id, "PLANTED-LATER-9c9c");
    needles.push(b"PLANTED-LATER-9c9c");
    assert_nowhere(home.path(), &needles);
    // Unlocking needs the store to itself.
    assert!(matches!(
        locked::unlock(&path, PASS),
        Err(ClientError::StoreInUse)
    ));
    drop(client);

    assert!(matches!(
        locked::unlock(&path, "not the passphrase"),
        Err(ClientError::WrongPassphrase)
    ));
    assert!(locked::is_locked(&path));
    locked::unlock(&path, PASS).unwrap();
    assert!(!locked::is_locked(&path));
    assert!(matches!(
        locked::unlock(&path, PASS),
        Err(ClientError::NotLocked)
    ));
    forget_passphrase();
    // What an interrupted lock or unlock would leave (a copy in the clear)
    // is gone at the next open.
    let leftover = home.path().join("starling.db.rewrite");
    std::fs::write(&leftover, b"PLANTED-LEFTOVER").unwrap();
    let client = Client::open(home.path()).unwrap();
    assert!(!leftover.exists(), "a leftover copy survived an open");
    assert_eq!(client.identity().unwrap().name, "PLANTED-NAME-7d1f");
    let doc = automerge::Automerge::load(&client.document(&id).unwrap()).unwrap();
    for key in ["PLANTED-TEXT-3b9c", "PLANTED-LATER-9c9c"] {
        assert!(
            doc.get(automerge::ROOT, key).unwrap().is_some(),
            "{key} lost"
        );
    }
    assert_eq!(client.docs().unwrap()[0].title, "PLANTED-TITLE-e0e0");
}
