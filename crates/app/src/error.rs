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
    /// Files (exports, imports).
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
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
            AppError::File { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            AppError::File { .. } | AppError::Runtime(_) => ErrorKind::Other,
        }
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
