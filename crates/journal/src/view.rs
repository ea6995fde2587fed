//! The read model: a plain, validated picture of a journal.
//!
//! A view is what every screen, report and export draws from. Values a peer
//! wrote concurrently are never silently collapsed to one: a [`Field`] with
//! concurrent values has no `value`, only `conflict`, and the journal lists it
//! in [`JournalView::conflicts`] until someone writes a new value.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::JournalError;
use crate::fields::Candidate;
use crate::ids::{DeviceId, GoalId, NoteId, ReadingId, StepId};
use crate::members::Member;
use crate::model::{Date, Mode, Perspective, StepOwner};
use crate::signoff::SignOff;

/// A field that may hold concurrent values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Field<T> {
    /// The value, if there is exactly one valid one.
    pub value: Option<T>,
    /// Every concurrent value, when devices disagreed; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflict: Vec<Candidate>,
}

impl<T> Field<T> {
    pub(crate) fn empty() -> Self {
        Field {
            value: None,
            conflict: Vec::new(),
        }
    }

    /// Whether devices wrote this field concurrently.
    pub fn is_conflicted(&self) -> bool {
        !self.conflict.is_empty()
    }
}

/// Why a score deserves a second look.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum ScoreFlag {
    /// Written by a device whose member role does not own this perspective
    /// (the worker wrote the client's view, or a non-member wrote anything).
    NotTheirPerspective {
        /// The device that wrote it.
        author: Option<DeviceId>,
    },
    /// The stored value is not a whole number on the instrument's scale.
    Invalid {
        /// What was stored, as text.
        raw: String,
    },
}

/// One perspective's score on one area.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Score {
    /// The score, if set, valid and not in conflict.
    pub value: Option<u8>,
    /// The device that wrote the current value.
    pub author: Option<DeviceId>,
    /// Concurrent values, when devices disagreed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflict: Vec<Candidate>,
    /// Reasons to look twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<ScoreFlag>,
}

/// One area of one reading: three perspectives and a note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AreaView {
    /// Area id.
    pub area: String,
    /// Area name from the instrument.
    pub name: String,
    /// The client's view.
    pub client: Score,
    /// The worker's view.
    pub worker: Score,
    /// The agreed score.
    pub agreed: Score,
    /// Stage of the agreed score.
    pub stage: Option<String>,
    /// The perspective gap: how far client and worker are apart, when both scored and differ.
    pub gap: Option<u8>,
    /// The note on this area.
    pub note: String,
}

impl AreaView {
    /// The score of one perspective.
    pub fn score(&self, perspective: Perspective) -> &Score {
        match perspective {
            Perspective::Client => &self.client,
            Perspective::Worker => &self.worker,
            Perspective::Agreed => &self.agreed,
        }
    }
}

/// One dated assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReadingView {
    /// Reading id.
    pub id: ReadingId,
    /// When it was taken.
    pub date: Field<Date>,
    /// How it was taken.
    pub mode: Field<Mode>,
    /// `id@version#sha256` of the instrument used.
    pub instrument: String,
    /// When the action plan set at this reading is reviewed.
    pub review_date: Field<Date>,
    /// Areas in the instrument's order.
    pub areas: Vec<AreaView>,
    /// Sign-off state.
    pub signoff: SignOff,
    /// Deleted on one device while edited on another: kept, and flagged.
    pub deleted_while_edited: bool,
}

impl ReadingView {
    /// The area with this id.
    pub fn area(&self, id: &str) -> Option<&AreaView> {
        self.areas.iter().find(|a| a.area == id)
    }

    /// The date for ordering: the value, or the earliest concurrent one.
    pub fn sort_date(&self) -> Option<Date> {
        self.date.value.or_else(|| {
            self.date
                .conflict
                .iter()
                .filter_map(|c| c.value.parse().ok())
                .min()
        })
    }
}

/// A step towards a goal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StepView {
    /// Step id.
    pub id: StepId,
    /// What is to be done.
    pub text: String,
    /// Who does it.
    pub owner: Field<StepOwner>,
    /// By when.
    pub due: Field<Date>,
    /// Whether it is done.
    pub done: Field<bool>,
    /// Deleted on one device while edited on another.
    pub deleted_while_edited: bool,
}

/// A goal of the action plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GoalView {
    /// Goal id.
    pub id: GoalId,
    /// Area id.
    pub area: String,
    /// The reading whose plan set it.
    pub reading: ReadingId,
    /// The goal, in the client's words.
    pub title: String,
    /// Target score.
    pub target: Field<u8>,
    /// Steps, oldest first.
    pub steps: Vec<StepView>,
    /// Deleted on one device while edited on another.
    pub deleted_while_edited: bool,
}

/// A dated journal note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NoteView {
    /// Note id.
    pub id: NoteId,
    /// The date it is about.
    pub date: Field<Date>,
    /// The area it is about, if any.
    pub area: Option<String>,
    /// Who wrote it (the device that created it).
    pub author: Option<DeviceId>,
    /// The text.
    pub text: String,
    /// Deleted on one device while edited on another.
    pub deleted_while_edited: bool,
}

/// Where a conflict is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldPath {
    /// A reading's date, mode or review date (`date`, `mode`, `review_date`).
    Reading(ReadingId, &'static str),
    /// One perspective of one area of a reading.
    Score(ReadingId, String, Perspective),
    /// The note on one area of a reading, rewritten on two devices at once:
    /// the candidates are each device's whole text.
    AreaNote(ReadingId, String),
    /// A goal's target.
    GoalTarget(GoalId),
    /// A step's `owner`, `due` or `done`.
    Step(GoalId, StepId, &'static str),
    /// A note's date.
    NoteDate(NoteId),
    /// An item deleted on one device while edited on another.
    Deleted(ItemRef),
}

/// A reading, goal, step or note.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemRef {
    /// A reading.
    Reading(ReadingId),
    /// A goal.
    Goal(GoalId),
    /// A step of a goal.
    Step(GoalId, StepId),
    /// A note.
    Note(NoteId),
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemRef::Reading(r) => write!(f, "reading/{r}"),
            ItemRef::Goal(g) => write!(f, "goal/{g}"),
            ItemRef::Step(g, s) => write!(f, "goal/{g}/step/{s}"),
            ItemRef::Note(n) => write!(f, "note/{n}"),
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldPath::Reading(r, key) => write!(f, "reading/{r}/{key}"),
            FieldPath::Score(r, area, p) => write!(f, "reading/{r}/score/{area}/{p}"),
            FieldPath::AreaNote(r, area) => write!(f, "reading/{r}/note/{area}"),
            FieldPath::GoalTarget(g) => write!(f, "goal/{g}/target"),
            FieldPath::Step(g, s, key) => write!(f, "goal/{g}/step/{s}/{key}"),
            FieldPath::NoteDate(n) => write!(f, "note/{n}/date"),
            FieldPath::Deleted(item) => write!(f, "{item}/deleted"),
        }
    }
}

impl FromStr for FieldPath {
    type Err = JournalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || JournalError::InvalidValue {
            kind: "conflict path",
            value: s.to_owned(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        let reading_key = |k: &str| {
            ["date", "mode", "review_date"]
                .into_iter()
                .find(|x| *x == k)
        };
        let step_key = |k: &str| ["owner", "due", "done"].into_iter().find(|x| *x == k);
        Ok(match parts.as_slice() {
            ["reading", r, "deleted"] => FieldPath::Deleted(ItemRef::Reading(r.parse()?)),
            ["reading", r, "score", area, p] => {
                FieldPath::Score(r.parse()?, (*area).to_owned(), p.parse()?)
            }
            ["reading", r, "note", area] => FieldPath::AreaNote(r.parse()?, (*area).to_owned()),
            ["reading", r, key] => {
                FieldPath::Reading(r.parse()?, reading_key(key).ok_or_else(bad)?)
            }
            ["goal", g, "target"] => FieldPath::GoalTarget(g.parse()?),
            ["goal", g, "deleted"] => FieldPath::Deleted(ItemRef::Goal(g.parse()?)),
            ["goal", g, "step", st, "deleted"] => {
                FieldPath::Deleted(ItemRef::Step(g.parse()?, st.parse()?))
            }
            ["goal", g, "step", st, key] => {
                FieldPath::Step(g.parse()?, st.parse()?, step_key(key).ok_or_else(bad)?)
            }
            ["note", n, "date"] => FieldPath::NoteDate(n.parse()?),
            ["note", n, "deleted"] => FieldPath::Deleted(ItemRef::Note(n.parse()?)),
            _ => return Err(bad()),
        })
    }
}

impl<'de> serde::Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Concurrent values of one field, waiting for someone to write a new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Conflict {
    /// Where.
    pub path: FieldPath,
    /// Every concurrent value with its author and time.
    pub candidates: Vec<Candidate>,
}

/// The whole journal, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct JournalView {
    /// Journal id.
    pub journal_id: String,
    /// The owner (the client who created it).
    pub owner: Option<DeviceId>,
    /// Members the owner recorded.
    pub members: Vec<Member>,
    /// Readings, oldest first.
    pub readings: Vec<ReadingView>,
    /// Goals, oldest reading first.
    pub goals: Vec<GoalView>,
    /// Notes, oldest first.
    pub notes: Vec<NoteView>,
    /// Every open conflict.
    pub conflicts: Vec<Conflict>,
    /// Data that was damaged or not written by whom it should have been.
    pub warnings: Vec<String>,
    /// The person each linked device belongs to (device to the person's
    /// first device), from the membership log as [`crate::Journal::set_persons`]
    /// gave it: not the document's, so never kept with the view nor
    /// printed; set it again on a view read back ([`JournalView::with_persons`]).
    #[serde(skip)]
    pub persons: std::collections::BTreeMap<DeviceId, DeviceId>,
}

/// The action plan of one reading: its own goals, and what carries forward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PlanView {
    /// The reading.
    pub reading: ReadingId,
    /// When the plan is reviewed.
    pub review_date: Option<Date>,
    /// Goals set at this reading.
    pub goals: Vec<GoalView>,
    /// Goals of earlier readings with steps not yet done; only those steps are listed.
    pub carried_forward: Vec<GoalView>,
}

impl JournalView {
    /// The action plan of `reading`: its goals, plus every earlier goal's
    /// steps that are not done yet.
    pub fn plan(&self, reading: &ReadingId) -> Option<PlanView> {
        let index = self.readings.iter().position(|r| &r.id == reading)?;
        let earlier: Vec<&ReadingId> = self.readings[..index].iter().map(|r| &r.id).collect();
        let goals = self
            .goals
            .iter()
            .filter(|g| &g.reading == reading)
            .cloned()
            .collect();
        let carried_forward = self
            .goals
            .iter()
            .filter(|g| earlier.contains(&&g.reading))
            .filter_map(|g| {
                let open: Vec<StepView> = g
                    .steps
                    .iter()
                    .filter(|s| s.done.value != Some(true))
                    .cloned()
                    .collect();
                (!open.is_empty()).then(|| GoalView {
                    steps: open,
                    ..g.clone()
                })
            })
            .collect();
        Some(PlanView {
            reading: reading.clone(),
            review_date: self.readings[index].review_date.value,
            goals,
            carried_forward,
        })
    }

    /// The reading with this id.
    pub fn reading(&self, id: &ReadingId) -> Option<&ReadingView> {
        self.readings.iter().find(|r| &r.id == id)
    }

    /// The latest reading by date.
    pub fn latest_reading(&self) -> Option<&ReadingView> {
        self.readings.last()
    }

    /// This view with the areas of only the latest `n` readings: every
    /// reading keeps its id, date, instrument and sign-off (so plans and
    /// their carried-forward goals read as before), but older readings'
    /// areas are left out. What a screen that shows the recent readings
    /// needs from a long journal, at a fraction of its size.
    pub fn recent(&self, n: usize) -> JournalView {
        let mut view = self.clone();
        let older = view.readings.len().saturating_sub(n);
        for r in &mut view.readings[..older] {
            r.areas = Vec::new();
        }
        view
    }

    /// A member's display name: a linked device goes by its person's.
    pub fn member_name(&self, device: DeviceId) -> Option<&str> {
        let named = |d: DeviceId| {
            self.members
                .iter()
                .find(|m| m.device == d)
                .map(|m| m.name.as_str())
        };
        named(device).or_else(|| named(*self.persons.get(&device)?))
    }

    /// This view with the persons of linked devices (see
    /// [`JournalView::persons`]).
    pub fn with_persons(
        mut self,
        persons: impl IntoIterator<Item = (DeviceId, DeviceId)>,
    ) -> JournalView {
        self.persons = persons.into_iter().filter(|(d, p)| d != p).collect();
        self
    }
}
