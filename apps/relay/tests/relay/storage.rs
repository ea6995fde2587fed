//! Storage: snapshot compaction, quotas, metrics, slow consumers.

use starling_protocol::membership::Role;
use starling_protocol::session::SessionEvent;
use starling_protocol::wire::{DocCursor, ErrorCode, Message, RetryClass};
use starling_protocol::{Cover, Envelope, EnvelopeHash, EnvelopeHeader, Epoch, EpochKey};

use crate::util::*;

fn live_rows(db: &std::path::Path) -> (i64, i64) {
    let db = rusqlite::Connection::open(db).unwrap();
    db.query_row("SELECT count(*), count(bytes) FROM envelopes", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

#[tokio::test]
async fn snapshot_compacts_what_it_covers() {
    let (dir, relay) = start_sqlite_relay_with(|_| {}).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Editor)
        .await;
    for i in 0..5u8 {
        owner.publish(doc, &[i]).await;
    }
    let out = owner
        .session
        .publish_snapshot(doc, b"everything", &mut owner.rng)
        .unwrap();
    owner.apply(out).await;
    match owner
        .until(|e| {
            matches!(
                e,
                SessionEvent::Acked { .. } | SessionEvent::RelayError { .. }
            )
        })
        .await
    {
        SessionEvent::Acked { doc_seq, .. } => assert_eq!(doc_seq, 6),
        other => panic!("{other:?}"),
    }
    // Metadata rows stay (dedupe); the covered bytes are gone.
    assert_eq!(live_rows(&dir.path().join("relay.db")), (6, 1));
    // A new subscriber from zero gets the snapshot only.
    let mut c = Raw::logged_in(&relay, &key(2)).await;
    c.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 0 }],
    })
    .await;
    let mut seqs = Vec::new();
    loop {
        match c.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => seqs.push(doc_seq),
            Some(Message::CaughtUp { doc_seq, .. }) => {
                assert_eq!(doc_seq, 6);
                break;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert_eq!(seqs, vec![6]);
    relay.shutdown().await;
}

#[tokio::test]
async fn document_quota_refuses_then_snapshot_frees() {
    let (_dir, relay) = start_relay_with(|c| c.limits.max_doc_bytes = 6000).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    let mut w = Raw::logged_in(&relay, &key(1)).await;
    let big = vec![7u8; 1000];
    let mut prev = EnvelopeHash::ZERO;
    for seq in 1..=4 {
        let e = seal(doc, &key(1), seq, prev, &big);
        prev = e.hash();
        assert_eq!(publish_raw(&mut w, &e).await, Ok(seq));
    }
    // The fifth (~1.2 kB over 6000 bytes in total) is refused.
    let fifth = seal(doc, &key(1), 5, prev, &big);
    assert_eq!(
        publish_raw(&mut w, &fifth).await,
        Err((ErrorCode::TooLarge, RetryClass::TooLarge))
    );
    assert_eq!(relay.metrics().rejections("quota"), 1);
    // A snapshot covering the four is allowed (snapshots may use twice the
    // quota) and frees their bytes.
    let cover = Cover {
        author: key(1).device_id(),
        seq: 4,
        hash: prev,
    };
    let header = EnvelopeHeader::snapshot(doc, Epoch(0), key(1).device_id(), 5, prev, vec![cover]);
    let k = EpochKey::from_bytes([9; 32]);
    let snap = Envelope::seal(header, &big, &k, &key(1), &mut rand_core::OsRng).unwrap();
    assert_eq!(publish_raw(&mut w, &snap).await, Ok(5));
    let mut prev = snap.hash();
    for seq in 6..=8 {
        let e = seal(doc, &key(1), seq, prev, &big);
        prev = e.hash();
        assert_eq!(publish_raw(&mut w, &e).await, Ok(seq));
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn metrics_endpoint_reports_prometheus_text() {
    let (_dir, relay) = start_relay().await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner.publish(doc, b"x").await;
    let mut s = tokio::net::TcpStream::connect(relay.local_addr())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    for name in [
        "starling_relay_connections 1",
        "starling_relay_subscriptions 1",
        "starling_relay_envelopes_in_total 1",
        "starling_relay_envelopes_out_total",
        "starling_relay_bytes_in_total",
        "starling_relay_bytes_out_total",
        "starling_relay_commit_batch_jobs_bucket",
        "starling_relay_commit_seconds_bucket",
        "starling_relay_rejections_total",
        "starling_relay_errors_total",
    ] {
        assert!(body.contains(name), "{name} missing from\n{body}");
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn slow_consumer_is_dropped_and_others_carry_on() {
    let (_dir, relay) = start_relay_with(|c| c.limits.outbound_queue = 4).await;
    let (mut owner, doc, _stuck) = doc_with_a_stuck_reader(&relay).await;
    publish_until_a_slow_consumer_is_dropped(&mut owner, doc, &relay, 64).await;
    assert_eq!(relay.metrics().rejections("slow_consumer"), 1);
    owner.publish(doc, b"still fine").await;
    relay.shutdown().await;
}

/// Regression: a replay is one queue item, so catching up on a document
/// with more envelopes than the outbound queue holds is not "too slow".
#[tokio::test]
async fn catch_up_larger_than_the_outbound_queue_is_not_slow() {
    let (_dir, relay) = start_relay_with(|c| c.limits.outbound_queue = 4).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Viewer)
        .await;
    for i in 0..30u8 {
        owner.publish(doc, &[i]).await;
    }
    let mut c = Raw::logged_in(&relay, &key(2)).await;
    c.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 0 }],
    })
    .await;
    let mut n = 0;
    loop {
        match c.recv().await {
            Some(Message::Deliver { .. }) => n += 1,
            Some(Message::CaughtUp { .. }) => break,
            Some(_) => {}
            None => panic!("dropped while catching up"),
        }
    }
    assert_eq!(n, 30);
    assert_eq!(relay.metrics().rejections("slow_consumer"), 0);
    relay.shutdown().await;
}

/// A commit that fails (here a row planted behind the relay's back takes
/// the next doc seq) acknowledges nothing: the relay closes the affected
/// connections, reloads its state from disk and carries on.
#[tokio::test]
async fn failed_commit_acknowledges_nothing_and_the_relay_recovers() {
    let (dir, relay) = start_sqlite_relay_with(|_| {}).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    let mut w = Raw::logged_in(&relay, &key(1)).await;
    let e1 = seal(doc, &key(1), 1, EnvelopeHash::ZERO, b"one");
    assert_eq!(publish_raw(&mut w, &e1).await, Ok(1));
    let db = rusqlite::Connection::open(dir.path().join("relay.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO envelopes (doc, doc_seq, author, author_seq, hash, bytes)
         VALUES (?1, 2, ?2, 99, ?3, NULL)",
        rusqlite::params![
            &doc.as_bytes()[..],
            &key(3).device_id().as_bytes()[..],
            &[0u8; 32][..]
        ],
    )
    .unwrap();
    let e2 = seal(doc, &key(1), 2, e1.hash(), b"two");
    w.send(&Message::Publish {
        envelope: e2.clone(),
    })
    .await;
    loop {
        match w.recv().await {
            Some(Message::Acks(a)) => panic!("acked a failed commit: {a:?}"),
            Some(_) => continue,
            None => break,
        }
    }
    assert_eq!(relay.metrics().rejections("store_failure"), 1);
    // Reconnect and retry: stored after the planted row.
    let mut w = Raw::logged_in(&relay, &key(1)).await;
    assert_eq!(publish_raw(&mut w, &e2).await, Ok(3));
    let e3 = seal(doc, &key(1), 3, e2.hash(), b"three");
    assert_eq!(publish_raw(&mut w, &e3).await, Ok(4));
    relay.shutdown().await;
}
