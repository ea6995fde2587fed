//! Load generator for the relay, loopback only, bounded in count and time.
//!
//! ```text
//! cargo run --release -p starling-relay --example loadgen -- \
//!     --docs 10 --subscribers 10 --envelopes 100000            # flood
//! cargo run --release -p starling-relay --example loadgen -- \
//!     --docs 10 --subscribers 10 --rate 5000 --seconds 10       # paced
//! cargo run --release -p starling-relay --example loadgen -- \
//!     --docs 0 --connections 10000                              # idle memory
//! cargo run --release -p starling-relay --example loadgen -- \
//!     --postgres postgres://postgres@127.0.0.1:5432/loadgen ...   # the relay on PostgreSQL
//! cargo run --release -p starling-relay --example loadgen -- \
//!     --postgres postgres://... --instances 2 ...               # two instances, one database
//! ```
//!
//! With `--instances N` (PostgreSQL only) the relay runs as N processes on
//! the one database, with the same key. Document `d`'s publisher talks to
//! instance `d mod N` and its subscribers to the next one, so every
//! delivery crosses from one instance to another.
//!
//! The relay runs in a child process (this program re-executed with
//! `--relay-child`) with durable group commit (`synchronous = full`), so its
//! CPU time and peak RSS are measured apart from the clients'. Each document
//! has one publisher (its owner) and `--subscribers` viewer connections.
//! Envelopes are sealed and encoded before the clock starts.
//!
//! What is counted: an envelope is *accepted* when a relay `acks` message
//! names it (document, author seq and hash checked against what was sent;
//! the relay's signature is verified on each publisher's first `acks` and
//! every 16th after it). A *delivery* is a frame a subscriber received that
//! carries, byte for byte, an envelope its publisher sent (found at the end
//! of the frame, without decoding CBOR). Latencies run from just before a
//! publisher writes its frame to the moment the ack or delivery is read.
//! A paced load is evenly spaced: a pacer thread releases envelope `k` at
//! `k / rate` seconds, taking the documents in turn.
//!
//! The `latency_floor` example measures what this machine allows at all:
//! the same fan-out with no websocket, crypto or SQLite (with `--crypto`,
//! plus the ed25519 verify of each publish and a signed ack per commit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use starling_protocol::membership::{MembershipState, OpBody, Role};
use starling_protocol::wire::{self, DocCursor, Message, auth_message};
use starling_protocol::{
    DeviceId, DeviceKey, DocId, Envelope, EnvelopeHash, EnvelopeHeader, Epoch, EpochKey, domain,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Bytes;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Documents, each with one publisher.
    #[arg(long, default_value_t = 10)]
    docs: usize,
    /// Subscriber connections per document.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Extra authenticated idle connections held open.
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// Flood: total envelopes to publish as fast as acks allow.
    #[arg(long, default_value_t = 100_000)]
    envelopes: usize,
    /// Paced: envelopes per second over all documents (0 = flood).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Paced: seconds to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Flood: envelopes in flight per publisher.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Payload bytes per envelope.
    #[arg(long, default_value_t = 200)]
    payload: usize,
    /// The relay's SQLite `synchronous`: full (durable, default), normal, off.
    #[arg(long, default_value = "full")]
    sync: String,
    /// Keep the relay's data in this (empty) PostgreSQL database instead of
    /// SQLite, e.g. postgres://postgres@127.0.0.1:5432/loadgen.
    #[arg(long)]
    postgres: Option<String>,
    /// Relay instances sharing the PostgreSQL database (needs --postgres).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Internal: run the relay in this process with data in this directory.
    #[arg(long, hide = true)]
    relay_child: Option<std::path::PathBuf>,
}

use starling_protocol::now_ms;

fn raise_nofile() {
    let _ = rlimit::increase_nofile_limit(200_000);
}

async fn relay_child(
    dir: std::path::PathBuf,
    sync: &str,
    postgres: Option<String>,
) -> anyhow::Result<()> {
    // Warnings and errors only, on stderr (STARLING_RELAY_LOG to change).
    let filter = tracing_subscriber::EnvFilter::try_from_env("STARLING_RELAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let mut c = starling_relay::RelayConfig::for_data_dir(dir);
    c.apply_env([("STARLING_RELAY_SYNCHRONOUS".to_owned(), sync.to_owned())])?;
    c.database_url = postgres;
    c.limits.messages_per_sec = 10_000_000;
    c.limits.message_burst = 10_000_000;
    c.limits.max_connections = 100_000;
    c.limits.max_subscriptions = 100_000;
    c.limits.outbound_queue = 1 << 16;
    c.limits.outbound_queue_bytes = 1 << 30;
    // Every connection is the one viewer device's.
    c.limits.connections_per_device = 200_000;
    c.limits.answer_bytes_per_sec = 1 << 40;
    c.limits.answer_burst_bytes = 1 << 40;
    let relay = starling_relay::start(c).await?;
    println!("{}", relay.url());
    let mut line = String::new();
    let _ = BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
    relay.shutdown().await;
    Ok(())
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv(ws: &mut WsStream) -> anyhow::Result<Message> {
    loop {
        match ws.next().await {
            Some(Ok(Ws::Binary(b))) => return Ok(wire::decode(&b)?),
            Some(Ok(_)) => continue,
            other => bail!("connection ended: {other:?}"),
        }
    }
}

async fn send(ws: &mut WsStream, m: &Message) -> anyhow::Result<()> {
    ws.send(Ws::Binary(wire::encode(m)?.into())).await?;
    Ok(())
}

/// Connects and authenticates; returns the socket and the relay's id.
async fn login(url: &str, key: &DeviceKey) -> anyhow::Result<(WsStream, DeviceId)> {
    // A small read buffer (as the relay's): tungstenite zeroes the free part
    // of it before every read, which at its 128 KiB default costs more than
    // the read.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    let device = key.device_id();
    send(
        &mut ws,
        &Message::Hello {
            device,
            agent: "loadgen".into(),
        },
    )
    .await?;
    let Message::Challenge {
        nonce,
        origin,
        relay,
    } = recv(&mut ws).await?
    else {
        bail!("no challenge")
    };
    let ts = now_ms();
    let signature = key.sign(
        domain::AUTH_SIG,
        &auth_message(&nonce.0, &origin, ts, &relay, &device),
    );
    send(
        &mut ws,
        &Message::Authenticate {
            device,
            timestamp: ts,
            signature,
        },
    )
    .await?;
    match recv(&mut ws).await? {
        Message::Welcome { .. } => Ok((ws, relay)),
        other => bail!("refused: {other:?}"),
    }
}

struct Doc {
    id: DocId,
    owner: DeviceKey,
    frames: Vec<Bytes>,
    /// Hash of each author seq's envelope (index seq - 1), to check acks.
    hashes: Vec<EnvelopeHash>,
    /// Length of every envelope of the document (they differ only in seq,
    /// prev, nonce and bytes, never in size).
    env_len: usize,
    /// Send time of each author seq (ns since `base`), for latency.
    sent: Vec<AtomicU64>,
}

fn prepare(n_docs: usize, per_doc: usize, payload: usize, viewer: &DeviceKey) -> Vec<Doc> {
    let mut rng = rand_core::OsRng;
    let key = EpochKey::from_bytes([7; 32]);
    let body = vec![0x42u8; payload];
    (0..n_docs)
        .map(|_| {
            let owner = DeviceKey::generate(&mut rng);
            let id = DocId::random(&mut rng);
            let mut prev = EnvelopeHash::ZERO;
            let mut hashes = Vec::with_capacity(per_doc);
            let mut env_len = 0;
            let frames = (1..=per_doc as u64)
                .map(|seq| {
                    let h = EnvelopeHeader::changes(id, Epoch(0), owner.device_id(), seq, prev);
                    let env = Envelope::seal(h, &body, &key, &owner, &mut rng).unwrap();
                    prev = env.hash();
                    hashes.push(prev);
                    env_len = env.as_bytes().len();
                    Bytes::from(wire::encode(&Message::Publish { envelope: env }).unwrap())
                })
                .collect();
            let _ = viewer;
            Doc {
                id,
                owner,
                frames,
                hashes,
                env_len,
                sent: (0..=per_doc).map(|_| AtomicU64::new(0)).collect(),
            }
        })
        .collect()
}

async fn create_doc(
    url: &str,
    d: &Doc,
    viewer: &DeviceKey,
) -> anyhow::Result<(WsStream, DeviceId)> {
    let (mut ws, relay) = login(url, &d.owner).await?;
    let g = MembershipState::genesis(d.id, &d.owner, "client", None, now_ms())?;
    let mut state = MembershipState::verify_chain(d.id, std::slice::from_ref(&g))?;
    let body = OpBody::AddMember {
        device: viewer.device_id(),
        role: Role::Viewer,
        perspective: "worker".into(),
    };
    let add = state.sign_op(&d.owner, now_ms(), body)?;
    state.apply(&add)?;
    for op in [g, add] {
        send(&mut ws, &Message::MembershipPublish { doc: d.id, op }).await?;
        match recv(&mut ws).await? {
            Message::MembershipDeliver { .. } => {}
            other => bail!("op refused: {other:?}"),
        }
    }
    Ok((ws, relay))
}

/// Byte offset of the author seq in an envelope (after version, doc, epoch
/// and author).
const SEQ_AT: usize = 1 + 16 + 8 + 32;

/// The author seq of the envelope a `deliver` frame carries, if it is
/// byte-identical to the envelope published at that seq. Both `deliver` and
/// `publish` frames end with the envelope's bytes (the last field), so this
/// needs no CBOR decoding.
fn delivered_seq(doc: &Doc, frame: &[u8]) -> Option<usize> {
    let env = frame.get(frame.len().checked_sub(doc.env_len)?..)?;
    let seq = u64::from_be_bytes(env.get(SEQ_AT..SEQ_AT + 8)?.try_into().ok()?) as usize;
    let published = doc.frames.get(seq.checked_sub(1)?)?;
    (published.get(published.len() - doc.env_len..)? == env).then_some(seq)
}

/// Reads deliveries, counting each frame that carries an envelope the
/// publisher sent; records publish-to-delivery latencies (µs).
async fn subscriber(
    mut ws: WsStream,
    doc: Arc<Doc>,
    base: Instant,
    count: Arc<AtomicU64>,
    want: usize,
    lat: bool,
) -> Vec<u32> {
    let mut out = Vec::new();
    let mut got = 0;
    while got < want {
        let Some(Ok(Ws::Binary(b))) = ws.next().await else {
            break;
        };
        let now = base.elapsed().as_nanos() as u64;
        let Some(seq) = delivered_seq(&doc, &b) else {
            continue;
        };
        got += 1;
        count.fetch_add(1, Relaxed);
        if lat && let Some(t) = doc.sent.get(seq) {
            out.push(((now.saturating_sub(t.load(Relaxed))) / 1000) as u32);
        }
    }
    out
}

/// Publishes `doc`'s envelopes; counts an envelope only when a relay-signed
/// ack names its hash. Records publish-to-ack latencies (µs).
async fn publisher(
    ws: WsStream,
    relay: DeviceId,
    doc: Arc<Doc>,
    base: Instant,
    window: usize,
    mut pace: Option<mpsc::UnboundedReceiver<()>>,
    acked: Arc<AtomicU64>,
) -> anyhow::Result<Vec<u32>> {
    let (mut tx, mut rx) = ws.split();
    let permits = Arc::new(tokio::sync::Semaphore::new(window));
    let n = doc.frames.len();
    let reader = {
        let (permits, acked, doc) = (permits.clone(), acked.clone(), doc.clone());
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            let mut got = 0;
            let mut batches = 0u64;
            while got < n {
                match rx.next().await {
                    Some(Ok(Ws::Binary(b))) => {
                        let Ok(Message::Acks(a)) = wire::decode(&b) else {
                            continue;
                        };
                        let now = base.elapsed().as_nanos() as u64;
                        // Every entry is checked against what was sent; the
                        // relay's signature (a full ed25519 verification,
                        // as costly as the relay's own work per envelope)
                        // on the first batch and every 16th after it.
                        if batches.is_multiple_of(16) {
                            assert!(a.verify(&relay), "ack signature does not verify");
                        }
                        batches += 1;
                        for e in &a.entries {
                            let seq = e.author_seq as usize;
                            let ours = e.doc == doc.id
                                && doc.hashes.get(seq.wrapping_sub(1)) == Some(&e.hash);
                            assert!(ours, "ack for an envelope not sent: {e:?}");
                            if let Some(t) = doc.sent.get(seq) {
                                lat.push((now.saturating_sub(t.load(Relaxed)) / 1000) as u32);
                            }
                        }
                        got += a.entries.len();
                        acked.fetch_add(a.entries.len() as u64, Relaxed);
                        permits.add_permits(a.entries.len());
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            lat
        })
    };
    for (i, f) in doc.frames.iter().enumerate() {
        match pace.as_mut() {
            // Paced: the pacer thread says when.
            Some(go) => {
                if go.recv().await.is_none() {
                    break;
                }
            }
            None => permits.acquire().await?.forget(),
        }
        doc.sent[i + 1].store(base.elapsed().as_nanos() as u64, Relaxed);
        tx.send(Ws::Binary(f.clone())).await?;
    }
    Ok(reader.await?)
}

/// Releases envelope `k` (of document `k mod docs`) at `k * every` from
/// now, on a thread of its own: tokio's timers tick in whole milliseconds,
/// which would bunch a 5,000/s load into bursts of five every millisecond.
/// The clock is absolute, so a late wake-up does not shift what follows.
fn pace(gates: Vec<mpsc::UnboundedSender<()>>, every: Duration, total: usize) {
    // Sleep precisely (the default timer slack is 50 µs); best effort.
    let _ = std::fs::write("/proc/thread-self/timerslack_ns", "1000");
    let start = Instant::now();
    for k in 0..total {
        let due = start + every * k as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if gates[k % gates.len()].send(()).is_err() {
            return;
        }
    }
}

fn proc_stat(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (ticks as f64 / 100.0, kb("VmHWM:"), kb("VmRSS:"))
}

fn pct(v: &mut [u32], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    f64::from(v[i]) / 1000.0
}

/// One relay process: the child, its pid and its URL.
async fn spawn_relay(
    dir: &std::path::Path,
    args: &Args,
) -> anyhow::Result<(tokio::process::Child, u32, String)> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--relay-child")
        .arg(dir)
        .args(
            args.postgres
                .iter()
                .flat_map(|u| ["--postgres", u.as_str()]),
        )
        .args(["--sync", &args.sync])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("relay pid")?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let url = out.next_line().await?.context("relay did not start")?;
    Ok((child, pid, url))
}

/// CPU seconds and peak RSS (kB) summed over the relay processes.
fn relay_stat(pids: &[u32]) -> (f64, u64) {
    pids.iter()
        .map(|p| proc_stat(*p))
        .fold((0.0, 0), |(c, m), (c1, m1, _)| (c + c1, m + m1))
}

/// Subscribes to `doc` from zero and waits until caught up; the document
/// may not have reached this instance yet, so an unknown document is asked
/// about again.
async fn subscribe(ws: &mut WsStream, doc: DocId) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        send(
            ws,
            &Message::Subscribe {
                docs: vec![DocCursor { doc, cursor: 0 }],
            },
        )
        .await?;
        loop {
            match recv(ws).await? {
                Message::CaughtUp { .. } => return Ok(()),
                Message::Error { .. } => break,
                _ => {}
            }
        }
        if start.elapsed() > Duration::from_secs(10) {
            bail!("{doc} never reached this instance");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    raise_nofile();
    if args.instances == 0 || (args.instances > 1 && args.postgres.is_none()) {
        bail!("--instances N needs N >= 1, and more than one needs --postgres URL");
    }
    let dir = tempfile::tempdir()?;
    let mut relays = Vec::new();
    for _ in 0..args.instances {
        relays.push(spawn_relay(dir.path(), &args).await?);
    }
    let pids: Vec<u32> = relays.iter().map(|r| r.1).collect();
    let urls: Vec<String> = relays.iter().map(|r| r.2.clone()).collect();
    let (pid, url) = (pids[0], urls[0].clone());
    let paced = args.rate > 0;
    let per_doc = if args.docs == 0 {
        0
    } else if paced {
        (args.rate * args.seconds) as usize / args.docs
    } else {
        args.envelopes / args.docs
    };
    println!(
        "relay pids {pids:?} at {urls:?}; sealing {} envelopes...",
        per_doc * args.docs
    );
    let viewer = DeviceKey::generate(&mut rand_core::OsRng);
    let docs: Vec<Arc<Doc>> = prepare(args.docs, per_doc, args.payload, &viewer)
        .into_iter()
        .map(Arc::new)
        .collect();

    let mut idle = Vec::new();
    for i in 0..args.connections {
        idle.push(
            login(&url, &viewer)
                .await
                .with_context(|| format!("idle connection {i}"))?
                .0,
        );
    }
    let _ = pid;
    if args.connections > 0 {
        let (_, hwm, rss) = proc_stat(pids[0]);
        println!(
            "{} idle authenticated connections: relay RSS {:.1} MB (peak {:.1} MB)",
            args.connections,
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
    }
    if args.docs == 0 {
        return Ok(());
    }
    let mut pubs = Vec::new();
    let mut subs = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        pubs.push(create_doc(&urls[i % urls.len()], d, &viewer).await?);
        let to = &urls[(i + 1) % urls.len()];
        for _ in 0..args.subscribers {
            let (mut ws, _) = login(to, &viewer).await?;
            subscribe(&mut ws, d.id).await?;
            subs.push((ws, d.clone()));
        }
    }
    let base = Instant::now();
    let acked = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let (cpu0, _) = relay_stat(&pids);
    let (own0, _, _) = proc_stat(std::process::id());
    let sub_tasks: Vec<_> = subs
        .into_iter()
        .map(|(ws, d)| tokio::spawn(subscriber(ws, d, base, delivered.clone(), per_doc, paced)))
        .collect();
    let (pacers, gates): (Vec<_>, Vec<_>) = docs
        .iter()
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            (tx, paced.then_some(rx))
        })
        .unzip();
    let pub_tasks: Vec<_> = pubs
        .into_iter()
        .zip(&docs)
        .zip(gates)
        .map(|(((ws, relay), d), gate)| {
            tokio::spawn(publisher(
                ws,
                relay,
                d.clone(),
                base,
                args.window,
                gate,
                acked.clone(),
            ))
        })
        .collect();
    if paced {
        let every = Duration::from_secs_f64(1.0 / args.rate as f64);
        let total = per_doc * docs.len();
        std::thread::spawn(move || pace(pacers, every, total));
    }
    let deadline = Duration::from_secs(args.seconds.max(5) * 6 + 60);
    let mut ack_lat = Vec::new();
    for t in pub_tasks {
        ack_lat.extend(
            tokio::time::timeout(deadline, t)
                .await
                .context("publishers timed out")???,
        );
    }
    let t_acked = base.elapsed();
    let mut lat = Vec::new();
    for t in sub_tasks {
        lat.extend(
            tokio::time::timeout(deadline, t)
                .await
                .context("subscribers timed out")??,
        );
    }
    let t_all = base.elapsed();
    let (cpu1, hwm) = relay_stat(&pids);
    let (own1, _, _) = proc_stat(std::process::id());
    let n = acked.load(Relaxed);
    let dl = delivered.load(Relaxed);
    println!(
        "{} on {}{}",
        if args.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.instances,
        if args.instances > 1 {
            " instances (every delivery crosses instances)"
        } else {
            " instance"
        }
    );
    println!(
        "{} docs x {} subscribers, {} publishers, {} idle connections, {} envelopes of {} B, synchronous={}, {}",
        args.docs,
        args.subscribers,
        args.docs,
        args.connections,
        n,
        args.payload,
        args.sync,
        if paced {
            format!("paced at {}/s", args.rate)
        } else {
            format!("flood (window {})", args.window)
        }
    );
    println!(
        "accepted:   {:.0} envelopes/s ({n} in {:.2} s)",
        n as f64 / t_acked.as_secs_f64(),
        t_acked.as_secs_f64()
    );
    println!(
        "deliveries: {:.0} /s ({dl} in {:.2} s)",
        dl as f64 / t_all.as_secs_f64(),
        t_all.as_secs_f64()
    );
    if paced {
        println!(
            "publish-to-ack latency: p50 {:.3} ms, p99 {:.3} ms, p999 {:.3} ms",
            pct(&mut ack_lat, 0.5),
            pct(&mut ack_lat, 0.99),
            pct(&mut ack_lat, 0.999)
        );
        println!(
            "publish-to-delivery latency: p50 {:.3} ms, p99 {:.3} ms, p999 {:.3} ms ({} samples)",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            pct(&mut lat, 0.999),
            lat.len()
        );
    }
    println!(
        "relay CPU (all instances): {:.1} µs per envelope ({:.2} s user+sys); relay peak RSS {:.1} MB",
        (cpu1 - cpu0) * 1e6 / n.max(1) as f64,
        cpu1 - cpu0,
        hwm as f64 / 1024.0
    );
    println!("clients (this process) CPU: {:.2} s", own1 - own0);
    drop(idle);
    for (mut child, _, _) in relays {
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(b"stop\n").await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(dir) = args.relay_child.clone() {
        raise_nofile();
        return rt.block_on(relay_child(dir, &args.sync, args.postgres.clone()));
    }
    rt.block_on(run(args))
}
