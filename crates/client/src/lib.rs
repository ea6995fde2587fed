//! # starling-client
//!
//! A device's side of Starling: one SQLite file holding the identity, every
//! document's automerge state, its sync state and an outbox, and a sync
//! engine that talks to each relay over one websocket.
//!
//! The client moves opaque automerge documents: it never reads a journal. Its
//! caller (the `starling` CLI) loads the bytes from [`Client::document`] into
//! a journal, edits it, and hands the new changes to [`Client::commit`], which
//! stores them and queues them for sealing in one transaction. [`Client::sync`]
//! seals queued edits into signed, encrypted envelopes, pushes them, pulls
//! what others wrote, checks every change was made by the device that signed
//! it, and quarantines anything that fails.
//!
//! ## Where IO happens
//!
//! [`Store`] (SQLite, in the calling thread, one `BEGIN IMMEDIATE`
//! transaction per write) and [`Client::sync`] (a tokio websocket). Decisions
//! are made by `starling_protocol`'s sans-IO session.

#![deny(missing_docs)]

mod changes;
mod client;
mod compact;
mod error;
pub mod locked;
mod persist;
mod store;
mod sync;
mod tls;

pub use changes::{BatchError, decode_batch, encode_batch};
pub use client::{
    Client, DeviceInfo, DeviceJoinKind, Devices, Identity, Joined, MemberInfo, PendingInvite,
    STORE_FILE,
};
pub use compact::SNAPSHOT_AFTER_BYTES;
pub use error::{ClientError, Result};
pub use starling_protocol::RelayAddr;
pub use starling_protocol::person::{DeviceLink, PersonError, RecoveryCode};
pub use store::{CacheEntry, DocRow, SCHEMA_VERSION, Store, TrustedCa};
pub use sync::{ClientEvent, Erasure, SyncMode, SyncReport};
pub use tls::{TlsProblem, parse_pem_certs};

pub use starling_protocol::membership::Role;
pub use starling_protocol::wire::{
    AccessEntry, AccessKind, AccessLog, SignedAccessLog, StoredStats,
};
pub use starling_protocol::{DeviceId, DocId, now_ms};
