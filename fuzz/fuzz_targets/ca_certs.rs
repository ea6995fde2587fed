#![no_main]

use libfuzzer_sys::fuzz_target;

// A certificate file a person uploads or pastes in Relay details, or gives
// `starling relays trust-ca`: refused with a reason, never a panic, and
// never "trusted" with nothing in it.
fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = starling_client::parse_pem_certs(data) {
        assert!(!certs.is_empty() && certs.iter().all(|c| !c.is_empty()));
    }
});
