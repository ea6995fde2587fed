//! `reading new`, `score` and `sign-off`.

use std::io::Write;

use anyhow::Result;
use recovery_journal::{Date, Perspective, ReadingId};
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
    /// List the readings: id, date, how each was taken, areas scored and
    /// sign-off; then any deleted ones.
    ///
    /// Every `--reading` option (and the commands below) takes a reading's
    /// id, its first few characters, or its date.
    List {
        #[command(flatten)]
        pick: Pick,
    },
    /// Change the date a reading was taken (a date after today is refused).
    ///
    /// Example: starling reading date 2026-11-23 --reading 2026-11-26
    Date {
        /// The new date, YYYY-MM-DD.
        date: String,
        /// Reading id prefix or date (default: the latest).
        #[arg(long)]
        reading: Option<String>,
        #[command(flatten)]
        pick: Pick,
    },
    /// Delete a reading for everyone who shares the journal. `starling
    /// reading restore` brings it back; should someone edit it meanwhile on
    /// another device, it is kept and shown as a conflict.
    ///
    /// Example: starling reading delete 2062-11-23
    Delete {
        /// Reading id prefix or date (`starling reading list` shows them).
        reading: String,
        #[command(flatten)]
        pick: Pick,
    },
    /// Bring back a deleted reading, with everything it held.
    ///
    /// Example: starling reading restore 2062-11-23
    Restore {
        /// Reading id prefix or date (`starling reading list` shows the
        /// deleted ones).
        reading: String,
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
    #[arg(value_parser = whole_number)]
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

/// A score as typed: a whole number, said so in words when it is not.
pub fn whole_number(text: &str) -> Result<i64, String> {
    text.trim()
        .parse()
        .map_err(|_| "a score is a whole number, a step on the ladder (such as 6)".to_owned())
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
    let (date, mode, instrument, pick) = match cmd {
        ReadingCmd::New {
            date,
            mode,
            instrument,
            pick,
        } => (date, mode, instrument, pick),
        ReadingCmd::List { pick } => return list(ctx, &pick, out),
        ReadingCmd::Date {
            date,
            reading,
            pick,
        } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let (id, date) = ctx.app.set_reading_date(&row, reading.as_deref(), &date)?;
            return said(ctx, out, &id, Some(date), "Dated", "");
        }
        ReadingCmd::Delete { reading, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let (id, date) = ctx.app.delete_reading(&row, &reading)?;
            let undo = format!(
                " `starling reading restore {}` brings it back.",
                id.as_str()
            );
            return said(ctx, out, &id, date, "Deleted", &undo);
        }
        ReadingCmd::Restore { reading, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let (id, date) = ctx.app.restore_reading(&row, &reading)?;
            return said(ctx, out, &id, date, "Restored", "");
        }
    };
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

/// Says what `reading date|delete|restore` did: "Deleted reading 2026-11-23 (ID)."
fn said(
    ctx: &Ctx,
    out: &mut impl Write,
    id: &ReadingId,
    date: Option<Date>,
    done: &str,
    then: &str,
) -> Result<()> {
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "reading": id.as_str(), "date": date.map(|d| d.to_string()) }),
        );
    }
    let date = date.map_or_else(|| "undated".to_owned(), |d| d.to_string());
    writeln!(out, "{done} reading {date} ({}).{then}", id.as_str())?;
    Ok(())
}

/// `reading list`.
fn list(ctx: &Ctx, pick: &Pick, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(pick.journal.as_deref())?;
    let journal = ctx.app.load(&row)?;
    let view = journal.view();
    let deleted = journal.deleted_readings();
    let date_of = |d: Option<Date>| d.map_or_else(|| "undated".to_owned(), |d| d.to_string());
    if ctx.json {
        let live: Vec<_> = view
            .readings
            .iter()
            .map(|r| {
                serde_json::json!({
                    "reading": r.id.as_str(),
                    "date": r.sort_date().map(|d| d.to_string()),
                    "mode": r.mode.value.map(|m| m.to_string()),
                    "instrument": r.instrument,
                    "areas": r.areas.len(),
                    "scored": r.areas.iter().filter(|a| scored(a)).count(),
                    "agreed": r.areas.iter().filter(|a| a.agreed.value.is_some()).count(),
                    "signoff": r.signoff,
                    "deleted_while_edited": r.deleted_while_edited,
                })
            })
            .collect();
        let gone: Vec<_> = deleted
            .iter()
            .map(|(id, d)| serde_json::json!({ "reading": id.as_str(), "date": d.map(|d| d.to_string()) }))
            .collect();
        return print_json(
            out,
            &serde_json::json!({ "readings": live, "deleted": gone }),
        );
    }
    if view.readings.is_empty() {
        writeln!(out, "No readings yet: `starling reading new` starts one.")?;
    } else {
        writeln!(out, "Readings, oldest first:")?;
    }
    for r in &view.readings {
        let mode = r.mode.value.map(|m| m.to_string()).unwrap_or_default();
        let instrument = r.instrument.split('@').next().unwrap_or_default();
        let agreed = r.areas.iter().filter(|a| a.agreed.value.is_some()).count();
        let any = r.areas.iter().filter(|a| scored(a)).count();
        let flag = if r.deleted_while_edited {
            "  DELETED while edited: see `starling conflicts`"
        } else {
            ""
        };
        writeln!(
            out,
            "  {}  {}  {mode:<6} {instrument:<16} {any}/{n} areas scored, {agreed} agreed; {}{flag}",
            date_of(r.sort_date()),
            r.id.as_str(),
            crate::render::signoff(&r.signoff),
            n = r.areas.len(),
        )?;
    }
    if !deleted.is_empty() {
        writeln!(
            out,
            "Deleted (`starling reading restore ID` brings one back):"
        )?;
        for (id, d) in &deleted {
            writeln!(out, "  {}  {}", date_of(*d), id.as_str())?;
        }
    }
    Ok(())
}

/// Whether any perspective scored the area.
fn scored(a: &recovery_journal::AreaView) -> bool {
    a.client.value.is_some() || a.worker.value.is_some() || a.agreed.value.is_some()
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
