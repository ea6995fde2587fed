//! What every subcommand needs: this device's home (the app layer, which
//! does the work) and how to print.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use starling_app::App;

/// An error with its own exit code (see `exit.rs`).
#[derive(Debug)]
pub struct UsageError {
    /// Exit code.
    pub code: u8,
    /// Message.
    pub message: String,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// An invalid-input error (exit code 3).
pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    UsageError {
        code: 3,
        message: message.into(),
    }
    .into()
}

/// A not-found error (exit code 4).
pub fn not_found(message: impl Into<String>) -> anyhow::Error {
    UsageError {
        code: 4,
        message: message.into(),
    }
    .into()
}

pub use starling_app::short;

/// The open home and output settings.
#[derive(Debug)]
pub struct Ctx {
    /// The app layer over this device's store.
    pub app: App,
    /// Print JSON.
    pub json: bool,
}

/// Warns, once per run, that `relay` is reached without TLS.
pub fn warn_if_plain(relay: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    let plain = starling_app::client::RelayAddr::parse(relay.trim())
        .is_ok_and(|a| a.is_unencrypted_remote());
    if plain && !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "warning: {} is reached without TLS: journals stay end-to-end encrypted, \
             but anyone on the network can see when this device syncs and with whom",
            relay.trim()
        );
    }
}

/// The home directory: `--home`, `$STARLING_HOME`, or the platform's.
pub fn home(home: Option<PathBuf>) -> Result<PathBuf> {
    home.or_else(App::default_home)
        .ok_or_else(|| anyhow!("cannot find a home directory: set STARLING_HOME or pass --home"))
}

impl Ctx {
    /// Opens the home at `home` (or the default home).
    pub fn open(home: Option<PathBuf>, json: bool) -> Result<Self> {
        let home = self::home(home)?;
        crate::cmd::ask_if_locked(&home)?;
        let app =
            App::open(&home).with_context(|| format!("opening the store in {}", home.display()))?;
        Ok(Ctx { app, json })
    }
}
