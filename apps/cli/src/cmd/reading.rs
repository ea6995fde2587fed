//! `reading new`, `score` and `sign-off`.

use std::io::Write;

use anyhow::Result;
use recovery_journal::Perspective;
use starling_app::ScoreInput;

use crate::cmd::{Pick, print_json};
use crate::ctx::Ctx;

/// The area ids of the bundled instruments, as `score --help` lists them
/// (a test checks this stays what the instruments say).
pub const AREA_HELP: &str = "\
Area ids:
  Recovery Star: mental_health, self_care, living_skills, social_networks, work,
    relationships, addictive_behaviour, responsibilities, identity_self_esteem,
    trust_hope
  Starling Compass: see `starling show` (each area's id is in brackets)";

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
#[command(after_help = AREA_HELP)]
pub struct Score {
    /// Area id, e.g. work, self_care, trust_hope (listed below; `starling
    /// show` prints each area's id in brackets).
    pub area: String,
    /// The step on the ladder, 1 to 10 on the Recovery Star.
    pub score: i64,
    /// Whose view: client, worker or agreed (default: your own, as the
    /// journal or your invite says).
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
    let row = ctx.app.pick(pick.journal.as_deref())?;
    let (id, date, instrument) = ctx
        .app
        .new_reading(&row, date.as_deref(), &mode, &instrument)?;
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
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let perspective = args
        .perspective
        .as_deref()
        .map(str::parse::<Perspective>)
        .transpose()?;
    let input = ScoreInput {
        area: args.area.trim().to_owned(),
        score: args.score,
        perspective,
        reading: args.reading,
        note: args.note,
    };
    let scored = ctx.app.score(&row, &input)?;
    if ctx.json {
        return print_json(out, &scored);
    }
    writeln!(
        out,
        "Scored {} {} ({}).",
        scored.area, scored.score, scored.perspective
    )?;
    Ok(())
}

pub fn sign_off(ctx: &Ctx, args: SignOff, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let (reading, status) = ctx.app.sign_off(&row, args.reading.as_deref())?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "reading": reading.to_string(), "signoff": status }),
        );
    }
    writeln!(
        out,
        "Signed off reading {reading}: {}.",
        crate::render::signoff(&status)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_area_help_lists_the_recovery_stars_ids() {
        let star = recovery_journal::Instrument::recovery_star();
        for area in &star.areas {
            assert!(super::AREA_HELP.contains(&area.id), "{}", area.id);
        }
    }
}
