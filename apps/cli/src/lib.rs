//! The `starling` command-line client.
//!
//! Today it runs the offline co-editing story of a client and their care
//! coordinator (`starling demo`) on the recovery-journal crate. Sync over a
//! relay, identities and the per-device store come with the client crate.

#![deny(missing_docs)]

mod demo;
mod render;

use clap::{Parser, Subcommand};

/// A Recovery Star journal that lives on your own device.
#[derive(Debug, Parser)]
#[command(name = "starling", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch a client and their care coordinator score one reading offline, on
    /// their own devices, and merge: perspective gaps and a conflict are shown,
    /// never averaged or lost.
    ///
    /// Example:
    ///   starling demo
    #[command(verbatim_doc_comment)]
    Demo,
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Demo => demo::run(&mut out),
    }
}
