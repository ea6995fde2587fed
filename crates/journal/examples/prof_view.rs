//! Profiling aid: `cargo build --profile bench -p recovery-journal --example prof_view`,
//! then `perf record target/release/examples/prof_view JOURNAL_FILE [load|view]` (a file
//! from `STARLING_BENCH_SAVE=... cargo bench -p recovery-journal --bench journal`).
//! `load` repeats only the load; `view` (the default) loads once and repeats the cold view.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: prof_view JOURNAL_FILE [load|view]");
    let mode = args.next().unwrap_or_else(|| "view".to_owned());
    let bytes = std::fs::read(path).unwrap();
    let d = recovery_journal::DeviceId::from_bytes([1; 32]);
    let rounds = 50;
    let t = std::time::Instant::now();
    let mut j = recovery_journal::Journal::load(&bytes, d).unwrap();
    eprintln!("load {:?}", t.elapsed());
    if mode == "load" {
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            j = std::hint::black_box(recovery_journal::Journal::load(&bytes, d).unwrap());
        }
        eprintln!("load x{rounds}: {:?} each", t.elapsed() / rounds);
    } else {
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            let fresh = recovery_journal::Journal::load(&bytes, d).unwrap();
            std::hint::black_box(fresh.view());
        }
        eprintln!(
            "load + cold view x{rounds}: {:?} each",
            t.elapsed() / rounds
        );
    }
    std::hint::black_box(j.view());
}
