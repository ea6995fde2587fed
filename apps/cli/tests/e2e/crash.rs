//! `kill -9` in the middle of `score` and of `sync`: nothing committed is
//! lost and the next sync completes.

use std::time::Duration;

use crate::util::{Relay, pair};

#[test]
fn killing_the_client_mid_score_and_mid_sync_loses_nothing_committed() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    for i in 0..6u64 {
        // Kill a score at a different moment each time.
        let mut child = sam
            .cmd(&["score", "work", &((i % 10) + 1).to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(i * 7));
        let _ = child.kill();
        let _ = child.wait();
        // And a sync.
        let mut child = sam
            .cmd(&["sync"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(i * 11));
        let _ = child.kill();
        let _ = child.wait();
    }
    // Whatever was committed is still readable, and a full sync completes.
    sam.ok(&["score", "self_care", "7"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    let s = sam.json(&["show"]);
    let a = alex.json(&["show"]);
    assert_eq!(s["readings"], a["readings"]);
    assert_eq!(a["readings"][0]["areas"][1]["client"]["value"], 7);
}
