//! The action plan, notes, reports and instruments other than the Recovery Star.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{merged, pair, person};
use recovery_journal::{
    Instrument, Journal, MemberRole, Mode, Perspective, STARLING_COMPASS_ID, StepOwner,
};

#[test]
fn steps_not_done_carry_forward_to_the_next_plan() {
    let mut p = pair();
    let j = &mut p.client;
    let goal = j
        .add_goal(&p.reading, "work", "Find volunteering", Some(6))
        .unwrap();
    let done = j
        .add_step(&goal, "Visit the volunteer centre", StepOwner::Client, None)
        .unwrap();
    let open = j
        .add_step(
            &goal,
            "Ask about references",
            StepOwner::Worker,
            Some("2026-12-10".parse().unwrap()),
        )
        .unwrap();
    j.set_step_done(&goal, &done, true).unwrap();
    j.set_review_date(&p.reading, "2027-02-01".parse().unwrap())
        .unwrap();
    let next = j
        .new_reading(
            "2027-02-01".parse().unwrap(),
            Mode::Joint,
            &Instrument::recovery_star(),
        )
        .unwrap();
    let view = j.view();
    let first = view.plan(&p.reading).unwrap();
    assert_eq!(first.goals.len(), 1);
    assert_eq!(first.goals[0].steps.len(), 2);
    assert_eq!(
        first.review_date.map(|d| d.to_string()).as_deref(),
        Some("2027-02-01")
    );
    assert_eq!(first.goals[0].target.value, Some(6));
    let second = view.plan(&next).unwrap();
    assert!(second.goals.is_empty());
    assert_eq!(second.carried_forward.len(), 1);
    let carried = &second.carried_forward[0];
    assert_eq!(carried.title, "Find volunteering");
    assert_eq!(
        carried.steps.len(),
        1,
        "only the step not done carries forward"
    );
    assert_eq!(carried.steps[0].id, open);
    assert_eq!(carried.steps[0].owner.value, Some(StepOwner::Worker));
    assert!(
        j.add_goal(&p.reading, "work", "Too high", Some(11))
            .is_err()
    );
}

#[test]
fn concurrent_step_owners_are_a_conflict() {
    let mut p = pair();
    let goal = p.client.add_goal(&p.reading, "work", "CV", None).unwrap();
    let step = p
        .client
        .add_step(&goal, "Write a CV", StepOwner::Client, None)
        .unwrap();
    let mut worker = merged(&p.worker, &p.client);
    p.client
        .set_step_owner(&goal, &step, StepOwner::Supporter)
        .unwrap();
    worker
        .set_step_owner(&goal, &step, StepOwner::Worker)
        .unwrap();
    let view = merged(&p.client, &worker).view();
    assert_eq!(view.conflicts.len(), 1);
    assert_eq!(
        view.conflicts[0].path.to_string(),
        format!("goal/{goal}/step/{step}/owner")
    );
    assert_eq!(view.goals[0].steps[0].owner.value, None);
}

#[test]
fn concurrent_typing_in_one_note_merges_by_character() {
    let mut p = pair();
    let note = p
        .client
        .add_note(
            "2026-11-24".parse().unwrap(),
            Some("work"),
            "Went to the centre.",
        )
        .unwrap();
    let mut worker = merged(&p.worker, &p.client);
    p.client
        .edit_note(&note, "Went to the volunteer centre.")
        .unwrap();
    worker
        .edit_note(&note, "Went to the centre. Felt good.")
        .unwrap();
    let view = merged(&p.client, &worker).view();
    assert_eq!(
        view.notes[0].text,
        "Went to the volunteer centre. Felt good."
    );
    assert_eq!(view.notes[0].author, Some(p.client_id.device));
    assert_eq!(view.notes[0].area.as_deref(), Some("work"));
    assert!(
        p.client
            .add_note("2026-11-24".parse().unwrap(), Some("nowhere"), "x")
            .is_err()
    );
    assert!(
        p.client
            .add_note("2026-11-24".parse().unwrap(), None, "  ")
            .is_err()
    );
}

#[test]
fn area_notes_merge_and_stay_separate() {
    let mut p = pair();
    p.client
        .set_area_note(&p.reading, "work", "I want to work")
        .unwrap();
    p.worker
        .set_area_note(&p.reading, "self_care", "Cooking more")
        .unwrap();
    let view = merged(&p.client, &p.worker).view();
    assert_eq!(
        view.readings[0].area("work").unwrap().note,
        "I want to work"
    );
    assert_eq!(
        view.readings[0].area("self_care").unwrap().note,
        "Cooking more"
    );
}

#[test]
fn distance_travelled_and_chart_model() {
    let mut p = pair();
    let j = &mut p.client;
    j.set_score(&p.reading, "work", Perspective::Agreed, 3)
        .unwrap();
    j.set_score(&p.reading, "work", Perspective::Client, 2)
        .unwrap();
    let later = j
        .new_reading(
            "2027-03-01".parse().unwrap(),
            Mode::Joint,
            &Instrument::recovery_star(),
        )
        .unwrap();
    j.set_score(&later, "work", Perspective::Agreed, 7).unwrap();
    let view = j.view();
    let distance = j.distance_travelled(&view);
    let work = distance
        .iter()
        .find(|d| d.area == "work" && d.perspective == Perspective::Agreed)
        .unwrap();
    assert_eq!((work.first.1, work.latest.1, work.change), (3, 7, 4));
    assert_eq!(
        work.latest.0.map(|d| d.to_string()).as_deref(),
        Some("2027-03-01")
    );
    let client_work = distance
        .iter()
        .find(|d| d.area == "work" && d.perspective == Perspective::Client)
        .unwrap();
    assert_eq!(client_work.change, 0, "one client score: no distance yet");

    let chart = j.chart(&view, &[Perspective::Agreed]).unwrap();
    assert_eq!(chart.areas.len(), 10);
    assert_eq!((chart.min, chart.max), (1, 10));
    assert_eq!(chart.stages.len(), 5);
    assert_eq!(chart.series.len(), 2);
    assert_eq!(chart.series[1].values[4], Some(7));
    assert!(chart.attribution.contains("Triangle"));
}

#[test]
fn a_neutral_instrument_works_end_to_end() {
    let owner = person(1);
    let mut j = Journal::create(owner.device, "Sam").unwrap();
    j.set_member(person(2).device, "Alex", MemberRole::Worker)
        .unwrap();
    let compass = Instrument::bundled(STARLING_COMPASS_ID).unwrap();
    let r = j
        .new_reading("2026-11-23".parse().unwrap(), Mode::ClientOnly, &compass)
        .unwrap();
    j.set_score(&r, "money", Perspective::Client, 5).unwrap();
    assert!(
        j.set_score(&r, "money", Perspective::Client, 6).is_err(),
        "compass tops out at 5"
    );
    assert!(
        j.set_score(&r, "work", Perspective::Client, 3).is_err(),
        "no Recovery Star areas"
    );
    let view = j.view();
    assert_eq!(view.readings[0].areas.len(), 6);
    let chart = j.chart(&view, &[Perspective::Client]).unwrap();
    assert_eq!(chart.instrument, "Starling Compass");

    // An organisation's own instrument, loaded from TOML, survives save and load.
    let custom = Instrument::from_toml(
        r#"
        id = "org-wellbeing"
        version = "2025.1"
        name = "Our wellbeing check"
        attribution = "Written by Example Trust."
        scale = { min = 0, max = 3 }
        areas = [{ id = "sleep", name = "Sleep" }, { id = "food", name = "Food" }]
        stages = [{ name = "Low", min = 0, max = 1 }, { name = "High", min = 2, max = 3 }]
        "#,
    )
    .unwrap();
    let r2 = j
        .new_reading("2026-12-01".parse().unwrap(), Mode::Joint, &custom)
        .unwrap();
    j.set_score(&r2, "sleep", Perspective::Agreed, 0).unwrap();
    let again = Journal::load(&j.save(), owner.device).unwrap();
    let view = again.view();
    let reading = view.reading(&r2).unwrap();
    assert!(reading.instrument.starts_with("org-wellbeing@2025.1#"));
    assert_eq!(reading.area("sleep").unwrap().agreed.value, Some(0));
    assert_eq!(reading.area("sleep").unwrap().stage.as_deref(), Some("Low"));
}

#[test]
fn incremental_saves_rebuild_the_same_journal() {
    let mut p = pair();
    let mut log = vec![p.client.save()];
    p.client
        .set_score(&p.reading, "work", Perspective::Client, 4)
        .unwrap();
    log.push(p.client.save_incremental());
    p.client
        .add_note("2026-11-25".parse().unwrap(), None, "hello")
        .unwrap();
    log.push(p.client.save_incremental());
    let mut rebuilt = Journal::load(&log[0], p.client_id.device).unwrap();
    for chunk in &log[1..] {
        rebuilt.load_incremental(chunk).unwrap();
    }
    assert_eq!(rebuilt.view(), p.client.view());
}
