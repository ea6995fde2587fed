//! Crash safety: the relay binary is killed with SIGKILL at random moments
//! while several clients publish; after each restart the clients resume.
//! At the end every acknowledged envelope is in the database, intact, and
//! every document's doc seqs run from 1 without a gap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand_core::RngCore;
use starling_protocol::session::{ClientSession, SessionConfig};
use starling_protocol::wire::{self, Message};
use starling_protocol::{DeviceId, DocId, Envelope, EnvelopeHash};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::util::{key, now_ms};

pub(crate) const ORIGIN: &str = "ws://relay.test";
/// Envelopes a publisher keeps in flight.
const WINDOW: usize = 16;

struct Relay {
    child: Child,
}

async fn spawn_relay(dir: &Path) -> (Relay, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_starling-relay"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--origin", ORIGIN])
        .env("STARLING_RELAY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the relay binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("relay start timed out")
            .expect("read stdout")
            .expect("relay exited before listening");
        if let Some(u) = line.strip_prefix("starling-relay listening on ") {
            break u.trim().to_owned();
        }
    };
    // Keep draining stdout so the relay never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (Relay { child }, url)
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Acked {
    pub doc: DocId,
    pub author: DeviceId,
    pub seq: u64,
    pub hash: EnvelopeHash,
    pub doc_seq: u64,
}

/// One publisher: connects to whatever relay is current, publishes with a
/// window of unacknowledged envelopes, resumes after every crash. Returns
/// when `stop` is set and everything it published is acknowledged.
pub(crate) async fn publisher(
    seed: u8,
    url: watch::Receiver<String>,
    stop: watch::Receiver<bool>,
    acks: Arc<Mutex<Vec<Acked>>>,
) -> DocId {
    let k = key(seed);
    let mut s = ClientSession::new(
        k.clone(),
        SessionConfig {
            origin: ORIGIN.into(),
            relay: None,
            agent: "crash-test".into(),
        },
        &mut rand_core::OsRng,
    );
    let mut rng = rand_core::OsRng;
    let (doc, _) = s.create_doc(now_ms(), "client", &mut rng).unwrap();
    let mut n = 0u64;
    loop {
        let target = url.borrow().clone();
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(target.as_str()),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mut out = s.handle_connected(now_ms());
        'conn: loop {
            for m in out.send.drain(..) {
                let b = wire::encode(&m).unwrap();
                if ws.feed(WsMessage::Binary(b.into())).await.is_err() {
                    break 'conn;
                }
            }
            let stopping = *stop.borrow();
            if s.is_ready() && !stopping && s.unacked(&doc) < WINDOW {
                n += 1;
                let payload = format!("client {seed} edit {n}");
                let o = s.publish(doc, payload.as_bytes(), &mut rng).unwrap();
                out = o;
                continue;
            }
            if stopping && s.is_ready() && s.unacked(&doc) == 0 {
                let _ = ws.close(None).await;
                return doc;
            }
            if ws.flush().await.is_err() {
                break;
            }
            let frame = match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(WsMessage::Binary(b)))) => b,
                Ok(Some(Ok(WsMessage::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => break,
                Ok(Some(Ok(_))) => {
                    out = Default::default();
                    continue;
                }
            };
            if let Ok(Message::Acks(batch)) = wire::decode(&frame) {
                acks.lock()
                    .unwrap()
                    .extend(batch.entries.iter().map(|a| Acked {
                        doc: a.doc,
                        author: a.author,
                        seq: a.author_seq,
                        hash: a.hash,
                        doc_seq: a.doc_seq,
                    }));
            }
            out = s.handle_frame(now_ms(), &frame);
        }
        s.handle_disconnected(now_ms(), &mut rng);
    }
}

fn verify(db: &Path, acks: &[Acked], docs: &[DocId]) {
    let db = rusqlite::Connection::open(db).unwrap();
    let mut row = db
        .prepare("SELECT doc_seq, hash, bytes FROM envelopes WHERE doc = ?1 AND author = ?2 AND author_seq = ?3")
        .unwrap();
    for a in acks {
        let (doc_seq, hash, bytes): (i64, Vec<u8>, Vec<u8>) = row
            .query_row(
                rusqlite::params![
                    &a.doc.as_bytes()[..],
                    &a.author.as_bytes()[..],
                    a.seq as i64
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap_or_else(|e| panic!("acked envelope {a:?} missing: {e}"));
        assert_eq!(doc_seq as u64, a.doc_seq, "{a:?}");
        assert_eq!(hash, a.hash.as_bytes(), "{a:?}");
        let env = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(env.hash(), a.hash, "{a:?}");
        env.verify().unwrap();
    }
    for doc in docs {
        let seqs: Vec<i64> = db
            .prepare("SELECT doc_seq FROM envelopes WHERE doc = ?1 ORDER BY doc_seq")
            .unwrap()
            .query_map([&doc.as_bytes()[..]], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, want, "doc seqs of {doc} have a gap");
    }
}

async fn crash_loop(kills: usize, clients: u8) {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().to_path_buf();
    let (mut relay, url) = spawn_relay(&data).await;
    let (url_tx, url_rx) = watch::channel(url);
    let (stop_tx, stop_rx) = watch::channel(false);
    let acks = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(publisher(
                10 + i,
                url_rx.clone(),
                stop_rx.clone(),
                acks.clone(),
            ))
        })
        .collect();
    let mut rng = rand_core::OsRng;
    let mut progress = Vec::new();
    for _ in 0..kills {
        let before = acks.lock().unwrap().len();
        // Let some load through, then kill at a random moment.
        let until = Instant::now() + Duration::from_secs(20);
        while acks.lock().unwrap().len() < before + 20 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(u64::from(rng.next_u32() % 150))).await;
        relay.child.start_kill().unwrap();
        relay.child.wait().await.unwrap();
        progress.push(acks.lock().unwrap().len() - before);
        let (r, u) = spawn_relay(&data).await;
        relay = r;
        url_tx.send(u).unwrap();
    }
    stop_tx.send(true).unwrap();
    let mut docs = Vec::new();
    for t in tasks {
        docs.push(
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    relay.child.start_kill().unwrap();
    relay.child.wait().await.unwrap();
    let acks = acks.lock().unwrap().clone();
    assert!(
        progress.iter().all(|p| *p > 0),
        "no progress between kills: {progress:?}"
    );
    let mut per_doc: BTreeMap<DocId, u64> = BTreeMap::new();
    for a in &acks {
        let e = per_doc.entry(a.doc).or_default();
        *e = (*e).max(a.seq);
    }
    eprintln!(
        "{kills} kills, {} acks, highest author seq per doc {:?}",
        acks.len(),
        per_doc.values().collect::<Vec<_>>()
    );
    verify(&data.join("relay.db"), &acks, &docs);
}

/// 25 SIGKILLs under load from 4 clients (about 5 s in a debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_envelopes_survive_25_kill_9s() {
    crash_loop(25, 4).await;
}
