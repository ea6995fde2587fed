//! `delete` and `leave`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Result, bail};
use starling_app::Erased;

use crate::cmd::{Pick, print_json};
use crate::ctx::Ctx;

/// Arguments of `delete`.
#[derive(Debug, clap::Args)]
pub struct Delete {
    #[command(flatten)]
    pub pick: Pick,
    /// Save a copy of everything on this device (as `export --all`) in
    /// this new folder first.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// Do not ask for confirmation (for scripts).
    #[arg(long)]
    pub yes: bool,
}

/// Arguments of `leave`.
#[derive(Debug, clap::Args)]
pub struct Leave {
    #[command(flatten)]
    pub pick: Pick,
    /// Do not ask for confirmation (for scripts).
    #[arg(long)]
    pub yes: bool,
}

pub fn delete(ctx: &Ctx, args: Delete, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let label = starling_app::journal_label(&row);
    // Someone who may not delete it hears so before being asked to confirm.
    ctx.app.check_can_delete(&row)?;
    let mut export = args.export;
    if !args.yes {
        let Some(mut input) = terminal() else {
            return Err(crate::ctx::invalid(format!(
                "deleting {label} cannot be undone: run it in a terminal to confirm, or pass --yes"
            )));
        };
        writeln!(
            out,
            "This deletes {label} for everyone: at the relay, on this device, and on every \
             member's device when it next syncs. It cannot be undone."
        )?;
        if export.is_none() {
            write!(
                out,
                "Keep a copy first? Type a new folder to save everything in, or press Enter to skip: "
            )?;
            out.flush()?;
            let folder = input.line()?;
            if !folder.trim().is_empty() {
                export = Some(PathBuf::from(folder.trim()));
            }
        }
        write!(out, "Type delete to delete it: ")?;
        out.flush()?;
        if input.line()?.trim() != "delete" {
            bail!("not deleted: nothing changed");
        }
    }
    if let Some(dir) = &export {
        let archive = ctx.app.export_all(dir)?;
        if !ctx.json {
            writeln!(out, "Saved a copy in {}.", archive.dir.display())?;
        }
    }
    let erased = ctx.app.delete(&row)?;
    report(ctx, &erased, "Deleted", out)
}

pub fn leave(ctx: &Ctx, args: Leave, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let label = starling_app::journal_label(&row);
    if !args.yes {
        let Some(mut input) = terminal() else {
            return Err(crate::ctx::invalid(format!(
                "leaving {label} erases it from this device: run it in a terminal to confirm, or pass --yes"
            )));
        };
        write!(
            out,
            "Leave {label}? It is erased from this device and the others see you gone. Type leave to leave: "
        )?;
        out.flush()?;
        if input.line()?.trim() != "leave" {
            bail!("still a member: nothing changed");
        }
    }
    let erased = ctx.app.leave(&row)?;
    report(ctx, &erased, "Left", out)
}

fn report(ctx: &Ctx, erased: &Erased, done: &str, out: &mut impl Write) -> Result<()> {
    if ctx.json {
        return print_json(out, erased);
    }
    if erased.never_joined {
        writeln!(
            out,
            "Gave up joining {}: the join never completed, and its invite is forgotten here.",
            erased.label
        )?;
    } else if erased.never_synced {
        writeln!(
            out,
            "{done} {}: it had never reached its relay, so nobody else had it; it is erased \
             from this device.",
            erased.label
        )?;
    } else if erased.done {
        writeln!(
            out,
            "{done} {}: the relay confirmed, and it is erased from this device.",
            erased.label
        )?;
    } else {
        writeln!(
            out,
            "{done} {} on this device; the relay could not be reached, so it is carried out \
             there (and the copy here erased) on the next `starling sync`.",
            erased.label
        )?;
    }
    Ok(())
}

/// Standard input, when a person is at it.
fn terminal() -> Option<Lines> {
    std::io::stdin()
        .is_terminal()
        .then(|| Lines(std::io::stdin().lock()))
}

struct Lines(std::io::StdinLock<'static>);

impl Lines {
    fn line(&mut self) -> Result<String> {
        let mut s = String::new();
        self.0.read_line(&mut s)?;
        Ok(s)
    }
}
