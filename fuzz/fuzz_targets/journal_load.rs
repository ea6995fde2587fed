//! Arbitrary bytes loaded as a journal: an error or a journal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recovery_journal::fuzzing::load_and_render(data);
});
