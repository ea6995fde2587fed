//! `access-log`: who has looked at a journal, as the relay signs it.

use std::io::Write;

use anyhow::Result;
use starling_app::access::when;

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, short};

/// Arguments of `access-log`.
#[derive(Debug, clap::Args)]
pub struct AccessLogArgs {
    #[command(flatten)]
    pub pick: Pick,
}

pub fn access_log(ctx: &Ctx, args: AccessLogArgs, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let report = ctx.app.access_log(&row)?;
    if ctx.json {
        return print_json(out, &report);
    }
    writeln!(
        out,
        "Who the relay {} served {}, as it signed it on {}:",
        report.relay,
        starling_app::journal_label(&row),
        when(report.at)
    )?;
    let s = &report.stored;
    let mut held = format!(
        "It stores {} change(s) of it ({} bytes) and {} membership change(s)",
        s.envelopes, s.bytes, s.ops
    );
    if let Some(c) = s.created_at {
        held.push_str(&format!("; the journal reached it on {}", when(c)));
    }
    writeln!(out, "{held}.")?;
    if report.since > 0 {
        writeln!(
            out,
            "It keeps this log from {} on (older entries are deleted).",
            when(report.since)
        )?;
    }
    if report.lines.is_empty() {
        writeln!(out, "Nobody has sent or fetched anything yet.")?;
    }
    for line in &report.lines {
        writeln!(out, "  {}", line.text)?;
    }
    if !report.unknown_devices.is_empty() {
        let list: Vec<String> = report.unknown_devices.iter().map(short).collect();
        writeln!(
            out,
            "WARNING: the relay served {} device(s) this journal never let in ({}). \
             Tell the relay's operator, and consider who else could have its keys.",
            list.len(),
            list.join(", ")
        )?;
    }
    Ok(())
}
