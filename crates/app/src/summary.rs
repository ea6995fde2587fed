//! A journal at a glance, for a caseload: the latest reading's date and
//! scores, open conflicts, perspective gaps, steps due, the next review,
//! distance travelled, and where sync stands.
//!
//! Summaries are cached in the device's store, tagged with the stored
//! content they were computed from (and the heads it had): a caseload reads
//! them in one query and loads only the journals whose content moved. A
//! cached summary that does not decode, or was computed from other
//! content, is recomputed and never shown.

use recovery_journal::{Date, Distance, Journal, JournalView, Perspective};
use serde::{Deserialize, Serialize};
use starling_client::DocRow;

use crate::App;
use crate::error::Result;

/// How far ahead a step counts as due.
pub const DUE_WITHIN_DAYS: i64 = 7;
/// The store's cache kind for summaries (and its format's version).
const KIND: &str = "summary/1";

/// One area of the latest reading, for a small star.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Distance travelled per area and perspective, first reading to latest.
    pub distance: Vec<Distance>,
}

/// What a summary holds that does not depend on the day: what is cached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Facts {
    /// The document heads it was computed from (hex).
    heads: Vec<String>,
    readings: usize,
    last_reading: Option<Date>,
    scale: (u8, u8),
    latest: Vec<AreaSummary>,
    conflicts: usize,
    gaps: usize,
    /// Due dates of the steps not done.
    open_steps_due: Vec<Date>,
    next_review: Option<Date>,
    warnings: usize,
    distance: Vec<Distance>,
}

impl Facts {
    fn of(journal: &Journal) -> Facts {
        let view = journal.view();
        let scale = view
            .latest_reading()
            .and_then(|r| journal.instrument(&r.instrument))
            .map_or((1, 10), |i| (i.scale.min, i.scale.max));
        let mut facts = Facts::of_view(&view, scale);
        facts.heads = journal.heads().iter().map(ToString::to_string).collect();
        facts.distance = journal.distance_travelled(&view);
        facts
    }

    fn of_view(view: &JournalView, scale: (u8, u8)) -> Facts {
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
        Facts {
            heads: Vec::new(),
            readings: view.readings.len(),
            last_reading: latest.and_then(|r| r.sort_date()),
            scale,
            latest: areas,
            conflicts: view.conflicts.len(),
            gaps: latest.map_or(0, |r| r.areas.iter().filter(|a| a.gap.is_some()).count()),
            open_steps_due: view
                .goals
                .iter()
                .flat_map(|g| &g.steps)
                .filter(|s| s.done.value != Some(true))
                .filter_map(|s| s.due.value)
                .collect(),
            next_review: latest.and_then(|r| r.review_date.value),
            warnings: view.warnings.len(),
            distance: Vec::new(),
        }
    }

    fn summary(self, journal: &str, title: &str, today: Date) -> JournalSummary {
        let due_by = today.plus_days(DUE_WITHIN_DAYS);
        JournalSummary {
            journal: journal.to_owned(),
            title: title.to_owned(),
            readings: self.readings,
            last_reading: self.last_reading,
            scale: self.scale,
            latest: self.latest,
            conflicts: self.conflicts,
            gaps: self.gaps,
            steps_due: self.open_steps_due.iter().filter(|d| **d <= due_by).count(),
            next_review: self.next_review,
            warnings: self.warnings,
            distance: self.distance,
        }
    }
}

/// Computes a summary from a view (`today` decides which steps are due),
/// without distance travelled (which needs the journal's instruments).
pub fn summarize(
    journal: &str,
    title: &str,
    view: &JournalView,
    today: Date,
    scale: (u8, u8),
) -> JournalSummary {
    Facts::of_view(view, scale).summary(journal, title, today)
}

/// Computes a summary from the journal itself, as a cached one must read.
pub fn compute(row: &DocRow, journal: &Journal, today: Date) -> JournalSummary {
    Facts::of(journal).summary(&row.doc, &row.title, today)
}

impl App {
    /// The summary of one journal: cached unless its content moved.
    pub fn summary(&self, row: &DocRow) -> Result<JournalSummary> {
        let today = crate::actions::today();
        let facts = match self.kept::<Facts>(&row.doc, KIND)? {
            Some(f) => f,
            None => self.recompute(row)?,
        };
        Ok(facts.summary(&row.doc, &row.title, today))
    }

    /// Every journal on this device with its summary (or why there is
    /// none: not synced yet, damaged), oldest first. Cached summaries are
    /// read in one query; only journals whose content moved are loaded.
    pub fn summaries(&self) -> Result<Vec<(DocRow, Result<JournalSummary>)>> {
        let today = crate::actions::today();
        let mut cache: std::collections::HashMap<String, _> = self
            .client
            .cached_all(KIND)?
            .into_iter()
            .map(|e| (e.doc.clone(), e))
            .collect();
        let mut out = Vec::new();
        for row in self.journals()? {
            let fresh = cache.remove(&row.doc).and_then(|e| {
                let (tag, value) = e.cached?;
                (e.content? == tag).then_some(value)
            });
            let facts = match fresh.and_then(|b| crate::cache::decode::<Facts>(&b)) {
                Some(f) => Ok(f),
                None => self.recompute(&row),
            };
            let summary = facts.map(|f| f.summary(&row.doc, &row.title, today));
            out.push((row, summary));
        }
        Ok(out)
    }

    /// Loads the journal, computes its facts and caches them.
    fn recompute(&self, row: &DocRow) -> Result<Facts> {
        let (journal, tag) = self.load_tagged(row)?;
        let facts = Facts::of(&journal);
        self.keep(&row.doc, KIND, &tag, &facts);
        Ok(facts)
    }
}
