//! [`Client`]: this device's identity, documents and local edits.

use std::path::{Path, PathBuf};

use rand_core::OsRng;
use starling_protocol::invite::InviteLink;
use starling_protocol::membership::{InviteStatus, Role};
use starling_protocol::session::{ClientSession, SessionConfig};
use starling_protocol::{DeviceId, DeviceKey, DocId};

use crate::changes::encode_batch;
use crate::error::{ClientError, Result};
use crate::persist;
use crate::store::{DocRow, Store, rows};
use starling_protocol::RelayAddr;

mod invites;
mod lock;
mod person;
pub use invites::PendingInvite;
pub(crate) use lock::SyncLock;
pub use person::{DeviceInfo, DeviceJoinKind, Devices, Joined};
pub(crate) use person::{is_live_link_of, is_recovery_of};

/// The store's file name inside the home directory.
pub const STORE_FILE: &str = "starling.db";
const AGENT: &str = concat!("starling/", env!("CARGO_PKG_VERSION"));

/// This device's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The device (its public key).
    pub device: DeviceId,
    /// The name the person chose.
    pub name: String,
    /// The person this device belongs to: the id of the person's first
    /// device (this device itself, unless it was linked or recovered).
    pub person: DeviceId,
}

/// A member of a document, from its verified membership log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// The device.
    pub device: DeviceId,
    /// Access role.
    pub role: Role,
    /// Perspective label ("client", "worker", ...).
    pub perspective: String,
    /// The name this device gave when it invited them, if it did.
    pub invited_as: Option<String>,
    /// The person the device belongs to (the id of their first device).
    pub person: DeviceId,
}

/// This device's documents and identity, in one SQLite file under `home`.
#[derive(Debug)]
pub struct Client {
    pub(crate) store: Store,
    home: PathBuf,
    /// History, in envelope bytes since the last snapshot, past which a
    /// sync publishes a snapshot.
    pub(crate) snapshot_after: std::sync::atomic::AtomicU64,
    /// Snapshot payloads to publish instead of the document (tests that
    /// play a hostile member).
    pub(crate) snapshot_override: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    /// The sync lock while a sync of this process holds it (shared by the
    /// connections of a live sync to several relays).
    pub(crate) sync_lock: std::sync::Mutex<std::sync::Weak<std::fs::File>>,
}

pub(crate) use starling_protocol::now_ms;

impl Client {
    /// The home directory: `$STARLING_HOME`, else the platform's data directory.
    pub fn default_home() -> Option<PathBuf> {
        if let Some(home) = std::env::var_os("STARLING_HOME") {
            return Some(PathBuf::from(home));
        }
        directories::ProjectDirs::from("org", "Starling", "starling")
            .map(|d| d.data_dir().to_owned())
    }

    /// Open the store in `home`, creating it if needed.
    pub fn open(home: &Path) -> Result<Self> {
        let store = Store::open(&home.join(STORE_FILE))?;
        Ok(Client {
            store,
            home: home.to_owned(),
            snapshot_after: crate::compact::SNAPSHOT_AFTER_BYTES.into(),
            snapshot_override: Default::default(),
            sync_lock: Default::default(),
        })
    }

    /// How much history (envelope bytes since the last snapshot) a
    /// document may gather at the relay before a sync of this device, when
    /// it may write, publishes a snapshot so the relay can drop the rest.
    /// Default [`crate::SNAPSHOT_AFTER_BYTES`].
    pub fn set_snapshot_after(&self, bytes: u64) {
        self.snapshot_after
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes the next snapshot this device publishes for `doc` carry
    /// `payload` instead of the document: for tests that play a hostile
    /// member.
    #[cfg(feature = "testing")]
    pub fn set_next_snapshot(&self, doc: &str, payload: Vec<u8>) {
        if let Ok(mut o) = self.snapshot_override.lock() {
            o.insert(doc.to_owned(), payload);
        }
    }

    /// The store (read access for tools and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Create this device's identity.
    pub fn init(&self, name: &str) -> Result<Identity> {
        if let Some(id) = self.identity_opt()? {
            return Err(ClientError::IdentityExists(format!(
                "{} ({})",
                id.name, id.device
            )));
        }
        let key = DeviceKey::generate(&mut OsRng);
        let seed = key.to_seed();
        self.store
            .write(|tx| rows::put_identity(tx, seed.as_slice(), name, now_ms() as i64))?;
        Ok(Identity {
            device: key.device_id(),
            name: name.to_owned(),
            person: key.device_id(),
        })
    }

    fn identity_opt(&self) -> Result<Option<Identity>> {
        let Some((seed, name)) = self.store.identity()? else {
            return Ok(None);
        };
        let key = key_from_seed(&seed)?;
        let device = key.device_id();
        Ok(Some(Identity {
            device,
            name,
            person: self.person_of_store()?.unwrap_or(device),
        }))
    }

    /// This device's identity.
    pub fn identity(&self) -> Result<Identity> {
        self.identity_opt()?.ok_or(ClientError::NoIdentity)
    }

    /// The device's secret seed, for signatures inside documents (a
    /// reading's sign-off). It zeroizes when dropped; never store it.
    pub fn signing_key(&self) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        Ok(self.key()?.to_seed())
    }

    pub(crate) fn key(&self) -> Result<DeviceKey> {
        let (seed, _) = self.store.identity()?.ok_or(ClientError::NoIdentity)?;
        key_from_seed(&seed)
    }

    /// Every document on this device.
    pub fn docs(&self) -> Result<Vec<DocRow>> {
        self.store.docs()
    }

    /// The document whose id starts with `prefix` (or whose title is `prefix`).
    pub fn find_doc(&self, prefix: &str) -> Result<DocRow> {
        let docs = self.store.docs()?;
        let mut hits: Vec<DocRow> = docs
            .iter()
            .filter(|d| d.doc.starts_with(prefix))
            .cloned()
            .collect();
        if hits.is_empty() {
            hits = docs
                .into_iter()
                .filter(|d| d.title.eq_ignore_ascii_case(prefix))
                .collect();
        }
        match hits.len() {
            0 => Err(ClientError::UnknownDoc(prefix.to_owned())),
            1 => Ok(hits.remove(0)),
            _ => Err(ClientError::AmbiguousDoc(prefix.to_owned())),
        }
    }

    /// What identifies `doc`'s stored content now (see
    /// [`Store::content_tag`]); `None` before its first content arrives.
    pub fn content_tag(&self, doc: &str) -> Result<Option<String>> {
        self.store.content_tag(doc)
    }

    /// The `kind` value cached for `doc`, if it was computed from the
    /// document as stored now.
    pub fn cached(&self, doc: &str, kind: &str) -> Result<Option<Vec<u8>>> {
        self.store.cached(doc, kind)
    }

    /// Every document's content tag and cached `kind` value (one query).
    pub fn cached_all(&self, kind: &str) -> Result<Vec<crate::store::CacheEntry>> {
        self.store.cached_all(kind)
    }

    /// Caches `value` as `doc`'s `kind`, computed from its content as of
    /// `tag`. A cache: losing it loses nothing.
    pub fn put_cache(&self, doc: &str, kind: &str, tag: &str, value: &[u8]) -> Result<()> {
        self.store
            .write_lazily(|tx| rows::put_cache(tx, doc, kind, tag, value))
    }

    /// The document's automerge bytes (load them with automerge or the journal).
    pub fn document(&self, doc: &str) -> Result<Vec<u8>> {
        Ok(self.document_marked(doc)?.0)
    }

    /// The document's bytes, how many chunks they were stored in, and the
    /// last chunk's row id (a mark for [`Client::compact`]).
    pub fn document_marked(&self, doc: &str) -> Result<(Vec<u8>, usize, i64)> {
        let chunks = self.store.chunks(doc)?;
        let Some(last) = chunks.last().map(|(id, _)| *id) else {
            return Err(ClientError::NotSyncedYet(doc.to_owned()));
        };
        let count = chunks.len();
        let bytes = chunks.into_iter().flat_map(|(_, b)| b).collect();
        Ok((bytes, count, last))
    }

    /// Record local changes to `doc`: stored, and queued to be sealed and
    /// sent, in one transaction. Durable when this returns.
    pub fn commit(&self, doc: &str, changes: &[Vec<u8>]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let payload = encode_batch(changes);
        self.store.write(|tx| {
            for c in changes {
                rows::add_chunk(tx, doc, c)?;
            }
            rows::queue_unsealed(tx, doc, &payload)
        })
    }

    /// Replace the document's chunks up to `mark` (from
    /// [`Client::document_marked`]) with `snapshot`, which must contain them.
    /// The snapshot is durable before anything it replaces is deleted: both
    /// happen in one transaction.
    pub fn compact(&self, doc: &str, snapshot: &[u8], mark: i64) -> Result<()> {
        self.store
            .write(|tx| rows::compact(tx, doc, snapshot, mark))
    }

    /// Create a document owned by this device on `relay`, with its first
    /// content. The owner's perspective label is `perspective`.
    pub fn create(
        &self,
        relay: &RelayAddr,
        title: &str,
        perspective: &str,
        initial: &[Vec<u8>],
    ) -> Result<DocId> {
        let _lock = self.lock()?;
        let mut session = self.session(relay)?;
        let now = now_ms();
        let (doc, _) = session.create_doc(now, perspective, &mut OsRng)?;
        let doc_hex = doc.to_string();
        let state = session
            .persisted(&doc)
            .ok_or(ClientError::UnknownDoc(doc_hex.clone()))?;
        let payload = encode_batch(initial);
        self.store.write(|tx| {
            rows::put_doc(tx, &doc_hex, &relay.to_string(), title, now as i64)?;
            rows::put_sync_state(tx, &doc_hex, &persist::encode(&state))?;
            for c in initial {
                rows::add_chunk(tx, &doc_hex, c)?;
            }
            rows::queue_unsealed(tx, &doc_hex, &payload)
        })?;
        Ok(doc)
    }

    /// Create a single-use invite link for `doc`, granting `role` and
    /// `perspective`, valid for `valid_ms`. `name` is what this device will
    /// call the person who redeems it.
    pub fn share(
        &self,
        doc: &str,
        role: Role,
        perspective: &str,
        name: &str,
        valid_ms: u64,
    ) -> Result<String> {
        let _lock = self.lock()?;
        let row = self.find_doc(doc)?;
        let relay = relay_of(&row)?;
        let mut session = self.session_with(&relay, std::slice::from_ref(&row))?;
        let doc_id = parse_doc(&row.doc)?;
        let now = now_ms();
        let (link, _) = session.create_invite(
            now,
            doc_id,
            &relay,
            role,
            perspective,
            now.saturating_add(valid_ms),
            &mut OsRng,
        )?;
        let state = session
            .persisted(&doc_id)
            .ok_or(ClientError::UnknownDoc(row.doc.clone()))?;
        let invite = link.secret.id().to_string();
        self.store.write(|tx| {
            rows::put_sync_state(tx, &row.doc, &persist::encode(&state))?;
            rows::put_invite(tx, &row.doc, &invite, name, perspective)
        })?;
        Ok(link.to_link().to_string())
    }

    /// Start joining a document through an invite link; the next sync with
    /// its relay redeems it and fetches the journal. Joining a document this
    /// device is already a member of changes nothing and is
    /// [`ClientError::AlreadyMember`]; joining one whose join is under way
    /// keeps its state.
    pub fn join(&self, link: &str) -> Result<DocRow> {
        let _lock = self.lock()?;
        let link: InviteLink = link.trim().parse()?;
        let relay = link.relay.clone();
        let doc_hex = link.doc.to_string();
        let existing: Vec<DocRow> = self
            .store
            .docs()?
            .into_iter()
            .filter(|d| d.doc == doc_hex)
            .collect();
        let mut session = self.session_with(&relay, &existing)?;
        let me = session.device_id();
        if session
            .membership(&link.doc)
            .is_some_and(|m| m.role(&me).is_some())
        {
            return Err(ClientError::AlreadyMember(doc_hex));
        }
        session.join(&link);
        let state = session
            .persisted(&link.doc)
            .ok_or(ClientError::UnknownDoc(doc_hex.clone()))?;
        self.store.write(|tx| {
            rows::put_doc(tx, &doc_hex, &relay.to_string(), "", now_ms() as i64)?;
            // A join under way follows the newest link: the earlier one may
            // have named a relay out of reach (mistyped, or moved).
            rows::set_relay(tx, &doc_hex, &relay.to_string())?;
            rows::put_sync_state(tx, &doc_hex, &persist::encode(&state))
        })?;
        self.find_doc(&doc_hex)
    }

    /// Members of `doc` from its verified membership log.
    pub fn members(&self, doc: &str) -> Result<Vec<MemberInfo>> {
        let row = self.find_doc(doc)?;
        let relay = relay_of(&row)?;
        let session = self.session_with(&relay, std::slice::from_ref(&row))?;
        let doc_id = parse_doc(&row.doc)?;
        let Some(state) = session.membership(&doc_id) else {
            return Ok(Vec::new());
        };
        let names = self.store.invites(&row.doc)?;
        let invited_as = |device: &DeviceId| {
            state
                .invites()
                .iter()
                .find_map(|(id, inv)| match inv.status {
                    InviteStatus::Used(d) if &d == device => {
                        let id = id.to_string();
                        names
                            .iter()
                            .find(|(i, _, _)| *i == id)
                            .map(|(_, n, _)| n.clone())
                    }
                    _ => None,
                })
        };
        Ok(state
            .members()
            .iter()
            .map(|(device, m)| MemberInfo {
                device: *device,
                role: m.role,
                perspective: m.perspective.clone(),
                invited_as: invited_as(device),
                person: m.person,
            })
            .collect())
    }

    /// Remove a member from `doc` and rotate to an epoch key they never get.
    pub fn revoke(&self, doc: &str, device: &DeviceId) -> Result<()> {
        self.membership_change(doc, |session, doc| {
            session.remove_member(now_ms(), doc, *device, &mut OsRng)
        })
    }

    /// Deletes `doc` (owner only): queues the signed delete op for the relay.
    /// The relay erases the document and tells every member; this device
    /// erases its copy when the relay confirms ([`crate::ClientEvent::Erased`]).
    pub fn delete(&self, doc: &str) -> Result<()> {
        self.membership_change(doc, |session, doc| session.delete_doc(now_ms(), doc))
    }

    /// Leaves `doc`: queues this device's own removal for the relay; the copy
    /// is erased when the relay confirms it.
    pub fn leave(&self, doc: &str) -> Result<()> {
        self.membership_change(doc, |session, doc| session.leave(now_ms(), doc))
    }

    /// Signs a membership op with `f` and stores the session state that
    /// queues it.
    fn membership_change(
        &self,
        doc: &str,
        f: impl FnOnce(
            &mut ClientSession,
            DocId,
        ) -> std::result::Result<
            starling_protocol::session::Output,
            starling_protocol::session::SessionError,
        >,
    ) -> Result<()> {
        let _lock = self.lock()?;
        let row = self.find_doc(doc)?;
        let relay = relay_of(&row)?;
        let mut session = self.session_with(&relay, std::slice::from_ref(&row))?;
        let doc_id = parse_doc(&row.doc)?;
        f(&mut session, doc_id)?;
        let state = session
            .persisted(&doc_id)
            .ok_or(ClientError::UnknownDoc(row.doc.clone()))?;
        self.store
            .write(|tx| rows::put_sync_state(tx, &row.doc, &persist::encode(&state)))
    }

    /// Every device the document's membership log names (as author, or as
    /// a member added, removed or re-roled): the devices that are, or have
    /// been, in it. Anyone else in its access log is unknown.
    pub fn known_devices(&self, doc: &str) -> Result<std::collections::BTreeSet<DeviceId>> {
        use starling_protocol::membership::OpBody;
        let mut out = std::collections::BTreeSet::new();
        for op in &self.membership_ops(doc)? {
            let c = op.content();
            out.insert(c.author);
            match &c.body {
                OpBody::AddMember { device, .. }
                | OpBody::RemoveMember { device }
                | OpBody::ChangeRole { device, .. } => {
                    out.insert(*device);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// `doc`'s membership log, as this device holds it.
    fn membership_ops(
        &self,
        doc: &str,
    ) -> Result<Vec<starling_protocol::membership::MembershipOp>> {
        let row = self.find_doc(doc)?;
        let relay = relay_of(&row)?;
        let session = self.session_with(&relay, std::slice::from_ref(&row))?;
        Ok(session
            .persisted(&parse_doc(&row.doc)?)
            .map(|p| p.ops)
            .unwrap_or_default())
    }

    /// The devices that left `doc` themselves (their own removal is in its
    /// membership log), as opposed to being removed by an owner.
    pub fn left(&self, doc: &str) -> Result<std::collections::BTreeSet<DeviceId>> {
        use starling_protocol::membership::OpBody;
        let mut out = std::collections::BTreeSet::new();
        for op in &self.membership_ops(doc)? {
            let c = op.content();
            match &c.body {
                OpBody::RemoveMember { device } if *device == c.author => {
                    out.insert(*device);
                }
                // Back again: an owner added them anew.
                OpBody::AddMember { device, .. } => {
                    out.remove(device);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Whether the journal's log ends with its deletion, still waiting for
    /// the relay to carry it out.
    pub fn deleting(&self, doc: &str) -> Result<bool> {
        let row = self.find_doc(doc)?;
        let relay = relay_of(&row)?;
        let session = self.session_with(&relay, std::slice::from_ref(&row))?;
        Ok(session
            .membership(&parse_doc(&row.doc)?)
            .is_some_and(|m| m.is_deleted()))
    }

    /// Whether this device may write to `doc`, by its verified membership log.
    pub fn can_write(&self, doc: &str) -> Result<bool> {
        let row = self.find_doc(doc)?;
        let relay = relay_of(&row)?;
        let session = self.session_with(&relay, std::slice::from_ref(&row))?;
        let me = session.device_id();
        Ok(session
            .membership(&parse_doc(&row.doc)?)
            .is_some_and(|m| m.can_write(&me)))
    }

    /// Erases `doc` from this device at once if nothing of it ever reached
    /// its relay: the relay never confirmed its first membership op and
    /// never sent any of it. Nobody else can have it, so there is nothing
    /// to wait for. Returns whether it erased.
    pub fn erase_unsent(&self, doc: &str) -> Result<bool> {
        let _lock = self.lock()?;
        if !self.never_reached_relay(doc)? {
            return Ok(false);
        }
        self.store.write(|tx| rows::erase(tx, doc))?;
        self.store.reclaim()?;
        Ok(true)
    }

    /// Whether nothing of `doc` ever reached its relay: the relay never
    /// confirmed its first membership op and never sent any of it (a
    /// journal started here, never a join).
    pub fn never_reached_relay(&self, doc: &str) -> Result<bool> {
        let Some(bytes) = self.store.sync_state(doc)? else {
            return Ok(false);
        };
        let state = persist::decode(&bytes)?;
        Ok(state.cursor == 0
            && state.invite.is_none()
            && state
                .ops
                .first()
                .is_some_and(|first| state.op_outbox.iter().any(|o| o.hash() == first.hash())))
    }

    /// Points `doc` at `relay` instead, if nothing of it ever reached the
    /// relay it names (a mistyped or wrong address): it is sent there at
    /// the next sync. Returns false, changing nothing, once a relay has it.
    pub fn correct_relay(&self, doc: &str, relay: &RelayAddr) -> Result<bool> {
        let _lock = self.lock()?;
        if !self.never_reached_relay(doc)? {
            return Ok(false);
        }
        self.store.write(|tx| {
            rows::set_relay(tx, doc, &relay.to_string())?;
            rows::set_problem(tx, doc, None)
        })?;
        Ok(true)
    }

    /// Forget a document this device never got into (a join the relay
    /// refused, or one given up). Keeps documents that have content;
    /// returns whether it forgot.
    pub fn forget_failed_join(&self, doc: &str) -> Result<bool> {
        if !self.store.chunks(doc)?.is_empty() {
            return Ok(false);
        }
        self.store.write(|tx| rows::forget(tx, doc))?;
        Ok(true)
    }

    /// Records why the last sync could not catch `doc` up (`None`: clear);
    /// a sync that catches it up clears it too.
    pub fn set_sync_problem(&self, doc: &str, problem: Option<&str>) -> Result<()> {
        self.store.write(|tx| rows::set_problem(tx, doc, problem))
    }

    /// Whether this device's join of `doc` is still under way (its invite
    /// not yet redeemed).
    pub fn is_joining(&self, doc: &str) -> Result<bool> {
        match self.store.sync_state(doc)? {
            Some(bytes) => Ok(persist::decode(&bytes)?.invite.is_some()),
            None => Ok(false),
        }
    }

    /// How many received envelopes of `doc` wait for an earlier envelope of
    /// their author that the relay has not delivered (not those waiting for
    /// a key or a membership change still to come).
    pub fn held_back(&self, doc: &str) -> Result<usize> {
        let Some(bytes) = self.store.sync_state(doc)? else {
            return Ok(0);
        };
        let state = persist::decode(&bytes)?;
        let head = |author: &DeviceId| {
            state
                .heads
                .iter()
                .find(|c| &c.author == author)
                .map_or(0, |c| c.seq)
        };
        let held: std::collections::BTreeSet<(DeviceId, u64)> = state
            .pending
            .iter()
            .map(|e| (e.header_unverified().author, e.header_unverified().seq))
            .collect();
        // A gap: neither applied nor held is the envelope just before it.
        Ok(held
            .iter()
            .filter(|(author, seq)| {
                *seq > head(author).saturating_add(1)
                    && !held.contains(&(*author, seq.saturating_sub(1)))
            })
            .count())
    }

    /// How many of this device's edits to `doc` have not reached the relay
    /// yet (waiting to be sealed, or sealed and not acknowledged): 0 means
    /// everything this device wrote is stored at the relay, which said so
    /// in a signed acknowledgement.
    pub fn not_yet_at_relay(&self, doc: &str) -> Result<usize> {
        let unsealed = self
            .store
            .unsealed()?
            .into_iter()
            .filter(|(_, d, _)| d == doc)
            .count();
        let outbox = match self.store.sync_state(doc)? {
            Some(bytes) => {
                let state = persist::decode(&bytes)?;
                state.outbox.len() + state.op_outbox.len()
            }
            None => 0,
        };
        Ok(unsealed + outbox)
    }

    /// Set a document's title on this device.
    pub fn set_title(&self, doc: &str, title: &str) -> Result<()> {
        self.store.write(|tx| rows::set_title(tx, doc, title))
    }

    /// A session for `relay` with no documents restored; it holds the relay
    /// to the key pinned for it, if any.
    pub(crate) fn session(&self, relay: &RelayAddr) -> Result<ClientSession> {
        let config = SessionConfig {
            origin: relay.origin(),
            relay: self.pinned_relay(relay)?,
            agent: AGENT.to_owned(),
        };
        let mut session = ClientSession::new(self.key()?, config, &mut OsRng);
        session.set_person(self.person_of_store()?);
        Ok(session)
    }

    /// The key pinned for `relay`, if this device has met it. A pinned
    /// value that does not parse is a damaged store.
    pub fn pinned_relay(&self, relay: &RelayAddr) -> Result<Option<DeviceId>> {
        match self.store.pinned_relay(&relay.to_string())? {
            None => Ok(None),
            Some((key, _)) => key.parse().map(Some).map_err(|_| {
                ClientError::CorruptStore(format!("the key pinned for relay {relay} is not a key"))
            }),
        }
    }

    /// Every relay key this device pinned: `(relay, key, pinned at unix ms)`.
    pub fn pinned_relays(&self) -> Result<Vec<(String, String, i64)>> {
        self.store.pinned_relays()
    }

    /// Forget the key pinned for `relay`, so the next sync pins whatever key
    /// it presents. Whether a key was pinned.
    pub fn forget_relay_key(&self, relay: &RelayAddr) -> Result<bool> {
        self.store
            .write(|tx| Ok(rows::unpin_relay(tx, &relay.to_string())?))
    }

    /// Trust the certificate authorities in a PEM file for `wss://` relays
    /// (an organisation's own CA), besides the built-in and platform roots.
    /// Returns the SHA-256 fingerprints (hex) of the certificates added.
    pub fn trust_ca(&self, pem: &[u8], label: &str) -> Result<Vec<String>> {
        let certs =
            crate::tls::parse_pem_certs(pem).map_err(|reason| ClientError::BadCertificateFile {
                path: label.to_owned(),
                reason,
            })?;
        let now = now_ms() as i64;
        self.store.write(|tx| {
            let mut added = Vec::new();
            for der in &certs {
                let fingerprint = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(der));
                rows::trust_ca(tx, &fingerprint, der, label, now)?;
                added.push(fingerprint);
            }
            Ok(added)
        })
    }

    /// The certificate authorities this device trusts besides the built-in
    /// and platform roots.
    pub fn trusted_cas(&self) -> Result<Vec<crate::store::TrustedCa>> {
        self.store.trusted_cas()
    }

    /// Stop trusting the authorities whose fingerprint starts with `prefix`
    /// (at least 8 hex digits); how many were removed.
    pub fn untrust_ca(&self, prefix: &str) -> Result<usize> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::BadCertificateFile {
                path: prefix,
                reason: "give at least 8 hex digits of the fingerprint".into(),
            });
        }
        self.store.write(|tx| Ok(rows::untrust_ca(tx, &prefix)?))
    }

    /// A session for `relay` with `docs` restored from the store.
    pub(crate) fn session_with(&self, relay: &RelayAddr, docs: &[DocRow]) -> Result<ClientSession> {
        let mut session = self.session(relay)?;
        for row in docs {
            if let Some(bytes) = self.store.sync_state(&row.doc)? {
                session.restore_doc(persist::decode(&bytes)?)?;
            }
        }
        Ok(session)
    }
}

pub(crate) fn relay_of(row: &DocRow) -> Result<RelayAddr> {
    RelayAddr::parse(&row.relay)
        .map_err(|e| ClientError::CorruptStore(format!("bad relay address {}: {e}", row.relay)))
}

pub(crate) fn parse_doc(doc: &str) -> Result<DocId> {
    doc.parse()
        .map_err(|_| ClientError::CorruptStore(format!("bad document id {doc}")))
}

fn key_from_seed(seed: &[u8]) -> Result<DeviceKey> {
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| ClientError::CorruptStore("identity seed has the wrong length".into()))?;
    Ok(DeviceKey::from_seed(seed))
}
