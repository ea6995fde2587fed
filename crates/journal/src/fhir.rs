//! The journal as a FHIR R4 Bundle (type `collection`), for an
//! organisation's electronic care record. docs/fhir.md documents the
//! mapping, the code systems and what an organisation maps locally.
//!
//! - each instrument used: a `Questionnaire`, one integer item per area;
//! - each reading: a `QuestionnaireResponse` per perspective that has a
//!   score (status from the sign-off: `completed`, `amended`, or
//!   `in-progress` while not signed off by both);
//! - each score: an `Observation` (the area as its code, the perspective as
//!   its method, the score as `valueInteger`, the area's note as a note);
//! - each goal: a `Goal`; each reading's plan (goals, steps, review date):
//!   a `CarePlan`.
//!
//! Every resource carries an identifier in the journal's own system
//! (`urn:starling:journal:JOURNAL_ID`) and an id derived from it, so a
//! second export of the same journal names the same resources: a receiving
//! system updates rather than duplicates. A value in conflict is left out
//! (a receiving system cannot show a disagreement), as is a deleted item.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::instrument::Instrument;
use crate::model::Perspective;
use crate::report::ReadModel;
use crate::signoff::SignOff;
use crate::view::{GoalView, JournalView, ReadingView};

/// The code system of perspectives (client, worker, agreed).
pub const PERSPECTIVE_SYSTEM: &str = "urn:starling:perspective";

/// The journal's identifier system.
fn journal_system(view: &JournalView) -> String {
    format!("urn:starling:journal:{}", view.journal_id)
}

/// The canonical URL of an instrument's questionnaire.
fn questionnaire_url(instrument: &Instrument) -> String {
    format!(
        "urn:starling:instrument:{}:{}",
        instrument.id, instrument.version
    )
}

/// A resource's logical id: stable for the same journal and `value`.
fn id(view: &JournalView, value: &str) -> String {
    hashed(&format!("{}\n{value}", view.journal_id))
}

/// 128 bits of SHA-256 over `text`, in hex.
fn hashed(text: &str) -> String {
    hex::encode(&Sha256::digest(text)[..16])
}

/// The bundle-wide name of the resource with id `id` (32 hex digits), as
/// a UUID URN: what `fullUrl` and references inside the bundle use.
fn urn(id: &str) -> String {
    if id.len() != 32 {
        return format!("urn:uuid:{id}");
    }
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    )
}

fn identifier(view: &JournalView, value: &str) -> Value {
    json!([{ "system": journal_system(view), "value": value }])
}

fn entry(resource: Value) -> Value {
    let full = urn(resource["id"].as_str().unwrap_or_default());
    json!({ "fullUrl": full, "resource": resource })
}

/// Who the journal is about, as a display-only reference (the organisation
/// links it to its own patient record).
fn subject(view: &JournalView) -> Value {
    let name = view
        .owner
        .and_then(|o| view.member_name(o))
        .unwrap_or("the client");
    json!({ "display": name })
}

fn perspective_coding(p: Perspective) -> Value {
    json!({ "coding": [{ "system": PERSPECTIVE_SYSTEM, "code": p.as_str() }], "text": p.as_str() })
}

impl ReadModel {
    /// The journal as a FHIR R4 Bundle.
    pub fn fhir_bundle(&self) -> Value {
        let view = &self.view;
        let mut entries = Vec::new();
        for instrument in self.instruments.values() {
            entries.push(entry(questionnaire(view, instrument)));
        }
        let mut goals_written = std::collections::BTreeSet::new();
        for reading in &view.readings {
            if reading.deleted_while_edited {
                continue;
            }
            let Some(instrument) = self.instrument(&reading.instrument) else {
                continue;
            };
            // A date in conflict is left out with its reading.
            let Some(date) = reading.date.value else {
                continue;
            };
            let status = match &reading.signoff {
                SignOff::SignedOff { .. } => "completed",
                SignOff::Amended { .. } => "amended",
                _ => "in-progress",
            };
            for p in Perspective::ALL {
                let scored: Vec<(&str, &str, u8, &str)> = reading
                    .areas
                    .iter()
                    .filter_map(|a| {
                        let value = a.score(*p).value?;
                        Some((a.area.as_str(), a.name.as_str(), value, a.note.as_str()))
                    })
                    .collect();
                if scored.is_empty() {
                    continue;
                }
                let qr_key = format!("reading/{}/{p}", reading.id.as_str());
                let qr_id = id(view, &qr_key);
                entries.push(entry(json!({
                    "resourceType": "QuestionnaireResponse",
                    "id": qr_id,
                    "identifier": identifier(view, &qr_key)[0],
                    "questionnaire": questionnaire_url(instrument),
                    "status": status,
                    "subject": subject(view),
                    "authored": date.to_string(),
                    "author": { "display": p.as_str() },
                    "item": scored.iter().map(|(area, name, value, _)| json!({
                        "linkId": area,
                        "text": name,
                        "answer": [{ "valueInteger": value }],
                    })).collect::<Vec<_>>(),
                })));
                for (area, name, value, note) in &scored {
                    entries.push(entry(observation(
                        view,
                        instrument,
                        reading,
                        *p,
                        (area, name),
                        *value,
                        note,
                        &qr_id,
                    )));
                }
            }
            let plan = view
                .plan(&reading.id)
                .filter(|p| !p.goals.is_empty() || !p.carried_forward.is_empty());
            if let Some(plan) = plan {
                for goal in plan.goals.iter().filter(|g| !g.deleted_while_edited) {
                    entries.push(entry(goal_resource(
                        view,
                        goal,
                        instrument,
                        &date.to_string(),
                    )));
                    goals_written.insert(goal.id.as_str().to_owned());
                }
                entries.push(entry(care_plan(view, reading, &plan, date, &goals_written)));
            }
        }
        json!({
            "resourceType": "Bundle",
            "id": id(view, "bundle"),
            "identifier": { "system": journal_system(view), "value": "bundle" },
            "type": "collection",
            "entry": entries,
        })
    }
}

fn questionnaire(view: &JournalView, instrument: &Instrument) -> Value {
    let key = format!("instrument/{}/{}", instrument.id, instrument.version);
    let stages: Vec<String> = instrument
        .stages
        .iter()
        .map(|s| format!("{}-{} {}", s.min, s.max, s.name))
        .collect();
    json!({
        "resourceType": "Questionnaire",
        // One instrument version is one questionnaire, whatever the journal.
        "id": hashed(&questionnaire_url(instrument)),
        "url": questionnaire_url(instrument),
        "identifier": identifier(view, &key),
        "version": instrument.version,
        "name": instrument
            .id
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<String>(),
        "title": instrument.name,
        "status": "active",
        "description": format!(
            "Each area is placed on a ladder from {} to {}. Stages: {}.",
            instrument.scale.min, instrument.scale.max, stages.join("; ")
        ),
        "copyright": instrument.attribution,
        "item": instrument.areas.iter().map(|a| json!({
            "linkId": a.id,
            "text": a.name,
            "type": "integer",
            "required": false,
        })).collect::<Vec<_>>(),
    })
}

#[allow(clippy::too_many_arguments)]
fn observation(
    view: &JournalView,
    instrument: &Instrument,
    reading: &ReadingView,
    p: Perspective,
    (area, name): (&str, &str),
    value: u8,
    note: &str,
    qr_id: &str,
) -> Value {
    let key = format!("reading/{}/{p}/{area}", reading.id.as_str());
    let status = match reading.signoff {
        SignOff::Amended { .. } => "amended",
        SignOff::SignedOff { .. } => "final",
        _ => "preliminary",
    };
    let mut o = json!({
        "resourceType": "Observation",
        "id": id(view, &key),
        "identifier": identifier(view, &key),
        "status": status,
        "code": {
            "coding": [{ "system": questionnaire_url(instrument), "code": area, "display": name }],
            "text": name,
        },
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }] }],
        "subject": subject(view),
        "effectiveDateTime": reading.date.value.map(|d| d.to_string()),
        "valueInteger": value,
        "method": perspective_coding(p),
        "derivedFrom": [{ "reference": urn(qr_id) }],
    });
    if let Some(stage) = instrument.stage(value) {
        o["interpretation"] = json!([{ "text": stage.name }]);
    }
    if !note.is_empty() && p == Perspective::Agreed {
        o["note"] = json!([{ "text": note }]);
    }
    o
}

fn goal_resource(
    view: &JournalView,
    goal: &GoalView,
    instrument: &Instrument,
    date: &str,
) -> Value {
    let key = format!("goal/{}", goal.id.as_str());
    let all_done = !goal.steps.is_empty() && goal.steps.iter().all(|s| s.done.value == Some(true));
    let mut g = json!({
        "resourceType": "Goal",
        "id": id(view, &key),
        "identifier": identifier(view, &key),
        "lifecycleStatus": if all_done { "completed" } else { "active" },
        "description": { "text": goal.title },
        "subject": subject(view),
        "startDate": date,
    });
    let area_name = instrument
        .area(&goal.area)
        .map(|a| a.name.clone())
        .unwrap_or_else(|_| goal.area.clone());
    g["category"] = json!([{
        "coding": [{ "system": questionnaire_url(instrument), "code": goal.area, "display": area_name }],
        "text": area_name,
    }]);
    if let Some(t) = goal.target.value {
        g["target"] = json!([{
            "measure": { "coding": [{ "system": questionnaire_url(instrument), "code": goal.area }] },
            "detailInteger": t,
        }]);
    }
    g
}

fn care_plan(
    view: &JournalView,
    reading: &ReadingView,
    plan: &crate::view::PlanView,
    date: crate::model::Date,
    goals_written: &std::collections::BTreeSet<String>,
) -> Value {
    let key = format!("plan/{}", reading.id.as_str());
    let goals: Vec<Value> = plan
        .goals
        .iter()
        .chain(&plan.carried_forward)
        .filter(|g| goals_written.contains(g.id.as_str()))
        .map(|g| json!({ "reference": urn(&id(view, &format!("goal/{}", g.id.as_str()))) }))
        .collect();
    let activity: Vec<Value> = plan
        .goals
        .iter()
        .chain(&plan.carried_forward)
        .flat_map(|g| g.steps.iter())
        .filter(|s| !s.deleted_while_edited)
        .map(|s| {
            let status = match s.done.value {
                Some(true) => "completed",
                _ if s.done.is_conflicted() => "unknown",
                _ => "not-started",
            };
            let mut detail = json!({
                "status": status,
                "description": s.text,
            });
            if let Some(due) = s.due.value {
                detail["scheduledString"] = json!(format!("by {due}"));
            }
            if let Some(owner) = s.owner.value {
                detail["performer"] = json!([{ "display": owner.as_str() }]);
            }
            json!({ "detail": detail })
        })
        .collect();
    let mut period = json!({ "start": date.to_string() });
    if let Some(review) = reading.review_date.value.filter(|r| *r >= date) {
        period["end"] = json!(review.to_string());
    }
    let mut plan = json!({
        "resourceType": "CarePlan",
        "id": id(view, &key),
        "identifier": identifier(view, &key),
        "status": "active",
        "intent": "plan",
        "title": "Action plan",
        "subject": subject(view),
        "period": period,
    });
    // FHIR has no empty arrays: an element with nothing in it is left out.
    if !goals.is_empty() {
        plan["goal"] = json!(goals);
    }
    if !activity.is_empty() {
        plan["activity"] = json!(activity);
    }
    plan
}
