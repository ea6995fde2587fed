//! Editing a journal: a new journal, readings, scores, sign-off, conflicts,
//! the action plan and notes. Each action validates its input, writes one
//! stored, queued edit, and says what it did.

use ed25519_dalek::SigningKey;
use recovery_journal::{
    Date, FieldPath, GoalId, Instrument, Journal, Mode, NoteId, NoteView, Perspective, ReadingId,
    SignOff, StepId, StepOwner,
};
use starling_client::{DocId, DocRow};

use crate::App;
use crate::error::{AppError, Result, invalid, not_found};
use crate::find::check_area;

/// One score to write.
#[derive(Clone, Debug)]
pub struct ScoreInput {
    /// Area id (`work`, `self_care`, ...).
    pub area: String,
    /// The step on the ladder.
    pub score: i64,
    /// Whose view; `None`: this device's own perspective.
    pub perspective: Option<Perspective>,
    /// Reading id prefix or date; `None`: the latest.
    pub reading: Option<String>,
    /// A note on the area for the reading.
    pub note: Option<String>,
}

impl ScoreInput {
    /// `score` for `area` on the latest reading, from this device's own
    /// perspective.
    pub fn new(area: &str, score: i64) -> Self {
        ScoreInput {
            area: area.to_owned(),
            score,
            perspective: None,
            reading: None,
            note: None,
        }
    }
}

/// What a score wrote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Scored {
    /// The reading.
    pub reading: ReadingId,
    /// The area.
    pub area: String,
    /// Whose view.
    pub perspective: Perspective,
    /// The score.
    pub score: i64,
}

/// A date typed by a person, or today (UTC) when none was given.
pub(crate) fn date_or_today(date: Option<&str>) -> Result<Date> {
    Ok(match date {
        Some(d) => d.trim().parse()?,
        None => today(),
    })
}

/// Today's date (UTC), as steps' due dates and reviews are compared with.
pub fn today() -> Date {
    Date::from_unix((starling_client::now_ms() / 1000) as i64)
}

/// The date a reading was taken, as typed (default: today). A reading
/// records an assessment that happened, so a date after today is a typo
/// (2062 for 2026) that would make it the latest reading for years: it is
/// refused. Today is taken in UTC, with a day's grace for places ahead of it.
pub(crate) fn taken_on(date: Option<&str>) -> Result<Date> {
    not_after_today(date, "a reading is dated the day it was taken")
}

/// A date typed for something that happened (default: today), refused
/// when after today (UTC, with a day's grace), saying `why`.
fn not_after_today(date: Option<&str>, why: &str) -> Result<Date> {
    let today = today();
    let date = date_or_today(date)?;
    if date > today.plus_days(1) {
        return Err(invalid(format!(
            "{date} is in the future (today is {today}): {why}"
        )));
    }
    Ok(date)
}

impl App {
    /// Points a journal that never reached its relay at `relay` instead
    /// (a mistyped or wrong address); it is sent there at the next sync.
    /// Errors once a relay has it: a journal does not move between relays.
    /// Returns the address as it is kept.
    pub fn correct_relay(&self, row: &DocRow, relay: &str) -> Result<String> {
        let addr = crate::sharing::relay_addr(relay)?;
        if !self.client.correct_relay(&row.doc, &addr)? {
            return Err(invalid(format!(
                "{} is kept at {} already, so its relay address can no longer change",
                crate::sharing::journal_label(row),
                row.relay
            )));
        }
        Ok(addr.to_string())
    }

    /// Creates a journal this device owns, for `client_name` (default: this
    /// device's name), syncing through `relay`.
    pub fn new_journal(
        &self,
        relay: &str,
        client_name: Option<&str>,
        instrument: &str,
    ) -> Result<DocId> {
        let relay = crate::sharing::relay_addr(relay)?;
        Instrument::bundled(instrument)?;
        let me = self.client.identity()?;
        let name = client_name.map(str::trim).unwrap_or(&me.name).to_owned();
        let journal = Journal::create(self.device()?, &name)?;
        let changes = journal.changes_since(&[]);
        Ok(self.client.create(&relay, &name, "client", &changes)?)
    }

    /// Starts a reading dated `date` (default: today).
    pub fn new_reading(
        &self,
        row: &DocRow,
        date: Option<&str>,
        mode: &str,
        instrument: &str,
    ) -> Result<(ReadingId, Date, Instrument)> {
        let date = taken_on(date)?;
        let mode: Mode = mode.parse()?;
        let instrument = Instrument::bundled(instrument)?;
        let id = self.edit(row, |j| j.new_reading(date, mode, &instrument))?;
        Ok((id, date, instrument))
    }

    /// Changes the date `reading` (id prefix or date; default: the latest)
    /// was taken; returns the reading and its new date.
    pub fn set_reading_date(
        &self,
        row: &DocRow,
        reading: Option<&str>,
        date: &str,
    ) -> Result<(ReadingId, Date)> {
        let date = taken_on(Some(date))?;
        let reading = self.reading(&self.load(row)?.view(), reading)?;
        self.edit(row, |j| j.set_reading_date(&reading, date))?;
        Ok((reading, date))
    }

    /// Deletes `reading` (id prefix or date) for everyone; returns it and
    /// its date. [`App::restore_reading`] brings it back, and an edit made
    /// meanwhile on another device keeps it, flagged as a conflict.
    pub fn delete_reading(&self, row: &DocRow, reading: &str) -> Result<(ReadingId, Option<Date>)> {
        let view = self.load(row)?.view();
        let id = self.reading(&view, Some(reading))?;
        let date = view.reading(&id).and_then(|r| r.sort_date());
        self.edit(row, |j| j.delete_reading(&id))?;
        Ok((id, date))
    }

    /// The readings deleted and not restored, by date.
    pub fn deleted_readings(&self, row: &DocRow) -> Result<Vec<(ReadingId, Option<Date>)>> {
        Ok(self.load(row)?.deleted_readings())
    }

    /// Brings back the deleted reading `wanted` (id prefix or date).
    pub fn restore_reading(&self, row: &DocRow, wanted: &str) -> Result<(ReadingId, Option<Date>)> {
        let wanted = wanted.trim();
        let journal = self.load(row)?;
        let hits: Vec<_> = journal
            .deleted_readings()
            .into_iter()
            .filter(|(id, date)| {
                id.as_str().starts_with(wanted) || date.is_some_and(|d| d.to_string() == wanted)
            })
            .collect();
        let (id, date) = match hits.as_slice() {
            [one] => one.clone(),
            [] => {
                let live = self.reading(&journal.view(), Some(wanted)).is_ok();
                return Err(not_found(if live {
                    format!("reading `{wanted}` is not deleted")
                } else {
                    format!(
                        "no deleted reading `{wanted}`: `starling reading list` shows the deleted ones"
                    )
                }));
            }
            _ => {
                return Err(invalid(format!(
                    "`{wanted}` matches several deleted readings; give more of the id"
                )));
            }
        };
        drop(journal);
        self.edit(row, |j| j.restore_reading(&id))?;
        Ok((id, date))
    }

    /// Writes one score (and the area's note, if given).
    pub fn score(&self, row: &DocRow, input: &ScoreInput) -> Result<Scored> {
        let journal = self.load(row)?;
        let reading = self.reading(&journal.view(), input.reading.as_deref())?;
        check_area(&journal, &reading, &input.area)?;
        let perspective = match input.perspective {
            Some(p) => p,
            None => match self.my_perspective(row, &journal.view())? {
                Some(p) => p,
                None => {
                    // A viewer has no perspective: say it is read-only.
                    self.check_can_write(row)?;
                    return Err(invalid("say whose score this is: client, worker or agreed"));
                }
            },
        };
        drop(journal);
        self.edit(row, |j| {
            j.set_score(&reading, &input.area, perspective, input.score)?;
            if let Some(note) = &input.note {
                j.set_area_note(&reading, &input.area, note)?;
            }
            Ok(())
        })?;
        Ok(Scored {
            reading,
            area: input.area.clone(),
            perspective,
            score: input.score,
        })
    }

    /// Writes the note on one area of a reading.
    pub fn area_note(
        &self,
        row: &DocRow,
        reading: Option<&str>,
        area: &str,
        text: &str,
    ) -> Result<()> {
        let journal = self.load(row)?;
        let reading = self.reading(&journal.view(), reading)?;
        check_area(&journal, &reading, area)?;
        drop(journal);
        self.edit(row, |j| j.set_area_note(&reading, area, text))
    }

    /// Sets the date the plan set at a reading is reviewed.
    pub fn set_review_date(&self, row: &DocRow, reading: Option<&str>, date: &str) -> Result<()> {
        let reading = self.reading(&self.load(row)?.view(), reading)?;
        let date: Date = date.trim().parse()?;
        self.edit(row, |j| j.set_review_date(&reading, date))
    }

    /// Signs off a reading with this device's key; its sign-off state after.
    pub fn sign_off(&self, row: &DocRow, reading: Option<&str>) -> Result<(ReadingId, SignOff)> {
        let reading = self.reading(&self.load(row)?.view(), reading)?;
        let seed = self.client.signing_key()?;
        let key = SigningKey::from_bytes(&seed);
        self.edit(row, |j| j.sign_off(&reading, &key))?;
        let status = self
            .load(row)?
            .view()
            .reading(&reading)
            .map(|r| r.signoff.clone())
            .unwrap_or(SignOff::Unsigned);
        Ok((reading, status))
    }

    /// Settles a conflict by writing the value agreed on.
    pub fn resolve(&self, row: &DocRow, path: &str, value: &str) -> Result<()> {
        let text = path.trim();
        let path: FieldPath = text.parse()?;
        // A settled date obeys what typing it would: a reading is not dated
        // after today, whichever way its date is written.
        match &path {
            FieldPath::Reading(_, "date") => {
                taken_on(Some(value))?;
            }
            FieldPath::NoteDate(_) => {
                not_after_today(Some(value), "a note is dated the day it was written")?;
            }
            _ => {}
        }
        // Only an open conflict is settled here: a path with one value is
        // changed by the command that writes it, never overwritten blindly.
        let settled = self.edit(row, |j| {
            if !j.conflicts().iter().any(|c| c.path == path) {
                return Ok(false);
            }
            j.resolve(&path, value.trim()).map(|()| true)
        })?;
        if !settled {
            return Err(AppError::NotFound(format!(
                "no open conflict at {text}: `starling conflicts` lists them (to change a \
                 value, write it again, e.g. `starling score AREA N --as PERSPECTIVE`)"
            )));
        }
        Ok(())
    }

    /// Adds a goal for `area` to a reading's action plan.
    pub fn add_goal(
        &self,
        row: &DocRow,
        area: &str,
        title: &str,
        target: Option<i64>,
        reading: Option<&str>,
    ) -> Result<GoalId> {
        let journal = self.load(row)?;
        let reading = self.reading(&journal.view(), reading)?;
        check_area(&journal, &reading, area)?;
        drop(journal);
        self.edit(row, |j| j.add_goal(&reading, area, title, target))
    }

    /// Adds a step towards a goal (named by an id prefix).
    pub fn add_step(
        &self,
        row: &DocRow,
        goal: &str,
        text: &str,
        owner: &str,
        due: Option<&str>,
    ) -> Result<(GoalId, StepId, StepOwner)> {
        let goal = self.goal(&self.load(row)?.view(), goal)?;
        let owner: StepOwner = owner.parse()?;
        let due: Option<Date> = due.map(|d| d.trim().parse()).transpose()?;
        let step = self.edit(row, |j| j.add_step(&goal, text, owner, due))?;
        Ok((goal, step, owner))
    }

    /// Marks a step done (or not).
    pub fn step_done(&self, row: &DocRow, goal: &str, step: &str, done: bool) -> Result<StepId> {
        let journal = self.load(row)?;
        let goal = self.goal(&journal.view(), goal)?;
        let step = self.step(&journal, &goal, step)?;
        drop(journal);
        self.edit(row, |j| j.set_step_done(&goal, &step, done))?;
        Ok(step)
    }

    /// Changes a goal (named by an id prefix): its title, its target
    /// (`Some(None)` clears it), or both.
    pub fn edit_goal(
        &self,
        row: &DocRow,
        goal: &str,
        title: Option<&str>,
        target: Option<Option<i64>>,
    ) -> Result<GoalId> {
        let goal = self.goal(&self.load(row)?.view(), goal)?;
        if title.is_none() && target.is_none() {
            return Err(crate::error::invalid(
                "say what to change: a new title, a target, or both",
            ));
        }
        self.edit(row, |j| {
            if let Some(t) = title {
                j.set_goal_title(&goal, t)?;
            }
            if let Some(t) = target {
                j.set_goal_target(&goal, t)?;
            }
            Ok(())
        })?;
        Ok(goal)
    }

    /// Removes a goal and its steps from the plan (`restore_goal` brings it
    /// back; the history keeps it either way).
    pub fn remove_goal(&self, row: &DocRow, goal: &str) -> Result<GoalId> {
        let goal = self.goal(&self.load(row)?.view(), goal)?;
        self.edit(row, |j| j.delete_goal(&goal))?;
        Ok(goal)
    }

    /// Brings back a removed goal, by its whole id.
    pub fn restore_goal(&self, row: &DocRow, goal: &str) -> Result<GoalId> {
        let goal: GoalId = goal.trim().parse()?;
        self.edit(row, |j| j.restore_goal(&goal))?;
        Ok(goal)
    }

    /// Removes a step (named by id prefixes) from its goal.
    pub fn remove_step(&self, row: &DocRow, goal: &str, step: &str) -> Result<(GoalId, StepId)> {
        let journal = self.load(row)?;
        let goal = self.goal(&journal.view(), goal)?;
        let step = self.step(&journal, &goal, step)?;
        drop(journal);
        self.edit(row, |j| j.delete_step(&goal, &step))?;
        Ok((goal, step))
    }

    /// Brings back a removed step, by its goal's and its own whole ids.
    pub fn restore_step(&self, row: &DocRow, goal: &str, step: &str) -> Result<StepId> {
        let (goal, step): (GoalId, StepId) = (goal.trim().parse()?, step.trim().parse()?);
        self.edit(row, |j| j.restore_step(&goal, &step))?;
        Ok(step)
    }

    /// Writes a dated note (default: today), optionally about one area.
    pub fn add_note(
        &self,
        row: &DocRow,
        text: &str,
        area: Option<&str>,
        date: Option<&str>,
    ) -> Result<(NoteId, Date)> {
        let date = Self::note_date(date)?;
        if let Some(a) = area {
            let known = Instrument::all_bundled()
                .iter()
                .any(|i| i.areas.iter().any(|x| x.id == a));
            if !known {
                let journal = self.load(row)?;
                if let Ok(r) = self.reading(&journal.view(), None) {
                    check_area(&journal, &r, a)?;
                }
            }
        }
        let id = self.edit(row, |j| j.add_note(date, area, text))?;
        Ok((id, date))
    }

    /// A note's date as typed (default: today), refused when after today:
    /// what [`App::add_note`] checks first, for a form to tell a bad date
    /// from a bad text.
    pub fn note_date(date: Option<&str>) -> Result<Date> {
        not_after_today(date, "a note is dated the day it was written")
    }

    /// The journal's notes, newest first, at most `limit`.
    pub fn notes(&self, row: &DocRow, limit: Option<usize>) -> Result<Vec<NoteView>> {
        let mut notes = self.load(row)?.view().notes;
        notes.sort_by_key(|n| std::cmp::Reverse(n.date.value));
        if let Some(l) = limit {
            notes.truncate(l);
        }
        Ok(notes)
    }
}
