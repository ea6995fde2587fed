//! `reading new`, `score` and `sign-off`.

use std::io::Write;

use anyhow::Result;
use ed25519_dalek::SigningKey;
use recovery_journal::{Date, Instrument, MemberRole, Mode, Perspective};

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, invalid};

/// `reading` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ReadingCmd {
    /// Start a reading (dated assessment).
    ///
    /// Example: starling reading new --date 2026-11-23 --mode joint
    New {
        /// Date taken, YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
        /// joint (client and worker together), client, or worker.
        #[arg(long, default_value = "joint")]
        mode: String,
        /// Instrument: recovery-star or starling-compass.
        #[arg(long, default_value = "recovery-star")]
        instrument: String,
        #[command(flatten)]
        pick: Pick,
    },
}

/// Arguments of `score`.
#[derive(Debug, clap::Args)]
pub struct Score {
    /// Area id, e.g. work, self_care, trust_hope (see `starling show`).
    pub area: String,
    /// The step on the ladder, 1 to 10 on the Recovery Star.
    pub score: i64,
    /// Whose view: client, worker or agreed (default: your own role's).
    #[arg(long = "as", value_name = "PERSPECTIVE")]
    pub perspective: Option<String>,
    /// Reading id prefix or date (default: the latest).
    #[arg(long)]
    pub reading: Option<String>,
    /// A note on this area for this reading.
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `sign-off`.
#[derive(Debug, clap::Args)]
pub struct SignOff {
    /// Reading id prefix or date (default: the latest).
    #[arg(long)]
    pub reading: Option<String>,
    #[command(flatten)]
    pub pick: Pick,
}

pub fn reading(ctx: &Ctx, cmd: ReadingCmd, out: &mut impl Write) -> Result<()> {
    let ReadingCmd::New {
        date,
        mode,
        instrument,
        pick,
    } = cmd;
    let row = ctx.pick(pick.journal.as_deref())?;
    let date = date_or_today(date)?;
    let mode: Mode = mode.parse()?;
    let instrument = Instrument::bundled(&instrument)?;
    let id = ctx.edit(&row, |j| j.new_reading(date, mode, &instrument))?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "reading": id.to_string(), "date": date.to_string() }),
        );
    }
    writeln!(
        out,
        "Started {mode} reading {date} ({id}) on {}.",
        instrument.name
    )?;
    Ok(())
}

pub fn score(ctx: &Ctx, args: Score, out: &mut impl Write) -> Result<()> {
    let row = ctx.pick(args.pick.journal.as_deref())?;
    let journal = ctx.load(&row)?;
    let reading = ctx.reading(&journal, args.reading.as_deref())?;
    let perspective = match args.perspective {
        Some(p) => p.parse::<Perspective>()?,
        None => match journal.member(ctx.device()?).map(|m| m.role) {
            Some(MemberRole::Client) => Perspective::Client,
            Some(MemberRole::Worker) => Perspective::Worker,
            _ => {
                return Err(invalid(
                    "say whose score this is with --as client, --as worker or --as agreed",
                ));
            }
        },
    };
    drop(journal);
    ctx.edit(&row, |j| {
        j.set_score(&reading, &args.area, perspective, args.score)?;
        if let Some(note) = &args.note {
            j.set_area_note(&reading, &args.area, note)?;
        }
        Ok(())
    })?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "reading": reading.to_string(), "area": args.area, "perspective": perspective.as_str(), "score": args.score }),
        );
    }
    writeln!(out, "Scored {} {} ({perspective}).", args.area, args.score)?;
    Ok(())
}

pub fn sign_off(ctx: &Ctx, args: SignOff, out: &mut impl Write) -> Result<()> {
    let row = ctx.pick(args.pick.journal.as_deref())?;
    let journal = ctx.load(&row)?;
    let reading = ctx.reading(&journal, args.reading.as_deref())?;
    drop(journal);
    let key = ctx.client.signing_key()?;
    let key = SigningKey::from_bytes(&key);
    ctx.edit(&row, |j| j.sign_off(&reading, &key))?;
    let status = ctx
        .load(&row)?
        .view()
        .reading(&reading)
        .map(|r| r.signoff.clone());
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "reading": reading.to_string(), "signoff": status }),
        );
    }
    writeln!(out, "Signed off reading {reading}: {status:?}")?;
    Ok(())
}

/// A date typed on the command line, or today (UTC) when none was given.
pub fn date_or_today(date: Option<String>) -> Result<Date> {
    Ok(match date {
        Some(d) => d.parse()?,
        None => Date::from_unix(now_secs()),
    })
}

pub fn now_secs() -> i64 {
    (starling_client::now_ms() / 1000) as i64
}
