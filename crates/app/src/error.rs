//! Errors of the app layer: what went wrong, in words a person can act on,
//! with a [`ErrorKind`] front-ends map to exit codes or page states.

use recovery_journal::JournalError;
use starling_client::ClientError;

/// What kind of failure, for exit codes and calm UI states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input was not acceptable (a score out of range, an unknown area,
    /// a bad link).
    Invalid,
    /// Something named does not exist (no such journal, reading, member).
    NotFound,
    /// The relay could not be reached, refused, or a sync could not finish.
    Relay,
    /// The device's store is damaged, newer, or busy.
    Store,
    /// Anything else.
    Other,
}

/// What can go wrong in the app layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// Input a person can correct.
    #[error("{0}")]
    Invalid(String),
    /// Something named is not on this device.
    #[error("{0}")]
    NotFound(String),
    /// A sync could not exchange everything for some journals: what it did,
    /// and which journals it left behind, and why.
    #[error("{}", describe_problems(&.0.problems))]
    SyncIncomplete(Box<crate::sync::SyncOutcome>),
    /// The journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The device's store or the sync engine.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Files (exports, imports, charts), said in words.
    #[error("{path}: {}", file_words(reason))]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the network runtime: {0}")]
    Runtime(std::io::Error),
}

fn describe_problems(problems: &[crate::sync::SyncProblem]) -> String {
    match problems {
        [one] => one.text.clone(),
        many => format!(
            "{} journals could not sync: {}",
            many.len(),
            many.iter()
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

impl AppError {
    /// Whether a relay could not be reached at all (as opposed to one that
    /// answered wrongly: a changed key, an untrusted certificate).
    pub fn out_of_reach(&self) -> bool {
        matches!(
            self,
            AppError::Client(ClientError::Relay { .. } | ClientError::Timeout(_))
        )
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::Invalid(_) => ErrorKind::Invalid,
            AppError::NotFound(_) => ErrorKind::NotFound,
            AppError::SyncIncomplete(_) => ErrorKind::Relay,
            AppError::Journal(e) => match e {
                JournalError::NotFound { .. } | JournalError::UnknownInstrument(_) => {
                    ErrorKind::NotFound
                }
                JournalError::NotAJournal(_) | JournalError::NewerSchema { .. } => ErrorKind::Store,
                _ => ErrorKind::Invalid,
            },
            AppError::Client(e) => match e {
                ClientError::NoIdentity
                | ClientError::UnknownDoc(_)
                | ClientError::UnknownDevice(_)
                | ClientError::NotSyncedYet(_) => ErrorKind::NotFound,
                ClientError::Relay { .. }
                | ClientError::Refused { .. }
                | ClientError::RelayKeyChanged { .. }
                | ClientError::Tls { .. }
                | ClientError::Timeout(_) => ErrorKind::Relay,
                ClientError::Store(_)
                | ClientError::CorruptStore(_)
                | ClientError::NewerStore { .. }
                | ClientError::SyncBusy
                | ClientError::Locked
                | ClientError::WrongPassphrase
                | ClientError::StoreInUse => ErrorKind::Store,
                ClientError::WeakPassphrase(_)
                | ClientError::AlreadyLocked
                | ClientError::NotLocked => ErrorKind::Invalid,
                ClientError::Invite(_)
                | ClientError::BadCertificateFile { .. }
                | ClientError::AmbiguousDoc(_)
                | ClientError::IdentityExists(_)
                | ClientError::Person(_)
                | ClientError::NothingToLink
                | ClientError::DeviceInUse(_)
                | ClientError::AmbiguousDevice(_)
                | ClientError::RemoveThisDevice => ErrorKind::Invalid,
                _ => ErrorKind::Other,
            },
            AppError::File { reason, .. } => match reason.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::IsADirectory
                | std::io::ErrorKind::NotADirectory => ErrorKind::Invalid,
                _ => ErrorKind::Other,
            },
            AppError::Runtime(_) => ErrorKind::Other,
        }
    }
}

/// What went wrong with a file, in words (the system's text for the rest).
fn file_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "no such file or folder".into(),
        K::PermissionDenied => "permission denied".into(),
        K::IsADirectory => "that is a folder, not a file".into(),
        K::NotADirectory => "a part of that path is a file, not a folder".into(),
        K::StorageFull => "the disk is full".into(),
        _ => e.to_string(),
    }
}

/// Result alias.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

pub(crate) fn invalid(text: impl Into<String>) -> AppError {
    AppError::Invalid(text.into())
}

pub(crate) fn not_found(text: impl Into<String>) -> AppError {
    AppError::NotFound(text.into())
}
