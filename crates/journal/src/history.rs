//! History: the audit trail of who changed what, and when.

use serde::Serialize;

use crate::ids::DeviceId;
use crate::journal::Journal;

/// One change in the journal's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The automerge change hash (pass it to [`Journal::at`] to see the journal then).
    pub hash: String,
    /// The device that made the change.
    pub device: Option<DeviceId>,
    /// That device's member name, if the owner recorded one.
    pub author: Option<String>,
    /// When (unix seconds, by the author's clock).
    pub time: i64,
    /// What was done, e.g. "worker scored work 6 on reading 2026-11-23".
    pub message: String,
    /// The reading the change was about, if one.
    pub reading: Option<String>,
    /// The area the change was about, if one.
    pub area: Option<String>,
}

impl Journal {
    /// Every change, in causal order (a change always after those it builds on).
    pub fn history(&self) -> Vec<HistoryEntry> {
        let members = self.members();
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|meta| {
                let device = DeviceId::of_actor(&meta.actor);
                let raw = meta.message.as_deref().unwrap_or_default();
                let (message, trailers) = raw.split_once("\n\n").unwrap_or((raw, ""));
                let trailer = |name: &str| {
                    trailers
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                };
                HistoryEntry {
                    hash: meta.hash.to_string(),
                    // A linked device goes by its person's name.
                    author: device.and_then(|d| {
                        let named = |d| members.iter().find(|m| m.device == d);
                        named(d)
                            .or_else(|| named(self.person(d)))
                            .map(|m| m.name.clone())
                    }),
                    device,
                    time: meta.timestamp,
                    message: message.to_owned(),
                    reading: trailer("Reading:"),
                    area: trailer("Area:"),
                }
            })
            .collect()
    }

    /// The changes about one area.
    pub fn history_of_area(&self, area: &str) -> Vec<HistoryEntry> {
        self.history()
            .into_iter()
            .filter(|h| h.area.as_deref() == Some(area))
            .collect()
    }
}
