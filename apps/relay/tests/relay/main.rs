//! Integration tests: real tokio-tungstenite clients against the real relay
//! on 127.0.0.1, with SQLite in temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod backup;
mod cli;
mod cluster;
mod crash;
mod docs;
mod erasure;
mod faults;
mod handshake;
mod hostile;
mod instances;
mod invites;
mod plaintext;
mod postgres;
mod restart;
mod storage;
mod tls;
mod util;
