//! # recovery-journal
//!
//! The Recovery Star journal of one person, as one automerge document.
//!
//! A *client* keeps their journal on their own device; their care
//! coordinator (the *worker*) and perhaps a supporter edit copies of it on
//! theirs, offline, and the copies merge. This crate is the data model and
//! nothing else: no IO, no async, no sync. It takes and gives bytes.
//!
//! ## Typical workflow
//!
//! ```
//! use recovery_journal::{DeviceId, Instrument, Journal, MemberRole, Mode, Perspective};
//!
//! # fn main() -> Result<(), recovery_journal::JournalError> {
//! let client = DeviceId::from_bytes([1; 32]);
//! let worker = DeviceId::from_bytes([2; 32]);
//! let mut journal = Journal::create(client, "Sam")?;
//! journal.set_member(worker, "Alex", MemberRole::Worker)?;
//! let reading = journal.new_reading("2026-11-23".parse()?, Mode::Joint, &Instrument::recovery_star())?;
//!
//! // The worker edits a copy offline...
//! let mut theirs = Journal::load(&journal.save(), worker)?;
//! theirs.set_score(&reading, "work", Perspective::Worker, 6)?;
//! // ...the client scores the same reading on their own device...
//! journal.set_score(&reading, "work", Perspective::Client, 4)?;
//! // ...and the two merge.
//! journal.merge(&mut theirs)?;
//! let view = journal.view();
//! let work = view.readings[0].area("work").expect("a Recovery Star area");
//! assert_eq!(work.gap, Some(2)); // a perspective gap, shown, never averaged
//! # Ok(())
//! # }
//! ```
//!
//! ## What the model guarantees
//!
//! - Keys are ids, never positions; every nested object is created with its
//!   parent, so concurrent edits never race to create one.
//! - Concurrent writes of one field are kept as a [`Conflict`] until someone
//!   writes a new value ([`Journal::resolve`]): nothing clinical is silently
//!   last-writer-wins. A delete concurrent with an edit keeps the item, flagged.
//! - Every change carries a message and a time: [`Journal::history`] is an
//!   audit trail, and [`Journal::at`] shows the journal as it was.
//! - Actor ids are derived from device keys ([`DeviceId::new_actor`]), so
//!   every value is attributable, and [`Journal::apply_changes_signed_by`]
//!   refuses changes made under another device's actor.
//! - Bad input is a [`JournalError`]; bad data from a peer is flagged in the
//!   [`JournalView`], never a panic.

#![deny(missing_docs)]

mod cache;
mod error;
mod export;
mod fhir;
mod fields;
mod history;
mod ids;
mod instrument;
mod journal;
mod members;
mod model;
mod notes;
mod plan;
mod read;
mod readings;
mod report;
mod resolve;
mod signoff;
mod untrusted;
mod view;

pub use error::{JournalError, Result};
pub use export::{
    AreaExport, EXPORT_VERSION, GoalExport, JournalExport, MemberExport, NoteExport, ReadingExport,
    StepExport,
};
pub use fhir::PERSPECTIVE_SYSTEM as FHIR_PERSPECTIVE_SYSTEM;
pub use fields::Candidate;
pub use history::HistoryEntry;
pub use ids::{ACTOR_SUFFIX_LEN, DeviceId, GoalId, NoteId, ReadingId, StepId};
pub use instrument::{Area, Instrument, RECOVERY_STAR_ID, STARLING_COMPASS_ID, Scale, Stage};
pub use journal::{Journal, SCHEMA_VERSION};
pub use members::Member;
pub use model::{Date, MemberRole, Mode, Perspective, StepOwner};
pub use notes::MAX_NOTE_CHARS;
pub use report::{ChartModel, ChartSeries, Distance, ReadModel};
pub use signoff::SignOff;
pub use view::{
    AreaView, Conflict, Field, FieldPath, GoalView, ItemRef, JournalView, NoteView, PlanView,
    ReadingView, Score, ScoreFlag, StepView,
};

/// Re-exported so callers can name change hashes without depending on automerge.
pub use automerge::ChangeHash;

/// Entry points for fuzzing and for the tests that replay the fuzz corpus.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{DeviceId, Journal};

    /// Load arbitrary bytes as a journal and, if they load, read every view of it.
    /// Must never panic.
    pub fn load_and_render(data: &[u8]) {
        let device = DeviceId::from_bytes([7; 32]);
        if let Ok(mut journal) = Journal::load(data, device) {
            let view = journal.view();
            let _ = journal.distance_travelled(&view);
            let _ = journal.chart(&view, crate::Perspective::ALL);
            let _ = journal.export_csv();
            let json = journal.export_json();
            let _ = Journal::import_json(&json, device);
            let _ = journal.history();
            if let Some(reading) = view.readings.first() {
                let _ = view.plan(&reading.id);
                let _ = journal.set_score(&reading.id, "work", crate::Perspective::Agreed, 5);
            }
            let _ = journal.save();
        }
    }

    /// Import arbitrary bytes as a journal's JSON export (a file a person
    /// was sent) and, if it imports, read every view of it and save it.
    /// Must never panic.
    pub fn import_and_render(data: &[u8]) {
        let device = DeviceId::from_bytes([7; 32]);
        let Ok(json) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(mut journal) = Journal::import_json(json, device) {
            let view = journal.view();
            let _ = journal.distance_travelled(&view);
            let _ = journal.chart(&view, crate::Perspective::ALL);
            let _ = journal.export_csv();
            let _ = journal.export_json();
            let _ = journal.history();
            for reading in &view.readings {
                let _ = view.plan(&reading.id);
            }
            let saved = journal.save();
            let _ = Journal::load(&saved, device);
        }
    }
}
