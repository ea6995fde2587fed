//! What every subcommand needs: the device's store, a journal to work on,
//! and a way to edit it so the change is stored and queued in one step.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use recovery_journal::{DeviceId as JournalDevice, Journal, ReadingId};
use starling_client::{Client, DocRow};

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

/// Parse a relay address typed by a person or stored with a journal. A
/// plain `ws://` address of another machine is allowed when written out,
/// with a warning (once per run): the journal stays end-to-end encrypted,
/// but who syncs when is visible on the network.
pub fn relay_addr(text: &str) -> Result<starling_client::RelayAddr> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    let addr = starling_client::RelayAddr::parse(text.trim())
        .map_err(|e| invalid(format!("`{text}` is not a relay address: {e}")))?;
    if addr.is_unencrypted_remote() && !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "warning: {addr} is reached without TLS: journals stay end-to-end encrypted, \
             but anyone on the network can see when this device syncs and with whom"
        );
    }
    Ok(addr)
}

/// The short form of a journal or device id people see: its first 12
/// characters (never a slice that could split a character of a damaged row).
pub fn short(id: impl std::fmt::Display) -> String {
    id.to_string().chars().take(12).collect()
}

/// Past this many stored chunks, loading a journal compacts it.
const COMPACT_AFTER_CHUNKS: usize = 64;

/// The open store and output settings.
#[derive(Debug)]
pub struct Ctx {
    /// The device's store.
    pub client: Client,
    /// Print JSON.
    pub json: bool,
}

impl Ctx {
    /// Open the store in `home` (or the default home).
    pub fn open(home: Option<PathBuf>, json: bool) -> Result<Self> {
        let home = home.or_else(Client::default_home).ok_or_else(|| {
            anyhow!("cannot find a home directory: set STARLING_HOME or pass --home")
        })?;
        let client = Client::open(&home)
            .with_context(|| format!("opening the store in {}", home.display()))?;
        Ok(Ctx { client, json })
    }

    /// This device, as the journal names devices.
    pub fn device(&self) -> Result<JournalDevice> {
        let id = self.client.identity()?;
        Ok(JournalDevice::from_bytes(*id.device.as_bytes()))
    }

    /// The journal named by `--journal`, or the only one on this device.
    pub fn pick(&self, journal: Option<&str>) -> Result<DocRow> {
        if let Some(j) = journal {
            return Ok(self.client.find_doc(j)?);
        }
        let docs = self.client.docs()?;
        match docs.len() {
            0 => Err(not_found(
                "no journals on this device yet: `starling new` creates one, `starling join LINK` joins one",
            )),
            1 => Ok(docs.into_iter().next().unwrap_or_else(|| unreachable!())),
            _ => {
                let names: Vec<String> = docs
                    .iter()
                    .map(|d| format!("{} ({})", short(&d.doc), d.title))
                    .collect();
                Err(invalid(format!(
                    "this device has several journals; pick one with --journal: {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// Load a journal; when it is spread over many stored chunks, compact
    /// them into one snapshot so the next load is quick.
    pub fn load(&self, row: &DocRow) -> Result<Journal> {
        let (bytes, chunks, mark) = self.client.document_marked(&row.doc)?;
        let mut journal = Journal::load(&bytes, self.device()?)?;
        if chunks > COMPACT_AFTER_CHUNKS && !journal.is_waiting_for_changes() {
            self.client.compact(&row.doc, &journal.save(), mark)?;
        }
        Ok(journal)
    }

    /// Edit a journal: load it, run `f`, and commit what `f` changed, in one
    /// transaction, before returning.
    pub fn edit<T>(
        &self,
        row: &DocRow,
        f: impl FnOnce(&mut Journal) -> recovery_journal::Result<T>,
    ) -> Result<T> {
        if !self.client.can_write(&row.doc)? {
            return Err(invalid(
                "you can read this journal but not change it (a viewer, or no longer a member)",
            ));
        }
        let mut journal = self.load(row)?;
        let before = journal.heads();
        let value = f(&mut journal)?;
        let changes = journal.changes_since(&before);
        self.client.commit(&row.doc, &changes)?;
        Ok(value)
    }

    /// The reading named by `--reading` (an id prefix or a date), or the latest.
    pub fn reading(&self, journal: &Journal, wanted: Option<&str>) -> Result<ReadingId> {
        let view = journal.view();
        match wanted {
            None => view.latest_reading().map(|r| r.id.clone()).ok_or_else(|| {
                not_found("this journal has no readings yet: `starling reading new` starts one")
            }),
            Some(w) => {
                let hits: Vec<&ReadingId> = view
                    .readings
                    .iter()
                    .filter(|r| {
                        r.id.as_str().starts_with(w)
                            || r.sort_date().is_some_and(|d| d.to_string() == w)
                    })
                    .map(|r| &r.id)
                    .collect();
                match hits.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => Err(not_found(format!("no reading `{w}` in this journal"))),
                    _ => Err(invalid(format!(
                        "`{w}` matches several readings; give more of the id"
                    ))),
                }
            }
        }
    }

    /// A tokio runtime for network work.
    pub fn runtime() -> Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?)
    }
}
