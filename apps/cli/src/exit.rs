//! Stable exit codes, so scripts can tell failures apart.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (also when the output pipe closed early) |
//! | 1 | any other error |
//! | 2 | bad command line (from clap) |
//! | 3 | invalid input: a score out of range, an unknown area, a bad date or link |
//! | 4 | not found: no identity, no such journal, reading or member |
//! | 5 | the relay is unreachable, refused this device, presented another key than the pinned one, or sync timed out |
//! | 6 | the local store is damaged, newer, or busy with another sync |

use recovery_journal::JournalError;
use starling_client::ClientError;

/// The exit code for an error.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<JournalError>() {
            return match e {
                JournalError::NotFound { .. } | JournalError::UnknownInstrument(_) => 4,
                JournalError::NotAJournal(_) | JournalError::NewerSchema { .. } => 6,
                _ => 3,
            };
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return match e {
                ClientError::NoIdentity
                | ClientError::UnknownDoc(_)
                | ClientError::NotSyncedYet(_) => 4,
                ClientError::Relay { .. }
                | ClientError::Refused { .. }
                | ClientError::RelayKeyChanged { .. }
                | ClientError::Timeout(_) => 5,
                ClientError::Store(_)
                | ClientError::CorruptStore(_)
                | ClientError::NewerStore { .. }
                | ClientError::SyncBusy => 6,
                ClientError::Invite(_)
                | ClientError::AmbiguousDoc(_)
                | ClientError::IdentityExists(_) => 3,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<crate::ctx::UsageError>() {
            return e.code;
        }
    }
    1
}
