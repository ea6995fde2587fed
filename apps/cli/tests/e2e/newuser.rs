//! What a new user hit, from the README and `--help` alone: a join that
//! silently stopped a journal syncing, and the rough edges around it.

use crate::util::{Person, Relay, pair};

fn link(p: &Person, args: &[&str]) -> String {
    let mut all = vec!["share"];
    all.extend_from_slice(args);
    p.json(&all)["link"].as_str().unwrap().to_owned()
}

/// No error line repeats itself: `a: b: b`.
fn no_repeats(err: &str) {
    for line in err.lines() {
        let parts: Vec<&str> = line.split(": ").collect();
        for w in parts.windows(2) {
            assert_ne!(w[0].trim(), w[1].trim(), "repeated in: {line}");
        }
        for (i, a) in parts.iter().enumerate() {
            for b in &parts[i + 1..] {
                assert!(
                    a.len() < 12 || !b.contains(a.trim_start_matches("error: ")),
                    "`{a}` repeats in: {line}"
                );
            }
        }
    }
}

#[test]
fn joining_again_with_a_used_link_is_a_no_op_and_the_journal_keeps_syncing() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", &relay.addr]);
    sam.ok(&["reading", "new"]);
    let invite = link(&sam, &["--as", "worker", "--name", "Alex"]);
    let alex = Person::new(&root, "Alex");
    alex.ok(&["join", &invite]);
    sam.ok(&["sync"]);

    // The same link again: a no-op that says so.
    let said = alex.ok(&["join", &invite]);
    assert!(said.contains("Already a member of Sam's journal"), "{said}");
    assert_eq!(alex.json(&["join", &invite])["already_member"], true);

    // And the journal still syncs both ways.
    sam.ok(&["score", "work", "6"]);
    sam.ok(&["sync"]);
    let report = alex.json(&["sync"]);
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert!(report["received"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(
        alex.json(&["show"])["readings"][0]["areas"][4]["client"]["value"],
        6
    );
    alex.ok(&["score", "work", "7"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    assert_eq!(
        sam.json(&["show"])["readings"][0]["areas"][4]["worker"]["value"],
        7
    );
    assert!(alex.ok(&["list"]).contains("synced"));
}

#[test]
fn a_sync_that_cannot_exchange_a_journal_never_exits_zero_nor_says_synced() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["revoke", "Alex"]);
    sam.ok(&["sync"]);
    // Text and JSON: non-zero, with the reason; `list` shows it.
    let (code, err) = alex.fails(&["sync", "--timeout", "10"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("you were removed"), "{err}");
    let out = alex.run(&["--json", "sync", "--timeout", "10"]);
    assert_eq!(out.status.code(), Some(5));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["kind"], "removed", "{report}");
    let listed = alex.ok(&["list"]);
    assert!(
        listed.contains("NOT SYNCING") && !listed.contains("synced "),
        "{listed}"
    );
    assert!(
        alex.json(&["list"])[0]["problem"]
            .as_str()
            .unwrap()
            .contains("removed")
    );
}

#[test]
fn a_joiner_scores_at_once_from_the_perspective_of_the_invite_and_sees_their_own_name() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", &relay.addr]);
    sam.ok(&["reading", "new"]);
    // `share` registers the invite at once: no separate sync.
    let invite = sam.json(&["share", "--as", "worker", "--name", "Alex"]);
    assert_eq!(invite["registered"], true, "{invite}");
    let alex = Person::new(&root, "Alex");
    alex.ok(&["join", invite["link"].as_str().unwrap()]);
    // Sam has not synced since: Alex still scores as worker, and is named.
    let scored = alex.json(&["score", "work", "7"]);
    assert_eq!(scored["perspective"], "worker");
    let members = alex.ok(&["members"]);
    assert!(members.contains("Alex (you)"), "{members}");
    assert!(!members.contains("not named"), "{members}");
    // Sam revokes before syncing: told why nobody matches.
    let (code, err) = sam.fails(&["revoke", "Alex"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("sync first"), "{err}");
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    assert_eq!(
        sam.json(&["show"])["readings"][0]["areas"][4]["worker"]["value"],
        7
    );
}

#[test]
fn a_used_an_expired_and_an_unregistered_invite_each_say_what_they_are_once() {
    let root = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(root.path());
    let (sam, _alex) = pair(&root, &relay);
    let pat = Person::new(&root, "Pat");

    // Used (by Jo).
    let used = link(&sam, &["--as", "supporter", "--name", "Jo"]);
    Person::new(&root, "Jo").ok(&["join", &used]);
    let (code, err) = pat.fails(&["join", &used]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("already used"), "{err}");
    no_repeats(&err);

    // A damaged link: its error says so once.
    let (code, err) = pat.fails(&["join", used.split('#').next().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("this invite link does not work"), "{err}");
    assert!(err.contains("cut short"), "{err}");
    no_repeats(&err);

    // Expired: seconds are accepted too.
    let short_lived = link(
        &sam,
        &["--as", "supporter", "--name", "Kim", "--expires", "5s"],
    );
    let (code, err) = sam.fails(&[
        "share",
        "--as",
        "supporter",
        "--name",
        "X",
        "--expires",
        "1w",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("90s, 30m, 12h or 7d"), "{err}");
    // The relay judges expiry by its clock: wait it out.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let (code, err) = pat.fails(&["join", &short_lived]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("expired"), "{err}");

    // Made while the relay was down: not registered yet. The joiner is told
    // so, keeps the invite, and a later sync completes the join.
    relay.stop();
    let offline = sam.json(&["share", "--as", "supporter", "--name", "Pat"]);
    assert_eq!(offline["registered"], false);
    relay.restart();
    let (code, err) = pat.fails(&["join", offline["link"].as_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("hasn't synced this invite"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    sam.ok(&["sync"]);
    pat.ok(&["sync"]);
    assert!(pat.ok(&["list"]).contains("Sam"));
}

#[test]
fn area_ids_are_easy_to_find_and_a_misspelt_one_gets_a_suggestion() {
    let root = tempfile::tempdir().unwrap();
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", "127.0.0.1:9"]);
    sam.ok(&["reading", "new"]);
    let help = sam.ok(&["score", "--help"]);
    assert!(help.contains("identity_self_esteem"), "{help}");
    let (code, err) = sam.fails(&["score", "wrok", "5"]);
    assert_eq!(code, 3);
    assert!(err.contains("did you mean `work`?"), "{err}");
    assert!(err.contains("self_care"), "lists the ids: {err}");
    no_repeats(&err);
    assert!(sam.ok(&["show"]).contains("Work (work)"));
}

#[test]
fn notes_are_read_in_show_and_note_list() {
    let root = tempfile::tempdir().unwrap();
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", "127.0.0.1:9"]);
    sam.ok(&["reading", "new"]);
    sam.ok(&["note", "add", "First", "--date", "2026-11-01"]);
    sam.ok(&[
        "note",
        "add",
        "Went to the group",
        "--area",
        "social_networks",
        "--date",
        "2026-11-20",
    ]);
    let listed = sam.ok(&["note", "list"]);
    let first = listed.find("Went to the group").unwrap();
    assert!(
        first < listed.find("First").unwrap(),
        "newest first: {listed}"
    );
    assert!(listed.contains("[social_networks]"), "{listed}");
    assert_eq!(
        sam.json(&["note", "list", "--last", "1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(sam.ok(&["show"]).contains("Went to the group"));
}

#[test]
fn json_is_honoured_by_export_to_a_file_and_ids_from_show_are_accepted() {
    let root = tempfile::tempdir().unwrap();
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", "127.0.0.1:9"]);
    sam.ok(&["reading", "new"]);
    let file = root.path().join("out.csv");
    let said = sam.json(&["export", "--format", "csv", "--out", file.to_str().unwrap()]);
    assert_eq!(
        said["bytes"].as_u64().unwrap(),
        std::fs::metadata(&file).unwrap().len()
    );
    // `show --json` prints both ids; `-j` takes either.
    let shown = sam.json(&["show"]);
    for id in [&shown["journal"], &shown["journal_id"]] {
        let id = id.as_str().unwrap();
        assert_eq!(
            sam.json(&["show", "-j", &id[..10]])["journal"],
            shown["journal"]
        );
    }
}

#[test]
fn an_import_keeps_the_client_and_the_names_and_makes_the_importer_the_owner() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["score", "work", "4"]);
    alex.ok(&["note", "add", "Met at the cafe"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    let file = root.path().join("sam.json");
    sam.ok(&["export", "--out", file.to_str().unwrap()]);
    // The export names the journal by the id every command shows.
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(exported["document_id"], sam.json(&["list"])[0]["journal"]);
    let kim = Person::new(&root, "Kim");
    let said = kim.ok(&["import", file.to_str().unwrap(), "--relay", &relay.addr]);
    assert!(said.contains("Sam's journal"), "{said}");
    // What an import leaves behind by design is said, not found missing.
    assert!(said.contains("Not carried over"), "{said}");
    assert!(said.contains("who wrote 1 note(s)"), "{said}");
    assert!(said.contains("sign-offs"), "{said}");
    let shown = kim.json(&["show"]);
    let members = shown["members"].as_array().unwrap();
    let clients: Vec<_> = members.iter().filter(|m| m["role"] == "client").collect();
    assert_eq!(clients.len(), 1, "one client: {members:?}");
    assert_eq!(clients[0]["name"], "Sam");
    assert_eq!(shown["owner"], clients[0]["device"], "the importer owns it");
    assert!(!members.iter().any(|m| m["name"] == "imported"));
    let alex = members.iter().find(|m| m["name"] == "Alex").unwrap();
    assert!(alex["removed"].is_string(), "kept as a record: {alex}");
    assert_eq!(shown["readings"][0]["areas"][4]["client"]["value"], 4);
    let flags = &shown["readings"][0]["areas"][4]["client"]["flags"];
    assert!(
        flags.as_array().is_none_or(|f| f.is_empty()),
        "no `check author`: {flags}"
    );
    assert!(kim.ok(&["list"]).contains("Sam"));
}

#[test]
fn sync_watch_json_prints_one_object_per_line() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    let (_watch, events) = crate::util::watch_json(&alex);
    sam.ok(&["score", "work", "3"]);
    sam.ok(&["sync"]);
    let event = crate::util::next_changed(&events);
    assert!(event["text"].as_str().unwrap().contains("Sam"), "{event}");
}

#[test]
fn a_relay_out_of_reach_does_not_stop_the_journals_on_another_relay_from_syncing() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    // A second journal on a relay nothing answers at: a port just freed.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let journals = |p: &Person| p.json(&["list"]);
    sam.ok(&["new", "--relay", &gone]);
    let list = journals(&sam);
    let shared = list
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["relay"].as_str().unwrap().contains(&relay.addr))
        .unwrap()["journal"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["score", "work", "6", "-j", &shared]);

    // The reachable journal syncs; the sync still fails, naming the other.
    let out = sam.run(&["sync", "--timeout", "10"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Synced 1 of 2 journal(s): sent 1"),
        "{stdout}"
    );
    assert!(stdout.contains("1 not in sync"), "{stdout}");
    assert!(
        stderr.contains("was not synced") && stderr.contains(&gone),
        "{stderr}"
    );
    no_repeats(&stderr);
    alex.ok(&["sync"]);
    assert_eq!(
        alex.json(&["show"])["readings"][0]["areas"][4]["client"]["value"],
        6
    );

    // JSON names the journal left behind and why; `list` keeps the reason.
    let out = sam.run(&["--json", "sync", "--timeout", "10"]);
    assert_eq!(out.status.code(), Some(5));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0]["kind"], "unreachable");
    assert_ne!(problems[0]["journal"], shared.as_str());
    let list = sam.ok(&["list"]);
    assert!(
        list.contains(&format!("NOT SYNCING: relay {gone}: cannot connect")),
        "{list}"
    );

    // A sync of that journal alone fails as before: one relay, one reason.
    let other = problems[0]["journal"].as_str().unwrap().to_owned();
    let (code, err) = sam.fails(&["sync", "-j", &other, "--timeout", "10"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn removing_someone_who_left_meanwhile_keeps_the_journal_syncing() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    // Sam removes Alex before syncing; Alex leaves first.
    sam.ok(&["revoke", "Alex"]);
    sam.ok(&["score", "work", "6"]);
    alex.ok(&["leave", "--yes"]);
    let out = sam.run(&["sync", "--timeout", "10"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("TAMPERING"), "{stderr}");
    assert_eq!(sam.json(&["sync"])["problems"], serde_json::json!([]));
    // Alex's leaving reached the relay first: Alex is gone, as one who left.
    let members = sam.ok(&["members"]);
    assert!(members.contains("left 20"), "{members}");
    assert!(sam.ok(&["list"]).contains("synced"));
}

#[test]
fn a_join_through_a_link_to_a_relay_out_of_reach_can_be_given_up_or_mended() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", &relay.addr]);
    sam.ok(&["sync"]);
    let good = link(&sam, &["--as", "worker", "--name", "Alex"]);
    sam.ok(&["sync"]);
    // The link with its port mistyped: a relay nothing answers at.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let port = relay.addr.rsplit(':').next().unwrap();
    let bad = good.replacen(&format!(":{port}/"), &format!(":{gone}/"), 1);
    assert_ne!(bad, good);
    let alex = Person::new(&root, "Alex");
    let (code, err) = alex.fails(&["join", &bad]);
    assert_eq!(code, 5, "{err}");
    assert!(!err.contains("joining's"), "{err}");

    // Given up: gone from this device, and nothing stays stuck.
    let said = alex.ok(&["leave", "--yes"]);
    assert!(said.contains("Gave up joining journal"), "{said}");
    assert_eq!(alex.json(&["list"]), serde_json::json!([]));

    // Stored again, then mended by the right link: it joins.
    alex.fails(&["join", &bad]);
    let said = alex.ok(&["join", &good]);
    assert!(said.contains("Joined Sam's journal"), "{said}");
    assert_eq!(alex.json(&["sync"])["problems"], serde_json::json!([]));
    assert!(alex.ok(&["list"]).contains(&relay.addr));
}

#[test]
fn a_mistyped_reading_is_refused_or_redated_and_a_deleted_one_can_be_restored_by_either() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&["reading", "new", "--date", "2026-09-01"]);
    sam.ok(&["score", "work", "5", "--reading", "2026-09-01"]);

    // A date after today would make the reading the latest for decades.
    let (code, err) = sam.fails(&["reading", "new", "--date", "2062-09-01"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("2062-09-01 is in the future"), "{err}");

    // A wrong (past) date is mended in place, found by its date.
    sam.ok(&["reading", "new", "--date", "2026-11-03"]);
    let said = sam.ok(&["reading", "date", "2026-10-03", "--reading", "2026-11-03"]);
    assert!(said.contains("Dated reading 2026-10-03"), "{said}");
    let listed = sam.json(&["reading", "list"]);
    let dates: Vec<&str> = listed["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-09-01", "2026-10-03", "2026-11-23"]);
    let text = sam.ok(&["reading", "list"]);
    assert!(text.contains("1/10 areas scored"), "{text}");

    // Deleted by Sam: gone for Alex too, who restores it.
    let said = sam.ok(&["reading", "delete", "2026-09-01"]);
    assert!(said.contains("starling reading restore"), "{said}");
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    let show = alex.json(&["show"]);
    assert_eq!(show["readings"].as_array().unwrap().len(), 2, "{show}");
    let text = alex.ok(&["reading", "list"]);
    assert!(
        text.contains("Deleted (") && text.contains("2026-09-01"),
        "{text}"
    );
    let (code, err) = alex.fails(&["reading", "restore", "2026-10-03"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("is not deleted"), "{err}");
    alex.ok(&["reading", "restore", "2026-09-01"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    let show = sam.json(&["show"]);
    assert_eq!(
        show["readings"][0]["areas"][4]["client"]["value"], 5,
        "{show}"
    );

    // Deleted on one side while scored on the other: kept, and the conflict
    // says who did which and how to settle it.
    sam.ok(&["reading", "delete", "2026-09-01"]);
    alex.ok(&["score", "work", "6", "--reading", "2026-09-01"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    let conflicts = sam.ok(&["conflicts"]);
    assert!(
        conflicts.contains("Sam deleted it") && conflicts.contains("Alex changed it"),
        "{conflicts}"
    );
    assert!(conflicts.contains("keep or delete"), "{conflicts}");
    let path = sam.json(&["conflicts"])[0]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["resolve", &path, "keep"]);
    let show = sam.json(&["show"]);
    assert_eq!(show["readings"].as_array().unwrap().len(), 3, "{show}");
    assert_eq!(
        show["readings"][0]["areas"][4]["worker"]["value"], 6,
        "{show}"
    );

    // Two dates written at once: settling them obeys the same rule.
    sam.ok(&["reading", "date", "2026-11-20", "--reading", "2026-11-23"]);
    alex.ok(&["reading", "date", "2026-11-21", "--reading", "2026-11-23"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    let conflicts = sam.json(&["conflicts"]);
    let dated = conflicts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"].as_str().unwrap().ends_with("/date"))
        .unwrap_or_else(|| panic!("{conflicts}"))["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, err) = sam.fails(&["resolve", &dated, "2099-01-01"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("in the future"), "{err}");
    sam.ok(&["resolve", &dated, "2026-11-21"]);
    let (code, err) = sam.fails(&["note", "add", "from the future", "--date", "2099-01-01"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("in the future"), "{err}");
}

/// Reads `watch`'s JSON lines until `want` has seen a `changed` event for
/// every journal in it (or 30 seconds pass).
fn wait_for_changes(lines: &std::sync::mpsc::Receiver<String>, want: &[&str]) {
    let mut left: Vec<&str> = want.to_vec();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !left.is_empty() {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("no change seen from {left:?}"));
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        if event["kind"] == "changed" {
            left.retain(|j| event["journal"].as_str() != Some(*j));
        }
    }
}

#[test]
fn sync_watch_follows_journals_on_every_relay_and_steps_aside_for_a_one_off_sync() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let other_dir = root.path().join("other-relay");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = Relay::start(&other_dir);
    let (sam, alex) = pair(&root, &relay);
    // A second journal Sam keeps, for Kim, on another relay, shared with Alex.
    let kim = sam.json(&["new", "--client-name", "Kim", "--relay", &other.addr])["journal"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["reading", "new", "-j", "Kim"]);
    let invite = link(&sam, &["-j", "Kim", "--as", "worker", "--name", "Alex"]);
    alex.ok(&["join", &invite]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    let first = sam.json(&["list"])[0]["journal"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = if first == kim {
        sam.json(&["list"])[1]["journal"]
            .as_str()
            .unwrap()
            .to_owned()
    } else {
        first
    };

    let mut watch = crate::util::Running(
        alex.cmd(&["--json", "sync", "--watch"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = watch.0.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    sam.ok(&["score", "work", "3", "-j", &first]);
    sam.ok(&["score", "work", "4", "-j", "Kim"]);
    sam.ok(&["sync"]);
    wait_for_changes(&lines, &[&first, &kim]);

    // A one-off sync meanwhile: the watch steps aside on both relays, the
    // sync runs, and the watch follows both again.
    alex.ok(&["score", "work", "8", "-j", "Kim"]);
    let report = alex.json(&["sync"]);
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    sam.ok(&["score", "work", "5", "-j", &first]);
    sam.ok(&["score", "work", "6", "-j", "Kim"]);
    sam.ok(&["sync"]);
    wait_for_changes(&lines, &[&first, &kim]);
    let show = sam.json(&["show", "-j", "Kim"]);
    assert_eq!(
        show["readings"][0]["areas"][4]["worker"]["value"], 8,
        "{show}"
    );
}

#[test]
fn a_note_both_rewrite_offline_is_shown_as_a_conflict_and_settled_whole() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, alex) = pair(&root, &relay);
    sam.ok(&[
        "score",
        "work",
        "5",
        "--as",
        "agreed",
        "--note",
        "Volunteering twice a week",
    ]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    sam.ok(&["score", "work", "3", "--as", "agreed", "--note", "Sam view"]);
    alex.ok(&[
        "score",
        "work",
        "8",
        "--as",
        "agreed",
        "--note",
        "Alex view",
    ]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    let show = sam.ok(&["show"]);
    assert!(!show.contains("Ax") && !show.contains("vview"), "{show}");
    assert!(show.contains("note: CONFLICT"), "{show}");
    let conflicts = sam.json(&["conflicts"]);
    let note = conflicts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"].as_str().unwrap().contains("/note/work"))
        .unwrap_or_else(|| panic!("{conflicts}"))
        .clone();
    let said: Vec<&str> = note["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert!(
        said.contains(&"Sam view") && said.contains(&"Alex view"),
        "{note}"
    );
    sam.ok(&["resolve", note["path"].as_str().unwrap(), "Alex view"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    for p in [&sam, &alex] {
        let shown = p.json(&["show"]);
        assert_eq!(
            shown["readings"][0]["areas"][4]["note"], "Alex view",
            "{shown}"
        );
    }
}

#[test]
fn an_invite_not_used_yet_is_listed_and_withdrawn_and_its_link_stops_working() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", &relay.addr]);
    let to_bob = link(
        &sam,
        &["--as", "supporter", "--name", "Bob", "--role", "viewer"],
    );
    let listed = sam.ok(&["invites"]);
    assert!(
        listed.contains("Bob") && listed.contains("supporter") && listed.contains("viewer"),
        "{listed}"
    );
    assert!(listed.contains("expires in 7 days"), "{listed}");
    let said = sam.ok(&["invites", "withdraw", "bob"]);
    assert!(said.contains("its link no longer works"), "{said}");
    assert!(sam.ok(&["invites"]).contains("No invite"));
    let (_, err) = sam.fails(&["invites", "withdraw", "Bob"]);
    assert!(err.contains("`starling invites` lists them"), "{err}");
    // Bob's link, withdrawn: it does not let him in.
    let bob = Person::new(&root, "Bob");
    let out = bob.run(&["join", &to_bob]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("withdrawn"), "{all}");
}

#[test]
fn a_journal_started_on_a_mistyped_relay_address_is_pointed_at_the_right_one() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", "127.0.0.1:9"]);
    sam.ok(&["reading", "new"]);
    sam.ok(&["score", "work", "5"]);
    let (_, err) = sam.fails(&["sync", "--timeout", "5"]);
    assert!(err.contains("starling relays set-address"), "{err}");
    let help = sam.ok(&["relays", "--help"]);
    assert!(help.contains("set-address"), "{help}");
    let said = sam.ok(&["relays", "set-address", &relay.addr]);
    assert!(said.contains(&relay.addr), "{said}");
    sam.ok(&["sync"]);
    let listed = sam.json(&["list"]);
    assert_eq!(listed[0]["relay"], relay.addr.as_str(), "{listed}");
    assert!(listed[0]["problem"].is_null(), "{listed}");
    // Once the relay holds it, it stays there; nothing changes.
    let (code, err) = sam.fails(&["relays", "set-address", "127.0.0.1:9"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("can no longer change"), "{err}");
    assert_eq!(sam.json(&["list"])[0]["relay"], relay.addr.as_str());
}
