//! Handing untrusted bytes to automerge safely.

use crate::error::{JournalError, Result};

/// Walk the automerge chunk headers of untrusted bytes before automerge does.
///
/// A journal is stored as document chunks (type 0) and change chunks (types 1
/// and 2). Automerge 0.12 also parses *bundle* chunks (type 3), and the fuzzer
/// found 205-byte bundles that make it try to allocate 4 GiB and abort, which
/// no `catch_unwind` can stop. Journals never contain bundles, so they are
/// refused here, as is any chunk whose length runs past the end of the input.
pub(crate) fn check_chunks(mut bytes: &[u8]) -> Result<()> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let bad = |why: &str| Err(JournalError::NotAJournal(why.to_owned()));
    while !bytes.is_empty() {
        if bytes.len() < 9 || bytes[..4] != MAGIC {
            return bad("not automerge data (bad chunk header)");
        }
        if bytes[8] > 2 {
            return bad("unsupported automerge chunk type");
        }
        let mut len: u64 = 0;
        let mut used = 0;
        for (i, byte) in bytes[9..].iter().take(10).enumerate() {
            len |= u64::from(byte & 0x7f) << (7 * i);
            used = i + 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let start = 9 + used;
        let end = usize::try_from(len).ok().and_then(|l| start.checked_add(l));
        match end {
            Some(end) if used > 0 && end <= bytes.len() => bytes = &bytes[end..],
            _ => return bad("truncated automerge chunk"),
        }
    }
    Ok(())
}

/// Run an automerge decoder on untrusted bytes.
///
/// Automerge 0.12 returns errors for most malformed input, but the fuzzer
/// found inputs on which its column decoder panics. A panic there must not
/// take the program down, so it becomes [`JournalError::NotAJournal`].
/// Callers that mutate a document decode the bytes on their own first, so a
/// decoder failure never leaves a journal half-changed.
pub(crate) fn guarded<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(JournalError::NotAJournal(e.to_string())),
        Err(_) => Err(JournalError::NotAJournal(
            "the automerge data is corrupt (its decoder failed)".into(),
        )),
    }
}
