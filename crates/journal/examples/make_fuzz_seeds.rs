//! Writes seed inputs for the `journal_load` and `import_json` fuzz
//! targets: `cargo run -p recovery-journal --example make_fuzz_seeds --
//! fuzz/corpus` (into its `journal_load` and `import_json` folders).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use recovery_journal::{DeviceId, Instrument, Journal, MemberRole, Mode, Perspective, StepOwner};

fn main() {
    let corpus = std::env::args().nth(1).expect("usage: make_fuzz_seeds DIR");
    let dir = format!("{corpus}/journal_load");
    let import = format!("{corpus}/import_json");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&import).unwrap();
    let client = DeviceId::from_bytes([1; 32]);
    let worker = DeviceId::from_bytes([2; 32]);
    let mut j = Journal::create(client, "Sam").unwrap();
    j.set_member(worker, "Alex", MemberRole::Worker).unwrap();
    let r = j
        .new_reading(
            "2026-11-23".parse().unwrap(),
            Mode::Joint,
            &Instrument::recovery_star(),
        )
        .unwrap();
    std::fs::write(format!("{dir}/seed-empty-reading"), j.save()).unwrap();
    std::fs::write(format!("{import}/seed-empty-reading.json"), j.export_json()).unwrap();
    let mut w = j.fork(worker);
    j.set_score(&r, "work", Perspective::Agreed, 5).unwrap();
    w.set_score(&r, "work", Perspective::Agreed, 6).unwrap();
    w.set_area_note(&r, "work", "volunteering").unwrap();
    let g = j.add_goal(&r, "work", "CV", Some(7)).unwrap();
    j.add_step(&g, "write it", StepOwner::Client, None).unwrap();
    j.add_note("2026-11-24".parse().unwrap(), Some("work"), "went well")
        .unwrap();
    j.merge(&mut w).unwrap();
    std::fs::write(format!("{dir}/seed-conflict"), j.save()).unwrap();
    std::fs::write(format!("{import}/seed-conflict.json"), j.export_json()).unwrap();
    std::fs::write(format!("{import}/seed-not-json"), b"reading,area\n1,work\n").unwrap();
    std::fs::write(
        format!("{import}/seed-other-json"),
        br#"{"format":"starling.journal","version":99}"#,
    )
    .unwrap();
    std::fs::write(format!("{dir}/seed-incremental"), j.save_incremental()).unwrap();
    std::fs::write(format!("{dir}/seed-empty"), b"").unwrap();
    std::fs::write(format!("{dir}/seed-garbage"), b"\x85\x6f\x4a\x83garbage").unwrap();
}
