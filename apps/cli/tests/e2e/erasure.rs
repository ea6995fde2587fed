//! Erasure: an owner deletes a journal everywhere; a member leaves one.

use std::path::Path;

use crate::util::{Relay, pair};

const PLANTED: &str = "PLANTED-ERASE-Sam slept badly after the review";

/// Files under `dir` (recursively) that contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn an_owners_delete_erases_the_journal_from_every_device() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["note", "add", PLANTED]);
    sam.ok(&["score", "work", "4"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    assert!(
        !holding(&alex.home, PLANTED.as_bytes()).is_empty(),
        "the scan finds it"
    );

    // Only the owner deletes, and never without a yes.
    let (_, err) = alex.fails(&["delete", "--yes"]);
    assert!(err.contains("only the owner"), "{err}");
    assert!(err.contains("starling leave"), "{err}");
    let (_, err) = sam.fails(&["delete"]);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(sam.json(&["list"]).as_array().map(Vec::len), Some(1));

    // Deleted, with a copy kept first.
    let copy = root.path().join("sam-copy");
    let said = sam.json(&["delete", "--yes", "--export", copy.to_str().unwrap()]);
    assert_eq!(said["done"], true, "{said}");
    assert!(copy.join("index.html").is_file());
    let list = sam.ok(&["list"]);
    assert!(!list.contains("Sam's journal"), "{list}");
    // The copy is outside the home; nothing of the journal is left in it.
    assert_eq!(holding(&sam.home, PLANTED.as_bytes()), Vec::<String>::new());

    // Alex's device erases its copy on its next sync, and says so.
    let said = alex.ok(&["sync"]);
    assert!(
        said.contains("was deleted by its owner: erased from this device"),
        "{said}"
    );
    assert_eq!(
        holding(&alex.home, PLANTED.as_bytes()),
        Vec::<String>::new()
    );
    let (_, err) = alex.fails(&["show"]);
    assert!(err.contains("no journal"), "{err}");
}

#[test]
fn a_member_leaves_and_the_owner_sees_them_gone() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["note", "add", PLANTED]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    // The owner cannot leave; they delete.
    let (_, err) = sam.fails(&["leave", "--yes"]);
    assert!(err.contains("delete it instead"), "{err}");

    let said = alex.json(&["leave", "--yes"]);
    assert_eq!(said["done"], true, "{said}");
    assert_eq!(
        holding(&alex.home, PLANTED.as_bytes()),
        Vec::<String>::new()
    );
    sam.ok(&["sync"]);
    let members = sam.json(&["members"]);
    let alex_row = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Alex")
        .cloned()
        .unwrap_or_default();
    assert!(alex_row["role"].is_null(), "Alex still a member: {members}");
    assert!(
        alex_row["removed"].is_string(),
        "no date Alex left: {members}"
    );
    // Alex left: said so, not "removed".
    assert_eq!(alex_row["left"], true, "{members}");
    let listed = sam.ok(&["members"]);
    assert!(
        listed.contains("left 20") && !listed.contains("removed"),
        "{listed}"
    );
    // Sam's journal goes on.
    sam.ok(&["score", "work", "5"]);
    sam.ok(&["sync"]);
}

#[test]
fn a_delete_made_offline_waits_and_is_carried_out_by_the_next_sync() {
    let root = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["note", "add", PLANTED]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    relay.stop();
    let said = sam.ok(&["delete", "--yes"]);
    assert!(said.contains("on the next `starling sync`"), "{said}");
    // Still here, and `list` says why; nothing is lost before the relay
    // has erased it.
    let list = sam.ok(&["list"]);
    assert!(
        list.contains("waiting to be carried out at the relay"),
        "{list}"
    );
    relay.restart();
    let said = sam.ok(&["sync"]);
    assert!(
        said.contains("deleted by its owner: erased from this device"),
        "{said}"
    );
    assert_eq!(holding(&sam.home, PLANTED.as_bytes()), Vec::<String>::new());
    alex.ok(&["sync"]);
    assert_eq!(
        holding(&alex.home, PLANTED.as_bytes()),
        Vec::<String>::new()
    );
}

#[test]
fn a_journal_the_relays_retention_deletes_stays_on_the_devices_and_says_why() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start_with(root.path(), |c| c.retention_days = Some(30));
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["note", "add", PLANTED]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    let month_on = starling_app::client::now_ms() + 31 * 24 * 3600 * 1000;
    assert_eq!(relay.sweep_at(month_on), 1);
    let (code, err) = alex.fails(&["sync"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("the relay deleted"), "{err}");
    assert!(err.contains("you keep your copy"), "{err}");
    // Nothing was erased on the device: the relay's word alone erases
    // nothing.
    assert!(alex.ok(&["note", "list"]).contains("PLANTED-ERASE"));
    assert!(alex.ok(&["list"]).contains("the relay deleted"));
}

#[test]
fn a_journal_that_never_reached_its_relay_is_deleted_at_once() {
    let root = tempfile::tempdir().unwrap();
    let sam = crate::util::Person::new(&root, "Sam");
    // Nothing listens on the discard port: the journal never leaves here.
    sam.ok(&["new", "--relay", "127.0.0.1:9"]);
    sam.ok(&["note", "add", PLANTED]);
    let said = sam.ok(&["delete", "--yes"]);
    assert!(
        said.contains("it had never reached its relay, so nobody else had it"),
        "{said}"
    );
    let (_, err) = sam.fails(&["show"]);
    assert!(err.contains("no journal"), "{err}");
    assert_eq!(holding(&sam.home, PLANTED.as_bytes()), Vec::<String>::new());
}
