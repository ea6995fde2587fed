//! Errors of the client.

use thiserror::Error;

/// What can go wrong in the client.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The local SQLite store failed.
    #[error("local store")]
    Store(#[from] rusqlite::Error),
    /// The store file is not a Starling store, or is damaged.
    #[error("the local store is damaged or not a Starling store: {0}")]
    CorruptStore(String),
    /// The store was written by a newer Starling.
    #[error("the local store has schema version {found}; this program reads up to {supported}")]
    NewerStore {
        /// Version in the file.
        found: i64,
        /// Newest this build reads.
        supported: i64,
    },
    /// The store is locked and no passphrase was given.
    #[error(
        "this device's store is locked: give its passphrase (starling asks for it in a terminal; \
         scripts set STARLING_PASSPHRASE)"
    )]
    Locked,
    /// The passphrase given does not open the store.
    #[error("that passphrase does not open this device's store (nothing was changed)")]
    WrongPassphrase,
    /// A new passphrase that is too short.
    #[error("a passphrase needs at least {0} characters")]
    WeakPassphrase(usize),
    /// Locking a store that is locked already.
    #[error("this device's store is locked already")]
    AlreadyLocked,
    /// Unlocking a store that is not locked.
    #[error("this device's store is not locked")]
    NotLocked,
    /// Another process has the store open (while locking or unlocking it).
    #[error(
        "another starling process has this device's store open (starling ui, sync --watch, \
         or a command still running); nothing was changed"
    )]
    StoreInUse,
    /// No identity yet.
    #[error("this device has no identity yet")]
    NoIdentity,
    /// An identity exists already.
    #[error("this device already has an identity ({0})")]
    IdentityExists(String),
    /// A document id that is not on this device.
    #[error("no journal `{0}` on this device")]
    UnknownDoc(String),
    /// A join of a document this device is already a member of.
    #[error("this device is already a member of journal {0}")]
    AlreadyMember(String),
    /// A document id prefix that matches several documents.
    #[error("`{0}` matches more than one journal; use more characters")]
    AmbiguousDoc(String),
    /// The document has no content yet (joined, not synced).
    #[error("journal {0} has no content yet: it has not synced since it was joined")]
    NotSyncedYet(String),
    /// Another process holds the sync lock.
    #[error(
        "another starling process of this device is syncing and did not step aside within 10 seconds"
    )]
    SyncBusy,
    /// The relay could not be reached or the connection failed.
    #[error("relay {relay}: {reason}")]
    Relay {
        /// The relay.
        relay: String,
        /// What happened.
        reason: String,
    },
    /// The relay refused this device.
    #[error("relay {relay} refused this device: {reason}")]
    Refused {
        /// The relay.
        relay: String,
        /// Why.
        reason: String,
    },
    /// The relay presented another key than the one this device pinned the
    /// first time it met it: someone may be impersonating it, or its
    /// operator replaced its key.
    #[error(
        "relay {relay} presented key {presented}, but this device pinned key {pinned} for it; \
         nothing was sent"
    )]
    RelayKeyChanged {
        /// The relay.
        relay: String,
        /// The key pinned on this device.
        pinned: String,
        /// The key the relay presented now.
        presented: String,
    },
    /// A `wss://` relay's TLS failed: its certificate, or the handshake.
    #[error("cannot reach relay {relay} securely: {problem}")]
    Tls {
        /// The relay.
        relay: String,
        /// What was wrong.
        problem: crate::tls::TlsProblem,
    },
    /// A certificate file given to trust is not usable.
    #[error("{path}: {reason}")]
    BadCertificateFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Sync did not finish in time.
    #[error("sync with {0} did not finish in time")]
    Timeout(String),
    /// The protocol refused a local operation.
    #[error(transparent)]
    Session(#[from] starling_protocol::session::SessionError),
    /// An invite link that does not parse.
    #[error("this invite link does not work; ask for it again, and copy it whole")]
    Invite(#[from] starling_protocol::invite::InviteError),
    /// A device link or recovery code that does not parse.
    #[error(transparent)]
    Person(#[from] starling_protocol::person::PersonError),
    /// `device link` on a device in no journal.
    #[error(
        "this device is in no journal yet, so there is nothing to link: a device link brings your journals to another device"
    )]
    NothingToLink,
    /// `device add` or `recover` on a device that already holds journals.
    #[error(
        "this device already holds journals as its own person ({0}); add or recover on a new device, or with a fresh STARLING_HOME"
    )]
    DeviceInUse(String),
    /// No device of the person starts with this.
    #[error(
        "no device of yours starts with `{0}` (see `starling devices`; give at least 4 characters; a device added since this one last synced appears after `starling sync`)"
    )]
    UnknownDevice(String),
    /// More than one device starts with this.
    #[error("`{0}` matches more than one of your devices; use more characters")]
    AmbiguousDevice(String),
    /// `device remove` of this device.
    #[error(
        "that is this device; remove it from another of your devices, or leave a journal with `starling leave`"
    )]
    RemoveThisDevice,
    /// Bad automerge bytes from this device's own caller.
    #[error("invalid document changes: {0}")]
    BadChanges(String),
    /// Filesystem trouble (home directory, lock file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result alias.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
