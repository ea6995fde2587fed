//! The access log a member can ask for, and the retention schedule.

use starling_protocol::membership::Role;
use starling_protocol::session::SessionEvent;
use starling_protocol::wire::{AccessKind, AccessLog, ErrorCode, Message};

use crate::util::*;

async fn access_log(c: &mut Client, doc: starling_protocol::DocId) -> AccessLog {
    let out = c.session.request_access_log(doc);
    c.apply(out).await;
    match c
        .until(|e| {
            matches!(
                e,
                SessionEvent::AccessLog { .. } | SessionEvent::RelayError { .. }
            )
        })
        .await
    {
        SessionEvent::AccessLog { log, .. } => log,
        other => panic!("no access log: {other:?}"),
    }
}

fn count(log: &AccessLog, device: &starling_protocol::DeviceId, kind: AccessKind) -> u64 {
    log.entries
        .iter()
        .filter(|e| e.device == *device && e.kind == kind)
        .map(|e| e.count)
        .sum()
}

#[tokio::test]
async fn members_see_who_published_and_fetched_and_outsiders_see_nothing() {
    let (dir, relay) = start_relay_with(|c| c.origin = Some("ws://relay.test".into())).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Editor)
        .await;
    for i in 0..3u8 {
        owner.publish(doc, &[i; 40]).await;
    }
    // The worker catches up: three envelopes fetched.
    let mut worker = Client::connect(&relay, key(2)).await;
    let out = worker.session.open_doc(doc);
    worker.apply(out).await;
    worker
        .until(|e| matches!(e, SessionEvent::CaughtUp { doc: d } if *d == doc))
        .await;

    let log = access_log(&mut owner, doc).await;
    let (o, w) = (key(1).device_id(), key(2).device_id());
    assert_eq!(count(&log, &o, AccessKind::Publish), 3, "{log:?}");
    assert_eq!(count(&log, &w, AccessKind::Fetch), 3, "{log:?}");
    assert!(count(&log, &o, AccessKind::Membership) >= 2, "{log:?}");
    assert_eq!(count(&log, &w, AccessKind::Publish), 0);
    assert_eq!(log.stored.envelopes, 3);
    assert!(log.stored.created_at.is_some());
    assert!(log.at > 0 && log.since < log.at);

    // A device that is not a member gets nothing.
    let mut stranger = Client::connect(&relay, key(3)).await;
    let out = stranger.session.request_access_log(doc);
    stranger.apply(out).await;
    let ev = stranger
        .until(|e| {
            matches!(
                e,
                SessionEvent::RelayError { .. } | SessionEvent::AccessLog { .. }
            )
        })
        .await;
    assert!(
        matches!(
            ev,
            SessionEvent::RelayError {
                code: ErrorCode::Forbidden,
                ..
            }
        ),
        "{ev:?}"
    );

    // The log survives a restart (what was counted is written at shutdown).
    relay.shutdown().await;
    let mut config = config_again(dir.path());
    config.origin = Some("ws://relay.test".into());
    let relay = starling_relay::start(config).await.unwrap();
    let mut owner = Client::reconnect(owner.session, &relay.url()).await;
    let again = access_log(&mut owner, doc).await;
    assert_eq!(count(&again, &w, AccessKind::Fetch), 3, "{again:?}");
}

#[tokio::test]
async fn a_document_untouched_for_the_retention_period_is_deleted_and_members_keep_theirs() {
    let (_dir, relay) = start_relay_with(|c| c.retention_days = Some(30)).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner.publish(doc, b"kept by the client").await;
    let busy = owner.create_doc().await;
    let now = starling_protocol::now_ms();
    let day = 24 * 3600 * 1000;
    // Not yet.
    assert_eq!(relay.sweep_retention_at(now + 29 * day).await, 0);
    // A month on, both are untouched: both go.
    assert_eq!(relay.sweep_retention_at(now + 31 * day).await, 2);
    let ev = owner
        .until(|e| {
            matches!(
                e,
                SessionEvent::RelayError {
                    code: ErrorCode::Deleted,
                    ..
                }
            )
        })
        .await;
    assert!(
        matches!(ev, SessionEvent::RelayError { message, .. } if message.contains("retention"))
    );
    // The client keeps its copy: a retention deletion carries no owner's
    // op, so nothing tells it to erase.
    assert!(owner.session.membership(&doc).is_some());
    assert!(
        !owner
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::Deleted { .. }))
    );
    // A write is refused.
    let mut raw = Raw::logged_in(&relay, &key(1)).await;
    let e = seal(
        busy,
        &key(1),
        1,
        starling_protocol::EnvelopeHash::ZERO,
        b"late",
    );
    raw.send(&Message::Publish { envelope: e }).await;
    let (code, _, _) = raw.recv_error().await;
    assert_eq!(code, ErrorCode::Deleted);
}
