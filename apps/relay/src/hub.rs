//! The hub: one task that owns the [`RelayCore`] and carries out its
//! actions.
//!
//! Connection tasks send it decoded messages. The core decides; when its
//! actions touch storage (or earlier jobs are still committing) they go to
//! the store thread as one job, and the messages they send are released
//! only after the batch holding the job has committed, in order. Actions
//! that touch no storage while nothing is in flight are sent at once.

use std::collections::HashMap;
use std::sync::Arc;

use starling_protocol::relay::{ConnId, RelayAction, RelayConfig as CoreConfig, RelayCore};
use starling_protocol::wire::{self, ErrorCode, Message, RetryClass};
use starling_protocol::{DeviceId, DeviceKey, DocId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::allowlist::SharedAllowList;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::quota::Usage;
use crate::store::{Job, Loaded, Output, Store, StoreEvent};

/// What a connection task sends to the hub.
#[derive(Debug)]
pub(crate) enum HubEvent {
    /// A connection opened; `tx` carries what the hub sends it.
    Connect {
        conn: ConnId,
        tx: mpsc::Sender<Outbound>,
    },
    /// A decoded message arrived.
    Message { conn: ConnId, msg: Box<Message> },
    /// The connection closed.
    Disconnect { conn: ConnId },
    /// The allow-list was reloaded: connections of devices no longer on it
    /// are closed.
    AllowListChanged,
}

/// What the hub sends a connection task.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this message.
    Msg(Box<Message>),
    /// Send this already encoded `deliver` frame (shared by a fan-out).
    Deliver(Arc<Vec<u8>>),
    /// Several of the above, in order (a replay).
    Many(Vec<Outbound>),
    /// Send a close frame with this reason and stop.
    Close(&'static str),
}

pub(crate) struct Hub {
    core: RelayCore,
    key: DeviceKey,
    core_config: CoreConfig,
    conns: HashMap<ConnId, mpsc::Sender<Outbound>>,
    /// The device each connection said hello as (the core holds it to that).
    devices: HashMap<ConnId, DeviceId>,
    store: Store,
    inflight: usize,
    usage: Usage,
    allow: SharedAllowList,
    limits: Limits,
    metrics: Arc<Metrics>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn needs_store(actions: &[RelayAction]) -> bool {
    actions
        .iter()
        .any(|a| !matches!(a, RelayAction::Send { .. } | RelayAction::Close { .. }))
}

impl Hub {
    pub fn new(
        key: DeviceKey,
        core_config: CoreConfig,
        store: Store,
        loaded: Loaded,
        allow: SharedAllowList,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut hub = Hub {
            core: RelayCore::new(key.clone(), core_config.clone()),
            key,
            core_config,
            conns: HashMap::new(),
            devices: HashMap::new(),
            store,
            inflight: 0,
            usage: Usage::default(),
            allow,
            limits,
            metrics,
        };
        hub.restore(loaded);
        hub
    }

    fn restore(&mut self, loaded: Loaded) {
        self.core = RelayCore::new(self.key.clone(), self.core_config.clone());
        self.usage = Usage::from_loaded(&loaded);
        let mut envelopes = 0usize;
        for d in &loaded.docs {
            envelopes += d.metas.len();
            if let Err(e) = self.core.restore_doc(d.doc, d.ops.clone(), &d.metas) {
                // Stored ops were verified when appended: this is corruption.
                tracing::error!(doc = %d.doc, error = %e, "stored document does not verify; skipped");
            }
        }
        tracing::info!(docs = loaded.docs.len(), envelopes, "restored relay state");
    }

    fn allowed(&self, device: &DeviceId) -> bool {
        self.allow
            .read()
            .map(|g| g.as_ref().is_none_or(|s| s.contains(device)))
            .unwrap_or(false)
    }

    fn on_event(&mut self, ev: HubEvent) {
        match ev {
            HubEvent::Connect { conn, tx } => {
                self.core.handle_connect(conn);
                self.conns.insert(conn, tx);
            }
            HubEvent::Disconnect { conn } => {
                self.core.handle_disconnect(conn);
                self.conns.remove(&conn);
                self.devices.remove(&conn);
            }
            HubEvent::AllowListChanged => {
                let conns = &self.conns;
                self.devices.retain(|c, _| conns.contains_key(c));
                let removed: Vec<ConnId> = self
                    .devices
                    .iter()
                    .filter(|(_, d)| !self.allowed(d))
                    .map(|(c, _)| *c)
                    .collect();
                for conn in removed {
                    tracing::info!(conn = conn.0, "device removed from the allow-list; closing");
                    self.devices.remove(&conn);
                    let e = Message::error(
                        ErrorCode::NotAllowed,
                        RetryClass::Unauthorised,
                        None,
                        "device removed from the allow-list",
                    );
                    self.refuse(conn, "not_allowed", e, true);
                }
            }
            HubEvent::Message { conn, msg } => self.on_message(conn, *msg),
        }
    }

    fn refuse(&mut self, conn: ConnId, reason: &'static str, msg: Message, close: bool) {
        self.metrics.rejection(reason);
        let mut actions = vec![RelayAction::Send { conn, msg }];
        if close {
            actions.push(RelayAction::Close { conn });
        }
        self.carry_out(actions);
    }

    fn on_message(&mut self, conn: ConnId, msg: Message) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        match &msg {
            Message::Hello { device, .. } if !self.allowed(device) => {
                let e = Message::error(
                    ErrorCode::NotAllowed,
                    RetryClass::Unauthorised,
                    None,
                    "device not on the allow-list",
                );
                return self.refuse(conn, "not_allowed", e, true);
            }
            Message::Hello { device, .. } => {
                self.devices.insert(conn, *device);
            }
            Message::Publish { envelope } => {
                if let Some(text) = self.usage.refusal(envelope, &self.limits) {
                    let doc = Some(envelope.header_unverified().doc);
                    let e = Message::error(ErrorCode::TooLarge, RetryClass::TooLarge, doc, text);
                    return self.refuse(conn, "quota", e, false);
                }
            }
            _ => {}
        }
        let actions = self
            .core
            .handle_message(now_ms(), conn, msg, &mut rand_core::OsRng);
        for a in &actions {
            if let RelayAction::StoreEnvelope {
                doc,
                meta,
                envelope,
            } = a
            {
                let len = envelope.as_bytes().len() as u64;
                self.usage.add(*doc, meta.author, len);
                self.metrics
                    .envelopes_in
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.carry_out(actions);
    }

    /// Stores then sends (through the store thread), or sends at once when
    /// nothing touches storage and nothing earlier is still committing.
    fn carry_out(&mut self, actions: Vec<RelayAction>) {
        if self.inflight > 0 || needs_store(&actions) {
            self.inflight += 1;
            if self.store.submit(Job { actions }).is_err() {
                tracing::error!("store thread gone");
            }
        } else {
            let out = actions
                .into_iter()
                .filter_map(|a| match a {
                    RelayAction::Send { conn, msg } => Some((conn, Some(msg))),
                    RelayAction::Close { conn } => Some((conn, None)),
                    _ => None,
                })
                .collect();
            self.dispatch(out);
        }
    }

    fn dispatch(&mut self, outputs: Vec<Output>) {
        // A fan-out sends one `deliver` to many connections: encode it once.
        let mut encoded: Option<(DocId, u64, Arc<Vec<u8>>)> = None;
        // Consecutive messages to one connection (a replay) travel as one
        // queue item, so catching up never counts as being slow.
        let mut groups: Vec<(ConnId, Vec<Outbound>, bool)> = Vec::new();
        for (conn, msg) in outputs {
            let item = match msg {
                None => Outbound::Close("closed by relay"),
                Some(Message::Deliver {
                    doc,
                    doc_seq,
                    envelope,
                }) => match &encoded {
                    Some((d, s, b)) if *d == doc && *s == doc_seq => Outbound::Deliver(b.clone()),
                    _ => {
                        let m = Message::Deliver {
                            doc,
                            doc_seq,
                            envelope,
                        };
                        match wire::encode(&m) {
                            Ok(b) => {
                                let b = Arc::new(b);
                                encoded = Some((doc, doc_seq, b.clone()));
                                Outbound::Deliver(b)
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "cannot encode a delivery");
                                continue;
                            }
                        }
                    }
                },
                Some(m) => Outbound::Msg(Box::new(m)),
            };
            let close = matches!(item, Outbound::Close(_));
            match groups.last_mut() {
                Some((c, items, closed)) if *c == conn && !*closed => {
                    items.push(item);
                    *closed = close;
                }
                _ => groups.push((conn, vec![item], close)),
            }
        }
        for (conn, mut items, close) in groups {
            let Some(tx) = self.conns.get(&conn) else {
                continue;
            };
            let out = match items.len() {
                1 => items.pop().unwrap_or(Outbound::Close("closed by relay")),
                _ => Outbound::Many(items),
            };
            let gone = match tx.try_send(out) {
                Ok(()) => close,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Too slow: drop it; it resumes from its cursor.
                    tracing::warn!(conn = conn.0, "outbound queue full; dropping connection");
                    self.metrics.rejection("slow_consumer");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => true,
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
            } => {
                self.inflight = self.inflight.saturating_sub(jobs);
                for f in &freed {
                    self.usage.free(f);
                }
                self.dispatch(outputs);
            }
            StoreEvent::Failed { jobs, error } => {
                tracing::error!(%error, jobs, "storage failed: closing every connection and reloading");
                self.devices.clear();
                for (conn, tx) in self.conns.drain() {
                    let _ = tx.try_send(Outbound::Close("relay storage error"));
                    self.core.handle_disconnect(conn);
                }
                self.inflight = 0;
                match self.store.load().await {
                    Ok(loaded) => self.restore(loaded),
                    Err(e) => tracing::error!(error = %e, "reload failed"),
                }
            }
        }
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
    loop {
        tokio::select! {
            biased;
            ev = store_events.recv() => match ev {
                Some(ev) => hub.on_store(ev).await,
                None => break,
            },
            _ = cancel.cancelled() => break,
            ev = events.recv() => match ev {
                Some(ev) => hub.on_event(ev),
                None => break,
            },
        }
    }
    while hub.inflight > 0 {
        match store_events.recv().await {
            Some(ev) => hub.on_store(ev).await,
            None => break,
        }
    }
    for (_, tx) in hub.conns.drain() {
        let _ = tx.try_send(Outbound::Close("relay shutting down"));
    }
    hub.store.shutdown().await;
}
