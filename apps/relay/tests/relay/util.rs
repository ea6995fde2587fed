//! Helpers: a relay in a temp dir, a raw websocket client that speaks wire
//! messages, and a full client built on `ClientSession`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use starling_protocol::membership::Role;
use starling_protocol::session::{ClientSession, Output, SessionConfig, SessionEvent};
use starling_protocol::wire::{self, DocCursor, ErrorCode, Message, RetryClass, auth_message};
use starling_protocol::{DeviceKey, DocId, domain};
use starling_relay::{RelayConfig, RelayHandle};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub use starling_protocol::now_ms;

pub fn key(seed: u8) -> DeviceKey {
    DeviceKey::from_seed([seed; 32])
}

/// A relay on 127.0.0.1:0 with data in a fresh temp dir.
pub async fn start_relay() -> (TempDir, RelayHandle) {
    start_relay_with(|_| {}).await
}

/// A relay as [`start_relay`] gives, with its configuration adjusted by
/// `f`. With `STARLING_TEST_RELAY_POSTGRES` set to a PostgreSQL
/// administrator's URL, its data goes to a fresh database there instead of
/// SQLite (`.ci/run` runs the suite both ways; tests that are about the
/// SQLite file use [`start_sqlite_relay_with`]).
pub async fn start_relay_with(f: impl FnOnce(&mut RelayConfig)) -> (TempDir, RelayHandle) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = RelayConfig::for_data_dir(dir.path());
    if let Ok(admin) = std::env::var("STARLING_TEST_RELAY_POSTGRES") {
        let url = tokio::task::spawn_blocking(move || crate::cluster::Cluster::database_at(&admin))
            .await
            .unwrap();
        std::fs::write(dir.path().join(DATABASE_URL), &url).unwrap();
        c.database_url = Some(url);
    }
    f(&mut c);
    let relay = starling_relay::start(c).await.unwrap();
    (dir, relay)
}

/// Where [`start_relay_with`] notes the database it gave a relay.
const DATABASE_URL: &str = "test-database-url";

/// The configuration of a relay [`start_relay_with`] started in `dir`
/// (before `f`): the same data, on the same storage, to start it again.
pub fn config_again(dir: &std::path::Path) -> RelayConfig {
    let mut c = RelayConfig::for_data_dir(dir);
    c.database_url = std::fs::read_to_string(dir.join(DATABASE_URL)).ok();
    c
}

/// A relay on SQLite whatever the environment says: for tests about the
/// database file itself.
pub async fn start_sqlite_relay_with(f: impl FnOnce(&mut RelayConfig)) -> (TempDir, RelayHandle) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = RelayConfig::for_data_dir(dir.path());
    f(&mut c);
    let relay = starling_relay::start(c).await.unwrap();
    (dir, relay)
}

/// A websocket client that sends and receives raw wire messages.
pub struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    /// A connection to `relay`, logged in as `key`.
    pub async fn logged_in(relay: &RelayHandle, key: &DeviceKey) -> Raw {
        let mut r = Raw::connect(&relay.url()).await;
        r.login(key).await;
        r
    }

    pub async fn connect(url: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Raw { ws }
    }

    /// The websocket itself (to split it into halves).
    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.ws
    }

    pub async fn send(&mut self, m: &Message) {
        self.send_bytes(wire::encode(m).unwrap()).await;
    }

    pub async fn send_bytes(&mut self, b: Vec<u8>) {
        self.ws.send(WsMessage::Binary(b.into())).await.unwrap();
    }

    pub async fn feed(&mut self, m: &Message) {
        let b = wire::encode(m).unwrap();
        self.ws.feed(WsMessage::Binary(b.into())).await.unwrap();
    }

    pub async fn flush(&mut self) {
        self.ws.flush().await.unwrap();
    }

    /// The next frame as raw bytes; `None` when the relay closed.
    pub async fn recv_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for the relay");
            match next {
                Some(Ok(WsMessage::Binary(b))) => return Some(b.to_vec()),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next message; `None` when the relay closed.
    pub async fn recv(&mut self) -> Option<Message> {
        let b = self.recv_frame().await?;
        Some(wire::decode(&b).unwrap())
    }

    /// Skips messages until an error arrives.
    pub async fn recv_error(&mut self) -> (ErrorCode, RetryClass, String) {
        loop {
            match self.recv().await {
                Some(Message::Error {
                    code,
                    retry,
                    message,
                    ..
                }) => return (code, retry, message),
                Some(_) => continue,
                None => panic!("closed before an error arrived"),
            }
        }
    }

    /// True if the relay closes the connection (after any messages).
    pub async fn closed(&mut self) -> bool {
        while self.recv_frame().await.is_some() {}
        true
    }

    /// Hello, then returns the challenge's nonce, origin and relay id.
    pub async fn hello(
        &mut self,
        key: &DeviceKey,
    ) -> ([u8; 32], String, starling_protocol::DeviceId) {
        self.send(&Message::Hello {
            device: key.device_id(),
            agent: "relay-test".into(),
        })
        .await;
        match self.recv().await {
            Some(Message::Challenge {
                nonce,
                origin,
                relay,
            }) => (nonce.0, origin, relay),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    /// Answers the challenge with explicit parameters.
    pub async fn authenticate(
        &mut self,
        signer: &DeviceKey,
        device: &DeviceKey,
        nonce: &[u8; 32],
        origin: &str,
        ts: u64,
        relay: &starling_protocol::DeviceId,
    ) {
        let m = auth_message(nonce, origin, ts, relay, &device.device_id());
        let signature = signer.sign(domain::AUTH_SIG, &m);
        self.send(&Message::Authenticate {
            device: device.device_id(),
            timestamp: ts,
            signature,
        })
        .await;
    }

    /// A full, correct handshake.
    pub async fn login(&mut self, key: &DeviceKey) {
        let (nonce, origin, relay) = self.hello(key).await;
        self.authenticate(key, key, &nonce, &origin, now_ms(), &relay)
            .await;
        match self.recv().await {
            Some(Message::Welcome { .. }) => {}
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A complete client: `ClientSession` over a real websocket.
pub struct Client {
    pub session: ClientSession,
    pub raw: Raw,
    pub events: Vec<SessionEvent>,
    pub rng: rand_core::OsRng,
}

impl Client {
    /// Connects and authenticates.
    pub async fn connect(relay: &RelayHandle, key: DeviceKey) -> Client {
        let session = ClientSession::new(
            key,
            SessionConfig {
                origin: relay.origin().to_owned(),
                relay: Some(relay.relay_id()),
                agent: "relay-test".into(),
            },
            &mut rand_core::OsRng,
        );
        Self::reconnect(session, &relay.url()).await
    }

    /// Connects an existing session (e.g. after a relay restart).
    pub async fn reconnect(mut session: ClientSession, url: &str) -> Client {
        let raw = Raw::connect(url).await;
        let out = session.handle_connected(now_ms());
        let mut c = Client {
            session,
            raw,
            events: Vec::new(),
            rng: rand_core::OsRng,
        };
        c.apply(out).await;
        c.until(|e| matches!(e, SessionEvent::Connected)).await;
        c
    }

    /// Sends what the session wants sent; records its events.
    pub async fn apply(&mut self, out: Output) {
        for m in &out.send {
            self.raw.feed(m).await;
        }
        self.raw.flush().await;
        self.events.extend(out.events);
    }

    /// Pumps frames until an event matching `f` arrives (it and everything
    /// before it are also kept in `events`).
    pub async fn until(&mut self, mut f: impl FnMut(&SessionEvent) -> bool) -> SessionEvent {
        loop {
            let Some(frame) = self.raw.recv_frame().await else {
                panic!(
                    "relay closed the connection; events so far: {:?}",
                    self.events
                );
            };
            let out = self.session.handle_frame(now_ms(), &frame);
            let hit = out.events.iter().find(|e| f(e)).cloned();
            self.apply(out).await;
            if let Some(e) = hit {
                return e;
            }
        }
    }

    /// Creates a document owned by this device; waits for the relay to
    /// store its genesis.
    pub async fn create_doc(&mut self) -> DocId {
        let (doc, out) = self
            .session
            .create_doc(now_ms(), "client", &mut self.rng)
            .unwrap();
        self.apply(out).await;
        self.until(|e| matches!(e, SessionEvent::CaughtUp { .. }))
            .await;
        doc
    }

    /// Publishes `payload` and waits for its ack; returns the doc seq.
    pub async fn publish(&mut self, doc: DocId, payload: &[u8]) -> u64 {
        let out = self.session.publish(doc, payload, &mut self.rng).unwrap();
        self.apply(out).await;
        match self
            .until(|e| {
                matches!(
                    e,
                    SessionEvent::Acked { .. } | SessionEvent::RelayError { .. }
                )
            })
            .await
        {
            SessionEvent::Acked { doc_seq, .. } => doc_seq,
            other => panic!("publish refused: {other:?}"),
        }
    }

    /// Re-subscribes to `doc` and waits for `caught_up`: everything this
    /// client sent before is then processed and committed by the relay.
    pub async fn sync(&mut self, doc: DocId) {
        let cursor = self.session.cursor(&doc).unwrap_or(0);
        self.raw
            .send(&Message::Subscribe {
                docs: vec![starling_protocol::wire::DocCursor { doc, cursor }],
            })
            .await;
        self.until(|e| matches!(e, SessionEvent::CaughtUp { doc: d } if *d == doc))
            .await;
    }

    /// Adds `device` with `role` (and rotates), waiting until it is stored.
    pub async fn add_member(
        &mut self,
        doc: DocId,
        device: starling_protocol::DeviceId,
        role: starling_protocol::membership::Role,
    ) {
        let out = self
            .session
            .add_member(now_ms(), doc, device, role, "carer", &mut self.rng)
            .unwrap();
        self.apply(out).await;
        self.sync(doc).await;
    }
}

/// An envelope sealed by `author` at `seq` after `prev`, outside any session.
pub fn seal(
    doc: DocId,
    author: &DeviceKey,
    seq: u64,
    prev: starling_protocol::EnvelopeHash,
    payload: &[u8],
) -> starling_protocol::Envelope {
    let header = starling_protocol::EnvelopeHeader::changes(
        doc,
        starling_protocol::Epoch(0),
        author.device_id(),
        seq,
        prev,
    );
    let k = starling_protocol::EpochKey::from_bytes([9; 32]);
    starling_protocol::Envelope::seal(header, payload, &k, author, &mut rand_core::OsRng).unwrap()
}

/// Publishes `e` on `w` and waits for its ack (the doc seq) or error.
pub async fn publish_raw(
    w: &mut Raw,
    e: &starling_protocol::Envelope,
) -> Result<u64, (ErrorCode, RetryClass)> {
    w.send(&Message::Publish {
        envelope: e.clone(),
    })
    .await;
    match w.recv().await {
        Some(Message::Acks(a)) if a.entries.len() == 1 => Ok(a.entries[0].doc_seq),
        Some(Message::Error { code, retry, .. }) => Err((code, retry)),
        other => panic!("{other:?}"),
    }
}

/// `GET path` on the relay's HTTP port: the status code and the body.
pub async fn http_get(relay: &RelayHandle, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(relay.local_addr()).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// key(1)'s new document with key(2) as a viewer, subscribed on a
/// connection that then never reads.
pub async fn doc_with_a_stuck_reader(relay: &RelayHandle) -> (Client, DocId, Raw) {
    let mut owner = Client::connect(relay, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Viewer)
        .await;
    let mut stuck = Raw::logged_in(relay, &key(2)).await;
    stuck
        .send(&Message::Subscribe {
            docs: vec![DocCursor { doc, cursor: 0 }],
        })
        .await;
    (owner, doc, stuck)
}

/// Publishes envelopes of 256 KiB to `doc` (at most `rounds`) until the
/// relay drops a slow consumer: they fill the socket buffers, then its
/// queue.
pub async fn publish_until_a_slow_consumer_is_dropped(
    owner: &mut Client,
    doc: DocId,
    relay: &RelayHandle,
    rounds: usize,
) {
    let big = vec![1u8; 256 * 1024];
    for _ in 0..rounds {
        owner.publish(doc, &big).await;
        if relay.metrics().rejections("slow_consumer") > 0 {
            break;
        }
    }
}
