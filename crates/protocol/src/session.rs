//! The client's sans-IO session: one connection to a relay, many documents.
//!
//! The application owns the socket. It calls [`ClientSession::handle_connected`]
//! when a websocket opens, [`ClientSession::handle_frame`] for each binary
//! frame, and [`ClientSession::handle_disconnected`] when it closes; each
//! returns an [`Output`]: messages to send (encode with [`crate::wire::encode`])
//! and [`SessionEvent`]s for the application (payloads to apply to the
//! automerge document, tampering alarms, acks). [`ClientSession::poll_reconnect`]
//! says when to dial again: jittered exponential backoff from 100 ms to
//! 30 s, and never after the relay refused authentication.
//!
//! Flow after connecting: `Hello` → (`Challenge`) → `Authenticate` →
//! (`Welcome`) → `Subscribe` with each document's cursor, `InviteFetch` for
//! pending invites, and every unacknowledged envelope and membership op again,
//! in order. Incoming envelopes are verified, checked against the author's
//! chain and role, then opened; out-of-order ones wait for their
//! predecessor.

mod backoff;
mod doc;
mod incoming;
mod merge;
mod outgoing;
mod persist;

use std::collections::BTreeMap;

use crate::envelope::{EnvelopeError, EnvelopeKind};
use crate::ids::{DeviceId, DocId};
use crate::invite::InviteSecret;
use crate::keys::DeviceKey;
use crate::membership::MembershipError;
use crate::wire::{ErrorCode, Message, RetryClass};

pub use backoff::{BACKOFF_MAX_MS, BACKOFF_MIN_MS, Backoff};
use doc::DocSync;
pub use persist::PersistedDoc;

/// Session settings.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The relay origin the device signs into its authentication; a
    /// challenge naming another origin is refused.
    pub origin: String,
    /// The relay's key, if pinned. Otherwise the key from the first
    /// challenge is trusted and then pinned for the session's lifetime.
    pub relay: Option<DeviceId>,
    /// Software name for `Hello`.
    pub agent: String,
}

/// Errors from local session operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The document is not known to this session.
    #[error("unknown document")]
    UnknownDoc,
    /// This device may not do that in this document.
    #[error("not allowed in this document")]
    NotAllowed,
    /// The current epoch's key is not available.
    #[error("no key for the current epoch")]
    NoKey,
    /// Sealing failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A membership op could not be built.
    #[error(transparent)]
    Membership(#[from] MembershipError),
}

/// Why something was judged to be tampering.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tampering {
    /// An envelope's signature failed.
    BadSignature,
    /// An envelope's author was not a writer in its epoch.
    NotAWriter(DeviceId),
    /// Two different envelopes for one position in an author's chain.
    Fork {
        /// Author.
        author: DeviceId,
        /// Position.
        seq: u64,
    },
    /// A verified envelope failed to decrypt under its epoch key.
    Undecryptable(DeviceId),
    /// The relay's ack signature failed.
    BadAck,
    /// A membership op failed verification or contradicts the log.
    BadMembership(String),
    /// The relay's challenge named another origin or key.
    WrongRelay,
    /// A presence blob failed to open or replayed an old counter.
    BadPresence(DeviceId),
    /// An access log not signed by the relay, or not about its document.
    BadAccessLog(String),
}

/// Something the application should know or do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Authenticated: the session is live.
    Connected,
    /// Where a device invite we asked about is live (see
    /// [`ClientSession::find_invites`]): join each with
    /// [`ClientSession::join_device`].
    InviteDocs {
        /// The invite.
        invite: crate::membership::InviteId,
        /// The documents.
        docs: Vec<DocId>,
    },
    /// The relay refused authentication; no automatic retry.
    AuthFailed(String),
    /// Apply this verified, decrypted payload to the document.
    Apply {
        /// The document.
        doc: DocId,
        /// Author.
        author: DeviceId,
        /// Author sequence number.
        seq: u64,
        /// Changes or snapshot.
        kind: EnvelopeKind,
        /// The plaintext.
        payload: Vec<u8>,
    },
    /// An envelope is held until its author's earlier envelopes arrive.
    Waiting {
        /// The document.
        doc: DocId,
        /// Author.
        author: DeviceId,
        /// The author sequence number needed next.
        expected: u64,
    },
    /// The relay or a member misbehaved; nothing was applied.
    Tampering {
        /// The document (if known).
        doc: Option<DocId>,
        /// What.
        what: Tampering,
    },
    /// The relay durably accepted our envelope.
    Acked {
        /// The document.
        doc: DocId,
        /// Our author sequence number.
        seq: u64,
        /// Its doc seq.
        doc_seq: u64,
    },
    /// A membership change this device made offline could not be kept: the
    /// relay ordered another member's change first and ours no longer
    /// applies on top of it (e.g. adding a device that has joined
    /// meanwhile). The change is not retried.
    MembershipChangeDropped {
        /// The document.
        doc: DocId,
        /// What was dropped, and why, for people.
        reason: String,
    },
    /// The membership changed (a verified op was appended).
    MembershipChanged {
        /// The document.
        doc: DocId,
    },
    /// A member joined through our invite whose link carried an older
    /// epoch's key: call [`ClientSession::rotate`] so it receives the
    /// current one.
    RotationNeeded {
        /// The document.
        doc: DocId,
    },
    /// This device is no longer a member of the document.
    Removed {
        /// The document.
        doc: DocId,
    },
    /// The relay confirmed that this device left the document (its own
    /// removal, [`ClientSession::leave`]): erase the local copy. The
    /// session no longer holds the document.
    Left {
        /// The document.
        doc: DocId,
    },
    /// The document's owner deleted it, by an op that verified: erase the
    /// local copy. The session no longer holds the document.
    Deleted {
        /// The document.
        doc: DocId,
        /// The owner's device that signed the deletion.
        by: DeviceId,
    },
    /// Everything stored at the relay up to now has been delivered.
    CaughtUp {
        /// The document.
        doc: DocId,
    },
    /// A peer's presence.
    Presence {
        /// The document.
        doc: DocId,
        /// Sender.
        from: DeviceId,
        /// The decrypted data.
        data: Vec<u8>,
    },
    /// The relay's access log of a document, its signature verified.
    AccessLog {
        /// The document.
        doc: DocId,
        /// What the relay said.
        log: crate::wire::AccessLog,
        /// As the relay signed it (to keep, or show a third party).
        signed: crate::wire::SignedAccessLog,
    },
    /// The relay reported an error.
    RelayError {
        /// Code.
        code: ErrorCode,
        /// Retry class.
        retry: RetryClass,
        /// Document.
        doc: Option<DocId>,
        /// Detail.
        message: String,
    },
}

/// What a call produced: messages to send, in order, and events.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Messages to send to the relay, in order.
    pub send: Vec<Message>,
    /// Events for the application.
    pub events: Vec<SessionEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Link {
    /// No connection; reconnect at the given time (if any).
    Down { retry_at: Option<u64> },
    /// Hello sent.
    Hello,
    /// Authenticate sent.
    Authenticating,
    /// Welcome received.
    Ready,
    /// The relay refused us; do not retry.
    Refused,
}

/// The session's own random generator, seeded by the caller, for the work
/// it does unasked (wrapping a rotation's key again when its membership ops
/// are redone). Prints as `SessionRng(..)`.
#[derive(Clone)]
struct SessionRng(rand_chacha::ChaCha20Rng);

impl std::fmt::Debug for SessionRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionRng(..)")
    }
}

/// A client's session with one relay.
#[derive(Clone, Debug)]
pub struct ClientSession {
    key: DeviceKey,
    config: SessionConfig,
    rng: SessionRng,
    link: Link,
    backoff: Backoff,
    relay: Option<DeviceId>,
    docs: BTreeMap<DocId, DocSync>,
    invites: BTreeMap<DocId, InviteSecret>,
    /// The person this device belongs to, when not itself (see
    /// [`ClientSession::set_person`]).
    person: Option<DeviceId>,
}

impl ClientSession {
    /// A session for the device `key`, initially disconnected and wanting to
    /// connect. `rng` seeds the randomness the session needs on its own.
    pub fn new(
        key: DeviceKey,
        config: SessionConfig,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Self {
        use rand_core::SeedableRng;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let relay = config.relay;
        Self {
            key,
            config,
            rng: SessionRng(rand_chacha::ChaCha20Rng::from_seed(seed)),
            link: Link::Down { retry_at: Some(0) },
            backoff: Backoff::default(),
            relay,
            docs: BTreeMap::new(),
            invites: BTreeMap::new(),
            person: None,
        }
    }

    /// Names the person this device belongs to (the id of the person's
    /// first device), which documents it creates record as their owner.
    /// `None`, or this device's own id: a person of this one device.
    pub fn set_person(&mut self, person: Option<DeviceId>) {
        self.person = person;
    }

    /// The person this device belongs to.
    pub fn person(&self) -> DeviceId {
        self.person.unwrap_or_else(|| self.key.device_id())
    }

    /// This device.
    pub fn device_id(&self) -> DeviceId {
        self.key.device_id()
    }

    /// Whether the session is authenticated and live.
    pub fn is_ready(&self) -> bool {
        self.link == Link::Ready
    }

    /// When to dial the relay: `Some(t)` means at unix ms `t` (now or
    /// earlier: immediately); `None` means not at all (connected, or refused).
    pub fn poll_reconnect(&self) -> Option<u64> {
        match self.link {
            Link::Down { retry_at } => retry_at,
            _ => None,
        }
    }

    /// The transport connected: start the handshake.
    pub fn handle_connected(&mut self, _now: u64) -> Output {
        self.link = Link::Hello;
        let hello = Message::Hello {
            device: self.key.device_id(),
            agent: self.config.agent.clone(),
        };
        Output {
            send: vec![hello],
            events: Vec::new(),
        }
    }

    /// The transport closed (or failed to connect): schedule a reconnect.
    pub fn handle_disconnected(&mut self, now: u64, rng: &mut impl rand_core::RngCore) {
        if self.link == Link::Refused {
            return;
        }
        let delay = self.backoff.next_delay(rng);
        self.link = Link::Down {
            retry_at: Some(now.saturating_add(delay)),
        };
        for d in self.docs.values_mut() {
            d.subscribed = false;
        }
    }

    /// A document's relay cursor (last doc seq received).
    pub fn cursor(&self, doc: &DocId) -> Option<u64> {
        self.docs.get(doc).map(|d| d.cursor)
    }

    /// Our last author sequence number in `doc` (0 before the first).
    pub fn own_seq(&self, doc: &DocId) -> u64 {
        self.docs
            .get(doc)
            .map_or(0, |d| d.chain.head(&self.key.device_id()))
    }

    /// Number of our envelopes the relay has not acknowledged yet.
    pub fn unacked(&self, doc: &DocId) -> usize {
        self.docs.get(doc).map_or(0, |d| d.outbox.len())
    }

    /// The verified membership of a document, once known.
    pub fn membership(&self, doc: &DocId) -> Option<&crate::membership::MembershipState> {
        self.docs.get(doc).and_then(|d| d.membership.as_ref())
    }

    /// Documents of this session.
    pub fn docs(&self) -> impl Iterator<Item = &DocId> {
        self.docs.keys()
    }
}
