//! A person, not a device: linking another device, removing a lost one,
//! and the recovery code (see `starling_client`'s person module for how
//! each is carried in the journals' membership logs).

use std::collections::BTreeSet;
use std::time::Duration;

use starling_client::{ClientError, Devices, RelayAddr};
use zeroize::Zeroizing;

use crate::App;
use crate::error::{AppError, Result, invalid};
use crate::sync::{SyncOptions, SyncOutcome};

/// How long a device link works by default.
pub const LINK_VALID: Duration = Duration::from_secs(15 * 60);

/// What removing a device did.
#[derive(Debug)]
pub struct DeviceRemoved {
    /// The device.
    pub device: starling_client::DeviceId,
    /// Journals it was removed from.
    pub journals: usize,
    /// The person's new recovery code (the old one is revoked). Show it
    /// once.
    pub recovery_code: Zeroizing<String>,
    /// The sync's error, if it could not finish (the removal then reaches
    /// the relay at the next sync).
    pub unsynced: Option<AppError>,
}

/// What adding or recovering a device did.
#[derive(Clone, Debug)]
pub struct DeviceJoined {
    /// Journals now on this device.
    pub journals: usize,
    /// The sync that brought them.
    pub outcome: SyncOutcome,
    /// After a recovery: the person's new recovery code (the old one is
    /// spent). Show it once.
    pub recovery_code: Option<Zeroizing<String>>,
}

impl App {
    /// Draws a new recovery code for this person, registers it in every
    /// journal on this device (revoking the one it replaces), and syncs so
    /// the relay has it. The code, to show once: it is never stored.
    /// Offline, the code is registered at the next sync; `Err` only when the
    /// code could not be made at all.
    pub fn new_recovery_code(&self) -> Result<(Zeroizing<String>, Option<AppError>)> {
        self.check_still_theirs()?;
        let code = self.client.new_recovery_code()?;
        let synced = self.sync_if_any();
        Ok((code.to_text(), synced.err()))
    }

    /// Makes a one-time device link, valid for `valid`, for every journal
    /// on this device, and syncs so the relay knows it. The links (one per
    /// relay, nearly always one), and the sync's error if it could not
    /// reach the relay (the links then work after the next sync).
    pub fn link_device(
        &self,
        valid: Duration,
    ) -> Result<(Vec<Zeroizing<String>>, Option<AppError>)> {
        let valid_ms = u64::try_from(valid.as_millis()).unwrap_or(u64::MAX);
        if valid_ms < 60_000 {
            return Err(invalid("a device link needs at least a minute to be used"));
        }
        self.check_still_theirs()?;
        let links = self.client.link_device(valid_ms)?;
        let synced = self.sync_if_any();
        Ok((links.iter().map(|l| l.to_link()).collect(), synced.err()))
    }

    /// Joins this (new) device to the person a device link names, and
    /// syncs: their journals arrive, with their role and perspective.
    pub fn add_device(&self, link: &str, name: Option<&str>) -> Result<DeviceJoined> {
        let chosen = name.map(clean_name).transpose()?;
        self.client
            .add_device(link, chosen.as_deref().unwrap_or(UNNAMED))?;
        self.finish_join(false, chosen.is_none())
    }

    /// Restores a person on this (new) device from their recovery code,
    /// through `relay`: their journals arrive with their role and
    /// perspective, and a new recovery code replaces the spent one.
    pub fn recover(&self, relay: &str, code: &str, name: Option<&str>) -> Result<DeviceJoined> {
        let chosen = name.map(clean_name).transpose()?;
        let relay = RelayAddr::parse(relay)
            .map_err(|e| invalid(format!("`{relay}` is not a relay address: {e}")))?;
        self.client
            .recover(&relay, code, chosen.as_deref().unwrap_or(UNNAMED))?;
        self.finish_join(true, chosen.is_none())
    }

    /// The name this person's journals know them by: the one others gave
    /// them when inviting them, else the one all their own journals give
    /// (a coordinator's own journals carry their clients' names, so a
    /// journal they own says nothing certain); `None` when unsure.
    fn name_in_journals(&self) -> Option<String> {
        let person = self.client.identity().ok()?.person;
        let person = recovery_journal::DeviceId::from_bytes(*person.as_bytes());
        let (mut given, mut own) = (BTreeSet::new(), BTreeSet::new());
        for row in self.client.docs().ok()? {
            let Ok(journal) = self.load(&row) else {
                continue;
            };
            if let Some(m) = journal.member(person) {
                if journal.owner() == Some(person) {
                    own.insert(m.name);
                } else {
                    given.insert(m.name);
                }
            }
        }
        let sure = |names: BTreeSet<String>| {
            (names.len() == 1)
                .then(|| names.into_iter().next())
                .flatten()
        };
        if given.is_empty() {
            sure(own)
        } else {
            sure(given)
        }
    }

    fn finish_join(&self, recovering: bool, unnamed: bool) -> Result<DeviceJoined> {
        let options = SyncOptions::once(Duration::from_secs(120));
        let outcome = match self.sync(None, &options, |_| {}) {
            Ok(o) => o,
            // The relay was not reached: that, not "matched nothing".
            Err(AppError::SyncIncomplete(o)) if o.found.is_empty() && !o.problems.is_empty() => {
                self.client.forget_device_joins()?;
                return Err(AppError::SyncIncomplete(o));
            }
            Err(AppError::SyncIncomplete(o)) => *o,
            Err(e) => {
                // Said now, and tried again only when the person asks.
                self.client.forget_device_joins()?;
                return Err(e);
            }
        };
        let found: usize = outcome.found.iter().sum();
        if found == 0 {
            self.client.forget_device_joins()?;
            let what = if recovering {
                "That recovery code matched no journal at this relay. Check the code and the \
                 relay address; a code that was replaced, or already used to recover, no longer \
                 works."
            } else {
                "That device link matched no journal: it was used already, it expired, or your \
                 other device has not synced since making it. Make a new one with `starling \
                 device link`."
            };
            return Err(invalid(what));
        }
        if unnamed && let Some(name) = self.name_in_journals() {
            self.client.set_name(&name)?;
        }
        let recovery_code = if recovering {
            Some(self.client.new_recovery_code()?.to_text())
        } else {
            None
        };
        if recovering {
            // Registers the new code at the relay; offline, the next sync does.
            let _ = self.sync_if_any();
        }
        Ok(DeviceJoined {
            journals: self.client.docs()?.len(),
            outcome,
            recovery_code,
        })
    }

    /// This person's devices, as the journals on this device know them.
    pub fn devices(&self) -> Result<Devices> {
        Ok(self.client.devices()?)
    }

    /// The device [`App::remove_device`] would remove for `prefix`, or why
    /// none: checked before asking someone to confirm.
    pub fn removable_device(&self, prefix: &str) -> Result<starling_client::DeviceInfo> {
        self.check_still_theirs()?;
        Ok(self.client.removable_device(prefix)?)
    }

    /// Removes one of this person's other devices (the start of its id, at
    /// least 4 characters, as [`App::devices`] lists it) from every journal
    /// here, rotating their keys, and syncs. The removal revokes every
    /// device invite the device made, the recovery code's among them (it
    /// may have seen the code), so a new recovery code replaces it.
    pub fn remove_device(&self, prefix: &str) -> Result<DeviceRemoved> {
        // What the relay says first: this device may be the one removed.
        let _ = self.sync_if_any();
        self.check_still_theirs()?;
        let (device, journals) = self.client.remove_device(prefix)?;
        let recovery_code = self.client.new_recovery_code()?.to_text();
        let synced = self.sync_if_any();
        Ok(DeviceRemoved {
            device,
            journals,
            recovery_code,
            unsynced: synced.err(),
        })
    }

    /// Errors when the relay has said this device was removed from every
    /// journal on it: it no longer acts for its person, and a code or link
    /// it made would never work.
    fn check_still_theirs(&self) -> Result<()> {
        let docs = self.client.docs()?;
        if !docs.is_empty() && docs.iter().all(|r| crate::sync::removal(r).is_some()) {
            return Err(invalid(
                "this device was removed from your journals (by another of your devices, or by \
                 their owner), so it can no longer add, remove or recover devices for you; do \
                 that from a device that is still yours",
            ));
        }
        Ok(())
    }

    /// Syncs every journal once, if there are any.
    fn sync_if_any(&self) -> Result<()> {
        if self.client.docs()?.is_empty() {
            return Ok(());
        }
        let options = SyncOptions::once(Duration::from_secs(60));
        self.sync(None, &options, |_| {}).map(|_| ())
    }
}

/// The name a device linked or recovered without one has until its
/// journals say the person's name.
const UNNAMED: &str = "me";

fn clean_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("a name needs 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

impl From<starling_client::PersonError> for AppError {
    fn from(e: starling_client::PersonError) -> Self {
        AppError::Client(ClientError::Person(e))
    }
}
