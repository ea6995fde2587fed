//! `starling demo`: the whole story on an embedded relay, in one run.
//!
//! Two people, each with their own home directory (their own device), a
//! relay on 127.0.0.1 with a temporary store, and the same code paths the
//! subcommands use: invite, join, score offline, sync, see the same star.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use recovery_journal::{Date, Instrument, Mode, Perspective};
use starling_app::{App, SyncOptions};

use crate::render;

/// Scores the client and the worker give, in Recovery Star order. They
/// disagree on self care and work.
const CLIENT: [i64; 10] = [5, 6, 4, 3, 4, 6, 7, 5, 4, 6];
const WORKER: [i64; 10] = [5, 3, 4, 3, 7, 6, 7, 5, 4, 6];

/// Run the story, printing as it goes.
pub fn run(out: &mut impl Write) -> Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let relay_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let relay = relay_rt
        .block_on(starling_relay::start(
            starling_relay::RelayConfig::for_data_dir(dir.path().join("relay")),
        ))
        .context("starting the embedded relay")?;
    let addr = relay.local_addr().to_string();
    writeln!(
        out,
        "Started a relay on {addr} (it stores only ciphertext).\n"
    )?;
    let result = story(dir.path(), &addr, out);
    relay_rt.block_on(relay.shutdown());
    result
}

fn person(root: &Path, name: &str) -> Result<App> {
    let app = App::open(&root.join(name.to_lowercase()))?;
    app.init(name)?;
    Ok(app)
}

fn quiet(app: &App) -> Result<()> {
    app.sync(
        None,
        &SyncOptions::once(std::time::Duration::from_secs(60)),
        |_| {},
    )?;
    Ok(())
}

fn story(root: &Path, relay: &str, out: &mut impl Write) -> Result<()> {
    let star = Instrument::recovery_star();
    let areas: Vec<&str> = star.areas.iter().map(|a| a.id.as_str()).collect();

    let sam = person(root, "Sam")?;
    let alex = person(root, "Alex")?;
    writeln!(
        out,
        "Sam (client) and Alex (care coordinator) each have their own device and key."
    )?;

    sam.new_journal(relay, None, "recovery-star")?;
    let sam_doc = sam.pick(None)?;
    let date: Date = "2026-11-23".parse()?;
    let reading = sam.edit(&sam_doc, |j| j.new_reading(date, Mode::Joint, &star))?;
    quiet(&sam)?;
    writeln!(
        out,
        "Sam creates a journal and a reading for {date}, and syncs it (encrypted) to the relay."
    )?;

    let link = sam.share(&sam_doc, "editor", "worker", "Alex", "7d")?.link;
    quiet(&sam)?;
    writeln!(
        out,
        "Sam invites Alex as worker: a single-use link carrying the document key."
    )?;
    alex.join(&link, false)?;
    let alex_doc = alex.pick(None)?;
    quiet(&sam)?; // Sam's device records Alex as the journal's worker.
    quiet(&alex)?;
    writeln!(
        out,
        "Alex joins with the link; both devices now hold the journal.\n"
    )?;

    writeln!(
        out,
        "Both go offline and score the same reading on their own devices."
    )?;
    let client: Vec<(&str, i64)> = areas.iter().copied().zip(CLIENT).collect();
    let worker: Vec<(&str, i64)> = areas.iter().copied().zip(WORKER).collect();
    let agreed: Vec<(&str, i64)> = client
        .iter()
        .zip(&worker)
        .filter(|(c, w)| c.1 == w.1)
        .map(|(c, _)| *c)
        .collect();
    sam.edit(&sam_doc, |j| {
        j.set_scores(&reading, Perspective::Client, &client)?;
        j.set_scores(&reading, Perspective::Agreed, &agreed)?;
        j.set_score(&reading, "work", Perspective::Agreed, 5)?;
        j.set_area_note(&reading, "work", "I want to try volunteering")
    })?;
    alex.edit(&alex_doc, |j| {
        j.set_scores(&reading, Perspective::Worker, &worker)?;
        j.set_scores(&reading, Perspective::Agreed, &agreed)?;
        j.set_score(&reading, "work", Perspective::Agreed, 6)
    })?;
    writeln!(
        out,
        "  Sam scored all ten areas, noted the agreed scores, and put 5 for work."
    )?;
    writeln!(
        out,
        "  Alex scored all ten areas, noted the agreed scores, and put 6 for work.\n"
    )?;

    writeln!(out, "Back online, both devices sync through the relay.")?;
    quiet(&sam)?;
    quiet(&alex)?;
    quiet(&sam)?;
    let sams = sam.load(&sam_doc)?.view();
    let alexs = alex.load(&alex_doc)?.view();
    ensure!(sams == alexs, "the two devices disagree after syncing");
    writeln!(out, "Both devices show the same star:\n")?;
    let shown = sams.reading(&reading).context("the reading is missing")?;
    render::reading(out, &sams, shown)?;

    writeln!(
        out,
        "\nThe gaps are data worth a conversation; the conflict waits for a person."
    )?;
    let conflict = sams
        .conflicts
        .first()
        .context("expected a conflict")?
        .path
        .clone();
    sam.edit(&sam_doc, |j| j.resolve(&conflict, "6"))?;
    quiet(&sam)?;
    quiet(&alex)?;
    let settled = alex.load(&alex_doc)?.view();
    let work = settled
        .reading(&reading)
        .and_then(|r| r.area("work"))
        .context("work area missing")?;
    writeln!(
        out,
        "They agree on 6 for work; Sam writes it, and after a sync Alex's device shows:"
    )?;
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
