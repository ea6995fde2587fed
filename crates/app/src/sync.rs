//! Syncing, as people see it: events with names instead of device ids, and
//! an outcome that says plainly which journals could not exchange their
//! changes and why. A sync that left any journal behind is never a
//! success: [`App::sync`] returns [`crate::AppError::SyncIncomplete`] after
//! reporting everything it did, and the journal carries the reason until a
//! sync catches it up (`starling list` and the UI show it).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use starling_client::{ClientEvent, DocId, DocRow, RelayAddr, SyncMode, SyncReport};

use crate::App;

mod events;
use crate::error::{AppError, ErrorKind, Result};
use crate::find::short;
use crate::sharing::journal_label;
use events::{EventNamer, Seen};

/// How a journal's sync problem begins when this device was removed from
/// it (edits are refused from then on: they could never be sent).
const REMOVED: &str = "you were removed from ";

/// What the relay said of `row` when it removed this device from it, if
/// it did (its stored sync problem).
pub(crate) fn removal(row: &DocRow) -> Option<&str> {
    row.problem.as_deref().filter(|p| p.starts_with(REMOVED))
}

/// What a journal this device was removed from says: `of` names it
/// ("this journal" beside its own name, its label elsewhere).
pub(crate) fn removed_words(of: &str) -> String {
    format!("{REMOVED}{of}: you keep what you had, but nothing new reaches this device")
}

/// How a sync runs.
#[derive(Clone, Copy, Debug)]
pub struct SyncOptions {
    /// Stay connected until the stop future completes.
    pub watch: bool,
    /// Give up a one-off sync after this long.
    pub timeout: Duration,
}

impl SyncOptions {
    /// Push and pull once; give up after `timeout`.
    pub fn once(timeout: Duration) -> Self {
        SyncOptions {
            watch: false,
            timeout,
        }
    }

    /// Stay connected, reporting changes as they arrive.
    pub fn watch() -> Self {
        SyncOptions {
            watch: true,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What kind of thing happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncEventKind {
    /// Connected to a relay.
    Connected,
    /// The connection dropped; it is retried.
    Disconnected,
    /// Someone's changes arrived.
    Changed,
    /// A new conflict appeared.
    Conflict,
    /// Someone joined or left.
    MembersChanged,
    /// This device was removed from a journal.
    Removed,
    /// A journal was erased from this device: its owner deleted it, or
    /// this device left it.
    Erased,
    /// A membership change made offline no longer applied.
    MembershipChangeDropped,
    /// Someone is here.
    Presence,
    /// The relay or a member misbehaved.
    Tampering,
    /// A payload failed a check and was set aside.
    Quarantined,
    /// A journal is up to date.
    CaughtUp,
    /// Another starling process asked this live sync to step aside.
    Paused,
    /// The live sync took over again.
    Resumed,
    /// The relay reported an error.
    RelayError,
    /// A device link or recovery code was found (or not) at the relay.
    DeviceJoining,
}

/// Something that happened during a sync, for people (`text`) and programs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SyncEvent {
    /// What happened.
    pub kind: SyncEventKind,
    /// The journal (its id), when it concerns one.
    pub journal: Option<String>,
    /// The relay, when it concerns a connection to one (`connected`,
    /// `disconnected`).
    pub relay: Option<String>,
    /// What happened, in words, with names.
    pub text: String,
    /// Why the relay could not be reached or the connection dropped
    /// (`disconnected` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When TLS is what failed, what was wrong with it (`disconnected`
    /// only): an untrusted certificate wants its authority added.
    #[serde(skip)]
    pub tls: Option<starling_client::TlsProblem>,
}

/// Why a journal is not in sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The invite was used, withdrawn or has expired.
    InviteUnusable,
    /// The owner's device has not told the relay about the invite yet.
    InviteNotRegistered,
    /// This device was removed from the journal.
    Removed,
    /// The relay refused the journal for another reason.
    Refused,
    /// The relay asked to try again later.
    Deferred,
    /// Something failed a check: the relay or a member misbehaved.
    Tampering,
    /// A local edit could not be sent and was set aside.
    EditNotSent,
    /// Changes the relay has not delivered are missing.
    Waiting,
    /// Its relay could not be reached (this device has journals on other
    /// relays, which synced).
    Unreachable,
}

/// A journal that could not exchange its changes, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SyncProblem {
    /// The journal's id.
    pub journal: String,
    /// What went wrong.
    pub kind: ProblemKind,
    /// In words, with what to do.
    pub text: String,
    /// The same, where the journal is already named (beside it in
    /// `starling list` and the UI, which keep it until a sync catches the
    /// journal up).
    pub reason: String,
}

/// What a sync did. One source for the text and the JSON output.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SyncOutcome {
    /// Journals synced.
    pub journals: usize,
    /// Envelopes of this device the relay acknowledged.
    pub sent: usize,
    /// Batches of others' changes applied.
    pub received: usize,
    /// Payloads set aside.
    pub quarantined: usize,
    /// Tampering events.
    pub tampering: usize,
    /// Journals that could not exchange everything.
    pub problems: Vec<SyncProblem>,
    /// Journals erased from this device (deleted by their owner, or left),
    /// in words.
    pub erased: Vec<SyncEvent>,
    /// For each device link or recovery code the relay answered about: in
    /// how many journals it was found.
    pub found: Vec<usize>,
}

impl App {
    /// Syncs every journal (or the one named) once, on a runtime of its
    /// own. Errors with [`AppError::SyncIncomplete`] when a journal was left
    /// behind (after `on_event` has seen everything).
    pub fn sync(
        &self,
        only: Option<&str>,
        options: &SyncOptions,
        on_event: impl FnMut(SyncEvent),
    ) -> Result<SyncOutcome> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AppError::Runtime)?;
        runtime.block_on(self.sync_async(only, options, std::future::pending(), on_event))
    }

    /// Syncs on the caller's runtime; a live sync (`options.watch`) runs
    /// until `stop` completes.
    pub async fn sync_async(
        &self,
        only: Option<&str>,
        options: &SyncOptions,
        stop: impl Future<Output = ()>,
        mut on_event: impl FnMut(SyncEvent),
    ) -> Result<SyncOutcome> {
        let docs: Vec<DocRow> = match only {
            Some(j) => vec![self.pick(Some(j))?],
            None => self.journals()?,
        };
        let relays = match only {
            Some(_) => vec![docs[0].relay.clone()],
            None => self.relays_of(&docs)?,
        };
        if relays.is_empty() {
            self.client.identity()?;
            return Err(crate::error::not_found(crate::find::NO_JOURNALS));
        }
        let mut outcome = SyncOutcome::default();
        let seen = std::cell::RefCell::new(Seen {
            removed: BTreeSet::new(),
            tampered: BTreeMap::new(),
            not_sent: BTreeMap::new(),
            erased: Vec::new(),
            on_event: &mut on_event,
        });
        // Relays a one-off sync could not reach, with why: their journals
        // wait, and the journals on the other relays still sync.
        let mut unreachable: Vec<(String, AppError)> = Vec::new();
        tokio::pin!(stop);
        let on = |relay: &String| -> Vec<DocRow> {
            docs.iter().filter(|d| &d.relay == relay).cloned().collect()
        };
        if options.watch && relays.len() > 1 {
            for (report, on_relay) in self.watch_every(&relays, &on, &seen, stop.as_mut()).await? {
                add(&mut outcome, &report);
                let on_relay = seen.borrow().still_here(on_relay);
                outcome.problems.extend(refusals(&report, &on_relay));
            }
        } else {
            // A one-off sync (or a live one on a single relay): relay by relay.
            for relay in &relays {
                let addr = crate::sharing::relay_addr(relay)?;
                let on_relay = on(relay);
                let mut events = EventNamer::new(self, options.watch);
                let report = match self
                    .run_relay(&addr, options, stop.as_mut(), |e| {
                        seen.borrow_mut()
                            .take(self, e, options.watch, &on_relay, &mut events);
                    })
                    .await
                {
                    Ok(report) => report,
                    // Out of reach: its journals wait, named, and the others
                    // sync. (A relay that answered wrongly, a changed key or an
                    // untrusted certificate, alone, is the error itself, with
                    // what to do about it.)
                    Err(err)
                        if err.kind() == ErrorKind::Relay
                            && (relays.len() > 1 || err.out_of_reach()) =>
                    {
                        tracing::warn!(%relay, error = %err, "relay out of reach; syncing the others");
                        unreachable.push((relay.clone(), err));
                        continue;
                    }
                    Err(err) => return Err(err),
                };
                add(&mut outcome, &report);
                let on_relay = seen.borrow().still_here(on_relay);
                outcome.problems.extend(refusals(&report, &on_relay));
                if !options.watch && self.name_new_members(&on_relay)? {
                    let again = self
                        .run_relay(&addr, options, stop.as_mut(), |_| {})
                        .await?;
                    outcome.sent += again.pushed;
                    outcome.received += again.pulled;
                }
            }
        }
        let Seen {
            removed,
            tampered,
            not_sent,
            erased,
            ..
        } = seen.into_inner();
        if !unreachable.is_empty() && unreachable.len() == relays.len() && docs.is_empty() {
            // Only a device link or recovery code to look for: the reason,
            // as the relay gives it.
            return Err(unreachable.swap_remove(0).1);
        }
        for (relay, err) in &unreachable {
            for row in docs.iter().filter(|d| &d.relay == relay) {
                // Never reached: the address itself may be wrong, and can
                // still be corrected (the UI links to it from the journal).
                let hint = if self.client.never_reached_relay(&row.doc).unwrap_or(false) {
                    format!(
                        "; it has never reached {relay}: if that address is wrong, `starling relays \
                         set-address ADDRESS -j {}` points it at the right one",
                        crate::short(&row.doc)
                    )
                } else {
                    String::new()
                };
                outcome.problems.push(SyncProblem {
                    journal: row.doc.clone(),
                    kind: ProblemKind::Unreachable,
                    text: format!("{} was not synced: {err}{hint}", journal_label(row)),
                    reason: err.to_string(),
                });
            }
        }
        // Journals a device link or recovery code brought count too.
        let docs = if outcome.found.iter().any(|n| *n > 0) {
            self.journals()?
        } else {
            docs
        };
        let docs: Vec<DocRow> = docs
            .into_iter()
            .filter(|d| !erased.iter().any(|e| e.journal.as_ref() == Some(&d.doc)))
            .collect();
        outcome.erased = erased;
        for row in &docs {
            let Ok(doc) = row.doc.parse::<DocId>() else {
                continue;
            };
            let label = journal_label(row);
            let mut problem_as = |kind, text: String, reason: String| {
                if !outcome.problems.iter().any(|p| p.journal == row.doc) {
                    outcome.problems.push(SyncProblem {
                        journal: row.doc.clone(),
                        kind,
                        reason,
                        text,
                    });
                }
            };
            if removed.contains(&doc) || self.was_removed(row) {
                problem_as(
                    ProblemKind::Removed,
                    removed_words(&label),
                    removed_words("this journal"),
                );
            }
            let mut problem = |kind, text: String| problem_as(kind, text.clone(), text);
            if let Some(what) = tampered.get(&doc) {
                problem(
                    ProblemKind::Tampering,
                    format!("{label}: something failed a check and was set aside ({what})"),
                );
            }
            if let Some(why) = not_sent.get(&doc) {
                problem(ProblemKind::EditNotSent, format!("{label}: {why}"));
            }
            if let Some(n) = self.held_back(&row.doc) {
                problem(
                    ProblemKind::Waiting,
                    format!(
                        "{label}: {n} change(s) wait for earlier ones the relay has not delivered; sync again later"
                    ),
                );
            }
        }
        // Journals whose join a sync completed get their client's name.
        for row in docs.iter().filter(|d| d.title.is_empty()) {
            if let Ok(j) = self.load(row)
                && let Some(name) = j.owner().and_then(|o| j.member(o)).map(|m| m.name)
            {
                self.client.set_title(&row.doc, &name)?;
            }
        }
        outcome.journals = docs.len();
        for row in &docs {
            let problem = outcome
                .problems
                .iter()
                .find(|p| p.journal == row.doc)
                .map(|p| p.reason.as_str());
            self.client.set_sync_problem(&row.doc, problem)?;
        }
        if outcome.problems.is_empty() || options.watch {
            Ok(outcome)
        } else {
            Err(AppError::SyncIncomplete(Box::new(outcome)))
        }
    }

    /// Every relay a sync of the whole device talks to: its journals'
    /// and those of a device link or recovery code waiting for its relay.
    /// A live sync started before a journal on a new relay came (the UI's)
    /// watches this to start over with it.
    pub fn sync_relays(&self) -> Result<Vec<String>> {
        self.relays_of(&self.journals()?)
    }

    /// [`App::sync_relays`], the journals already read.
    fn relays_of(&self, docs: &[DocRow]) -> Result<Vec<String>> {
        let mut relays: Vec<String> = docs.iter().map(|d| d.relay.clone()).collect();
        relays.extend(self.client.device_joins()?.into_iter().map(|(r, _)| r));
        relays.sort();
        relays.dedup();
        Ok(relays)
    }

    /// A live sync on every one of `relays` at once, one connection each,
    /// until `stop`: each relay's report, with its journals.
    async fn watch_every<F: FnMut(SyncEvent)>(
        &self,
        relays: &[String],
        on: &impl Fn(&String) -> Vec<DocRow>,
        seen: &std::cell::RefCell<Seen<'_, F>>,
        mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Vec<(SyncReport, Vec<DocRow>)>> {
        let options = SyncOptions::watch();
        let addrs = relays
            .iter()
            .map(|r| crate::sharing::relay_addr(r))
            .collect::<Result<Vec<_>>>()?;
        let (stop_all, stopped) = tokio::sync::watch::channel(false);
        let runs =
            futures_util::future::try_join_all(relays.iter().zip(&addrs).map(|(relay, addr)| {
                let mut stopped = stopped.clone();
                let on_relay = on(relay);
                async move {
                    let stop = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    tokio::pin!(stop);
                    let mut events = EventNamer::new(self, true);
                    let report = self
                        .run_relay(addr, &options, stop, |e| {
                            seen.borrow_mut()
                                .take(self, e, true, &on_relay, &mut events);
                        })
                        .await?;
                    Ok::<_, AppError>((report, on_relay))
                }
            }));
        tokio::pin!(runs);
        tokio::select! {
            done = &mut runs => done,
            () = stop.as_mut() => {
                let _ = stop_all.send(true);
                runs.await
            }
        }
    }

    async fn run_relay(
        &self,
        addr: &RelayAddr,
        options: &SyncOptions,
        stop: std::pin::Pin<&mut impl Future<Output = ()>>,
        on_event: impl FnMut(ClientEvent),
    ) -> Result<SyncReport> {
        let mode = if options.watch {
            SyncMode::Watch
        } else {
            SyncMode::Once {
                timeout: options.timeout,
            }
        };
        Ok(self.client.sync(addr, mode, stop, on_event).await?)
    }

    /// Whether this device is no longer a member of `row` (it was one).
    fn was_removed(&self, row: &DocRow) -> bool {
        let Ok(me) = self.client.identity() else {
            return false;
        };
        matches!(self.client.members(&row.doc), Ok(m) if !m.is_empty() && !m.iter().any(|x| x.device == me.device))
            && self.client.is_joining(&row.doc).is_ok_and(|j| !j)
    }

    /// How many received envelopes wait for a predecessor, if any.
    fn held_back(&self, doc: &str) -> Option<usize> {
        self.client.held_back(doc).ok().filter(|n| *n > 0)
    }
}

fn add(total: &mut SyncOutcome, r: &SyncReport) {
    total.sent += r.pushed;
    total.received += r.pulled;
    total.quarantined += r.quarantined;
    total.tampering += r.tampering;
    total.found.extend(r.found.iter().map(|(_, n)| *n));
}

/// The relay's refusals, in words: which invite problem, or membership.
fn refusals(report: &SyncReport, docs: &[DocRow]) -> Vec<SyncProblem> {
    let label = |doc: &DocId| {
        docs.iter()
            .find(|d| d.doc == doc.to_string())
            .map(journal_label)
            .unwrap_or_else(|| format!("journal {}", short(doc)))
    };
    let mut out = Vec::new();
    for (doc, reason, permanent) in report
        .refused
        .iter()
        .map(|(d, r)| (d, r, true))
        .chain(report.deferred.iter().map(|(d, r)| (d, r, false)))
    {
        let name = label(doc);
        let (kind, text) = match reason.as_str() {
            "unknown document" | "unknown invite" => (
                ProblemKind::InviteNotRegistered,
                format!(
                    "the owner hasn't synced this invite to the relay yet ({name}): ask them to \
                     sync, then sync again; the invite is kept on this device"
                ),
            ),
            "invite already used" => (
                ProblemKind::InviteUnusable,
                "this invite was already used (each invite works once): ask for a new one".into(),
            ),
            "invite revoked" => (
                ProblemKind::InviteUnusable,
                "this invite was withdrawn by the journal's owner: ask for a new one".into(),
            ),
            "invite expired" => (
                ProblemKind::InviteUnusable,
                "this invite has expired: ask for a new one".into(),
            ),
            "no such live invite" => (
                ProblemKind::InviteUnusable,
                "the relay refused this invite: it was used, withdrawn or has expired; ask for a new one"
                    .into(),
            ),
            "not a member" | "removed from document" => (
                ProblemKind::Removed,
                removed_words(&name),
            ),
            m if m.starts_with("deleted by this relay") => (
                ProblemKind::Refused,
                format!(
                    "the relay deleted {name} ({}): you keep your copy on this device, but it \
                     no longer syncs; `starling export --journal` keeps it elsewhere",
                    m.trim_start_matches("deleted by this relay").trim().trim_matches(['(', ')'])
                ),
            ),
            other if permanent => (
                ProblemKind::Refused,
                format!("the relay refused {name}: {other}"),
            ),
            other => (
                ProblemKind::Deferred,
                format!("the relay asked to sync {name} later ({other}); sync again in a while"),
            ),
        };
        out.push(SyncProblem {
            journal: doc.to_string(),
            kind,
            reason: text.clone(),
            text,
        });
    }
    out
}
