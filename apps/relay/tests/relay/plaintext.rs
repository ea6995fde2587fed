//! The relay's files never hold document plaintext.

use starling_protocol::membership::Role;

use crate::util::*;

const MARKER: &[u8] = b"PLANTED-PLAINTEXT-7f3a9c";

fn scan(dir: &std::path::Path) -> Vec<String> {
    let mut hits = Vec::new();
    for name in ["relay.db", "relay.db-wal", "relay.db-shm"] {
        let p = dir.join(name);
        if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(MARKER.len()).any(|w| w == MARKER)
        {
            hits.push(name.to_owned());
        }
    }
    hits
}

#[tokio::test]
async fn database_files_hold_no_plaintext() {
    let (dir, relay) = start_sqlite_relay_with(|_| {}).await;
    let mut owner = Client::connect(&relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Editor)
        .await;
    for i in 0..50u8 {
        let mut payload = MARKER.to_vec();
        payload.extend(format!(" note {i}: the client scored work 6").as_bytes());
        owner.publish(doc, &payload).await;
    }
    let out = owner
        .session
        .publish_snapshot(doc, MARKER, &mut owner.rng)
        .unwrap();
    owner.apply(out).await;
    owner
        .until(|e| matches!(e, starling_protocol::session::SessionEvent::Acked { .. }))
        .await;
    let out = owner
        .session
        .send_presence(doc, MARKER, &mut owner.rng)
        .unwrap();
    owner.apply(out).await;
    owner.sync(doc).await;
    // While serving (WAL present) and after a clean shutdown.
    assert!(std::fs::metadata(dir.path().join("relay.db-wal")).is_ok());
    assert_eq!(scan(dir.path()), Vec::<String>::new());
    relay.shutdown().await;
    assert_eq!(scan(dir.path()), Vec::<String>::new());
    // Sanity: the scanner does find the marker where it is.
    std::fs::write(
        dir.path().join("relay.db-shm"),
        [b"x".as_slice(), MARKER].concat(),
    )
    .unwrap();
    assert_eq!(scan(dir.path()), vec!["relay.db-shm".to_owned()]);
}
