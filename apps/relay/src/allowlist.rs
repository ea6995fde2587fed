//! The registration allow-list: a file of device ids, re-read when it
//! changes (polled) and on SIGHUP.
//!
//! Format: one device id (64 hex digits) per line; blank lines and text
//! after `#` are ignored.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use starling_protocol::DeviceId;
use tokio_util::sync::CancellationToken;

/// Errors reading the allow-list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllowListError {
    /// The file could not be read.
    #[error("cannot read allow-list {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a device id.
    #[error("allow-list line {line}: not a device id")]
    Line {
        /// 1-based line number.
        line: usize,
    },
}

/// The devices currently allowed; `None` means open registration.
pub type SharedAllowList = Arc<RwLock<Option<HashSet<DeviceId>>>>;

/// Parses allow-list text.
pub fn parse(text: &str) -> Result<HashSet<DeviceId>, AllowListError> {
    let mut out = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let id: DeviceId = entry
            .parse()
            .map_err(|_| AllowListError::Line { line: i + 1 })?;
        out.insert(id);
    }
    Ok(out)
}

/// Reads and parses an allow-list file.
pub fn load(path: &Path) -> Result<HashSet<DeviceId>, AllowListError> {
    let text = std::fs::read_to_string(path).map_err(|source| AllowListError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn reload(path: &Path, shared: &SharedAllowList, why: &str, changed: &impl Fn()) {
    match load(path) {
        Ok(set) => {
            tracing::info!(devices = set.len(), reason = why, "allow-list reloaded");
            if let Ok(mut g) = shared.write() {
                *g = Some(set);
            }
            changed();
        }
        // Keep the previous list: a half-written file must not open the relay.
        Err(e) => tracing::warn!(error = %e, "allow-list not reloaded; keeping the previous one"),
    }
}

/// Re-reads the file when its modification time changes (checked every
/// `poll`) or on SIGHUP, until cancelled; calls `changed` after each reload.
pub(crate) async fn watch(
    path: PathBuf,
    shared: SharedAllowList,
    poll: Duration,
    cancel: CancellationToken,
    changed: impl Fn() + Send + 'static,
) {
    let mut last = mtime(&path);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = hangup => reload(&path, &shared, "sighup", &changed),
            _ = tick.tick() => {
                let now = mtime(&path);
                if now != last {
                    last = now;
                    reload(&path, &shared, "file changed", &changed);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_and_refuses_junk() {
        let id = starling_protocol::DeviceKey::from_seed([1; 32]).device_id();
        let set = parse(&format!("# staff\n\n{id}  # alice\n")).unwrap();
        assert!(set.contains(&id));
        assert!(matches!(
            parse("zz\n"),
            Err(AllowListError::Line { line: 1 })
        ));
    }
}
