//! Starting the relay: storage, the hub, the HTTP server; and the handle
//! that stops it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use starling_protocol::DeviceId;
use starling_protocol::relay::{ConnId, RelayConfig as CoreConfig};
use starling_protocol::wire::{self, ErrorCode, Message, RetryClass};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::allowlist::{self, SharedAllowList};
use crate::config::{Registration, RelayConfig};
use crate::conn::{self, ConnCtx, WsFrame};
use crate::hub::{self, Hub};
use crate::limits::AnswerBudgets;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, StoreThreads};
use crate::tls::{Peer, RelayListener, TlsState};
use crate::{RelayError, keyfile};

#[derive(Clone, Debug)]
struct AppState {
    ctx: ConnCtx,
    health: hub::SharedHealth,
    next_conn: Arc<AtomicU64>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
}

/// A running relay. Dropping it without [`RelayHandle::shutdown`] leaves the
/// relay running until the runtime stops.
#[derive(Debug)]
pub struct RelayHandle {
    local_addr: SocketAddr,
    tls: Option<Arc<TlsState>>,
    origin: String,
    relay_id: DeviceId,
    db_path: PathBuf,
    cancel: CancellationToken,
    tracker: TaskTracker,
    hub: JoinHandle<()>,
    server: JoinHandle<()>,
    threads: Option<StoreThreads>,
    store: Store,
    integrity: Vec<String>,
    shutdown_timeout: Duration,
    metrics: Arc<Metrics>,
    state: AppState,
}

/// Starts a relay: opens (or creates) the data directory, restores every
/// document, and serves `/v1/sync`, `/healthz` and `/metrics` on
/// `config.listen`.
pub async fn start(config: RelayConfig) -> Result<RelayHandle, RelayError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RelayError::Bind {
            addr: config.listen,
            source,
        })?;
    start_on(config, listener).await
}

/// Like [`start`], on a socket the caller bound already (so it knows the
/// port before it chooses the origin, say); `config.listen` is ignored.
pub async fn start_on(
    config: RelayConfig,
    listener: tokio::net::TcpListener,
) -> Result<RelayHandle, RelayError> {
    config.validate()?;
    // Owner only: it holds the relay's key and everyone's ciphertext.
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(&config.data_dir)
        .map_err(|source| RelayError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(TlsState::load(cert, key)?),
        _ => None,
    };
    let key = keyfile::load_or_create(&config.key_path())?;
    let relay_id = key.device_id();
    let local_addr = listener.local_addr().map_err(|source| RelayError::Bind {
        addr: config.listen,
        source,
    })?;
    let origin = config.origin_for(local_addr);
    let metrics = Arc::new(Metrics::default());
    let (store_tx, store_rx) = mpsc::unbounded_channel();
    let db_path = config.db_path();
    // Names this process among relay instances sharing a database.
    let instance = {
        let mut b = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        u64::from_le_bytes(b)
    };
    let (store, mut threads, integrity) = match &config.database_url {
        Some(url) => {
            let (store, threads) = Store::open_postgres(
                url,
                instance,
                config.max_commit_batch,
                store_tx,
                metrics.clone(),
            )
            .await?;
            (store, threads, Vec::new())
        }
        None => Store::open(
            &db_path,
            config.synchronous,
            config.max_commit_batch,
            config.max_db_bytes,
            store_tx,
            metrics.clone(),
        )?,
    };
    let loaded = store.load().await?;
    let allow: SharedAllowList = Arc::new(RwLock::new(None));
    let cancel = CancellationToken::new();
    let (hub_tx, hub_rx) = mpsc::channel(8192);
    if config.registration == Registration::Allowlist {
        let path = config.allowlist_path();
        let set = allowlist::load(&path)?;
        tracing::info!(path = %path.display(), devices = set.len(), "registration by allow-list");
        if let Ok(mut g) = allow.write() {
            *g = Some(set);
        }
        let notify = hub_tx.clone();
        tokio::spawn(allowlist::watch(
            path,
            allow.clone(),
            Duration::from_secs(2),
            cancel.clone(),
            move || {
                let _ = notify.try_send(hub::HubEvent::AllowListChanged);
            },
        ));
    }
    let core_config = CoreConfig {
        origin: origin.clone(),
        auth_window_ms: config.auth_window_secs.saturating_mul(1000),
        allow_list: None,
        replay_chunk_bytes: config.limits.replay_chunk_bytes,
    };
    let peer = match &config.database_url {
        Some(url) => Some(
            threads
                .start_shared(url, instance, hub_tx.clone())
                .map_err(StoreError::from)?,
        ),
        None => None,
    };
    let relay_key = Arc::new(key.clone());
    let health: hub::SharedHealth = Arc::new(RwLock::new(None));
    let hub_state = Hub::new(
        starling_protocol::relay::RelayCore::new(key, core_config),
        store.clone(),
        loaded,
        allow,
        config.limits.clone(),
        metrics.clone(),
        health.clone(),
        hub::Policy {
            access_log_days: config.access_log_days,
            retention_days: config.retention_days,
        },
        peer,
    );
    let hub = tokio::spawn(hub::run(hub_state, hub_rx, store_rx, cancel.clone()));
    let tracker = TaskTracker::new();
    let state = AppState {
        ctx: ConnCtx {
            hub: hub_tx,
            limits: config.limits.clone(),
            metrics: metrics.clone(),
            cancel: cancel.clone(),
            relay_key,
            intake: Arc::new(Semaphore::new(
                (config.limits.intake_bytes / 1024).min(u64::from(u32::MAX)) as usize,
            )),
            answers: Arc::new(AnswerBudgets::new(
                config.limits.answer_bytes_per_sec,
                config.limits.answer_burst_bytes,
                config.limits.connections_per_device,
            )),
        },
        health,
        next_conn: Arc::new(AtomicU64::new(1)),
        permits: Arc::new(Semaphore::new(config.limits.max_connections)),
        tracker: tracker.clone(),
    };
    let app = Router::new()
        .route("/v1/sync", get(sync))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(state.clone());
    let listener = match &tls {
        Some(state) => RelayListener::tls(listener, state.clone(), cancel.clone()),
        None => RelayListener::Plain(listener),
    };
    if let Some(state) = &tls {
        // Listen before returning, so a SIGHUP right after start reloads
        // instead of killing the process.
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hup) => {
                tokio::spawn(reload_on_hangup(state.clone(), hup, cancel.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: the TLS certificate reloads only on restart")
            }
        }
    }
    let stop = cancel.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
            .with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "http server failed");
        }
    });
    let storage = if config.database_url.is_some() {
        "postgresql".to_owned()
    } else {
        db_path.display().to_string()
    };
    tracing::info!(addr = %local_addr, %origin, tls = tls.is_some(), relay = %relay_id, db = %storage, "relay listening");
    Ok(RelayHandle {
        local_addr,
        tls,
        origin,
        relay_id,
        db_path,
        cancel,
        tracker,
        hub,
        server,
        threads: Some(threads),
        store,
        integrity,
        shutdown_timeout: Duration::from_secs(config.shutdown_timeout_secs),
        metrics,
        state,
    })
}

/// Reloads the TLS certificate on every SIGHUP, until cancelled.
#[cfg(unix)]
async fn reload_on_hangup(
    state: Arc<TlsState>,
    mut hup: tokio::signal::unix::Signal,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            got = hup.recv() => {
                if got.is_none() { return; }
                if let Err(e) = state.reload() {
                    tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                }
            }
        }
    }
}

async fn healthz(State(s): State<AppState>) -> Response {
    if s.ctx.hub.is_closed() || s.ctx.cancel.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response();
    }
    let fault = s.health.read().ok().and_then(|h| h.clone());
    match fault {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
        None => (StatusCode::OK, "ok\n").into_response(),
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    (
        [("content-type", crate::metrics::CONTENT_TYPE)],
        s.ctx.metrics.render(),
    )
        .into_response()
}

async fn sync(
    State(s): State<AppState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = s.ctx.limits.max_frame_bytes;
    // Read frames up to twice the limit so a slightly oversized one gets a
    // typed `too_large` error; anything bigger breaks the connection.
    // Small buffers keep an idle connection cheap (the defaults are
    // 128 KiB each); the read buffer grows as a large frame needs.
    let ws = ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(max.saturating_mul(2))
        .max_frame_size(max.saturating_mul(2));
    ws.on_upgrade(move |socket| accept(s, socket, peer))
}

async fn accept(s: AppState, socket: WebSocket, peer: SocketAddr) {
    let permit = s.permits.clone().try_acquire_owned();
    let (sink, stream) = socket.split();
    let sink =
        sink.with(|f: WsFrame| futures_util::future::ready(Ok::<_, axum::Error>(to_axum(f))));
    let stream = stream.map(|r| r.map(from_axum));
    let Ok(permit) = permit else {
        s.ctx.metrics.rejection("connection_limit");
        refuse_busy(sink).await;
        return;
    };
    let id = ConnId(s.next_conn.fetch_add(1, Relaxed));
    let span = tracing::info_span!("conn", id = id.0, %peer, device = tracing::field::Empty);
    let ctx = s.ctx.clone();
    s.tracker.spawn(
        async move {
            conn::serve(id, sink, stream, ctx).await;
            drop(permit);
        }
        .instrument(span),
    );
}

async fn refuse_busy<Si: Sink<WsFrame> + Unpin>(mut sink: Si) {
    let msg = Message::error(
        ErrorCode::Busy,
        RetryClass::RetryLater,
        None,
        "too many connections",
    );
    if let Ok(b) = wire::encode(&msg) {
        let _ = sink.feed(WsFrame::Binary(b.into())).await;
    }
    let _ = sink
        .send(WsFrame::Close(Some((1013, "too many connections".into()))))
        .await;
}

fn to_axum(f: WsFrame) -> ws::Message {
    match f {
        WsFrame::Binary(b) => ws::Message::Binary(b),
        WsFrame::Text(t) => ws::Message::Text(t.into()),
        WsFrame::Ping(p) => ws::Message::Ping(p.into()),
        WsFrame::Pong(p) => ws::Message::Pong(p.into()),
        WsFrame::Close(c) => ws::Message::Close(c.map(|(code, reason)| ws::CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}

fn from_axum(m: ws::Message) -> WsFrame {
    match m {
        ws::Message::Binary(b) => WsFrame::Binary(b),
        ws::Message::Text(t) => WsFrame::Text(t.as_str().to_owned()),
        ws::Message::Ping(p) => WsFrame::Ping(p.to_vec()),
        ws::Message::Pong(p) => WsFrame::Pong(p.to_vec()),
        ws::Message::Close(c) => WsFrame::Close(c.map(|c| (c.code, c.reason.as_str().to_owned()))),
    }
}

impl RelayHandle {
    /// The address the relay listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The websocket URL of the listening socket, e.g.
    /// `ws://127.0.0.1:PORT/v1/sync` (`wss://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}/v1/sync", self.local_addr)
    }

    /// Reads `tls_cert` and `tls_key` again (SIGHUP does the same): new
    /// connections get the new certificate. On failure the previous one
    /// stays in use. Without TLS configured, does nothing.
    pub fn reload_tls(&self) -> Result<(), RelayError> {
        match &self.tls {
            Some(state) => Ok(state.reload()?),
            None => Ok(()),
        }
    }

    /// The origin clients sign into their authentication.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The relay's signing key id (clients verify acks with it).
    pub fn relay_id(&self) -> DeviceId {
        self.relay_id
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// What the integrity check at start found (empty: the database is
    /// sound).
    pub fn integrity(&self) -> &[String] {
        &self.integrity
    }

    /// Changes the database's size limit (`max_db_bytes`) while the relay
    /// runs; a relay refusing writes because it was full takes them again
    /// within seconds of the limit being raised.
    pub fn set_max_db_bytes(&self, max: Option<u64>) -> Result<(), RelayError> {
        Ok(self.store.set_max_bytes(max)?)
    }

    /// Runs the retention sweep now, as if the clock said `now` (unix ms):
    /// deletes access log entries past `access_log_days` and, with
    /// `retention_days` set, documents untouched for that long. The relay
    /// does this by itself every hour; this is for tests and operators'
    /// tools. Returns how many documents it deleted.
    pub async fn sweep_retention_at(&self, now: u64) -> usize {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self
            .state
            .ctx
            .hub
            .send(hub::HubEvent::Sweep { now, reply })
            .await
            .is_err()
        {
            return 0;
        }
        answer.await.unwrap_or(0)
    }

    /// The relay's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Serves one connection over any `Sink`/`Stream` of frames (a
    /// websocket from another library, or channels in tests). Returns when
    /// the connection ends.
    pub async fn serve_connection<Si, St, E>(&self, sink: Si, stream: St)
    where
        Si: Sink<WsFrame> + Unpin,
        St: Stream<Item = Result<WsFrame, E>> + Unpin,
        E: std::fmt::Display,
    {
        let s = &self.state;
        let id = ConnId(s.next_conn.fetch_add(1, Relaxed));
        let span = tracing::info_span!(
            "conn",
            id = id.0,
            peer = "channel",
            device = tracing::field::Empty
        );
        conn::serve(id, sink, stream, s.ctx.clone())
            .instrument(span)
            .await;
    }

    /// Takes a consistent online backup of the database into `dest`.
    pub async fn backup(&self, dest: impl Into<PathBuf>) -> Result<(), RelayError> {
        let (db, dest) = (self.db_path.clone(), dest.into());
        tokio::task::spawn_blocking(move || crate::store::backup(&db, &dest))
            .await
            .map_err(|e| RelayError::Task(e.to_string()))??;
        Ok(())
    }

    /// Stops the relay gracefully: stops accepting, lets in-flight commits
    /// finish and their acks go out, closes every socket with a close
    /// frame, checkpoints the database. Bounded by the configured shutdown
    /// timeout; whatever is left then is cut.
    pub async fn shutdown(mut self) {
        tracing::info!("relay shutting down");
        self.cancel.cancel();
        self.tracker.close();
        let deadline = self.shutdown_timeout;
        let hub_abort = self.hub.abort_handle();
        let server_abort = self.server.abort_handle();
        let wait = async {
            let _ = (&mut self.hub).await;
            self.tracker.wait().await;
            let _ = (&mut self.server).await;
        };
        if tokio::time::timeout(deadline, wait).await.is_err() {
            tracing::warn!("shutdown timed out; cutting remaining connections");
            hub_abort.abort();
            server_abort.abort();
        }
        // The hub asks the writer to stop as it ends; a hub cut short did
        // not, and the writer would wait for work forever.
        self.store.shutdown().await;
        if let Some(t) = self.threads.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        tracing::info!("relay stopped");
    }
}
