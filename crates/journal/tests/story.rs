//! The story the journal exists for: client and worker score one reading
//! offline, on their own devices, and merge later.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{merged, pair};
use recovery_journal::{DeviceId, FieldPath, Journal, Perspective, ScoreFlag, SignOff};

#[test]
fn offline_scores_merge_in_either_order_with_gaps_and_one_conflict() {
    let mut p = pair();
    // Client and worker agree on eight areas and differ on two.
    let client_scores: Vec<(&str, i64)> = common::AREAS.iter().map(|a| (*a, 5)).collect();
    let mut worker_scores = client_scores.clone();
    worker_scores[4].1 = 7; // work
    worker_scores[1].1 = 3; // self care
    p.client
        .set_scores(&p.reading, Perspective::Client, &client_scores)
        .unwrap();
    p.worker
        .set_scores(&p.reading, Perspective::Worker, &worker_scores)
        .unwrap();
    // Both set a different agreed score on work.
    p.client
        .set_score(&p.reading, "work", Perspective::Agreed, 5)
        .unwrap();
    p.worker
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();

    let one = merged(&p.client, &p.worker);
    let two = merged(&p.worker, &p.client);
    assert_eq!(one.view(), two.view(), "merge order must not matter");

    let view = one.view();
    let reading = &view.readings[0];
    let gaps: Vec<(&str, u8)> = reading
        .areas
        .iter()
        .filter_map(|a| Some((a.area.as_str(), a.gap?)))
        .collect();
    assert_eq!(gaps, [("self_care", 2), ("work", 2)]);
    assert_eq!(view.conflicts.len(), 1, "{:?}", view.conflicts);
    let conflict = &view.conflicts[0];
    assert_eq!(
        conflict.path,
        FieldPath::Score(p.reading.clone(), "work".into(), Perspective::Agreed)
    );
    let mut values: Vec<&str> = conflict
        .candidates
        .iter()
        .map(|c| c.value.as_str())
        .collect();
    values.sort();
    assert_eq!(values, ["5", "6"]);
    let authors: Vec<_> = conflict
        .candidates
        .iter()
        .filter_map(|c| c.author)
        .collect();
    assert!(authors.contains(&p.client_id.device) && authors.contains(&p.worker_id.device));
    let work = reading.area("work").unwrap();
    assert_eq!(
        work.agreed.value, None,
        "a conflicted score is never silently picked"
    );
    assert!(work.client.flags.is_empty() && work.worker.flags.is_empty());
}

#[test]
fn resolving_a_conflict_clears_it_on_every_device() {
    let mut p = pair();
    p.client
        .set_score(&p.reading, "work", Perspective::Agreed, 5)
        .unwrap();
    p.worker
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();
    let mut client = merged(&p.client, &p.worker);
    let mut worker = merged(&p.worker, &p.client);
    let path = client.conflicts()[0].path.clone();
    assert_eq!(
        path.to_string().parse::<FieldPath>().unwrap(),
        path,
        "paths round-trip as text"
    );
    client.resolve(&path, "6").unwrap();
    assert!(client.conflicts().is_empty());
    // History says it was settled, not set as a plain edit.
    let last = client.history().pop().unwrap();
    assert_eq!(
        last.message, "settled a conflict: agreed score for work set to 6 on reading 2026-11-23",
        "{last:?}"
    );
    worker.merge(&mut client).unwrap();
    assert!(worker.conflicts().is_empty());
    assert_eq!(
        worker.view().readings[0].area("work").unwrap().agreed.value,
        Some(6)
    );
    assert_eq!(worker.view(), client.view());
    // A plain edit afterwards does not say it settled anything.
    client
        .set_score(
            &client.view().readings[0].id.clone(),
            "work",
            recovery_journal::Perspective::Agreed,
            7,
        )
        .unwrap();
    assert!(
        !client
            .history()
            .pop()
            .unwrap()
            .message
            .starts_with("settled")
    );
}

#[test]
fn writing_someone_elses_perspective_is_flagged_on_read() {
    let mut p = pair();
    p.worker
        .set_score(&p.reading, "work", Perspective::Client, 8)
        .unwrap();
    p.worker
        .set_score(&p.reading, "self_care", Perspective::Agreed, 4)
        .unwrap();
    let view = p.worker.view();
    let work = view.readings[0].area("work").unwrap();
    assert_eq!(work.client.value, Some(8), "the value is kept, and shown");
    assert_eq!(
        work.client.flags,
        [ScoreFlag::NotTheirPerspective {
            author: Some(p.worker_id.device)
        }]
    );
    let self_care = view.readings[0].area("self_care").unwrap();
    assert!(
        self_care.agreed.flags.is_empty(),
        "client and worker may both write the agreed score"
    );

    let stranger = common::person(9);
    let mut theirs = p.client.fork(stranger.device);
    theirs
        .set_score(&p.reading, "living_skills", Perspective::Agreed, 2)
        .unwrap();
    let flags = theirs.view().readings[0]
        .area("living_skills")
        .unwrap()
        .agreed
        .flags
        .clone();
    assert_eq!(
        flags,
        [ScoreFlag::NotTheirPerspective {
            author: Some(stranger.device)
        }]
    );
}

#[test]
fn only_the_owner_sets_members() {
    let mut p = pair();
    let err = p
        .worker
        .set_member(
            p.worker_id.device,
            "Boss",
            recovery_journal::MemberRole::Client,
        )
        .unwrap_err();
    assert!(err.to_string().contains("owner"), "{err}");
    let names: Vec<_> = p
        .worker
        .members()
        .into_iter()
        .map(|m| (m.name, m.role))
        .collect();
    assert_eq!(
        names.len(),
        2,
        "client and worker, as the owner set them: {names:?}"
    );
    assert_eq!(p.worker.owner(), Some(p.client_id.device));
}

#[test]
fn sign_off_then_amend_shows_what_changed() {
    let mut p = pair();
    p.client
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();
    p.client.sign_off(&p.reading, &p.client_id.key).unwrap();
    assert!(matches!(
        p.client.view().readings[0].signoff,
        SignOff::Partial { .. }
    ));

    let mut worker = merged(&p.worker, &p.client);
    worker.sign_off(&p.reading, &p.worker_id.key).unwrap();
    let view = worker.view();
    assert_eq!(
        view.readings[0].signoff,
        SignOff::SignedOff {
            client: p.client_id.device,
            worker: p.worker_id.device
        }
    );

    worker
        .set_score(&p.reading, "work", Perspective::Agreed, 7)
        .unwrap();
    worker
        .set_area_note(&p.reading, "work", "started volunteering")
        .unwrap();
    match worker.view().readings[0].signoff.clone() {
        SignOff::Amended { changed, .. } => assert_eq!(changed, ["work.agreed", "work.note"]),
        other => panic!("expected amended, got {other:?}"),
    }
    // The amended state survives a save and load on the other device.
    let client = Journal::load(&worker.save(), p.client_id.device).unwrap();
    assert!(matches!(
        client.view().readings[0].signoff,
        SignOff::Amended { .. }
    ));
}

#[test]
fn a_change_after_one_side_signed_says_their_signature_is_outdated() {
    let mut p = pair();
    p.client
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();
    p.client.sign_off(&p.reading, &p.client_id.key).unwrap();
    let mut worker = merged(&p.worker, &p.client);
    worker
        .set_score(&p.reading, "work", Perspective::Agreed, 7)
        .unwrap();
    assert_eq!(
        worker.view().readings[0].signoff,
        SignOff::Outdated {
            signed_by: vec![p.client_id.device],
            changed: vec!["work.agreed".into()],
        }
    );
    // The worker signing the new version leaves it one of two, for the
    // client to sign again.
    worker.sign_off(&p.reading, &p.worker_id.key).unwrap();
    assert_eq!(
        worker.view().readings[0].signoff,
        SignOff::Partial {
            signed_by: vec![p.worker_id.device]
        }
    );
}

#[test]
fn sign_off_is_refused_with_open_conflicts_or_a_foreign_key() {
    let mut p = pair();
    p.client
        .set_score(&p.reading, "work", Perspective::Agreed, 5)
        .unwrap();
    p.worker
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();
    let mut client = merged(&p.client, &p.worker);
    let err = client.sign_off(&p.reading, &p.client_id.key).unwrap_err();
    assert!(err.to_string().contains("conflicts"), "{err}");
    let err = client.sign_off(&p.reading, &p.worker_id.key).unwrap_err();
    assert!(err.to_string().contains("own key"), "{err}");
    let stranger = common::person(9);
    let mut theirs = client.fork(stranger.device);
    let err = theirs.sign_off(&p.reading, &stranger.key).unwrap_err();
    assert!(err.to_string().contains("client or worker"), "{err}");
}

#[test]
fn history_is_an_audit_trail_and_the_past_can_be_viewed() {
    let mut p = pair();
    p.worker
        .set_score(&p.reading, "work", Perspective::Worker, 6)
        .unwrap();
    let before = p.worker.heads();
    p.worker
        .set_score(&p.reading, "work", Perspective::Worker, 7)
        .unwrap();
    let history = p.worker.history();
    let last = history.last().unwrap();
    assert_eq!(last.message, "worker scored work 7 on reading 2026-11-23");
    assert_eq!(last.device, Some(p.worker_id.device));
    assert_eq!(last.author.as_deref(), Some("Alex"));
    assert_eq!(last.time, 1_700_000_100);
    assert_eq!(last.area.as_deref(), Some("work"));
    assert_eq!(last.reading.as_deref(), Some(p.reading.as_str()));
    assert_eq!(history[0].message, "created journal for Sam");
    assert_eq!(p.worker.history_of_area("work").len(), 2);

    let then = p.worker.at(&before).unwrap();
    assert_eq!(
        then.view().readings[0].area("work").unwrap().worker.value,
        Some(6)
    );
}

#[test]
fn a_delete_concurrent_with_an_edit_keeps_the_item_and_flags_it() {
    let mut p = pair();
    p.client.delete_reading(&p.reading).unwrap();
    assert!(
        p.client.view().readings.is_empty(),
        "a plain delete hides the reading"
    );
    let gone = p.client.deleted_readings();
    assert_eq!(gone.len(), 1, "and lists it as deleted");
    assert_eq!(gone[0].0, p.reading);
    p.worker
        .set_score(&p.reading, "work", Perspective::Worker, 6)
        .unwrap();

    let mut client = merged(&p.client, &p.worker);
    let view = client.view();
    assert_eq!(view.readings.len(), 1, "the worker's edit is not lost");
    assert!(view.readings[0].deleted_while_edited);
    assert!(
        client.deleted_readings().is_empty(),
        "a reading kept by a racing edit is live, not deleted"
    );
    assert_eq!(view.readings[0].area("work").unwrap().worker.value, Some(6));
    let path = view.conflicts[0].path.clone();
    assert_eq!(path.to_string(), format!("reading/{}/deleted", p.reading));

    client.resolve(&path, "keep").unwrap();
    let view = client.view();
    assert!(view.conflicts.is_empty());
    assert!(!view.readings[0].deleted_while_edited);
}

#[test]
fn editing_an_item_kept_on_one_device_and_deleted_on_another_keeps_it() {
    let mut p = pair();
    let mut supporter = p.client.fork(DeviceId::from_bytes([9; 32]));
    // The worker edits while the client deletes; the worker sees the race
    // and keeps working on the reading.
    p.client.delete_reading(&p.reading).unwrap();
    p.worker
        .set_score(&p.reading, "work", Perspective::Worker, 6)
        .unwrap();
    p.worker
        .merge(&mut p.client.fork(p.client.device()))
        .unwrap();
    p.worker
        .set_reading_date(&p.reading, "2026-11-24".parse().unwrap())
        .unwrap();
    // Meanwhile a third device deleted it too, having seen none of that.
    supporter.delete_reading(&p.reading).unwrap();

    let mut all = merged(&p.worker, &supporter);
    let view = all.view();
    assert_eq!(view.readings.len(), 1, "the worker's edits are not lost");
    assert!(view.readings[0].deleted_while_edited);

    // Editing the flagged reading keeps it: it must not vanish.
    all.set_score(&p.reading, "work", Perspective::Agreed, 5)
        .unwrap();
    let view = all.view();
    assert_eq!(view.readings.len(), 1, "the edited reading is still there");
    assert!(!view.readings[0].deleted_while_edited, "the edit kept it");
    assert_eq!(view.readings[0].area("work").unwrap().agreed.value, Some(5));
}

#[test]
fn two_concurrent_deletes_are_no_conflict_and_same_values_agree() {
    let mut p = pair();
    p.client.delete_reading(&p.reading).unwrap();
    p.worker.delete_reading(&p.reading).unwrap();
    let view = merged(&p.client, &p.worker).view();
    assert!(
        view.readings.is_empty() && view.conflicts.is_empty(),
        "{:?}",
        view.conflicts
    );

    let mut p = pair();
    p.client
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();
    p.worker
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();
    let view = merged(&p.client, &p.worker).view();
    assert!(
        view.conflicts.is_empty(),
        "the same value written twice is agreement"
    );
    assert_eq!(view.readings[0].area("work").unwrap().agreed.value, Some(6));
}

#[test]
fn deletion_conflicts_say_who_deleted_and_who_edited() {
    let mut p = pair();
    p.client.delete_reading(&p.reading).unwrap();
    p.worker
        .set_area_note(&p.reading, "work", "new job")
        .unwrap();
    let view = merged(&p.client, &p.worker).view();
    let mut said: Vec<_> = view.conflicts[0]
        .candidates
        .iter()
        .map(|c| (c.value.clone(), c.author))
        .collect();
    said.sort();
    assert_eq!(
        said,
        [
            ("deleted".to_owned(), Some(p.client_id.device)),
            ("edited".to_owned(), Some(p.worker_id.device))
        ]
    );
}

#[test]
fn a_removed_member_stays_on_record_with_the_date_and_only_the_owner_removes() {
    let mut p = common::pair();
    let alex = p.worker_id.device;
    let when: recovery_journal::Date = "2026-12-04".parse().unwrap();
    assert!(
        p.worker.remove_member(p.client_id.device, when).is_err(),
        "only the owner removes members"
    );
    p.client.remove_member(alex, when).unwrap();
    let m = p.client.member(alex).unwrap();
    assert_eq!((m.name.as_str(), m.removed), ("Alex", Some(when)));
    // The date survives a save and load, and shows in the view.
    let again = recovery_journal::Journal::load(&p.client.save(), p.client_id.device).unwrap();
    assert_eq!(
        again
            .view()
            .members
            .iter()
            .find(|m| m.device == alex)
            .unwrap()
            .removed,
        Some(when)
    );
    // Invited again: a member again.
    p.client
        .set_member(alex, "Alex", recovery_journal::MemberRole::Worker)
        .unwrap();
    assert_eq!(p.client.member(alex).unwrap().removed, None);
    // History says it by name, without the device's id.
    let said = p.client.history().pop().unwrap().message;
    assert_eq!(said, "set Alex as worker");
}

#[test]
fn a_persons_second_device_scores_signs_off_and_records_members_as_them() {
    let p = pair();
    let laptop = common::person(7);
    let persons = [(laptop.device, p.client_id.device)];
    let work = |j: &Journal| {
        j.view().readings[0]
            .areas
            .iter()
            .find(|a| a.area == "work")
            .unwrap()
            .client
            .clone()
    };
    let mut on_laptop = p.client.fork(laptop.device);
    on_laptop
        .set_score(&p.reading, "work", Perspective::Client, 8)
        .unwrap();
    // Until the journal is told whose device the laptop is, its score is a
    // stranger's.
    assert!(matches!(
        work(&on_laptop).flags[..],
        [ScoreFlag::NotTheirPerspective { .. }]
    ));
    on_laptop.set_persons(persons);
    assert_eq!(work(&on_laptop).value, Some(8));
    assert!(work(&on_laptop).flags.is_empty());
    // Either device's sign-off is the client's.
    on_laptop.sign_off(&p.reading, &laptop.key).unwrap();
    let mut worker = merged(&p.worker, &on_laptop);
    worker.set_persons(persons);
    worker.sign_off(&p.reading, &p.worker_id.key).unwrap();
    assert_eq!(
        worker.view().readings[0].signoff,
        SignOff::SignedOff {
            client: laptop.device,
            worker: p.worker_id.device
        }
    );
    // The owner's second device records a member; a reader that knows the
    // laptop is the owner's trusts the entry, one that does not ignores it.
    let carer = common::person(8);
    on_laptop
        .set_member(carer.device, "Pat", recovery_journal::MemberRole::Supporter)
        .unwrap();
    let mut reader = merged(&p.worker, &on_laptop);
    assert!(!reader.members().iter().any(|m| m.name == "Pat"));
    reader.set_persons(persons);
    assert!(reader.members().iter().any(|m| m.name == "Pat"));
    // The worker's own device is not the owner's.
    let err = reader
        .set_member(carer.device, "Pat", recovery_journal::MemberRole::Worker)
        .unwrap_err();
    assert!(err.to_string().contains("owner"), "{err}");
}

#[test]
fn a_note_rewritten_on_two_devices_at_once_is_a_conflict_of_whole_texts() {
    let mut p = pair();
    p.client
        .set_area_note(&p.reading, "work", "Volunteering twice a week")
        .unwrap();
    p.worker
        .merge(&mut p.client.fork(p.client.device()))
        .unwrap();
    // Both rewrite it offline.
    p.client
        .set_area_note(&p.reading, "work", "Sam view")
        .unwrap();
    p.worker
        .set_area_note(&p.reading, "work", "Alex view")
        .unwrap();
    // Another area's note, written on one side only, is no conflict.
    p.worker
        .set_area_note(&p.reading, "self_care", "Cooking again")
        .unwrap();

    let mut both = merged(&p.client, &p.worker);
    let view = both.view();
    let work = view.readings[0].area("work").unwrap();
    assert_eq!(work.note, "", "no run-together characters are shown");
    assert_eq!(
        view.readings[0].area("self_care").unwrap().note,
        "Cooking again"
    );
    assert_eq!(view.conflicts.len(), 1, "{:?}", view.conflicts);
    let conflict = &view.conflicts[0];
    assert_eq!(
        conflict.path.to_string(),
        format!("reading/{}/note/work", p.reading)
    );
    let mut texts: Vec<&str> = conflict
        .candidates
        .iter()
        .map(|c| c.value.as_str())
        .collect();
    texts.sort_unstable();
    assert_eq!(texts, ["Alex view", "Sam view"]);
    let path: FieldPath = conflict.path.to_string().parse().unwrap();
    assert_eq!(path, conflict.path);

    // Settled with one text: that text, whole, everywhere.
    both.resolve(&path, "Alex view").unwrap();
    let view = both.view();
    assert!(view.conflicts.is_empty(), "{:?}", view.conflicts);
    assert_eq!(view.readings[0].area("work").unwrap().note, "Alex view");

    // A rewrite after seeing the other's is no conflict.
    let mut later = both.fork(p.client.device());
    later
        .set_area_note(&p.reading, "work", "Volunteering on Fridays")
        .unwrap();
    let view = merged(&both, &later).view();
    assert!(view.conflicts.is_empty(), "{:?}", view.conflicts);
    assert_eq!(
        view.readings[0].area("work").unwrap().note,
        "Volunteering on Fridays"
    );
}
