//! # starling-relay
//!
//! The self-hostable Starling relay: it stores and forwards end-to-end
//! encrypted envelopes between the devices of a document's members, and can
//! read none of them.
//!
//! The sans-IO [`starling_protocol::relay::RelayCore`] decides everything
//! (authentication, roles, dedupe, doc sequence numbers, acks, fan-out,
//! compaction); this crate does the IO around it:
//!
//! - **Serving** ([`start`]): axum, one websocket endpoint `/v1/sync` with
//!   binary frames, one CBOR message per frame; `/healthz`; `/metrics`
//!   (Prometheus text). Each connection runs the library-independent handler
//!   in `conn` (a `Sink`/`Stream` of [`WsFrame`]s), which does the work that
//!   needs no shared state, in parallel across connections: frame size,
//!   rate, decoding, subscription limit, and the signatures of published
//!   envelopes (frames that arrived together as one ed25519 batch). It
//!   forwards messages to the hub; outgoing, it writes everything queued
//!   before one flush and signs the acks among it with one signature.
//! - **The hub** (`hub`): one task owning the core; it carries out the
//!   core's actions in order, sending storage work to the store thread and
//!   releasing the messages that follow only once they are committed, as
//!   one batch per connection (`outbox`).
//! - **Storage** (`store`): SQLite in WAL mode on a dedicated thread, group
//!   commit of everything queued into one transaction, versioned schema,
//!   online [`backup`]. Per-document and per-device quotas (`quota`) are
//!   checked by the hub before the core sees an envelope.
//! - **Operating** ([`config`]): TOML file, `STARLING_RELAY_*` variables,
//!   registration `open` or by allow-list (re-read on change and SIGHUP),
//!   limits, graceful shutdown ([`RelayHandle::shutdown`]).
//!
//! ## Typical use
//!
//! ```no_run
//! # async fn demo() -> Result<(), starling_relay::RelayError> {
//! let relay = starling_relay::start(starling_relay::RelayConfig::for_data_dir("/tmp/relay")).await?;
//! println!("clients connect to {} and sign {}", relay.url(), relay.origin());
//! relay.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Where IO happens
//!
//! Network IO in `server` and `conn`; disk IO on the store threads and in
//! `keyfile` and `allowlist`. Logs never contain envelope bytes, keys or
//! invite secrets: messages are never logged, only their kinds and ids.
#![deny(missing_docs)]

mod allowlist;
pub mod config;
mod conn;
mod hub;
mod keyfile;
mod limits;
mod metrics;
mod outbox;
mod quota;
mod server;
mod store;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use allowlist::{AllowListError, parse as parse_allowlist};
pub use config::{ConfigError, Limits, Registration, RelayConfig, Synchronous};
pub use conn::WsFrame;
pub use keyfile::KeyError;
pub use metrics::Metrics;
pub use server::{RelayHandle, start, start_on};
pub use store::{
    Imported, SCHEMA_VERSION, StoreError, backup, erase_offline, erase_offline_postgres,
    migrate_to_postgres,
};
pub use tls::TlsError;

/// Loads a TLS certificate and its key as serving would, to check them.
pub fn check_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<(), TlsError> {
    tls::TlsState::load(cert, key).map(drop)
}

/// Errors starting or operating the relay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The relay key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The allow-list could not be read.
    #[error(transparent)]
    AllowList(#[from] AllowListError),
    /// A background task failed.
    #[error("background task failed: {0}")]
    Task(String),
}
