//! Arbitrary bytes loaded as a journal: an error or a journal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The journal turns a panic inside automerge's decoder into an error with
    // catch_unwind; libfuzzer-sys's hook would abort before that can happen.
    // Panics that escape the journal still reach libfuzzer-sys and count.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    recovery_journal::fuzzing::load_and_render(data);
});
