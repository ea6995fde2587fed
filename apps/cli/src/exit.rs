//! Stable exit codes, so scripts can tell failures apart.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (also when the output pipe closed early) |
//! | 1 | any other error |
//! | 2 | bad command line (from clap) |
//! | 3 | invalid input: a score out of range, an unknown area, a bad date or link |
//! | 4 | not found: no identity, no such journal, reading or member |
//! | 5 | the relay is unreachable, refused this device, presented another key than the pinned one, a TLS certificate did not verify, a sync timed out, or a sync left a journal behind |
//! | 6 | the local store is damaged, newer, busy with another sync, locked without its passphrase, or in use while locking or unlocking |

use recovery_journal::JournalError;
use starling_client::ClientError;

/// An error and its causes, in one line: each cause after a colon, unless
/// the message before already says it (many errors carry their source's
/// words; `{:#}` alone would print them twice).
pub fn describe(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The exit code for an error.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<starling_app::AppError>() {
            use starling_app::ErrorKind;
            return match e.kind() {
                ErrorKind::Invalid => 3,
                ErrorKind::NotFound => 4,
                ErrorKind::Relay => 5,
                ErrorKind::Store => 6,
                _ => 1,
            };
        }
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
                | ClientError::Tls { .. }
                | ClientError::Timeout(_) => 5,
                ClientError::Store(_)
                | ClientError::CorruptStore(_)
                | ClientError::NewerStore { .. }
                | ClientError::SyncBusy
                | ClientError::Locked
                | ClientError::WrongPassphrase
                | ClientError::StoreInUse => 6,
                ClientError::WeakPassphrase(_)
                | ClientError::AlreadyLocked
                | ClientError::NotLocked => 3,
                ClientError::Invite(_)
                | ClientError::BadCertificateFile { .. }
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

/// What a person can do about an error, if the error itself does not say:
/// the library names the cause; the CLI knows its commands.
pub fn advice(err: &anyhow::Error) -> Option<String> {
    use starling_client::TlsProblem;
    let e = err.chain().find_map(|c| {
        c.downcast_ref::<ClientError>().or_else(|| {
            match c.downcast_ref::<starling_app::AppError>() {
                Some(starling_app::AppError::Client(e)) => Some(e),
                _ => None,
            }
        })
    })?;
    Some(match e {
        ClientError::NoIdentity => "run `starling init --name NAME` first".into(),
        ClientError::NotSyncedYet(_) => "run `starling sync` to fetch it".into(),
        ClientError::SyncBusy => "try again when it finishes".into(),
        ClientError::Timeout(_) => {
            "run `starling sync` again: it continues where it stopped".into()
        }
        ClientError::NewerStore { .. } => "upgrade Starling to open this store".into(),
        ClientError::RelayKeyChanged { relay, .. } => format!(
            "if the relay's operator confirms it has a new key, run `starling relays forget {relay}` and sync again"
        ),
        ClientError::Tls { problem, .. } => match problem {
            TlsProblem::UnknownIssuer => {
                "if your organisation runs its own certificate authority, \
                 trust it with `starling relays trust-ca FILE` (or set SSL_CERT_FILE); \
                 otherwise ask the relay's operator to fix its certificate"
                    .into()
            }
            TlsProblem::WrongName => {
                "check the relay address, or ask the relay's operator to fix its certificate".into()
            }
            TlsProblem::Expired | TlsProblem::Revoked | TlsProblem::BadCertificate(_) => {
                "ask the relay's operator to renew its certificate".into()
            }
            TlsProblem::NotYetValid => "check this device's date and time".into(),
            TlsProblem::NotTls => {
                "if the relay has no TLS, write its address as ws://HOST:PORT".into()
            }
            TlsProblem::Roots(_) => "check SSL_CERT_FILE and SSL_CERT_DIR".into(),
            _ => return None,
        },
        _ => return None,
    })
}
