//! The [`Journal`]: one automerge document, its schema, and how it is saved,
//! loaded, merged and forked.
//!
//! # Document layout (schema 1)
//!
//! ```text
//! ROOT
//!   schema: uint                  1
//!   journal_id: str               128 random bits, hex
//!   owner: str                    the owner's device id (set in the genesis change)
//!   instruments: { "id@version#sha256": str(json definition) }
//!   members: { device: { name: str, role: "client"|"worker"|"supporter" } }
//!   readings: { reading_id: {
//!       date, mode, instrument, review_date: str,
//!       deleted: bool, touched: str,
//!       scores: { area: { client: int, worker: int, agreed: int } },
//!       notes: { area: Text },
//!       signoffs: { device: { signature: bytes, digest: bytes, heads: str, at: timestamp } } } }
//!   goals: { goal_id: { area, reading: str, title: Text, target: int, created: timestamp,
//!       deleted, touched, steps: { step_id: { text: Text, owner, due: str, done: bool,
//!       deleted, touched } } } }
//!   notes: { note_id: { date, area: str, author: str, text: Text, created: timestamp,
//!       deleted, touched } }
//! ```
//!
//! Keys are ids, never positions. Every nested container is created together
//! with its parent, by one device, so concurrent edits never race to create
//! the same object. Items are never deleted from a map: `deleted` marks them,
//! and every edit of an item also writes its `touched` key, so a delete that
//! was concurrent with an edit shows as concurrent values of `touched` and the
//! item is kept and flagged instead of vanishing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{
    Automerge, Change, ChangeHash, LoadOptions, ObjId, ObjType, OnPartialLoad, ROOT, ReadDoc,
};

use crate::cache::ViewCache;
use crate::error::{JournalError, Result};
use crate::fields::{Deletion, child_map, deletion, read_map};
use crate::ids::DeviceId;
use crate::instrument::Instrument;
use crate::untrusted::{check_chunks, guarded};

/// Newest schema version this build reads and writes.
pub const SCHEMA_VERSION: u64 = 1;

/// A Recovery Star journal, edited by one device.
///
/// Reads ([`Journal::view`], [`Journal::conflicts`], [`Journal::history`]) never
/// fail on odd data: they flag it. Edits validate their input and commit one
/// automerge change each, with a message and a timestamp.
#[derive(Debug)]
pub struct Journal {
    pub(crate) doc: Automerge,
    pub(crate) device: DeviceId,
    fixed_time: Option<i64>,
    saved_heads: Vec<ChangeHash>,
    /// The last view, per item; see `cache.rs`.
    pub(crate) cache: RefCell<Option<ViewCache>>,
    /// Which person each device belongs to, where not itself (see
    /// [`Journal::set_persons`]).
    pub(crate) persons: std::collections::BTreeMap<DeviceId, DeviceId>,
    /// Set while settling a conflict: the change's message says so, so
    /// history does not read it as a plain edit.
    pub(crate) settling: bool,
}

/// What a change is about, rendered into its message so history can be filtered.
#[derive(Debug, Default)]
pub(crate) struct Message {
    pub text: String,
    pub reading: Option<String>,
    pub area: Option<String>,
}

impl Message {
    pub fn new(text: impl Into<String>) -> Self {
        Message {
            text: text.into(),
            ..Message::default()
        }
    }

    pub fn reading(mut self, id: &str) -> Self {
        self.reading = Some(id.to_owned());
        self
    }

    pub fn area(mut self, area: &str) -> Self {
        self.area = Some(area.to_owned());
        self
    }

    /// The message with git-style trailers.
    fn render(&self) -> String {
        let mut out = self.text.clone();
        if self.reading.is_some() || self.area.is_some() {
            out.push('\n');
        }
        if let Some(r) = &self.reading {
            out.push_str("\nReading: ");
            out.push_str(r);
        }
        if let Some(a) = &self.area {
            out.push_str("\nArea: ");
            out.push_str(a);
        }
        out
    }
}

impl Journal {
    /// Start a new journal owned by `owner`, the client, under the name `client_name`.
    pub fn create(owner: DeviceId, client_name: &str) -> Result<Self> {
        Journal::create_with_id(owner, client_name, &hex::encode(rand::random::<[u8; 16]>()))
    }

    pub(crate) fn create_with_id(
        owner: DeviceId,
        client_name: &str,
        journal_id: &str,
    ) -> Result<Self> {
        let doc = Automerge::new().with_actor(owner.new_actor());
        let mut journal = Journal {
            doc,
            device: owner,
            fixed_time: None,
            saved_heads: Vec::new(),
            settling: false,
            cache: RefCell::default(),
            persons: std::collections::BTreeMap::new(),
        };
        let name = clean_name(client_name)?;
        journal.edit(Message::new(format!("created journal for {name}")), |tx| {
            tx.put(ROOT, "schema", SCHEMA_VERSION)?;
            tx.put(ROOT, "journal_id", journal_id)?;
            tx.put(ROOT, "owner", owner.to_string())?;
            for key in ["instruments", "members", "readings", "goals", "notes"] {
                tx.put_object(ROOT, key, ObjType::Map)?;
            }
            Ok(())
        })?;
        journal.set_member(owner, &name, crate::MemberRole::Client)?;
        Ok(journal)
    }

    /// Tells the journal which devices belong to one person (from the
    /// document's verified membership log: `(device, person)` pairs, the
    /// person named by the id of their first device). A person's devices
    /// then count as one member: each scores from the person's perspective,
    /// a sign-off by either counts as the person's, and any device of the
    /// owner may record members.
    pub fn set_persons(&mut self, persons: impl IntoIterator<Item = (DeviceId, DeviceId)>) {
        self.persons = persons.into_iter().filter(|(d, p)| d != p).collect();
        *self.cache.borrow_mut() = None;
    }

    /// The person `device` belongs to (itself, unless told otherwise).
    pub(crate) fn person(&self, device: DeviceId) -> DeviceId {
        self.persons.get(&device).copied().unwrap_or(device)
    }

    /// The person `device` belongs to, as [`Journal::set_persons`] said
    /// (the device itself otherwise).
    pub fn person_of(&self, device: DeviceId) -> DeviceId {
        self.person(device)
    }

    /// Whether `device` is one of the owner's devices.
    pub fn owned_by(&self, device: DeviceId) -> bool {
        self.owner()
            .is_some_and(|o| self.person(o) == self.person(device))
    }

    /// Each member's role, by device: every device of a member's person
    /// holds it.
    pub(crate) fn roles(
        &self,
        members: &[crate::members::Member],
    ) -> std::collections::HashMap<DeviceId, crate::model::MemberRole> {
        let mut roles: std::collections::HashMap<_, _> =
            members.iter().map(|m| (m.device, m.role)).collect();
        if self.persons.is_empty() {
            return roles;
        }
        let by_person: std::collections::HashMap<_, _> = members
            .iter()
            .map(|m| (self.person(m.device), m.role))
            .collect();
        for (device, person) in &self.persons {
            if let Some(role) = by_person.get(person) {
                roles.entry(*device).or_insert(*role);
                // The person's first device, when only a later one has an
                // entry.
                roles.entry(*person).or_insert(*role);
            }
        }
        roles
    }

    /// Load a saved journal to be edited by `device`.
    pub fn load(bytes: &[u8], device: DeviceId) -> Result<Self> {
        check_chunks(bytes)?;
        // Changes whose dependencies have not arrived yet wait inside the
        // document instead of making the whole journal unreadable.
        let doc = guarded(|| {
            Automerge::load_with_options(
                bytes,
                LoadOptions::new().on_partial_load(OnPartialLoad::Ignore),
            )
        })?;
        let journal = Journal::from_doc(doc, device)?;
        Ok(journal)
    }

    fn from_doc(doc: Automerge, device: DeviceId) -> Result<Self> {
        let mut journal = Journal {
            doc: doc.with_actor(device.new_actor()),
            device,
            fixed_time: None,
            saved_heads: Vec::new(),
            settling: false,
            cache: RefCell::default(),
            persons: std::collections::BTreeMap::new(),
        };
        journal.check_schema()?;
        journal.saved_heads = journal.doc.get_heads();
        Ok(journal)
    }

    fn check_schema(&self) -> Result<()> {
        let root = read_map(&self.doc, &ROOT);
        let schema = root.get("schema").and_then(|e| e.int());
        let has_id = root.get("journal_id").and_then(|e| e.str()).is_some();
        match schema {
            Some(v) if v > SCHEMA_VERSION as i64 => Err(JournalError::NewerSchema {
                found: v as u64,
                supported: SCHEMA_VERSION,
            }),
            Some(v) if v >= 1 && has_id => Ok(()),
            _ => Err(JournalError::NotAJournal(
                "the document has no Starling journal schema".into(),
            )),
        }
    }

    /// The device this journal edits as.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The journal's random id.
    pub fn journal_id(&self) -> String {
        read_map(&self.doc, &ROOT)
            .get("journal_id")
            .and_then(|e| e.str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Use a fixed clock (unix seconds) for change timestamps, e.g. in tests.
    pub fn set_time(&mut self, seconds: i64) {
        self.fixed_time = Some(seconds);
    }

    pub(crate) fn now(&self) -> i64 {
        self.fixed_time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.saved_heads = self.doc.get_heads();
        self.doc.save()
    }

    /// The changes made or received since the last `save`/`save_incremental`.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        let bytes = self.doc.save_after(&self.saved_heads);
        self.saved_heads = self.doc.get_heads();
        bytes
    }

    /// Apply bytes from [`Journal::save_incremental`] or [`Journal::save`].
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<()> {
        check_chunks(bytes)?;
        // Decode into a scratch document first: if the bytes make the decoder
        // fail, this journal has not been touched.
        guarded(|| {
            Automerge::load_with_options(
                bytes,
                LoadOptions::new().on_partial_load(OnPartialLoad::Ignore),
            )
        })?;
        let doc = &mut self.doc;
        guarded(move || doc.load_incremental(bytes))?;
        self.check_schema()
    }

    /// The raw automerge bytes, readable by any automerge implementation.
    pub fn export_automerge(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// Take in every change of `other`.
    pub fn merge(&mut self, other: &mut Journal) -> Result<()> {
        self.doc.merge(&mut other.doc)?;
        self.check_schema()
    }

    /// A copy to be edited by `device` (another process, another person).
    pub fn fork(&self, device: DeviceId) -> Journal {
        Journal {
            doc: self.doc.fork().with_actor(device.new_actor()),
            device,
            fixed_time: self.fixed_time,
            saved_heads: Vec::new(),
            settling: false,
            cache: RefCell::default(),
            persons: self.persons.clone(),
        }
    }

    /// The journal as it was at `heads` (from [`Journal::history`]), read-only in spirit.
    pub fn at(&self, heads: &[ChangeHash]) -> Result<Journal> {
        let doc = self.doc.fork_at(heads)?;
        Ok(Journal {
            doc,
            device: self.device,
            fixed_time: self.fixed_time,
            saved_heads: Vec::new(),
            settling: false,
            cache: RefCell::default(),
            persons: self.persons.clone(),
        })
    }

    /// Whether some changes are waiting for dependencies that have not
    /// arrived. A [`Journal::save`] then would leave those changes out, so
    /// callers must not replace stored changes with it.
    pub fn is_waiting_for_changes(&self) -> bool {
        !self.doc.get_missing_deps(&[]).is_empty()
    }

    /// The current heads of the change graph.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Raw bytes of every change not covered by `heads`, oldest first.
    pub fn changes_since(&self, heads: &[ChangeHash]) -> Vec<Vec<u8>> {
        self.doc
            .get_changes(heads)
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    /// Apply changes received from `signer`'s device.
    ///
    /// Every change must have been made under one of `signer`'s actor ids;
    /// otherwise nothing of the batch is applied. Changes whose dependencies are
    /// missing wait inside automerge until the dependencies arrive.
    pub fn apply_changes_signed_by(&mut self, signer: DeviceId, changes: &[Vec<u8>]) -> Result<()> {
        let mut parsed = Vec::with_capacity(changes.len());
        for bytes in changes {
            let change = guarded(|| Change::from_bytes(bytes.clone()))?;
            if !signer.owns_actor(change.actor_id()) {
                return Err(JournalError::ForeignActor {
                    change: change.hash().to_string(),
                    actor: change.actor_id().to_hex_string(),
                    device: signer.to_string(),
                });
            }
            parsed.push(change);
        }
        let doc = &mut self.doc;
        guarded(move || doc.apply_changes(parsed))?;
        Ok(())
    }

    /// Run `f` in one transaction and commit it with `message`; roll back on error.
    pub(crate) fn edit<T>(
        &mut self,
        message: Message,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let time = self.now();
        let mut tx = self.doc.transaction();
        match f(&mut tx) {
            Ok(value) => {
                let mut message = message;
                if self.settling {
                    message.text = format!("settled a conflict: {}", message.text);
                }
                tx.commit_with(
                    CommitOptions::default()
                        .with_message(message.render())
                        .with_time(time),
                );
                Ok(value)
            }
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }

    /// A top-level map (`readings`, `goals`...), or an error if a peer broke it.
    pub(crate) fn top(&self, key: &'static str) -> Result<ObjId> {
        child_map(&self.doc, &ROOT, key).ok_or_else(|| {
            JournalError::NotAJournal(format!("the journal's `{key}` map is missing"))
        })
    }

    /// The live (not deleted) item `id` in the top-level map `key`.
    pub(crate) fn item(&self, top: &'static str, kind: &'static str, id: &str) -> Result<ObjId> {
        let map = self.top(top)?;
        let obj = child_map(&self.doc, &map, id).ok_or_else(|| JournalError::NotFound {
            kind,
            id: id.to_owned(),
        })?;
        if matches!(
            deletion(&self.doc, &obj, &read_map(&self.doc, &obj)),
            Deletion::Deleted
        ) {
            return Err(JournalError::NotFound {
                kind,
                id: id.to_owned(),
            });
        }
        Ok(obj)
    }

    /// Every instrument recorded in the journal whose definition matches its hash.
    pub(crate) fn instruments(&self) -> HashMap<String, Instrument> {
        let Ok(map) = self.top("instruments") else {
            return HashMap::new();
        };
        read_map(&self.doc, &map)
            .into_iter()
            .filter_map(|(key, entry)| {
                let instrument = Instrument::from_json(entry.str()?).ok()?;
                (key == instrument_key(&instrument)).then_some((key, instrument))
            })
            .collect()
    }

    /// Record `instrument` in the journal (idempotent) and return its key.
    pub(crate) fn record_instrument(
        tx: &mut Transaction<'_>,
        map: &ObjId,
        instrument: &Instrument,
    ) -> Result<String> {
        let key = instrument_key(instrument);
        if tx.get(map, key.as_str())?.is_none() {
            tx.put(map, key.as_str(), instrument.to_json())?;
        }
        Ok(key)
    }
}

/// `id@version#sha256`: what a reading records about its instrument.
pub(crate) fn instrument_key(instrument: &Instrument) -> String {
    format!("{}#{}", instrument.key(), instrument.content_hash())
}

/// Names and titles: trimmed, non-empty, at most 200 characters.
pub(crate) fn clean_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(JournalError::InvalidValue {
            kind: "name",
            value: name.chars().take(40).collect(),
        });
    }
    Ok(name.to_owned())
}

/// The map under `key`, created if a damaged document lacks it.
pub(crate) fn ensure_map(tx: &mut Transaction<'_>, obj: &ObjId, key: &str) -> Result<ObjId> {
    match child_map(tx, obj, key) {
        Some(id) => Ok(id),
        None => Ok(tx.put_object(obj, key, ObjType::Map)?),
    }
}

/// The Text under `key`, created if missing (or replaced if a peer put something else there).
pub(crate) fn ensure_text(tx: &mut Transaction<'_>, obj: &ObjId, key: &str) -> Result<ObjId> {
    match tx.get(obj, key)? {
        Some((automerge::Value::Object(ObjType::Text), id)) => Ok(id),
        _ => Ok(tx.put_object(obj, key, ObjType::Text)?),
    }
}

/// Mark an item as edited by this transaction (see the module docs).
///
/// The value is unique per write: automerge drops a put that repeats the
/// current value, and a dropped put could not race a concurrent delete.
///
/// Edits only reach live items, or items whose delete raced an edit; editing
/// one of those keeps it, so the edit also clears its `deleted` mark.
///
/// The mark is cleared whenever it is not one plain `false`: a winning
/// `false` can still hide a concurrent `true` (a device that kept the item
/// while another deleted it), and a new `touched` without a new `deleted`
/// would then read as a plain delete and hide the item being edited.
pub(crate) fn touch(tx: &mut Transaction<'_>, obj: &ObjId, device: DeviceId) -> Result<()> {
    let marks = tx.get_all(obj, "deleted")?;
    let live = matches!(
        marks.as_slice(),
        [(automerge::Value::Scalar(v), _)] if v.as_ref() == &automerge::ScalarValue::Boolean(false)
    );
    if !marks.is_empty() && !live {
        tx.put(obj, "deleted", false)?;
    }
    stamp(tx, obj, device)
}

/// Write a fresh `touched` stamp.
pub(crate) fn stamp(tx: &mut Transaction<'_>, obj: &ObjId, device: DeviceId) -> Result<()> {
    let stamp = format!(
        "{}:{}",
        device.short(),
        hex::encode(rand::random::<[u8; 8]>())
    );
    tx.put(obj, "touched", stamp)?;
    Ok(())
}
