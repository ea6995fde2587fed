//! Bytes and values from a faulty or hostile peer: errors or flags, never a
//! panic, and nothing else in the journal lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue};
use common::{pair, person};
use recovery_journal::{Journal, JournalError, Perspective, SCHEMA_VERSION, ScoreFlag, SignOff};

/// The journal's document, edited raw by `device` as a hostile peer would.
fn raw_edit(
    journal: &mut Journal,
    device: &common::Person,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) {
    let mut doc = Automerge::load(&journal.export_automerge())
        .unwrap()
        .with_actor(device.device.new_actor());
    let mut tx = doc.transaction();
    f(&mut tx);
    tx.commit();
    let mut other = Journal::load(&doc.save(), journal.device()).unwrap();
    journal.merge(&mut other).unwrap();
}

fn obj(doc: &impl ReadDoc, parent: &automerge::ObjId, key: &str) -> automerge::ObjId {
    doc.get(parent, key).unwrap().unwrap().1
}

#[test]
fn bytes_that_are_not_a_journal_are_an_error() {
    let device = person(1).device;
    for bytes in [&b""[..], b"hello", &[0x85, 0x6f, 0x4a, 0x83, 0, 0, 0]] {
        assert!(matches!(
            Journal::load(bytes, device),
            Err(JournalError::NotAJournal(_))
        ));
    }
    // A valid automerge document that is not a journal.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "shopping list").unwrap();
    tx.commit();
    assert!(matches!(
        Journal::load(&doc.save(), device),
        Err(JournalError::NotAJournal(_))
    ));
}

#[test]
fn a_newer_schema_asks_for_an_upgrade() {
    let mut p = pair();
    let stranger = person(5);
    let mut doc = Automerge::load(&p.client.save())
        .unwrap()
        .with_actor(stranger.device.new_actor());
    let mut tx = doc.transaction();
    tx.put(ROOT, "schema", SCHEMA_VERSION + 1).unwrap();
    tx.commit();
    let err = Journal::load(&doc.save(), p.client_id.device).unwrap_err();
    assert!(matches!(err, JournalError::NewerSchema { .. }));
    assert!(err.to_string().contains("upgrade"));
}

#[test]
fn wrong_types_are_flagged_and_the_rest_survives() {
    let mut p = pair();
    p.client
        .set_score(&p.reading, "self_care", Perspective::Client, 4)
        .unwrap();
    let reading = p.reading.clone();
    let worker = person(2);
    raw_edit(&mut p.client, &worker, |tx| {
        let readings = obj(tx, &ROOT, "readings");
        let r = obj(tx, &readings, reading.as_str());
        let scores = obj(tx, &r, "scores");
        let work = obj(tx, &scores, "work");
        tx.put(&work, "worker", "seven").unwrap();
        tx.put(&work, "agreed", 99).unwrap();
        tx.put(&r, "date", 20261123).unwrap();
        let notes = obj(tx, &r, "notes");
        tx.put(&notes, "trust_hope", ScalarValue::Bytes(vec![1, 2, 3]))
            .unwrap();
        let goals = obj(tx, &ROOT, "goals");
        tx.put(&goals, "junk", true).unwrap();
    });
    let view = p.client.view();
    let r = &view.readings[0];
    let work = r.area("work").unwrap();
    assert_eq!(work.worker.value, None);
    assert!(matches!(work.worker.flags[0], ScoreFlag::Invalid { .. }));
    assert!(matches!(work.agreed.flags[0], ScoreFlag::Invalid { .. }));
    assert_eq!(r.date.value, None);
    assert_eq!(r.area("trust_hope").unwrap().note, "");
    assert_eq!(
        r.area("self_care").unwrap().client.value,
        Some(4),
        "nothing else lost"
    );
    assert!(
        view.warnings.iter().any(|w| w.contains("date")),
        "{:?}",
        view.warnings
    );
    // Rendering, exporting and reporting all cope.
    assert!(!p.client.export_csv().is_empty());
    assert!(p.client.export_json().contains("self_care"));
    let _ = p.client.distance_travelled(&view);
}

#[test]
fn a_self_claimed_membership_is_ignored() {
    let mut p = pair();
    let stranger = person(7);
    raw_edit(&mut p.client, &stranger, |tx| {
        let members = obj(tx, &ROOT, "members");
        let me = tx
            .put_object(&members, stranger.device.to_string(), ObjType::Map)
            .unwrap();
        tx.put(&me, "name", "Mallory").unwrap();
        tx.put(&me, "role", "worker").unwrap();
        tx.put(ROOT, "owner", stranger.device.to_string()).unwrap();
    });
    let view = p.client.view();
    assert_eq!(
        view.owner,
        Some(p.client_id.device),
        "the genesis decides the owner"
    );
    assert!(view.members.iter().all(|m| m.name != "Mallory"));
    assert!(
        view.warnings
            .iter()
            .any(|w| w.contains("not written by the owner"))
    );
}

#[test]
fn a_forged_sign_off_does_not_count() {
    let mut p = pair();
    p.client.sign_off(&p.reading, &p.client_id.key).unwrap();
    let reading = p.reading.clone();
    let worker = p.worker_id.device;
    let mallory = person(8);
    // Mallory writes a "worker signature" made with the wrong key.
    raw_edit(&mut p.client, &mallory, |tx| {
        let readings = obj(tx, &ROOT, "readings");
        let r = obj(tx, &readings, reading.as_str());
        let signoffs = obj(tx, &r, "signoffs");
        let entry = tx
            .put_object(&signoffs, worker.to_string(), ObjType::Map)
            .unwrap();
        tx.put(&entry, "signature", ScalarValue::Bytes(vec![7; 64]))
            .unwrap();
        tx.put(&entry, "digest", ScalarValue::Bytes(vec![0; 32]))
            .unwrap();
    });
    assert!(matches!(
        p.client.view().readings[0].signoff,
        SignOff::Partial { .. }
    ));
}

#[test]
fn changes_under_another_devices_actor_are_refused_whole() {
    let mut p = pair();
    let base = p.client.heads();
    p.worker
        .set_score(&p.reading, "work", Perspective::Worker, 6)
        .unwrap();
    let changes = p.worker.changes_since(&base);
    let before = p.client.view();
    let err = p
        .client
        .apply_changes_signed_by(person(9).device, &changes)
        .unwrap_err();
    assert!(matches!(err, JournalError::ForeignActor { .. }), "{err}");
    assert_eq!(p.client.view(), before, "nothing of the batch was applied");
    assert!(
        p.client
            .apply_changes_signed_by(p.client_id.device, &[vec![1, 2, 3]])
            .is_err()
    );

    p.client
        .apply_changes_signed_by(p.worker_id.device, &changes)
        .unwrap();
    assert_eq!(
        p.client.view().readings[0]
            .area("work")
            .unwrap()
            .worker
            .value,
        Some(6)
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut p = pair();
    assert!(matches!(
        p.client
            .set_score(&p.reading, "work", Perspective::Client, 11),
        Err(JournalError::ScoreOutOfRange { score: 11, .. })
    ));
    assert!(matches!(
        p.client
            .set_score(&p.reading, "wrok", Perspective::Client, 5),
        Err(JournalError::UnknownArea(_))
    ));
    assert!(matches!(
        "2026-02-30".parse::<recovery_journal::Date>(),
        Err(JournalError::MalformedDate(_))
    ));
    let missing: recovery_journal::ReadingId = "nope".parse().unwrap();
    assert!(matches!(
        p.client.set_score(&missing, "work", Perspective::Client, 5),
        Err(JournalError::NotFound { .. })
    ));
    // A failed edit leaves no trace in history.
    let len = p.client.history().len();
    let _ = p.client.set_scores(
        &p.reading,
        Perspective::Client,
        &[("work", 5), ("self_care", 0)],
    );
    assert_eq!(p.client.history().len(), len);
    assert_eq!(
        p.client.view().readings[0]
            .area("work")
            .unwrap()
            .client
            .value,
        None
    );
}

#[test]
fn chunks_a_journal_never_contains_are_refused_before_automerge_parses_them() {
    let device = person(1).device;
    // A bundle chunk (type 3): automerge 0.12 can be made to allocate 4 GiB on one.
    let bundle = [0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 3, 2, 0, 0];
    let err = Journal::load(&bundle, device).unwrap_err();
    assert!(err.to_string().contains("chunk type"), "{err}");
    // A chunk that claims more bytes than there are.
    let truncated = [0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0, 0xff, 0x01, 1, 2];
    assert!(
        Journal::load(&truncated, device)
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    // A real journal followed by an incremental save loads.
    let mut p = pair();
    let mut bytes = p.client.save();
    p.client
        .set_score(&p.reading, "work", Perspective::Client, 3)
        .unwrap();
    bytes.extend(p.client.save_incremental());
    let loaded = Journal::load(&bytes, device).unwrap();
    assert_eq!(
        loaded.view().readings[0].area("work").unwrap().client.value,
        Some(3)
    );
    // Incremental loading refuses the same things and leaves the journal as it was.
    let before = loaded.view();
    let mut loaded = loaded;
    assert!(loaded.load_incremental(&bundle).is_err());
    assert_eq!(loaded.view(), before);
}
