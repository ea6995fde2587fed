//! `sync`: once, or live with `--watch`.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use recovery_journal::{DeviceId as JournalDevice, MemberRole};
use starling_client::{ClientEvent, RelayAddr, SyncMode, SyncReport};

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, invalid};

/// Arguments of `sync`.
#[derive(Debug, clap::Args)]
pub struct Sync {
    /// Stay connected: print each incoming change and who is present, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Give up a one-off sync after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    #[command(flatten)]
    pub pick: Pick,
}

/// How to run one sync.
#[derive(Debug, Clone, Copy)]
pub struct SyncArgs {
    /// Live or once.
    pub watch: bool,
    /// Seconds before a one-off sync gives up.
    pub timeout: u64,
    /// Print events as they happen.
    pub verbose: bool,
}

impl SyncArgs {
    /// A quiet one-off sync.
    pub fn once() -> Self {
        SyncArgs {
            watch: false,
            timeout: 60,
            verbose: false,
        }
    }
}

pub fn sync(ctx: &Ctx, args: Sync, out: &mut impl Write) -> Result<()> {
    let mut relays: Vec<String> = match &args.pick.journal {
        Some(j) => vec![ctx.client.find_doc(j)?.relay],
        None => ctx.client.docs()?.into_iter().map(|d| d.relay).collect(),
    };
    relays.sort();
    relays.dedup();
    if relays.is_empty() {
        return Err(invalid("nothing to sync: no journals on this device"));
    }
    let run = SyncArgs {
        watch: args.watch,
        timeout: args.timeout,
        verbose: args.watch || !ctx.json,
    };
    let mut total = SyncReport::default();
    for relay in &relays {
        let report = sync_relay(ctx, relay, &run)?;
        total.docs += report.docs;
        total.pushed += report.pushed;
        total.pulled += report.pulled;
        total.quarantined += report.quarantined;
        total.tampering += report.tampering;
    }
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "journals": total.docs, "pushed": total.pushed, "pulled": total.pulled,
                "quarantined": total.quarantined, "tampering": total.tampering,
            }),
        );
    }
    writeln!(
        out,
        "Synced {} journal(s): sent {}, received {}{}{}.",
        total.docs,
        total.pushed,
        total.pulled,
        if total.quarantined > 0 {
            format!(", {} quarantined", total.quarantined)
        } else {
            String::new()
        },
        if total.tampering > 0 {
            format!(", {} TAMPERING events", total.tampering)
        } else {
            String::new()
        },
    )?;
    Ok(())
}

/// Sync one relay; afterwards the owner names members who joined through
/// its invites, and syncs again if that changed anything.
pub fn sync_relay(ctx: &Ctx, relay: &str, args: &SyncArgs) -> Result<SyncReport> {
    let addr = crate::ctx::relay_addr(relay)?;
    let runtime = Ctx::runtime()?;
    let mut report = run_once(ctx, &runtime, &addr, args)?;
    if !args.watch && name_new_members(ctx, relay)? {
        let again = run_once(ctx, &runtime, &addr, args)?;
        report.pushed += again.pushed;
        report.pulled += again.pulled;
    }
    Ok(report)
}

fn run_once(
    ctx: &Ctx,
    runtime: &tokio::runtime::Runtime,
    addr: &RelayAddr,
    args: &SyncArgs,
) -> Result<SyncReport> {
    let mode = if args.watch {
        SyncMode::Watch
    } else {
        SyncMode::Once {
            timeout: Duration::from_secs(args.timeout),
        }
    };
    let names = member_names(ctx);
    let mut lines = Vec::new();
    let verbose = args.verbose && args.watch;
    // Progress on a terminal when there is much to pull.
    let progress =
        !args.watch && args.verbose && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut received = 0usize;
    // Conflicts already shown, per journal, so a live session reports new ones.
    let mut known: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    if args.watch {
        for row in ctx.client.docs().unwrap_or_default() {
            let open = ctx.load(&row).map(|j| j.conflicts()).unwrap_or_default();
            known.insert(row.doc, open.iter().map(|c| c.path.to_string()).collect());
        }
    }
    let report = runtime.block_on(async {
        let stop = async {
            if args.watch {
                let _ = tokio::signal::ctrl_c().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        ctx.client
            .sync(addr, mode, stop, |event| {
                if let ClientEvent::Changed { .. } = event {
                    received += 1;
                    if progress && received.is_multiple_of(20) {
                        eprint!("\rreceived {received} batches of changes…");
                    }
                }
                let line = clean(&describe(&event, &names));
                if verbose {
                    // A closed pipe must not kill a live session.
                    let mut stdout = std::io::stdout();
                    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
                    if let ClientEvent::Changed { doc, .. } = &event {
                        for conflict in new_conflicts(ctx, &doc.to_string(), &mut known) {
                            let _ = writeln!(stdout, "{}", clean(&conflict))
                                .and_then(|()| stdout.flush());
                        }
                    }
                } else if matches!(
                    event,
                    ClientEvent::Tampering { .. }
                        | ClientEvent::Quarantined { .. }
                        | ClientEvent::MembershipChangeDropped { .. }
                ) {
                    lines.push(line);
                }
            })
            .await
    })?;
    if progress && received >= 20 {
        eprintln!();
    }
    for line in lines {
        eprintln!("warning: {line}");
    }
    for (doc, reason) in &report.deferred {
        eprintln!(
            "warning: the relay asked to retry journal {} later ({reason}); run `starling sync` again",
            crate::ctx::short(doc)
        );
    }
    for (doc, reason) in &report.refused {
        eprintln!(
            "warning: the relay refused journal {}: {reason}",
            crate::ctx::short(doc)
        );
    }
    Ok(report)
}

/// Conflicts of `doc` not reported before, described for people.
fn new_conflicts(
    ctx: &Ctx,
    doc: &str,
    known: &mut std::collections::HashMap<String, Vec<String>>,
) -> Vec<String> {
    let Ok(row) = ctx.client.find_doc(doc) else {
        return Vec::new();
    };
    let Ok(view) = ctx.load(&row).map(|j| j.view()) else {
        return Vec::new();
    };
    let seen = known.entry(doc.to_owned()).or_default();
    let mut out = Vec::new();
    for c in &view.conflicts {
        let path = c.path.to_string();
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        {
            let said: Vec<String> = c
                .candidates
                .iter()
                .map(|cand| {
                    let who = cand
                        .author
                        .and_then(|a| view.member_name(a).map(str::to_owned))
                        .unwrap_or_else(|| "unknown device".into());
                    format!("{who} said {}", cand.value)
                })
                .collect();
            out.push(format!("CONFLICT at {path}: {}", said.join("; ")));
        }
    }
    out
}

/// Peers choose names and messages: strip control characters before they
/// reach the terminal.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

fn member_names(ctx: &Ctx) -> Vec<(JournalDevice, String)> {
    let mut names = Vec::new();
    for row in ctx.client.docs().unwrap_or_default() {
        if let Ok(j) = ctx.load(&row) {
            names.extend(j.members().into_iter().map(|m| (m.device, m.name)));
        }
    }
    names
}

fn describe(event: &ClientEvent, names: &[(JournalDevice, String)]) -> String {
    let name = |d: &starling_client::DeviceId| {
        names
            .iter()
            .find(|(n, _)| n.as_bytes() == d.as_bytes())
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| crate::ctx::short(d))
    };
    match event {
        ClientEvent::Connected { relay } => format!("connected to {relay}"),
        ClientEvent::Disconnected { reason } => format!("disconnected ({reason}); retrying"),
        ClientEvent::Changed {
            author, messages, ..
        } => {
            format!("{}: {}", name(author), messages.join("; "))
        }
        ClientEvent::MembersChanged { doc } => {
            format!("membership of {} changed", crate::ctx::short(doc))
        }
        ClientEvent::Removed { doc } => format!("you were removed from {}", crate::ctx::short(doc)),
        ClientEvent::MembershipChangeDropped { doc, reason } => format!(
            "a membership change made offline in {} was dropped ({reason}); another member's change reached the relay first",
            crate::ctx::short(doc)
        ),
        ClientEvent::Presence { from, data, .. } => {
            let known = names.iter().any(|(n, _)| n.as_bytes() == from.as_bytes());
            if known {
                format!("{} is here", name(from))
            } else {
                // Not a named member yet: show what they call themselves, and who they are.
                format!("{} ({}) is here", String::from_utf8_lossy(data), name(from))
            }
        }
        ClientEvent::Tampering { what, .. } => format!("TAMPERING: {what}"),
        ClientEvent::Quarantined { reason, .. } => format!("quarantined a change: {reason}"),
        ClientEvent::CaughtUp { doc } => format!("{} is up to date", crate::ctx::short(doc)),
        ClientEvent::RelayError { message, .. } => format!("relay error: {message}"),
        ClientEvent::Paused => "paused while another starling command uses the sync state".into(),
        ClientEvent::Resumed => "resumed".into(),
        other => format!("{other:?}"),
    }
}

/// For journals this device owns, record members who joined through its
/// invites under the name given at `share` time. Returns whether it wrote.
fn name_new_members(ctx: &Ctx, relay: &str) -> Result<bool> {
    let me = ctx.device()?;
    let mut wrote = false;
    for row in ctx.client.docs()?.into_iter().filter(|d| d.relay == relay) {
        let Ok(journal) = ctx.load(&row) else {
            continue;
        };
        if journal.owner() != Some(me) {
            continue;
        }
        for m in ctx.client.members(&row.doc)? {
            let device = JournalDevice::from_bytes(*m.device.as_bytes());
            let (Some(name), None) = (&m.invited_as, journal.member(device)) else {
                continue;
            };
            let role = match m.perspective.as_str() {
                "worker" => MemberRole::Worker,
                _ => MemberRole::Supporter,
            };
            ctx.edit(&row, |j| j.set_member(device, name, role))?;
            wrote = true;
        }
    }
    Ok(wrote)
}
