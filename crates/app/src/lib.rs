//! # starling-app
//!
//! What a person does with Starling, once, for every front-end: open this
//! device's home, create and join journals, score, plan, note, sign off,
//! settle conflicts, share and revoke, sync (once or live, with events),
//! export and import. The `starling` CLI and the local web UI (`starling
//! ui`) are thin layers over [`App`]: they parse input and render output,
//! and can never disagree about what an action does.
//!
//! ## Typical use
//!
//! ```no_run
//! # fn demo() -> starling_app::Result<()> {
//! let app = starling_app::App::open(std::path::Path::new("/tmp/sam"))?;
//! app.init("Sam")?;
//! let journal = app.new_journal("127.0.0.1:7878", None, "recovery-star")?;
//! let row = app.pick(Some(&journal.to_string()))?;
//! app.new_reading(&row, None, "joint", "recovery-star")?;
//! app.score(&row, &starling_app::ScoreInput::new("work", 6))?;
//! # Ok(()) }
//! ```
//!
//! ## Where IO happens
//!
//! The device's SQLite store (through `starling-client`, in the calling
//! thread), files for import and export, and the network in [`App::sync`]
//! (a small tokio runtime per call, or the caller's with
//! [`App::sync_async`]).

#![deny(missing_docs)]

pub mod access;
mod actions;
pub mod archive;
mod cache;
pub mod chart;
mod duration;
mod edit;
mod erase;
mod error;
mod find;
mod person;
mod sharing;
pub mod summary;
pub mod sync;
mod transfer;

use std::path::{Path, PathBuf};

pub use actions::{ScoreInput, Scored, today};
pub use archive::Archive;
pub use cache::RECENT_READINGS;
pub use duration::parse_duration;
pub use erase::Erased;
pub use error::{AppError, ErrorKind, Result};
pub use find::{area_help, check_area_in, short};
pub use person::{DeviceJoined, DeviceRemoved, LINK_VALID};
pub use sharing::journal_label;
pub use sharing::{Invite, InviteEntry, JoinOutcome, MemberEntry};
pub use starling_client::Devices;
pub use summary::{AreaSummary, JournalSummary};
pub use sync::{SyncEvent, SyncEventKind, SyncOptions, SyncOutcome, SyncProblem};
pub use transfer::{ExportFormat, Imported, write_file};

pub use recovery_journal as journal;
pub use starling_client as client;
use starling_client::{Client, DocRow};

/// This device's home: its store, and everything done with it.
#[derive(Debug)]
pub struct App {
    client: Client,
    home: PathBuf,
}

impl App {
    /// The home directory: `$STARLING_HOME`, else the platform's data directory.
    pub fn default_home() -> Option<PathBuf> {
        Client::default_home()
    }

    /// Opens (creating if needed) the home at `home`.
    pub fn open(home: &Path) -> Result<App> {
        Ok(App {
            client: Client::open(home)?,
            home: home.to_owned(),
        })
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The device's store and sync engine, for what this layer does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates this device's identity.
    pub fn init(&self, name: &str) -> Result<starling_client::Identity> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(error::invalid("a name needs 1 to 200 characters"));
        }
        Ok(self.client.init(name)?)
    }

    /// This device's identity.
    pub fn identity(&self) -> Result<starling_client::Identity> {
        Ok(self.client.identity()?)
    }

    /// This device, as journals name devices.
    pub fn device(&self) -> Result<recovery_journal::DeviceId> {
        let id = self.client.identity()?;
        Ok(recovery_journal::DeviceId::from_bytes(
            *id.device.as_bytes(),
        ))
    }

    /// Every journal on this device, oldest first.
    pub fn journals(&self) -> Result<Vec<DocRow>> {
        Ok(self.client.docs()?)
    }
}
