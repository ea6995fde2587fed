//! The relay's sans-IO core.
//!
//! [`RelayCore`] decides what every incoming frame means and returns a list
//! of [`RelayAction`]s for the relay application to carry out, **in order**:
//! a `Store*` action must be durable before any later `Send` (the ack it
//! precedes promises the envelope survives a crash). Storage stays outside:
//! at start-up the application feeds back every document with
//! [`RelayCore::restore_doc`], and answers [`RelayAction::Replay`] by loading
//! stored envelopes and sending them (see [`replay_messages`]).
//! [`MemoryRelay`] is a complete in-memory example used by the tests.
//!
//! Per connection: `Hello` → `Challenge` → `Authenticate` (signature over
//! the nonce, the relay's origin and a timestamp within
//! [`RelayConfig::auth_window_ms`], allow-list checked) → `Welcome`.
//! Per document: only members subscribe. A subscription replays what is
//! stored in pieces of about [`RelayConfig::replay_chunk_bytes`]
//! ([`RelayAction::Replay`]); the application asks for the next piece with
//! [`RelayCore::handle_replay_next`] once it has sent one (and may pace
//! that), and the connection receives the document live from the last piece
//! on. One `subscribe` never replays a document twice: repeated ids in it
//! are merged (the lowest cursor wins); a document being replayed on the
//! connection is skipped, and one it already receives live gets only a
//! `caught_up` at the latest doc seq. Only writers (owner, editor)
//! publish, and only their own envelopes; envelopes dedupe by
//! (doc, author, author seq), must extend the author's chain, get the next
//! doc seq, are acknowledged ([`RelayAction::Ack`]: the application signs
//! the acks of one connection that became durable together as one
//! [`wire::Acks`]), and fan out to the other subscribers. A snapshot whose
//! covers match stored envelopes lets the relay drop those
//! ([`RelayAction::Compact`]).
//!
//! Signatures: [`RelayCore::handle_message`] verifies a `Publish` itself.
//! An application that verifies elsewhere (in parallel, in batches) hands
//! the outcome to [`RelayCore::handle_checked_publish`] as a
//! [`CheckedPublish`]; either way the core stores only a
//! [`VerifiedEnvelope`] ([`RelayAction::StoreEnvelope`] holds one).

mod auth;
mod doc;
mod memory;
mod publish;
mod shared;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, HashSet};

pub use doc::EnvelopeMeta;
pub use memory::MemoryRelay;
pub use shared::{Absorbed, Committed, Diverged};

use crate::envelope::{Envelope, EnvelopeError, VerifiedEnvelope};
use crate::ids::{DeviceId, DocId};
use crate::keys::DeviceKey;
use crate::membership::{MembershipError, MembershipOp, OpStamp};
use crate::wire::{self, AckEntry, ErrorCode, Message, RetryClass};
use doc::DocState;

/// Identifies one connection, chosen by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Relay policy.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// The origin clients must sign (e.g. `wss://relay.example.org`).
    pub origin: String,
    /// Largest accepted difference between a device's clock and ours, ms.
    /// Default 5 minutes.
    pub auth_window_ms: u64,
    /// When set, only these devices may authenticate.
    pub allow_list: Option<HashSet<DeviceId>>,
    /// About how many envelope bytes one piece of a replay holds (at least
    /// one envelope). Default 256 KiB.
    pub replay_chunk_bytes: u64,
}

impl RelayConfig {
    /// Open registration, 5-minute clock window, 256 KiB replay pieces.
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            auth_window_ms: 5 * 60 * 1000,
            allow_list: None,
            replay_chunk_bytes: 256 * 1024,
        }
    }
}

/// Something the application must do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayAction {
    /// Send a message on a connection.
    Send {
        /// Where.
        conn: ConnId,
        /// What.
        msg: Message,
    },
    /// Durably store an envelope (before carrying out later actions).
    StoreEnvelope {
        /// The document.
        doc: DocId,
        /// Its metadata (keep this row forever; compaction drops only bytes).
        meta: EnvelopeMeta,
        /// The envelope; only a verified one can be stored.
        envelope: VerifiedEnvelope,
    },
    /// Acknowledge an envelope to a connection, once what precedes is
    /// durable: sign it with the relay's key ([`wire::Acks::sign`]), alone
    /// or together with the connection's other acks of the same commit,
    /// and send the [`Message::Acks`].
    Ack {
        /// Where.
        conn: ConnId,
        /// What.
        entry: AckEntry,
    },
    /// Durably append a membership op at `index`, with the relay's stamp.
    StoreMembershipOp {
        /// The document.
        doc: DocId,
        /// Index in the log.
        index: u64,
        /// The op.
        op: MembershipOp,
        /// When the relay appended it, signed.
        stamp: OpStamp,
    },
    /// Drop the bytes of these envelopes (a snapshot covers them); keep
    /// their metadata.
    Compact {
        /// The document.
        doc: DocId,
        /// Doc seqs to drop.
        doc_seqs: Vec<u64>,
    },
    /// Load stored envelopes with `after < doc_seq <= up_to` and send them to
    /// `conn` as `Deliver` ([`replay_messages`]); after the `last` piece,
    /// also `CaughtUp { doc, doc_seq: up_to }`. Once it is sent, call
    /// [`RelayCore::handle_replay_next`]: for the next piece, or a replay
    /// that waited its turn. A connection has at most [`MAX_REPLAYS`]
    /// pieces on their way, so what one subscribe can make the relay read
    /// and queue is bounded, and a relay that paces `handle_replay_next`
    /// paces every replay.
    Replay {
        /// Where.
        conn: ConnId,
        /// The document.
        doc: DocId,
        /// Exclusive lower bound.
        after: u64,
        /// Inclusive upper bound.
        up_to: u64,
        /// Bytes of the stored envelopes in the range (what the replay
        /// sends, framing aside): for pacing and rate limits.
        bytes: u64,
        /// Whether this piece ends the replay.
        last: bool,
    },
    /// Close the connection after sending what precedes.
    Close {
        /// Which.
        conn: ConnId,
    },
    /// Read `doc`'s access log and what is stored of it (store anything
    /// queued before first), then send it to `conn` signed
    /// ([`RelayCore::signed_access_log`]).
    ReadAccessLog {
        /// Who asked.
        conn: ConnId,
        /// The document.
        doc: DocId,
    },
    /// Durably erase everything stored of a document (its envelopes, its
    /// membership log) and keep only its tombstone, which refuses every
    /// later request about it; then reclaim the space, so none of its bytes
    /// stays in the storage files.
    EraseDoc {
        /// The document.
        doc: DocId,
        /// What to keep.
        tombstone: Tombstone,
        /// What the store holds of it as it is erased: membership ops and
        /// last doc seq (relays sharing a database check it, see
        /// [`RelayCore::heads`]).
        heads: (u64, u64),
    },
}

/// All the relay keeps of a deleted document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// When it was deleted (the relay's clock, unix ms).
    pub at: u64,
    /// The owner's signed delete op, its index in the (erased) log and the
    /// relay's stamp: members verify it before they erase their copies.
    /// `None` when the relay deleted the document itself (its retention
    /// schedule, or its operator):
    /// members then keep theirs (a relay's word alone erases nothing).
    pub op: Option<(u64, MembershipOp, OpStamp)>,
}

impl Tombstone {
    /// What the relay answers any request about the deleted `doc` with.
    pub fn notice(&self, doc: DocId) -> Message {
        match &self.op {
            Some((index, op, stamp)) => Message::Deleted {
                doc,
                index: *index,
                op: op.clone(),
                stamp: *stamp,
            },
            None => Message::error(
                ErrorCode::Deleted,
                RetryClass::Unauthorised,
                Some(doc),
                "deleted by this relay (its retention schedule, or its operator)",
            ),
        }
    }
}

#[derive(Clone, Debug)]
enum AuthState {
    New,
    Challenged { nonce: [u8; 32], device: DeviceId },
    Authenticated(DeviceId),
}

#[derive(Clone, Debug)]
struct Conn {
    auth: AuthState,
    subscriptions: BTreeSet<DocId>,
    /// Documents being replayed to this connection: the last doc seq sent.
    replaying: std::collections::BTreeMap<DocId, u64>,
    /// Replay pieces handed out and not yet reported sent.
    in_flight: usize,
    /// Documents whose replay waits its turn, with their cursors, in order.
    queued: std::collections::VecDeque<(DocId, u64)>,
}

/// Replay pieces on their way to one connection at once; further replays
/// wait their turn.
pub const MAX_REPLAYS: usize = 4;

/// The outcome of checking a published envelope's signature outside the
/// core, for [`RelayCore::handle_checked_publish`].
#[derive(Clone, Debug)]
pub enum CheckedPublish {
    /// The author's signature verified.
    Verified(VerifiedEnvelope),
    /// It did not; the core refuses it (after its cheaper checks, so the
    /// error is the one [`RelayCore::handle_message`] would give).
    Failed {
        /// The envelope.
        envelope: Envelope,
        /// Why it failed.
        error: EnvelopeError,
    },
}

impl CheckedPublish {
    /// The envelope, verified or not; for routing and quotas only.
    pub fn envelope(&self) -> &Envelope {
        match self {
            CheckedPublish::Verified(v) => v.envelope(),
            CheckedPublish::Failed { envelope, .. } => envelope,
        }
    }
}

/// The relay's state machine.
#[derive(Clone, Debug)]
pub struct RelayCore {
    key: DeviceKey,
    config: RelayConfig,
    conns: HashMap<ConnId, Conn>,
    docs: HashMap<DocId, DocState>,
    /// Subscribed connections per document (the inverse of
    /// `Conn::subscriptions`), so a fan-out never scans every connection.
    subscribers: HashMap<DocId, BTreeSet<ConnId>>,
    /// Documents whose stored state does not load (a damaged row): refused
    /// until the operator restores them; every other document is served.
    damaged: HashSet<DocId>,
    /// Deleted documents: refused, with the notice that lets members erase.
    deleted: HashMap<DocId, Tombstone>,
}

/// A document as stored: its id, its membership log with the relay's
/// stamps, and the metadata of its envelopes (each flagged whether its bytes
/// are kept), for [`RelayCore::reload_docs`].
pub type StoredDoc = (
    DocId,
    Vec<(MembershipOp, Option<OpStamp>)>,
    Vec<(EnvelopeMeta, bool)>,
);

/// What the relay says about a damaged document.
pub const DAMAGED: &str =
    "this document is damaged at the relay; its operator must restore it from backup";

/// The messages answering a [`RelayAction::Replay`], given the stored
/// envelopes in doc-seq order: one `Deliver` each, then, for the last piece,
/// `CaughtUp` at `up_to`.
pub fn replay_messages(
    doc: DocId,
    stored: impl IntoIterator<Item = (u64, Envelope)>,
    up_to: u64,
    last: bool,
) -> Vec<Message> {
    let mut out: Vec<Message> = stored
        .into_iter()
        .map(|(doc_seq, envelope)| Message::Deliver {
            doc,
            doc_seq,
            envelope,
        })
        .collect();
    if last {
        out.push(Message::CaughtUp {
            doc,
            doc_seq: up_to,
        });
    }
    out
}

/// The one document a request (other than a subscribe) is about.
fn target(msg: &Message) -> Option<DocId> {
    match msg {
        Message::Publish { envelope } => Some(envelope.header_unverified().doc),
        Message::MembershipPublish { doc, .. }
        | Message::AccessLogRequest { doc }
        | Message::InviteFetch { doc, .. }
        | Message::InviteRedeem { doc, .. }
        | Message::Presence { doc, .. } => Some(*doc),
        _ => None,
    }
}

fn send(conn: ConnId, msg: Message) -> RelayAction {
    RelayAction::Send { conn, msg }
}

/// The refusal of a request about a damaged document.
fn damaged(conn: ConnId, doc: DocId) -> RelayAction {
    err(
        conn,
        ErrorCode::UnknownDoc,
        RetryClass::RetryLater,
        Some(doc),
        DAMAGED,
    )
}

fn err(
    conn: ConnId,
    code: ErrorCode,
    retry: RetryClass,
    doc: Option<DocId>,
    text: impl Into<String>,
) -> RelayAction {
    send(conn, Message::error(code, retry, doc, text))
}

impl RelayCore {
    /// A relay signing with `key`.
    pub fn new(key: DeviceKey, config: RelayConfig) -> Self {
        Self {
            key,
            config,
            conns: HashMap::new(),
            docs: HashMap::new(),
            subscribers: HashMap::new(),
            damaged: HashSet::new(),
            deleted: HashMap::new(),
        }
    }

    /// Feeds back a stored tombstone (at start-up, and after a failed
    /// commit): every later request about `doc` is refused with its notice.
    pub fn restore_tombstone(&mut self, doc: DocId, tombstone: Tombstone) {
        self.docs.remove(&doc);
        self.deleted.insert(doc, tombstone);
    }

    /// The message answering a [`RelayAction::ReadAccessLog`]: `log`,
    /// signed with the relay's key.
    pub fn signed_access_log(&self, log: &wire::AccessLog) -> Message {
        Message::AccessLog {
            doc: log.doc,
            log: wire::SignedAccessLog::sign(&self.key, log),
        }
    }

    /// Deletes `doc` under the relay's retention schedule: erased as an
    /// owner's deletion is, with a tombstone that carries no op (members
    /// are told, and keep their copies).
    pub fn expire(&mut self, doc: DocId, now: u64) -> Vec<RelayAction> {
        if !self.docs.contains_key(&doc) {
            return Vec::new();
        }
        self.erase(doc, Tombstone { at: now, op: None }, None)
    }

    /// Whether `doc` was deleted.
    pub fn is_deleted(&self, doc: &DocId) -> bool {
        self.deleted.contains_key(doc)
    }

    /// Erases `doc`: the store erases it ([`RelayAction::EraseDoc`]), every
    /// connection following it gets the notice (and `also`, the one that
    /// asked), and from now on every request about it gets the notice.
    pub(crate) fn erase(
        &mut self,
        doc: DocId,
        tombstone: Tombstone,
        also: Option<ConnId>,
    ) -> Vec<RelayAction> {
        let mut targets = self.subscribers(&doc);
        targets.extend(self.replaying(&doc));
        targets.extend(also.filter(|c| !targets.contains(c)));
        for c in self.conns.keys().copied().collect::<Vec<_>>() {
            self.remove_subscription(c, &doc);
        }
        // An owner's delete op is in the log here but never stored.
        let stored_ops = |s: &DocState| match &tombstone.op {
            Some((index, _, _)) => *index,
            None => s.ops.len() as u64,
        };
        let heads = self
            .docs
            .remove(&doc)
            .map_or((0, 0), |s| (stored_ops(&s), s.last_doc_seq));
        let notice = tombstone.notice(doc);
        let mut out = vec![RelayAction::EraseDoc {
            doc,
            tombstone: tombstone.clone(),
            heads,
        }];
        out.extend(targets.into_iter().map(|c| send(c, notice.clone())));
        self.deleted.insert(doc, tombstone);
        out
    }

    /// The relay's identity (clients verify acks with it).
    pub fn relay_id(&self) -> DeviceId {
        self.key.device_id()
    }

    /// Feeds back a stored document: its membership log and the metadata of
    /// every stored envelope, each flagged whether its bytes are still kept.
    pub fn restore_doc(
        &mut self,
        doc: DocId,
        ops: Vec<(MembershipOp, Option<OpStamp>)>,
        metas: &[(EnvelopeMeta, bool)],
    ) -> Result<(), MembershipError> {
        // Ops stored before the relay stamped them: stamp them with the time
        // their author wrote, which the relay accepted then (within its
        // clock window). Deterministic, so every restart gives the same.
        let ops = ops
            .into_iter()
            .enumerate()
            .map(|(i, (op, stamp))| {
                let stamp = stamp.unwrap_or_else(|| {
                    OpStamp::sign(&self.key, &doc, i as u64, &op.hash(), op.content().at)
                });
                (op, Some(stamp))
            })
            .collect();
        let state = DocState::restore(doc, ops, metas)?;
        self.docs.insert(doc, state);
        Ok(())
    }

    /// Whether exactly this envelope is already stored (a retransmission,
    /// which the relay re-acknowledges whatever the quotas say).
    pub fn is_stored(&self, envelope: &Envelope) -> bool {
        let h = envelope.header_unverified();
        self.docs
            .get(&h.doc)
            .is_some_and(|s| s.stored_at(&h.author, h.seq, &envelope.hash()).is_some())
    }

    /// Takes a document out of service: its stored state is damaged. Its
    /// subscribers are told, and every request about it is refused with
    /// [`DAMAGED`] (retry later: the operator may restore it).
    pub fn mark_damaged(&mut self, doc: DocId) -> Vec<RelayAction> {
        self.docs.remove(&doc);
        self.damaged.insert(doc);
        let mut out = Vec::new();
        let mut listening = self.subscribers(&doc);
        listening.extend(self.replaying(&doc));
        for conn in listening {
            self.remove_subscription(conn, &doc);
            out.push(damaged(conn, doc));
        }
        out
    }

    /// Whether `doc` is out of service (see [`RelayCore::mark_damaged`]).
    pub fn is_damaged(&self, doc: &DocId) -> bool {
        self.damaged.contains(doc)
    }

    /// How many documents are out of service.
    pub fn damaged_count(&self) -> usize {
        self.damaged.len()
    }

    /// Replaces every document's state with what was stored (at start, or
    /// after a commit failed and was rolled back), keeping the connections
    /// and their subscriptions to documents that are still there. Returns
    /// the documents whose stored log does not verify (mark them damaged).
    pub fn reload_docs(
        &mut self,
        docs: Vec<StoredDoc>,
        tombstones: Vec<(DocId, Tombstone)>,
    ) -> Vec<(DocId, MembershipError)> {
        self.docs.clear();
        self.damaged.clear();
        self.deleted = tombstones.into_iter().collect();
        let mut failed = Vec::new();
        for (doc, ops, metas) in docs {
            if let Err(e) = self.restore_doc(doc, ops, &metas) {
                failed.push((doc, e));
            }
        }
        let gone: Vec<(ConnId, DocId)> = self
            .conns
            .iter()
            .flat_map(|(c, s)| {
                s.subscriptions
                    .iter()
                    .chain(s.replaying.keys())
                    .map(move |d| (*c, *d))
            })
            .filter(|(_, d)| !self.docs.contains_key(d))
            .collect();
        for (c, d) in gone {
            self.remove_subscription(c, &d);
        }
        failed
    }

    /// Documents known to the relay.
    pub fn docs(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }

    /// A connection opened.
    pub fn handle_connect(&mut self, conn: ConnId) {
        self.conns.insert(
            conn,
            Conn {
                auth: AuthState::New,
                subscriptions: BTreeSet::new(),
                replaying: std::collections::BTreeMap::new(),
                in_flight: 0,
                queued: std::collections::VecDeque::new(),
            },
        );
    }

    /// The device a connection is being held to: the one it said hello as
    /// (while challenged) or authenticated as. A later `Hello` on an
    /// authenticated connection changes nothing.
    pub fn device_of(&self, conn: ConnId) -> Option<DeviceId> {
        match self.conns.get(&conn)?.auth {
            AuthState::New => None,
            AuthState::Challenged { device, .. } | AuthState::Authenticated(device) => Some(device),
        }
    }

    /// A connection closed.
    pub fn handle_disconnect(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            for doc in &c.subscriptions {
                self.unindex(conn, doc);
            }
        }
    }

    /// Records that `conn` subscribes to `doc`.
    fn add_subscription(&mut self, conn: ConnId, doc: DocId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.subscriptions.insert(doc);
            self.subscribers.entry(doc).or_default().insert(conn);
        }
    }

    /// Records that `conn` no longer subscribes to `doc` (or has its
    /// replay).
    fn remove_subscription(&mut self, conn: ConnId, doc: &DocId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.subscriptions.remove(doc);
            c.replaying.remove(doc);
            c.queued.retain(|(d, _)| d != doc);
        }
        self.unindex(conn, doc);
    }

    /// Connections being replayed `doc` (they receive its membership ops
    /// live, so none is missed before their replay ends).
    fn replaying(&self, doc: &DocId) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.replaying.contains_key(doc))
            .map(|(id, _)| *id)
            .collect()
    }

    fn unindex(&mut self, conn: ConnId, doc: &DocId) {
        if let Some(s) = self.subscribers.get_mut(doc) {
            s.remove(&conn);
            if s.is_empty() {
                self.subscribers.remove(doc);
            }
        }
    }

    /// A binary frame arrived.
    pub fn handle_frame(
        &mut self,
        now: u64,
        conn: ConnId,
        frame: &[u8],
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Vec<RelayAction> {
        match wire::decode(frame) {
            Ok(msg) => self.handle_message(now, conn, msg, rng),
            Err(wire::WireError::Version(v)) => vec![
                err(
                    conn,
                    ErrorCode::Version,
                    RetryClass::Upgrade,
                    None,
                    format!("relay speaks v{}, got v{v}", wire::WIRE_VERSION),
                ),
                RelayAction::Close { conn },
            ],
            Err(wire::WireError::TooLarge(n)) => {
                vec![err(
                    conn,
                    ErrorCode::TooLarge,
                    RetryClass::TooLarge,
                    None,
                    format!("frame of {n} bytes"),
                )]
            }
            Err(e) => vec![err(
                conn,
                ErrorCode::Malformed,
                RetryClass::Unauthorised,
                None,
                e.to_string(),
            )],
        }
    }

    /// A decoded message arrived.
    pub fn handle_message(
        &mut self,
        now: u64,
        conn: ConnId,
        msg: Message,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Vec<RelayAction> {
        let Some(c) = self.conns.get(&conn) else {
            return vec![RelayAction::Close { conn }];
        };
        if let Some(doc) = self.damaged_target(&msg) {
            return vec![damaged(conn, doc)];
        }
        if let Some(doc) = target(&msg)
            && let Some(t) = self.deleted.get(&doc)
        {
            return vec![send(conn, t.notice(doc))];
        }
        let device = match (&c.auth, &msg) {
            (AuthState::Authenticated(d), _) => *d,
            (_, Message::Hello { .. } | Message::Authenticate { .. }) => {
                return self.handle_auth(now, conn, msg, rng);
            }
            _ => {
                return vec![err(
                    conn,
                    ErrorCode::AuthFailed,
                    RetryClass::Unauthorised,
                    None,
                    "authenticate first",
                )];
            }
        };
        match msg {
            Message::Subscribe { docs } => self.subscribe(conn, device, docs),
            Message::Unsubscribe { docs } => {
                for d in docs {
                    self.remove_subscription(conn, &d);
                }
                Vec::new()
            }
            Message::Publish { envelope } => self.publish(conn, device, envelope),
            Message::MembershipPublish { doc, op } => self.membership_publish(now, conn, doc, op),
            Message::InviteFetch { doc, invite } => self.invite_fetch(now, conn, doc, invite),
            Message::InviteFind { invite, proof } => {
                self.invite_find(now, conn, device, invite, proof)
            }
            Message::InviteRedeem { doc, op } => self.invite_redeem(now, conn, device, doc, op),
            Message::Presence { doc, blob, .. } => self.presence(conn, device, doc, blob),
            Message::AccessLogRequest { doc } => {
                let member = self
                    .docs
                    .get(&doc)
                    .is_some_and(|d| d.membership.role(&device).is_some());
                if member {
                    vec![RelayAction::ReadAccessLog { conn, doc }]
                } else {
                    vec![err(
                        conn,
                        ErrorCode::Forbidden,
                        RetryClass::Unauthorised,
                        Some(doc),
                        "not a member",
                    )]
                }
            }
            _ => vec![err(
                conn,
                ErrorCode::Malformed,
                RetryClass::Unauthorised,
                None,
                "unexpected message",
            )],
        }
    }

    /// The damaged document a message is about, if it is about one.
    fn damaged_target(&self, msg: &Message) -> Option<DocId> {
        if self.damaged.is_empty() {
            return None;
        }
        target(msg).filter(|doc| self.damaged.contains(doc))
    }

    /// A `Publish` whose signature the application already checked (see
    /// [`CheckedPublish`]). Everything else about it is decided exactly as
    /// in [`RelayCore::handle_message`]: authentication, authorship, the
    /// dedupe fast path, roles, epochs and the author's chain.
    pub fn handle_checked_publish(
        &mut self,
        conn: ConnId,
        publish: CheckedPublish,
    ) -> Vec<RelayAction> {
        let doc = publish.envelope().header_unverified().doc;
        if self.damaged.contains(&doc) {
            return vec![damaged(conn, doc)];
        }
        if let Some(t) = self.deleted.get(&doc) {
            return vec![send(conn, t.notice(doc))];
        }
        match self.conns.get(&conn).map(|c| &c.auth) {
            None => vec![RelayAction::Close { conn }],
            Some(AuthState::Authenticated(device)) => {
                let device = *device;
                self.publish_checked(conn, device, publish)
            }
            Some(_) => vec![err(
                conn,
                ErrorCode::AuthFailed,
                RetryClass::Unauthorised,
                None,
                "authenticate first",
            )],
        }
    }

    /// `conn` has sent a piece of its replay of `doc` (a
    /// [`RelayAction::Replay`]): the next piece (the last one makes it a
    /// live subscriber), and replays that waited their turn. No next piece
    /// if the connection unsubscribed or lost its membership meanwhile.
    pub fn handle_replay_next(&mut self, conn: ConnId, doc: DocId) -> Vec<RelayAction> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        c.in_flight = c.in_flight.saturating_sub(1);
        let device = match c.auth {
            AuthState::Authenticated(d) => d,
            _ => return Vec::new(),
        };
        if let Some(&after) = c.replaying.get(&doc) {
            let member = self
                .docs
                .get(&doc)
                .is_some_and(|s| s.membership.role(&device).is_some());
            if member {
                return vec![self.replay_step(conn, doc, after)];
            }
            if let Some(c) = self.conns.get_mut(&conn) {
                c.replaying.remove(&doc);
            }
        }
        let mut out = Vec::new();
        while let Some(c) = self.conns.get_mut(&conn)
            && c.in_flight < MAX_REPLAYS
            && let Some((next, cursor)) = c.queued.pop_front()
        {
            self.start_replay(conn, device, next, cursor, &mut out);
        }
        out
    }

    /// The connections subscribed to `doc`, in order.
    fn subscribers(&self, doc: &DocId) -> Vec<ConnId> {
        self.subscribers
            .get(doc)
            .map_or_else(Vec::new, |s| s.iter().copied().collect())
    }

    fn presence(
        &mut self,
        conn: ConnId,
        device: DeviceId,
        doc: DocId,
        blob: crate::bytes::Bytes,
    ) -> Vec<RelayAction> {
        let member = self
            .docs
            .get(&doc)
            .is_some_and(|d| d.membership.role(&device).is_some());
        if !member {
            return vec![err(
                conn,
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                Some(doc),
                "not a member",
            )];
        }
        self.subscribers(&doc)
            .into_iter()
            .filter(|c| *c != conn)
            .map(|c| {
                send(
                    c,
                    Message::Presence {
                        doc,
                        from: Some(device),
                        blob: blob.clone(),
                    },
                )
            })
            .collect()
    }
}
