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
use starling_protocol::wire::{ErrorCode, Message, RetryClass};
use starling_protocol::{DeviceId, DeviceKey, DocId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::allowlist::SharedAllowList;
use crate::config::Limits;
use crate::metrics::Metrics;
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
    Message { conn: ConnId, msg: Message },
    /// The connection closed.
    Disconnect { conn: ConnId },
}

/// What the hub sends a connection task.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this message.
    Msg(Message),
    /// Send a close frame with this reason and stop.
    Close(&'static str),
}

#[derive(Debug, Default)]
struct Usage {
    docs: HashMap<DocId, u64>,
    devices: HashMap<DeviceId, u64>,
}

pub(crate) struct Hub {
    core: RelayCore,
    key: DeviceKey,
    core_config: CoreConfig,
    conns: HashMap<ConnId, mpsc::Sender<Outbound>>,
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
        self.usage = Usage::default();
        let mut envelopes = 0usize;
        for d in &loaded.docs {
            envelopes += d.metas.len();
            if let Err(e) = self.core.restore_doc(d.doc, d.ops.clone(), &d.metas) {
                // Stored ops were verified when appended: this is corruption.
                tracing::error!(doc = %d.doc, error = %e, "stored document does not verify; skipped");
                continue;
            }
            self.usage.docs.insert(d.doc, d.live_bytes);
        }
        self.usage.devices = loaded.device_bytes;
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
            }
            HubEvent::Message { conn, msg } => self.on_message(conn, msg),
        }
    }

    fn refuse(&mut self, conn: ConnId, reason: &'static str, msg: Message, close: bool) {
        self.metrics.rejection(reason);
        let mut out = vec![(conn, Some(msg))];
        if close {
            out.push((conn, None));
        }
        self.dispatch(out);
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
            Message::Publish { envelope } => {
                let h = envelope.header_unverified();
                let len = envelope.as_bytes().len() as u64;
                let doc_used = self.usage.docs.get(&h.doc).copied().unwrap_or(0);
                let dev_used = self.usage.devices.get(&h.author).copied().unwrap_or(0);
                let which = if doc_used.saturating_add(len) > self.limits.max_doc_bytes {
                    Some("document quota exceeded")
                } else if dev_used.saturating_add(len) > self.limits.max_device_bytes {
                    Some("device quota exceeded")
                } else {
                    None
                };
                if let Some(text) = which {
                    let e = Message::error(
                        ErrorCode::TooLarge,
                        RetryClass::TooLarge,
                        Some(h.doc),
                        text,
                    );
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
                *self.usage.docs.entry(*doc).or_default() += len;
                *self.usage.devices.entry(meta.author).or_default() += len;
                self.metrics
                    .envelopes_in
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
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
        for (conn, msg) in outputs {
            let Some(tx) = self.conns.get(&conn) else {
                continue;
            };
            match msg {
                Some(m) => {
                    if tx.try_send(Outbound::Msg(m)).is_err() {
                        // Too slow (or gone): drop it; it resumes from its cursor.
                        tracing::warn!(conn = conn.0, "outbound queue full; dropping connection");
                        self.metrics.rejection("slow_consumer");
                        self.conns.remove(&conn);
                        self.core.handle_disconnect(conn);
                    }
                }
                None => {
                    if let Some(tx) = self.conns.remove(&conn) {
                        let _ = tx.try_send(Outbound::Close("closed by relay"));
                    }
                    self.core.handle_disconnect(conn);
                }
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
                for f in freed {
                    if let Some(u) = self.usage.docs.get_mut(&f.doc) {
                        *u = u.saturating_sub(f.bytes);
                    }
                    if let Some(u) = self.usage.devices.get_mut(&f.author) {
                        *u = u.saturating_sub(f.bytes);
                    }
                }
                self.dispatch(outputs);
            }
            StoreEvent::Failed { jobs, error } => {
                tracing::error!(%error, jobs, "storage failed: closing every connection and reloading");
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
