//! Syncing in the UI's own process, and telling open pages.
//!
//! A thread with its own runtime and its own handle on the store runs a
//! live sync (the same as `starling sync --watch`) for as long as the UI
//! runs. Its events go to every open page over server-sent events
//! (`/events`): a page showing the journal that changed reloads its content
//! (or, while the person is typing, offers to). When a command in a
//! terminal needs the sync state (`share`, a one-off `sync`), the live sync
//! steps aside and the pages say so, calmly; it resumes by itself. Offline
//! is a normal state: edits are kept on this device and sent when the relay
//! is reachable.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::StreamExt;
use starling_app::client::TlsProblem;
use starling_app::{App, AppError, SyncEventKind, SyncOptions};
use tokio::sync::{broadcast, watch};

use crate::AppState;

/// How often the live sync looks for a journal on a relay it does not
/// talk to yet.
const RELAYS_EVERY: Duration = Duration::from_secs(1);

/// Where sync stands, for the status line on every page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not yet connected.
    #[default]
    Starting,
    /// No journal on this device yet: nothing to sync.
    NothingYet,
    /// Connected: changes come and go as they happen.
    Online,
    /// The relay cannot be reached: edits wait on this device.
    Offline,
    /// Some of the device's relays are connected, some cannot be reached:
    /// the journals on those wait on this device.
    Partial,
    /// A command in a terminal is using the sync state for a moment.
    Paused,
    /// Another `starling sync --watch` (or UI) keeps this device in sync.
    ElsewhereSyncing,
    /// A relay's certificate is from an authority this device does not
    /// trust: not "offline", as waiting will not put it right.
    Untrusted,
}

impl Status {
    /// The catalogue message for it.
    pub fn message(self) -> &'static str {
        match self {
            Status::Starting => "status-starting",
            Status::NothingYet => "status-nothing-yet",
            Status::Online => "status-online",
            Status::Offline => "status-offline",
            Status::Partial => "status-partial",
            Status::Paused => "status-paused",
            Status::ElsewhereSyncing => "status-elsewhere",
            Status::Untrusted => "status-untrusted",
        }
    }

    /// Where sync stands with these relays, each connected or not: online
    /// only when every one is, offline only when none is; a relay this
    /// device does not trust is said before either.
    fn of_links(links: &BTreeMap<String, RelayLink>) -> Status {
        if links.values().any(RelayLink::untrusted) {
            return Status::Untrusted;
        }
        let up = |l: &RelayLink| l.connected;
        match (links.values().any(up), links.values().all(up)) {
            (_, true) => Status::Online,
            (true, false) => Status::Partial,
            (false, false) => Status::Offline,
        }
    }
}

/// Something to tell open pages.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LiveEvent {
    /// What happened (`changed`, `conflict`, `status`, …).
    pub kind: String,
    /// The journal it concerns, if one.
    pub journal: Option<String>,
    /// In words, for the page's live region.
    pub text: String,
    /// The revision after it.
    pub revision: u64,
}

/// One relay as the live sync last found it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayLink {
    /// Connected now.
    pub connected: bool,
    /// Why it could not be reached or dropped, when it is not connected.
    pub reason: Option<String>,
    /// When TLS is what failed, what was wrong with it (worded by the
    /// page, in its language).
    pub tls: Option<TlsProblem>,
}

impl RelayLink {
    /// Not connected because its certificate chains to no authority this
    /// device trusts: adding the organisation's certificate authority is
    /// what puts it right, not waiting.
    pub fn untrusted(&self) -> bool {
        !self.connected && self.tls == Some(TlsProblem::UnknownIssuer)
    }
}

/// The live sync's handle: its status and the events it broadcasts.
#[derive(Clone, Debug)]
pub struct Live {
    /// Events for open pages.
    pub events: broadcast::Sender<LiveEvent>,
    /// Where sync stands.
    pub status: Arc<RwLock<Status>>,
    /// Counts the changes that arrived: a page rendered at revision `r`
    /// that learns of a later one (over its event stream, which starts with
    /// the current revision) reloads, so no change is missed while a page
    /// loads.
    pub revision: Arc<std::sync::atomic::AtomicU64>,
    /// Each relay of this sync, by address, as last heard: connected, or
    /// why not.
    pub links: Arc<RwLock<BTreeMap<String, RelayLink>>>,
}

impl Live {
    /// The current status.
    pub fn status(&self) -> Status {
        self.status.read().map_or(Status::Starting, |s| *s)
    }

    /// How the relay at `relay` (its canonical address, as journals keep
    /// it) stands, if the live sync has tried it.
    pub fn link(&self, relay: &str) -> Option<RelayLink> {
        self.links.read().ok()?.get(relay).cloned()
    }

    /// Records how `relay` stands now; where sync stands with every relay
    /// heard from.
    fn hear(&self, relay: &str, link: RelayLink) -> Status {
        match self.links.write() {
            Ok(mut l) => {
                l.insert(relay.to_owned(), link);
                Status::of_links(&l)
            }
            Err(_) => Status::Starting,
        }
    }

    /// Where sync stands with the relays heard from (none: online).
    fn of_links(&self) -> Status {
        self.links
            .read()
            .map_or(Status::Starting, |l| Status::of_links(&l))
    }

    /// Forgets every relay's state: the live sync starts over, pauses or
    /// ends, so what it last heard is no longer news.
    fn forget_links(&self) {
        if let Ok(mut l) = self.links.write() {
            l.clear();
        }
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.revision.load(std::sync::atomic::Ordering::Acquire)
    }

    fn set(&self, status: Status, tr_text: impl FnOnce(Status) -> String) {
        let changed = self
            .status
            .write()
            .map(|mut s| std::mem::replace(&mut *s, status) != status)
            .unwrap_or(false);
        if changed {
            let _ = self.events.send(LiveEvent {
                kind: "status".into(),
                journal: None,
                text: tr_text(status),
                revision: self.revision(),
            });
        }
    }
}

/// Starts the live sync for `home` on its own thread; it stops when `stop`
/// turns true.
pub fn start(home: PathBuf, tr: Arc<crate::i18n::Catalogue>, stop: watch::Receiver<bool>) -> Live {
    let (events, _) = broadcast::channel(256);
    let live = Live {
        events,
        status: Arc::new(RwLock::new(Status::Starting)),
        revision: Default::default(),
        links: Default::default(),
    };
    let handle = live.clone();
    let spawned = std::thread::Builder::new()
        .name("starling-ui-sync".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the sync runtime");
                    return;
                }
            };
            runtime.block_on(run(home, tr, handle, stop));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the sync thread");
    }
    live
}

async fn run(
    home: PathBuf,
    tr: Arc<crate::i18n::Catalogue>,
    live: Live,
    mut stop: watch::Receiver<bool>,
) {
    let text = |s: Status| tr.t(s.message());
    loop {
        if *stop.borrow() {
            return;
        }
        let outcome = match App::open(&home) {
            Ok(app) if app.journals().is_ok_and(|j| !j.is_empty()) => {
                let mut stop_rx = stop.clone();
                // A journal started or joined on a relay this sync does not
                // talk to yet, or a certificate authority trusted or no
                // longer: start over, so it syncs without a restart (and
                // without waiting out the backoff of a relay that failed).
                let before = reach(&app);
                let app_ref = &app;
                let new_relay = async move {
                    loop {
                        tokio::time::sleep(RELAYS_EVERY).await;
                        if reach(app_ref) != before {
                            return;
                        }
                    }
                };
                live.forget_links();
                let stopped = async move {
                    tokio::select! {
                        _ = stop_rx.wait_for(|s| *s) => {}
                        () = new_relay => {}
                    }
                };
                let live2 = live.clone();
                let tr2 = tr.clone();
                // Each relay connected or not: one out of reach while the
                // others are connected is not "offline".
                let result = app
                    .sync_async(None, &SyncOptions::watch(), stopped, move |e| {
                        let status = match e.kind {
                            SyncEventKind::Connected | SyncEventKind::Disconnected => {
                                Some(match e.relay.as_deref() {
                                    Some(relay) => {
                                        let link = RelayLink {
                                            connected: e.kind == SyncEventKind::Connected,
                                            reason: e.reason.clone(),
                                            tls: e.tls.clone(),
                                        };
                                        live2.hear(relay, link)
                                    }
                                    None => live2.of_links(),
                                })
                            }
                            // No relay heard from yet counts as online.
                            SyncEventKind::Resumed => Some(live2.of_links()),
                            // Another process syncs now.
                            SyncEventKind::Paused => {
                                live2.forget_links();
                                Some(Status::Paused)
                            }
                            _ => None,
                        };
                        if let Some(s) = status {
                            live2.set(s, |s| tr2.t(s.message()));
                        }
                        let kind = serde_json::to_value(e.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        if matches!(
                            e.kind,
                            SyncEventKind::Changed
                                | SyncEventKind::Conflict
                                | SyncEventKind::MembersChanged
                                | SyncEventKind::Removed
                        ) {
                            live2
                                .revision
                                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        }
                        let _ = live2.events.send(LiveEvent {
                            kind,
                            journal: e.journal,
                            text: crate::pages::area_words(&e.text, None, None),
                            revision: live2.revision(),
                        });
                    })
                    .await;
                live.forget_links();
                Some(result)
            }
            // Not "starting…" for ever on a device with no journal.
            Ok(_) => {
                live.set(Status::NothingYet, text);
                None
            }
            Err(_) => None,
        };
        match outcome {
            Some(Err(AppError::Client(starling_app::client::ClientError::SyncBusy))) => {
                live.set(Status::ElsewhereSyncing, text);
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "live sync stopped; trying again");
                live.set(Status::Offline, text);
            }
            _ => {}
        }
        // Nothing to sync yet, or the sync ended: look again in a moment.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// What decides which relays the live sync can reach: the relays of the
/// device's journals, and the certificate authorities it trusts (by
/// fingerprint). When it changes, the live sync starts over.
fn reach(app: &App) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let trusted = app
        .client()
        .trusted_cas()
        .ok()
        .map(|cas| cas.into_iter().map(|c| c.fingerprint).collect());
    (app.sync_relays().ok(), trusted)
}

/// `GET /events`: server-sent events for open pages.
pub(crate) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.live.events.subscribe();
    let mut stop = state.stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let hello = Event::default()
        .event("hello")
        .data(serde_json::json!({ "revision": state.live.revision() }).to_string());
    let first = futures_util::stream::once(async move { Ok(hello) });
    let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|item| async move {
        let e = item.ok()?;
        let name = if e.kind == "status" {
            "status"
        } else {
            "update"
        };
        let data = serde_json::to_string(&e).ok()?;
        Some(Ok(Event::default().event(name).data(data)))
    });
    let stream = first.chain(stream).take_until(stopped);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn link(connected: bool, untrusted: bool) -> RelayLink {
        RelayLink {
            connected,
            reason: None,
            tls: untrusted.then_some(TlsProblem::UnknownIssuer),
        }
    }

    #[test]
    fn a_relay_not_trusted_is_said_before_offline_or_partly_connected() {
        let links = |v: &[(bool, bool)]| -> BTreeMap<String, RelayLink> {
            v.iter()
                .enumerate()
                .map(|(i, (c, u))| (format!("r{i}"), link(*c, *u)))
                .collect()
        };
        assert_eq!(Status::of_links(&links(&[(true, false)])), Status::Online);
        assert_eq!(Status::of_links(&links(&[(false, false)])), Status::Offline);
        let partial = links(&[(true, false), (false, false)]);
        assert_eq!(Status::of_links(&partial), Status::Partial);
        let untrusted = links(&[(true, false), (false, true)]);
        assert_eq!(Status::of_links(&untrusted), Status::Untrusted);
        assert_eq!(
            Status::of_links(&links(&[(false, true)])),
            Status::Untrusted
        );
    }

    #[test]
    fn trusting_or_no_longer_trusting_a_certificate_starts_the_live_sync_over() {
        let home = tempfile::tempdir().unwrap();
        let app = App::open(home.path()).unwrap();
        app.init("Sam").unwrap();
        app.new_journal("wss://relay.example.org", None, "recovery-star")
            .unwrap();
        let before = reach(&app);
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let added = app
            .client()
            .trust_ca(ca.pem().as_bytes(), "org-ca.pem")
            .unwrap();
        let trusting = reach(&app);
        assert_ne!(trusting, before, "a certificate added restarts the sync");
        app.client().untrust_ca(&added[0]).unwrap();
        assert_ne!(reach(&app), trusting, "and one removed");
        assert_eq!(reach(&app), before);
    }
}
