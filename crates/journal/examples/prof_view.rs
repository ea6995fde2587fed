#![allow(clippy::unwrap_used, missing_docs)]
use automerge::ReadDoc;
fn main() {
    let bytes = std::fs::read("/tmp/prof/five.bin").unwrap();
    let d = recovery_journal::DeviceId::from_bytes([1; 32]);
    let t = std::time::Instant::now();
    let j = recovery_journal::Journal::load(&bytes, d).unwrap();
    eprintln!("journal load {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let doc = automerge::Automerge::load(&bytes).unwrap();
    eprintln!("automerge load {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let _d2 = automerge::Automerge::load_with_options(
        &bytes,
        automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck),
    )
    .unwrap();
    eprintln!("automerge load unverified {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let n = doc.iter().count();
    eprintln!("iter {n} items {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let n: usize = doc
        .iter()
        .map(|i| {
            let _ = i.item.id();
            std::hint::black_box(i.key().map(|k| k.len()));
            1
        })
        .sum();
    eprintln!("iter+ids {n} items {:?}", t.elapsed());
    let t = std::time::Instant::now();
    for _ in 0..20 {
        std::hint::black_box(j.view());
    }
    eprintln!("view {:?}", t.elapsed() / 20);
    let t = std::time::Instant::now();
    for _ in 0..20 {
        std::hint::black_box(j.owner());
    }
    eprintln!("owner {:?}", t.elapsed() / 20);
}
