//! Settling a conflict: write one new value over every concurrent one.

use crate::error::{JournalError, Result};
use crate::journal::Journal;
use crate::view::{FieldPath, ItemRef};

impl Journal {
    /// Settle the conflict at `path` by writing `value`.
    ///
    /// `value` is what a person types: a score (`6`), a date (`2026-11-23`), a
    /// mode, a step owner, `true`/`false` for done, `none` to clear a goal's
    /// target, the whole text for an area's note, and `keep` or `delete` for
    /// an item deleted on one device while
    /// edited on another. The write supersedes every concurrent value, on
    /// every device, once it syncs.
    pub fn resolve(&mut self, path: &FieldPath, value: &str) -> Result<()> {
        self.settling = true;
        let done = self.settle(path, value.trim());
        self.settling = false;
        done
    }

    fn settle(&mut self, path: &FieldPath, value: &str) -> Result<()> {
        match path {
            FieldPath::Reading(r, "date") => self.set_reading_date(r, value.parse()?),
            FieldPath::Reading(r, "mode") => self.set_reading_mode(r, value.parse()?),
            FieldPath::Reading(r, _) => self.set_review_date(r, value.parse()?),
            FieldPath::Score(r, area, p) => self.set_score(r, area, *p, parse_int(value)?),
            FieldPath::AreaNote(r, area) => self.set_area_note(r, area, value),
            FieldPath::GoalTarget(g) => {
                let target = if value == "none" {
                    None
                } else {
                    Some(parse_int(value)?)
                };
                self.set_goal_target(g, target)
            }
            FieldPath::Step(g, s, "owner") => self.set_step_owner(g, s, value.parse()?),
            FieldPath::Step(g, s, "due") => self.set_step_due(g, s, value.parse()?),
            FieldPath::Step(g, s, _) => {
                let done = value
                    .parse::<bool>()
                    .map_err(|_| invalid("done (true or false)", value))?;
                self.set_step_done(g, s, done)
            }
            FieldPath::NoteDate(n) => self.set_note_date(n, value.parse()?),
            FieldPath::Deleted(item) => {
                let keep = match value {
                    "keep" => true,
                    "delete" => false,
                    other => return Err(invalid("choice (keep or delete)", other)),
                };
                let (top, kind, id) = match item {
                    ItemRef::Reading(r) => ("readings", "reading", r.as_str()),
                    ItemRef::Goal(g) => ("goals", "goal", g.as_str()),
                    ItemRef::Note(n) => ("notes", "note", n.as_str()),
                    ItemRef::Step(g, s) => return self.settle_step(g, s, keep),
                };
                let obj = self.any_item(top, kind, id)?;
                let word = if keep { "kept" } else { "deleted" };
                self.mark_deleted(
                    &obj,
                    !keep,
                    crate::journal::Message::new(format!("{word} the {kind}")),
                )
            }
        }
    }
}

fn parse_int(value: &str) -> Result<i64> {
    value
        .parse()
        .map_err(|_| invalid("score (a whole number)", value))
}

fn invalid(kind: &'static str, value: &str) -> JournalError {
    JournalError::InvalidValue {
        kind,
        value: value.to_owned(),
    }
}
