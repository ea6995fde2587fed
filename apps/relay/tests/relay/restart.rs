//! A relay restart: state comes back from disk, clients resume from their
//! cursors, unacknowledged envelopes are retransmitted and deduped.

use starling_protocol::membership::Role;
use starling_protocol::session::SessionEvent;
use starling_protocol::wire::{DocCursor, Message};

use crate::util::*;

fn config(dir: &std::path::Path) -> starling_relay::RelayConfig {
    let mut c = starling_relay::RelayConfig::for_data_dir(dir);
    c.origin = Some("ws://relay.test".into());
    c
}

fn applied(c: &Client) -> Vec<Vec<u8>> {
    c.events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Apply { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn clients_resume_from_their_cursors_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    resume_story(|| config(dir.path())).await;
}

/// Two members, a restart with offline edits waiting, and a fresh
/// subscriber: on whatever storage `config` names.
pub(crate) async fn resume_story(config: impl Fn() -> starling_relay::RelayConfig) {
    let relay = starling_relay::start(config()).await.unwrap();
    let relay_id = relay.relay_id();
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Editor)
        .await;
    let mut member = Client::connect(&relay, key(2)).await;
    let out = member.session.open_doc(doc);
    member.apply(out).await;
    member
        .until(|e| matches!(e, SessionEvent::CaughtUp { .. }))
        .await;
    for i in 0..5u8 {
        owner.publish(doc, &[b'a', i]).await;
    }
    member
        .until(|e| matches!(e, SessionEvent::Apply { payload, .. } if payload == &[b'a', 4]))
        .await;
    assert_eq!(member.session.cursor(&doc), Some(5));

    relay.shutdown().await;
    // Offline edits wait in the owner's outbox.
    let mut owner_s = owner.session;
    let mut member_s = member.session;
    owner_s.handle_disconnected(now_ms(), &mut rand_core::OsRng);
    member_s.handle_disconnected(now_ms(), &mut rand_core::OsRng);
    for i in 5..7u8 {
        let _ = owner_s
            .publish(doc, &[b'a', i], &mut rand_core::OsRng)
            .unwrap();
    }
    assert_eq!(owner_s.unacked(&doc), 2);

    let relay = starling_relay::start(config()).await.unwrap();
    assert_eq!(
        relay.relay_id(),
        relay_id,
        "the relay key survives restarts"
    );
    let mut member = Client::reconnect(member_s, &relay.url()).await;
    member.events.clear();
    let mut owner = Client::reconnect(owner_s, &relay.url()).await;
    // The owner's outbox goes out again and is acked with the next doc seqs
    // (one relay signature may cover both acks).
    let acked = |c: &Client| -> Vec<u64> {
        c.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Acked { doc_seq, .. } => Some(*doc_seq),
                _ => None,
            })
            .collect()
    };
    while acked(&owner).len() < 2 {
        owner
            .until(|e| matches!(e, SessionEvent::Acked { .. }))
            .await;
    }
    assert_eq!(acked(&owner), vec![6, 7]);
    assert_eq!(owner.session.unacked(&doc), 0);
    // The member resumes after its cursor: only the new envelopes arrive.
    member
        .until(|e| matches!(e, SessionEvent::Apply { payload, .. } if payload == &[b'a', 6]))
        .await;
    assert_eq!(applied(&member), vec![vec![b'a', 5], vec![b'a', 6]]);
    assert_eq!(member.session.cursor(&doc), Some(7));

    // A fresh subscriber from zero gets everything, in order, without gaps.
    let mut raw = Raw::logged_in(&relay, &key(2)).await;
    raw.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 0 }],
    })
    .await;
    let mut seqs = Vec::new();
    loop {
        match raw.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => seqs.push(doc_seq),
            Some(Message::CaughtUp { doc_seq, .. }) => {
                assert_eq!(doc_seq, 7);
                break;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    relay.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_a_close_frame() {
    let (_dir, relay) = start_relay().await;
    let mut c = Raw::logged_in(&relay, &key(1)).await;
    let shut = tokio::spawn(relay.shutdown());
    assert!(c.closed().await);
    tokio::time::timeout(WAIT, shut).await.unwrap().unwrap();
}
