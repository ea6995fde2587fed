//! A journal at a glance, for a caseload: the latest reading's date and
//! scores, open conflicts, perspective gaps, steps due, the next review,
//! and where sync stands.

use recovery_journal::{Date, JournalView, Perspective};
use starling_client::DocRow;

use crate::App;
use crate::error::Result;

/// How far ahead a step counts as due.
pub const DUE_WITHIN_DAYS: i64 = 7;

/// One area of the latest reading, for a small star.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AreaSummary {
    /// Area id.
    pub area: String,
    /// Area name, from the instrument.
    pub name: String,
    /// The client's score.
    pub client: Option<u8>,
    /// The worker's score.
    pub worker: Option<u8>,
    /// The agreed score.
    pub agreed: Option<u8>,
}

/// A journal at a glance.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JournalSummary {
    /// The journal's id.
    pub journal: String,
    /// The client's name.
    pub title: String,
    /// Readings so far.
    pub readings: usize,
    /// Date of the latest reading.
    pub last_reading: Option<Date>,
    /// The instrument's scale, for drawing: lowest and highest step.
    pub scale: (u8, u8),
    /// The latest reading, area by area.
    pub latest: Vec<AreaSummary>,
    /// Open conflicts.
    pub conflicts: usize,
    /// Areas of the latest reading where client and worker differ.
    pub gaps: usize,
    /// Steps not done that are overdue or due within [`DUE_WITHIN_DAYS`].
    pub steps_due: usize,
    /// The next review date of the latest reading's plan.
    pub next_review: Option<Date>,
    /// Warnings from the journal (damaged or unattributable data).
    pub warnings: usize,
}

/// Computes a summary from a view (`today` decides which steps are due).
pub fn summarize(
    journal: &str,
    title: &str,
    view: &JournalView,
    today: Date,
    scale: (u8, u8),
) -> JournalSummary {
    let latest = view.latest_reading();
    let areas = latest
        .map(|r| {
            r.areas
                .iter()
                .map(|a| AreaSummary {
                    area: a.area.clone(),
                    name: a.name.clone(),
                    client: a.score(Perspective::Client).value,
                    worker: a.score(Perspective::Worker).value,
                    agreed: a.score(Perspective::Agreed).value,
                })
                .collect()
        })
        .unwrap_or_default();
    let due_by = today.plus_days(DUE_WITHIN_DAYS);
    let steps_due = view
        .goals
        .iter()
        .flat_map(|g| &g.steps)
        .filter(|s| s.done.value != Some(true))
        .filter(|s| s.due.value.is_some_and(|d| d <= due_by))
        .count();
    JournalSummary {
        journal: journal.to_owned(),
        title: title.to_owned(),
        readings: view.readings.len(),
        last_reading: latest.and_then(|r| r.sort_date()),
        scale,
        latest: areas,
        conflicts: view.conflicts.len(),
        gaps: latest.map_or(0, |r| r.areas.iter().filter(|a| a.gap.is_some()).count()),
        steps_due,
        next_review: latest.and_then(|r| r.review_date.value),
        warnings: view.warnings.len(),
    }
}

impl App {
    /// The summary of one journal.
    pub fn summary(&self, row: &DocRow) -> Result<JournalSummary> {
        let journal = self.load(row)?;
        let view = journal.view();
        let scale = view
            .latest_reading()
            .and_then(|r| journal.instrument(&r.instrument))
            .map_or((1, 10), |i| (i.scale.min, i.scale.max));
        let today = crate::actions::date_or_today(None)?;
        Ok(summarize(&row.doc, &row.title, &view, today, scale))
    }
}
