//! `starling demo`: the offline co-editing story, start to finish, in one run.

use std::io::Write;

use anyhow::Context;
use ed25519_dalek::SigningKey;
use recovery_journal::{DeviceId, Instrument, Journal, MemberRole, Mode, Perspective};

use crate::render;

/// Scores the client and the worker give, in Recovery Star order. They
/// disagree on self care and work.
const CLIENT: [i64; 10] = [5, 6, 4, 3, 4, 6, 7, 5, 4, 6];
const WORKER: [i64; 10] = [5, 3, 4, 3, 7, 6, 7, 5, 4, 6];

fn device() -> DeviceId {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    DeviceId::from(&key.verifying_key())
}

/// Run the story, printing as it goes.
pub fn run(out: &mut impl Write) -> anyhow::Result<()> {
    let star = Instrument::recovery_star();
    let areas: Vec<&str> = star.areas.iter().map(|a| a.id.as_str()).collect();
    let (sam, alex) = (device(), device());

    writeln!(
        out,
        "Sam (client) creates a Recovery Star journal on their phone."
    )?;
    let mut phone = Journal::create(sam, "Sam").context("creating Sam's journal")?;
    phone.set_member(alex, "Alex", MemberRole::Worker)?;
    let reading = phone.new_reading("2026-11-23".parse()?, Mode::Joint, &star)?;
    writeln!(
        out,
        "Sam shares it with Alex, their care coordinator; Alex's laptop gets a copy."
    )?;
    let mut laptop =
        Journal::load(&phone.save(), alex).context("Alex opening the shared journal")?;

    writeln!(
        out,
        "\nBoth go offline and score the same reading on their own devices."
    )?;
    let client: Vec<(&str, i64)> = areas.iter().copied().zip(CLIENT).collect();
    let worker: Vec<(&str, i64)> = areas.iter().copied().zip(WORKER).collect();
    // Where they already see eye to eye, both note the same agreed score.
    let agreed: Vec<(&str, i64)> = client
        .iter()
        .zip(&worker)
        .filter(|(c, w)| c.1 == w.1)
        .map(|(c, _)| *c)
        .collect();
    phone.set_scores(&reading, Perspective::Client, &client)?;
    phone.set_scores(&reading, Perspective::Agreed, &agreed)?;
    phone.set_score(&reading, "work", Perspective::Agreed, 5)?;
    phone.set_area_note(&reading, "work", "I want to try volunteering")?;
    laptop.set_scores(&reading, Perspective::Worker, &worker)?;
    laptop.set_scores(&reading, Perspective::Agreed, &agreed)?;
    laptop.set_score(&reading, "work", Perspective::Agreed, 6)?;
    writeln!(
        out,
        "  Sam scored all ten areas, noted the agreed scores, and put 5 for work."
    )?;
    writeln!(
        out,
        "  Alex scored all ten areas, noted the agreed scores, and put 6 for work."
    )?;

    writeln!(
        out,
        "\nThey meet again; their devices merge, in either order."
    )?;
    let mut sams = phone.fork(sam);
    sams.merge(&mut laptop.fork(alex))?;
    let mut alexs = laptop.fork(alex);
    alexs.merge(&mut phone.fork(sam))?;
    anyhow::ensure!(
        sams.view() == alexs.view(),
        "the two devices disagree after merging"
    );
    writeln!(out, "Both devices now show the same star:\n")?;
    let view = sams.view();
    let shown = view.reading(&reading).context("the reading is missing")?;
    render::reading(out, &view, shown)?;

    writeln!(
        out,
        "\nThe gaps are data worth a conversation; the conflict waits for a person."
    )?;
    let conflict = view
        .conflicts
        .first()
        .context("expected a conflict")?
        .path
        .clone();
    sams.resolve(&conflict, "6")?;
    alexs.merge(&mut sams.fork(sam))?;
    writeln!(
        out,
        "Sam and Alex agree on 6 for work; Sam writes it and it syncs:"
    )?;
    let settled = alexs.view();
    let work = settled
        .reading(&reading)
        .and_then(|r| r.area("work"))
        .context("work area missing")?;
    writeln!(
        out,
        "  work: client {}, worker {}, agreed {} ({}); open conflicts: {}",
        work.client.value.unwrap_or(0),
        work.worker.value.unwrap_or(0),
        work.agreed.value.unwrap_or(0),
        work.stage.as_deref().unwrap_or("-"),
        settled.conflicts.len()
    )?;
    writeln!(out, "\n{}", star.attribution)?;
    Ok(())
}
