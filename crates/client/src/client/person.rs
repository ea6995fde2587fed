//! A person, not a device: linking another device, removing a lost one, and
//! the recovery code that restores the person on a new device.
//!
//! All three are membership ops in every journal the person is in (see
//! [`starling_protocol::person`]): a device link is a short-lived device
//! invite, a recovery code a standing one, and a removal a
//! `remove_device` with a rotation. They are signed here and queued; the
//! next sync carries them to the relay.

use std::collections::BTreeMap;

use rand_core::OsRng;
use starling_protocol::invite::InviteSecret;
use starling_protocol::membership::{Invite, InviteId, InviteStatus};
use starling_protocol::person::{DeviceLink, RECOVERY_EXPIRES, RecoveryCode};
use starling_protocol::session::ClientSession;
use starling_protocol::{DeviceId, DeviceKey, DocId, RelayAddr};
use zeroize::Zeroizing;

use super::{Client, Identity, now_ms, parse_doc, relay_of};
use crate::error::{ClientError, Result};
use crate::persist;
use crate::store::{DocRow, rows};

/// How a device is joining its person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceJoinKind {
    /// Through a device link from another of the person's devices.
    Link,
    /// Through the person's recovery code.
    Recovery,
}

impl DeviceJoinKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeviceJoinKind::Link => "link",
            DeviceJoinKind::Recovery => "recovery",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        if s == "recovery" {
            DeviceJoinKind::Recovery
        } else {
            DeviceJoinKind::Link
        }
    }
}

/// One of the person's devices, as the journals on this device know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device.
    pub device: DeviceId,
    /// Whether it is this device.
    pub this_device: bool,
    /// In how many of this device's journals it is a member.
    pub journals: usize,
    /// How it became the person's, as the journals' membership logs tell.
    pub joined: Joined,
}

/// How a device became one of the person's: what tells them apart on a
/// list of ids.
// DeviceId carries its decoded key; a person has a handful of devices.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// The person's first device (its id names the person).
    First,
    /// Through a device link made on this other device of theirs.
    Linked(DeviceId),
    /// Through the person's recovery code.
    Recovered,
    /// No journal here says.
    Unknown,
}

/// The person this device belongs to, and their devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Devices {
    /// The person (the id of their first device).
    pub person: DeviceId,
    /// Their devices, this one first.
    pub devices: Vec<DeviceInfo>,
    /// Journals on this device.
    pub journals: usize,
    /// Journals in which the person's recovery code is registered.
    pub recovery_in: usize,
    /// Whether this device knows the person's recovery code is set at all.
    pub recovery_known: bool,
}

/// The longest a device link works: 7 days.
pub const MAX_LINK_MS: u64 = 7 * 24 * 3600 * 1000;

/// Revokes `person`'s live device links in `doc` (not the recovery code);
/// whether any was.
pub(crate) fn revoke_links(
    session: &mut ClientSession,
    doc: DocId,
    person: &DeviceId,
    now: u64,
) -> bool {
    let Some(m) = session.membership(&doc).cloned() else {
        return false;
    };
    let mut any = false;
    for (invite, inv) in m.invites() {
        if is_live_link_of(inv, person) && session.revoke_invite(now, doc, *invite).is_ok() {
            any = true;
        }
    }
    any
}

/// Whether `inv` is one of `person`'s device links not yet used or revoked
/// (a device invite that is not their recovery code's).
pub(crate) fn is_live_link_of(inv: &Invite, person: &DeviceId) -> bool {
    inv.status == InviteStatus::Live
        && inv.device.as_ref().is_some_and(|g| g.person == *person)
        && !is_recovery_of(inv, person)
}

/// Whether `inv` is `person`'s recovery invite: a device invite for them
/// that never expires.
pub(crate) fn is_recovery_of(inv: &Invite, person: &DeviceId) -> bool {
    inv.device.as_ref().is_some_and(|g| g.person == *person) && inv.expires_at == RECOVERY_EXPIRES
}

impl Client {
    /// The person named in the store, if this device is not its own.
    pub(crate) fn person_of_store(&self) -> Result<Option<DeviceId>> {
        let (person, _) = self.store.person()?;
        person
            .map(|p| {
                p.parse().map_err(|_| {
                    ClientError::CorruptStore(
                        "the person named in the identity is not a key".into(),
                    )
                })
            })
            .transpose()
    }

    /// The public id of the person's recovery invite, if this device knows it.
    pub(crate) fn recovery_of_store(&self) -> Result<Option<InviteId>> {
        let (_, recovery) = self.store.person()?;
        Ok(recovery.and_then(|r| r.parse().ok()))
    }

    /// This device's documents, grouped by relay.
    fn docs_by_relay(&self) -> Result<Vec<(RelayAddr, Vec<DocRow>)>> {
        let mut groups: BTreeMap<String, (RelayAddr, Vec<DocRow>)> = BTreeMap::new();
        for row in self.store.docs()? {
            let relay = relay_of(&row)?;
            groups
                .entry(relay.to_string())
                .or_insert_with(|| (relay, Vec::new()))
                .1
                .push(row);
        }
        Ok(groups.into_values().collect())
    }

    /// Runs `f` on every journal this device is a member of (and that is not
    /// being deleted), with its relay's session; returns the sync state of
    /// each journal `f` changed, to store.
    fn each_journal(
        &self,
        mut f: impl FnMut(&mut ClientSession, DocId) -> bool,
    ) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
        let mut states = Vec::new();
        for (relay, rows) in self.docs_by_relay()? {
            let mut session = self.session_with(&relay, &rows)?;
            let me = session.device_id();
            for row in &rows {
                let doc = parse_doc(&row.doc)?;
                let member = session
                    .membership(&doc)
                    .is_some_and(|m| m.role(&me).is_some() && !m.is_deleted());
                if member && f(&mut session, doc) {
                    let state = session
                        .persisted(&doc)
                        .ok_or(ClientError::UnknownDoc(row.doc.clone()))?;
                    states.push((row.doc.clone(), persist::encode(&state)));
                }
            }
        }
        Ok(states)
    }

    /// Draws a new recovery code for this person and registers it in every
    /// journal on this device, revoking the one it replaces (the next sync
    /// carries both to the relay; journals on the person's other devices
    /// take it up when those devices sync). Shown once: the code itself is
    /// never stored.
    pub fn new_recovery_code(&self) -> Result<RecoveryCode> {
        let _lock = self.lock()?;
        let person = self.identity()?.person;
        let code = RecoveryCode::generate(&mut OsRng);
        let id = code.invite_secret().id();
        let now = now_ms();
        let states = self.each_journal(|session, doc| {
            let Some(m) = session.membership(&doc).cloned() else {
                return false;
            };
            let mut changed = false;
            for (invite, inv) in m.invites() {
                if is_recovery_of(inv, &person)
                    && inv.status == InviteStatus::Live
                    && session.revoke_invite(now, doc, *invite).is_ok()
                {
                    changed = true;
                }
            }
            session
                .create_device_invite(now, doc, id, RECOVERY_EXPIRES, &mut OsRng)
                .is_ok()
                || changed
        })?;
        self.store.write(|tx| {
            rows::set_recovery(tx, Some(&id.to_string()))?;
            for (doc, state) in &states {
                rows::put_sync_state(tx, doc, state)?;
            }
            Ok(())
        })?;
        Ok(code)
    }

    /// Makes a one-time device link, valid for `valid_ms`: a device invite
    /// in every journal on this device, one link per relay they sync
    /// through. The next sync registers it at the relay; the new device
    /// then runs [`Client::add_device`].
    pub fn link_device(&self, valid_ms: u64) -> Result<Vec<DeviceLink>> {
        // A link never stands as long as a recovery code does.
        let valid_ms = valid_ms.min(MAX_LINK_MS);
        let _lock = self.lock()?;
        let person = self.identity()?.person;
        let now = now_ms();
        let mut links = Vec::new();
        let mut states = Vec::new();
        for (relay, rows) in self.docs_by_relay()? {
            let secret = InviteSecret::generate(&mut OsRng);
            let mut session = self.session_with(&relay, &rows)?;
            let me = session.device_id();
            let mut any = false;
            for row in &rows {
                let doc = parse_doc(&row.doc)?;
                let member = session
                    .membership(&doc)
                    .is_some_and(|m| m.role(&me).is_some() && !m.is_deleted());
                let expires = now.saturating_add(valid_ms);
                // A new link replaces the person's unused ones.
                if member {
                    revoke_links(&mut session, doc, &person, now);
                }
                if member
                    && session
                        .create_device_invite(now, doc, secret.id(), expires, &mut OsRng)
                        .is_ok()
                {
                    let state = session
                        .persisted(&doc)
                        .ok_or(ClientError::UnknownDoc(row.doc.clone()))?;
                    states.push((row.doc.clone(), persist::encode(&state)));
                    any = true;
                }
            }
            if any {
                links.push(DeviceLink {
                    relay,
                    person,
                    secret,
                });
            }
        }
        if links.is_empty() {
            return Err(ClientError::NothingToLink);
        }
        self.store.write(|tx| {
            for (doc, state) in &states {
                rows::put_sync_state(tx, doc, state)?;
            }
            Ok(())
        })?;
        Ok(links)
    }

    /// Starts joining this device to the person a device link names: the
    /// next sync with the link's relay finds and redeems it in every
    /// journal of the person. A device without an identity gets one named
    /// `name`. Returns the parsed link.
    pub fn add_device(&self, link: &str, name: &str) -> Result<DeviceLink> {
        let _lock = self.lock()?;
        let link: DeviceLink = link.parse()?;
        self.begin_device_join(
            name,
            &link.relay,
            &link.secret,
            DeviceJoinKind::Link,
            Some(link.person),
        )?;
        Ok(link)
    }

    /// Starts restoring a person on this device from their recovery code:
    /// the next sync with `relay` finds and redeems it in every journal of
    /// the person. Afterwards, draw a new code
    /// ([`Client::new_recovery_code`]): this one is spent.
    pub fn recover(&self, relay: &RelayAddr, code: &str, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        let code: RecoveryCode = code.parse()?;
        self.begin_device_join(
            name,
            relay,
            &code.invite_secret(),
            DeviceJoinKind::Recovery,
            None,
        )
    }

    fn begin_device_join(
        &self,
        name: &str,
        relay: &RelayAddr,
        secret: &InviteSecret,
        kind: DeviceJoinKind,
        person: Option<DeviceId>,
    ) -> Result<()> {
        let now = now_ms();
        let seed = match self.identity_opt()? {
            Some(Identity { device, .. }) => {
                if !self.store.docs()?.is_empty() {
                    return Err(ClientError::DeviceInUse(device.to_string()));
                }
                None
            }
            None => Some(DeviceKey::generate(&mut OsRng).to_seed()),
        };
        self.store.write(|tx| {
            if let Some(seed) = &seed {
                rows::put_identity(tx, seed.as_slice(), name, now as i64)?;
            }
            rows::set_person(tx, person.map(|p| p.to_string()).as_deref())?;
            rows::set_recovery(tx, None)?;
            rows::add_device_join(
                tx,
                &secret.id().to_string(),
                &relay.to_string(),
                secret.as_bytes(),
                kind.as_str(),
                now as i64,
            )
        })
    }

    /// Forgets the device links and recovery codes waiting for a sync: an
    /// attempt to join that failed (its relay out of reach, or the address
    /// wrong) is not tried again behind the person's back.
    pub fn forget_device_joins(&self) -> Result<()> {
        self.store.write(rows::clear_device_joins)
    }

    /// The device links and recovery codes waiting for a sync with their
    /// relay: `(relay, kind)`.
    pub fn device_joins(&self) -> Result<Vec<(String, DeviceJoinKind)>> {
        Ok(self
            .store
            .all_device_joins()?
            .into_iter()
            .map(|(relay, kind)| (relay, DeviceJoinKind::parse(&kind)))
            .collect())
    }

    /// Renames this device's person: the name it shows for itself (a device
    /// linked or recovered without a name takes the one its journals know).
    pub fn set_name(&self, name: &str) -> Result<()> {
        self.store.write(|tx| rows::set_name(tx, name))
    }

    /// The other device of this person whose id starts with `prefix` (at
    /// least 4 characters), as [`Client::remove_device`] would remove it.
    pub fn removable_device(&self, prefix: &str) -> Result<DeviceInfo> {
        Ok(removable(&self.devices()?, prefix)?.clone())
    }

    /// The person this device belongs to and their devices, as the
    /// journals on this device know them.
    pub fn devices(&self) -> Result<Devices> {
        let me = self.identity()?;
        let recovery = self.recovery_of_store()?;
        let mut count: BTreeMap<DeviceId, usize> = BTreeMap::new();
        count.insert(me.device, 0);
        let mut joined: BTreeMap<DeviceId, Joined> = BTreeMap::new();
        let (mut journals, mut recovery_in) = (0, 0);
        for (relay, rows) in self.docs_by_relay()? {
            let session = self.session_with(&relay, &rows)?;
            for row in &rows {
                let Some(m) = session.membership(&parse_doc(&row.doc)?) else {
                    continue;
                };
                journals += 1;
                for d in m.devices_of(&me.person) {
                    *count.entry(d).or_default() += 1;
                }
                for inv in m.invites().values() {
                    if let InviteStatus::Used(d) = inv.status
                        && inv.device.as_ref().is_some_and(|g| g.person == me.person)
                    {
                        let how = if inv.expires_at == RECOVERY_EXPIRES {
                            Joined::Recovered
                        } else {
                            Joined::Linked(inv.by)
                        };
                        joined.insert(d, how);
                    }
                }
                let live = m.invites().iter().any(|(id, inv)| {
                    inv.status == InviteStatus::Live
                        && is_recovery_of(inv, &me.person)
                        && recovery.is_none_or(|r| r == *id)
                });
                if live {
                    recovery_in += 1;
                }
            }
        }
        let mut devices: Vec<DeviceInfo> = count
            .into_iter()
            .map(|(device, journals)| DeviceInfo {
                device,
                this_device: device == me.device,
                journals,
                joined: if device == me.person {
                    Joined::First
                } else {
                    joined.get(&device).copied().unwrap_or(Joined::Unknown)
                },
            })
            .collect();
        devices.sort_by_key(|d| !d.this_device);
        Ok(Devices {
            person: me.person,
            devices,
            journals,
            recovery_in,
            recovery_known: recovery.is_some(),
        })
    }

    /// Removes one of the person's other devices (named by the start of
    /// its id, as [`Client::devices`] lists it) from every journal on this
    /// device, rotating each journal's key so it reads nothing written
    /// afterwards, and withdraws any device link not yet used. Returns the
    /// device and how many journals it was removed from; the next sync
    /// carries the removals to the relay.
    pub fn remove_device(&self, prefix: &str) -> Result<(DeviceId, usize)> {
        let listed = self.devices()?;
        let _lock = self.lock()?;
        let device = removable(&listed, prefix)?.device;
        let person = listed.person;
        let now = now_ms();
        let mut removed = 0;
        let states = self.each_journal(|session, doc| {
            let Some(m) = session.membership(&doc).cloned() else {
                return false;
            };
            // Links not yet used: whoever holds the lost device may have
            // made one (the protocol revokes those it made; these are the
            // others').
            let mut changed = revoke_links(session, doc, &person, now);
            if m.devices_of(&person).contains(&device)
                && session.remove_device(now, doc, device, &mut OsRng).is_ok()
            {
                removed += 1;
                changed = true;
            }
            changed
        })?;
        self.store.write(|tx| {
            for (doc, state) in &states {
                rows::put_sync_state(tx, doc, state)?;
            }
            Ok(())
        })?;
        Ok((device, removed))
    }

    /// Every device that was ever a member of `doc`, with its person (from
    /// the verified membership log), for readers that count a person's
    /// devices as one member.
    pub fn persons(&self, row: &DocRow) -> Result<Vec<(DeviceId, DeviceId)>> {
        let relay = relay_of(row)?;
        let session = self.session_with(&relay, std::slice::from_ref(row))?;
        Ok(session
            .membership(&parse_doc(&row.doc)?)
            .map(|m| m.persons().iter().map(|(d, p)| (*d, *p)).collect())
            .unwrap_or_default())
    }
}

/// The device of `listed` whose id starts with `prefix`, if it is not this one.
fn removable<'a>(listed: &'a Devices, prefix: &str) -> Result<&'a DeviceInfo> {
    let needle = prefix.trim().to_ascii_lowercase();
    let hits: Vec<&DeviceInfo> = listed
        .devices
        .iter()
        .filter(|d| needle.len() >= 4 && d.device.to_string().starts_with(&needle))
        .collect();
    let target = match hits.as_slice() {
        [] => return Err(ClientError::UnknownDevice(prefix.to_owned())),
        [one] => *one,
        _ => return Err(ClientError::AmbiguousDevice(prefix.to_owned())),
    };
    if target.this_device {
        return Err(ClientError::RemoveThisDevice);
    }
    Ok(target)
}
