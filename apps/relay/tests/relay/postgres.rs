//! The relay on PostgreSQL: a throwaway cluster the tests start themselves
//! (`cluster`), and the stories the SQLite relay passes.

use std::path::Path;
use std::time::{Duration, Instant};

use starling_protocol::session::SessionEvent;
use starling_protocol::wire::{DocCursor, Message};

pub use crate::cluster::Cluster;
use crate::util::*;

impl Cluster {
    /// A new database, made off the async runtime.
    pub async fn database_async(&self) -> String {
        let port_admin = self.admin_url();
        tokio::task::spawn_blocking(move || Cluster::database_at(&port_admin))
            .await
            .unwrap()
    }
}

fn config(key_dir: &Path, url: &str) -> starling_relay::RelayConfig {
    let mut c = starling_relay::RelayConfig::for_data_dir(key_dir);
    c.origin = Some("ws://relay.test".into());
    c.database_url = Some(url.to_owned());
    c
}

#[tokio::test]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_relay_acknowledges_serves_and_keeps_everything_across_a_restart() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    crate::restart::resume_story(|| config(dir.path(), &url)).await;
    // Nothing of it went to a SQLite file.
    assert!(!dir.path().join("relay.db").exists());
    drop(cluster);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_an_erased_document_leaves_its_tombstone_and_the_access_log_counts() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = starling_relay::start(config(dir.path(), &url))
        .await
        .unwrap();
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    for i in 0..3u8 {
        owner.publish(doc, &[b'p', i]).await;
    }
    // The access log names the owner's publishes, as the relay signs it.
    let out = owner.session.request_access_log(doc);
    owner.apply(out).await;
    let SessionEvent::AccessLog { log, .. } = owner
        .until(|e| matches!(e, SessionEvent::AccessLog { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(log.stored.envelopes, 3);
    assert!(log.entries.iter().any(|e| e.device == key(1).device_id()));
    // Deleted: every row goes, the tombstone refuses the document after a
    // restart too.
    let out = owner.session.delete_doc(now_ms(), doc).unwrap();
    owner.apply(out).await;
    owner
        .until(|e| matches!(e, SessionEvent::Deleted { .. }))
        .await;
    relay.shutdown().await;
    let (u, key_bytes) = (url.clone(), doc.as_bytes().to_vec());
    tokio::task::spawn_blocking(move || {
        let mut db = postgres::Client::connect(&u, postgres::NoTls).unwrap();
        for table in ["envelopes", "membership_ops", "access_log"] {
            let n: i64 = db
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE doc = $1"),
                    &[&key_bytes],
                )
                .unwrap()
                .get(0);
            assert_eq!(n, 0, "{table} still holds the document");
        }
        let t: i64 = db
            .query_one(
                "SELECT count(*) FROM tombstones WHERE doc = $1",
                &[&key_bytes],
            )
            .unwrap()
            .get(0);
        assert_eq!(t, 1, "the tombstone is kept");
    })
    .await
    .unwrap();
    let relay = starling_relay::start(config(dir.path(), &url))
        .await
        .unwrap();
    let mut raw = Raw::logged_in(&relay, &key(1)).await;
    raw.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 0 }],
    })
    .await;
    assert!(matches!(raw.recv().await, Some(Message::Deleted { .. })));
    relay.shutdown().await;
    drop(cluster);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_the_offline_erase_and_the_backup_command_know_the_database() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = starling_relay::start(config(dir.path(), &url))
        .await
        .unwrap();
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner.publish(doc, b"kept until erased").await;
    relay.shutdown().await;
    let u = url.clone();
    let (first, again) = tokio::task::spawn_blocking(move || {
        (
            starling_relay::erase_offline_postgres(&u, doc).unwrap(),
            starling_relay::erase_offline_postgres(&u, doc).unwrap(),
        )
    })
    .await
    .unwrap();
    assert!(first, "it held the document");
    assert!(!again, "already erased");
    // The binary says how to back up instead of copying a file that is not
    // there.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_starling-relay"))
        .args(["backup", "/tmp/never-written.db"])
        .env("STARLING_RELAY_DATABASE_URL", &url)
        .env("STARLING_RELAY_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    // A URL that is not PostgreSQL's is refused by the configuration.
    let mut bad = config(dir.path(), "mysql://x");
    bad.database_url = Some("mysql://x".into());
    assert!(bad.validate().is_err());
    drop(cluster);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_an_outage_refuses_writes_says_so_and_the_relay_recovers_by_itself() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = starling_relay::start(config(dir.path(), &url))
        .await
        .unwrap();
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner.publish(doc, b"before").await;
    // The database goes away: the next write is not acknowledged, and the
    // relay says why.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    let out = owner
        .session
        .publish(doc, b"during", &mut rand_core::OsRng)
        .unwrap();
    owner.apply(out).await;
    let wait = Duration::from_secs(30);
    let start = Instant::now();
    loop {
        let (status, body) = http_get(&relay, "/healthz").await;
        if status == 503 {
            assert!(body.contains("database"), "{body}");
            break;
        }
        assert!(start.elapsed() < wait, "no fault reported: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(owner.session.unacked(&doc), 1, "nothing acknowledged");
    // Back: the relay takes writes again by itself, and the device's
    // envelope, sent again, is stored once.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_again();
        cluster
    })
    .await
    .unwrap();
    let start = Instant::now();
    while !relay.metrics().storage_ok() {
        assert!(start.elapsed() < wait, "the relay did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut session = owner.session;
    session.handle_disconnected(now_ms(), &mut rand_core::OsRng);
    let mut owner = Client::reconnect(session, &relay.url()).await;
    while owner.session.unacked(&doc) > 0 {
        owner
            .until(|e| matches!(e, SessionEvent::Acked { .. }))
            .await;
    }
    let mut raw = Raw::logged_in(&relay, &key(1)).await;
    raw.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 0 }],
    })
    .await;
    let mut seqs = Vec::new();
    loop {
        match raw.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => seqs.push(doc_seq),
            Some(Message::CaughtUp { .. }) => break,
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert_eq!(seqs, vec![1, 2]);
    relay.shutdown().await;
    drop(cluster);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_a_sqlite_relay_migrates_and_its_clients_notice_nothing() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    let mut on_sqlite = starling_relay::RelayConfig::for_data_dir(dir.path());
    on_sqlite.origin = Some("ws://relay.test".into());
    let relay = starling_relay::start(on_sqlite.clone()).await.unwrap();
    let relay_id = relay.relay_id();
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    for i in 0..4u8 {
        owner.publish(doc, &[b'm', i]).await;
    }
    relay.shutdown().await;
    // The binary copies it all, once: an empty database only.
    let migrate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_starling-relay"))
            .arg("migrate")
            .env("STARLING_RELAY_DATABASE_URL", &url)
            .env("STARLING_RELAY_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let out = migrate();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("4 envelopes"), "{said}");
    let again = migrate();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty"));
    // On PostgreSQL: same key (clients keep their pin), same documents, and
    // the owner's session carries on where it was.
    let relay = starling_relay::start(config(dir.path(), &url))
        .await
        .unwrap();
    assert_eq!(relay.relay_id(), relay_id);
    let mut session = owner.session;
    session.handle_disconnected(now_ms(), &mut rand_core::OsRng);
    let mut owner = Client::reconnect(session, &relay.url()).await;
    owner.publish(doc, b"after the move").await;
    let mut raw = Raw::logged_in(&relay, &key(1)).await;
    raw.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 0 }],
    })
    .await;
    let mut seqs = Vec::new();
    loop {
        match raw.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => seqs.push(doc_seq),
            Some(Message::CaughtUp { .. }) => break,
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    relay.shutdown().await;
    drop(cluster);
}
