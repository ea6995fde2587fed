//! Documents: roles, catch-up, fan-out, dedupe, presence.

use starling_protocol::membership::Role;
use starling_protocol::wire::{DocCursor, ErrorCode, Message};
use starling_protocol::{DocId, EnvelopeHash};

use crate::util::*;

/// An owner with a document that `key(2)` views.
async fn owner_and_viewer(relay: &starling_relay::RelayHandle) -> (Client, DocId) {
    let mut owner = Client::connect(relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Viewer)
        .await;
    (owner, doc)
}

async fn subscribe(relay: &starling_relay::RelayHandle, doc: DocId, cursor: u64) -> Raw {
    let mut c = Raw::logged_in(relay, &key(2)).await;
    c.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor }],
    })
    .await;
    c
}

/// Collects `deliver` doc seqs until `caught_up`.
async fn catch_up(c: &mut Raw) -> (Vec<u64>, u64) {
    let mut seqs = Vec::new();
    loop {
        match c.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => seqs.push(doc_seq),
            Some(Message::CaughtUp { doc_seq, .. }) => return (seqs, doc_seq),
            Some(Message::MembershipDeliver { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn non_member_publish_is_refused() {
    let (_dir, relay) = start_relay().await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    let mut stranger = Raw::logged_in(&relay, &key(3)).await;
    let env = seal(doc, &key(3), 1, EnvelopeHash::ZERO, b"hello");
    stranger.send(&Message::Publish { envelope: env }).await;
    let (code, _, _) = stranger.recv_error().await;
    assert_eq!(code, ErrorCode::Forbidden);
    // Nor may it subscribe.
    stranger
        .send(&Message::Subscribe {
            docs: vec![DocCursor { doc, cursor: 0 }],
        })
        .await;
    assert_eq!(stranger.recv_error().await.0, ErrorCode::Forbidden);
    // Nor publish as someone else.
    let forged = seal(doc, &key(1), 1, EnvelopeHash::ZERO, b"x");
    stranger.send(&Message::Publish { envelope: forged }).await;
    assert_eq!(stranger.recv_error().await.0, ErrorCode::Forbidden);
    relay.shutdown().await;
}

#[tokio::test]
async fn viewer_publish_is_refused() {
    let (_dir, relay) = start_relay().await;
    let (_owner, doc) = owner_and_viewer(&relay).await;
    let mut viewer = subscribe(&relay, doc, 0).await;
    catch_up(&mut viewer).await;
    let env = seal(doc, &key(2), 1, EnvelopeHash::ZERO, b"hello");
    viewer.send(&Message::Publish { envelope: env }).await;
    let (code, _, msg) = viewer.recv_error().await;
    assert_eq!(code, ErrorCode::Forbidden, "{msg}");
    relay.shutdown().await;
}

#[tokio::test]
async fn catch_up_from_a_cursor() {
    let (_dir, relay) = start_relay().await;
    let (mut owner, doc) = owner_and_viewer(&relay).await;
    for i in 0..10u8 {
        assert_eq!(owner.publish(doc, &[i]).await, u64::from(i) + 1);
    }
    let mut viewer = subscribe(&relay, doc, 4).await;
    let (seqs, last) = catch_up(&mut viewer).await;
    assert_eq!(seqs, (5..=10).collect::<Vec<_>>());
    assert_eq!(last, 10);
    // Then live traffic.
    owner.publish(doc, b"live").await;
    match viewer.recv().await {
        Some(Message::Deliver { doc_seq: 11, .. }) => {}
        other => panic!("unexpected {other:?}"),
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn fan_out_to_many_subscribers() {
    let (_dir, relay) = start_relay_with(|c| c.limits.connections_per_device = 32).await;
    let (mut owner, doc) = owner_and_viewer(&relay).await;
    let mut subs = Vec::new();
    for _ in 0..25 {
        let mut s = subscribe(&relay, doc, 0).await;
        assert_eq!(catch_up(&mut s).await, (vec![], 0));
        subs.push(s);
    }
    for i in 0..5u8 {
        owner.publish(doc, &[i]).await;
    }
    for s in &mut subs {
        for want in 1..=5 {
            match s.recv().await {
                Some(Message::Deliver { doc_seq, .. }) => assert_eq!(doc_seq, want),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(relay.metrics().envelopes_out() >= 125);
    relay.shutdown().await;
}

#[tokio::test]
async fn duplicate_publish_is_deduped() {
    let (_dir, relay) = start_relay().await;
    let (_owner, doc) = owner_and_viewer(&relay).await;
    let mut viewer = subscribe(&relay, doc, 0).await;
    catch_up(&mut viewer).await;
    let mut w = Raw::logged_in(&relay, &key(1)).await;
    let e1 = seal(doc, &key(1), 1, EnvelopeHash::ZERO, b"one");
    let e2 = seal(doc, &key(1), 2, e1.hash(), b"two");
    let mut acks = Vec::new();
    for e in [&e1, &e1, &e2, &e1] {
        w.send(&Message::Publish {
            envelope: e.clone(),
        })
        .await;
        match w.recv().await {
            Some(Message::Acks(a)) => {
                assert!(a.verify(&relay.relay_id()));
                assert!(a.receipt(0).unwrap().verify(&relay.relay_id()));
                acks.extend(a.entries.iter().map(|e| (e.author_seq, e.doc_seq)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acks, vec![(1, 1), (1, 1), (2, 2), (1, 1)]);
    // The subscriber saw each envelope once.
    for want in [1, 2] {
        match viewer.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => assert_eq!(doc_seq, want),
            other => panic!("unexpected {other:?}"),
        }
    }
    // A different envelope at a stored position is a fork.
    let fork = seal(doc, &key(1), 2, e1.hash(), b"other");
    w.send(&Message::Publish { envelope: fork }).await;
    assert_eq!(w.recv_error().await.0, ErrorCode::Fork);
    // One past the head + 1 is a gap.
    let gap = seal(doc, &key(1), 5, e2.hash(), b"gap");
    w.send(&Message::Publish { envelope: gap }).await;
    assert_eq!(w.recv_error().await.0, ErrorCode::Gap);
    relay.shutdown().await;
}

#[tokio::test]
async fn presence_is_forwarded_not_stored() {
    let (dir, relay) = start_sqlite_relay_with(|_| {}).await;
    let (mut owner, doc) = owner_and_viewer(&relay).await;
    let mut viewer = subscribe(&relay, doc, 0).await;
    catch_up(&mut viewer).await;
    let out = owner
        .session
        .send_presence(doc, b"looking at work", &mut owner.rng)
        .unwrap();
    owner.apply(out).await;
    match viewer.recv().await {
        Some(Message::Presence { from, .. }) => assert_eq!(from, Some(key(1).device_id())),
        other => panic!("unexpected {other:?}"),
    }
    relay.shutdown().await;
    let db = rusqlite::Connection::open(dir.path().join("relay.db")).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM envelopes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

/// Publishes sent back to back are verified together: every genuine one is
/// stored, acked and delivered in order; a forged one among them is refused
/// and reaches nobody.
#[tokio::test]
async fn pipelined_publishes_are_verified_and_a_forgery_among_them_refused() {
    let (_dir, relay) = start_relay().await;
    let (_owner, doc) = owner_and_viewer(&relay).await;
    let mut viewer = subscribe(&relay, doc, 0).await;
    catch_up(&mut viewer).await;
    let mut w = Raw::logged_in(&relay, &key(1)).await;
    let mut chain = Vec::new();
    let mut prev = EnvelopeHash::ZERO;
    for seq in 1..=8 {
        let e = seal(doc, &key(1), seq, prev, format!("edit {seq}").as_bytes());
        prev = e.hash();
        chain.push(e);
    }
    // The same header with a broken signature, just before the genuine one.
    let mut bytes = chain[2].as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let forged = starling_protocol::Envelope::from_bytes(&bytes).unwrap();
    let mut sent = chain[..2].to_vec();
    sent.push(forged);
    sent.extend_from_slice(&chain[2..]);
    for e in &sent {
        w.feed(&Message::Publish {
            envelope: e.clone(),
        })
        .await;
    }
    w.flush().await;
    let mut acked = Vec::new();
    let mut errors = Vec::new();
    while acked.len() < chain.len() {
        match w.recv().await {
            Some(Message::Acks(a)) => {
                assert!(a.verify(&relay.relay_id()));
                for i in 0..a.entries.len() {
                    assert!(a.receipt(i).unwrap().verify(&relay.relay_id()));
                }
                acked.extend(a.entries.iter().map(|e| (e.author_seq, e.doc_seq, e.hash)));
            }
            Some(Message::Error { code, .. }) => errors.push(code),
            other => panic!("unexpected {other:?}"),
        }
    }
    let want: Vec<_> = chain
        .iter()
        .zip(1u64..)
        .map(|(e, s)| (s, s, e.hash()))
        .collect();
    assert_eq!(acked, want);
    assert_eq!(errors, vec![ErrorCode::BadEnvelope]);
    for e in &chain {
        match viewer.recv().await {
            Some(Message::Deliver { envelope, .. }) => assert_eq!(&envelope, e),
            other => panic!("unexpected {other:?}"),
        }
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn a_replay_in_one_envelope_pieces_delivers_everything_once_in_order() {
    let (_dir, relay) = start_relay_with(|c| c.limits.replay_chunk_bytes = 1).await;
    let (mut owner, doc) = owner_and_viewer(&relay).await;
    for i in 0..20u8 {
        owner.publish(doc, &[i]).await;
    }
    let mut viewer = subscribe(&relay, doc, 0).await;
    // A publish while the replay is under way arrives once, in its place.
    owner.publish(doc, b"meanwhile").await;
    let mut seqs = Vec::new();
    loop {
        match viewer.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => seqs.push(doc_seq),
            Some(Message::CaughtUp { doc_seq, .. }) => {
                assert_eq!(doc_seq, 21);
                break;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert_eq!(seqs, (1..=21).collect::<Vec<_>>());
    owner.publish(doc, b"live").await;
    match viewer.recv().await {
        Some(Message::Deliver { doc_seq: 22, .. }) => {}
        other => panic!("{other:?}"),
    }
    relay.shutdown().await;
}
