//! Relay configuration: a TOML file whose every field has a safe default,
//! overridable by `STARLING_RELAY_*` environment variables (and by the
//! binary's flags, which set fields after loading).
//!
//! See `apps/relay/relay.sample.toml` for a commented example of every field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors reading or checking the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (in the message, so not a separate cause: `{:#}` would say
        /// it twice).
        error: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation.
        message: String,
    },
    /// An environment variable holds an unusable value.
    #[error("invalid value for {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// Why.
        message: String,
    },
    /// A value is outside what the relay accepts.
    #[error("invalid setting {field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
}

/// Who may authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Any device key may connect (documents still admit members only).
    #[default]
    Open,
    /// Only device ids listed in [`RelayConfig::allowlist_file`].
    Allowlist,
}

/// SQLite's `synchronous` setting for the relay database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// fsync on every commit: an acknowledged envelope survives power loss.
    #[default]
    Full,
    /// Survives a crash of the relay process, not necessarily of the machine.
    Normal,
    /// No fsync: for benchmarks only.
    Off,
}

impl Synchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
            Synchronous::Off => "OFF",
        }
    }
}

/// Limits that keep one client from hurting the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted websocket frame in bytes; a larger one is answered
    /// with a `too_large` error. Default 1 MiB (the protocol's maximum).
    pub max_frame_bytes: usize,
    /// Sustained messages per second per connection (token bucket refill).
    /// Default 1000.
    pub messages_per_sec: u32,
    /// Token bucket size: messages a connection may send in a burst.
    /// Default 2000.
    pub message_burst: u32,
    /// Documents one connection may subscribe to at once. Default 10000.
    pub max_subscriptions: usize,
    /// Simultaneous connections to the relay. Default 20000.
    pub max_connections: usize,
    /// Seconds between pings the relay sends to an idle connection.
    /// Default 30.
    pub ping_interval_secs: u64,
    /// A connection silent for this many seconds is closed. Default 90.
    pub idle_timeout_secs: u64,
    /// Messages queued for one connection before it is considered too slow
    /// and dropped (it resumes from its cursor on reconnect). Default 8192.
    pub outbound_queue: usize,
    /// Bytes queued for one connection before it is considered too slow
    /// and dropped. Default 33554432 (32 MiB).
    pub outbound_queue_bytes: u64,
    /// Bytes of incoming writes (envelopes, membership ops) the relay holds
    /// between reading them and committing them, over all connections; past
    /// it, connections stop being read until commits catch up, so a slow
    /// disk slows the clients instead of filling memory. Default 67108864
    /// (64 MiB).
    pub intake_bytes: u64,
    /// What the relay sends one device in answer to its own requests
    /// (replays, membership logs, errors) is paced by a token bucket in
    /// bytes: this many per second... Default 8388608 (8 MiB/s).
    pub answer_bytes_per_sec: u64,
    /// ...with bursts of this many. A device in debt is not read from until
    /// the bucket refills. Default 33554432 (32 MiB).
    pub answer_burst_bytes: u64,
    /// Connections one device may hold open at once. Default 16.
    pub connections_per_device: u32,
    /// Stored envelope bytes per document (compaction frees them).
    /// Default 1 GiB.
    pub max_doc_bytes: u64,
    /// Stored envelope bytes authored by one device, over all documents.
    /// Default 4 GiB.
    pub max_device_bytes: u64,
    /// About how many envelope bytes one piece of a replay holds: a
    /// subscription is replayed piece by piece, the next once the previous
    /// one is written, so a slow reader never holds a whole document in the
    /// relay's memory. Default 262144 (256 KiB).
    pub replay_chunk_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: starling_protocol::wire::MAX_FRAME,
            messages_per_sec: 1000,
            message_burst: 2000,
            max_subscriptions: 10_000,
            max_connections: 20_000,
            ping_interval_secs: 30,
            idle_timeout_secs: 90,
            outbound_queue: 8192,
            outbound_queue_bytes: 32 << 20,
            intake_bytes: 64 << 20,
            answer_bytes_per_sec: 8 << 20,
            answer_burst_bytes: 32 << 20,
            connections_per_device: 16,
            max_doc_bytes: 1 << 30,
            max_device_bytes: 4 << 30,
            replay_chunk_bytes: 256 * 1024,
        }
    }
}

/// Everything the relay needs to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Address to listen on. Default `127.0.0.1:7878` (loopback only: put a
    /// TLS reverse proxy in front to serve the network).
    pub listen: SocketAddr,
    /// Directory for the database (`relay.db`) and the relay's signing key
    /// (`relay.key`). Default: the platform data directory, e.g.
    /// `~/.local/share/starling-relay`.
    pub data_dir: PathBuf,
    /// The origin clients sign into their authentication, as they reach the
    /// relay, e.g. `wss://relay.example.org`. Default: derived from the bound
    /// address, `ws://127.0.0.1:PORT`; set it when behind a proxy.
    pub origin: Option<String>,
    /// PEM file holding the TLS certificate chain, leaf first. With
    /// `tls_key`, the relay serves `wss://` itself; with neither, it serves
    /// plain `ws://` (put a TLS reverse proxy in front). Both files are read
    /// again on SIGHUP. Default: none.
    pub tls_cert: Option<PathBuf>,
    /// PEM file holding the private key of `tls_cert`. Default: none.
    pub tls_key: Option<PathBuf>,
    /// SQLite durability. Default `full`.
    pub synchronous: Synchronous,
    /// Keep the relay's data in PostgreSQL instead of `relay.db`, e.g.
    /// `postgres://starling@db.internal/starling` (the key stays in
    /// `data_dir`). Default: none (embedded SQLite).
    pub database_url: Option<String>,
    /// `open` or `allowlist`. Default `open`.
    pub registration: Registration,
    /// With `registration = "allowlist"`: a file of device ids (64 hex
    /// digits), one per line, `#` comments allowed; re-read when it changes
    /// and on SIGHUP. Default `<data_dir>/allowlist.txt`.
    pub allowlist_file: Option<PathBuf>,
    /// Largest accepted difference between a device's clock and the
    /// relay's, seconds. Default 300.
    pub auth_window_secs: u64,
    /// Most writes (envelopes, membership ops, compactions, replays) grouped
    /// into one SQLite transaction. Default 4096.
    pub max_commit_batch: usize,
    /// The most the database may grow to, in bytes: past it the relay
    /// refuses writes (it keeps serving reads and reports the fault) until
    /// the value is raised and the relay reloaded (SIGHUP), so a shared disk
    /// never fills. Default: none.
    pub max_db_bytes: Option<u64>,
    /// Seconds a graceful shutdown may take before connections are cut.
    /// Default 10.
    pub shutdown_timeout_secs: u64,
    /// Days the access log is kept (what each device did with each
    /// document, per hour, that members can ask for). Default 365; at
    /// least `retention_days` when that is set.
    pub access_log_days: u64,
    /// Delete documents untouched (no write, no read, no membership
    /// change) for this many days, as an organisation's retention schedule
    /// may require. Members are told and keep their own copies. Default:
    /// none (documents are kept until their owner deletes them).
    pub retention_days: Option<u64>,
    /// Per-connection and per-relay limits.
    pub limits: Limits,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            data_dir: default_data_dir(),
            origin: None,
            tls_cert: None,
            tls_key: None,
            synchronous: Synchronous::Full,
            database_url: None,
            registration: Registration::Open,
            allowlist_file: None,
            auth_window_secs: 300,
            max_commit_batch: 4096,
            max_db_bytes: None,
            shutdown_timeout_secs: 10,
            access_log_days: 365,
            retention_days: None,
            limits: Limits::default(),
        }
    }
}

/// The platform data directory for the relay (`~/.local/share/starling-relay`
/// on Linux), or `./starling-relay-data` when there is no home directory.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "starling-relay")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("starling-relay-data"))
}

/// The field names of a struct as it serialises.
fn field_names<T: Serialize>(value: &T) -> Vec<String> {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(t)) => t.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

impl RelayConfig {
    /// Safe defaults with data in `dir`, listening on `127.0.0.1:0` (a free
    /// port), open registration. For tests and embedding.
    pub fn for_data_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.into(),
            ..Self::default()
        }
    }

    /// Parses a TOML document (missing fields take their defaults).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_toml(&text, path)
    }

    /// Applies `STARLING_RELAY_*` variables from `vars` (normally
    /// `std::env::vars()`) over the configuration, through figment: each
    /// names a field in upper case, top-level (`STARLING_RELAY_LISTEN`,
    /// `STARLING_RELAY_MAX_DB_BYTES`, ...) or of `limits`
    /// (`STARLING_RELAY_MAX_DOC_BYTES`, ...), and takes a value as the TOML
    /// file would (numbers, strings, enum names in any case).
    /// (`STARLING_RELAY_LOG` and `STARLING_RELAY_CONFIG` belong to the
    /// binary and are skipped.)
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        use figment::Figment;
        use figment::providers::Serialized;
        use figment::value::{Dict, Value};
        let limits = field_names(&self.limits);
        for (var, raw) in vars {
            let Some(key) = var.strip_prefix("STARLING_RELAY_") else {
                continue;
            };
            // Read by the binary itself (log filter, config file path).
            if matches!(key, "LOG" | "CONFIG") {
                continue;
            }
            let bad = |message: String| ConfigError::Env {
                var: var.clone(),
                message,
            };
            let key = key.to_ascii_lowercase();
            let raw = raw.trim();
            let value: Value = match key.as_str() {
                // Text, even when it looks like a number.
                "data_dir" | "origin" | "tls_cert" | "tls_key" | "allowlist_file" | "listen"
                | "database_url" => Value::from(raw.to_owned()),
                "synchronous" | "registration" => Value::from(raw.to_ascii_lowercase()),
                _ => raw.parse().unwrap_or_else(|e| match e {}),
            };
            let mut dict = Dict::new();
            if limits.contains(&key) {
                let mut inner = Dict::new();
                inner.insert(key, value);
                dict.insert("limits".into(), Value::from(inner));
            } else if key == "limits" {
                return Err(bad("unknown setting".into()));
            } else {
                // An unknown name is refused by the configuration itself.
                dict.insert(key, value);
            }
            *self = Figment::from(Serialized::defaults(&*self))
                .merge(Serialized::defaults(dict))
                .extract()
                .map_err(|e| bad(e.kind.to_string()))?;
        }
        Ok(())
    }

    /// Checks values the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.into(),
            })
        };
        if self.access_log_days == 0 {
            return invalid("access_log_days", "must be at least 1");
        }
        if let Some(url) = &self.database_url
            && (!url.starts_with("postgres://") && !url.starts_with("postgresql://")
                || url.parse::<postgres::Config>().is_err())
        {
            return invalid(
                "database_url",
                "must be a PostgreSQL URL, postgres://USER@HOST[:PORT]/DATABASE",
            );
        }
        if self.retention_days == Some(0) {
            return invalid(
                "retention_days",
                "must be at least 1 (leave it out to keep documents)",
            );
        }
        let l = &self.limits;
        if l.max_frame_bytes < 1024 || l.max_frame_bytes > starling_protocol::wire::MAX_FRAME {
            return invalid("limits.max_frame_bytes", "must be between 1 KiB and 1 MiB");
        }
        if l.messages_per_sec == 0 || l.message_burst == 0 {
            return invalid("limits.messages_per_sec", "rate and burst must be positive");
        }
        if l.max_connections == 0
            || l.max_subscriptions == 0
            || l.outbound_queue == 0
            || l.connections_per_device == 0
        {
            return invalid(
                "limits",
                "connection, subscription and queue limits must be positive",
            );
        }
        if l.ping_interval_secs == 0 || l.idle_timeout_secs <= l.ping_interval_secs {
            return invalid(
                "limits.idle_timeout_secs",
                "must exceed ping_interval_secs, which must be positive",
            );
        }
        if l.outbound_queue_bytes == 0
            || l.intake_bytes < starling_protocol::wire::MAX_FRAME as u64
            || l.answer_bytes_per_sec == 0
            || l.answer_burst_bytes < starling_protocol::wire::MAX_FRAME as u64
        {
            return invalid(
                "limits",
                "byte limits must be positive; intake_bytes and answer_burst_bytes at least 1 MiB",
            );
        }
        if self.max_db_bytes.is_some_and(|b| b < 1 << 20) {
            return invalid("max_db_bytes", "must be at least 1 MiB");
        }
        if l.replay_chunk_bytes == 0 {
            return invalid("limits.replay_chunk_bytes", "must be positive");
        }
        if self.max_commit_batch == 0 {
            return invalid("max_commit_batch", "must be positive");
        }
        if let Some(o) = &self.origin {
            if o.is_empty() || o.len() > starling_protocol::wire::MAX_ORIGIN {
                return invalid("origin", "must be 1 to 256 bytes");
            }
            if let Err(e) = starling_protocol::RelayAddr::parse(o) {
                return Err(ConfigError::Invalid {
                    field: "origin",
                    message: format!("must be wss://HOST[:PORT] or ws://HOST[:PORT]: {e}"),
                });
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert", "set both tls_cert and tls_key, or neither");
        }
        Ok(())
    }

    /// The allow-list file in effect.
    pub fn allowlist_path(&self) -> PathBuf {
        self.allowlist_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("allowlist.txt"))
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("relay.db")
    }

    /// The origin clients sign: the configured one in its canonical
    /// spelling (`wss://relay.example.org:443/` is `wss://relay.example.org`),
    /// or one made from the address the relay listens on.
    pub fn origin_for(&self, local: SocketAddr) -> String {
        match self
            .origin
            .as_deref()
            .and_then(|o| starling_protocol::RelayAddr::parse(o).ok())
        {
            Some(addr) => addr.origin(),
            None => {
                let scheme = if self.tls_cert.is_some() { "wss" } else { "ws" };
                format!("{scheme}://{local}")
            }
        }
    }

    /// The relay's signing key file.
    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join("relay.key")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_defaults() {
        let c = RelayConfig::from_toml("", Path::new("x")).unwrap();
        assert_eq!(c, RelayConfig::default());
        c.validate().unwrap();
    }

    #[test]
    fn env_overrides() {
        let mut c = RelayConfig::default();
        c.apply_env([
            ("STARLING_RELAY_LISTEN".into(), "0.0.0.0:9000".into()),
            ("STARLING_RELAY_SYNCHRONOUS".into(), "Normal".into()),
            ("STARLING_RELAY_REGISTRATION".into(), "allowlist".into()),
            ("STARLING_RELAY_MESSAGES_PER_SEC".into(), "5".into()),
            ("HOME".into(), "/x".into()),
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.synchronous, Synchronous::Normal);
        assert_eq!(c.registration, Registration::Allowlist);
        assert_eq!(c.limits.messages_per_sec, 5);
        assert!(
            c.apply_env([("STARLING_RELAY_NOPE".into(), "1".into())])
                .is_err()
        );
        let e = c
            .apply_env([("STARLING_RELAY_LISTEN".into(), "nope".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("STARLING_RELAY_LISTEN"), "{e}");
        c.apply_env([
            ("STARLING_RELAY_MAX_DB_BYTES".into(), "1073741824".into()),
            (
                "STARLING_RELAY_ORIGIN".into(),
                "wss://relay.example.org".into(),
            ),
            ("STARLING_RELAY_DATA_DIR".into(), "1234".into()),
            ("STARLING_RELAY_INTAKE_BYTES".into(), " 2097152 ".into()),
        ])
        .unwrap();
        assert_eq!(c.max_db_bytes, Some(1 << 30));
        assert_eq!(c.origin.as_deref(), Some("wss://relay.example.org"));
        assert_eq!(c.data_dir, PathBuf::from("1234"));
        assert_eq!(c.limits.intake_bytes, 2 << 20);
        assert_eq!(c.limits.messages_per_sec, 5, "earlier settings stay");
        let e = c
            .apply_env([("STARLING_RELAY_MAX_DOC_BYTES".into(), "lots".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("STARLING_RELAY_MAX_DOC_BYTES"), "{e}");
        for junk in ["STARLING_RELAY_LIMITS", "STARLING_RELAY_NOPE"] {
            assert!(c.apply_env([(junk.into(), "1".into())]).is_err(), "{junk}");
        }
    }

    #[test]
    fn sample_config_shows_the_defaults() {
        let c =
            RelayConfig::from_toml(include_str!("../relay.sample.toml"), Path::new("s")).unwrap();
        assert_eq!(c, RelayConfig::default());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(RelayConfig::from_toml("lisen = \"x\"", Path::new("x")).is_err());
    }
}
