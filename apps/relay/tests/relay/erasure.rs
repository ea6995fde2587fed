//! An owner's deletion erases the document from the relay's files; the
//! tombstone refuses everything after.

use starling_protocol::membership::{OpBody, Role};
use starling_protocol::session::SessionEvent;
use starling_protocol::wire::{ErrorCode, Message};

use crate::util::*;

/// Which of the relay's files hold any of `needles`.
fn holding(dir: &std::path::Path, needles: &[Vec<u8>]) -> Vec<String> {
    let mut hits = Vec::new();
    for name in ["relay.db", "relay.db-wal", "relay.db-shm"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_slice()) {
                hits.push(name.to_owned());
                break;
            }
        }
    }
    hits
}

/// Bytes of the database and its write-ahead log.
fn size(dir: &std::path::Path) -> u64 {
    ["relay.db", "relay.db-wal"]
        .iter()
        .filter_map(|n| std::fs::metadata(dir.join(n)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn a_deleted_document_leaves_no_byte_in_the_relays_files() {
    // A fixed origin: the owner's session signs it again after the restart.
    let (dir, relay) = start_sqlite_relay_with(|c| c.origin = Some("ws://relay.test".into())).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Editor)
        .await;
    // A second document, which must be untouched.
    let other = owner.create_doc().await;
    owner.publish(other, b"the other journal").await;
    let mut needles = Vec::new();
    for i in 0..40u32 {
        let payload = format!("note {i}: {}", "the client scored work 6. ".repeat(40));
        let out = owner
            .session
            .publish(doc, payload.as_bytes(), &mut owner.rng)
            .unwrap();
        for m in &out.send {
            if let Message::Publish { envelope } = m {
                // The tail of each envelope: its ciphertext and signature.
                let b = envelope.as_bytes();
                needles.push(b[b.len() - 96..].to_vec());
            }
        }
        owner.apply(out).await;
        owner
            .until(|e| matches!(e, SessionEvent::Acked { .. }))
            .await;
    }
    // Every op of the log so far, by its signature (the last 64 bytes).
    for op in owner.session.persisted(&doc).unwrap().ops {
        let b = op.to_bytes();
        needles.push(b[b.len() - 64..].to_vec());
    }
    owner.sync(doc).await;
    assert!(
        !holding(dir.path(), &needles).is_empty(),
        "the scan finds what is there"
    );
    let before = size(dir.path());

    // The worker, subscribed, is told; a non-owner's delete is refused first.
    let mut worker = Client::connect(&relay, key(2)).await;
    let out = worker.session.open_doc(doc);
    worker.apply(out).await;
    worker
        .until(|e| matches!(e, SessionEvent::CaughtUp { doc: d } if *d == doc))
        .await;
    let state = worker.session.membership(&doc).unwrap().clone();
    let forged = state
        .sign_op(&key(2), now_ms(), OpBody::DeleteDocument)
        .unwrap();
    worker
        .raw
        .send(&Message::MembershipPublish { doc, op: forged })
        .await;
    let ev = worker
        .until(|e| matches!(e, SessionEvent::RelayError { .. }))
        .await;
    assert!(
        matches!(
            ev,
            SessionEvent::RelayError {
                code: ErrorCode::BadMembership,
                ..
            }
        ),
        "{ev:?}"
    );

    let out = owner.session.delete_doc(now_ms(), doc).unwrap();
    owner.apply(out).await;
    let ev = owner
        .until(|e| matches!(e, SessionEvent::Deleted { .. }))
        .await;
    assert!(
        matches!(ev, SessionEvent::Deleted { doc: d, by } if d == doc && by == key(1).device_id())
    );
    let ev = worker
        .until(|e| matches!(e, SessionEvent::Deleted { .. }))
        .await;
    assert!(matches!(ev, SessionEvent::Deleted { doc: d, .. } if d == doc));
    // The erasure is committed before anyone is told: nothing of it is left
    // in the database, its log or its free pages, and the file shrank.
    assert_eq!(holding(dir.path(), &needles), Vec::<String>::new());
    let after = size(dir.path());
    assert!(
        after * 2 < before,
        "the space is reclaimed: {before} -> {after} bytes"
    );

    // The tombstone refuses a new write, and says why, across a restart.
    let e = seal(
        doc,
        &key(1),
        1,
        starling_protocol::EnvelopeHash::ZERO,
        b"again",
    );
    let mut raw = Raw::logged_in(&relay, &key(1)).await;
    raw.send(&Message::Publish {
        envelope: e.clone(),
    })
    .await;
    assert!(matches!(raw.recv().await, Some(Message::Deleted { doc: d, .. }) if d == doc));
    relay.shutdown().await;
    assert_eq!(holding(dir.path(), &needles), Vec::<String>::new());
    let mut config = starling_relay::RelayConfig::for_data_dir(dir.path());
    config.origin = Some("ws://relay.test".into());
    let relay = starling_relay::start(config).await.unwrap();
    let mut raw = Raw::logged_in(&relay, &key(1)).await;
    raw.send(&Message::Publish { envelope: e }).await;
    assert!(matches!(raw.recv().await, Some(Message::Deleted { doc: d, .. }) if d == doc));
    // The other document is served as before.
    let mut owner = Client::reconnect(owner.session, &relay.url()).await;
    owner.sync(other).await;
    owner.publish(other, b"still here").await;
}

#[tokio::test]
async fn a_deletion_undone_by_a_restored_backup_is_erased_again_offline() {
    let origin = "ws://relay.test";
    let (dir, relay) = start_sqlite_relay_with(|c| c.origin = Some(origin.into())).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    let out = owner
        .session
        .publish(doc, b"PLANTED-BACKUP-TEXT", &mut owner.rng)
        .unwrap();
    let mut needles = Vec::new();
    for m in &out.send {
        if let Message::Publish { envelope } = m {
            let b = envelope.as_bytes();
            needles.push(b[b.len() - 96..].to_vec());
        }
    }
    owner.apply(out).await;
    owner
        .until(|e| matches!(e, SessionEvent::Acked { .. }))
        .await;
    let copy = dir.path().join("before.db");
    starling_relay::backup(relay.db_path(), &copy).unwrap();
    let out = owner.session.delete_doc(now_ms(), doc).unwrap();
    owner.apply(out).await;
    owner
        .until(|e| matches!(e, SessionEvent::Deleted { .. }))
        .await;
    relay.shutdown().await;

    // The backup comes back, and the document with it.
    let db = dir.path().join("relay.db");
    std::fs::copy(&copy, &db).unwrap();
    std::fs::remove_file(&copy).unwrap();
    for side in ["relay.db-wal", "relay.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(side));
    }
    assert!(!holding(dir.path(), &needles).is_empty());

    // The operator erases it again, the relay stopped.
    let bin = env!("CARGO_BIN_EXE_starling-relay");
    let out = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["erase", &doc.to_string()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Erased"), "{said}");
    assert_eq!(holding(dir.path(), &needles), Vec::<String>::new());
    // Again: nothing left to erase, and it says so.
    let out = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["erase", &doc.to_string()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("already erased"));

    let mut config = starling_relay::RelayConfig::for_data_dir(dir.path());
    config.origin = Some(origin.into());
    let relay = starling_relay::start(config).await.unwrap();
    let mut raw = Raw::logged_in(&relay, &key(1)).await;
    raw.send(&Message::Subscribe {
        docs: vec![starling_protocol::wire::DocCursor { doc, cursor: 0 }],
    })
    .await;
    let (code, _, message) = raw.recv_error().await;
    assert_eq!(code, ErrorCode::Deleted);
    assert!(message.contains("operator"), "{message}");
}
