//! A person, not a device: linking a second device, losing the first,
//! recovering from the code alone, and shutting the lost device out.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::util::{Person, Relay, pair};

/// The score of `area` from `perspective` in the latest reading, and its
/// flags, as `show` gives them.
fn score(p: &Person, area: &str, perspective: &str) -> (serde_json::Value, serde_json::Value) {
    let view = p.json(&["show"]);
    let areas = view["readings"][0]["areas"].as_array().unwrap().clone();
    let a = areas
        .iter()
        .find(|a| a["area"] == area)
        .unwrap_or_else(|| panic!("no {area} in {view}"));
    (
        a[perspective]["value"].clone(),
        a[perspective]
            .get("flags")
            .cloned()
            .unwrap_or(serde_json::json!([])),
    )
}

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

/// A device nobody has set up yet.
fn fresh(root: &tempfile::TempDir, name: &str) -> Person {
    Person {
        home: root.path().join(name),
    }
}

#[test]
fn a_linked_device_then_recovery_from_the_code_alone_then_the_lost_device_is_shut_out() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["score", "work", "6"]);
    sam.ok(&["sync"]);
    // A fresh recovery code; for scripts, the last line is the code alone.
    let said = sam.ok(&["recovery-code", "--new"]);
    let code = said.lines().last().unwrap().trim().to_owned();
    assert_eq!(code.len(), 33, "{said}");
    let devices = sam.json(&["devices"]);
    assert_eq!(devices["recovery_code_in"], 1, "{devices}");

    // 1. Sam links a laptop; after one sync it holds the journal, as Sam.
    let link = sam.json(&["device", "link", "--no-qr"])["links"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.starts_with("starling://device/"), "{link}");
    let laptop = fresh(&root, "sam-laptop");
    // No --name: the laptop takes the name Sam's journals know Sam by.
    let said = laptop.ok(&["device", "add", &link]);
    assert!(said.contains("1 journal(s)"), "{said}");
    assert_eq!(laptop.json(&["whoami"])["name"], "Sam");
    assert_eq!(score(&laptop, "work", "client").0, 6);
    // The same link does not work twice.
    let again = fresh(&root, "someone-else");
    let (_, err) = again.fails(&["device", "add", &link]);
    assert!(err.contains("matched no journal"), "{err}");
    // The laptop scores as the client, and Alex sees it as the client's.
    laptop.ok(&["score", "self_care", "7"]);
    laptop.ok(&["sync"]);
    alex.ok(&["sync"]);
    let (value, flags) = score(&alex, "self_care", "client");
    assert_eq!(value, 7);
    assert_eq!(flags, serde_json::json!([]), "the laptop's score is Sam's");
    // What the laptop writes goes by Sam's name everywhere Alex reads it.
    let (watch, events) = crate::util::watch_json(&alex);
    laptop.ok(&["note", "add", "from the laptop"]);
    laptop.ok(&["sync"]);
    let event = crate::util::next_changed(&events);
    let said = event["text"].as_str().unwrap();
    assert!(
        said.starts_with("Sam: ") && !said.contains("device "),
        "the laptop's change is announced as Sam's: {event}"
    );
    drop(watch);
    alex.ok(&["sync"]);
    let notes = alex.ok(&["note", "list"]);
    assert!(
        notes.contains("Sam") && !notes.contains("unknown device"),
        "{notes}"
    );
    let laptop_id = laptop.json(&["whoami"])["device"].clone();
    let history = alex.json(&["history"]);
    let by_laptop: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["device"] == laptop_id)
        .collect();
    assert!(!by_laptop.is_empty(), "{laptop_id} in {history}");
    assert!(by_laptop.iter().all(|e| e["author"] == "Sam"), "{history}");
    // And in an export: the laptop is listed among Sam's devices, so the
    // note it wrote is Sam's on any care record.
    let exported: serde_json::Value =
        serde_json::from_str(&alex.ok(&["export", "--format", "json"])).unwrap();
    let sams = exported["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Sam")
        .unwrap()
        .clone();
    assert!(
        sams["devices"].as_array().unwrap().contains(&laptop_id),
        "{sams}"
    );
    let note = exported["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["text"] == "from the laptop")
        .unwrap()
        .clone();
    assert_eq!(note["author"], laptop_id, "{note}");
    let listed = sam.json(&["devices"]);
    sam.ok(&["sync"]);
    let listed_after = sam.json(&["devices"]);
    assert_eq!(listed["devices"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        listed_after["devices"].as_array().unwrap().len(),
        2,
        "{listed_after}"
    );
    // Which is which: the phone came first, the laptop from its link.
    let sam_id = sam.json(&["whoami"])["device"].clone();
    let entry = |id: &serde_json::Value| {
        listed_after["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device"] == *id)
            .unwrap()
            .clone()
    };
    assert_eq!(entry(&sam_id)["joined"], "first", "{listed_after}");
    assert_eq!(entry(&laptop_id)["joined"], "linked", "{listed_after}");
    assert_eq!(entry(&laptop_id)["linked_from"], sam_id, "{listed_after}");

    // 2. Sam's phone is lost (a copy of its home turns up later).
    let phone = sam.json(&["whoami"])["device"].as_str().unwrap().to_owned();
    let found = root.path().join("found-phone");
    copy_dir(&sam.home, &found);
    std::fs::remove_dir_all(&sam.home).unwrap();

    // 3. A new phone, from the code alone (on standard input).
    let new_phone = fresh(&root, "sam-new-phone");
    let mut child = new_phone
        .cmd(&["recover", "--relay", &relay.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", code.to_lowercase()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("1 journal(s)"), "{said}");
    // It names the devices to remove if they were lost (the phone, the laptop).
    assert!(
        said.contains("starling device remove") && said.contains(&phone[..12]),
        "{said}"
    );
    let new_code = said.lines().last().unwrap().trim().to_owned();
    assert_eq!(
        new_code.len(),
        33,
        "a new code replaces the spent one: {said}"
    );
    assert_ne!(new_code, code);
    assert_eq!(score(&new_phone, "work", "client").0, 6);
    assert_eq!(score(&new_phone, "self_care", "client").0, 7);
    let me = new_phone.json(&["whoami"]);
    assert_eq!(me["person"], phone, "{me}");
    assert_eq!(me["name"], "Sam", "named as the journals know Sam: {me}");
    // The new phone's list tells the three apart in words.
    let listed = new_phone.ok(&["devices"]);
    let line = |id: &str| {
        listed
            .lines()
            .find(|l| l.trim_start().starts_with(&id[..12]))
            .unwrap_or_else(|| panic!("{id} in {listed}"))
            .to_owned()
    };
    assert!(line(&phone).contains("your first device"), "{listed}");
    let laptop_hex = laptop_id.as_str().unwrap();
    assert!(
        line(laptop_hex).contains(&format!("linked from {}", &phone[..12])),
        "{listed}"
    );
    let new_hex = me["device"].as_str().unwrap();
    assert!(
        line(new_hex).contains("set up with your recovery code")
            && line(new_hex).contains("(this device)"),
        "{listed}"
    );
    // The spent code does not work again.
    let other = fresh(&root, "someone-with-the-old-code");
    let mut child = other
        .cmd(&["recover", "--relay", &relay.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("matched no journal"));

    // 4. As owner, the new phone removes the lost one and invites a worker.
    let removed = new_phone.json(&["device", "remove", &phone[..10], "--yes"]);
    assert_eq!(removed["journals"], 1, "{removed}");
    assert_eq!(removed["synced"], true, "{removed}");
    // The lost phone may have seen the code: a new one replaces it.
    assert_eq!(
        removed["recovery_code"].as_str().map(str::len),
        Some(33),
        "{removed}"
    );
    let jo_link = new_phone.json(&["share", "--as", "worker", "--name", "Jo"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    new_phone.ok(&["sync"]);
    let jo = Person::new(&root, "Jo");
    jo.ok(&["join", &jo_link]);
    new_phone.ok(&["sync"]);
    let members = new_phone.json(&["members"]);
    let text = members.to_string();
    assert!(text.contains("Jo"), "{text}");
    assert!(!text.contains(&phone), "the lost phone is gone: {text}");
    // Who looked: Sam's devices are Sam's, the lost one marked removed.
    let looked = new_phone.ok(&["access-log"]);
    assert!(
        looked.contains(&format!(
            "you (your device {}, since removed)",
            &phone[..12]
        )),
        "{looked}"
    );
    let laptop_short = &laptop_id.as_str().unwrap()[..12];
    assert!(
        looked.contains(&format!("you (your device {laptop_short})")),
        "{looked}"
    );
    assert!(!looked.contains("no longer a member"), "{looked}");
    new_phone.ok(&["score", "work", "8"]);
    new_phone.ok(&["sync"]);
    laptop.ok(&["sync"]);
    assert_eq!(score(&laptop, "work", "client").0, 8);

    // 5. The lost phone's store, found again, reads nothing written since.
    let lost = Person { home: found };
    let _ = lost.run(&["sync"]);
    // It knows it was removed: an edit there could never be sent, so it is
    // refused at once rather than set aside at the next sync.
    let (code, err) = lost.fails(&["score", "work", "1"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("you were removed from"), "{err}");
    assert_eq!(score(&lost, "work", "client").0, 6);
    let (value, _) = score(&lost, "work", "client");
    assert_ne!(value, 8);
    assert!(!lost.ok(&["members"]).contains("Jo"));
    // Nor does it act for Sam any more: no removing the new phone, no
    // recovery code or device link that could never work.
    let new_id = me["device"].as_str().unwrap();
    for args in [
        &["device", "remove", &new_id[..10], "--yes"][..],
        &["recovery-code", "--new"][..],
        &["device", "link", "--no-qr"][..],
    ] {
        let (_, err) = lost.fails(args);
        assert!(err.contains("this device was removed"), "{args:?}: {err}");
    }
    assert!(
        new_phone.ok(&["devices"]).contains(&new_id[..12]),
        "the new phone is still Sam's"
    );
}

#[test]
fn device_commands_explain_what_they_need() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let lonely = Person::new(&root, "Lee");
    let (_, err) = lonely.fails(&["device", "link"]);
    assert!(err.contains("no journal"), "{err}");
    let (_, err) = lonely.fails(&["device", "add", "starling://device/nonsense"]);
    assert!(err.contains("device link"), "{err}");
    let (sam, _alex) = pair(&root, &relay);
    let link = sam.json(&["device", "link", "--no-qr"])["links"][0]
        .as_str()
        .unwrap()
        .to_owned();
    // A device that already holds its own journals is not someone else's.
    let (_, err) = sam.fails(&["device", "add", &link]);
    assert!(err.contains("already holds journals"), "{err}");
    let me = sam.json(&["whoami"])["device"].as_str().unwrap().to_owned();
    let (_, err) = sam.fails(&["device", "remove", &me[..8], "--yes"]);
    assert!(err.contains("this device"), "{err}");
    let (_, err) = sam.fails(&["device", "remove", "ffffffff", "--yes"]);
    assert!(err.contains("no device of yours"), "{err}");
    // A mistyped recovery code is caught before anything is contacted.
    let code = sam.ok(&["recovery-code", "--new"]);
    let code = code.lines().last().unwrap().trim().to_owned();
    let mut typo: Vec<char> = code.chars().collect();
    typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let nobody = fresh(&root, "nobody");
    let mut child = nobody
        .cmd(&["recover", "--relay", &relay.addr])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{typo}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mistyped"), "{err}");
    // A replaced code stops working.
    let newer = sam.ok(&["recovery-code", "--new"]);
    assert_ne!(newer.lines().last().unwrap().trim(), code);
    let finder = fresh(&root, "finder");
    let mut child = finder
        .cmd(&["recover", "--relay", &relay.addr])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("matched no journal"), "{err}");
}

#[test]
fn a_coordinators_new_device_takes_the_name_others_gave_them_not_a_clients() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    // Alex also keeps a journal of their own for a client, Terry: it names
    // its owner Terry.
    alex.ok(&["new", "--client-name", "Terry", "--relay", &relay.addr]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    let link = alex.json(&["device", "link", "--no-qr"])["links"][0]
        .as_str()
        .unwrap()
        .to_owned();
    alex.ok(&["sync"]);
    let laptop = fresh(&root, "alex-laptop");
    laptop.ok(&["device", "add", &link]);
    assert_eq!(laptop.json(&["whoami"])["name"], "Alex");
}
