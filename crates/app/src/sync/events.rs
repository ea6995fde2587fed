//! A sync's events as people read them: the engine's events named (members,
//! journals), and what they say about each journal gathered for the outcome.

use std::collections::{BTreeMap, BTreeSet};

use recovery_journal::DeviceId as JournalDevice;
use starling_client::{ClientEvent, DocId, DocRow};

use super::{SyncEvent, SyncEventKind};
use crate::App;
use crate::find::short;
use crate::sharing::journal_label;

/// What a sync's events said about its journals, gathered over every relay.
pub(super) struct Seen<'f, F> {
    pub(super) removed: BTreeSet<DocId>,
    pub(super) tampered: BTreeMap<DocId, String>,
    pub(super) not_sent: BTreeMap<DocId, String>,
    pub(super) erased: Vec<SyncEvent>,
    pub(super) on_event: &'f mut F,
}

impl<F: FnMut(SyncEvent)> Seen<'_, F> {
    /// Notes what `e` says, and tells it (named) to `on_event`.
    pub(super) fn take(
        &mut self,
        app: &App,
        e: ClientEvent,
        live: bool,
        on_relay: &[DocRow],
        events: &mut EventNamer<'_>,
    ) {
        match &e {
            ClientEvent::Removed { doc } => {
                self.removed.insert(*doc);
                // A live sync runs on: the journal says so now (a one-off
                // sync records it at its end), so no screen shows it as
                // in sync meanwhile.
                if live {
                    let said = super::removed_words("this journal");
                    if let Err(err) = app.client.set_sync_problem(&doc.to_string(), Some(&said)) {
                        tracing::warn!(error = %err, "could not record a removal");
                    }
                }
            }
            // A live sync names members who joined through this device's
            // invites as they join (a one-off sync does it at its end).
            ClientEvent::MembersChanged { doc } if live => {
                let key = doc.to_string();
                let rows: Vec<DocRow> = on_relay.iter().filter(|r| r.doc == key).cloned().collect();
                if let Err(err) = app.name_new_members(&rows) {
                    tracing::warn!(error = %err, "could not name a new member");
                }
            }
            ClientEvent::Tampering {
                doc: Some(doc),
                what,
            } => {
                self.tampered.insert(*doc, what.clone());
            }
            ClientEvent::Quarantined { doc, reason }
                if reason.starts_with("local edit not sent") =>
            {
                self.not_sent.insert(*doc, reason.clone());
            }
            _ => {}
        }
        for ev in events.describe(e) {
            if ev.kind == SyncEventKind::Erased {
                self.erased.push(ev.clone());
            }
            (self.on_event)(ev);
        }
    }

    /// `rows` without the journals this sync erased.
    pub(super) fn still_here(&self, rows: Vec<DocRow>) -> Vec<DocRow> {
        rows.into_iter()
            .filter(|d| {
                !self
                    .erased
                    .iter()
                    .any(|e| e.journal.as_ref() == Some(&d.doc))
            })
            .collect()
    }
}

/// Turns the sync engine's events into [`SyncEvent`]s with member names,
/// and, in a live sync, spots conflicts as they appear.
pub(super) struct EventNamer<'a> {
    app: &'a App,
    names: Vec<(JournalDevice, String)>,
    labels: BTreeMap<String, String>,
    /// Conflicts already reported, per journal (live syncs only).
    known: Option<BTreeMap<String, Vec<String>>>,
}

/// Peers choose names and messages: no control characters reach a screen.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

impl<'a> EventNamer<'a> {
    pub(super) fn new(app: &'a App, live: bool) -> Self {
        let mut names = Vec::new();
        let mut labels = BTreeMap::new();
        let mut known = BTreeMap::new();
        for row in app.journals().unwrap_or_default() {
            labels.insert(row.doc.clone(), journal_label(&row));
            if let Ok(j) = app.load(&row) {
                let members = j.members();
                // A linked device goes by its person's name.
                for (device, person) in app.persons(&row).unwrap_or_default() {
                    if let Some(m) = members.iter().find(|m| m.device == person) {
                        names.push((device, m.name.clone()));
                    }
                }
                names.extend(members.into_iter().map(|m| (m.device, m.name)));
                if live {
                    let open = j.conflicts().iter().map(|c| c.path.to_string()).collect();
                    known.insert(row.doc, open);
                }
            }
        }
        EventNamer {
            app,
            names,
            labels,
            known: live.then_some(known),
        }
    }

    fn who(&self, d: &starling_client::DeviceId) -> Option<String> {
        self.names
            .iter()
            .find(|(n, _)| n.as_bytes() == d.as_bytes())
            .map(|(_, n)| n.clone())
    }

    fn label(&self, doc: &DocId) -> String {
        let key = doc.to_string();
        self.labels
            .get(&key)
            .cloned()
            .unwrap_or_else(|| format!("journal {}", short(&key)))
    }

    pub(super) fn describe(&mut self, event: ClientEvent) -> Vec<SyncEvent> {
        use SyncEventKind as K;
        let (kind, doc, text) = match &event {
            ClientEvent::Connected { relay } => {
                (K::Connected, None, format!("connected to {relay}"))
            }
            ClientEvent::Disconnected { relay, reason, .. } => (
                K::Disconnected,
                None,
                format!("disconnected from {relay} ({reason}); retrying"),
            ),
            ClientEvent::Changed {
                doc,
                author,
                messages,
            } => {
                let who = self
                    .who(author)
                    .unwrap_or_else(|| format!("device {}", short(author)));
                (
                    K::Changed,
                    Some(*doc),
                    format!("{who}: {}", messages.join("; ")),
                )
            }
            ClientEvent::MembersChanged { doc } => (
                K::MembersChanged,
                Some(*doc),
                format!("the members of {} changed", self.label(doc)),
            ),
            ClientEvent::Removed { doc } => (
                K::Removed,
                Some(*doc),
                format!("you were removed from {}", self.label(doc)),
            ),
            ClientEvent::Erased { doc, why, .. } => (
                K::Erased,
                Some(*doc),
                match why {
                    starling_client::Erasure::Deleted { .. } => format!(
                        "{} was deleted by its owner: erased from this device",
                        self.label(doc)
                    ),
                    starling_client::Erasure::Left => {
                        format!("you left {}: erased from this device", self.label(doc))
                    }
                },
            ),
            ClientEvent::MembershipChangeDropped { doc, reason } => (
                K::MembershipChangeDropped,
                Some(*doc),
                format!(
                    "a membership change made offline in {} was dropped ({reason}); another member's change reached the relay first",
                    self.label(doc)
                ),
            ),
            ClientEvent::Presence { doc, from, data } => {
                let text = match self.who(from) {
                    Some(name) => format!("{name} is here"),
                    None => format!(
                        "{} (device {}) is here",
                        String::from_utf8_lossy(data),
                        short(from)
                    ),
                };
                (K::Presence, Some(*doc), text)
            }
            ClientEvent::Tampering { doc, what } => {
                (K::Tampering, *doc, format!("TAMPERING: {what}"))
            }
            ClientEvent::Quarantined { doc, reason } => (
                K::Quarantined,
                Some(*doc),
                format!("set aside a change: {reason}"),
            ),
            ClientEvent::CaughtUp { doc } => (
                K::CaughtUp,
                Some(*doc),
                format!("{} is up to date", self.label(doc)),
            ),
            ClientEvent::Paused => (
                K::Paused,
                None,
                "paused while another starling command uses the sync state".into(),
            ),
            ClientEvent::Resumed => (K::Resumed, None, "resumed".into()),
            ClientEvent::RelayError { doc, message } => {
                (K::RelayError, *doc, format!("relay error: {message}"))
            }
            ClientEvent::DeviceJoining { kind, journals } => {
                let what = match kind {
                    starling_client::DeviceJoinKind::Link => "the device link",
                    starling_client::DeviceJoinKind::Recovery => "the recovery code",
                };
                let text = if *journals == 0 {
                    format!(
                        "{what} matched no journal at this relay: it was used already, it expired, \
                         or it is for another relay"
                    )
                } else {
                    format!("{what} opens {journals} journal(s): joining them as your device")
                };
                (K::DeviceJoining, None, text)
            }
            _ => return Vec::new(),
        };
        let (relay, reason, tls) = match event {
            ClientEvent::Connected { relay } => (Some(relay), None, None),
            ClientEvent::Disconnected { relay, reason, tls } => (Some(relay), Some(reason), tls),
            _ => (None, None, None),
        };
        let mut out = vec![SyncEvent {
            kind,
            journal: doc.map(|d| d.to_string()),
            relay,
            text: clean(&text),
            reason,
            tls,
        }];
        if let (K::Changed, Some(doc)) = (kind, doc) {
            out.extend(self.new_conflicts(&doc));
        }
        out
    }

    /// Conflicts of `doc` not reported before (live syncs only).
    fn new_conflicts(&mut self, doc: &DocId) -> Vec<SyncEvent> {
        let key = doc.to_string();
        let Some(known) = self.known.as_mut() else {
            return Vec::new();
        };
        let Ok(row) = self.app.client().find_doc(&key) else {
            return Vec::new();
        };
        let Ok(view) = self.app.load(&row).map(|j| j.view()) else {
            return Vec::new();
        };
        let seen = known.entry(key.clone()).or_default();
        let mut out = Vec::new();
        for c in &view.conflicts {
            let path = c.path.to_string();
            if seen.contains(&path) {
                continue;
            }
            seen.push(path.clone());
            let said: Vec<String> = c
                .candidates
                .iter()
                .map(|cand| {
                    let who = cand
                        .author
                        .and_then(|a| view.member_name(a).map(str::to_owned))
                        .unwrap_or_else(|| "an unknown device".into());
                    format!("{who} said {}", cand.value)
                })
                .collect();
            out.push(SyncEvent {
                kind: SyncEventKind::Conflict,
                journal: Some(key.clone()),
                relay: None,
                text: clean(&format!("CONFLICT at {path}: {}", said.join("; "))),
                reason: None,
                tls: None,
            });
        }
        out
    }
}
