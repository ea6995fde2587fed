//! `starling access-log`: who the relay served a journal to, named, signed,
//! with strangers flagged.

use crate::util::{Person, Relay, pair};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_access_log_names_members_and_flags_a_device_never_let_in() {
    let root = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["score", "work", "4"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);

    let log = sam.json(&["access-log"]);
    let lines = log["lines"].as_array().unwrap();
    let said = |who: &str, kind: &str| {
        lines
            .iter()
            .any(|l| l["who"].as_str().unwrap().starts_with(who) && l["kind"] == kind)
    };
    assert!(said("Alex (worker)", "fetch"), "{log}");
    let times: Vec<u64> = lines.iter().map(|l| l["at"].as_u64().unwrap()).collect();
    assert!(times.is_sorted(), "not oldest first: {log}");
    assert!(said("you", "publish"), "{log}");
    assert_eq!(log["unknown_devices"], serde_json::json!([]), "{log}");
    assert!(log["stored"]["envelopes"].as_u64().unwrap() >= 1, "{log}");
    let text = alex.ok(&["access-log"]);
    assert!(text.contains("Sam (client) sent"), "{text}");
    assert!(!text.contains("WARNING"), "{text}");

    // A relay that served someone the journal never let in: their device
    // shows in the log, and is flagged.
    let mallory = Person::new(&root, "Mallory");
    let stranger = mallory.json(&["whoami"])["device"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = sam.json(&["list"])[0]["journal"]
        .as_str()
        .unwrap()
        .to_owned();
    relay.stop();
    let db = rusqlite::Connection::open(relay.db_path()).unwrap();
    db.execute(
        "INSERT INTO access_log (doc, device, kind, hour, count, last_at) VALUES (?1, ?2, 1, 0, 7, 1000)",
        rusqlite::params![hex(&doc), hex(&stranger)],
    )
    .unwrap();
    drop(db);
    relay.restart();
    let log = sam.json(&["access-log"]);
    assert_eq!(
        log["unknown_devices"],
        serde_json::json!([stranger]),
        "{log}"
    );
    let text = sam.ok(&["access-log"]);
    assert!(
        text.contains("WARNING: the relay served 1 device(s)"),
        "{text}"
    );
    assert!(text.contains("an unknown device"), "{text}");
}
