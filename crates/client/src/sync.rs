//! Sync: one websocket to a relay carries every document of this device on it.
//!
//! A sync seals the local edits waiting in the store into envelopes, connects,
//! authenticates, pushes the outbox, pulls everything after each document's
//! cursor, and applies what verifies. What arrived together (every frame
//! already read from the socket) is stored with the new sync state of each
//! document it touched in one transaction, so an interrupted sync resumes
//! exactly where it stopped, and a catch-up of many frames costs one
//! durable write instead of one per frame. Anything that fails a check is
//! quarantined with its reason and never applied.

mod frame;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use rand_core::OsRng;
use starling_protocol::session::ClientSession;
use starling_protocol::wire::{self, AccessLog, Message, SignedAccessLog};
use starling_protocol::{DeviceId, DocId};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::client::{Client, DeviceJoinKind, SyncLock, now_ms, parse_doc, relay_of};
use crate::error::{ClientError, Result};
use crate::persist;
use crate::store::{DocRow, rows};
use starling_protocol::RelayAddr;
use starling_protocol::invite::InviteSecret;
use starling_protocol::membership::InviteId;

/// Most frames that arrived together handled as one batch: their
/// envelopes verified as one ed25519 batch, what they bring stored in one
/// transaction.
const BATCH_FRAMES: usize = 1024;

/// How long a one-off sync keeps working on a document the relay asked to
/// retry later before it reports it as deferred.
const DEFERRED_GRACE: Duration = Duration::from_secs(2);

/// Something a live session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Authenticated with the relay.
    Connected {
        /// The relay.
        relay: String,
    },
    /// The connection dropped; it will be retried.
    Disconnected {
        /// The relay.
        relay: String,
        /// Why.
        reason: String,
        /// When TLS is what failed, what was wrong with it: a relay whose
        /// certificate this device does not trust needs its organisation's
        /// certificate authority added, not a retry.
        tls: Option<crate::tls::TlsProblem>,
    },
    /// Changes by another device were applied.
    Changed {
        /// The document.
        doc: DocId,
        /// Who made them.
        author: DeviceId,
        /// The changes' own messages ("worker scored work 6 ...").
        messages: Vec<String>,
    },
    /// The membership of a document changed (someone joined or left).
    MembersChanged {
        /// The document.
        doc: DocId,
    },
    /// A membership change this device made offline was dropped: another
    /// member's change reached the relay first and ours no longer applied.
    MembershipChangeDropped {
        /// The document.
        doc: DocId,
        /// What, and why, for people.
        reason: String,
    },
    /// This device was removed from a document.
    Removed {
        /// The document.
        doc: DocId,
    },
    /// A document was erased from this device: its owner deleted it, or
    /// this device left it. Nothing of it is left in the store.
    Erased {
        /// The document.
        doc: DocId,
        /// Its title, as it was.
        title: String,
        /// Why.
        why: Erasure,
    },
    /// A peer's presence.
    Presence {
        /// The document.
        doc: DocId,
        /// Who.
        from: DeviceId,
        /// What they sent.
        data: Vec<u8>,
    },
    /// The relay or a member misbehaved; nothing was applied.
    Tampering {
        /// The document, if known.
        doc: Option<DocId>,
        /// What, for people.
        what: String,
    },
    /// A payload failed a check and was set aside.
    Quarantined {
        /// The document.
        doc: DocId,
        /// Why.
        reason: String,
    },
    /// Everything the relay holds for a document has arrived.
    CaughtUp {
        /// The document.
        doc: DocId,
    },
    /// Another `starling` process of this device asked for the sync state
    /// (`share`, `new`, `join`, `revoke`, a one-off `sync`): this live sync
    /// saved everything, disconnected and waits for it to finish.
    Paused,
    /// The other process finished; the live sync reloaded its state from
    /// the store (new journals included) and reconnects.
    Resumed,
    /// The relay said where a device link or recovery code is live: this
    /// device is joining that many journals as a device of the person.
    DeviceJoining {
        /// A link or a recovery code.
        kind: DeviceJoinKind,
        /// Journals found (none: used already, expired, or another relay's).
        journals: usize,
    },
    /// The relay reported an error.
    RelayError {
        /// The document it concerns, if one.
        doc: Option<DocId>,
        /// Its message.
        message: String,
    },
}

/// Why a document was erased from this device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// DeviceId carries its decoded key; erasures are rare.
#[allow(clippy::large_enum_variant)]
pub enum Erasure {
    /// Its owner deleted it (the owner's device signed the deletion).
    Deleted {
        /// The owner's device.
        by: DeviceId,
    },
    /// This device left it.
    Left,
}

/// How a sync ends.
#[derive(Clone, Copy, Debug)]
pub enum SyncMode {
    /// Until everything is pushed and pulled, or `timeout` passes.
    Once {
        /// Give up after this long.
        timeout: Duration,
    },
    /// Until the future passed to [`Client::sync`] as `stop` completes.
    Watch,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Documents synced.
    pub docs: usize,
    /// Envelopes of ours the relay acknowledged.
    pub pushed: usize,
    /// Batches of others' changes applied.
    pub pulled: usize,
    /// Payloads quarantined.
    pub quarantined: usize,
    /// Tampering events.
    pub tampering: usize,
    /// Documents the relay refused to serve, with its reason (an invite no
    /// longer valid, membership withdrawn).
    pub refused: Vec<(DocId, String)>,
    /// Documents the relay asked to retry later; run the sync again.
    pub deferred: Vec<(DocId, String)>,
    /// For each device link or recovery code the relay answered about in
    /// this sync: how many journals it was found in (none: used already,
    /// expired, or for another relay).
    pub found: Vec<(DeviceJoinKind, usize)>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Client {
    /// Sync every document on `relay`. `on_event` sees what happens;
    /// in [`SyncMode::Watch`] the sync runs until `stop` completes.
    pub async fn sync(
        &self,
        relay: &RelayAddr,
        mode: SyncMode,
        stop: impl std::future::Future<Output = ()>,
        on_event: impl FnMut(ClientEvent),
    ) -> Result<SyncReport> {
        let (report, _) = self
            .sync_asking(relay, mode, stop, on_event, BTreeSet::new())
            .await?;
        Ok(report)
    }

    /// A one-off sync of every document on `relay` that also asks the
    /// relay for the access log of each of `docs`: the logs whose relay
    /// signature verified, by document. A document the relay will not
    /// give a log for is in the report's `refused`. Each log comes with the
    /// relay's signed bytes.
    pub async fn access_logs(
        &self,
        relay: &RelayAddr,
        docs: BTreeSet<DocId>,
        timeout: Duration,
        on_event: impl FnMut(ClientEvent),
    ) -> Result<(SyncReport, BTreeMap<DocId, (AccessLog, SignedAccessLog)>)> {
        let mode = SyncMode::Once { timeout };
        self.sync_asking(relay, mode, std::future::pending(), on_event, docs)
            .await
    }

    async fn sync_asking(
        &self,
        relay: &RelayAddr,
        mode: SyncMode,
        stop: impl std::future::Future<Output = ()>,
        mut on_event: impl FnMut(ClientEvent),
        logs: BTreeSet<DocId>,
    ) -> Result<(SyncReport, BTreeMap<DocId, (AccessLog, SignedAccessLog)>)> {
        // A live sync never makes another one step aside: two would take
        // turns forever.
        let mut lock = match mode {
            SyncMode::Watch => self.try_lock()?,
            SyncMode::Once { .. } => self.lock()?,
        };
        let mut run = self.new_run(relay, mode, SyncReport::default())?;
        run.logs_wanted = logs;
        run.seal_local()?;
        tokio::pin!(stop);
        let deadline = match mode {
            SyncMode::Once { timeout } => Some(tokio::time::Instant::now() + timeout),
            SyncMode::Watch => None,
        };
        loop {
            // A connection that failed or dropped: give up (once), or wait
            // for the session's backoff and dial again (watch).
            // A live sync steps aside even while it dials (a dead network
            // can hold a dial for 10 seconds).
            let dialed = tokio::select! {
                dialed = self.connect(relay) => Some(dialed),
                _ = self.pause_request(), if deadline.is_none() => None,
            };
            let Some(dialed) = dialed else {
                let step = self.step_aside(lock, &mut run, relay, mode, &mut stop, &mut on_event);
                match step.await? {
                    Some(relocked) => lock = relocked,
                    None => return Ok((run.report, std::mem::take(&mut run.logs))),
                }
                continue;
            };
            let mut tls = None;
            let reason = match dialed {
                Err(e) if deadline.is_some() => return Err(e),
                // The event names the relay: the reason need not again.
                Err(ClientError::Tls { problem, .. }) => {
                    let why = problem.to_string();
                    tls = Some(problem);
                    why
                }
                Err(ClientError::Relay { reason, .. }) => reason,
                Err(e) => e.to_string(),
                Ok(ws) => {
                    let outcome = run
                        .connected(ws, relay, mode, deadline, &mut stop, &mut on_event)
                        .await?;
                    run.report.refused = run
                        .failed
                        .iter()
                        .filter(|(_, f)| f.1)
                        .map(|(d, f)| (*d, f.0.clone()))
                        .collect();
                    run.report.deferred = run
                        .failed
                        .iter()
                        .filter(|(_, f)| !f.1)
                        .map(|(d, f)| (*d, f.0.clone()))
                        .collect();
                    match outcome {
                        Outcome::Done => return Ok((run.report, std::mem::take(&mut run.logs))),
                        Outcome::Dropped(reason) if deadline.is_some() => {
                            return Err(ClientError::Relay {
                                relay: relay.to_string(),
                                reason,
                            });
                        }
                        Outcome::Dropped(reason) => reason,
                        Outcome::Paused => {
                            let step = self.step_aside(
                                lock,
                                &mut run,
                                relay,
                                mode,
                                &mut stop,
                                &mut on_event,
                            );
                            match step.await? {
                                Some(relocked) => lock = relocked,
                                None => return Ok((run.report, std::mem::take(&mut run.logs))),
                            }
                            continue;
                        }
                    }
                }
            };
            on_event(ClientEvent::Disconnected {
                relay: relay.to_string(),
                reason,
                tls,
            });
            run.session.handle_disconnected(now_ms(), &mut OsRng);
            let wait = run
                .session
                .poll_reconnect()
                .map_or(30_000, |t| t.saturating_sub(now_ms()));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = &mut stop => return Ok((run.report, std::mem::take(&mut run.logs))),
                _ = self.pause_request() => {
                    let step = self.step_aside(lock, &mut run, relay, mode, &mut stop, &mut on_event);
                    match step.await? {
                        Some(relocked) => lock = relocked,
                        None => return Ok((run.report, std::mem::take(&mut run.logs))),
                    }
                }
            }
        }
    }

    /// Everything a sync with `relay` works on, loaded from the store.
    fn new_run(&self, relay: &RelayAddr, mode: SyncMode, report: SyncReport) -> Result<Run<'_>> {
        let docs: Vec<DocRow> = self
            .store
            .docs()?
            .into_iter()
            .filter(|d| relay_of(d).map(|r| &r == relay).unwrap_or(false))
            .collect();
        Ok(Run {
            client: self,
            session: self.session_with(relay, &docs)?,
            docs: docs
                .iter()
                .map(|d| parse_doc(&d.doc))
                .collect::<Result<_>>()?,
            caught_up: BTreeSet::new(),
            erased: BTreeSet::new(),
            logs_wanted: BTreeSet::new(),
            logs: BTreeMap::new(),
            report: SyncReport {
                docs: docs.len(),
                ..report
            },
            announce: match mode {
                SyncMode::Watch => Some(self.identity()?.name.into_bytes()),
                SyncMode::Once { .. } => None,
            },
            greeted: BTreeSet::new(),
            failed: std::collections::BTreeMap::new(),
            deferred_at: std::collections::BTreeMap::new(),
            presented: None,
            unsnapshottable: BTreeSet::new(),
            finding: self
                .store
                .device_joins(&relay.to_string())?
                .into_iter()
                .filter_map(|(invite, secret, kind)| {
                    let secret: [u8; 32] = secret.as_slice().try_into().ok()?;
                    let secret = InviteSecret::from_bytes(secret);
                    (secret.id().to_string() == invite)
                        .then(|| (secret.id(), (secret, DeviceJoinKind::parse(&kind))))
                })
                .collect(),
            person_known: self.person_of_store()?.is_some(),
            recovery: self.recovery_of_store()?,
        })
    }

    /// Completes when another process asks this live sync to step aside.
    async fn pause_request(&self) {
        while !self.pause_requested() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Let go of the lock so another process of this device can change sync
    /// state, then take it back and reload `run` from the store (the other
    /// process may have added journals or invites). `None` if `stop`
    /// completed meanwhile.
    async fn step_aside<'a>(
        &'a self,
        lock: SyncLock,
        run: &mut Run<'a>,
        relay: &RelayAddr,
        mode: SyncMode,
        stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        on_event: &mut impl FnMut(ClientEvent),
    ) -> Result<Option<SyncLock>> {
        drop(lock);
        on_event(ClientEvent::Paused);
        let lock = tokio::select! {
            lock = self.relock_after_pause() => lock?,
            _ = stop.as_mut() => return Ok(None),
        };
        on_event(ClientEvent::Resumed);
        let report = std::mem::take(&mut run.report);
        *run = self.new_run(relay, mode, report)?;
        run.seal_local()?;
        Ok(Some(lock))
    }
}

enum Outcome {
    Done,
    Dropped(String),
    /// Another process of this device asked for the sync lock.
    Paused,
}

struct Run<'a> {
    client: &'a Client,
    session: ClientSession,
    docs: Vec<DocId>,
    caught_up: BTreeSet<DocId>,
    /// Documents erased in this run (deleted by their owner, or left).
    erased: BTreeSet<DocId>,
    /// Documents whose access log to ask for once connected.
    logs_wanted: BTreeSet<DocId>,
    /// The access logs received, their signatures verified.
    logs: BTreeMap<DocId, (AccessLog, SignedAccessLog)>,
    report: SyncReport,
    /// In a live session, what this device announces as its presence.
    announce: Option<Vec<u8>>,
    /// Devices whose presence we answered on this connection.
    greeted: BTreeSet<(DocId, DeviceId)>,
    /// Documents the relay refused, with its reason.
    /// Whether the refusal is final (not allowed) or the relay asked to retry.
    failed: std::collections::BTreeMap<DocId, (String, bool)>,
    /// When the relay last asked to retry a document later: a one-off sync
    /// gives up on it after [`DEFERRED_GRACE`] without progress (an ack
    /// clears it: a membership rebase, say, resends what was refused).
    deferred_at: std::collections::BTreeMap<DocId, std::time::Instant>,
    /// The key the relay presented in this connection's challenge; pinned
    /// only once the relay has welcomed this device.
    presented: Option<DeviceId>,
    /// Documents too large to snapshot in one envelope: not tried again
    /// in this run.
    unsnapshottable: BTreeSet<DocId>,
    /// Device links and recovery codes being redeemed through this relay,
    /// by invite id: asked about once connected, until the relay answers.
    finding: BTreeMap<InviteId, (InviteSecret, DeviceJoinKind)>,
    /// Whether the store names this device's person (a linked or recovered
    /// device learns it from the first journal it joins).
    person_known: bool,
    /// The person's recovery invite, as this device knows it.
    recovery: Option<InviteId>,
}

impl Client {
    /// Dials `relay`: TLS for `wss://` with the roots this device trusts
    /// (see `tls`), plain for `ws://`.
    async fn connect(&self, relay: &RelayAddr) -> Result<Ws> {
        use tokio_tungstenite::Connector;
        let connector = if relay.tls() {
            let extra: Vec<Vec<u8>> = self
                .store
                .trusted_cas()?
                .into_iter()
                .map(|c| c.der)
                .collect();
            let config = crate::tls::client_config(&extra).map_err(|problem| ClientError::Tls {
                relay: relay.to_string(),
                problem,
            })?;
            Connector::Rustls(config)
        } else {
            Connector::Plain
        };
        let attempt = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async_tls_with_config(
                relay.url(),
                None,
                true,
                Some(connector),
            ),
        );
        match attempt.await {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => match crate::tls::problem(&e) {
                Some(problem) => Err(ClientError::Tls {
                    relay: relay.to_string(),
                    problem,
                }),
                None if !relay.tls() && crate::tls::not_http(&e) => Err(ClientError::Relay {
                    relay: relay.to_string(),
                    reason: format!(
                        "cannot connect: it did not answer in plain HTTP; if it serves TLS, \
                         address it as wss://{}:{}",
                        relay.host(),
                        relay.port()
                    ),
                }),
                None => Err(ClientError::Relay {
                    relay: relay.to_string(),
                    reason: format!("cannot connect: {}", unreachable_reason(&e)),
                }),
            },
            Err(_) => Err(ClientError::Relay {
                relay: relay.to_string(),
                reason: "cannot connect: timed out".into(),
            }),
        }
    }
}

impl Run<'_> {
    /// Seal local edits waiting in the store into outbox envelopes.
    fn seal_local(&mut self) -> Result<Vec<Message>> {
        let mut sends = Vec::new();
        for (id, doc_hex, payload) in self.client.store.unsealed()? {
            let Ok(doc) = parse_doc(&doc_hex) else {
                continue;
            };
            if !self.docs.contains(&doc) {
                continue;
            }
            let out = match self.session.publish(doc, &payload, &mut OsRng) {
                Ok(out) => out,
                Err(e) => {
                    // This device may not write here (a viewer, a removed member, no
                    // key yet): keep the edit aside instead of blocking every sync.
                    let me = self.session.device_id().to_string();
                    let reason = format!("local edit not sent: {e}");
                    self.client.store.write(|tx| {
                        rows::quarantine(tx, &doc_hex, &me, 0, &reason, &payload, now_ms() as i64)?;
                        rows::drop_unsealed(tx, id)
                    })?;
                    self.report.quarantined += 1;
                    continue;
                }
            };
            sends.extend(out.send);
            let state = self
                .session
                .persisted(&doc)
                .ok_or_else(|| ClientError::UnknownDoc(doc_hex.clone()))?;
            let me = self.session.device_id();
            let seq = self.session.own_seq(&doc);
            let changes = crate::changes::decode_batch(&payload, &me).unwrap_or_default();
            let clock = crate::compact::encode_clock(&crate::compact::clock_of(&changes));
            self.client.store.write(|tx| {
                rows::put_sync_state(tx, &doc_hex, &persist::encode(&state))?;
                rows::record_coverage(tx, &doc_hex, &me.to_string(), seq, &clock)?;
                rows::drop_unsealed(tx, id)
            })?;
        }
        Ok(sends)
    }

    /// Publishes a snapshot of each document that needs one (see
    /// `compact`): over a quota the relay refused an edit for, in place of
    /// the refused envelopes; or, once caught up with nothing in flight,
    /// past [`crate::SNAPSHOT_AFTER_BYTES`] of history since the last.
    fn compact_due(&mut self) -> Result<Vec<Message>> {
        let me = self.session.device_id();
        let mut sends = Vec::new();
        for doc in self.docs.clone() {
            if self.failed.contains_key(&doc) || self.unsnapshottable.contains(&doc) {
                continue;
            }
            let writer = self
                .session
                .membership(&doc)
                .is_some_and(|m| m.can_write(&me));
            let in_place = self.session.compaction_wanted(&doc);
            let due = self.caught_up.contains(&doc)
                && self.session.unacked(&doc) == 0
                && self.session.history_bytes(&doc)
                    > self
                        .client
                        .snapshot_after
                        .load(std::sync::atomic::Ordering::Relaxed);
            if !writer || !(in_place || due) {
                continue;
            }
            let doc_hex = doc.to_string();
            let Some(payload) = self.client.snapshot_payload(&doc_hex)? else {
                // Too large for one envelope (or nothing to snapshot).
                self.unsnapshottable.insert(doc);
                if in_place {
                    self.failed.insert(
                        doc,
                        (
                            "the journal is over the relay's quota and too large to compact".into(),
                            true,
                        ),
                    );
                }
                continue;
            };
            let first_withdrawn = self
                .session
                .persisted(&doc)
                .and_then(|p| p.outbox.first().map(|e| e.header_unverified().seq));
            let out = if in_place {
                self.session
                    .publish_snapshot_in_place(doc, &payload, &mut OsRng)?
            } else {
                self.session.publish_snapshot(doc, &payload, &mut OsRng)?
            };
            let covers = out.send.iter().find_map(|m| match m {
                Message::Publish { envelope } => match &envelope.header_unverified().kind {
                    starling_protocol::envelope::EnvelopeKind::Snapshot { covers } => {
                        Some(covers.clone())
                    }
                    _ => None,
                },
                _ => None,
            });
            let seq = self.session.own_seq(&doc);
            let folds = self.client.snapshot_folds(
                &doc_hex,
                me,
                seq,
                covers.as_deref().unwrap_or_default(),
                &payload,
            )?;
            let state = self
                .session
                .persisted(&doc)
                .ok_or_else(|| ClientError::UnknownDoc(doc_hex.clone()))?;
            self.client.store.write(|tx| {
                if let (true, Some(first)) = (in_place, first_withdrawn) {
                    rows::drop_coverage_from(tx, &doc_hex, &me.to_string(), first)?;
                }
                for (d, author, s, clock) in &folds {
                    rows::fold_coverage(tx, d, author, *s, clock)?;
                }
                rows::put_sync_state(tx, &doc_hex, &persist::encode(&state))
            })?;
            tracing::info!(doc = %doc, bytes = payload.len(), in_place, "published a snapshot");
            sends.extend(out.send);
        }
        Ok(sends)
    }

    fn done(&self) -> bool {
        let me = self.session.device_id();
        self.session.is_ready()
            && self.finding.is_empty()
            && self.logs_wanted.iter().all(|d| {
                self.logs.contains_key(d) || self.failed.contains_key(d) || self.erased.contains(d)
            })
            && self.docs.iter().all(|d| {
                if self.erased.contains(d) {
                    return true;
                }
                match self.failed.get(d) {
                    Some((_, true)) => return true,
                    Some((_, false))
                        if self
                            .deferred_at
                            .get(d)
                            .is_none_or(|t| t.elapsed() >= DEFERRED_GRACE) =>
                    {
                        return true;
                    }
                    _ => {}
                }
                let removed = self
                    .session
                    .membership(d)
                    .is_some_and(|m| m.role(&me).is_none())
                    && self
                        .session
                        .persisted(d)
                        .is_some_and(|s| s.invite.is_none() && s.op_outbox.is_empty());
                if removed {
                    return true;
                }
                let state = self.session.persisted(d);
                self.caught_up.contains(d)
                    && self.session.unacked(d) == 0
                    && state.is_some_and(|s| s.op_outbox.is_empty() && s.invite.is_none())
            })
    }

    async fn connected(
        &mut self,
        mut ws: Ws,
        relay: &RelayAddr,
        mode: SyncMode,
        deadline: Option<tokio::time::Instant>,
        stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        on_event: &mut impl FnMut(ClientEvent),
    ) -> Result<Outcome> {
        self.caught_up.clear();
        self.greeted.clear();
        let out = self.session.handle_connected(now_ms());
        if let Err(e) = send_all(&mut ws, out.send).await {
            return Ok(Outcome::Dropped(e));
        }
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            let snapshots = self.compact_due()?;
            if let Err(e) = send_all(&mut ws, snapshots).await {
                return Ok(Outcome::Dropped(e));
            }
            if matches!(mode, SyncMode::Once { .. }) && self.done() {
                let _ = ws.close(None).await;
                return Ok(Outcome::Done);
            }
            let sleep_until =
                deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                frame = ws.next() => match read(frame) {
                    Read::Frame(bytes) => {
                        let mut ended = None;
                        let out = if self.session.is_ready() {
                            // Everything that already arrived is taken
                            // with it: its envelopes verified as one
                            // ed25519 batch, stored in one transaction,
                            // each document's sync state encoded once (a
                            // catch-up is many frames at once).
                            let mut frames = vec![bytes];
                            while frames.len() < BATCH_FRAMES && ended.is_none() {
                                let Some(more) = ws.next().now_or_never() else {
                                    break;
                                };
                                match read(more) {
                                    Read::Frame(more) => frames.push(more),
                                    Read::Other => {}
                                    Read::Ended(why) => ended = Some(why),
                                }
                            }
                            let frames: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
                            self.session.handle_frames(now_ms(), &frames)
                        } else {
                            self.check_relay_key(relay, &bytes)?;
                            self.session.handle_frame(now_ms(), &bytes)
                        };
                        let sends = self.handle(out, relay, on_event)?;
                        if let Some(why) = ended {
                            return Ok(Outcome::Dropped(why));
                        }
                        if let Err(e) = send_all(&mut ws, sends).await {
                            return Ok(Outcome::Dropped(e));
                        }
                    }
                    Read::Other => {}
                    Read::Ended(why) => return Ok(Outcome::Dropped(why)),
                },
                _ = tick.tick() => {
                    if matches!(mode, SyncMode::Watch) && self.client.pause_requested() {
                        let _ = ws.close(None).await;
                        return Ok(Outcome::Paused);
                    }
                    // Edits made meanwhile by other processes of this device.
                    let sends = self.seal_local()?;
                    if let Err(e) = send_all(&mut ws, sends).await {
                    return Ok(Outcome::Dropped(e));
                }
                }
                _ = tokio::time::sleep_until(sleep_until) => {
                    return Err(ClientError::Timeout(relay.to_string()));
                }
                _ = stop.as_mut() => {
                    let _ = ws.close(None).await;
                    return Ok(Outcome::Done);
                }
            }
        }
    }
}

impl Run<'_> {
    /// Hold the relay to the key pinned for it, and remember the key it
    /// presents so [`Run::pin_presented`] can pin it once authentication has
    /// checked out (trust on first use). Only handshake frames are looked
    /// at; anything else is left to the session.
    fn check_relay_key(&mut self, relay: &RelayAddr, bytes: &[u8]) -> Result<()> {
        let Ok(Message::Challenge {
            relay: presented, ..
        }) = wire::decode(bytes)
        else {
            return Ok(());
        };
        match self.client.pinned_relay(relay)? {
            Some(pinned) if pinned != presented => Err(ClientError::RelayKeyChanged {
                relay: relay.to_string(),
                pinned: pinned.to_string(),
                presented: presented.to_string(),
            }),
            Some(_) => Ok(()),
            None => {
                self.presented = Some(presented);
                Ok(())
            }
        }
    }

    /// The relay welcomed this device: pin the key it presented, if this is
    /// the first time. Never on a refused or abandoned handshake.
    pub(super) fn pin_presented(&mut self, relay: &RelayAddr) -> Result<()> {
        let Some(presented) = self.presented.take() else {
            return Ok(());
        };
        self.client.store.write(|tx| {
            let (addr, key) = (relay.to_string(), presented.to_string());
            Ok(rows::pin_relay(tx, &addr, &key, now_ms() as i64)?)
        })
    }
}

/// What one read of the relay's socket brought.
enum Read {
    /// A frame of the protocol.
    Frame(tokio_tungstenite::tungstenite::Bytes),
    /// Something else (a ping, a pong): nothing to do.
    Other,
    /// The connection ended, and why.
    Ended(String),
}

fn read(
    frame: Option<std::result::Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
) -> Read {
    match frame {
        Some(Ok(WsMessage::Binary(bytes))) => Read::Frame(bytes),
        Some(Ok(WsMessage::Close(frame))) => {
            let reason = frame.map_or_else(|| "closed".into(), |f| f.reason.to_string());
            Read::Ended(format!("the relay closed the connection ({reason})"))
        }
        Some(Ok(_)) => Read::Other,
        Some(Err(e)) => Read::Ended(e.to_string()),
        None => Read::Ended("the connection closed".into()),
    }
}

/// Send messages in order; a failure means the connection is gone.
async fn send_all(ws: &mut Ws, messages: Vec<Message>) -> std::result::Result<(), String> {
    for msg in messages {
        let bytes = wire::encode(&msg).map_err(|e| format!("cannot encode a message: {e}"))?;
        ws.send(WsMessage::Binary(bytes.into()))
            .await
            .map_err(|e| format!("sending failed: {e}"))?;
    }
    Ok(())
}

/// Why a relay could not be reached, in words (the system's own text only
/// for what has no plainer name).
fn unreachable_reason(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use std::io::ErrorKind as K;
    use tokio_tungstenite::tungstenite::Error as E;
    let E::Io(io) = e else {
        return e.to_string();
    };
    match io.kind() {
        K::ConnectionRefused => {
            "nothing is listening at that address (is the relay running?)".into()
        }
        K::TimedOut => "no answer".into(),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => {
            "the connection was closed at once".into()
        }
        K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => {
            "this device has no route to it (is it offline?)".into()
        }
        _ if io.to_string().contains("failed to lookup address") => {
            "no such host name (check the address, or the network)".into()
        }
        _ => io.to_string(),
    }
}
