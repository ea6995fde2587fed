//! A live session: the coordinator's `sync --watch` shows the client's score.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{Person, Relay, Running, pair};

#[test]
fn sync_watch_shows_a_score_from_another_device_within_a_second() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    let mut watch = Running(
        alex.cmd(&["sync", "--watch"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut watch.0);
    // Wait until the watcher is connected and caught up.
    let _ = wait_for(&rx, "up to date", 20);
    sam.ok(&["score", "work", "6"]);
    let started = Instant::now();
    sam.ok(&["sync"]);
    let seen = wait_for(&rx, "scored work 6", 10).map(|_| started.elapsed());
    // Alex, in another terminal, sets an agreed score; the watcher sends it.
    // Sam, not yet synced, sets a different one: when it arrives the watcher
    // reports the conflict.
    alex.ok(&["score", "work", "6", "--as", "agreed"]);
    sam.ok(&["score", "work", "5", "--as", "agreed"]);
    sam.ok(&["sync"]);
    let conflict = wait_for(&rx, "CONFLICT", 10).expect("the watcher never reported the conflict");
    assert!(
        conflict.contains("score/work/agreed") && conflict.contains("Sam said 5"),
        "{conflict}"
    );

    // Sam opens a live session too: Alex's watcher shows who is present.
    let sams_watch = Running(
        sam.cmd(&["sync", "--watch"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let present = wait_for(&rx, "Sam is here", 10).is_some();
    drop(sams_watch);
    drop(watch);
    assert!(present, "the watcher never showed Sam as present");
    let seen = seen.expect("the watcher never printed the score");
    assert!(seen < Duration::from_secs(2), "took {seen:?}");
    assert!(seen.as_millis() > 0);
}

/// Lines of a child's stdout, read on a thread.
pub(crate) fn lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait up to `secs` for a line containing `what`, and return it.
pub(crate) fn wait_for(
    rx: &std::sync::mpsc::Receiver<String>,
    what: &str,
    secs: u64,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && line.contains(what)
        {
            return Some(line);
        }
    }
    None
}

#[test]
fn share_and_a_one_off_sync_work_while_sync_watch_runs_on_the_same_device() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    let mut watch = Running(
        sam.cmd(&["sync", "--watch"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut watch.0);
    assert!(
        wait_for(&rx, "up to date", 20).is_some(),
        "the watcher never caught up"
    );

    // A second live sync on the same device is refused at once (two would
    // take turns forever), and the first one is not disturbed.
    let mut second = Running(
        sam.cmd(&["sync", "--watch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(status) = second.0.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "a second watcher hung");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(6), "busy store is exit code 6");
    assert!(
        wait_for(&rx, "paused", 1).is_none(),
        "the first watcher stepped aside"
    );

    // In another terminal, Sam invites a second worker: the live session
    // steps aside instead of failing the command.
    let link = sam.json(&["share", "--as", "worker", "--name", "Jo"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        wait_for(&rx, "paused", 10).is_some(),
        "the watcher never paused"
    );
    assert!(
        wait_for(&rx, "resumed", 10).is_some(),
        "the watcher never resumed"
    );
    // Once it is back and caught up, it has sent the invite to the relay.
    assert!(
        wait_for(&rx, "up to date", 20).is_some(),
        "the watcher never reconnected"
    );
    let jo = Person::new(&root, "Jo");
    jo.ok(&["join", &link]);
    jo.ok(&["sync"]);
    assert_eq!(
        jo.json(&["show"])["readings"].as_array().map(Vec::len),
        Some(1),
        "Jo got the journal through the invite made during the live session"
    );

    // A one-off sync from another terminal works too, and the live session
    // is live again afterwards: Alex's score shows up in it.
    sam.ok(&["sync"]);
    alex.ok(&["score", "work", "3"]);
    alex.ok(&["sync"]);
    assert!(
        wait_for(&rx, "scored work 3", 20).is_some(),
        "the watcher was not live after stepping aside"
    );
}
