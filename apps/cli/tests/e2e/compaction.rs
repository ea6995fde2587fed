//! Compaction end to end: the five-year journal's history at the relay is
//! replaced by a snapshot, and a new member's first sync moves little more
//! than that snapshot.

use recovery_journal::{Date, Instrument, Journal, Mode, Perspective, StepOwner};
use starling_client::Client;

use crate::util::{Person, Relay};

/// Writes five years of a journal into `home`'s only journal through the
/// library, one stored edit per reading, goal and note (as a person would
/// over five years): 260 weekly readings, 200 goals with a step, 500 notes.
fn five_years(home: &std::path::Path) {
    let client = Client::open(home).unwrap();
    let row = client.docs().unwrap().remove(0);
    let me = recovery_journal::DeviceId::from_bytes(*client.identity().unwrap().device.as_bytes());
    let mut j = Journal::load(&client.document(&row.doc).unwrap(), me).unwrap();
    let star = Instrument::recovery_star();
    let areas: Vec<String> = star.areas.iter().map(|a| a.id.clone()).collect();
    let commit = |j: &mut Journal, f: &mut dyn FnMut(&mut Journal)| {
        let before = j.heads();
        f(j);
        client.commit(&row.doc, &j.changes_since(&before)).unwrap();
    };
    let day = |n: i64| Date::from_unix(1_609_459_200 + n * 86_400);
    let mut readings = Vec::new();
    for i in 0..260i64 {
        commit(&mut j, &mut |j| {
            let r = j.new_reading(day(i * 7), Mode::Joint, &star).unwrap();
            for p in [Perspective::Client, Perspective::Agreed] {
                let scores: Vec<(&str, i64)> = areas
                    .iter()
                    .enumerate()
                    .map(|(a, id)| (id.as_str(), (i + a as i64 + p as i64) % 10 + 1))
                    .collect();
                j.set_scores(&r, p, &scores).unwrap();
            }
            readings.push(r);
        });
    }
    for g in 0..200usize {
        commit(&mut j, &mut |j| {
            let goal = j
                .add_goal(
                    &readings[g],
                    &areas[g % 10],
                    &format!("Goal {g}: keep going"),
                    Some(7),
                )
                .unwrap();
            j.add_step(
                &goal,
                "Talk it through at the next meeting",
                StepOwner::Worker,
                None,
            )
            .unwrap();
        });
    }
    for n in 0..500i64 {
        commit(&mut j, &mut |j| {
            let text = format!("Note {n}. Slept better; went to the group on Tuesday.");
            j.add_note(day(n * 3), Some(areas[n as usize % 10].as_str()), &text)
                .unwrap();
        });
    }
}

#[test]
fn a_new_members_first_sync_of_the_five_year_journal_moves_at_most_twice_its_snapshot() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let sam = Person::new(&root, "Sam");
    let alex = Person::new(&root, "Alex");
    sam.ok(&["new", "--relay", &relay.addr]);
    five_years(&sam.home);
    sam.ok(&["sync"]);

    // The history was replaced by one snapshot.
    let db = rusqlite::Connection::open(relay.db_path()).unwrap();
    let (rows, kept, snapshot): (i64, i64, i64) = db
        .query_row(
            "SELECT count(*), count(bytes), coalesce(max(length(bytes)), 0) FROM envelopes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(rows > 900, "{rows} envelopes were published");
    assert!(kept <= 2, "the relay kept {kept} of {rows} envelopes");
    assert!(snapshot > 10_000, "a snapshot of {snapshot} bytes");

    let link = sam.json(&["share", "--as", "worker", "--name", "Alex"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["sync"]);
    let before = relay.bytes_out();
    alex.ok(&["join", &link]);
    let moved = relay.bytes_out() - before;
    assert!(
        moved <= 2 * snapshot as u64,
        "the first sync moved {moved} bytes for a {snapshot}-byte snapshot"
    );
    eprintln!(
        "first sync moved {moved} bytes; snapshot {snapshot} bytes; {rows} envelopes published"
    );
    let (s, a) = (sam.json(&["show"]), alex.json(&["show"]));
    assert_eq!(a["readings"].as_array().unwrap().len(), 260);
    assert_eq!(s["readings"], a["readings"]);
    assert_eq!(s["notes"], a["notes"]);
}
