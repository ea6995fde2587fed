//! Exports: JSON round-trips, CSV has one row per reading x area x perspective,
//! and the raw automerge bytes load as an automerge document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{merged, pair};
use recovery_journal::{Journal, JournalError, Perspective, StepOwner};

#[test]
fn json_export_imports_to_the_same_journal() {
    let mut p = pair();
    let j = &mut p.client;
    j.set_scores(
        &p.reading,
        Perspective::Client,
        &[("work", 4), ("self_care", 6)],
    )
    .unwrap();
    j.set_score(&p.reading, "work", Perspective::Agreed, 5)
        .unwrap();
    j.set_area_note(&p.reading, "work", "Wants \"real\" work, not more courses")
        .unwrap();
    let goal = j
        .add_goal(&p.reading, "work", "Find volunteering", Some(6))
        .unwrap();
    let step = j
        .add_step(
            &goal,
            "Call the centre",
            StepOwner::Client,
            Some("2026-12-01".parse().unwrap()),
        )
        .unwrap();
    j.set_step_done(&goal, &step, true).unwrap();
    j.add_note(
        "2026-11-24".parse().unwrap(),
        Some("work"),
        "First day went well",
    )
    .unwrap();

    let json = j.export_json();
    let imported = Journal::import_json(&json, p.client_id.device).unwrap();
    // The worker comes across as a record, marked removed (their device is
    // not in the new journal); everything else is the same.
    let mut expected: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut got: serde_json::Value = serde_json::from_str(&imported.export_json()).unwrap();
    for v in [&mut expected, &mut got] {
        for m in v["members"].as_array_mut().unwrap() {
            if m["role"] == "worker" {
                m.as_object_mut().unwrap().remove("removed");
            }
        }
    }
    assert_eq!(got, expected);
    assert_eq!(imported.journal_id(), j.journal_id());
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["format"], "starling.journal");
    assert_eq!(value["version"], 2);
    assert_eq!(value["readings"][0]["areas"][4]["area"], "work");
    assert_eq!(value["readings"][0]["areas"][4]["agreed"], 5);
}

#[test]
fn import_rejects_what_is_not_an_export() {
    let device = common::person(1).device;
    for bad in ["", "{}", "[1,2]", r#"{"format":"other","version":1}"#] {
        assert!(
            matches!(
                Journal::import_json(bad, device),
                Err(JournalError::InvalidExport(_))
            ),
            "{bad}"
        );
    }
    let p = pair();
    let newer = p
        .client
        .export_json()
        .replace("\"version\": 2", "\"version\": 3");
    assert!(Journal::import_json(&newer, device).is_err());
    let out_of_range = p
        .client
        .export_json()
        .replace("\"areas\": [", "\"areas\": [{\"area\": \"work\", \"client\": 12, \"worker\": null, \"agreed\": null, \"note\": \"\"},");
    assert!(Journal::import_json(&out_of_range, device).is_err());
}

#[test]
fn csv_has_a_row_per_reading_area_and_perspective() {
    let mut p = pair();
    p.client
        .set_score(&p.reading, "work", Perspective::Client, 4)
        .unwrap();
    p.client.set_area_note(&p.reading, "work", "x").unwrap();
    p.client
        .set_score(&p.reading, "work", Perspective::Agreed, 5)
        .unwrap();
    p.worker
        .set_score(&p.reading, "work", Perspective::Agreed, 6)
        .unwrap();
    let csv = merged(&p.client, &p.worker).export_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "reading_id,date,mode,instrument,area,area_name,perspective,score,stage,conflict"
    );
    assert_eq!(lines.len(), 1 + 10 * 3);
    assert!(
        lines.contains(
            &format!(
                "{},2026-11-23,joint,recovery-star@1,work,Work,client,4,Accepting help,",
                p.reading
            )
            .as_str()
        )
    );
    let agreed = lines
        .iter()
        .find(|l| l.contains(",work,Work,agreed,"))
        .unwrap();
    assert!(
        agreed.ends_with(",,,5;6") || agreed.ends_with(",,,6;5"),
        "{agreed}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"Identity and self esteem\"")
                || l.contains("Identity and self esteem"))
    );
}

#[test]
fn raw_automerge_export_loads_as_plain_automerge() {
    use automerge::ReadDoc;
    let mut p = pair();
    p.client
        .set_score(&p.reading, "work", Perspective::Client, 4)
        .unwrap();
    let doc = automerge::Automerge::load(&p.client.export_automerge()).unwrap();
    let (readings, id) = doc.get(automerge::ROOT, "readings").unwrap().unwrap();
    assert!(readings.is_object());
    assert_eq!(doc.keys(&id).count(), 1);
}

#[test]
fn csv_cells_that_look_like_formulas_are_defused() {
    use recovery_journal::{Instrument, Mode};
    let mut p = pair();
    // An instrument is data another member's document can carry.
    let hostile = Instrument::from_toml(
        r#"
        id = "org-check"
        version = "1"
        name = "Check"
        attribution = "x"
        scale = { min = 1, max = 2 }
        areas = [{ id = "a", name = "=HYPERLINK(\"http://evil.example\",\"open\")" }, { id = "b", name = "+1, \"quoted\"" }]
        stages = [{ name = "@SUM(A1)", min = 1, max = 2 }]
        "#,
    )
    .unwrap();
    let r = p
        .client
        .new_reading("2026-12-01".parse().unwrap(), Mode::Joint, &hostile)
        .unwrap();
    p.client.set_score(&r, "a", Perspective::Client, 1).unwrap();
    let csv = p.client.export_csv();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let mut names = Vec::new();
    let mut stages = Vec::new();
    for row in reader.records() {
        let row = row.unwrap();
        names.push(row[5].to_owned());
        stages.push(row[8].to_owned());
    }
    assert!(names.contains(&"'=HYPERLINK(\"http://evil.example\",\"open\")".to_owned()));
    assert!(names.contains(&"'+1, \"quoted\"".to_owned()), "{names:?}");
    assert!(stages.contains(&"'@SUM(A1)".to_owned()));
    assert!(
        names
            .iter()
            .chain(&stages)
            .all(|c| !c.starts_with(['=', '+', '-', '@'])),
        "no cell starts like a formula"
    );
}
