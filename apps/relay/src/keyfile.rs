//! The relay's own signing key: generated on first start, kept in the data
//! directory (mode 0600) so acks stay verifiable across restarts. It is
//! written whole or not at all (a temporary file, synced, then renamed).

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
    #[error(
        "relay key file {path} {what}, where a key is 64 hex digits. Restore the file from a \
         backup: devices have pinned this relay's key and refuse a new one. Only if there is no \
         backup, move the file away to make a new key; every device must then trust the relay \
         again (starling relays forget, then sync)"
    )]
    Malformed {
        /// The file.
        path: String,
        /// What it holds instead.
        what: String,
    },
}

/// What a key file that is not a key holds, in words.
fn describe(text: &str) -> String {
    let t = text.trim();
    let hex = t.bytes().take_while(u8::is_ascii_hexdigit).count();
    if t.is_empty() {
        "is empty (it was cut short: a full disk or a crash while it was written?)".into()
    } else if hex == t.len() && hex < 64 {
        format!(
            "holds only {hex} of the 64 hex digits (it was cut short: a full disk or a crash while it was written?)"
        )
    } else if hex == t.len() {
        format!("holds {hex} hex digits")
    } else {
        "holds something other than hex digits".into()
    }
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
            hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyError::Malformed {
                path: path.display().to_string(),
                what: describe(&text),
            })?;
            let key = DeviceKey::from_seed(seed);
            zeroize::Zeroize::zeroize(&mut seed);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = DeviceKey::generate(&mut rand_core::OsRng);
            let text = Zeroizing::new(hex::encode(*key.to_seed()));
            let tmp = path.with_extension("key.tmp");
            let _ = std::fs::remove_file(&tmp);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            f.sync_all().map_err(io)?;
            drop(f);
            std::fs::rename(&tmp, path).map_err(io)?;
            if let Some(dir) = path.parent()
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
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
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_cut_short_key_says_so_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("relay.key");
        let key = load_or_create(&p).unwrap();
        let whole = std::fs::read_to_string(&p).unwrap();
        for (text, says) in [
            (&whole[..30], "holds only 30 of the 64 hex digits"),
            ("", "is empty"),
            ("not a key\n", "something other than hex digits"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = load_or_create(&p).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
            assert!(e.contains(&p.display().to_string()), "{e}");
            assert!(e.contains("Restore the file from a backup"), "{e}");
        }
        // The damaged file is left alone: nothing overwrites the evidence.
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "not a key\n");
        std::fs::write(&p, &whole).unwrap();
        assert_eq!(load_or_create(&p).unwrap().device_id(), key.device_id());
    }
}
