//! Editing journal notes: dated entries by their author, optionally on an area.
//!
//! Each note is its own automerge Text: applying a remote edit costs time in
//! proportion to the length of the Text it touches, so notes never share one
//! ever-growing text.

use automerge::ObjType;
use automerge::transaction::Transactable;

use crate::error::Result;
use crate::ids::NoteId;
use crate::journal::{Journal, Message, ensure_text, touch};
use crate::model::Date;

/// Longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 20_000;

impl Journal {
    /// Write a note dated `date`, about `area` if given.
    pub fn add_note(&mut self, date: Date, area: Option<&str>, text: &str) -> Result<NoteId> {
        let id = NoteId::random();
        self.add_note_with_id(&id, date, area, text)?;
        Ok(id)
    }

    pub(crate) fn add_note_with_id(
        &mut self,
        id: &NoteId,
        date: Date,
        area: Option<&str>,
        text: &str,
    ) -> Result<()> {
        check_note(text)?;
        if let Some(area) = area {
            self.check_area_known(area)?;
        }
        let notes = self.top("notes")?;
        let (me, now) = (self.device, self.now());
        let mut message = Message::new(format!("wrote a note dated {date}"));
        if let Some(a) = area {
            message = message.area(a);
        }
        self.edit(message, |tx| {
            let obj = tx.put_object(&notes, id.as_str(), ObjType::Map)?;
            tx.put(&obj, "date", date.to_string())?;
            if let Some(a) = area {
                tx.put(&obj, "area", a)?;
            }
            tx.put(&obj, "author", me.to_string())?;
            let t = tx.put_object(&obj, "text", ObjType::Text)?;
            tx.update_text(&t, text)?;
            tx.put(&obj, "created", automerge::ScalarValue::Timestamp(now))?;
            tx.put(&obj, "deleted", false)?;
            touch(tx, &obj, me)
        })
    }

    /// Replace a note's text; concurrent edits merge by character.
    pub fn edit_note(&mut self, note: &NoteId, text: &str) -> Result<()> {
        check_note(text)?;
        let obj = self.item("notes", "note", note.as_str())?;
        let me = self.device;
        self.edit(Message::new("edited a note"), |tx| {
            let t = ensure_text(tx, &obj, "text")?;
            tx.update_text(&t, text)?;
            touch(tx, &obj, me)
        })
    }

    /// Change the date a note is about.
    pub fn set_note_date(&mut self, note: &NoteId, date: Date) -> Result<()> {
        let obj = self.item("notes", "note", note.as_str())?;
        let me = self.device;
        self.edit(Message::new(format!("dated a note {date}")), |tx| {
            tx.put(&obj, "date", date.to_string())?;
            touch(tx, &obj, me)
        })
    }

    /// Delete a note.
    pub fn delete_note(&mut self, note: &NoteId) -> Result<()> {
        let obj = self.item("notes", "note", note.as_str())?;
        self.mark_deleted(&obj, true, Message::new("deleted a note"))
    }

    /// Undo a note's delete, or keep a note whose delete raced an edit.
    pub fn restore_note(&mut self, note: &NoteId) -> Result<()> {
        let obj = self.any_item("notes", "note", note.as_str())?;
        self.mark_deleted(&obj, false, Message::new("restored a note"))
    }

    /// An area id any instrument known to this journal defines.
    fn check_area_known(&self, area: &str) -> Result<()> {
        if self
            .known_instruments()
            .iter()
            .any(|i| i.area(area).is_ok())
        {
            Ok(())
        } else {
            Err(crate::JournalError::UnknownArea(area.to_owned()))
        }
    }
}

fn check_note(text: &str) -> Result<()> {
    if text.trim().is_empty() || text.chars().count() > MAX_NOTE_CHARS {
        return Err(crate::JournalError::InvalidValue {
            kind: "note (1 to 20000 characters)",
            value: text.chars().take(40).collect(),
        });
    }
    Ok(())
}
