//! Measures what a person waits for, against a real relay on 127.0.0.1:
//!
//! 1. score-to-screen latency: a change committed on one device, synced, and
//!    applied on another device that is live (`sync --watch`), p50 and p99;
//! 2. a coordinator catching up on a caseload of journals after a week away
//!    (each journal with 20 new changes), over one connection;
//! 3. `show` on a five-year journal (load, view, render), in a fresh
//!    process, beside automerge loading the same document alone;
//! 4. `list`, `report --caseload` and `show` of one journal of a caseload of
//!    200 journals with 8 readings each, in fresh processes: the first run
//!    (which builds the summaries and read models) and the runs after;
//! 5. what a locked store (`starling lock`) costs `score` and `show`;
//! 7. a new device for that caseload: `device link` and `device add`;
//! 6. `starling ui` in the system's headless Chromium (when Node.js and the
//!    browser test tools are installed, as `.ci/run` installs them): click to
//!    updated page for scoring, settling a conflict and opening a journal;
//!    the caseload screen's first paint; the journal screen's weight; a
//!    change on one device to visible on another's open page
//!    (`crates/web/tests/browser/figures.mjs`).
//!
//! `cargo run --release -p starling --example figures -- [--caseload 200] [--samples 200]`
//! (`--as-cli ARGS` runs `starling ARGS`: how the figures start fresh processes.)
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

/// Runs `starling --home HOME ARGS` in a fresh process (this example,
/// as the CLI), output discarded; returns how long it took.
fn cli(home: &std::path::Path, args: &[&str]) -> Duration {
    cli_with(home, args, None)
}

/// [`cli`], with `STARLING_PASSPHRASE` set to `passphrase` if given.
fn cli_with(home: &std::path::Path, args: &[&str], passphrase: Option<&str>) -> Duration {
    let start = Instant::now();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.env_remove("STARLING_PASSPHRASE");
    if let Some(p) = passphrase {
        command.env("STARLING_PASSPHRASE", p);
    }
    let status = command
        .arg("--as-cli")
        .arg("--home")
        .arg(home)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "starling {args:?} failed");
    start.elapsed()
}

/// The first run and the median of `n` runs after it.
fn cli_runs(home: &std::path::Path, args: &[&str], n: usize) -> (Duration, Duration) {
    let first = cli(home, args);
    let mut rest: Vec<Duration> = (0..n).map(|_| cli(home, args)).collect();
    rest.sort();
    (first, percentile(&rest, 0.5))
}

/// Section 5: `score` and `show` on a copy of `home` (unlocked), then on
/// the same copy locked.
fn locked_figures(home: &std::path::Path, doc: &str) {
    let copy = home.with_file_name("locked");
    std::fs::create_dir_all(&copy).unwrap();
    // A consistent copy through SQLite's backup, not a file copy under WAL.
    let from = rusqlite::Connection::open(home.join(starling_client::STORE_FILE)).unwrap();
    from.backup(
        rusqlite::MAIN_DB,
        copy.join(starling_client::STORE_FILE),
        None::<fn(rusqlite::backup::Progress)>,
    )
    .unwrap();
    drop(from);
    let pass = "a long walk on Tuesday";
    let measure = |passphrase: Option<&str>| {
        let mut show: Vec<Duration> = (0..10)
            .map(|_| cli_with(&copy, &["show", "-j", doc], passphrase))
            .collect();
        let mut score: Vec<Duration> = (0..10)
            .map(|i| {
                cli_with(
                    &copy,
                    &["score", "-j", doc, "work", &(i % 10 + 1).to_string()],
                    passphrase,
                )
            })
            .collect();
        show.sort();
        score.sort();
        (percentile(&show, 0.5), percentile(&score, 0.5))
    };
    let (show_plain, score_plain) = measure(None);
    starling_client::locked::lock(&copy.join(starling_client::STORE_FILE), pass).unwrap();
    let (show_locked, score_locked) = measure(Some(pass));
    println!(
        "locked store (SQLCipher, passphrase from STARLING_PASSPHRASE), fresh processes: show p50 {show_plain:?} unlocked, \
         {show_locked:?} locked; score p50 {score_plain:?} unlocked, {score_locked:?} locked"
    );
}

/// `starling ui` for `home` in a fresh process, and the link it printed.
fn ui(home: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--as-cli")
        .arg("--home")
        .arg(home)
        .args(["--json", "ui"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    (child, v["url"].as_str().unwrap().to_owned())
}

/// Section 5: Sam's and Alex's shared journal gets ten conflicts (both set
/// every agreed score apart, then sync), the caseload reaches the relay,
/// and the browser script measures three `starling ui` processes.
fn ui_figures(
    root: &std::path::Path,
    sam: &Client,
    alex: &Client,
    doc: &str,
    reading: &recovery_journal::ReadingId,
    relay: &RelayAddr,
    samples: usize,
) {
    let script = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .join("../../crates/web/tests/browser/figures.mjs");
    let tools = script
        .with_file_name("node_modules")
        .join("playwright-core");
    let node = std::process::Command::new("node").arg("--version").output();
    if !tools.exists() || node.is_err() {
        println!(
            "ui: skipped (needs Node.js and `npm ci --prefix crates/web/tests/browser`, and Chromium)"
        );
        return;
    }
    let star = Instrument::recovery_star();
    for (c, base) in [(sam, 2), (alex, 7)] {
        edit(c, doc, |j| {
            let scores: Vec<(&str, i64)> =
                star.areas.iter().map(|a| (a.id.as_str(), base)).collect();
            j.set_scores(reading, Perspective::Agreed, &scores).unwrap()
        });
    }
    once(sam, relay);
    once(alex, relay);
    once(sam, relay);
    let caseload = root.join("caseload");
    once(&Client::open(&caseload).unwrap(), relay);
    let (mut sam_ui, sam_url) = ui(&root.join("sam"));
    let (mut alex_ui, alex_url) = ui(&root.join("alex"));
    let (mut caseload_ui, caseload_url) = ui(&caseload);
    let status = std::process::Command::new("node")
        .arg(&script)
        .args([&sam_url, &alex_url, &caseload_url])
        .arg(format!("/j/{doc}/r/{reading}"))
        .arg(samples.to_string())
        .status()
        .unwrap();
    for child in [&mut sam_ui, &mut alex_ui, &mut caseload_ui] {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(status.success(), "the browser figures failed");
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--as-cli") {
        let cli = <starling::Cli as clap::Parser>::parse_from(
            std::iter::once("starling".to_owned()).chain(args.skip(1)),
        );
        starling::run(cli).unwrap();
        return;
    }
    let caseload = arg("--caseload", 200);
    let samples = arg("--samples", 200);
    // STARLING_FIGURES_KEEP=1 keeps the homes (to profile a command on them).
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("STARLING_FIGURES_KEEP").is_some();
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
    // Automerge alone, on the same bytes: the floor of any load.
    let bytes = sam.document(&big).unwrap();
    let mut floor = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let doc = automerge::Automerge::load(&bytes).unwrap();
        std::hint::black_box(doc.get_heads());
        floor.push(start.elapsed());
    }
    floor.sort();
    let mut load = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let j = Journal::load(&bytes, jdev(&sam)).unwrap();
        std::hint::black_box(j.view().readings.len());
        load.push(start.elapsed());
    }
    load.sort();
    let sam_home = dir.path().join("sam");
    let (first, warm) = cli_runs(&sam_home, &["show", "-j", &big], 9);
    let empty = cli(&sam_home, &["--version"]);
    println!(
        "show on a five-year journal, fresh process: first {first:?} (loads automerge, keeps the read model), then p50 {warm:?}; \
         in-process automerge load alone p50 {:?}, journal load + view p50 {:?}; a process that only prints its version {empty:?}",
        percentile(&floor, 0.5),
        percentile(&load, 0.5),
    );

    // 4. A caseload on one device, read with the CLI.
    let home = dir.path().join("caseload");
    let app = starling_app::App::open(&home).unwrap();
    app.init("Alex").unwrap();
    let star = Instrument::recovery_star();
    let relay_text = relay.to_string();
    let mut one = String::new();
    for i in 0..caseload {
        let doc = app
            .new_journal(&relay_text, Some(&format!("Client {i}")), "recovery-star")
            .unwrap()
            .to_string();
        let row = app.pick(Some(&doc)).unwrap();
        app.edit(&row, |j| {
            for r in 0..8i64 {
                let date = recovery_journal::Date::from_unix(1_700_000_000 + r * 90 * 86_400);
                let reading = j.new_reading(date, Mode::Joint, &star)?;
                for p in Perspective::ALL {
                    let scores: Vec<(&str, i64)> = star
                        .areas
                        .iter()
                        .enumerate()
                        .map(|(a, area)| (area.id.as_str(), ((i + a + r as usize) % 10 + 1) as i64))
                        .collect();
                    j.set_scores(&reading, *p, &scores)?;
                }
            }
            Ok(())
        })
        .unwrap();
        one = doc;
    }
    drop(app);
    let (list_first, list) = cli_runs(&home, &["list"], 15);
    let (report_first, report) = cli_runs(&home, &["report", "--caseload"], 15);
    let (show_first, show) = cli_runs(&home, &["show", "-j", &one], 15);
    println!(
        "caseload of {caseload} journals x 8 readings, fresh processes: list first {list_first:?} then p50 {list:?}; \
         report --caseload first {report_first:?} then p50 {report:?}; show of one first {show_first:?} then p50 {show:?}; \
         report --caseload / show = {:.1}x",
        report.as_secs_f64() / show.as_secs_f64()
    );
    // 5. What a locked store costs `score` and `show` (one journal of the
    // caseload, copied into a home of its own).
    locked_figures(&home, &one);

    // 7. Linking a new device to that caseload, in process: the link (a
    // device invite in every journal, and a sync that registers them) and
    // the new device's `add` (it asks the relay where the link is live,
    // redeems it in every journal and fetches them all).
    {
        let app = starling_app::App::open(&home).unwrap();
        let once = starling_app::SyncOptions::once(Duration::from_secs(600));
        let start = Instant::now();
        app.sync(None, &once, |_| {}).unwrap();
        let pushed = start.elapsed();
        let start = Instant::now();
        let (links, unsynced) = app.link_device(Duration::from_secs(900)).unwrap();
        let link_took = start.elapsed();
        assert!(unsynced.is_none(), "{unsynced:?}");
        let laptop = starling_app::App::open(&dir.path().join("caseload-laptop")).unwrap();
        let start = Instant::now();
        let joined = laptop.add_device(&links[0], Some("Alex")).unwrap();
        let add_took = start.elapsed();
        println!(
            "a new device for a caseload of {caseload} journals: device link {link_took:?} \
             (a device invite in each, and the sync that registers them); device add {add_took:?} \
             ({} journals arrived); the caseload's first push took {pushed:?}",
            joined.journals
        );
    }

    // 6. The UI in a browser.
    ui_figures(
        dir.path(),
        &sam,
        &alex,
        &doc,
        &reading,
        &relay,
        samples.min(20),
    );

    relay_rt.block_on(handle.shutdown());
    if keep {
        println!("homes kept in {}", dir.keep().display());
    }
}
