//! Stores, journals and a relay written by the release before persons
//! (fixtures/before-persons, made by its `make.sh`) open with today's
//! software: nothing changes for a person with one device, and a device
//! links from there.

use std::path::Path;

use crate::util::{Person, Relay, manifest_dir};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The relay the fixture used now listens elsewhere: point a home at it.
fn moved(home: &Path, from: &str, to: &str) {
    let db = rusqlite::Connection::open(home.join("starling.db")).unwrap();
    for table in ["docs", "relays"] {
        db.execute(
            &format!("UPDATE {table} SET relay = ?2 WHERE relay = ?1"),
            [from, to],
        )
        .unwrap();
    }
}

fn score(p: &Person, area: &str, perspective: &str) -> serde_json::Value {
    let view = p.json(&["show"]);
    view["readings"][0]["areas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["area"] == area)
        .unwrap()[perspective]["value"]
        .clone()
}

#[test]
fn stores_and_a_relay_from_before_persons_work_unchanged_and_link_a_device() {
    let fixture = manifest_dir().join("tests/fixtures/before-persons");
    let root = tempfile::tempdir().unwrap();
    copy_dir(&fixture, root.path());
    let old_addr = std::fs::read_to_string(root.path().join("relay-addr.txt")).unwrap();
    let relay = Relay::start(root.path());
    let sam = Person {
        home: root.path().join("sam"),
    };
    let alex = Person {
        home: root.path().join("alex"),
    };
    moved(&sam.home, old_addr.trim(), &relay.addr);
    moved(&alex.home, old_addr.trim(), &relay.addr);

    // Everything as it was, read by today's software.
    let me = sam.json(&["whoami"]);
    assert_eq!(me["person"], me["device"], "a person of one device: {me}");
    assert_eq!(score(&sam, "work", "client"), 6);
    assert_eq!(score(&sam, "self_care", "client"), 4);
    assert_eq!(score(&alex, "work", "worker"), 5);
    assert!(sam.ok(&["note", "list"]).contains("Written before persons"));
    // Syncing against the old relay's data: nothing to send, nothing lost.
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    assert_eq!(score(&alex, "work", "client"), 6);
    let members = sam.json(&["members"]).to_string();
    assert!(members.contains("Alex"), "{members}");
    let version: i64 = rusqlite::Connection::open(sam.home.join("starling.db"))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, starling_app::client::SCHEMA_VERSION);

    // From there, a recovery code and a second device.
    sam.ok(&["recovery-code", "--new"]);
    let link = sam.json(&["device", "link", "--no-qr"])["links"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let laptop = Person {
        home: root.path().join("sam-laptop"),
    };
    laptop.ok(&["device", "add", &link, "--name", "Sam"]);
    assert_eq!(score(&laptop, "work", "client"), 6);
    laptop.ok(&["score", "work", "7"]);
    laptop.ok(&["sync"]);
    alex.ok(&["sync"]);
    assert_eq!(score(&alex, "work", "client"), 7);
    sam.ok(&["sync"]);
    assert_eq!(score(&sam, "work", "client"), 7);
    assert_eq!(
        sam.json(&["devices"])["devices"].as_array().unwrap().len(),
        2
    );
}
