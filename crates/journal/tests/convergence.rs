//! Property tests: replicas applying random edits, merged in any order and any
//! grouping, converge to identical views and identical conflict lists; JSON
//! export and import round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use recovery_journal::{
    GoalId, Instrument, Journal, MemberRole, Mode, NoteId, Perspective, ReadingId, StepId,
    StepOwner,
};

#[derive(Clone, Debug)]
enum Op {
    Score {
        reading: usize,
        area: usize,
        perspective: usize,
        value: i64,
    },
    ClearScore {
        reading: usize,
        area: usize,
        perspective: usize,
    },
    AreaNote {
        reading: usize,
        area: usize,
        text: String,
    },
    Date {
        reading: usize,
        day: u8,
    },
    Delete {
        reading: usize,
    },
    Restore {
        reading: usize,
    },
    AddNote {
        text: String,
    },
    EditNote {
        text: String,
    },
    StepDone {
        done: bool,
    },
    StepOwner {
        owner: usize,
    },
    Target {
        value: Option<i64>,
    },
    Merge {
        from: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let reading = 0..2usize;
    let text = "[a-c ]{0,6}";
    prop_oneof![
        4 => (reading.clone(), 0..10usize, 0..3usize, 1..=10i64)
            .prop_map(|(reading, area, perspective, value)| Op::Score { reading, area, perspective, value }),
        1 => (reading.clone(), 0..10usize, 0..3usize)
            .prop_map(|(reading, area, perspective)| Op::ClearScore { reading, area, perspective }),
        2 => (reading.clone(), 0..3usize, text).prop_map(|(reading, area, text)| Op::AreaNote { reading, area, text }),
        1 => (reading.clone(), 1..28u8).prop_map(|(reading, day)| Op::Date { reading, day }),
        1 => reading.clone().prop_map(|reading| Op::Delete { reading }),
        1 => reading.prop_map(|reading| Op::Restore { reading }),
        1 => "[a-c]{1,5}".prop_map(|text| Op::AddNote { text }),
        1 => "[a-c]{1,5}".prop_map(|text| Op::EditNote { text }),
        1 => any::<bool>().prop_map(|done| Op::StepDone { done }),
        1 => (0..4usize).prop_map(|owner| Op::StepOwner { owner }),
        1 => proptest::option::of(1..=10i64).prop_map(|value| Op::Target { value }),
        3 => (0..3usize).prop_map(|from| Op::Merge { from }),
    ]
}

struct World {
    replicas: Vec<Journal>,
    readings: Vec<ReadingId>,
    goal: GoalId,
    step: StepId,
    note: NoteId,
}

fn world() -> World {
    let people: Vec<_> = (1..=3).map(common::person).collect();
    let mut owner = Journal::create(people[0].device, "Sam").unwrap();
    owner.set_time(1_700_000_000);
    owner
        .set_member(people[1].device, "Alex", MemberRole::Worker)
        .unwrap();
    owner
        .set_member(people[2].device, "Jo", MemberRole::Supporter)
        .unwrap();
    let star = Instrument::recovery_star();
    let readings: Vec<ReadingId> = ["2026-01-10", "2026-04-10"]
        .iter()
        .map(|d| {
            owner
                .new_reading(d.parse().unwrap(), Mode::Joint, &star)
                .unwrap()
        })
        .collect();
    let goal = owner
        .add_goal(&readings[0], "work", "Volunteer", Some(6))
        .unwrap();
    let step = owner
        .add_step(&goal, "Call", StepOwner::Client, None)
        .unwrap();
    let note = owner
        .add_note("2026-01-11".parse().unwrap(), None, "start")
        .unwrap();
    let replicas = people.iter().map(|p| owner.fork(p.device)).collect();
    World {
        replicas,
        readings,
        goal,
        step,
        note,
    }
}

fn apply(w: &mut World, at: usize, op: &Op) {
    let r = |i: usize| w.readings[i].clone();
    let p = |i: usize| Perspective::ALL[i];
    let j = &mut w.replicas[at];
    // Edits may fail (a deleted reading, say); they must never panic.
    let _ = match op {
        Op::Score {
            reading,
            area,
            perspective,
            value,
        } => j.set_score(&r(*reading), common::AREAS[*area], p(*perspective), *value),
        Op::ClearScore {
            reading,
            area,
            perspective,
        } => j.clear_score(&r(*reading), common::AREAS[*area], p(*perspective)),
        Op::AreaNote {
            reading,
            area,
            text,
        } => j.set_area_note(&r(*reading), common::AREAS[*area], text),
        Op::Date { reading, day } => {
            j.set_reading_date(&r(*reading), format!("2026-02-{day:02}").parse().unwrap())
        }
        Op::Delete { reading } => j.delete_reading(&r(*reading)),
        Op::Restore { reading } => j.restore_reading(&r(*reading)),
        Op::AddNote { text } => j
            .add_note("2026-03-01".parse().unwrap(), None, text)
            .map(|_| ()),
        Op::EditNote { text } => j.edit_note(&w.note, text),
        Op::StepDone { done } => j.set_step_done(&w.goal, &w.step, *done),
        Op::StepOwner { owner } => j.set_step_owner(&w.goal, &w.step, StepOwner::ALL[*owner]),
        Op::Target { value } => j.set_goal_target(&w.goal, *value),
        Op::Merge { from } => {
            if *from != at {
                let mut other = w.replicas[*from].fork(w.replicas[*from].device());
                w.replicas[at].merge(&mut other).unwrap();
            }
            Ok(())
        }
    };
}

fn merge_into(target: &Journal, sources: &[&Journal]) -> Journal {
    let mut out = target.fork(target.device());
    for s in sources {
        let mut copy = s.fork(s.device());
        out.merge(&mut copy).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/convergence.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_in_any_merge_order(ops in proptest::collection::vec((0..3usize, op()), 1..40)) {
        let mut w = world();
        for (at, op) in &ops {
            apply(&mut w, *at, op);
        }
        let [a, b, c] = [&w.replicas[0], &w.replicas[1], &w.replicas[2]];
        let abc = merge_into(a, &[b, c]);
        let cba = merge_into(c, &[b, a]);
        let bac = merge_into(b, &[a, c]);
        // Another grouping: (c + a) first, then b merged into that.
        let ca = merge_into(c, &[a]);
        let grouped = merge_into(b, &[&ca]);
        let view = abc.view();
        prop_assert_eq!(&view, &cba.view());
        prop_assert_eq!(&view, &bac.view());
        prop_assert_eq!(&view, &grouped.view());
        prop_assert_eq!(abc.conflicts(), grouped.conflicts());
        // And every conflict can be settled by writing a value.
        let mut settled = abc.fork(abc.device());
        for conflict in abc.conflicts() {
            let value = match &conflict.path {
                recovery_journal::FieldPath::Deleted(_) => "keep".to_owned(),
                _ => conflict.candidates[0].value.clone(),
            };
            settled.resolve(&conflict.path, &value).unwrap();
        }
        prop_assert!(settled.conflicts().is_empty(), "{:?}", settled.conflicts());
    }

    #[test]
    fn json_export_round_trips(ops in proptest::collection::vec(op(), 0..30)) {
        let mut w = world();
        for op in &ops {
            if !matches!(op, Op::Merge { .. }) {
                apply(&mut w, 0, op);
            }
        }
        let owner = &w.replicas[0];
        let json = owner.export_json();
        let imported = Journal::import_json(&json, owner.device()).unwrap();
        // The other members come across as a record of who they were,
        // marked removed (their devices are not in the new journal).
        let strip = |text: &str| {
            let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
            for m in v["members"].as_array_mut().unwrap() {
                m.as_object_mut().unwrap().remove("removed");
            }
            v
        };
        prop_assert_eq!(strip(&imported.export_json()), strip(&json));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/cache.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_cached_view_always_equals_a_fresh_read(ops in proptest::collection::vec((0..3usize, op()), 1..30)) {
        let mut w = world();
        for (at, op) in &ops {
            apply(&mut w, *at, op);
            // Refresh the cache after every step, as a live session would.
            let cached = w.replicas[*at].view();
            let cold = Journal::load(&w.replicas[*at].export_automerge(), w.replicas[*at].device()).unwrap().view();
            prop_assert_eq!(cached, cold);
        }
    }

    /// What is kept on disk for the read screens reads back as it was.
    #[test]
    fn the_read_model_round_trips(ops in proptest::collection::vec((0..3usize, op()), 1..30)) {
        let mut w = world();
        for (at, op) in &ops {
            apply(&mut w, *at, op);
        }
        for r in &w.replicas {
            let model = r.read_model();
            let bytes = serde_json::to_vec(&model).unwrap();
            let back: recovery_journal::ReadModel = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, &model);
            prop_assert_eq!(back.distance_travelled(), r.distance_travelled(&r.view()));
            prop_assert_eq!(back.chart(&back.view, Perspective::ALL), r.chart(&r.view(), Perspective::ALL));
            // A recent view: the latest readings whole, every plan as it was.
            let view = &model.view;
            let recent = view.recent(2);
            prop_assert_eq!(recent.readings.len(), view.readings.len());
            let older = view.readings.len().saturating_sub(2);
            for (i, (a, b)) in recent.readings.iter().zip(&view.readings).enumerate() {
                prop_assert_eq!(&a.id, &b.id);
                prop_assert_eq!(&a.areas, if i < older { &Vec::new() } else { &b.areas });
                prop_assert_eq!(recent.plan(&a.id), view.plan(&b.id));
            }
            prop_assert_eq!((&recent.notes, &recent.members, &recent.goals), (&view.notes, &view.members, &view.goals));
        }
    }
}
