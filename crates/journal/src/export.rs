//! Exports: JSON (a stable, documented schema), CSV, and import from JSON.
//!
//! The JSON schema is `docs/journal-json.md`. Its `format` is
//! `"starling.journal"` and its `version` is [`EXPORT_VERSION`]; fields are
//! only ever added, never renamed, within one version.

use serde::{Deserialize, Serialize};

use crate::error::{JournalError, Result};
use crate::ids::{DeviceId, GoalId, NoteId, ReadingId, StepId};
use crate::instrument::Instrument;
use crate::journal::Journal;
use crate::members::Member;
use crate::model::{Date, MemberRole, Mode, Perspective, StepOwner};
use crate::view::{Conflict, JournalView};

/// Version of the JSON export schema.
pub const EXPORT_VERSION: u32 = 2;
const FORMAT: &str = "starling.journal";

/// A journal as exported to JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalExport {
    /// Always `starling.journal`.
    pub format: String,
    /// Schema version, [`EXPORT_VERSION`].
    pub version: u32,
    /// Journal id.
    pub journal_id: String,
    /// The id the journal syncs under: what the app shows as its id
    /// (`starling list`), when the exporting app gives it (version 2).
    /// An import makes a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// Owner device, hex.
    pub owner: Option<String>,
    /// Members.
    pub members: Vec<MemberExport>,
    /// Every instrument the readings use, in full.
    pub instruments: Vec<Instrument>,
    /// Readings, oldest first.
    pub readings: Vec<ReadingExport>,
    /// Goals with their steps.
    pub goals: Vec<GoalExport>,
    /// Notes.
    pub notes: Vec<NoteExport>,
    /// Open conflicts; their fields are `null` above. Not imported.
    pub conflicts: Vec<Conflict>,
}

impl JournalExport {
    /// Parses a JSON export, refusing what is not one (a CSV export,
    /// another program's JSON) or comes from a newer Starling.
    pub fn parse(json: &str) -> Result<JournalExport> {
        // Something else entirely is named as such, before any detail of
        // the schema.
        let is_export = serde_json::from_str::<serde_json::Value>(json)
            .is_ok_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(FORMAT));
        if !is_export {
            return Err(JournalError::InvalidExport(
                "this file is not a Starling journal in JSON (`starling export --format json` \
                 makes one; CSV and FHIR exports cannot be imported)"
                    .into(),
            ));
        }
        let export: JournalExport =
            serde_json::from_str(json).map_err(|e| JournalError::InvalidExport(e.to_string()))?;
        if export.version > EXPORT_VERSION {
            return Err(JournalError::InvalidExport(format!(
                "expected format {FORMAT} version <= {EXPORT_VERSION}, found {} version {}",
                export.format, export.version
            )));
        }
        Ok(export)
    }
}

/// A member in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberExport {
    /// Device, hex.
    pub device: String,
    /// Display name.
    pub name: String,
    /// `client`, `worker` or `supporter`.
    pub role: MemberRole,
    /// When the owner removed them (version 2), if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Date>,
    /// Their other devices, linked or recovered, removed ones included
    /// (version 2): notes and changes those devices wrote are this
    /// member's. Known to the app, from the membership log; not imported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
}

/// A reading in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadingExport {
    /// Reading id.
    pub id: ReadingId,
    /// Date taken.
    pub date: Option<Date>,
    /// `joint`, `client` or `worker`.
    pub mode: Option<Mode>,
    /// `id@version#sha256` of its instrument (one of `instruments`).
    pub instrument: String,
    /// Review date of its plan.
    pub review_date: Option<Date>,
    /// Areas in the instrument's order.
    pub areas: Vec<AreaExport>,
}

/// One area of a reading in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaExport {
    /// Area id.
    pub area: String,
    /// The client's score.
    pub client: Option<u8>,
    /// The worker's score.
    pub worker: Option<u8>,
    /// The agreed score.
    pub agreed: Option<u8>,
    /// The note.
    pub note: String,
}

/// A goal in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalExport {
    /// Goal id.
    pub id: GoalId,
    /// Area id.
    pub area: String,
    /// The reading whose plan set it.
    pub reading: ReadingId,
    /// Title.
    pub title: String,
    /// Target score.
    pub target: Option<u8>,
    /// Steps.
    pub steps: Vec<StepExport>,
}

/// A step in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepExport {
    /// Step id.
    pub id: StepId,
    /// What.
    pub text: String,
    /// Who.
    pub owner: Option<StepOwner>,
    /// By when.
    pub due: Option<Date>,
    /// Done?
    pub done: Option<bool>,
}

/// A note in an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteExport {
    /// Note id.
    pub id: NoteId,
    /// Date.
    pub date: Option<Date>,
    /// Area id.
    pub area: Option<String>,
    /// Author device, hex. An import attributes notes to the importing device.
    pub author: Option<String>,
    /// Text.
    pub text: String,
}

impl Journal {
    /// The journal in the export schema.
    pub fn to_export(&self) -> JournalExport {
        let view = self.view();
        let mut instruments: Vec<Instrument> = Vec::new();
        for r in &view.readings {
            if let Some(i) = self.instrument(&r.instrument)
                && !instruments.contains(&i)
            {
                instruments.push(i);
            }
        }
        export_of(view, instruments)
    }

    /// The journal as a FHIR R4 Bundle, pretty JSON (docs/fhir.md).
    pub fn export_fhir(&self) -> String {
        serde_json::to_string_pretty(&self.read_model().fhir_bundle()).unwrap_or_default()
    }

    /// The journal as pretty JSON.
    pub fn export_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_export()).unwrap_or_default()
    }

    /// One CSV row per reading x area x perspective (RFC 4180, written by
    /// the `csv` crate). A cell that a spreadsheet would take for a formula
    /// (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return: text
    /// from an instrument or another member could) is prefixed with `'`, so
    /// opening the export never runs anything.
    pub fn export_csv(&self) -> String {
        let view = self.view();
        let mut out = csv::Writer::from_writer(Vec::new());
        let header = [
            "reading_id",
            "date",
            "mode",
            "instrument",
            "area",
            "area_name",
            "perspective",
            "score",
            "stage",
            "conflict",
        ];
        // Writing to a Vec cannot fail.
        let _ = out.write_record(header);
        for r in &view.readings {
            let instrument = self.instrument(&r.instrument);
            for a in &r.areas {
                for &p in Perspective::ALL {
                    let score = a.score(p);
                    let stage = score
                        .value
                        .and_then(|v| instrument.as_ref()?.stage(v))
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    let conflict: Vec<&str> =
                        score.conflict.iter().map(|c| c.value.as_str()).collect();
                    let row = [
                        r.id.to_string(),
                        r.sort_date().map(|d| d.to_string()).unwrap_or_default(),
                        r.mode.value.map(|m| m.to_string()).unwrap_or_default(),
                        r.instrument
                            .split('#')
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                        a.area.clone(),
                        a.name.clone(),
                        p.to_string(),
                        score.value.map(|v| v.to_string()).unwrap_or_default(),
                        stage,
                        conflict.join(";"),
                    ];
                    let _ = out.write_record(row.iter().map(|c| defuse(c).into_owned()));
                }
            }
        }
        let bytes = out.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// Build a new journal, owned by `device`, from a JSON export.
    ///
    /// Ids, dates, scores, notes and plans come across; open conflicts and
    /// history do not (the new journal's history starts with the import).
    /// The importing device takes the client's place under the client's
    /// name; the export's other members keep their names and roles as a
    /// record, marked removed on the day of the import (their devices are
    /// not in the new journal until invited).
    pub fn import_json(json: &str, device: DeviceId) -> Result<Journal> {
        Journal::from_export(JournalExport::parse(json)?, device)
    }

    /// [`Journal::import_json`] of an export already parsed (and checked)
    /// by [`JournalExport::parse`].
    pub fn from_export(export: JournalExport, device: DeviceId) -> Result<Journal> {
        // The person whose journal it is: this device, if it was a member;
        // else the owner; else the client.
        let me = device.to_string();
        let client = export
            .members
            .iter()
            .find(|m| m.device == me)
            .or_else(|| {
                let owner = export.owner.as_deref()?;
                export.members.iter().find(|m| m.device == owner)
            })
            .or_else(|| export.members.iter().find(|m| m.role == MemberRole::Client));
        let client_name = client
            .map(|m| m.name.clone())
            .unwrap_or_else(|| "imported".to_owned());
        let replaced = client.map(|m| m.device.clone());
        let mut journal = Journal::create_with_id(device, &client_name, &export.journal_id)?;
        let today = Date::from_unix(journal.now());
        for m in &export.members {
            if Some(&m.device) == replaced.as_ref() || m.device == me {
                continue;
            }
            let member: DeviceId = m.device.parse()?;
            journal.set_member(member, &m.name, m.role)?;
            journal.remove_member(member, m.removed.unwrap_or(today))?;
        }
        for r in &export.readings {
            let instrument = export
                .instruments
                .iter()
                .find(|i| crate::journal::instrument_key(i) == r.instrument)
                .ok_or_else(|| JournalError::UnknownInstrument(r.instrument.clone()))?;
            let date = r.date.ok_or_else(|| {
                JournalError::InvalidExport(format!("reading {} has no date", r.id))
            })?;
            journal.new_reading_with_id(&r.id, date, r.mode.unwrap_or(Mode::Joint), instrument)?;
            if let Some(review) = r.review_date {
                journal.set_review_date(&r.id, review)?;
            }
            for &p in Perspective::ALL {
                let scores: Vec<(&str, i64)> = r
                    .areas
                    .iter()
                    .filter_map(|a| Some((a.area.as_str(), i64::from(*area_score(a, p)?))))
                    .collect();
                if !scores.is_empty() {
                    journal.set_scores(&r.id, p, &scores)?;
                }
            }
            for a in r.areas.iter().filter(|a| !a.note.is_empty()) {
                journal.set_area_note(&r.id, &a.area, &a.note)?;
            }
        }
        for g in &export.goals {
            journal.add_goal_with_id(
                &g.id,
                &g.reading,
                &g.area,
                &g.title,
                g.target.map(i64::from),
            )?;
            for s in &g.steps {
                journal.add_step_with_id(
                    &g.id,
                    &s.id,
                    &s.text,
                    s.owner.unwrap_or(StepOwner::Other),
                    s.due,
                )?;
                if s.done == Some(true) {
                    journal.set_step_done(&g.id, &s.id, true)?;
                }
            }
        }
        for n in &export.notes {
            let date = n
                .date
                .ok_or_else(|| JournalError::InvalidExport(format!("note {} has no date", n.id)))?;
            journal.add_note_with_id(&n.id, date, n.area.as_deref(), &n.text)?;
        }
        Ok(journal)
    }
}

fn area_score(a: &AreaExport, p: Perspective) -> Option<&u8> {
    match p {
        Perspective::Client => a.client.as_ref(),
        Perspective::Worker => a.worker.as_ref(),
        Perspective::Agreed => a.agreed.as_ref(),
    }
}

fn export_of(view: JournalView, instruments: Vec<Instrument>) -> JournalExport {
    JournalExport {
        format: FORMAT.to_owned(),
        version: EXPORT_VERSION,
        journal_id: view.journal_id,
        document_id: None,
        owner: view.owner.map(|o| o.to_string()),
        members: view
            .members
            .into_iter()
            .map(|m| member_export(m, &view.persons))
            .collect(),
        instruments,
        readings: view
            .readings
            .into_iter()
            .map(|r| ReadingExport {
                id: r.id,
                date: r.date.value,
                mode: r.mode.value,
                instrument: r.instrument,
                review_date: r.review_date.value,
                areas: r
                    .areas
                    .into_iter()
                    .map(|a| AreaExport {
                        area: a.area,
                        client: a.client.value,
                        worker: a.worker.value,
                        agreed: a.agreed.value,
                        note: a.note,
                    })
                    .collect(),
            })
            .collect(),
        goals: view
            .goals
            .into_iter()
            .map(|g| GoalExport {
                id: g.id,
                area: g.area,
                reading: g.reading,
                title: g.title,
                target: g.target.value,
                steps: g
                    .steps
                    .into_iter()
                    .map(|s| StepExport {
                        id: s.id,
                        text: s.text,
                        owner: s.owner.value,
                        due: s.due.value,
                        done: s.done.value,
                    })
                    .collect(),
            })
            .collect(),
        notes: view
            .notes
            .into_iter()
            .map(|n| NoteExport {
                id: n.id,
                date: n.date.value,
                area: n.area,
                author: n.author.map(|a| a.to_string()),
                text: n.text,
            })
            .collect(),
        conflicts: view.conflicts,
    }
}

fn member_export(
    m: Member,
    persons: &std::collections::BTreeMap<crate::DeviceId, crate::DeviceId>,
) -> MemberExport {
    let devices = persons
        .iter()
        .filter(|(d, p)| **p == m.device && **d != m.device)
        .map(|(d, _)| d.to_string())
        .collect();
    MemberExport {
        device: m.device.to_string(),
        name: m.name,
        role: m.role,
        removed: m.removed,
        devices,
    }
}

/// A cell a spreadsheet would not evaluate: text that starts like a
/// formula gets a leading `'` (OWASP's advice for CSV injection).
fn defuse(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}
