//! Replays the saved fuzz inputs for certificate files (fuzz/corpus/ca_certs,
//! the `ca_certs` target) so CI catches a panic without a fuzzer, and checks
//! the seeds mean what they say.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ca_certs")
}

#[test]
fn every_saved_certificate_file_is_read_or_refused_without_a_panic() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let r = std::panic::catch_unwind(|| starling_client::parse_pem_certs(&data));
        let parsed = r.unwrap_or_else(|_| panic!("{} panicked", path.display()));
        if let Ok(certs) = parsed {
            assert!(!certs.is_empty() && certs.iter().all(|c| !c.is_empty()));
        }
        n += 1;
    }
    assert!(n >= 5, "the corpus is missing");
}

#[test]
fn a_certificate_reads_the_same_as_text_and_as_binary_and_junk_is_refused() {
    let read =
        |name: &str| starling_client::parse_pem_certs(&std::fs::read(corpus().join(name)).unwrap());
    let pem = read("ca.pem").unwrap();
    assert_eq!(pem.len(), 1);
    assert_eq!(read("ca.der").unwrap(), pem);
    assert_eq!(read("two.pem").unwrap().len(), 2);
    for junk in ["text", "junk-block.pem", "truncated.pem", "truncated.der"] {
        assert!(read(junk).is_err(), "{junk} was read as a certificate");
    }
}
