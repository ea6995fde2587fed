//! Replays the saved cargo-fuzz corpus of `journal_load`, so CI checks every
//! input the fuzzer ever found interesting without running the fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn journal_load_corpus_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/journal_load");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        recovery_journal::fuzzing::load_and_render(&bytes);
        count += 1;
    }
    assert!(
        count >= 4,
        "the corpus in {} has only {count} inputs",
        dir.display()
    );
}
