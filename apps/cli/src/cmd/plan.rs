//! `goal add`, `step add`, `step done`, `note add`.

use std::io::Write;

use anyhow::Result;
use recovery_journal::{Date, GoalId, StepId, StepOwner};

use crate::cmd::reading::date_or_today;
use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, not_found};

/// `goal` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GoalCmd {
    /// Add a goal for an area to a reading's action plan.
    ///
    /// Example: starling goal add work "Find volunteering" --target 6
    Add {
        /// Area id.
        area: String,
        /// The goal, in the client's words.
        title: String,
        /// Target score.
        #[arg(long)]
        target: Option<i64>,
        /// Reading id prefix or date (default: the latest).
        #[arg(long)]
        reading: Option<String>,
        #[command(flatten)]
        pick: Pick,
    },
}

/// `step` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum StepCmd {
    /// Add a step towards a goal: what, who, by when.
    ///
    /// Example: starling step add 3fa2 "Call the volunteer centre" --owner client --due 2026-12-01
    Add {
        /// Goal id prefix (see `starling show`).
        goal: String,
        /// What is to be done.
        text: String,
        /// client, worker, supporter or other.
        #[arg(long, default_value = "client")]
        owner: String,
        /// Due date, YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
        #[command(flatten)]
        pick: Pick,
    },
    /// Mark a step done.
    Done {
        /// Goal id prefix.
        goal: String,
        /// Step id prefix.
        step: String,
        #[command(flatten)]
        pick: Pick,
    },
}

/// `note` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum NoteCmd {
    /// Write a dated note, optionally about one area.
    ///
    /// Example: starling note add "Went to the group on Tuesday" --area social_networks
    Add {
        /// The note.
        text: String,
        /// Area id it is about.
        #[arg(long)]
        area: Option<String>,
        /// Date, YYYY-MM-DD (default: today).
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        pick: Pick,
    },
}

pub fn goal(ctx: &Ctx, cmd: GoalCmd, out: &mut impl Write) -> Result<()> {
    let GoalCmd::Add {
        area,
        title,
        target,
        reading,
        pick,
    } = cmd;
    let row = ctx.pick(pick.journal.as_deref())?;
    let reading = ctx.reading(&ctx.load(&row)?, reading.as_deref())?;
    let id = ctx.edit(&row, |j| j.add_goal(&reading, &area, &title, target))?;
    if ctx.json {
        return print_json(out, &serde_json::json!({ "goal": id.to_string() }));
    }
    writeln!(out, "Added goal {id} on {area}: {title}")?;
    Ok(())
}

fn find_goal(ctx: &Ctx, row: &starling_client::DocRow, prefix: &str) -> Result<GoalId> {
    let view = ctx.load(row)?.view();
    let hits: Vec<&GoalId> = view
        .goals
        .iter()
        .map(|g| &g.id)
        .filter(|g| g.as_str().starts_with(prefix))
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(not_found(format!("no single goal starts with `{prefix}`"))),
    }
}

fn find_step(
    ctx: &Ctx,
    row: &starling_client::DocRow,
    goal: &GoalId,
    prefix: &str,
) -> Result<StepId> {
    let view = ctx.load(row)?.view();
    let goal_view = view
        .goals
        .iter()
        .find(|g| &g.id == goal)
        .ok_or_else(|| not_found("goal vanished"))?;
    let hits: Vec<&StepId> = goal_view
        .steps
        .iter()
        .map(|s| &s.id)
        .filter(|s| s.as_str().starts_with(prefix))
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(not_found(format!("no single step starts with `{prefix}`"))),
    }
}

pub fn step(ctx: &Ctx, cmd: StepCmd, out: &mut impl Write) -> Result<()> {
    match cmd {
        StepCmd::Add {
            goal,
            text,
            owner,
            due,
            pick,
        } => {
            let row = ctx.pick(pick.journal.as_deref())?;
            let goal = find_goal(ctx, &row, &goal)?;
            let owner: StepOwner = owner.parse()?;
            let due: Option<Date> = due.map(|d| d.parse()).transpose()?;
            let id = ctx.edit(&row, |j| j.add_step(&goal, &text, owner, due))?;
            if ctx.json {
                return print_json(out, &serde_json::json!({ "step": id.to_string() }));
            }
            writeln!(out, "Added step {id} for {owner}: {text}")?;
        }
        StepCmd::Done { goal, step, pick } => {
            let row = ctx.pick(pick.journal.as_deref())?;
            let goal = find_goal(ctx, &row, &goal)?;
            let step = find_step(ctx, &row, &goal, &step)?;
            ctx.edit(&row, |j| j.set_step_done(&goal, &step, true))?;
            if ctx.json {
                return print_json(
                    out,
                    &serde_json::json!({ "step": step.to_string(), "done": true }),
                );
            }
            writeln!(out, "Step {step} done.")?;
        }
    }
    Ok(())
}

pub fn note(ctx: &Ctx, cmd: NoteCmd, out: &mut impl Write) -> Result<()> {
    let NoteCmd::Add {
        text,
        area,
        date,
        pick,
    } = cmd;
    let row = ctx.pick(pick.journal.as_deref())?;
    let date = date_or_today(date)?;
    let id = ctx.edit(&row, |j| j.add_note(date, area.as_deref(), &text))?;
    if ctx.json {
        return print_json(out, &serde_json::json!({ "note": id.to_string() }));
    }
    writeln!(out, "Wrote note {id} dated {date}.")?;
    Ok(())
}
