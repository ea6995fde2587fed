//! Authentication: every way a handshake can fail, and the allow-list.

use starling_protocol::wire::{ErrorCode, Message};

use crate::util::*;

#[tokio::test]
async fn good_handshake_is_welcomed() {
    let (_dir, relay) = start_relay().await;
    let mut c = Raw::connect(&relay.url()).await;
    let (_, origin, id) = c.hello(&key(1)).await;
    assert_eq!(origin, relay.origin());
    assert_eq!(id, relay.relay_id());
    assert!(relay.origin().starts_with("ws://127.0.0.1:"));
    c.close().await;
    let _logged_in = Raw::logged_in(&relay, &key(1)).await;
    relay.shutdown().await;
}

async fn refused(
    relay: &starling_relay::RelayHandle,
    f: impl FnOnce(&[u8; 32], &str, &starling_protocol::DeviceId) -> ([u8; 32], String, u64, u8),
) -> ErrorCode {
    let device = key(1);
    let mut c = Raw::connect(&relay.url()).await;
    let (nonce, origin, id) = c.hello(&device).await;
    let (nonce, origin, ts, signer) = f(&nonce, &origin, &id);
    c.authenticate(&key(signer), &device, &nonce, &origin, ts, &id)
        .await;
    let (code, _, _) = c.recv_error().await;
    assert!(c.closed().await);
    code
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let (_dir, relay) = start_relay().await;
    let code = refused(&relay, |n, o, _| (*n, o.to_owned(), now_ms(), 2)).await;
    assert_eq!(code, ErrorCode::AuthFailed);
    relay.shutdown().await;
}

#[tokio::test]
async fn stale_timestamp_is_refused() {
    let (_dir, relay) = start_relay().await;
    let code = refused(&relay, |n, o, _| {
        (*n, o.to_owned(), now_ms() - 10 * 60 * 1000, 1)
    })
    .await;
    assert_eq!(code, ErrorCode::AuthFailed);
    let code = refused(&relay, |n, o, _| {
        (*n, o.to_owned(), now_ms() + 10 * 60 * 1000, 1)
    })
    .await;
    assert_eq!(code, ErrorCode::AuthFailed);
    relay.shutdown().await;
}

#[tokio::test]
async fn wrong_origin_is_refused() {
    let (_dir, relay) = start_relay().await;
    let code = refused(&relay, |n, _, _| {
        (*n, "wss://evil.example".into(), now_ms(), 1)
    })
    .await;
    assert_eq!(code, ErrorCode::AuthFailed);
    relay.shutdown().await;
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let (_dir, relay) = start_relay().await;
    let code = refused(&relay, |_, o, _| ([7; 32], o.to_owned(), now_ms(), 1)).await;
    assert_eq!(code, ErrorCode::AuthFailed);
    relay.shutdown().await;
}

#[tokio::test]
async fn messages_before_authentication_are_refused() {
    let (_dir, relay) = start_relay().await;
    let mut c = Raw::connect(&relay.url()).await;
    c.send(&Message::Subscribe { docs: vec![] }).await;
    let (code, _, _) = c.recv_error().await;
    assert_eq!(code, ErrorCode::AuthFailed);
    relay.shutdown().await;
}

#[tokio::test]
async fn allow_list_admits_only_listed_devices_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("staff.txt");
    std::fs::write(&list, format!("# staff\n{}\n", key(1).device_id())).unwrap();
    let mut cfg = starling_relay::RelayConfig::for_data_dir(dir.path());
    cfg.registration = starling_relay::Registration::Allowlist;
    cfg.allowlist_file = Some(list.clone());
    let relay = starling_relay::start(cfg).await.unwrap();

    let mut ok = Raw::logged_in(&relay, &key(1)).await;

    let mut c = Raw::connect(&relay.url()).await;
    c.send(&Message::Hello {
        device: key(2).device_id(),
        agent: "t".into(),
    })
    .await;
    let (code, _, _) = c.recv_error().await;
    assert_eq!(code, ErrorCode::NotAllowed);
    assert!(c.closed().await);
    assert!(relay.metrics().rejections("not_allowed") >= 1);

    // Adding the device to the file admits it once the relay notices (it
    // polls the file's modification time; SIGHUP forces a re-read).
    std::fs::write(
        &list,
        format!("{}\n{}\n", key(1).device_id(), key(2).device_id()),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut c = Raw::connect(&relay.url()).await;
        c.send(&Message::Hello {
            device: key(2).device_id(),
            agent: "t".into(),
        })
        .await;
        if let Some(Message::Challenge { .. }) = c.recv().await {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "allow-list never reloaded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // A second hello on the authenticated connection, naming a listed
    // device, is refused and changes nothing...
    ok.send(&Message::Hello {
        device: key(2).device_id(),
        agent: "t".into(),
    })
    .await;
    let (code, _, _) = ok.recv_error().await;
    assert_ne!(code, ErrorCode::NotAllowed);
    // ...so removing its device from the file still closes it.
    std::fs::write(&list, format!("{}\n", key(2).device_id())).unwrap();
    let (code, _, msg) = ok.recv_error().await;
    assert_eq!(code, ErrorCode::NotAllowed, "{msg}");
    assert!(ok.closed().await);
    relay.shutdown().await;
}
