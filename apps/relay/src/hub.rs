//! The hub: one task that owns the [`RelayCore`] and carries out its
//! actions.
//!
//! Connection tasks send it decoded messages, with publishes already
//! verified (in parallel, in batches; see `conn`). The core decides; when
//! its actions touch storage (or earlier jobs are still committing) they
//! are queued, and everything queued while the hub drains its inbox goes to
//! the store thread as one job. The messages they send are released only
//! after the batch holding the job has committed, in order, as one batch per
//! connection. Actions that touch no storage while nothing is in flight are
//! sent at once.
//!
//! `deliver` frames are encoded here once per envelope, before the commit,
//! and shared by every subscriber's batch.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use starling_protocol::relay::{CheckedPublish, ConnId, RelayAction, RelayCore};
use starling_protocol::wire::{self, ErrorCode, Message, RetryClass};
use starling_protocol::{DeviceId, DocId};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use crate::allowlist::SharedAllowList;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::outbox::{Batch, Outbound, Outbox, Refused};
use crate::quota::Usage;
use crate::store::{
    AccessRow, DELETED, Freed, Fresh, Head, Job, Loaded, NOWHERE, Output, Peer, Store, StoreEvent,
    Sweep, Work,
};
use starling_protocol::wire::AccessKind;

/// Most hub events handled before the queued work goes to the store.
const DRAIN: usize = 256;
/// Most jobs handed to the store thread and not yet committed: past it the
/// hub stops reading events, connections stop being read, and a slow disk
/// slows the clients down instead of filling memory.
const MAX_INFLIGHT: usize = 64;
/// How often the access log counts gathered in memory are written (a crash
/// loses at most this much of the log, never anything acknowledged).
const ACCESS_FLUSH: Duration = Duration::from_secs(10);
/// When the first retention sweep runs after start-up, and how often after.
const SWEEP_FIRST: Duration = Duration::from_secs(60);
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// How often a relay whose storage failed checks whether it recovered.
const HEALTH_CHECK: Duration = Duration::from_secs(2);

/// Why the relay's storage is not healthy, if it is not: what `/healthz`
/// reports.
pub(crate) type SharedHealth = Arc<RwLock<Option<String>>>;

/// The state of the relay's storage.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fault {
    /// Reads and writes work.
    None,
    /// Writes fail (a full or failing disk): writes are refused up front,
    /// reads are served, a probe every [`HEALTH_CHECK`] looks for recovery.
    ReadOnly(String),
    /// The stored state could not be loaded after a failure: every request
    /// is refused until a reload works.
    Down(String),
}

/// What a connection task sends to the hub.
#[derive(Debug)]
pub(crate) enum HubEvent {
    /// A connection opened; `outbox` carries what the hub sends it.
    Connect { conn: ConnId, outbox: Outbox },
    /// A message arrived. (Messages read together are queued together, one
    /// channel slot each, so the channel bounds the messages waiting.) The
    /// first of them carries the intake they hold until committed.
    Message {
        conn: ConnId,
        msg: Inbound,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// The connection closed.
    Disconnect { conn: ConnId },
    /// The allow-list was reloaded: connections of devices no longer on it
    /// are closed.
    AllowListChanged,
    /// The connection wrote a piece of its replay of `doc`: send the next.
    ReplayNext { conn: ConnId, doc: DocId },
    /// Run the retention sweep now, as if the clock said `now`; answers
    /// how many documents it deleted.
    Sweep {
        now: u64,
        reply: tokio::sync::oneshot::Sender<usize>,
    },
    /// Other instances sharing the database committed to these documents.
    Stale(Vec<DocId>),
    /// Every document's heads in the shared database (ops, last doc seq),
    /// and every deleted document: any that differ from ours are stale.
    Heads {
        heads: Vec<(DocId, (u64, u64))>,
        deleted: Vec<DocId>,
    },
    /// What other instances committed, read back (see [`Peer::read`]).
    Fresh(Vec<Fresh>),
    /// What one commit of another instance added to `doc` after the heads
    /// `before`, carried by its notification.
    Committed {
        doc: DocId,
        before: (u64, u64),
        rows: Box<starling_protocol::relay::Committed>,
    },
    /// A member's presence sent through another instance.
    Presence {
        doc: DocId,
        from: Box<DeviceId>,
        blob: Vec<u8>,
    },
}

/// Keeping in step with the other instances on a shared database.
#[derive(Debug)]
struct Sharing {
    peer: Peer,
    /// Documents other instances changed, to read back.
    stale: HashSet<DocId>,
    /// Documents being read back.
    reading: HashSet<DocId>,
    /// Jobs in flight writing each document.
    busy: HashMap<DocId, usize>,
    /// The documents each job in flight writes and the connections it
    /// answers, oldest first.
    jobs: VecDeque<(Vec<DocId>, Vec<ConnId>)>,
    /// Jobs in flight answering each connection.
    answering: HashMap<ConnId, usize>,
    /// Our view and the database's disagree: close every connection and
    /// load everything again.
    resync: bool,
}

impl Sharing {
    fn begin(&mut self, docs: Vec<DocId>, conns: Vec<ConnId>) {
        for d in &docs {
            *self.busy.entry(*d).or_default() += 1;
        }
        for c in &conns {
            *self.answering.entry(*c).or_default() += 1;
        }
        self.jobs.push_back((docs, conns));
    }

    fn finish(&mut self, jobs: usize) {
        fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, k: K) {
            if let Some(n) = map.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&k);
                }
            }
        }
        for _ in 0..jobs {
            let (docs, conns) = self.jobs.pop_front().unwrap_or_default();
            for d in docs {
                release(&mut self.busy, d);
            }
            for c in conns {
                release(&mut self.answering, c);
            }
        }
    }
}

/// The documents `work` writes, and the heads each of them moves from and
/// to: `core` holds the state after the work.
fn job_heads(core: &RelayCore, work: &[Work]) -> (Vec<Head>, Vec<DocId>) {
    let mut added: HashMap<DocId, (u64, u64)> = HashMap::new();
    let mut writes: Vec<DocId> = Vec::new();
    let mut erased: HashMap<DocId, (u64, u64)> = HashMap::new();
    for w in work {
        let Work::Store(a) = w else { continue };
        match &**a {
            RelayAction::StoreEnvelope { doc, .. } => {
                added.entry(*doc).or_default().1 += 1;
                writes.push(*doc);
            }
            RelayAction::StoreMembershipOp { doc, .. } => {
                added.entry(*doc).or_default().0 += 1;
                writes.push(*doc);
            }
            RelayAction::Compact { doc, .. } => writes.push(*doc),
            RelayAction::EraseDoc { doc, heads, .. } => {
                erased.insert(*doc, *heads);
                writes.push(*doc);
            }
            _ => {}
        }
    }
    writes.sort_unstable();
    writes.dedup();
    let mut heads: Vec<Head> = added
        .iter()
        .map(|(doc, (ops, envelopes))| {
            // Erased at the end of the job: from what was stored then.
            let (last, after) = match erased.get(doc) {
                Some(h) => (Some(*h), DELETED),
                None => (core.heads(doc), core.heads(doc).unwrap_or(NOWHERE)),
            };
            let before = match last {
                Some(h) => (h.0.saturating_sub(*ops), h.1.saturating_sub(*envelopes)),
                // Gone from this instance while its work waited (a reload):
                // the work must not commit.
                None => NOWHERE,
            };
            Head {
                doc: *doc,
                before,
                after,
            }
        })
        .collect();
    heads.extend(
        erased
            .into_iter()
            .filter(|(doc, _)| !added.contains_key(doc))
            .map(|(doc, before)| Head {
                doc,
                before,
                after: DELETED,
            }),
    );
    (heads, writes)
}

/// One incoming message.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A decoded message (a `publish` among them is verified by the core).
    Msg(Box<Message>),
    /// A `publish` whose signature the connection task checked.
    Publish(Box<CheckedPublish>),
}

pub(crate) struct Hub {
    core: RelayCore,
    conns: HashMap<ConnId, Outbox>,
    store: Store,
    /// Jobs submitted and not yet committed.
    inflight: usize,
    /// Work waiting to be submitted as one job, in order.
    pending: Vec<Work>,
    /// The intake held by the messages behind `pending`.
    pending_permits: Vec<OwnedSemaphorePermit>,
    fault: Fault,
    health: SharedHealth,
    usage: Usage,
    allow: SharedAllowList,
    limits: Limits,
    metrics: Arc<Metrics>,
    /// Access log counts not yet written.
    access: Access,
    policy: Policy,
    /// A sweep asked for (by [`HubEvent::Sweep`]), with where to answer.
    sweep_asked: Option<(u64, tokio::sync::oneshot::Sender<usize>)>,
    /// With other instances on a shared database.
    shared: Option<Sharing>,
}

/// How long the relay keeps what it records, from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Days of access log kept (at least `retention_days`, so a document's
    /// last activity is known for as long as retention looks back).
    pub access_log_days: u64,
    /// Documents untouched for this many days are deleted; `None`: kept.
    pub retention_days: Option<u64>,
}

const DAY_MS: u64 = 24 * 3600 * 1000;
const HOUR_MS: u64 = 3600 * 1000;

impl Policy {
    fn log_days(&self) -> u64 {
        self.access_log_days.max(self.retention_days.unwrap_or(0))
    }

    /// The earliest hour the access log still holds at `now`.
    pub fn log_since(&self, now: u64) -> u64 {
        let before = now.saturating_sub(self.log_days().saturating_mul(DAY_MS));
        before - before % HOUR_MS
    }

    fn sweep(&self, now: u64) -> Sweep {
        Sweep {
            log_before: self.log_since(now),
            idle_before: self
                .retention_days
                .map(|d| now.saturating_sub(d.saturating_mul(DAY_MS))),
        }
    }
}

/// Access log counts gathered in memory, written with the next job every
/// few seconds (and before a log is read): one row per document, device,
/// kind and hour.
#[derive(Debug, Default)]
pub(crate) struct Access {
    counts: HashMap<(DocId, DeviceId, AccessKind, u64), (u64, u64)>,
}

impl Access {
    fn record(&mut self, doc: DocId, device: DeviceId, kind: AccessKind, n: u64) {
        let now = now_ms();
        let e = self
            .counts
            .entry((doc, device, kind, now - now % HOUR_MS))
            .or_default();
        e.0 += n;
        e.1 = now;
    }

    fn forget(&mut self, doc: &DocId) {
        self.counts.retain(|k, _| k.0 != *doc);
    }

    fn take(&mut self) -> Vec<AccessRow> {
        self.counts
            .drain()
            .map(|((doc, device, kind, hour), (count, last_at))| AccessRow {
                doc,
                device,
                kind,
                hour,
                count,
                last_at,
            })
            .collect()
    }
}

use starling_protocol::now_ms;

fn needs_store(actions: &[RelayAction]) -> bool {
    actions.iter().any(|a| {
        !matches!(
            a,
            RelayAction::Send { .. } | RelayAction::Ack { .. } | RelayAction::Close { .. }
        )
    })
}

/// Turns the core's actions into store work and outputs; a fan-out's
/// `deliver` is encoded once and shared.
fn prepare(actions: Vec<RelayAction>, out: &mut Vec<Work>) {
    let mut encoded: Option<(DocId, u64, Bytes)> = None;
    for a in actions {
        let w = match a {
            RelayAction::Send {
                conn,
                msg:
                    Message::Deliver {
                        doc,
                        doc_seq,
                        envelope,
                    },
            } => match &encoded {
                Some((d, s, b)) if *d == doc && *s == doc_seq => Output::Frame(conn, b.clone()),
                _ => {
                    let m = Message::Deliver {
                        doc,
                        doc_seq,
                        envelope,
                    };
                    match wire::encode(&m) {
                        Ok(b) => {
                            let b = Bytes::from(b);
                            encoded = Some((doc, doc_seq, b.clone()));
                            Output::Frame(conn, b)
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot encode a delivery");
                            continue;
                        }
                    }
                }
            },
            RelayAction::Send { conn, msg } => Output::Msg(conn, Box::new(msg)),
            RelayAction::Ack { conn, entry } => Output::Ack(conn, Box::new(entry)),
            RelayAction::Close { conn } => Output::Close(conn),
            other => {
                out.push(Work::Store(Box::new(other)));
                continue;
            }
        };
        out.push(Work::Out(w));
    }
}

impl Hub {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: RelayCore,
        store: Store,
        loaded: Loaded,
        allow: SharedAllowList,
        limits: Limits,
        metrics: Arc<Metrics>,
        health: SharedHealth,
        policy: Policy,
        peer: Option<Peer>,
    ) -> Self {
        let mut hub = Hub {
            core,
            conns: HashMap::new(),
            store,
            inflight: 0,
            pending: Vec::new(),
            pending_permits: Vec::new(),
            fault: Fault::None,
            health,
            usage: Usage::default(),
            allow,
            limits,
            metrics,
            access: Access::default(),
            policy,
            sweep_asked: None,
            shared: peer.map(|peer| Sharing {
                peer,
                stale: HashSet::new(),
                reading: HashSet::new(),
                busy: HashMap::new(),
                jobs: VecDeque::new(),
                answering: HashMap::new(),
                resync: false,
            }),
        };
        hub.restore(loaded);
        hub
    }

    /// Takes the stored state as the relay's (at start, and after a failed
    /// commit), keeping connections. A document that does not load or
    /// verify is refused; the others are served.
    fn restore(&mut self, loaded: Loaded) {
        self.usage = Usage::from_loaded(&loaded);
        let envelopes: usize = loaded.docs.iter().map(|d| d.metas.len()).sum();
        let count = loaded.docs.len();
        let docs = loaded
            .docs
            .into_iter()
            .map(|d| (d.doc, d.ops, d.metas))
            .collect();
        let mut damaged = loaded.damaged;
        for (doc, e) in self.core.reload_docs(docs, loaded.tombstones) {
            // Stored ops were verified when appended: this is corruption.
            damaged.push((doc, format!("its membership log does not verify: {e}")));
        }
        for (doc, why) in damaged {
            self.damaged(doc, &why);
        }
        tracing::info!(
            docs = count,
            envelopes,
            damaged = self.core.damaged_count(),
            "restored relay state"
        );
    }

    /// Takes `doc` out of service: its stored rows are damaged.
    fn damaged(&mut self, doc: DocId, why: &str) {
        tracing::error!(%doc, why, "document damaged at the relay: refused until its operator restores the database from a backup");
        let actions = self.core.mark_damaged(doc);
        self.metrics
            .damaged_docs
            .set(self.core.damaged_count() as i64);
        self.carry_out(actions);
    }

    fn set_fault(&mut self, fault: Fault) {
        if fault == self.fault {
            return;
        }
        match &fault {
            Fault::None => tracing::info!("storage recovered: taking writes again"),
            Fault::ReadOnly(why) => {
                tracing::error!(
                    why,
                    "storage refuses writes: refusing writes, serving reads, checking every {}s",
                    HEALTH_CHECK.as_secs()
                )
            }
            Fault::Down(why) => {
                tracing::error!(
                    why,
                    "storage cannot be loaded: refusing every request, retrying every {}s",
                    HEALTH_CHECK.as_secs()
                )
            }
        }
        let reason = match &fault {
            Fault::None => None,
            Fault::ReadOnly(why) => Some(format!("storage refuses writes: {why}")),
            Fault::Down(why) => Some(format!("storage cannot be loaded: {why}")),
        };
        if let Ok(mut h) = self.health.write() {
            *h = reason;
        }
        self.metrics.storage_ok.set(i64::from(fault == Fault::None));
        self.fault = fault;
    }

    /// Closes connections (their work was lost with a failed batch; they
    /// resume from their cursors).
    fn close(&mut self, conns: impl IntoIterator<Item = ConnId>) {
        for conn in conns {
            if let Some(outbox) = self.conns.remove(&conn) {
                outbox.close("relay storage error; try again");
                self.core.handle_disconnect(conn);
            }
        }
    }

    /// Loads the stored state again after a failed batch. Until it loads,
    /// nothing is served (the relay's state may claim what the disk lost).
    async fn reload(&mut self, fault: Option<String>) {
        match self.store.load().await {
            Ok(loaded) => {
                self.restore(loaded);
                self.set_fault(fault.map_or(Fault::None, Fault::ReadOnly));
            }
            Err(e) => {
                let all: Vec<ConnId> = self.conns.keys().copied().collect();
                self.close(all);
                self.set_fault(Fault::Down(e.to_string()));
            }
        }
    }

    /// While storage is at fault: whether it recovered.
    async fn check_health(&mut self) {
        if let Fault::Down(why) = &self.fault {
            let why = why.clone();
            self.reload(Some(why)).await;
        }
        if let Fault::ReadOnly(_) = &self.fault {
            match self.store.probe().await {
                Ok(()) => self.set_fault(Fault::None),
                Err(e) => {
                    tracing::debug!(error = %e, "storage still refuses writes");
                    if let Some(why) = crate::store::fault_reason(&e) {
                        self.set_fault(Fault::ReadOnly(why));
                    }
                }
            }
        }
    }

    /// Why storage refuses `inbound` now, if it does.
    fn fault_refusal(&self, inbound: &Inbound) -> Option<Message> {
        let (write, doc) = match inbound {
            Inbound::Publish(p) => (true, Some(p.envelope().header_unverified().doc)),
            Inbound::Msg(m) => match &**m {
                Message::Publish { envelope } => (true, Some(envelope.header_unverified().doc)),
                Message::MembershipPublish { doc, .. } | Message::InviteRedeem { doc, .. } => {
                    (true, Some(*doc))
                }
                Message::Hello { .. } | Message::Authenticate { .. } => return None,
                _ => (false, None),
            },
        };
        let text = match &self.fault {
            Fault::None => return None,
            Fault::ReadOnly(_) if !write => return None,
            Fault::ReadOnly(_) => {
                "the relay cannot store anything right now (its storage is full or failing); keep your changes and send them later"
            }
            Fault::Down(_) => "the relay cannot read its storage right now; try again later",
        };
        Some(Message::error(
            ErrorCode::Busy,
            RetryClass::RetryLater,
            doc,
            text,
        ))
    }

    fn allowed(&self, device: &DeviceId) -> bool {
        self.allow
            .read()
            .map(|g| g.as_ref().is_none_or(|s| s.contains(device)))
            .unwrap_or(false)
    }

    fn on_event(&mut self, ev: HubEvent) {
        match ev {
            HubEvent::Connect { conn, outbox } => {
                self.core.handle_connect(conn);
                self.conns.insert(conn, outbox);
            }
            HubEvent::Disconnect { conn } => {
                self.core.handle_disconnect(conn);
                self.conns.remove(&conn);
            }
            HubEvent::AllowListChanged => {
                // The core's record of who each connection is, not what it
                // last said in a `Hello`.
                let removed: Vec<ConnId> = self
                    .conns
                    .keys()
                    .copied()
                    .filter(|c| self.core.device_of(*c).is_some_and(|d| !self.allowed(&d)))
                    .collect();
                for conn in removed {
                    tracing::info!(conn = conn.0, "device removed from the allow-list; closing");
                    let e = Message::error(
                        ErrorCode::NotAllowed,
                        RetryClass::Unauthorised,
                        None,
                        "device removed from the allow-list",
                    );
                    self.refuse(conn, "not_allowed", e, true);
                }
            }
            HubEvent::Message { conn, msg, permit } => {
                self.on_inbound(conn, msg);
                self.pending_permits.extend(permit);
            }
            HubEvent::ReplayNext { conn, doc } => {
                if self.conns.contains_key(&conn) {
                    let actions = self.core.handle_replay_next(conn, doc);
                    self.carry_out(actions);
                }
            }
            // Run once the inbox is drained (it awaits the store).
            HubEvent::Sweep { now, reply } => self.sweep_asked = Some((now, reply)),
            HubEvent::Stale(docs) => {
                if let Some(s) = &mut self.shared {
                    s.stale.extend(docs);
                }
            }
            HubEvent::Heads { heads, deleted } => {
                let Some(s) = &mut self.shared else { return };
                for (doc, h) in heads {
                    if self.core.heads(&doc) != Some(h)
                        && !self.core.is_deleted(&doc)
                        && !self.core.is_damaged(&doc)
                    {
                        s.stale.insert(doc);
                    }
                }
                s.stale
                    .extend(deleted.into_iter().filter(|d| !self.core.is_deleted(d)));
            }
            HubEvent::Fresh(fresh) => {
                for f in fresh {
                    if let Some(s) = &mut self.shared {
                        s.reading.remove(&f.doc());
                    }
                    self.absorb(f);
                }
            }
            HubEvent::Committed { doc, before, rows } => {
                let Some(s) = &mut self.shared else { return };
                // Taken in at once when it follows what this instance has
                // and nothing is being read back; otherwise read back.
                let follows = self.core.heads(&doc).unwrap_or((0, 0)) == before
                    && !self.core.is_deleted(&doc)
                    && !s.reading.contains(&doc)
                    && !s.stale.contains(&doc);
                if follows {
                    self.absorb(Fresh::Rows(doc, *rows));
                } else {
                    s.stale.insert(doc);
                }
            }
            HubEvent::Presence { doc, from, blob } => {
                let actions = self
                    .core
                    .absorb_presence(doc, *from, starling_protocol::Bytes(blob));
                self.carry_out(actions);
            }
        }
    }

    /// Takes in what another instance committed, unless this instance has
    /// work of its own on the document not yet committed (it is read again
    /// after).
    fn absorb(&mut self, fresh: Fresh) {
        let doc = fresh.doc();
        let Some(s) = &mut self.shared else { return };
        let pending = self.pending.iter().any(|w| match w {
            Work::Store(a) => match &**a {
                RelayAction::StoreEnvelope { doc: d, .. }
                | RelayAction::StoreMembershipOp { doc: d, .. }
                | RelayAction::Compact { doc: d, .. }
                | RelayAction::EraseDoc { doc: d, .. } => *d == doc,
                _ => false,
            },
            _ => false,
        });
        if pending || s.busy.contains_key(&doc) {
            s.stale.insert(doc);
            return;
        }
        match fresh {
            Fresh::Deleted(doc, tombstone) => {
                tracing::info!(%doc, "document deleted through another relay instance");
                self.access.forget(&doc);
                for (author, bytes) in self.core.live_bytes(&doc) {
                    self.usage.free(&Freed { doc, author, bytes });
                }
                let actions = self.core.absorb_deleted(doc, *tombstone);
                self.carry_out(actions);
            }
            Fresh::Damaged(doc, why) => self.damaged(doc, &why),
            Fresh::Rows(doc, committed) => {
                match self.core.absorb(doc, committed) {
                    Ok(absorbed) => {
                        for (author, len) in absorbed.stored {
                            self.usage.add(doc, author, len);
                        }
                        for (author, bytes) in absorbed.freed {
                            self.usage.free(&Freed { doc, author, bytes });
                        }
                        let actions = absorbed.actions;
                        // Deliveries to this instance's subscribers are
                        // fetches, as if the envelopes were stored here.
                        self.record_access(&actions);
                        // Nothing here waits for this instance's own
                        // commits, unless a connection it goes to has
                        // earlier answers still waiting (they go first).
                        let waiting: HashSet<ConnId> =
                            crate::store::answered(&self.pending).into_iter().collect();
                        let queue = actions.iter().any(|a| match a {
                            RelayAction::Send { conn, .. } => {
                                waiting.contains(conn)
                                    || self
                                        .shared
                                        .as_ref()
                                        .is_some_and(|s| s.answering.contains_key(conn))
                            }
                            _ => true,
                        });
                        self.carry_out_as(actions, queue);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "this instance's view of a document disagrees with the shared database: reloading");
                        s.resync = true;
                    }
                }
            }
        }
    }

    /// Asks for what other instances committed to the stale documents that
    /// have no work of this instance in flight.
    fn read_stale(&mut self) {
        let Some(s) = &mut self.shared else { return };
        let ready: Vec<DocId> = s
            .stale
            .iter()
            .filter(|d| !s.reading.contains(*d) && !s.busy.contains_key(*d))
            .copied()
            .collect();
        if ready.is_empty() {
            return;
        }
        let mut have = Vec::with_capacity(ready.len());
        for doc in ready {
            s.stale.remove(&doc);
            s.reading.insert(doc);
            have.push((doc, self.core.heads(&doc).unwrap_or((0, 0))));
        }
        s.peer.read(have);
    }

    /// After this instance's view and the shared database disagreed: every
    /// connection is closed (each resumes from its cursor, on any instance),
    /// the work decided on that view is dropped, and once what is in flight
    /// has committed, everything is loaded again.
    async fn resync(&mut self, store_events: &mut mpsc::UnboundedReceiver<StoreEvent>) {
        if let Some(s) = &mut self.shared {
            s.resync = false;
            s.reading.clear();
        }
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        self.close(all);
        self.pending.clear();
        self.pending_permits.clear();
        while self.inflight > 0 {
            match store_events.recv().await {
                Some(ev) => Box::pin(self.on_store(ev)).await,
                None => return,
            }
        }
        let fault = match &self.fault {
            Fault::ReadOnly(why) => Some(why.clone()),
            _ => None,
        };
        self.reload(fault).await;
    }

    fn refuse(&mut self, conn: ConnId, reason: &'static str, msg: Message, close: bool) {
        self.metrics.rejection(reason);
        let mut actions = vec![RelayAction::Send { conn, msg }];
        if close {
            actions.push(RelayAction::Close { conn });
        }
        self.carry_out(actions);
    }

    /// Why a published envelope would exceed a quota, if it would.
    fn quota_refusal(&self, inbound: &Inbound) -> Option<(DocId, &'static str)> {
        let envelope = match inbound {
            Inbound::Publish(p) => p.envelope(),
            Inbound::Msg(m) => match &**m {
                Message::Publish { envelope } => envelope,
                _ => return None,
            },
        };
        if self.core.is_stored(envelope) {
            // A retransmission: re-acknowledged, never refused.
            return None;
        }
        let text = self.usage.refusal(envelope, &self.limits)?;
        Some((envelope.header_unverified().doc, text))
    }

    fn on_inbound(&mut self, conn: ConnId, inbound: Inbound) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        if let Some(e) = self.fault_refusal(&inbound) {
            // Closed too: the device keeps what was refused and sends it
            // again when it reconnects (after backing off), instead of
            // stalling on a gap behind it.
            return self.refuse(conn, "storage_fault", e, true);
        }
        if let Some((doc, text)) = self.quota_refusal(&inbound) {
            let e = Message::error(ErrorCode::TooLarge, RetryClass::TooLarge, Some(doc), text);
            return self.refuse(conn, "quota", e, false);
        }
        let presence = match &inbound {
            Inbound::Msg(m) => match &**m {
                Message::Presence { doc, blob, .. } if self.shared.is_some() => {
                    Some((*doc, blob.0.clone()))
                }
                _ => None,
            },
            Inbound::Publish(_) => None,
        };
        let actions = match inbound {
            Inbound::Publish(p) => self.core.handle_checked_publish(conn, *p),
            Inbound::Msg(msg) => {
                if let Message::Hello { device, .. } = &*msg
                    && !self.allowed(device)
                {
                    let e = Message::error(
                        ErrorCode::NotAllowed,
                        RetryClass::Unauthorised,
                        None,
                        "device not on the allow-list",
                    );
                    return self.refuse(conn, "not_allowed", e, true);
                }
                self.core
                    .handle_message(now_ms(), conn, *msg, &mut rand_core::OsRng)
            }
        };
        if let (Some((doc, blob)), Some(s), Some(device)) =
            (presence, &self.shared, self.core.device_of(conn))
            && !actions.iter().any(|a| {
                matches!(
                    a,
                    RelayAction::Send {
                        msg: Message::Error { .. },
                        ..
                    }
                )
            })
        {
            s.peer.presence(doc, device, blob);
        }
        self.record_access(&actions);
        self.carry_out(actions);
    }

    /// Counts the publishes, membership changes and deliveries in
    /// `actions` into the access log, and the envelopes into the usage.
    fn record_access(&mut self, actions: &[RelayAction]) {
        for a in actions {
            match a {
                RelayAction::StoreEnvelope {
                    doc,
                    meta,
                    envelope,
                } => {
                    let len = envelope.envelope().as_bytes().len() as u64;
                    self.usage.add(*doc, meta.author, len);
                    self.metrics.envelopes_in.inc();
                    self.access
                        .record(*doc, meta.author, AccessKind::Publish, 1);
                }
                RelayAction::StoreMembershipOp { doc, op, .. } => {
                    let author = op.content().author;
                    self.access.record(*doc, author, AccessKind::Membership, 1);
                }
                RelayAction::Send {
                    conn,
                    msg: Message::Deliver { doc, .. },
                } => {
                    if let Some(device) = self.core.device_of(*conn) {
                        self.access.record(*doc, device, AccessKind::Fetch, 1);
                    }
                }
                _ => {}
            }
        }
    }

    /// Queues the actions for the store thread, or sends them at once when
    /// nothing touches storage and nothing earlier is still waiting.
    fn carry_out(&mut self, actions: Vec<RelayAction>) {
        for a in &actions {
            match a {
                // What was counted is written first, so the log read
                // holds it.
                RelayAction::ReadAccessLog { .. } => self.flush_access(),
                // Nothing counted of an erased document is written after.
                RelayAction::EraseDoc { doc, .. } => self.access.forget(doc),
                _ => {}
            }
        }
        let queue = self.inflight > 0 || !self.pending.is_empty() || needs_store(&actions);
        self.carry_out_as(actions, queue);
    }

    /// Queues the actions behind the work waiting (`queue`), or sends them
    /// at once.
    fn carry_out_as(&mut self, actions: Vec<RelayAction>, queue: bool) {
        if queue {
            prepare(actions, &mut self.pending);
        } else {
            let mut work = Vec::with_capacity(actions.len());
            prepare(actions, &mut work);
            let outputs = work
                .into_iter()
                .filter_map(|w| match w {
                    Work::Out(o) => Some(o),
                    Work::Store(_) | Work::Access(_) => None,
                })
                .collect();
            self.dispatch(outputs);
        }
    }

    /// Queues the access log counts gathered so far.
    pub(crate) fn flush_access(&mut self) {
        let mut rows = self.access.take();
        // A replay answered before an erasure may be counted after it:
        // nothing of a deleted document is written again.
        rows.retain(|r| !self.core.is_deleted(&r.doc));
        if !rows.is_empty() {
            self.pending.push(Work::Access(rows));
        }
    }

    /// Deletes access log entries past their retention and, with a
    /// retention period set, the documents untouched for that long.
    /// Returns how many documents it deleted.
    pub(crate) async fn sweep(&mut self, now: u64) -> usize {
        // Recent activity counts: written before the store looks.
        self.flush_access();
        self.submit();
        let idle = match self.store.sweep(self.policy.sweep(now)).await {
            Ok(idle) => idle,
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed; trying again at the next");
                return 0;
            }
        };
        let n = idle.len();
        for doc in idle {
            tracing::info!(%doc, days = ?self.policy.retention_days, "document untouched for the retention period: deleting");
            let actions = self.core.expire(doc, now);
            self.carry_out(actions);
        }
        n
    }

    /// Hands the queued work to the store thread as one job.
    fn submit(&mut self) {
        let permits = std::mem::take(&mut self.pending_permits);
        if self.pending.is_empty() {
            // Nothing to store: the intake is free at once.
            return;
        }
        let work = std::mem::take(&mut self.pending);
        self.inflight += 1;
        self.metrics.store_queue.set(self.inflight as i64);
        let mut job = Job {
            work,
            heads: Vec::new(),
            permits,
        };
        if let Some(s) = &mut self.shared {
            let (heads, docs) = job_heads(&self.core, &job.work);
            job.heads = heads;
            s.begin(docs, job.conns());
        }
        if self.store.submit(job).is_err() {
            tracing::error!("store thread gone");
        }
    }

    /// Sends each connection its outputs, in order, as one batch (nothing
    /// after a close).
    fn dispatch(&mut self, outputs: Vec<Output>) {
        let mut order: Vec<ConnId> = Vec::new();
        let mut batches: HashMap<ConnId, (Batch, bool)> = HashMap::new();
        for o in outputs {
            let conn = o.conn();
            let (b, closed) = batches.entry(conn).or_insert_with(|| {
                order.push(conn);
                (Batch::default(), false)
            });
            if *closed {
                continue;
            }
            let start = b.items.len();
            match o {
                Output::Msg(_, m) => b.items.push(Outbound::Msg(m)),
                Output::Frame(_, f) => b.items.push(Outbound::Frame(f)),
                Output::Ack(_, e) => b.items.push(Outbound::Ack(e)),
                Output::Replay(_, msgs, doc) => {
                    let sent = msgs
                        .iter()
                        .filter(|m| matches!(m, Message::Deliver { .. }))
                        .count() as u64;
                    if sent > 0
                        && let Some(device) = self.core.device_of(conn)
                    {
                        self.access.record(doc, device, AccessKind::Fetch, sent);
                    }
                    b.items
                        .extend(msgs.into_iter().map(|m| Outbound::Msg(Box::new(m))));
                    b.items.push(Outbound::ReplayNext(doc));
                }
                Output::AccessLog(_, mut log) => {
                    log.at = now_ms();
                    log.since = self.policy.log_since(log.at);
                    let msg = self.core.signed_access_log(&log);
                    b.items.push(Outbound::Msg(Box::new(msg)));
                }
                Output::Close(_) => {
                    *closed = true;
                    b.items.push(Outbound::Close("closed by relay"));
                    continue;
                }
            }
            // A replay counts as one: catching up is never "too slow".
            b.weight += 1;
            b.bytes += b.items[start..].iter().map(Outbound::size).sum::<u64>();
        }
        for conn in order {
            let Some((batch, close)) = batches.remove(&conn) else {
                continue;
            };
            let Some(outbox) = self.conns.get(&conn) else {
                continue;
            };
            let gone = match outbox.send(batch) {
                Ok(()) => close,
                Err(Refused::TooSlow) => {
                    // Too slow: drop it; it resumes from its cursor.
                    tracing::warn!(conn = conn.0, "outbound queue full; dropping connection");
                    self.metrics.rejection("slow_consumer");
                    outbox.close("too slow");
                    true
                }
                Err(Refused::Gone) => true,
            };
            if gone {
                self.conns.remove(&conn);
                self.core.handle_disconnect(conn);
            }
        }
    }

    async fn on_store(&mut self, ev: StoreEvent) {
        match ev {
            StoreEvent::Done {
                jobs,
                outputs,
                freed,
                damaged,
            } => {
                self.inflight = self.inflight.saturating_sub(jobs);
                if let Some(s) = &mut self.shared {
                    s.finish(jobs);
                }
                for f in &freed {
                    self.usage.free(f);
                }
                for (doc, why) in damaged {
                    self.damaged(doc, &why);
                }
                self.dispatch(outputs);
            }
            StoreEvent::Failed {
                jobs,
                error,
                fault,
                conns,
            } => {
                tracing::error!(%error, jobs, "storage failed: nothing in the batch was acknowledged; closing the connections it answered and reloading");
                self.inflight = self.inflight.saturating_sub(jobs);
                // Work queued since was decided on the failed state.
                let pending = Job {
                    work: std::mem::take(&mut self.pending),
                    heads: Vec::new(),
                    permits: std::mem::take(&mut self.pending_permits),
                };
                match &mut self.shared {
                    // What other instances committed meanwhile reloads
                    // unseen by this instance's subscribers: every
                    // connection resumes from its cursor instead.
                    Some(s) => {
                        s.finish(jobs);
                        s.reading.clear();
                        let all: Vec<ConnId> = self.conns.keys().copied().collect();
                        self.close(all);
                    }
                    None => self.close(conns.into_iter().chain(pending.conns())),
                }
                self.reload(fault).await;
            }
            StoreEvent::Dropped { jobs, conns } => {
                self.inflight = self.inflight.saturating_sub(jobs);
                if let Some(s) = &mut self.shared {
                    s.finish(jobs);
                }
                self.close(conns);
            }
        }
        self.metrics.store_queue.set(self.inflight as i64);
    }
}

/// Runs the hub until cancelled, then lets in-flight commits finish,
/// releases their messages and closes every connection.
pub(crate) async fn run(
    mut hub: Hub,
    mut events: mpsc::Receiver<HubEvent>,
    mut store_events: mpsc::UnboundedReceiver<StoreEvent>,
    cancel: CancellationToken,
) {
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush = tokio::time::interval(ACCESS_FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep =
        tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_FIRST, SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            ev = store_events.recv() => match ev {
                Some(ev) => hub.on_store(ev).await,
                None => break,
            },
            _ = cancel.cancelled() => break,
            _ = health.tick(), if hub.fault != Fault::None => hub.check_health().await,
            _ = flush.tick() => hub.flush_access(),
            _ = sweep.tick(), if hub.fault == Fault::None => {
                hub.sweep(now_ms()).await;
            }
            ev = events.recv(), if hub.inflight < MAX_INFLIGHT => match ev {
                Some(ev) => {
                    hub.on_event(ev);
                    // Everything already waiting joins the same job.
                    for _ in 1..DRAIN {
                        match events.try_recv() {
                            Ok(ev) => hub.on_event(ev),
                            Err(_) => break,
                        }
                    }
                    if let Some((now, reply)) = hub.sweep_asked.take() {
                        let _ = reply.send(hub.sweep(now).await);
                    }
                }
                None => break,
            },
        }
        if hub.shared.as_ref().is_some_and(|s| s.resync) {
            hub.resync(&mut store_events).await;
        }
        hub.read_stale();
        hub.submit();
    }
    hub.flush_access();
    hub.submit();
    while hub.inflight > 0 {
        match store_events.recv().await {
            Some(ev) => hub.on_store(ev).await,
            None => break,
        }
    }
    for (_, outbox) in hub.conns.drain() {
        outbox.close("relay shutting down");
    }
    hub.store.shutdown().await;
}
