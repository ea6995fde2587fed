//! Bad input gets a clear message and a stable exit code; nothing is lost.

use crate::util::{Person, Relay, pair};

#[test]
fn bad_scores_areas_links_and_relays_are_refused_clearly() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, _alex) = pair(&root, &relay);
    sam.ok(&["score", "work", "4"]);

    let (code, err) = sam.fails(&["score", "work", "11"]);
    assert_eq!(code, 3);
    assert!(err.contains("outside the scale: 1 to 10"), "{err}");
    let (code, err) = sam.fails(&["score", "wrok", "4"]);
    assert_eq!(code, 3);
    assert!(err.contains("unknown area `wrok`"), "{err}");
    let (code, err) = sam.fails(&["reading", "new", "--date", "2026-02-30"]);
    assert_eq!(code, 3);
    assert!(err.contains("malformed date"), "{err}");

    let link = sam.json(&["share", "--as", "worker", "--name", "Jo"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger = Person::new(&root, "Jo");
    let truncated = &link[..link.len() - 10];
    let (code, err) = stranger.fails(&["join", truncated]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("invite link"), "{err}");
    let forged = link.replacen("starling://invite/", "starling://invite/evil.example:1/", 1);
    let (code, _) = stranger.fails(&["join", &forged]);
    assert_eq!(code, 3);

    // Nothing was lost on the way.
    assert_eq!(
        sam.json(&["show"])["readings"][0]["areas"][4]["client"]["value"],
        4
    );
}

#[test]
fn typos_and_missing_things_are_named_once_with_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, _alex) = pair(&root, &relay);
    sam.ok(&["score", "work", "5", "--as", "agreed"]);

    // A misspelt area in `history` is caught as in `score`.
    let (code, err) = sam.fails(&["history", "--area", "wrok"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("did you mean `work`"), "{err}");
    assert!(!sam.ok(&["history", "--area", "work"]).is_empty());

    // `resolve` settles conflicts only: a value with no conflict stays.
    let reading = sam.json(&["show"])["readings"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("reading/{reading}/score/work/agreed");
    let (code, err) = sam.fails(&["resolve", &path, "6"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no open conflict"), "{err}");
    assert_eq!(
        sam.json(&["show"])["readings"][0]["areas"][4]["agreed"]["value"],
        5
    );

    // A missing file: not found, and said once.
    let (code, err) = sam.fails(&["import", "/nonexistent/journal.json"]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(err.matches("no such file").count(), 1, "{err}");

    // Sign-off in words, not the program's own notation.
    let said = sam.ok(&["sign-off"]);
    assert!(said.contains("signed by 1 of 2"), "{said}");
    assert!(!said.contains('{') && !said.contains("DeviceId"), "{said}");
}

#[test]
fn a_relay_that_is_down_and_a_corrupt_store_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", "127.0.0.1:9"]);
    sam.ok(&["reading", "new"]);
    sam.ok(&["score", "work", "5"]);
    let (code, err) = sam.fails(&["sync", "--timeout", "5"]);
    assert_eq!(code, 5);
    assert!(err.contains("cannot connect"), "{err}");
    // Which journal, and why in words; `list` keeps saying it; --json has it.
    assert!(err.contains("Sam's journal"), "{err}");
    assert!(err.contains("nothing is listening"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    assert!(sam.ok(&["list"]).contains("nothing is listening"));
    let out = sam.run(&["--json", "sync", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(5));
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["problems"][0]["kind"], "unreachable", "{said}");
    assert_eq!(
        sam.json(&["show"])["readings"][0]["areas"][4]["client"]["value"],
        5
    );

    let broken = Person {
        home: root.path().join("broken"),
    };
    std::fs::create_dir_all(&broken.home).unwrap();
    std::fs::write(
        broken.home.join("starling.db"),
        b"this is not a database, just text",
    )
    .unwrap();
    let (code, err) = broken.fails(&["whoami"]);
    assert_eq!(code, 6, "{err}");
    let nobody = Person {
        home: root.path().join("nobody"),
    };
    let (code, err) = nobody.fails(&["whoami"]);
    assert_eq!(code, 4);
    assert!(err.contains("starling init"), "{err}");
}

#[test]
fn a_used_invite_fails_fast_and_leaves_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", &relay.addr]);
    sam.ok(&["reading", "new"]);
    let link = sam.json(&["share", "--as", "worker", "--name", "Alex"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["sync"]);
    let alex = Person::new(&root, "Alex");
    alex.ok(&["join", &link]);
    let pat = Person::new(&root, "Pat");
    let started = std::time::Instant::now();
    let (code, err) = pat.fails(&["join", &link]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("ask for a new one"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    // Pat's device keeps no half-joined journal, and their syncs still work.
    assert_eq!(pat.json(&["list"]).as_array().unwrap().len(), 0);
}

#[test]
fn a_viewer_can_read_but_not_edit_and_their_syncs_keep_working() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new", "--relay", &relay.addr]);
    sam.ok(&["reading", "new"]);
    sam.ok(&["score", "work", "5"]);
    let link = sam.json(&[
        "share",
        "--role",
        "viewer",
        "--as",
        "supporter",
        "--name",
        "Jo",
    ])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["sync"]);
    let jo = Person::new(&root, "Jo");
    jo.ok(&["join", &link]);
    assert_eq!(
        jo.json(&["show"])["readings"][0]["areas"][4]["client"]["value"],
        5
    );
    let (code, err) = jo.fails(&["score", "work", "9", "--as", "agreed"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not change it"), "{err}");
    // Without a perspective too: told it is read-only, not to give one.
    let (code, err) = jo.fails(&["score", "work", "9"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not change it"), "{err}");
    sam.ok(&["score", "work", "6"]);
    sam.ok(&["sync"]);
    jo.ok(&["sync"]);
    assert_eq!(
        jo.json(&["show"])["readings"][0]["areas"][4]["client"]["value"],
        6
    );
}

#[test]
fn a_new_users_slips_each_get_a_reason_and_a_next_step() {
    let root = tempfile::tempdir().unwrap();
    // Before `init`: the identity comes first, for `sync` as for `show`.
    let nobody = Person {
        home: root.path().join("nobody"),
    };
    for args in [&["sync"][..], &["show"][..]] {
        let (code, err) = nobody.fails(args);
        assert_eq!(code, 4, "{args:?}: {err}");
        assert!(err.contains("starling init --name NAME"), "{args:?}: {err}");
    }
    let sam = Person::new(&root, "Sam");
    let (code, err) = sam.fails(&["sync"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("`starling new` starts one"), "{err}");
    sam.ok(&["new"]);
    sam.ok(&["new", "--client-name", "Kim"]);
    let (code, err) = sam.fails(&["reading", "new"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("say which with -j"), "{err}");
    sam.ok(&["reading", "new", "-j", "Kim"]);

    // Words, not Rust: a score that is not a number, a perspective or
    // owner that is not one of the few, a scale said in words.
    let (code, err) = sam.fails(&["score", "work", "six", "-j", "Kim"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a score is a whole number"), "{err}");
    assert!(!err.contains("digit"), "{err}");
    let (_, err) = sam.fails(&["score", "work", "5", "--as", "boss", "-j", "Kim"]);
    assert!(err.contains("client, worker or agreed"), "{err}");
    let (_, err) = sam.fails(&["score", "work", "0", "--as", "client", "-j", "Kim"]);
    assert!(err.contains("1 to 10") && !err.contains("..="), "{err}");

    // Nothing agreed yet: the chart says so instead of drawing nothing, and
    // the report says whose scores it shows.
    let (code, err) = sam.fails(&["chart", "-j", "Kim", "--out", "star.svg"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("--perspectives"), "{err}");
    let report = sam.ok(&["report", "-j", "Kim"]);
    assert!(report.contains("agreed scores"), "{report}");
    assert!(report.contains("(1 reading, 0 open conflicts)"), "{report}");
    let listed = sam.ok(&["list"]);
    assert!(listed.contains("1 reading, 0 open conflicts"), "{listed}");
    assert!(report.contains("no agreed scores yet"), "{report}");

    // Removing yourself, or a device that is not there, says so before any
    // confirmation; a confirmation with no terminal to ask on is invalid input.
    let (code, err) = sam.fails(&["revoke", "Sam", "-j", "Kim"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("is you") && err.contains("starling leave"),
        "{err}"
    );
    let (code, err) = sam.fails(&["device", "remove", "zzzz"]);
    assert_eq!(code, 4, "{err}");
    assert!(!err.contains("confirm"), "{err}");
    let (code, err) = sam.fails(&["delete", "-j", "Kim"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--yes"), "{err}");

    // A CSV (or any file that is not a journal's JSON) is named as such.
    let csv = root.path().join("kim.csv");
    std::fs::write(&csv, sam.ok(&["export", "-j", "Kim", "--format", "csv"])).unwrap();
    let (code, err) = sam.fails(&["import", csv.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a Starling journal in JSON"), "{err}");
    assert!(!err.contains("line 1 column"), "{err}");
}

#[test]
fn a_step_past_its_date_shows_as_overdue_until_it_is_done() {
    let root = tempfile::tempdir().unwrap();
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new"]);
    sam.ok(&["reading", "new", "--date", "2026-11-01"]);
    let goal = sam.json(&["goal", "add", "work", "Find volunteering"])["goal"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&[
        "step",
        "add",
        &goal,
        "Call the centre",
        "--owner",
        "client",
        "--due",
        "2026-11-20",
    ]);
    sam.ok(&[
        "step",
        "add",
        &goal,
        "Visit",
        "--owner",
        "client",
        "--due",
        "2999-01-01",
    ]);
    let show = sam.ok(&["show"]);
    assert!(
        line_of(&show, "Call the centre").contains("OVERDUE"),
        "{show}"
    );
    assert!(!line_of(&show, "Visit").contains("OVERDUE"), "{show}");
    let step = sam.json(&["show"])["goals"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["text"] == "Call the centre")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["step", "done", &goal[..6], &step[..6]]);
    let show = sam.ok(&["show"]);
    assert!(!show.contains("OVERDUE"), "{show}");
    // Marked done by mistake: not done again, and overdue again.
    let said = sam.ok(&["step", "done", "--undo", &goal[..6], &step[..6]]);
    assert!(said.contains("is not done"), "{said}");
    let show = sam.ok(&["show"]);
    assert!(
        line_of(&show, "Call the centre").contains("OVERDUE"),
        "{show}"
    );
    // A goal changed, a step removed and brought back, the goal removed.
    sam.ok(&[
        "goal",
        "edit",
        &goal[..6],
        "--title",
        "Find paid work",
        "--target",
        "7",
    ]);
    let shown = sam.json(&["show"]);
    assert_eq!(shown["goals"][0]["title"], "Find paid work", "{shown}");
    let said = sam.ok(&["step", "remove", &goal[..6], &step[..6]]);
    assert!(!sam.ok(&["show"]).contains("Call the centre"), "{said}");
    let back = said.split('`').nth(1).unwrap().to_owned();
    let args: Vec<&str> = back.split(' ').skip(1).collect();
    sam.ok(&args);
    assert!(sam.ok(&["show"]).contains("Call the centre"));
    sam.ok(&["goal", "remove", &goal[..6]]);
    assert!(!sam.ok(&["show"]).contains("Find paid work"));
    let (_, err) = sam.fails(&["goal", "edit", &goal[..6]]);
    assert!(err.contains("goal"), "{err}");
}

fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap()
        .to_owned()
}

#[test]
fn what_only_the_owner_may_do_is_refused_in_words_before_any_confirmation() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (_sam, alex) = pair(&root, &relay);
    for (args, what) in [
        (
            &["share", "--name", "Bob", "--no-qr"][..],
            "can invite someone",
        ),
        (&["revoke", "Sam"][..], "can remove a member"),
        // No terminal, no --yes: the ownership comes first all the same.
        (&["delete"][..], "can delete it"),
    ] {
        let (code, err) = alex.fails(args);
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(
            err.contains("only the owner of Sam's journal") && err.contains("(Sam)"),
            "{args:?}: {err}"
        );
        assert!(err.contains(what), "{args:?}: {err}");
        assert!(
            !err.contains("not allowed") && !err.contains("--yes"),
            "{err}"
        );
    }
}

#[test]
fn files_that_cannot_be_read_or_written_are_said_in_words_with_stable_codes() {
    let root = tempfile::tempdir().unwrap();
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new"]);
    sam.ok(&["reading", "new"]);
    sam.ok(&["score", "work", "5", "--as", "agreed"]);
    // A chart or export into a folder that is not there: not found, in words.
    let nowhere = root.path().join("no-such-folder").join("star.svg");
    for args in [
        vec!["chart", "--out", nowhere.to_str().unwrap()],
        vec![
            "export",
            "--format",
            "csv",
            "--out",
            nowhere.to_str().unwrap(),
        ],
    ] {
        let (code, err) = sam.fails(&args);
        assert_eq!(code, 4, "{args:?}: {err}");
        assert!(err.contains("no such file or folder"), "{err}");
        assert!(!err.contains("os error"), "{err}");
    }
    // An automerge export is not an importable journal, like a CSV.
    let am = root.path().join("j.automerge");
    let out = sam.run(&["export", "--format", "automerge"]);
    std::fs::write(&am, &out.stdout).unwrap();
    let (code, err) = sam.fails(&["import", am.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a Starling journal in JSON"), "{err}");
    // Locking with no terminal and no STARLING_PASSPHRASE: invalid input.
    let (code, err) = sam.fails(&["lock"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("STARLING_PASSPHRASE"), "{err}");
}

#[test]
fn a_second_member_by_the_same_name_is_refused_so_members_stay_tellable_apart() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, _alex) = pair(&root, &relay);
    let (code, err) = sam.fails(&["share", "--as", "worker", "--name", "alex", "--no-qr"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("already called alex"), "{err}");
    sam.ok(&["share", "--as", "worker", "--name", "Alex B", "--no-qr"]);
    // Once Alex is removed, the name is free again.
    sam.ok(&["revoke", "Alex"]);
    sam.ok(&["share", "--as", "worker", "--name", "Alex", "--no-qr"]);
}

#[test]
fn chart_draws_the_readings_chosen_by_id_or_date() {
    let root = tempfile::tempdir().unwrap();
    let sam = Person::new(&root, "Sam");
    sam.ok(&["new"]);
    for (date, score) in [
        ("2026-01-12", "3"),
        ("2026-04-02", "5"),
        ("2026-07-03", "7"),
    ] {
        sam.ok(&["reading", "new", "--date", date]);
        sam.ok(&["score", "work", score, "--as", "agreed"]);
    }
    let svg = root.path().join("star.svg");
    let out = svg.to_str().unwrap();
    // The first and the last, to compare: two outlines, the middle one left out.
    let said = sam.ok(&[
        "chart",
        "--out",
        out,
        "--reading",
        "2026-01-12",
        "--reading",
        "2026-07-03",
    ]);
    assert!(said.contains("2 outlines"), "{said}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.contains("2026-01-12") && drawn.contains("2026-07-03"),
        "{drawn}"
    );
    assert!(!drawn.contains("2026-04-02"), "{drawn}");
    // One reading, by a prefix of its id.
    let listed = sam.json(&["reading", "list"]);
    let id = listed["readings"][1]["reading"]
        .as_str()
        .unwrap()
        .to_owned();
    let said = sam.ok(&["chart", "--out", out, "--reading", &id[..8]]);
    assert!(said.contains("1 outline"), "{said}");
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("2026-04-02")
    );
    // A reading that is not there is not found, and nothing is written.
    std::fs::remove_file(&svg).unwrap();
    let (code, err) = sam.fails(&["chart", "--out", out, "--reading", "2025-01-01"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no reading `2025-01-01`"), "{err}");
    assert!(!svg.exists());
    // A count and a choice together are refused by the parser.
    let (code, err) = sam.fails(&["chart", "--readings", "2", "--reading", "2026-01-12"]);
    assert_eq!(code, 2, "{err}");
    // Two readings on one date: the error names both, so one can be picked.
    sam.ok(&["reading", "new", "--date", "2026-01-12", "--mode", "worker"]);
    let (code, err) = sam.fails(&["chart", "--out", out, "--reading", "2026-01-12"]);
    assert_eq!(code, 3, "{err}");
    let listed = sam.json(&["reading", "list"]);
    for r in listed["readings"].as_array().unwrap() {
        let id = r["reading"].as_str().unwrap();
        assert_eq!(
            err.contains(&id[..8]),
            r["date"] == "2026-01-12",
            "{id}: {err}"
        );
    }
    assert!(err.contains("matches 2 readings"), "{err}");
}
