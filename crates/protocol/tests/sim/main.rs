//! Deterministic simulation of one relay core and several client sessions
//! over a seeded, faulty in-memory network with a virtual clock.
//!
//! Payloads stand for an op-set CRDT: each envelope carries strings to add
//! to a grow-only set (a snapshot carries the whole set), so convergence is
//! set equality. Nothing here depends on automerge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod seeds;
mod stories;
mod world;
