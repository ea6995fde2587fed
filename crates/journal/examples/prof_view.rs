//! Profiling aid: `cargo build --profile bench -p recovery-journal --example prof_view`,
//! then `perf record target/release/examples/prof_view JOURNAL_FILE` (a file from
//! `STARLING_BENCH_SAVE=... cargo bench -p recovery-journal --bench journal`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: prof_view JOURNAL_FILE");
    let bytes = std::fs::read(path).unwrap();
    let d = recovery_journal::DeviceId::from_bytes([1; 32]);
    let t = std::time::Instant::now();
    let j = recovery_journal::Journal::load(&bytes, d).unwrap();
    eprintln!("load {:?}", t.elapsed());
    let t = std::time::Instant::now();
    for _ in 0..50 {
        std::hint::black_box(j.view());
    }
    eprintln!("view {:?}", t.elapsed() / 50);
}
