//! The relay's own signing key: generated on first start, kept in the data
//! directory (mode 0600) so acks stay verifiable across restarts.

use std::io::Write;
use std::path::Path;

use starling_protocol::DeviceKey;
use zeroize::Zeroizing;

/// Errors loading the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("relay key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error("relay key file {0} is not 64 hex digits")]
    Malformed(String),
}

/// Loads the key at `path`, or generates and writes a new one.
pub fn load_or_create(path: &Path) -> Result<DeviceKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let mut seed = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut seed)
                .map_err(|_| KeyError::Malformed(path.display().to_string()))?;
            let key = DeviceKey::from_seed(seed);
            zeroize::Zeroize::zeroize(&mut seed);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = DeviceKey::generate(&mut rand_core::OsRng);
            let text = Zeroizing::new(hex::encode(*key.to_seed()));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            f.sync_all().map_err(io)?;
            tracing::info!(path = %path.display(), relay = %key.device_id(), "generated relay key");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn persists_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("relay.key");
        let a = load_or_create(&p).unwrap();
        let b = load_or_create(&p).unwrap();
        assert_eq!(a.device_id(), b.device_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&p, "nope").unwrap();
        assert!(matches!(load_or_create(&p), Err(KeyError::Malformed(_))));
    }
}
