#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    recovery_journal::fuzzing::import_and_render(data);
});
