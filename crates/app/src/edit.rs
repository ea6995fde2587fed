//! Loading a journal from the store and editing it so the change is stored
//! and queued for sync in one transaction.

use recovery_journal::{Journal, JournalView, MemberRole, Perspective};
use starling_client::DocRow;

use crate::App;
use crate::error::{Result, invalid};

/// Past this many stored chunks, loading a journal compacts it.
const COMPACT_AFTER_CHUNKS: usize = 64;

impl App {
    /// Loads a journal; when it is spread over many stored chunks, compacts
    /// them into one snapshot so the next load is quick.
    pub fn load(&self, row: &DocRow) -> Result<Journal> {
        Ok(self.load_tagged(row)?.0)
    }

    /// Loads a journal, with the content tag of what was loaded (see
    /// [`starling_client::Client::content_tag`]): what a cache computed
    /// from it is tagged with.
    pub(crate) fn load_tagged(&self, row: &DocRow) -> Result<(Journal, String)> {
        let (bytes, chunks, mark) = self.client.document_marked(&row.doc)?;
        let tag = format!("{mark}:{chunks}");
        let mut journal = Journal::load(&bytes, self.device()?)?;
        journal.set_persons(self.persons(row)?);
        if chunks > COMPACT_AFTER_CHUNKS && !journal.is_waiting_for_changes() {
            self.client.compact(&row.doc, &journal.save(), mark)?;
        }
        Ok((journal, tag))
    }

    /// Errors unless this device may change `row`.
    pub(crate) fn check_can_write(&self, row: &DocRow) -> Result<()> {
        // The relay said this device was removed (the removal itself may
        // never reach it): an edit now could never be sent.
        if let Some(problem) = crate::sync::removal(row) {
            return Err(invalid(format!("{problem}; nothing was changed")));
        }
        if self.client.can_write(&row.doc)? {
            return Ok(());
        }
        if self.client.deleting(&row.doc)? {
            return Err(invalid(format!(
                "{} is being deleted: it can no longer be changed",
                crate::sharing::journal_label(row)
            )));
        }
        Err(invalid(
            "you can read this journal but not change it (a viewer, or no longer a member)",
        ))
    }

    /// Edits a journal: loads it, runs `f`, and commits what `f` changed in
    /// one transaction before returning (durable when this returns).
    pub fn edit<T>(
        &self,
        row: &DocRow,
        f: impl FnOnce(&mut Journal) -> recovery_journal::Result<T>,
    ) -> Result<T> {
        self.check_can_write(row)?;
        let mut journal = self.load(row)?;
        let before = journal.heads();
        let value = f(&mut journal)?;
        let changes = journal.changes_since(&before);
        self.client.commit(&row.doc, &changes)?;
        Ok(value)
    }

    /// Which person each device of `row`'s journal belongs to, from its
    /// verified membership log (for [`Journal::set_persons`]).
    pub(crate) fn persons(
        &self,
        row: &DocRow,
    ) -> Result<Vec<(recovery_journal::DeviceId, recovery_journal::DeviceId)>> {
        let conv =
            |d: starling_client::DeviceId| recovery_journal::DeviceId::from_bytes(*d.as_bytes());
        Ok(self
            .client
            .persons(row)?
            .into_iter()
            .map(|(d, p)| (conv(d), conv(p)))
            .collect())
    }

    /// The perspective this device scores from in `journal`: the one the
    /// owner recorded for it, or, before the owner has synced since this
    /// device joined, the one its invite carried.
    pub fn my_perspective(&self, row: &DocRow, view: &JournalView) -> Result<Option<Perspective>> {
        let device = self.device()?;
        // A member entry the owner wrote for another device of this person
        // is this device's too.
        let persons = self.persons(row)?;
        let person_of = |d: recovery_journal::DeviceId| {
            persons.iter().find(|(x, _)| *x == d).map_or(d, |(_, p)| *p)
        };
        let me = person_of(device);
        if let Some(m) = view.members.iter().find(|m| person_of(m.device) == me) {
            return Ok(match m.role {
                MemberRole::Client => Some(Perspective::Client),
                MemberRole::Worker => Some(Perspective::Worker),
                _ => None,
            });
        }
        let me = self.client.identity()?.device;
        let from_invite = self
            .client
            .members(&row.doc)?
            .into_iter()
            .find(|m| m.device == me)
            .and_then(|m| match m.perspective.as_str() {
                "client" => Some(Perspective::Client),
                "worker" => Some(Perspective::Worker),
                _ => None,
            });
        Ok(from_invite)
    }
}
