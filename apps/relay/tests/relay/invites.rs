//! Invites: redeemed once, never twice; expired ones refused.

use starling_protocol::DocId;
use starling_protocol::invite::InviteLink;
use starling_protocol::membership::Role;
use starling_protocol::session::SessionEvent;
use starling_protocol::wire::{ErrorCode, Message};

use crate::util::*;

async fn invite(owner: &mut Client, doc: DocId, relay: &str, expires_at: u64) -> InviteLink {
    let (link, out) = owner
        .session
        .create_invite(
            now_ms(),
            doc,
            &relay.parse().unwrap(),
            Role::Editor,
            "worker",
            expires_at,
            &mut owner.rng,
        )
        .unwrap();
    owner.apply(out).await;
    owner.sync(doc).await;
    link
}

/// Joins with `link`; returns the relay's error code if refused.
async fn join(
    relay: &starling_relay::RelayHandle,
    seed: u8,
    link: &InviteLink,
) -> Result<Client, ErrorCode> {
    let mut c = Client::connect(relay, key(seed)).await;
    let out = c.session.join(link);
    c.apply(out).await;
    let me = key(seed).device_id();
    let doc = link.doc;
    loop {
        match c
            .until(|e| {
                matches!(
                    e,
                    SessionEvent::MembershipChanged { .. } | SessionEvent::RelayError { .. }
                )
            })
            .await
        {
            SessionEvent::RelayError { code, .. } => return Err(code),
            _ => {
                if c.session
                    .membership(&doc)
                    .and_then(|m| m.role(&me))
                    .is_some()
                {
                    return Ok(c);
                }
            }
        }
    }
}

#[tokio::test]
async fn invite_redeems_once() {
    let (_dir, relay) = start_relay().await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    let addr = relay.local_addr().to_string();
    let link = invite(&mut owner, doc, &addr, now_ms() + 3_600_000).await;
    let mut joiner = join(&relay, 2, &link).await.expect("first redeem");
    assert_eq!(
        joiner
            .session
            .membership(&doc)
            .unwrap()
            .role(&key(2).device_id()),
        Some(Role::Editor)
    );
    // The new editor can publish.
    let open = joiner.session.open_doc(doc);
    joiner.apply(open).await;
    joiner.sync(doc).await;
    assert_eq!(joiner.publish(doc, b"hello").await, 1);
    // A second device with the same link is refused.
    assert_eq!(
        join(&relay, 3, &link).await.err(),
        Some(ErrorCode::Forbidden)
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn expired_invite_is_refused() {
    let (_dir, relay) = start_relay().await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    let addr = relay.local_addr().to_string();
    let link = invite(&mut owner, doc, &addr, now_ms() - 1000).await;
    assert_eq!(
        join(&relay, 2, &link).await.err(),
        Some(ErrorCode::Forbidden)
    );
    // Redeeming directly, skipping the fetch, is refused by the relay's
    // clock, even with the joiner's own time written before the expiry
    // (within the relay's clock window, so it once passed).
    let state = owner.session.membership(&doc).unwrap().clone();
    let backdated = now_ms() - 2000;
    let op = link.secret.redeem_op(&state, &key(3), backdated).unwrap();
    let mut raw = Raw::logged_in(&relay, &key(3)).await;
    raw.send(&Message::InviteRedeem { doc, op }).await;
    let (code, _, message) = raw.recv_error().await;
    assert_eq!(code, ErrorCode::Forbidden);
    assert!(message.contains("expired"), "{message}");
    relay.shutdown().await;
}

#[tokio::test]
async fn revoked_invite_is_refused() {
    let (_dir, relay) = start_relay().await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    let addr = relay.local_addr().to_string();
    let link = invite(&mut owner, doc, &addr, now_ms() + 3_600_000).await;
    let out = owner
        .session
        .revoke_invite(now_ms(), doc, link.secret.id())
        .unwrap();
    owner.apply(out).await;
    owner.sync(doc).await;
    assert_eq!(
        join(&relay, 2, &link).await.err(),
        Some(ErrorCode::Forbidden)
    );
    relay.shutdown().await;
}
