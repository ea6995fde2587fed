//! Replays the saved cargo-fuzz corpora of `journal_load` and
//! `import_json`, so CI checks every input the fuzzer ever found
//! interesting without running the fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn journal_load_corpus_never_panics() {
    replay("journal_load", recovery_journal::fuzzing::load_and_render);
}

#[test]
fn import_json_corpus_never_panics() {
    replay("import_json", recovery_journal::fuzzing::import_and_render);
}

fn replay(target: &str, run: fn(&[u8])) {
    let dir = manifest_dir().join("../../fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        run(&bytes);
        count += 1;
    }
    assert!(
        count >= 4,
        "the corpus in {} has only {count} inputs",
        dir.display()
    );
}

/// This package's directory, as cargo gives it to the running test (the
/// path compiled in may be another checkout's when a shared target
/// directory reuses the build).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
