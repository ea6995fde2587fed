//! `starling`: the command-line client for Recovery Star journals.
//!
//! Each subcommand lives in `cmd/`. They share [`ctx::Ctx`]: the device's
//! store (`starling-client`) and helpers to pick a journal, load it with
//! `recovery-journal`, edit it and commit the changes. Network work (sync,
//! join) runs on a small tokio runtime created when needed.

#![deny(missing_docs)]

mod cmd;
mod ctx;
mod demo;
mod exit;
mod render;

use std::path::PathBuf;

use clap::Parser;

pub use exit::{advice, describe, exit_code};

/// A Recovery Star journal that lives on your own device, shared end-to-end
/// encrypted with your care coordinator.
///
/// Start with `starling demo` to see the whole story, or:
///
///   starling init --name Sam
///   starling new --client-name Sam
///   starling reading new
///   starling score work 6
///   starling show
#[derive(Debug, Parser)]
#[command(name = "starling", version, verbatim_doc_comment)]
pub struct Cli {
    /// Where this identity's data lives (default: $STARLING_HOME, or the
    /// platform's data directory). Use different homes for different people
    /// on one machine.
    #[arg(long, global = true, env = "STARLING_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print data as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: cmd::Command,
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    cmd::run(cli, &mut out)
}
