//! Values computed from a journal and kept beside it in the store (a
//! summary, the read model, the recent view), each tagged with the stored
//! content it was computed from: read back while the content has not
//! moved, rebuilt (loading automerge) when it has or when it does not
//! decode. A store that cannot take one costs speed only.

use serde::Serialize;
use serde::de::DeserializeOwned;
use starling_client::DocRow;

use crate::App;
use crate::error::Result;

/// A kept value, if it decodes (text checked once, as a whole, not string
/// by string).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_str(std::str::from_utf8(bytes).ok()?).ok()
}

/// The store's cache kind for read models (and its format's version).
const READ_KIND: &str = "read/1";

/// The store's cache kind for recent views (and its format's version).
const RECENT_KIND: &str = "recent/1";

/// How many readings keep their areas in a recent view: the latest, and
/// the three before it that `show` compares it with.
pub const RECENT_READINGS: usize = 4;

impl App {
    /// The `kind` value kept for `doc`, if its content has not moved since
    /// and it decodes.
    pub(crate) fn kept<T: DeserializeOwned>(&self, doc: &str, kind: &str) -> Result<Option<T>> {
        Ok(self.client.cached(doc, kind)?.and_then(|b| decode(&b)))
    }

    /// Keeps `value` as `doc`'s `kind`, computed from the content `tag`.
    pub(crate) fn keep(&self, doc: &str, kind: &str, tag: &str, value: &impl Serialize) {
        let kept = serde_json::to_vec(value)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                self.client
                    .put_cache(doc, kind, tag, &bytes)
                    .map_err(|e| e.to_string())
            });
        if let Err(error) = kept {
            tracing::warn!(%error, kind, "not cached");
        }
    }

    /// What the read screens need (the view and the instruments), without
    /// loading the CRDT when the journal has not changed since it was last
    /// read.
    pub fn read(&self, row: &DocRow) -> Result<recovery_journal::ReadModel> {
        if let Some(mut model) = self.kept::<recovery_journal::ReadModel>(&row.doc, READ_KIND)? {
            // Who each linked device is comes from the membership log, not
            // the content the model was kept for.
            model.view = model.view.with_persons(self.persons(row)?);
            return Ok(model);
        }
        let (journal, tag) = self.load_tagged(row)?;
        let model = journal.read_model();
        self.keep(&row.doc, READ_KIND, &tag, &model);
        Ok(model)
    }

    /// The journal's view with the areas of only its latest
    /// [`RECENT_READINGS`] readings ([`JournalView::recent`]): what `show`
    /// prints, without decoding every reading of a long journal.
    ///
    /// [`JournalView::recent`]: recovery_journal::JournalView::recent
    pub fn read_recent(&self, row: &DocRow) -> Result<recovery_journal::JournalView> {
        if let Some(view) = self.kept::<recovery_journal::JournalView>(&row.doc, RECENT_KIND)? {
            return Ok(view.with_persons(self.persons(row)?));
        }
        // The tag first: should the journal change meanwhile, the view is
        // kept under the older tag, which no longer matches, and is rebuilt.
        let tag = self.client.content_tag(&row.doc)?;
        let view = self.read(row)?.view.recent(RECENT_READINGS);
        if let Some(tag) = tag {
            self.keep(&row.doc, RECENT_KIND, &tag, &view);
        }
        Ok(view)
    }
}
