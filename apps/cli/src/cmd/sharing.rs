//! `share`, `join`, `members`, `revoke`.

use std::io::Write;

use anyhow::Result;
use starling_app::JoinOutcome;

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, short};

/// Arguments of `share`.
#[derive(Debug, clap::Args)]
pub struct Share {
    /// What they may do: editor (read and write) or viewer (read only).
    #[arg(long, default_value = "editor")]
    pub role: String,
    /// Their perspective in the journal: worker or supporter.
    #[arg(long = "as", default_value = "worker", value_name = "PERSPECTIVE")]
    pub perspective: String,
    /// What to call them in the journal, e.g. "Alex".
    #[arg(long)]
    pub name: String,
    /// How long the link stays valid: 90s, 30m, 12h, 7d.
    #[arg(long, default_value = "7d")]
    pub expires: String,
    /// Do not draw the QR code.
    #[arg(long)]
    pub no_qr: bool,
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `join`.
#[derive(Debug, clap::Args)]
pub struct Join {
    /// The invite link, `starling://invite/...`. Treat it like a password.
    pub link: String,
    /// Store the invite but do not contact the relay yet.
    #[arg(long)]
    pub offline: bool,
}

/// Arguments of `members`.
#[derive(Debug, clap::Args)]
pub struct Members {
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `invites`.
#[derive(Debug, clap::Args)]
pub struct Invites {
    #[command(subcommand)]
    pub cmd: Option<InvitesCmd>,
    #[command(flatten)]
    pub pick: Pick,
}

/// `invites` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum InvitesCmd {
    /// Withdraw an invite nobody has used yet: its link stops working as
    /// soon as the relay has the withdrawal (at once when it is reachable,
    /// otherwise at the next sync).
    ///
    /// Example: starling invites withdraw Bob
    Withdraw {
        /// The name the invite was made for, or the start of its id.
        who: String,
        #[command(flatten)]
        pick: Pick,
    },
}

/// Arguments of `revoke`.
#[derive(Debug, clap::Args)]
pub struct Revoke {
    /// The member: their name or a device id prefix (see `starling members`).
    pub member: String,
    #[command(flatten)]
    pub pick: Pick,
}

pub fn share(ctx: &Ctx, args: Share, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let invite = ctx.app.share(
        &row,
        &args.role,
        &args.perspective,
        &args.name,
        &args.expires,
    )?;
    if ctx.json {
        return print_json(out, &invite);
    }
    writeln!(
        out,
        "Invite for {} as {} ({}), valid for {}:",
        args.name, args.perspective, args.role, args.expires
    )?;
    writeln!(out, "\n{}\n", invite.link)?;
    if !args.no_qr
        && let Ok(code) = qrcode::QrCode::new(invite.link.as_bytes())
    {
        let qr = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        writeln!(out, "{qr}")?;
    }
    if invite.registered {
        writeln!(
            out,
            "It works once, from now. Hand it over privately (it is as good as a key)."
        )?;
    } else {
        writeln!(
            out,
            "It works once. The relay could not be reached, so it works only after this \
             device syncs (`starling sync`). Hand it over privately."
        )?;
    }
    Ok(())
}

pub fn join(ctx: &Ctx, args: Join, out: &mut impl Write) -> Result<()> {
    let outcome = ctx.app.join(&args.link, args.offline).map_err(|e| {
        let unreachable = matches!(e.kind(), starling_app::ErrorKind::Relay)
            && !matches!(e, starling_app::AppError::SyncIncomplete(_));
        if unreachable {
            anyhow::Error::from(e).context(
                "the invite is stored; `starling sync` completes the join when the relay is reachable",
            )
        } else {
            e.into()
        }
    })?;
    let (verb, row, client) = match outcome {
        JoinOutcome::Joined { row, client } => ("Joined", row, client),
        JoinOutcome::AlreadyMember { row } => {
            let client = Some(row.title.clone()).filter(|t| !t.is_empty());
            ("Already a member of", row, client)
        }
        JoinOutcome::Stored { row } => {
            if ctx.json {
                return print_json(
                    out,
                    &serde_json::json!({ "journal": row.doc, "stored": true }),
                );
            }
            writeln!(
                out,
                "Stored the invite for journal {}; `starling sync` completes the join.",
                short(&row.doc)
            )?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "journal": row.doc, "client": client, "already_member": verb != "Joined" }),
        );
    }
    let whose = client.map(|c| format!("{c}'s ")).unwrap_or_default();
    writeln!(out, "{verb} {whose}journal {}.", short(&row.doc))?;
    Ok(())
}

pub fn members(ctx: &Ctx, args: Members, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let (members, removed_self) = ctx.app.members(&row)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "members": members, "you_were_removed": removed_self }),
        );
    }
    if removed_self {
        writeln!(
            out,
            "You were removed from this journal: you keep what you had, but nothing new reaches this device."
        )?;
    }
    for m in members {
        let name = m.name.unwrap_or_else(|| "(not named yet)".into());
        let name = match (m.you, m.this_device) {
            (true, true) => format!("{name} (you)"),
            (true, false) => format!("{name} (you, another device)"),
            _ => name,
        };
        let status = match (m.removed, m.role, m.left) {
            (Some(d), _, true) => format!("left {d}"),
            (None, None, true) => "left".into(),
            (Some(d), _, false) => format!("removed {d}"),
            (None, Some(role), _) => role,
            (None, None, false) => "removed".into(),
        };
        writeln!(
            out,
            "{:<22} {:<10} {:<14} {}",
            name,
            m.perspective,
            status,
            short(&m.device)
        )?;
    }
    Ok(())
}

pub fn revoke(ctx: &Ctx, args: Revoke, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let (device, name) = ctx.app.revoke(&row, &args.member)?;
    if ctx.json {
        return print_json(out, &serde_json::json!({ "revoked": device.to_string() }));
    }
    let who = name.unwrap_or_else(|| format!("device {}", short(device)));
    writeln!(
        out,
        "Removed {who}. A new key protects everything written from now on; run `starling sync`."
    )?;
    Ok(())
}

pub fn invites(ctx: &Ctx, args: Invites, out: &mut impl Write) -> Result<()> {
    let Some(InvitesCmd::Withdraw { who, pick }) = args.cmd else {
        let row = ctx.app.pick(args.pick.journal.as_deref())?;
        let pending = ctx.app.invites(&row)?;
        if ctx.json {
            return print_json(out, &serde_json::json!({ "invites": pending }));
        }
        if pending.is_empty() {
            writeln!(
                out,
                "No invite to {} waits to be used.",
                starling_app::journal_label(&row)
            )?;
        }
        for i in pending {
            writeln!(
                out,
                "{:<22} {:<10} {:<8} {}  id {}",
                i.name,
                i.perspective,
                i.role,
                expires(i.expires_at),
                short(&i.id)
            )?;
        }
        return Ok(());
    };
    let journal = pick.journal.or(args.pick.journal);
    let row = ctx.app.pick(journal.as_deref())?;
    let (invite, told) = ctx.app.withdraw_invite(&row, &who)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "withdrawn": invite, "relay_told": told }),
        );
    }
    if told {
        writeln!(
            out,
            "Withdrew the invite for {}: its link no longer works.",
            invite.name
        )?;
    } else {
        writeln!(
            out,
            "Withdrew the invite for {} on this device. The relay could not be reached: \
             until the next `starling sync` tells it, the link still works.",
            invite.name
        )?;
    }
    Ok(())
}

/// When an invite stops working, from now.
fn expires(at_ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let minutes = at_ms.saturating_sub(now) / 60_000;
    match minutes {
        0 => "expires within a minute".to_owned(),
        m if m < 120 => format!("expires in {m} minute(s)"),
        m if m < 48 * 60 => format!("expires in {} hours", (m + 30) / 60),
        m => format!("expires in {} days", (m + 12 * 60) / (24 * 60)),
    }
}
