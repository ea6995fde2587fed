#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    starling_protocol::fuzzing::person_parse(data);
});
