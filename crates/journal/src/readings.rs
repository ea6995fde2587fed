//! Editing readings: dated assessments with three perspectives per area.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType};

use crate::error::{JournalError, Result};
use crate::fields::{child_map, read_map};
use crate::ids::ReadingId;
use crate::instrument::Instrument;
use crate::journal::{Journal, Message, ensure_map, ensure_text, instrument_key, touch};
use crate::model::{Date, Mode, Perspective};

/// A reading's object, its instrument and its date, for edits.
pub(crate) struct ReadingCtx {
    pub obj: ObjId,
    pub instrument: Instrument,
    pub date: String,
}

impl Journal {
    /// Start a reading dated `date`, taken in `mode`, on `instrument`.
    ///
    /// The instrument's definition is recorded in the journal the first time
    /// it is used, so the journal stays readable without it.
    pub fn new_reading(
        &mut self,
        date: Date,
        mode: Mode,
        instrument: &Instrument,
    ) -> Result<ReadingId> {
        let id = ReadingId::random();
        self.new_reading_with_id(&id, date, mode, instrument)?;
        Ok(id)
    }

    pub(crate) fn new_reading_with_id(
        &mut self,
        id: &ReadingId,
        date: Date,
        mode: Mode,
        instrument: &Instrument,
    ) -> Result<()> {
        let readings = self.top("readings")?;
        let instruments = self.top("instruments")?;
        let me = self.device;
        let message = Message::new(format!(
            "started {mode} reading {date} on {}",
            instrument.name
        ))
        .reading(id.as_str());
        self.edit(message, |tx| {
            let key = Journal::record_instrument(tx, &instruments, instrument)?;
            let obj = tx.put_object(&readings, id.as_str(), ObjType::Map)?;
            tx.put(&obj, "date", date.to_string())?;
            tx.put(&obj, "mode", mode.as_str())?;
            tx.put(&obj, "instrument", key)?;
            tx.put(&obj, "deleted", false)?;
            touch(tx, &obj, me)?;
            let scores = tx.put_object(&obj, "scores", ObjType::Map)?;
            let notes = tx.put_object(&obj, "notes", ObjType::Map)?;
            for area in &instrument.areas {
                tx.put_object(&scores, area.id.as_str(), ObjType::Map)?;
                tx.put_object(&notes, area.id.as_str(), ObjType::Text)?;
            }
            tx.put_object(&obj, "signoffs", ObjType::Map)?;
            Ok(())
        })
    }

    pub(crate) fn reading_ctx(&self, id: &ReadingId) -> Result<ReadingCtx> {
        let obj = self.item("readings", "reading", id.as_str())?;
        let fields = read_map(&self.doc, &obj);
        let key = fields
            .get("instrument")
            .and_then(|e| e.str())
            .unwrap_or_default();
        let instrument = self
            .instruments()
            .remove(key)
            .ok_or_else(|| JournalError::UnknownInstrument(key.to_owned()))?;
        let date = fields
            .get("date")
            .and_then(|e| e.str())
            .unwrap_or("undated")
            .to_owned();
        Ok(ReadingCtx {
            obj,
            instrument,
            date,
        })
    }

    /// Set one score of one perspective.
    pub fn set_score(
        &mut self,
        reading: &ReadingId,
        area: &str,
        perspective: Perspective,
        score: i64,
    ) -> Result<()> {
        self.set_scores(reading, perspective, &[(area, score)])
    }

    /// Set several areas of one perspective in one change (a scoring session).
    pub fn set_scores(
        &mut self,
        reading: &ReadingId,
        perspective: Perspective,
        scores: &[(&str, i64)],
    ) -> Result<()> {
        let ctx = self.reading_ctx(reading)?;
        let mut checked = Vec::with_capacity(scores.len());
        for (area, score) in scores {
            ctx.instrument.area(area)?;
            checked.push((*area, ctx.instrument.check_score(*score)?));
        }
        let text = match checked.as_slice() {
            [(area, score)] => format!(
                "{} on reading {}",
                score_phrase(perspective, area, *score),
                ctx.date
            ),
            many => format!(
                "{perspective} scored {} areas on reading {}",
                many.len(),
                ctx.date
            ),
        };
        let mut message = Message::new(text).reading(reading.as_str());
        if let [(area, _)] = checked.as_slice() {
            message = message.area(area);
        }
        let me = self.device;
        self.edit(message, |tx| {
            let score_map = ensure_map(tx, &ctx.obj, "scores")?;
            for (area, score) in &checked {
                let cell = ensure_map(tx, &score_map, area)?;
                tx.put(&cell, perspective.as_str(), i64::from(*score))?;
            }
            touch(tx, &ctx.obj, me)
        })
    }

    /// Remove one perspective's score for an area.
    pub fn clear_score(
        &mut self,
        reading: &ReadingId,
        area: &str,
        perspective: Perspective,
    ) -> Result<()> {
        let ctx = self.reading_ctx(reading)?;
        ctx.instrument.area(area)?;
        let message = Message::new(format!(
            "cleared {perspective} score for {area} on reading {}",
            ctx.date
        ))
        .reading(reading.as_str())
        .area(area);
        let me = self.device;
        self.edit(message, |tx| {
            let score_map = ensure_map(tx, &ctx.obj, "scores")?;
            let cell = ensure_map(tx, &score_map, area)?;
            tx.delete(&cell, perspective.as_str())?;
            touch(tx, &ctx.obj, me)
        })
    }

    /// Replace the note on one area of a reading. The text merges by
    /// character, and the whole text is also kept in a register
    /// (`notes_said`): two devices rewriting the note at once leave two
    /// values there, which the view shows as a conflict (each device's own
    /// text) instead of the characters of both run together.
    pub fn set_area_note(&mut self, reading: &ReadingId, area: &str, text: &str) -> Result<()> {
        let ctx = self.reading_ctx(reading)?;
        ctx.instrument.area(area)?;
        let message = Message::new(format!(
            "edited the note on {area} for reading {}",
            ctx.date
        ))
        .reading(reading.as_str())
        .area(area);
        let me = self.device;
        self.edit(message, |tx| {
            let notes = ensure_map(tx, &ctx.obj, "notes")?;
            let text_obj = ensure_text(tx, &notes, area)?;
            tx.update_text(&text_obj, text)?;
            let said = ensure_map(tx, &ctx.obj, "notes_said")?;
            tx.put(&said, area, text)?;
            touch(tx, &ctx.obj, me)
        })
    }

    /// Change the date a reading was taken.
    pub fn set_reading_date(&mut self, reading: &ReadingId, date: Date) -> Result<()> {
        self.set_reading_field(
            reading,
            "date",
            date.to_string(),
            format!("dated reading {date}"),
        )
    }

    /// Change how a reading was taken.
    pub fn set_reading_mode(&mut self, reading: &ReadingId, mode: Mode) -> Result<()> {
        let ctx = self.reading_ctx(reading)?;
        self.set_reading_field(
            reading,
            "mode",
            mode.as_str().into(),
            format!("marked reading {} as {mode}", ctx.date),
        )
    }

    /// Set the date the action plan of this reading is to be reviewed.
    pub fn set_review_date(&mut self, reading: &ReadingId, date: Date) -> Result<()> {
        let ctx = self.reading_ctx(reading)?;
        let text = format!("set review of reading {} for {date}", ctx.date);
        self.set_reading_field(reading, "review_date", date.to_string(), text)
    }

    fn set_reading_field(
        &mut self,
        reading: &ReadingId,
        key: &str,
        value: String,
        text: String,
    ) -> Result<()> {
        let obj = self.item("readings", "reading", reading.as_str())?;
        let me = self.device;
        self.edit(Message::new(text).reading(reading.as_str()), |tx| {
            tx.put(&obj, key, value)?;
            touch(tx, &obj, me)
        })
    }

    /// Delete a reading. An edit made concurrently elsewhere brings it back, flagged.
    pub fn delete_reading(&mut self, reading: &ReadingId) -> Result<()> {
        let ctx = self.reading_ctx(reading)?;
        self.mark_deleted(
            &ctx.obj,
            true,
            Message::new(format!("deleted reading {}", ctx.date)).reading(reading.as_str()),
        )
    }

    /// Undo a delete, or settle a delete that raced an edit by keeping the item.
    pub fn restore_reading(&mut self, reading: &ReadingId) -> Result<()> {
        let readings = self.top("readings")?;
        let obj = child_map(&self.doc, &readings, reading.as_str()).ok_or_else(|| {
            JournalError::NotFound {
                kind: "reading",
                id: reading.to_string(),
            }
        })?;
        self.mark_deleted(
            &obj,
            false,
            Message::new("restored a reading").reading(reading.as_str()),
        )
    }

    /// The readings deleted and not restored, by date: what `restore_reading`
    /// can bring back. A reading whose delete raced an edit is live (the
    /// view flags it), so it is not listed here.
    pub fn deleted_readings(&self) -> Vec<(ReadingId, Option<Date>)> {
        let Ok(readings) = self.top("readings") else {
            return Vec::new();
        };
        let mut gone: Vec<(ReadingId, Option<Date>)> = read_map(&self.doc, &readings)
            .into_iter()
            .filter_map(|(key, _)| {
                let obj = child_map(&self.doc, &readings, &key)?;
                let fields = read_map(&self.doc, &obj);
                if !matches!(
                    crate::fields::deletion(&self.doc, &obj, &fields),
                    crate::fields::Deletion::Deleted
                ) {
                    return None;
                }
                let date = fields.get("date").and_then(|e| e.str()?.parse().ok());
                Some((key.parse().ok()?, date))
            })
            .collect();
        gone.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        gone
    }

    pub(crate) fn mark_deleted(
        &mut self,
        obj: &ObjId,
        deleted: bool,
        message: Message,
    ) -> Result<()> {
        let me = self.device;
        self.edit(message, |tx| {
            tx.put(obj, "deleted", deleted)?;
            crate::journal::stamp(tx, obj, me)
        })
    }

    /// Every instrument a new reading can use: the bundled ones and those the journal recorded.
    pub fn known_instruments(&self) -> Vec<Instrument> {
        let mut all = Instrument::all_bundled();
        for (_, recorded) in self.instruments() {
            if !all
                .iter()
                .any(|i| instrument_key(i) == instrument_key(&recorded))
            {
                all.push(recorded);
            }
        }
        all
    }
}

/// "worker scored work 6", "agreed score for work set to 6".
pub(crate) fn score_phrase(perspective: Perspective, area: &str, score: u8) -> String {
    match perspective {
        Perspective::Agreed => format!("agreed score for {area} set to {score}"),
        p => format!("{p} scored {area} {score}"),
    }
}
