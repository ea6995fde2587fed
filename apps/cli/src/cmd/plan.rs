//! `goal add|edit|remove|restore`, `step add|done|remove|restore`, `note add`,
//! `note list`.

use std::io::Write;

use anyhow::Result;

use crate::cmd::{Pick, print_json};
use crate::ctx::Ctx;

/// `goal` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum GoalCmd {
    /// Add a goal for an area to a reading's action plan.
    ///
    /// Example: starling goal add work "Find volunteering" --target 6
    Add {
        /// Area id (see `starling score --help`).
        area: String,
        /// The goal, in the client's words.
        title: String,
        /// Target score.
        #[arg(long, value_parser = crate::cmd::reading::whole_number)]
        target: Option<i64>,
        /// Reading id prefix or date (default: the latest).
        #[arg(long)]
        reading: Option<String>,
        #[command(flatten)]
        pick: Pick,
    },
    /// Change a goal's title or target.
    ///
    /// Example: starling goal edit 3fa2 --title "Find paid work" --target 7
    Edit {
        /// Goal id prefix (see `starling show`).
        goal: String,
        /// The new title.
        #[arg(long)]
        title: Option<String>,
        /// The new target score.
        #[arg(long, value_parser = crate::cmd::reading::whole_number, conflicts_with = "no_target")]
        target: Option<i64>,
        /// Clear the target.
        #[arg(long)]
        no_target: bool,
        #[command(flatten)]
        pick: Pick,
    },
    /// Remove a goal and its steps from the plan (`goal restore` brings it
    /// back; the history keeps it either way).
    Remove {
        /// Goal id prefix.
        goal: String,
        #[command(flatten)]
        pick: Pick,
    },
    /// Bring back a removed goal.
    Restore {
        /// The goal's whole id, as `goal remove` printed it.
        goal: String,
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
    /// Mark a step done (or, with --undo, not done after all).
    ///
    /// Example: starling step done 3fa2 91c0
    Done {
        /// Goal id prefix.
        goal: String,
        /// Step id prefix.
        step: String,
        /// Mark it not done: it was marked done by mistake, or is to be
        /// done again.
        #[arg(long)]
        undo: bool,
        #[command(flatten)]
        pick: Pick,
    },
    /// Remove a step from its goal (`step restore` brings it back).
    Remove {
        /// Goal id prefix.
        goal: String,
        /// Step id prefix.
        step: String,
        #[command(flatten)]
        pick: Pick,
    },
    /// Bring back a removed step.
    Restore {
        /// The goal's whole id.
        goal: String,
        /// The step's whole id, as `step remove` printed it.
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
    /// Read the journal's notes, newest first.
    ///
    /// Example: starling note list --last 5
    List {
        /// Only the newest N.
        #[arg(long, value_name = "N")]
        last: Option<usize>,
        #[command(flatten)]
        pick: Pick,
    },
}

pub fn goal(ctx: &Ctx, cmd: GoalCmd, out: &mut impl Write) -> Result<()> {
    let (id, said) = match cmd {
        GoalCmd::Add {
            area,
            title,
            target,
            reading,
            pick,
        } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let id = ctx
                .app
                .add_goal(&row, area.trim(), &title, target, reading.as_deref())?;
            let said = format!("Added goal {id} on {area}: {title}");
            (id, said)
        }
        GoalCmd::Edit {
            goal,
            title,
            target,
            no_target,
            pick,
        } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let target = if no_target {
                Some(None)
            } else {
                target.map(Some)
            };
            let id = ctx.app.edit_goal(&row, &goal, title.as_deref(), target)?;
            (id, "Changed the goal.".to_owned())
        }
        GoalCmd::Remove { goal, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let id = ctx.app.remove_goal(&row, &goal)?;
            let said = format!(
                "Removed goal {id} and its steps. `starling goal restore {id}` brings it back."
            );
            (id, said)
        }
        GoalCmd::Restore { goal, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let id = ctx.app.restore_goal(&row, &goal)?;
            (id, "The goal is back in the plan.".to_owned())
        }
    };
    if ctx.json {
        return print_json(out, &serde_json::json!({ "goal": id.to_string() }));
    }
    writeln!(out, "{said}")?;
    Ok(())
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
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let (_, id, owner) = ctx
                .app
                .add_step(&row, &goal, &text, &owner, due.as_deref())?;
            if ctx.json {
                return print_json(out, &serde_json::json!({ "step": id.to_string() }));
            }
            writeln!(out, "Added step {id} for {owner}: {text}")?;
        }
        StepCmd::Done {
            goal,
            step,
            undo,
            pick,
        } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let step = ctx.app.step_done(&row, &goal, &step, !undo)?;
            if ctx.json {
                return print_json(
                    out,
                    &serde_json::json!({ "step": step.to_string(), "done": !undo }),
                );
            }
            if undo {
                writeln!(out, "Step {step} is not done.")?;
            } else {
                writeln!(out, "Step {step} done.")?;
            }
        }
        StepCmd::Remove { goal, step, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let (goal, step) = ctx.app.remove_step(&row, &goal, &step)?;
            if ctx.json {
                return print_json(out, &serde_json::json!({ "step": step.to_string() }));
            }
            writeln!(
                out,
                "Removed step {step}. `starling step restore {goal} {step}` brings it back."
            )?;
        }
        StepCmd::Restore { goal, step, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let step = ctx.app.restore_step(&row, &goal, &step)?;
            if ctx.json {
                return print_json(out, &serde_json::json!({ "step": step.to_string() }));
            }
            writeln!(out, "Step {step} is back in the plan.")?;
        }
    }
    Ok(())
}

pub fn note(ctx: &Ctx, cmd: NoteCmd, out: &mut impl Write) -> Result<()> {
    match cmd {
        NoteCmd::Add {
            text,
            area,
            date,
            pick,
        } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let (id, date) = ctx
                .app
                .add_note(&row, &text, area.as_deref(), date.as_deref())?;
            if ctx.json {
                return print_json(out, &serde_json::json!({ "note": id.to_string() }));
            }
            writeln!(out, "Wrote note {id} dated {date}.")?;
        }
        NoteCmd::List { last, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let notes = ctx.app.notes(&row, last)?;
            if ctx.json {
                return print_json(out, &notes);
            }
            if notes.is_empty() {
                writeln!(out, "No notes yet. `starling note add TEXT` writes one.")?;
            }
            let view = ctx.app.read(&row)?.view;
            for n in &notes {
                crate::render::note(out, &view, n)?;
            }
        }
    }
    Ok(())
}
