//! `starling export --format fhir`: a FHIR R4 Bundle whose scores read
//! back as `show --json` has them, with ids stable across exports, and
//! (in CI) valid for an independent FHIR library.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::util::{Person, Relay, manifest_dir, pair};

/// Sam and Alex score a reading from all three perspectives, with a goal,
/// a step and both sign-offs; Sam then amends a score.
fn journal(root: &tempfile::TempDir, relay: &Relay) -> (Person, Person) {
    let (sam, alex) = pair(root, relay);
    sam.ok(&["score", "work", "4"]);
    sam.ok(&[
        "score",
        "work",
        "5",
        "--as",
        "agreed",
        "--note",
        "Volunteering twice a week",
    ]);
    sam.ok(&["score", "self_care", "8"]);
    let goal = sam.json(&[
        "goal",
        "add",
        "work",
        "Volunteer twice a week",
        "--target",
        "7",
    ]);
    let goal = goal["goal"].as_str().unwrap().to_owned();
    sam.ok(&[
        "step",
        "add",
        &goal,
        "Call the volunteer centre",
        "--owner",
        "client",
        "--due",
        "2026-12-10",
    ]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    alex.ok(&["score", "work", "7"]);
    alex.ok(&["sign-off"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    sam.ok(&["sign-off"]);
    sam.ok(&["sync"]);
    (sam, alex)
}

/// (date, area, perspective, value) of every score `show --json` lists.
fn shown_scores(p: &Person) -> BTreeSet<(String, String, String, i64)> {
    let view = p.json(&["show"]);
    let mut out = BTreeSet::new();
    for r in view["readings"].as_array().unwrap() {
        let date = r["date"]["value"].as_str().unwrap().to_owned();
        for a in r["areas"].as_array().unwrap() {
            for persp in ["client", "worker", "agreed"] {
                if let Some(v) = a[persp]["value"].as_i64() {
                    out.insert((
                        date.clone(),
                        a["area"].as_str().unwrap().into(),
                        persp.into(),
                        v,
                    ));
                }
            }
        }
    }
    out
}

fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

#[test]
fn the_fhir_bundle_carries_every_score_with_stable_ids() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, _alex) = journal(&root, &relay);
    let bundle: Value = serde_json::from_str(&sam.ok(&["export", "--format", "fhir"])).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");

    let questionnaires = resources(&bundle, "Questionnaire");
    assert_eq!(questionnaires.len(), 1);
    assert_eq!(questionnaires[0]["item"].as_array().unwrap().len(), 10);
    assert!(
        questionnaires[0]["copyright"]
            .as_str()
            .unwrap()
            .contains("Triangle"),
        "the Recovery Star's attribution travels with it"
    );
    // One response per perspective, completed: both signed off.
    let responses = resources(&bundle, "QuestionnaireResponse");
    assert_eq!(responses.len(), 3);
    assert!(
        responses.iter().all(|r| r["status"] == "completed"),
        "{responses:#?}"
    );

    // Every score, and nothing else, comes back as an Observation.
    let read_back: BTreeSet<(String, String, String, i64)> = resources(&bundle, "Observation")
        .iter()
        .map(|o| {
            (
                o["effectiveDateTime"].as_str().unwrap().to_owned(),
                o["code"]["coding"][0]["code"].as_str().unwrap().to_owned(),
                o["method"]["coding"][0]["code"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                o["valueInteger"].as_i64().unwrap(),
            )
        })
        .collect();
    let shown = shown_scores(&sam);
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert_eq!(read_back, shown);

    let goals = resources(&bundle, "Goal");
    assert_eq!(goals.len(), 1);
    assert_eq!(goals[0]["target"][0]["detailInteger"], 7);
    let plans = resources(&bundle, "CarePlan");
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0]["activity"][0]["detail"]["description"],
        "Call the volunteer centre"
    );

    // Every reference resolves inside the bundle; FHIR allows no empty
    // arrays and no nulls.
    let full: BTreeSet<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
        match v {
            Value::Null => panic!("a null in the bundle"),
            Value::Array(a) => {
                assert!(!a.is_empty(), "an empty array in the bundle");
                a.iter().for_each(|x| walk(x, refs));
            }
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("reference") {
                    refs.push(r);
                }
                o.values().for_each(|x| walk(x, refs));
            }
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&bundle, &mut refs);
    assert!(refs.len() >= 5, "{refs:?}");
    for r in refs {
        assert!(full.contains(r), "{r} does not resolve in the bundle");
    }

    // Amended after sign-off: the next export says so, under the same ids.
    sam.ok(&["score", "work", "6", "--as", "agreed"]);
    let again: Value = serde_json::from_str(&sam.ok(&["export", "--format", "fhir"])).unwrap();
    let ids = |b: &Value| -> BTreeSet<String> {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{}/{}", e["resource"]["resourceType"], e["resource"]["id"]))
            .collect()
    };
    assert_eq!(ids(&again), ids(&bundle));
    assert!(
        resources(&again, "QuestionnaireResponse")
            .iter()
            .all(|r| r["status"] == "amended")
    );
}

#[test]
#[ignore = "needs Python with fhir.resources, which `.ci/run` installs in a virtualenv: python3 -m venv ~/.cache/starling-fhir-venv && ~/.cache/starling-fhir-venv/bin/pip install fhir.resources==8.3.0 && cargo test -p starling --test e2e -- --ignored fhir_"]
fn fhir_bundle_validates_with_an_independent_fhir_library() {
    let root = tempfile::tempdir().unwrap();
    let relay = Relay::start(root.path());
    let (sam, _alex) = journal(&root, &relay);
    let file = root.path().join("bundle.json");
    sam.ok(&[
        "export",
        "--format",
        "fhir",
        "--out",
        file.to_str().unwrap(),
    ]);
    let python = std::env::var_os("STARLING_FHIR_PYTHON").unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_default();
        std::path::Path::new(&home)
            .join(".cache/starling-fhir-venv/bin/python")
            .into_os_string()
    });
    let out = std::process::Command::new(python)
        .arg(manifest_dir().join("tests/fhir/validate.py"))
        .arg(&file)
        .output()
        .expect("python (see the ignore reason)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fhir.resources refused the bundle:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in [
        "Questionnaire",
        "QuestionnaireResponse",
        "Observation",
        "Goal",
        "CarePlan",
    ] {
        assert!(
            stdout.contains(&format!("resource {kind} ")),
            "{kind} missing:\n{stdout}"
        );
    }
    let read_back: BTreeSet<(String, String, String, i64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("score "))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["date"].as_str().unwrap().to_owned(),
                v["area"].as_str().unwrap().to_owned(),
                v["perspective"].as_str().unwrap().to_owned(),
                v["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(read_back, shown_scores(&sam));
}
