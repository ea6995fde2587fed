//! `sync`: once, or live with `--watch`.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use starling_app::{AppError, SyncEvent, SyncEventKind, SyncOptions, SyncOutcome};

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, UsageError, warn_if_plain};

/// Arguments of `sync`.
#[derive(Debug, clap::Args)]
pub struct Sync {
    /// Stay connected: print each incoming change and who is present, until
    /// Ctrl-C. With --json, one JSON object per line.
    #[arg(long)]
    pub watch: bool,
    /// Give up a one-off sync after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    #[command(flatten)]
    pub pick: Pick,
}

pub fn sync(ctx: &Ctx, args: Sync, out: &mut impl Write) -> Result<()> {
    let only = args.pick.journal.as_deref();
    for row in ctx.app.journals()? {
        warn_if_plain(&row.relay);
    }
    if args.watch {
        return watch(ctx, only, out);
    }
    let progress = !ctx.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut received = 0usize;
    let mut warnings = Vec::new();
    let options = SyncOptions::once(Duration::from_secs(args.timeout));
    let result = ctx.app.sync(only, &options, |e| {
        if e.kind == SyncEventKind::Changed {
            received += 1;
            if progress && received.is_multiple_of(20) {
                eprint!("\rreceived {received} batches of changes…");
            }
        }
        if matches!(
            e.kind,
            SyncEventKind::Tampering
                | SyncEventKind::Quarantined
                | SyncEventKind::MembershipChangeDropped
        ) {
            warnings.push(e.text);
        }
    });
    if progress && received >= 20 {
        eprintln!();
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    match result {
        Ok(outcome) => report(ctx, &outcome, out),
        Err(AppError::SyncIncomplete(outcome)) => {
            report(ctx, &outcome, out)?;
            let code = 5;
            Err(UsageError {
                code,
                message: AppError::SyncIncomplete(outcome).to_string(),
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The outcome, from one source for text and JSON.
fn report(ctx: &Ctx, o: &SyncOutcome, out: &mut impl Write) -> Result<()> {
    if ctx.json {
        return print_json(out, o);
    }
    let mut extra = String::new();
    if o.quarantined > 0 {
        extra.push_str(&format!(", {} set aside", o.quarantined));
    }
    if o.tampering > 0 {
        extra.push_str(&format!(", {} TAMPERING events", o.tampering));
    }
    let behind = o.problems.len().min(o.journals);
    if behind == 0 {
        writeln!(
            out,
            "Synced {} journal(s): sent {}, received {}{extra}.",
            o.journals, o.sent, o.received
        )?;
    } else {
        writeln!(
            out,
            "Synced {} of {} journal(s): sent {}, received {}{extra}; {behind} not in sync.",
            o.journals - behind,
            o.journals,
            o.sent,
            o.received
        )?;
    }
    for e in &o.erased {
        writeln!(out, "Erased: {}.", e.text)?;
    }
    Ok(())
}

fn watch(ctx: &Ctx, only: Option<&str>, out: &mut impl Write) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = ctx.json;
    let print = |e: SyncEvent| {
        // A closed pipe must not kill a live session.
        let mut stdout = std::io::stdout();
        let line = if json {
            serde_json::to_string(&e).unwrap_or_default()
        } else {
            e.text
        };
        let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = runtime.block_on(ctx.app.sync_async(only, &SyncOptions::watch(), stop, print))?;
    if !json {
        report(ctx, &outcome, out)?;
    }
    Ok(())
}
