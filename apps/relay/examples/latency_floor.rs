//! What publish-to-delivery latency this machine allows at all: the
//! loadgen's paced shape (documents x subscribers, one publisher each, an
//! even rate over all of them) through the leanest relay we could write,
//! with no websocket, no crypto and no SQLite, on blocking threads.
//!
//! ```text
//! cargo run --release -p starling-relay --example latency_floor -- --rate 5000 --seconds 10
//! cargo run --release -p starling-relay --example latency_floor -- --rate 5000 --durable
//! ```
//!
//! The "relay" runs in a child process (this program re-executed): one
//! reader thread per publisher; one commit thread that takes everything
//! read so far and, with `--durable`, writes one 4 KiB block and
//! `fdatasync`s it (group commit, as the relay's WAL commit does); one
//! sender thread per document writing each message to its subscribers.
//! Latency runs from just before the publisher's write to the subscriber's
//! read, as in `loadgen`. Whatever the real relay adds on top (ed25519,
//! websocket framing, SQLite, the async runtime) comes on top of these
//! figures. The relay side's CPU time per message is printed too: the
//! floor under the loadgen's "relay CPU per envelope".
//!
//! `--crypto` adds the signatures the protocol cannot do without: each
//! message carries its publisher's ed25519 signature (made before the
//! clock starts), which the reader thread verifies, and after each commit
//! the document's sender thread signs one ack per publisher and writes it
//! back (after the deliveries), as the relay acknowledges a publish. It
//! still has no websocket, no SQLite and no async runtime: the floor under
//! what the relay must do per envelope on this machine.
//!
//! `--sqlite` (with `--durable`) commits each batch to SQLite instead of
//! the bare 4 KiB block, as the design asks of the relay (WAL,
//! `synchronous = FULL`, one transaction per batch): one row per message in
//! a table keyed by document and sequence number, SQLite otherwise as it
//! comes (its own checkpoints). That is the floor under the relay's durable
//! commit, which also keeps its dedupe index and access log in the same
//! transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

/// Bytes per message, about a small published envelope.
const MSG: usize = 300;

#[derive(Parser, Debug)]
struct Args {
    /// Documents, each with one publisher.
    #[arg(long, default_value_t = 10)]
    docs: usize,
    /// Subscriber connections per document.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Messages per second over all documents.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Make each commit durable (`fdatasync` of a 4 KiB write).
    #[arg(long)]
    durable: bool,
    /// Verify each message's ed25519 signature and sign an ack per
    /// publisher per commit, as the relay must.
    #[arg(long)]
    crypto: bool,
    /// With `--durable`: commit each batch to SQLite (WAL, synchronous =
    /// FULL) instead of writing one raw block.
    #[arg(long, requires = "durable")]
    sqlite: bool,
    /// Internal: run the relay side with its file in this directory.
    #[arg(long, hide = true)]
    relay_child: Option<std::path::PathBuf>,
}

/// The part of a message its publisher signs: all but the send time
/// (the first 8 bytes, written at send time) and the signature (the last
/// 64).
const SIGNED: std::ops::Range<usize> = 8..MSG - 64;
const DOMAIN: &[u8] = b"starling-latency-floor";

/// Document `d`'s publisher key (both processes derive it).
fn publisher_key(d: usize) -> starling_protocol::DeviceKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(d as u64).to_le_bytes());
    starling_protocol::DeviceKey::from_seed(seed)
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn relay(args: &Args, dir: &std::path::Path) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let file = std::fs::File::create(dir.join("log")).unwrap();
    file.set_len(64 << 20).unwrap();
    file.sync_all().unwrap();
    let per_doc = args.subscribers + 1;
    let mut conns = Vec::new();
    for _ in 0..args.docs * per_doc {
        let (s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        conns.push(s);
    }
    let queue = Arc::new((Mutex::new(Vec::<(usize, [u8; MSG])>::new()), Condvar::new()));
    let mut senders = Vec::new();
    let crypto = args.crypto;
    let relay_key = Arc::new(starling_protocol::DeviceKey::from_seed([0xEE; 32]));
    for d in 0..args.docs {
        let mut publisher = conns[d * per_doc].try_clone().unwrap();
        let q = queue.clone();
        let author = publisher_key(d).device_id();
        std::thread::spawn(move || {
            let mut buf = [0u8; MSG];
            while publisher.read_exact(&mut buf).is_ok() {
                if crypto {
                    let sig = starling_protocol::Signature(buf[MSG - 64..].try_into().unwrap());
                    assert!(sig.verify(&author, DOMAIN, &buf[SIGNED]), "bad signature");
                }
                q.0.lock().unwrap().push((d, buf));
                q.1.notify_one();
            }
        });
        let mut subs: Vec<TcpStream> = (1..per_doc)
            .map(|i| conns[d * per_doc + i].try_clone().unwrap())
            .collect();
        let mut acks_to = conns[d * per_doc].try_clone().unwrap();
        let (tx, rx) = mpsc::channel::<Vec<[u8; MSG]>>();
        senders.push(tx);
        let relay_key = relay_key.clone();
        std::thread::spawn(move || {
            while let Ok(msgs) = rx.recv() {
                for m in &msgs {
                    for s in &mut subs {
                        if s.write_all(m).is_err() {
                            return;
                        }
                    }
                }
                if crypto {
                    // One signed ack naming every message of the commit.
                    let mut named = Vec::with_capacity(msgs.len() * 32);
                    for m in &msgs {
                        named.extend_from_slice(&m[8..40]);
                    }
                    let sig = relay_key.sign(DOMAIN, &named);
                    if acks_to.write_all(&sig.0).is_err() {
                        return;
                    }
                }
            }
        });
    }
    let durable = args.durable;
    let mut at = 0u64;
    let mut db = args.sqlite.then(|| {
        let db = rusqlite::Connection::open(dir.join("floor.db")).unwrap();
        db.pragma_update(None, "journal_mode", "WAL").unwrap();
        db.pragma_update(None, "synchronous", "FULL").unwrap();
        db.execute_batch(
            "CREATE TABLE log (doc INTEGER, seq INTEGER, bytes BLOB NOT NULL,
                               PRIMARY KEY (doc, seq)) WITHOUT ROWID",
        )
        .unwrap();
        db
    });
    let mut seqs = vec![0i64; args.docs];
    loop {
        let batch = {
            let mut g = queue.0.lock().unwrap();
            while g.is_empty() {
                g = queue.1.wait(g).unwrap();
            }
            std::mem::take(&mut *g)
        };
        if let Some(db) = &mut db {
            let tx = db.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO log (doc, seq, bytes) VALUES (?1, ?2, ?3)")
                    .unwrap();
                for (d, m) in &batch {
                    seqs[*d] += 1;
                    insert
                        .execute(rusqlite::params![*d as i64, seqs[*d], &m[..]])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        } else if durable {
            file.write_all_at(&[1u8; 4096], (at % 4096) * 4096).unwrap();
            file.sync_data().unwrap();
            at += 1;
        }
        let mut by_doc: Vec<Vec<[u8; MSG]>> = vec![Vec::new(); args.docs];
        for (d, m) in batch {
            by_doc[d].push(m);
        }
        for (d, msgs) in by_doc.into_iter().enumerate() {
            if !msgs.is_empty() && senders[d].send(msgs).is_err() {
                return;
            }
        }
    }
}

/// A process's user+system CPU seconds, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

fn pct(v: &[u64], p: f64) -> f64 {
    v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1e6
}

fn main() {
    let args = Args::parse();
    if let Some(dir) = &args.relay_child {
        return relay(&args, dir);
    }
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--relay-child", dir.path().to_str().unwrap()])
        .args(["--docs", &args.docs.to_string()])
        .args(["--subscribers", &args.subscribers.to_string()])
        .args(if args.durable {
            &["--durable"][..]
        } else {
            &[]
        })
        .args(if args.crypto { &["--crypto"][..] } else { &[] })
        .args(if args.sqlite { &["--sqlite"][..] } else { &[] })
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let port: u16 = port.trim().parse().unwrap();
    let per = (args.rate * args.seconds) as usize / args.docs;
    // Every message, signed before the clock starts.
    let signed: Vec<Vec<[u8; MSG]>> = (0..args.docs)
        .map(|d| {
            let key = publisher_key(d);
            (0..per)
                .map(|k| {
                    let mut m = [0u8; MSG];
                    m[8..16].copy_from_slice(&(k as u64).to_le_bytes());
                    m[16..24].copy_from_slice(&(d as u64).to_le_bytes());
                    if args.crypto {
                        let sig = key.sign(DOMAIN, &m[SIGNED]);
                        m[MSG - 64..].copy_from_slice(&sig.0);
                    }
                    m
                })
                .collect()
        })
        .collect();
    let mut publishers = Vec::new();
    let mut readers = Vec::new();
    let mut ack_readers = Vec::new();
    for _ in 0..args.docs {
        let p = TcpStream::connect(("127.0.0.1", port)).unwrap();
        p.set_nodelay(true).unwrap();
        if args.crypto {
            // Acks are read (and dropped) so the relay never blocks on them.
            let mut r = p.try_clone().unwrap();
            ack_readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while r.read_exact(&mut buf).is_ok() {}
            }));
        }
        publishers.push(p);
        for _ in 0..args.subscribers {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_nodelay(true).unwrap();
            readers.push(std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per);
                let mut buf = [0u8; MSG];
                for _ in 0..per {
                    s.read_exact(&mut buf).unwrap();
                    let sent = u64::from_le_bytes(buf[..8].try_into().unwrap());
                    lat.push(wall_ns().saturating_sub(sent));
                }
                lat
            }));
        }
    }
    // Publisher `i` sends at `i / rate` past each `docs / rate` period.
    let period = Duration::from_secs_f64(args.docs as f64 / args.rate as f64);
    let start = Instant::now() + Duration::from_millis(50);
    let cpu0 = cpu_seconds(child.id());
    let own0 = cpu_seconds(std::process::id());
    let docs = args.docs;
    let writers: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .zip(signed)
        .map(|((i, mut p), msgs)| {
            std::thread::spawn(move || {
                let _ = std::fs::write("/proc/thread-self/timerslack_ns", "1000");
                for (k, mut buf) in msgs.into_iter().enumerate() {
                    let due = start + period.mul_f64(k as f64 + i as f64 / docs as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    buf[..8].copy_from_slice(&wall_ns().to_le_bytes());
                    p.write_all(&buf).unwrap();
                }
                p
            })
        })
        .collect();
    let mut lat: Vec<u64> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    drop(writers.into_iter().map(|w| w.join()).collect::<Vec<_>>());
    let cpu = cpu_seconds(child.id()) - cpu0;
    let own = cpu_seconds(std::process::id()) - own0;
    let _ = child.kill();
    let _ = child.wait();
    drop(ack_readers);
    lat.sort_unstable();
    println!(
        "{} docs x {} subscribers at {}/s, {}{}: publish-to-delivery p50 {:.3} ms, p99 {:.3} ms, p999 {:.3} ms ({} samples); relay side CPU {:.1} µs per message ({:.2} s); clients (this process) CPU {:.2} s",
        args.docs,
        args.subscribers,
        args.rate,
        match (args.durable, args.sqlite) {
            (true, false) => "durable group commit",
            (true, true) => "durable group commit in SQLite",
            (false, _) => "no storage",
        },
        if args.crypto {
            ", ed25519 verify + signed acks"
        } else {
            ""
        },
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 0.999),
        lat.len(),
        cpu * 1e6 / (per * args.docs) as f64,
        cpu,
        own
    );
}
