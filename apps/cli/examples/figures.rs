//! Measures what a person waits for, against a real relay on 127.0.0.1:
//!
//! 1. score-to-screen latency: a change committed on one device, synced, and
//!    applied on another device that is live (`sync --watch`), p50 and p99;
//! 2. a coordinator catching up on a caseload of journals after a week away
//!    (each journal with 20 new changes), over one connection;
//! 3. `show` on a five-year journal (load, view, render).
//!
//! `cargo run --release -p starling --example figures -- [--caseload 200] [--samples 200]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use recovery_journal::{DeviceId as JDevice, Instrument, Journal, Mode, Perspective};
use starling_client::{Client, ClientEvent, RelayAddr, Role, SyncMode};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn once(client: &Client, relay: &RelayAddr) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut events = Vec::new();
    let mode = SyncMode::Once {
        timeout: Duration::from_secs(60),
    };
    let result = rt.block_on(client.sync(relay, mode, std::future::pending(), |e| events.push(e)));
    if let Err(e) = result {
        let who = client.identity().map(|i| i.name).unwrap_or_default();
        let tail: Vec<_> = events.iter().rev().take(8).collect();
        panic!(
            "sync of {who} failed: {e}; {} events, last: {tail:#?}",
            events.len()
        );
    }
}

fn person(root: &std::path::Path, name: &str) -> Client {
    let c = Client::open(&root.join(name)).unwrap();
    c.init(name).unwrap();
    c
}

fn jdev(c: &Client) -> JDevice {
    JDevice::from_bytes(*c.identity().unwrap().device.as_bytes())
}

/// A journal owned by `owner` with one reading, shared with `worker`.
fn shared(
    owner: &Client,
    worker: &Client,
    relay: &RelayAddr,
    name: &str,
) -> (String, recovery_journal::ReadingId) {
    let mut j = Journal::create(jdev(owner), name).unwrap();
    let r = j
        .new_reading(
            "2026-11-23".parse().unwrap(),
            Mode::Joint,
            &Instrument::recovery_star(),
        )
        .unwrap();
    let doc = owner
        .create(relay, name, "client", &j.changes_since(&[]))
        .unwrap()
        .to_string();
    let link = owner
        .share(&doc, Role::Editor, "worker", "Alex", 86_400_000)
        .unwrap();
    once(owner, relay);
    worker.join(&link).unwrap();
    (doc, r)
}

fn edit(c: &Client, doc: &str, f: impl FnOnce(&mut Journal)) {
    let mut j = Journal::load(&c.document(doc).unwrap(), jdev(c)).unwrap();
    let before = j.heads();
    f(&mut j);
    c.commit(doc, &j.changes_since(&before)).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let caseload = arg("--caseload", 200);
    let samples = arg("--samples", 200);
    let dir = tempfile::tempdir().unwrap();
    let relay_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handle = relay_rt
        .block_on(starling_relay::start(
            starling_relay::RelayConfig::for_data_dir(dir.path().join("relay")),
        ))
        .unwrap();
    let relay = RelayAddr::parse(&handle.local_addr().to_string()).unwrap();

    // 1. Score-to-screen latency.
    let sam = person(dir.path(), "sam");
    let alex = person(dir.path(), "alex");
    let (doc, reading) = shared(&sam, &alex, &relay, "Sam");
    once(&alex, &relay);
    once(&sam, &relay);
    let (tx, rx) = mpsc::channel::<Instant>();
    let alex_home = dir.path().join("alex");
    let watch_relay = relay.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::spawn(move || {
        let alex = Client::open(&alex_home).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(alex.sync(
            &watch_relay,
            SyncMode::Watch,
            async {
                let _ = stop_rx.await;
            },
            |e| {
                if let ClientEvent::Changed { .. } = e {
                    let _ = tx.send(Instant::now());
                }
            },
        ))
        .unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut latencies = Vec::new();
    for i in 0..samples {
        let start = Instant::now();
        edit(&sam, &doc, |j| {
            j.set_score(&reading, "work", Perspective::Client, (i % 10 + 1) as i64)
                .unwrap()
        });
        once(&sam, &relay);
        let seen = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("change not seen");
        latencies.push(seen - start);
    }
    let _ = stop_tx.send(());
    watcher.join().unwrap();
    latencies.sort();
    println!(
        "score -> applied on a live device ({samples} samples, includes the sender's connect+auth): p50 {:?}, p99 {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    // 2. A caseload after a week offline.
    let coordinator = person(dir.path(), "coordinator");
    let mut owners = Vec::new();
    for i in 0..caseload {
        let owner = person(dir.path(), &format!("client{i}"));
        let (doc, reading) = shared(&owner, &coordinator, &relay, &format!("Client {i}"));
        owners.push((owner, doc, reading));
    }
    once(&coordinator, &relay);
    for (owner, doc, reading) in &owners {
        for k in 0..20 {
            edit(owner, doc, |j| {
                j.set_score(reading, "work", Perspective::Client, (k % 10 + 1) as i64)
                    .unwrap()
            });
        }
        once(owner, &relay);
    }
    let start = Instant::now();
    once(&coordinator, &relay);
    let took = start.elapsed();
    println!(
        "caseload catch-up: {caseload} journals x 20 new changes over one connection in {took:?} ({:?} per journal)",
        took / caseload.max(1) as u32
    );

    // 3. `show` on a five-year journal.
    let mut five = Journal::create(jdev(&sam), "Five years").unwrap();
    let star = Instrument::recovery_star();
    for w in 0..260i64 {
        let date = recovery_journal::Date::from_unix(1_609_459_200 + w * 7 * 86_400);
        let r = five.new_reading(date, Mode::Joint, &star).unwrap();
        for p in Perspective::ALL {
            let scores: Vec<(&str, i64)> = star
                .areas
                .iter()
                .enumerate()
                .map(|(a, area)| (area.id.as_str(), ((w as usize + a) % 10 + 1) as i64))
                .collect();
            five.set_scores(&r, *p, &scores).unwrap();
        }
    }
    for n in 0..500i64 {
        five.add_note(
            recovery_journal::Date::from_unix(1_609_459_200 + n * 3 * 86_400),
            None,
            "Slept better this week; went to the group on Tuesday and talked to two people.",
        )
        .unwrap();
    }
    let big = sam
        .create(&relay, "Five years", "client", &five.changes_since(&[]))
        .unwrap()
        .to_string();
    // As `starling` does on load: many stored chunks become one snapshot.
    let (_, _, mark) = sam.document_marked(&big).unwrap();
    sam.compact(&big, &five.save(), mark).unwrap();
    let mut show = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let j = Journal::load(&sam.document(&big).unwrap(), jdev(&sam)).unwrap();
        let view = j.view();
        let mut sink = Vec::new();
        let _ = std::io::Write::write_fmt(&mut sink, format_args!("{}", view.readings.len()));
        show.push(start.elapsed());
    }
    show.sort();
    println!(
        "show on a five-year journal (load + view): p50 {:?}, max {:?}",
        percentile(&show, 0.5),
        show[show.len() - 1]
    );
    relay_rt.block_on(handle.shutdown());
}
