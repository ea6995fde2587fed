//! A cached summary never disagrees with one computed afresh from the
//! journal, after any sequence of edits and merges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use recovery_journal::{Date, DeviceId, Instrument, Journal, Mode, Perspective, StepOwner};
use starling_app::App;
use starling_app::summary::compute;

#[derive(Clone, Debug)]
enum Op {
    Reading(i64),
    Score(usize, usize, i64),
    Step(i64, bool),
    /// Another device edits a copy and the copies merge: scores set on both
    /// sides at once become conflicts.
    Merge(Vec<(usize, usize, i64)>),
}

fn op() -> impl Strategy<Value = Op> {
    let score = (0..10usize, 0..3usize, 1..=10i64);
    prop_oneof![
        (0..400i64).prop_map(Op::Reading),
        score.clone().prop_map(|(a, p, v)| Op::Score(a, p, v)),
        (-30..30i64, any::<bool>()).prop_map(|(d, done)| Op::Step(d, done)),
        proptest::collection::vec(score, 1..4).prop_map(Op::Merge),
    ]
}

fn today() -> Date {
    Date::from_unix((starling_app::client::now_ms() / 1000) as i64)
}

fn score(j: &mut Journal, star: &Instrument, (a, p, v): (usize, usize, i64)) {
    let Some(reading) = j.view().latest_reading().map(|r| r.id.clone()) else {
        return;
    };
    j.set_score(&reading, &star.areas[a].id, Perspective::ALL[p], v)
        .unwrap();
}

fn fresh_app() -> (tempfile::TempDir, App, starling_app::client::DocRow) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(dir.path()).unwrap();
    app.init("Sam").unwrap();
    let doc = app
        .new_journal("127.0.0.1:7878", None, "recovery-star")
        .unwrap();
    let row = app.pick(Some(&doc.to_string())).unwrap();
    (dir, app, row)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_cached_summary_is_what_a_fresh_one_says(ops in proptest::collection::vec(op(), 1..12)) {
        let (_dir, app, row) = fresh_app();
        let star = Instrument::bundled("recovery-star").unwrap();
        let other = DeviceId::from_bytes([7; 32]);
        for op in ops {
            match op {
                Op::Reading(days) => {
                    let date = Date::from_unix(1_700_000_000 + days * 86_400);
                    app.edit(&row, |j| j.new_reading(date, Mode::Joint, &star)).unwrap();
                }
                Op::Score(a, p, v) => app
                    .edit(&row, |j| {
                        score(j, &star, (a, p, v));
                        Ok(())
                    })
                    .unwrap(),
                Op::Step(days, done) => app
                    .edit(&row, |j| {
                        let Some(r) = j.view().latest_reading().map(|r| r.id.clone()) else {
                            return Ok(());
                        };
                        let goal = j.add_goal(&r, &star.areas[0].id, "a goal", None)?;
                        let due = today().plus_days(days);
                        let step = j.add_step(&goal, "a step", StepOwner::Client, Some(due))?;
                        j.set_step_done(&goal, &step, done)
                    })
                    .unwrap(),
                Op::Merge(scores) => {
                    let mut copy = app.load(&row).unwrap().fork(other);
                    for s in &scores {
                        score(&mut copy, &star, *s);
                    }
                    app.edit(&row, |j| {
                        for s in &scores {
                            score(j, &star, (s.0, s.1, 11 - s.2));
                        }
                        j.merge(&mut copy)
                    })
                    .unwrap();
                }
            }
            let fresh = compute(&row, &app.load(&row).unwrap(), today());
            // Twice: computed and cached, then read from the cache.
            prop_assert_eq!(&app.summary(&row).unwrap(), &fresh);
            prop_assert_eq!(&app.summary(&row).unwrap(), &fresh);
            let all = app.summaries().unwrap();
            prop_assert_eq!(all[0].1.as_ref().unwrap(), &fresh);
            // The read model and the recent view, the same way.
            let model = app.load(&row).unwrap().read_model();
            let recent = model.view.recent(starling_app::RECENT_READINGS);
            prop_assert_eq!(&app.read(&row).unwrap(), &model);
            prop_assert_eq!(&app.read(&row).unwrap(), &model);
            prop_assert_eq!(&app.read_recent(&row).unwrap(), &recent);
            prop_assert_eq!(&app.read_recent(&row).unwrap(), &recent);
        }
    }
}

#[test]
fn a_damaged_or_stale_cache_is_recomputed_not_shown() {
    let (_dir, app, row) = fresh_app();
    let star = Instrument::bundled("recovery-star").unwrap();
    app.edit(&row, |j| j.new_reading(today(), Mode::Joint, &star))
        .unwrap();
    let before = app.summary(&row).unwrap();
    assert_eq!(before.readings, 1);
    // Garbage under the right tag: not shown, recomputed.
    let tag = app.client().content_tag(&row.doc).unwrap().unwrap();
    app.client()
        .put_cache(&row.doc, "summary/1", &tag, b"\xff not json")
        .unwrap();
    assert_eq!(app.summary(&row).unwrap(), before);
    assert_eq!(app.summaries().unwrap()[0].1.as_ref().unwrap(), &before);
    // A well-formed summary under the current tag is what is shown (the
    // cache is read, not recomputed)...
    let mut lie: serde_json::Value =
        serde_json::from_slice(&app.client().cached(&row.doc, "summary/1").unwrap().unwrap())
            .unwrap();
    lie["readings"] = 99.into();
    let lie = serde_json::to_vec(&lie).unwrap();
    app.client()
        .put_cache(&row.doc, "summary/1", &tag, &lie)
        .unwrap();
    assert_eq!(app.summary(&row).unwrap().readings, 99);
    // ...until the content moves: then it is recomputed.
    app.edit(&row, |j| j.new_reading(today(), Mode::Joint, &star))
        .unwrap();
    assert_eq!(app.summary(&row).unwrap().readings, 2);
    assert_eq!(app.summaries().unwrap()[0].1.as_ref().unwrap().readings, 2);
}
