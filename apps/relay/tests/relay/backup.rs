//! Online backup while clients publish.

use crate::util::*;

#[tokio::test]
async fn backup_is_consistent_while_serving() {
    let (dir, relay) = start_sqlite_relay_with(|_| {}).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    for i in 0..20u8 {
        owner.publish(doc, &[i]).await;
    }
    // Keep publishing while the backup runs.
    let url = relay.url();
    let _ = url;
    let publisher = async {
        for i in 20..120u8 {
            owner.publish(doc, &[i]).await;
        }
        owner
    };
    let dest = dir.path().join("backup.db");
    let (owner, backed) = tokio::join!(publisher, relay.backup(dest.clone()));
    backed.unwrap();
    drop(owner);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the copy is as private as the database"
        );
    }
    assert!(
        relay.backup(dest.clone()).await.is_err(),
        "refuses to overwrite"
    );
    let db = rusqlite::Connection::open(&dest).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let (n, max): (i64, i64) = db
        .query_row(
            "SELECT count(*), coalesce(max(doc_seq), 0) FROM envelopes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(n >= 20, "{n}");
    assert_eq!(n, max, "a consistent prefix: no gaps");
    let ops: i64 = db
        .query_row("SELECT count(*) FROM membership_ops", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ops, 1);
    relay.shutdown().await;
    // The backup restores: a relay started on it serves the same document.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&dest, restored.path().join("relay.db")).unwrap();
    std::fs::copy(
        dir.path().join("relay.key"),
        restored.path().join("relay.key"),
    )
    .unwrap();
    let relay = starling_relay::start(starling_relay::RelayConfig::for_data_dir(restored.path()))
        .await
        .unwrap();
    let mut c = Raw::logged_in(&relay, &key(1)).await;
    c.send(&starling_protocol::wire::Message::Subscribe {
        docs: vec![starling_protocol::wire::DocCursor { doc, cursor: 0 }],
    })
    .await;
    loop {
        match c.recv().await {
            Some(starling_protocol::wire::Message::CaughtUp { doc_seq, .. }) => {
                assert_eq!(doc_seq as i64, n);
                break;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    relay.shutdown().await;
}
