//! Erasure: an owner deletes a journal everywhere; a member leaves one.
//!
//! Both are membership ops the relay carries out: a deletion erases the
//! journal at the relay (a tombstone stays, refusing every later write) and
//! every member's device erases its copy when it next syncs; leaving removes
//! this device from the members, and erases its copy. This device erases
//! only once the relay confirms, so a deletion made offline is not lost: it
//! waits in the store, and the next sync carries it out. A journal that
//! never reached its relay (its first membership op never confirmed) is
//! erased from this device at once when the relay is out of reach: nobody
//! else can have it.

use std::time::Duration;

use starling_client::{ClientError, DocRow};

use crate::App;
use crate::error::{AppError, Result, invalid};
use crate::sharing::journal_label;
use crate::sync::SyncOptions;

/// How long `delete` and `leave` wait for the relay before leaving the
/// change queued for the next sync.
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

/// What became of a deletion or a leaving.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    /// The journal's id.
    pub journal: String,
    /// The journal, for people.
    pub label: String,
    /// Whether the relay confirmed and this device erased its copy; when
    /// not, the change waits for the next sync.
    pub done: bool,
    /// A join that never completed, given up: nothing of the journal was
    /// here, and only the stored invite is forgotten.
    pub never_joined: bool,
    /// Nothing of the journal had reached its relay (out of reach now): it
    /// was erased from this device at once, as nobody else had it.
    pub never_synced: bool,
}

impl App {
    /// Errors unless this device may delete `row` (its owner may), saying
    /// what a member may do instead.
    pub fn check_can_delete(&self, row: &DocRow) -> Result<()> {
        self.check_owner(
            row,
            &format!(
                "delete it; to stop receiving it, leave it (`starling leave --journal {}`)",
                crate::short(&row.doc)
            ),
        )
    }

    /// Errors unless this device (or another of its person's) owns `row`:
    /// only the owner may `what` ("invite someone", "remove a member").
    pub(crate) fn check_owner(&self, row: &DocRow, what: &str) -> Result<()> {
        let me = self.device()?;
        let journal = self.load(row).ok();
        if journal.as_ref().is_some_and(|j| j.owned_by(me)) {
            return Ok(());
        }
        let owner = journal
            .as_ref()
            .and_then(|j| j.owner().and_then(|o| j.member(o)))
            .map(|m| format!(" ({})", m.name))
            .unwrap_or_default();
        Err(invalid(format!(
            "only the owner of {}{owner} can {what}",
            journal_label(row),
        )))
    }

    /// Deletes `row` everywhere (owner only): at the relay at once when it
    /// is reachable, then on this device; on every member's device at its
    /// next sync.
    pub fn delete(&self, row: &DocRow) -> Result<Erased> {
        self.check_can_delete(row)?;
        if !self.client.deleting(&row.doc)? {
            self.client.delete(&row.doc).map_err(refused)?;
        }
        let erased = self.confirm(row)?;
        // Never sent: nobody else has it, nothing to wait for.
        if !erased.done && self.client.erase_unsent(&row.doc)? {
            return Ok(Erased {
                done: true,
                never_synced: true,
                ..erased
            });
        }
        Ok(erased)
    }

    /// Leaves `row`: removes this device from its members and erases the
    /// copy here. The owner cannot leave (they delete it instead).
    pub fn leave(&self, row: &DocRow) -> Result<Erased> {
        let me = self.device()?;
        if self.load(row).ok().is_some_and(|j| j.owned_by(me)) {
            return Err(invalid(format!(
                "you own {}: the owner cannot leave it; delete it instead \
                 (`starling delete --journal {}`)",
                journal_label(row),
                crate::short(&row.doc)
            )));
        }
        // A join that never completed (its link named a relay out of reach,
        // or was mistyped): nothing to leave at the relay.
        if self.client.is_joining(&row.doc)? && self.client.forget_failed_join(&row.doc)? {
            return Ok(Erased {
                journal: row.doc.clone(),
                label: journal_label(row),
                done: true,
                never_joined: true,
                never_synced: false,
            });
        }
        self.client.leave(&row.doc).map_err(refused)?;
        self.confirm(row)
    }

    /// Syncs `row` so the relay carries out the queued change; whether the
    /// copy here is gone.
    fn confirm(&self, row: &DocRow) -> Result<Erased> {
        let options = SyncOptions::once(CONFIRM_WITHIN);
        // A sync that cannot reach the relay leaves the change queued.
        let _ = self.sync(Some(&row.doc), &options, |_| {});
        let done = !self.journals()?.iter().any(|r| r.doc == row.doc);
        if !done {
            let text = "waiting to be carried out at the relay: sync when online";
            self.client.set_sync_problem(&row.doc, Some(text))?;
        }
        Ok(Erased {
            journal: row.doc.clone(),
            label: journal_label(row),
            done,
            never_joined: false,
            never_synced: false,
        })
    }
}

/// A membership change the journal's log does not allow, in words.
fn refused(e: ClientError) -> AppError {
    match e {
        ClientError::Session(e) => invalid(format!("this change is not allowed: {e}")),
        other => other.into(),
    }
}
