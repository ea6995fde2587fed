//! The five-year journal: 260 readings x 10 areas x 3 perspectives, 200 goals,
//! 500 notes; how long it takes to save, load, view and merge.
//!
//! `cargo bench -p recovery-journal --bench journal`
//! Targets on the 2-core CI machine: load < 30 ms, view < 5 ms,
//! merge of 1000 + 1000 offline edits < 50 ms, saved size < 100 KB.
//! The `automerge_floor` group measures automerge alone on the same bytes
//! (loading them; one pass over every value), the floor under `load` and
//! `view_cold`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::LazyLock;

use automerge::ReadDoc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use recovery_journal::{
    DeviceId, Instrument, Journal, MemberRole, Mode, Perspective, ReadingId, StepOwner,
};

/// The Recovery Star's area ids, in order.
static AREAS: LazyLock<Vec<String>> = LazyLock::new(|| {
    Instrument::recovery_star()
        .areas
        .into_iter()
        .map(|a| a.id)
        .collect()
});

/// A deterministic pseudo-random score.
fn score(i: usize, j: usize, k: usize) -> i64 {
    ((i * 7 + j * 3 + k * 5) % 10 + 1) as i64
}

fn five_years() -> (Journal, Vec<ReadingId>, DeviceId) {
    let client = DeviceId::from_bytes([1; 32]);
    let worker = DeviceId::from_bytes([2; 32]);
    let mut j = Journal::create(client, "Sam").unwrap();
    j.set_member(worker, "Alex", MemberRole::Worker).unwrap();
    let mut w = j.fork(worker);
    let star = Instrument::recovery_star();
    let mut readings = Vec::new();
    let start = time_date(2021, 1, 4);
    for i in 0..260 {
        let date = (start + time::Duration::weeks(i as i64))
            .to_string()
            .parse()
            .unwrap();
        let r = j.new_reading(date, Mode::Joint, &star).unwrap();
        let client: Vec<(&str, i64)> = AREAS
            .iter()
            .enumerate()
            .map(|(a, id)| (id.as_str(), score(i, a, 0)))
            .collect();
        let agreed: Vec<(&str, i64)> = AREAS
            .iter()
            .enumerate()
            .map(|(a, id)| (id.as_str(), score(i, a, 2)))
            .collect();
        j.set_scores(&r, Perspective::Client, &client).unwrap();
        j.set_scores(&r, Perspective::Agreed, &agreed).unwrap();
        readings.push(r);
    }
    w.merge(&mut j).unwrap();
    for (i, r) in readings.iter().enumerate() {
        let worker: Vec<(&str, i64)> = AREAS
            .iter()
            .enumerate()
            .map(|(a, id)| (id.as_str(), score(i, a, 1)))
            .collect();
        w.set_scores(r, Perspective::Worker, &worker).unwrap();
    }
    j.merge(&mut w).unwrap();
    for g in 0..200 {
        let goal = j
            .add_goal(
                &readings[g],
                &AREAS[g % 10],
                &format!("Goal {g}: keep going with this"),
                Some(7),
            )
            .unwrap();
        j.add_step(
            &goal,
            "Talk it through at the next meeting",
            StepOwner::Worker,
            None,
        )
        .unwrap();
    }
    for n in 0..500 {
        let date = (start + time::Duration::days(n as i64 * 3))
            .to_string()
            .parse()
            .unwrap();
        let text = format!(
            "Note {n}. Slept better this week; went to the group on Tuesday and talked to two people."
        );
        j.add_note(date, Some(AREAS[n % 10].as_str()), &text)
            .unwrap();
    }
    (j, readings, client)
}

fn time_date(y: i32, m: u8, d: u8) -> time::Date {
    time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
}

fn offline_edits(base: &Journal, device: DeviceId, readings: &[ReadingId], seed: usize) -> Journal {
    let mut j = base.fork(device);
    for e in 0..1000 {
        let r = &readings[(e * 13 + seed) % readings.len()];
        let p = if seed == 0 {
            Perspective::Client
        } else {
            Perspective::Worker
        };
        j.set_score(r, &AREAS[(e + seed) % 10], p, score(e, seed, 3))
            .unwrap();
    }
    j
}

fn bench(c: &mut Criterion) {
    let (mut journal, readings, client) = five_years();
    let bytes = journal.save();
    if let Ok(path) = std::env::var("STARLING_BENCH_SAVE") {
        std::fs::write(path, &bytes).unwrap();
    }
    eprintln!(
        "five-year journal: {} changes, saved size {} bytes ({:.1} KB)",
        journal.history().len(),
        bytes.len(),
        bytes.len() as f64 / 1024.0
    );

    let mut group = c.benchmark_group("five_year_journal");
    group.sample_size(20);
    group.bench_function("save", |b| b.iter(|| journal.save()));
    group.bench_function("load", |b| {
        b.iter(|| Journal::load(&bytes, client).unwrap())
    });
    // The first view after loading reads the whole document.
    group.bench_function("view_cold", |b| {
        b.iter_batched(
            || Journal::load(&bytes, client).unwrap(),
            |j| j.view(),
            BatchSize::LargeInput,
        )
    });
    let mut loaded = Journal::load(&bytes, client).unwrap();
    loaded.view();
    // A live session: a score arrives (here: is made) and the star is drawn again.
    let mut value = 0;
    group.bench_function("score_then_view", |b| {
        b.iter(|| {
            value = value % 10 + 1;
            loaded
                .set_score(&readings[100], "work", Perspective::Agreed, value)
                .unwrap();
            loaded.view()
        })
    });
    group.bench_function("view_unchanged", |b| b.iter(|| loaded.view()));
    let a = offline_edits(&loaded, client, &readings, 0);
    let w = offline_edits(&loaded, DeviceId::from_bytes([2; 32]), &readings, 1);
    group.bench_function("merge_1000_plus_1000_edits", |b| {
        b.iter_batched(
            || (a.fork(client), w.fork(DeviceId::from_bytes([2; 32]))),
            |(mut a, mut w)| a.merge(&mut w).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.sample_size(10);
    group.bench_function("build", |b| b.iter(five_years));
    group.finish();
    automerge_floor(c, &bytes);
}

/// What automerge 0.12 itself costs on the same bytes, below which no
/// journal code can go: loading them, and one pass over every value.
fn automerge_floor(c: &mut Criterion, bytes: &[u8]) {
    let doc = automerge::Automerge::load(bytes).unwrap();
    let changes = doc.get_changes(&[]);
    let ops: usize = changes.iter().map(|c| c.len()).sum();
    let chars: usize = doc
        .iter()
        .map(|item| match item.item {
            automerge::iter::DocItem::Text(span) => span.as_str().chars().count(),
            _ => 0,
        })
        .sum();
    eprintln!(
        "automerge content: {} changes, {ops} ops, {chars} of them text characters",
        changes.len()
    );
    let mut group = c.benchmark_group("automerge_floor");
    group.sample_size(20);
    group.bench_function("load", |b| {
        b.iter(|| automerge::Automerge::load(bytes).unwrap())
    });
    group.bench_function("iter_all_values_cold", |b| {
        b.iter_batched(
            || automerge::Automerge::load(bytes).unwrap(),
            |doc| doc.iter().count(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
