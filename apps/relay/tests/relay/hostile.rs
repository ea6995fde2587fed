//! Hostile and broken clients: the relay answers with typed errors and
//! stays healthy for everyone else.

use std::time::Duration;

use starling_protocol::DocId;
use starling_protocol::wire::{DocCursor, ErrorCode, Message, RetryClass};
use starling_relay::WsFrame;

use crate::util::*;

/// The relay still serves a fresh client and reports healthy.
async fn still_healthy(relay: &starling_relay::RelayHandle) {
    let _c = Raw::logged_in(relay, &key(9)).await;
    let mut s = tokio::net::TcpStream::connect(relay.local_addr())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
}

#[tokio::test]
async fn oversized_frame_gets_too_large() {
    let (_dir, relay) = start_relay_with(|c| c.limits.max_frame_bytes = 64 * 1024).await;
    let mut c = Raw::connect(&relay.url()).await;
    c.send_bytes(vec![0xa1; 64 * 1024 + 1]).await;
    let (code, retry, _) = c.recv_error().await;
    assert_eq!((code, retry), (ErrorCode::TooLarge, RetryClass::TooLarge));
    // The connection still works.
    c.login(&key(1)).await;
    still_healthy(&relay).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn malformed_cbor_and_random_bytes_get_malformed() {
    let (_dir, relay) = start_relay().await;
    let mut c = Raw::connect(&relay.url()).await;
    // Valid CBOR, not a message: {"v": 1, "m": "nope"}.
    let mut b = Vec::new();
    ciborium_like_map(&mut b);
    c.send_bytes(b).await;
    assert_eq!(c.recv_error().await.0, ErrorCode::Malformed);
    // Truncated CBOR.
    c.send_bytes(vec![0xa2, 0x61, 0x76]).await;
    assert_eq!(c.recv_error().await.0, ErrorCode::Malformed);
    // Random bytes (a fixed, reproducible stream).
    let mut rng = starling_protocol::testing::SeededRng::new(42);
    for len in [1usize, 7, 100, 4096] {
        let mut junk = vec![0u8; len];
        rand_core::RngCore::fill_bytes(&mut rng, &mut junk);
        c.send_bytes(junk).await;
        let (code, _, _) = c.recv_error().await;
        assert!(
            matches!(code, ErrorCode::Malformed | ErrorCode::Version),
            "{code:?}"
        );
    }
    still_healthy(&relay).await;
    relay.shutdown().await;
}

/// `{"v": 1, "m": "nope"}` in CBOR, written by hand.
fn ciborium_like_map(out: &mut Vec<u8>) {
    out.extend([0xa2, 0x61, b'v', 0x01, 0x61, b'm', 0x64]);
    out.extend(b"nope");
}

#[tokio::test]
async fn other_wire_version_gets_upgrade_and_close() {
    let (_dir, relay) = start_relay().await;
    let mut c = Raw::connect(&relay.url()).await;
    // {"v": 2, "m": 0}
    c.send_bytes(vec![0xa2, 0x61, b'v', 0x02, 0x61, b'm', 0x00])
        .await;
    let (code, retry, _) = c.recv_error().await;
    assert_eq!((code, retry), (ErrorCode::Version, RetryClass::Upgrade));
    assert!(c.closed().await);
    relay.shutdown().await;
}

#[tokio::test]
async fn flood_over_the_rate_limit_gets_busy() {
    let (_dir, relay) = start_relay_with(|c| {
        c.limits.messages_per_sec = 10;
        c.limits.message_burst = 20;
    })
    .await;
    let mut c = Raw::connect(&relay.url()).await;
    for _ in 0..200 {
        c.feed(&Message::Unsubscribe { docs: vec![] }).await;
    }
    c.flush().await;
    let mut busy = 0;
    for _ in 0..200 {
        if let Some(Message::Error { code, retry, .. }) = c.recv().await
            && code == ErrorCode::Busy
        {
            assert_eq!(retry, RetryClass::RetryLater);
            busy += 1;
        }
    }
    // 20 in the burst, a few refilled while the flood arrived; the rest refused.
    assert!(busy >= 150, "only {busy} refused");
    assert!(relay.metrics().rejections("rate_limit") >= 150);
    still_healthy(&relay).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn subscription_limit_gets_too_large() {
    let (_dir, relay) = start_relay_with(|c| c.limits.max_subscriptions = 3).await;
    let mut c = Raw::logged_in(&relay, &key(1)).await;
    let docs = (0..4u8)
        .map(|i| DocCursor {
            doc: DocId::from_bytes([i; 16]),
            cursor: 0,
        })
        .collect();
    c.send(&Message::Subscribe { docs }).await;
    assert_eq!(c.recv_error().await.0, ErrorCode::TooLarge);
    relay.shutdown().await;
}

#[tokio::test]
async fn connection_limit_gets_busy() {
    let (_dir, relay) = start_relay_with(|c| c.limits.max_connections = 2).await;
    let a = Raw::logged_in(&relay, &key(1)).await;
    let _b = Raw::logged_in(&relay, &key(2)).await;
    let mut c = Raw::connect(&relay.url()).await;
    let (code, retry, _) = c.recv_error().await;
    assert_eq!((code, retry), (ErrorCode::Busy, RetryClass::RetryLater));
    assert!(c.closed().await);
    // A slot frees when a client leaves.
    a.close().await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut d = Raw::connect(&relay.url()).await;
        d.send(&Message::Hello {
            device: key(3).device_id(),
            agent: "t".into(),
        })
        .await;
        if let Some(Message::Challenge { .. }) = d.recv().await {
            break;
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.shutdown().await;
}

/// Drives the connection handler over channels with a paused clock: an
/// idle client is pinged, then closed after the idle timeout.
#[tokio::test(start_paused = true)]
async fn idle_connection_is_pinged_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let relay = starling_relay::start(starling_relay::RelayConfig::for_data_dir(dir.path()))
        .await
        .unwrap();
    let (to_relay, from_client) = tokio::sync::mpsc::channel::<WsFrame>(16);
    let (to_client, mut from_relay) = tokio::sync::mpsc::channel::<WsFrame>(16);
    let stream = futures_util::stream::unfold(from_client, |mut rx| async move {
        rx.recv().await.map(|f| (Ok::<_, std::io::Error>(f), rx))
    });
    let sink = futures_util::sink::unfold(to_client, |tx, f: WsFrame| async move {
        tx.send(f)
            .await
            .map_err(|_| std::io::Error::other("closed"))?;
        Ok::<_, std::io::Error>(tx)
    });
    let (stream, sink) = (Box::pin(stream), Box::pin(sink));
    let client = async {
        let mut pings = 0;
        let mut frames = Vec::new();
        while let Some(f) = from_relay.recv().await {
            if matches!(f, WsFrame::Ping(_)) {
                pings += 1;
            }
            frames.push(f);
            if matches!(frames.last(), Some(WsFrame::Close(_))) {
                break;
            }
        }
        drop(to_relay);
        (pings, frames)
    };
    let ((pings, frames), ()) = tokio::join!(client, relay.serve_connection(sink, stream));
    assert!(pings >= 1, "{frames:?}");
    match frames.last() {
        Some(WsFrame::Close(Some((_, reason)))) => assert_eq!(reason, "idle timeout"),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(relay.metrics().rejections("idle_timeout"), 1);
    relay.shutdown().await;
}
