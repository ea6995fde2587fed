//! `share`, `join`, `members`, `revoke`.

use std::io::Write;

use anyhow::Result;
use starling_client::{DeviceId, Role};

use crate::cmd::sync::{SyncArgs, sync_relay};
use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, invalid, not_found};

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
    /// How long the link stays valid: 30m, 12h, 7d.
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

/// Arguments of `revoke`.
#[derive(Debug, clap::Args)]
pub struct Revoke {
    /// The member: their name or a device id prefix (see `starling members`).
    pub member: String,
    #[command(flatten)]
    pub pick: Pick,
}

/// `30m`, `12h`, `7d` in milliseconds.
pub fn parse_duration(text: &str) -> Result<u64> {
    let split = text.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| invalid(format!("`{text}` is not a duration like 30m, 12h or 7d")))?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(invalid(format!(
                "`{text}` is not a duration like 30m, 12h or 7d"
            )));
        }
    };
    if n == 0 || n > 365 * 86_400_000 / ms {
        return Err(invalid("an invite lasts between 1 minute and a year"));
    }
    Ok(n * ms)
}

pub fn share(ctx: &Ctx, args: Share, out: &mut impl Write) -> Result<()> {
    let row = ctx.pick(args.pick.journal.as_deref())?;
    let role = match args.role.as_str() {
        "editor" => Role::Editor,
        "viewer" => Role::Viewer,
        other => return Err(invalid(format!("role `{other}`: use editor or viewer"))),
    };
    if !matches!(args.perspective.as_str(), "worker" | "supporter") {
        return Err(invalid("--as takes worker or supporter"));
    }
    let valid = parse_duration(&args.expires)?;
    let link = ctx
        .client
        .share(&row.doc, role, &args.perspective, &args.name, valid)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "link": link, "expires_in_ms": valid }),
        );
    }
    writeln!(
        out,
        "Invite for {} as {} ({}), valid for {}:",
        args.name, args.perspective, args.role, args.expires
    )?;
    writeln!(out, "\n{link}\n")?;
    if !args.no_qr
        && let Ok(code) = qrcode::QrCode::new(link.as_bytes())
    {
        let qr = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build();
        writeln!(out, "{qr}")?;
    }
    writeln!(
        out,
        "It works once. Hand it over privately; run `starling sync` so the relay learns of it."
    )?;
    Ok(())
}

pub fn join(ctx: &Ctx, args: Join, out: &mut impl Write) -> Result<()> {
    let row = ctx.client.join(&args.link)?;
    if args.offline {
        writeln!(
            out,
            "Stored the invite for journal {}; `starling sync` completes the join.",
            crate::ctx::short(&row.doc)
        )?;
        return Ok(());
    }
    let report = match sync_relay(ctx, &row.relay, &SyncArgs::once()) {
        Ok(report) => report,
        Err(e) => {
            return Err(e.context("the invite is stored; `starling sync` completes the join when the relay is reachable"));
        }
    };
    if let Some((_, reason)) = report
        .refused
        .iter()
        .find(|(d, _)| d.to_string() == row.doc)
    {
        ctx.client.forget_failed_join(&row.doc)?;
        return Err(invalid(format!(
            "the relay refused this invite ({reason}): it was used, revoked or has expired; ask for a new one"
        )));
    }
    let journal = ctx.load(&row)?;
    let owner = journal
        .owner()
        .and_then(|o| journal.member(o))
        .map(|m| m.name);
    if let Some(name) = &owner {
        ctx.client.set_title(&row.doc, name)?;
    }
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "journal": row.doc, "client": owner, "pulled": report.pulled }),
        );
    }
    writeln!(
        out,
        "Joined {}'s journal {}.",
        owner.unwrap_or_default(),
        crate::ctx::short(&row.doc)
    )?;
    Ok(())
}

pub fn members(ctx: &Ctx, args: Members, out: &mut impl Write) -> Result<()> {
    let row = ctx.pick(args.pick.journal.as_deref())?;
    let names = ctx.load(&row).map(|j| j.members()).unwrap_or_default();
    let members = ctx.client.members(&row.doc)?;
    let rows: Vec<_> = members
        .iter()
        .map(|m| {
            let name = names
                .iter()
                .find(|n| n.device.as_bytes() == m.device.as_bytes())
                .map(|n| n.name.clone())
                .or_else(|| m.invited_as.clone());
            (m, name)
        })
        .collect();
    if ctx.json {
        let items: Vec<_> = rows
            .iter()
            .map(|(m, name)| {
                serde_json::json!({ "device": m.device.to_string(), "name": name, "role": format!("{:?}", m.role).to_lowercase(), "perspective": m.perspective })
            })
            .collect();
        return print_json(out, &items);
    }
    for (m, name) in rows {
        let role = format!("{:?}", m.role).to_lowercase();
        writeln!(
            out,
            "{:<16} {:<10} {:<7} {}",
            name.unwrap_or_else(|| "(unnamed)".into()),
            m.perspective,
            role,
            m.device
        )?;
    }
    Ok(())
}

pub fn revoke(ctx: &Ctx, args: Revoke, out: &mut impl Write) -> Result<()> {
    let row = ctx.pick(args.pick.journal.as_deref())?;
    let names = ctx.load(&row).map(|j| j.members()).unwrap_or_default();
    let members = ctx.client.members(&row.doc)?;
    let hits: Vec<DeviceId> = members
        .iter()
        .filter(|m| {
            m.device.to_string().starts_with(&args.member)
                || m.invited_as.as_deref() == Some(args.member.as_str())
                || names
                    .iter()
                    .any(|n| n.device.as_bytes() == m.device.as_bytes() && n.name == args.member)
        })
        .map(|m| m.device)
        .collect();
    let [device] = hits.as_slice() else {
        return Err(not_found(format!(
            "no single member matches `{}`",
            args.member
        )));
    };
    ctx.client.revoke(&row.doc, device)?;
    if ctx.json {
        return print_json(out, &serde_json::json!({ "revoked": device.to_string() }));
    }
    writeln!(
        out,
        "Removed {device}. A new key protects everything written from now on; run `starling sync`."
    )?;
    Ok(())
}
