//! Errors of the journal's typed API.

use thiserror::Error;

/// Everything that can go wrong when editing, loading or exporting a journal.
///
/// Bad input from a caller (a score of 11, an unknown area) and bad bytes from
/// a peer (not a journal, a newer schema) both end here; nothing in this crate
/// panics on either.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A score outside the instrument's scale.
    #[error("score {score} is outside the scale: {min} to {max}")]
    ScoreOutOfRange {
        /// The rejected score.
        score: i64,
        /// The scale's lowest step.
        min: u8,
        /// The scale's highest step.
        max: u8,
    },
    /// An area id the reading's instrument does not define.
    #[error("unknown area `{0}`")]
    UnknownArea(String),
    /// A date that is not `YYYY-MM-DD`.
    #[error("malformed date `{0}`: expected YYYY-MM-DD")]
    MalformedDate(String),
    /// An instrument that is neither bundled nor recorded in the journal.
    #[error("unknown instrument `{0}`")]
    UnknownInstrument(String),
    /// An instrument definition that breaks a rule.
    #[error("invalid instrument: {0}")]
    InvalidInstrument(String),
    /// A reading, goal, step or note id that is not in the journal.
    #[error("no {kind} with id `{id}`")]
    NotFound {
        /// What was looked for ("reading", "goal", ...).
        kind: &'static str,
        /// The id that was not found.
        id: String,
    },
    /// A value that does not parse as the named kind.
    #[error("invalid {kind} `{value}`")]
    InvalidValue {
        /// What was expected ("mode", "perspective", ...).
        kind: &'static str,
        /// The rejected text.
        value: String,
    },
    /// A word that is not one of the few a field takes.
    #[error("invalid {kind} `{value}`: {choices}")]
    NotOneOf {
        /// What was expected ("mode", "perspective", ...).
        kind: &'static str,
        /// The rejected text.
        value: String,
        /// The words it takes, for people: "client, worker or agreed".
        choices: String,
    },
    /// The journal has no member with the client or worker perspective needed.
    #[error("{0}")]
    NotAllowed(String),
    /// The bytes are not an automerge document.
    #[error("not a journal: {0}")]
    NotAJournal(String),
    /// The document is a journal written by a newer version of Starling.
    #[error(
        "journal schema version {found} is newer than this program supports ({supported}); upgrade Starling"
    )]
    NewerSchema {
        /// Schema version in the document.
        found: u64,
        /// Newest schema version this build reads.
        supported: u64,
    },
    /// A change in a batch was made under an actor that is not the signing device's.
    #[error("change {change} was made by actor {actor}, which does not belong to device {device}")]
    ForeignActor {
        /// Hash of the offending change.
        change: String,
        /// Its actor id, hex.
        actor: String,
        /// The device that was expected to author it.
        device: String,
    },
    /// A JSON export that does not follow the documented schema.
    #[error("invalid journal export: {0}")]
    InvalidExport(String),
    /// An error inside automerge.
    #[error("automerge: {0}")]
    Automerge(automerge::AutomergeError),
}

/// Result alias for this crate.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

// By hand, not `#[from]`: the message carries automerge's, so the error is
// not also its own source (a chain would say it twice).
impl From<automerge::AutomergeError> for JournalError {
    fn from(e: automerge::AutomergeError) -> Self {
        JournalError::Automerge(e)
    }
}

/// "a, b or c".
pub(crate) fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
