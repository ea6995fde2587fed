//! A live session: the coordinator's `sync --watch` shows the client's score.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Relay, pair};

#[test]
fn sync_watch_shows_a_score_from_another_device_within_a_second() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    let mut watch = alex
        .cmd(&["sync", "--watch"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    // Wait until the watcher is connected and caught up.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if rx
            .recv_timeout(Duration::from_secs(1))
            .is_ok_and(|l| l.contains("up to date"))
        {
            break;
        }
    }
    sam.ok(&["score", "work", "6"]);
    let started = Instant::now();
    sam.ok(&["sync"]);
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && line.contains("scored work 6")
        {
            seen = Some(started.elapsed());
            break;
        }
    }
    // Alex, in another terminal, sets an agreed score; the watcher sends it.
    // Sam, not yet synced, sets a different one: when it arrives the watcher
    // reports the conflict.
    alex.ok(&["score", "work", "6", "--as", "agreed"]);
    sam.ok(&["score", "work", "5", "--as", "agreed"]);
    sam.ok(&["sync"]);
    let mut conflict = None;
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(10) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && line.contains("CONFLICT")
        {
            conflict = Some(line);
            break;
        }
    }
    let conflict = conflict.expect("the watcher never reported the conflict");
    assert!(
        conflict.contains("score/work/agreed") && conflict.contains("Sam said 5"),
        "{conflict}"
    );

    // Sam opens a live session too: Alex's watcher shows who is present.
    let mut sams_watch = sam
        .cmd(&["sync", "--watch"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut present = false;
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(10) {
        if rx
            .recv_timeout(Duration::from_millis(100))
            .is_ok_and(|l| l.contains("Sam is here"))
        {
            present = true;
            break;
        }
    }
    let _ = sams_watch.kill();
    let _ = sams_watch.wait();
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(present, "the watcher never showed Sam as present");
    let seen = seen.expect("the watcher never printed the score");
    assert!(seen < Duration::from_secs(2), "took {seen:?}");
    assert!(seen.as_millis() > 0);
}
