//! `starling lock`: a device store encrypted at rest. Commands ask for the
//! passphrase (scripts set STARLING_PASSPHRASE), a wrong one changes
//! nothing, sync goes on, and `unlock --remove` goes back.

use std::path::Path;
use std::process::Output;

use crate::util::{Person, Relay};

const PASS: &str = "a long walk on Tuesday";

fn with(p: &Person, pass: &str, args: &[&str]) -> Output {
    p.cmd(args)
        .env("STARLING_PASSPHRASE", pass)
        .output()
        .unwrap()
}

fn ok_with(p: &Person, pass: &str, args: &[&str]) -> String {
    let out = with(p, pass, args);
    assert!(
        out.status.success(),
        "starling {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file in `home` (the store, its log, the lock files), read whole.
fn files(home: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(home)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn holds(home: &Path, needle: &str) -> bool {
    files(home)
        .iter()
        .any(|(_, b)| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

#[test]
fn a_locked_store_is_unreadable_on_disk_and_every_command_needs_the_passphrase() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&[
        "new",
        "--relay",
        &relay.addr,
        "--client-name",
        "PLANTED-CLIENT-41c2",
    ]);
    sam.ok(&["reading", "new", "--date", "2026-11-23"]);
    sam.ok(&["score", "work", "7", "--note", "PLANTED-AREA-NOTE-8d0e"]);
    sam.ok(&["note", "add", "PLANTED-JOURNAL-NOTE-19af"]);
    sam.ok(&["sync"]);
    let planted = [
        "PLANTED-CLIENT-41c2",
        "PLANTED-AREA-NOTE-8d0e",
        "PLANTED-JOURNAL-NOTE-19af",
    ];
    // The scan finds them in a store that is not locked.
    assert!(planted.iter().all(|p| holds(&sam.home, p)));

    // No terminal to ask on and no variable: it says what to do.
    let (code, err) = sam.fails(&["lock"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("STARLING_PASSPHRASE"), "{err}");
    let short = with(&sam, "short", &["lock"]);
    assert_eq!(short.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));

    let said = ok_with(&sam, PASS, &["lock"]);
    assert!(said.contains("locked"), "{said}");
    for p in planted {
        assert!(!holds(&sam.home, p), "{p} is readable on disk");
    }

    // Without the passphrase, or with a wrong one: refused, nothing changed.
    let before = files(&sam.home);
    let (code, err) = sam.fails(&["show"]);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("locked") && err.contains("STARLING_PASSPHRASE"),
        "{err}"
    );
    let wrong = with(&sam, "not the passphrase", &["score", "work", "2"]);
    assert_eq!(wrong.status.code(), Some(6));
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("does not open"), "{said}");
    // One line, ours: none of SQLCipher's own log ("hmac check failed").
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert_eq!(
        files(&sam.home),
        before,
        "a refused command changed the files"
    );

    // With it, everything works as before, sync included; new text is
    // encrypted too.
    assert!(ok_with(&sam, PASS, &["show"]).contains("PLANTED-AREA-NOTE-8d0e"));
    ok_with(&sam, PASS, &["note", "add", "PLANTED-LOCKED-NOTE-6b6b"]);
    ok_with(&sam, PASS, &["sync"]);
    assert!(!holds(&sam.home, "PLANTED-LOCKED-NOTE-6b6b"));
    let list = ok_with(&sam, PASS, &["list"]);
    assert!(list.contains("synced"), "{list}");

    // `unlock --remove` needs the passphrase too, then commands need none.
    assert_eq!(
        with(&sam, "not the passphrase", &["unlock", "--remove"])
            .status
            .code(),
        Some(6)
    );
    ok_with(&sam, PASS, &["unlock", "--remove"]);
    let shown = sam.ok(&["note", "list"]);
    assert!(shown.contains("PLANTED-LOCKED-NOTE-6b6b"), "{shown}");
    assert!(shown.contains("PLANTED-JOURNAL-NOTE-19af"), "{shown}");
    let (code, err) = sam.fails(&["unlock", "--remove"]);
    assert_eq!(code, 3, "{err}");
}
