//! End-to-end tests: the built `starling` binary, each person in their own
//! home directory, against a real relay on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

mod access;
mod bad_input;
mod compaction;
mod crash;
mod devices;
mod erasure;
mod fhir;
mod instances;
mod live;
mod locked;
mod migration;
mod newuser;
mod rights;
mod story;
mod tls;
mod ui;
