//! `starling export --all DIR`: a person's copy of everything about them on
//! this device, with an index that explains it.

use serde_json::Value;

use crate::util::{Relay, pair};

#[test]
fn export_all_holds_drafts_notes_sign_offs_history_and_an_index() {
    let root = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["score", "work", "4"]);
    sam.ok(&["note", "add", "PLANTED-NOTE-Slept better this week"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    alex.ok(&["score", "work", "7"]);
    alex.ok(&["sign-off"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    // A draft: a new reading, one score, signed by nobody.
    sam.ok(&["reading", "new", "--date", "2026-12-01"]);
    sam.ok(&["score", "self_care", "3"]);

    let dir = root.path().join("my-data");
    let said = sam.json(&["export", "--all", dir.to_str().unwrap()]);
    assert_eq!(said["journals"], 1);
    let files: Vec<&str> = said["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in &files {
        assert!(dir.join(f).is_file(), "{f} listed but missing");
    }
    let folder = files
        .iter()
        .find_map(|f| f.strip_suffix("/journal.json"))
        .expect("a journal.json")
        .to_owned();
    let read = |name: &str| std::fs::read_to_string(dir.join(&folder).join(name)).unwrap();
    let json = |name: &str| -> Value { serde_json::from_str(&read(name)).unwrap() };

    let journal = read("journal.json");
    assert!(
        journal.contains("PLANTED-NOTE"),
        "the note is in the export"
    );
    let view = json("view.json");
    let readings = view["readings"].as_array().unwrap();
    assert_eq!(readings.len(), 2, "the draft is in the export");
    assert_eq!(
        readings[0]["signoff"]["state"], "partial",
        "{}",
        readings[0]["signoff"]
    );
    assert_eq!(readings[1]["signoff"]["state"], "unsigned");
    let history = json("history.json");
    assert!(history.as_array().unwrap().len() >= 4, "{history}");
    let members = read("members.json");
    assert!(
        members.contains("Alex") && members.contains("Sam"),
        "{members}"
    );
    assert!(read("journal.csv").contains("self_care"));
    assert_eq!(json("journal.fhir.json")["resourceType"], "Bundle");
    let invites = json("invites.json");
    assert_eq!(invites[0]["name"], "Alex");
    // What the relay holds, as it signed it.
    let held = json("relay-access-log.json");
    let lines = held["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["who"] == "Alex (worker)" && l["kind"] == "fetch"),
        "{held}"
    );
    assert!(held["stored"]["envelopes"].as_u64().unwrap() >= 1, "{held}");
    let signed = starling_app::client::SignedAccessLog::from_bytes(
        &std::fs::read(dir.join(&folder).join("relay-access-log.signed")).unwrap(),
    )
    .unwrap();
    let relay_key: starling_app::client::DeviceId = held["signed_by_relay_key"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let doc: starling_app::client::DocId = held["journal"].as_str().unwrap().parse().unwrap();
    let stated = signed
        .verify(&relay_key, &doc)
        .expect("the relay's signature");
    assert_eq!(
        stated.stored.envelopes,
        held["stored"]["envelopes"].as_u64().unwrap()
    );

    let device: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("device.json")).unwrap()).unwrap();
    assert_eq!(device["format"], "starling-subject-access/1");
    assert_eq!(device["identity"]["name"], "Sam");
    assert_eq!(device["relays_pinned"][0]["relay"], relay.addr.as_str());
    assert!(!device.to_string().contains("seed"));
    // No file holds the device's secret key, raw or in hex, and every file
    // is the owner's only.
    let seed: Vec<u8> = rusqlite::Connection::open(sam.home.join("starling.db"))
        .unwrap()
        .query_row("SELECT seed FROM identity WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    let seed_hex = hex_lower(&seed);
    for f in &files {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        assert!(
            !bytes.windows(seed.len()).any(|w| w == seed),
            "{f} holds the key"
        );
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&seed_hex),
            "{f} holds the key in hex"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others");
        }
    }

    // The index explains every file and links to it; it runs no script.
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for f in files.iter().filter(|f| **f != "index.html") {
        assert!(index.contains(&format!("href=\"{f}\"")), "index lacks {f}");
    }
    assert!(index.contains("drafts and readings not signed off included"));
    assert!(!index.contains("<script"));

    // `DIR/` is the same folder as `DIR`; nothing is left beside it.
    let slash = root.path().join("with-slash");
    sam.ok(&["export", "--all", &format!("{}/", slash.display())]);
    assert!(slash.join("index.html").is_file());
    let beside: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");

    // A folder that is not empty is refused, and left as it was.
    let (code, err) = sam.fails(&["export", "--all", dir.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("index.html")).unwrap(),
        index
    );

    // With the relay out of reach, the rest is still written, and the
    // index says what is missing and why.
    relay.stop();
    let offline = root.path().join("offline");
    sam.ok(&["export", "--all", offline.to_str().unwrap()]);
    let index = std::fs::read_to_string(offline.join("index.html")).unwrap();
    assert!(
        index.contains("What the relay holds about it is not here"),
        "{index}"
    );
    assert!(offline.join(&folder).join("journal.json").is_file());
    assert!(!offline.join(&folder).join("relay-access-log.json").exists());
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
