//! `device link|add|remove`, `devices`, `recovery-code` and `recover`: a
//! person with several devices, and getting back in after losing them.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{Result, bail};
use starling_app::client::Joined;
use starling_app::{AppError, DeviceJoined};
use zeroize::Zeroizing;

use crate::cmd::print_json;
use crate::ctx::{Ctx, invalid, short};

/// `starling device ...`
#[derive(Debug, clap::Subcommand)]
pub enum DeviceCmd {
    /// On a device you have: print a one-time link (and QR code) that adds
    /// a new device to you, with every journal you are in.
    ///
    /// Example: starling device link --expires 15m
    #[command(verbatim_doc_comment)]
    Link(Link),
    /// On the new device: join yourself with the link from `device link`.
    /// Your journals arrive, with your role and perspective in each.
    ///
    /// Example: starling device add 'starling://device/...' --name "Sam"
    #[command(verbatim_doc_comment)]
    Add(Add),
    /// Remove a lost device of yours from every journal: keys rotate, and
    /// it reads nothing written afterwards. Name it by the start of its id,
    /// as `starling devices` lists it.
    ///
    /// Example: starling device remove 3f2a9c1b
    #[command(verbatim_doc_comment)]
    Remove(Remove),
}

/// Arguments of `device link`.
#[derive(Debug, clap::Args)]
pub struct Link {
    /// How long the link works: 5m, 15m, 1h (at most 7d).
    #[arg(long, default_value = "15m")]
    pub expires: String,
    /// Do not draw the QR code.
    #[arg(long)]
    pub no_qr: bool,
}

/// Arguments of `device add`.
#[derive(Debug, clap::Args)]
pub struct Add {
    /// The link from `starling device link`. Treat it like a password.
    pub link: String,
    /// Your name, as on your other device (used only when this device has
    /// no identity yet; default: the name your journals know you by).
    #[arg(long)]
    pub name: Option<String>,
}

/// Arguments of `device remove`.
#[derive(Debug, clap::Args)]
pub struct Remove {
    /// The device: the start of its id (at least 4 characters).
    pub device: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

/// Arguments of `recovery-code`.
#[derive(Debug, clap::Args)]
pub struct RecoveryCode {
    /// Make a new recovery code; the old one stops working. The last line
    /// printed is the code alone (for scripts).
    #[arg(long)]
    pub new: bool,
}

/// Arguments of `recover`.
#[derive(Debug, clap::Args)]
pub struct Recover {
    /// Your relay's address, as your journals used it (e.g.
    /// relay.example.org, or 127.0.0.1:7878).
    #[arg(long)]
    pub relay: String,
    /// Your name, as others in your journals see it (default: the name
    /// your journals know you by).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn device(ctx: &Ctx, cmd: DeviceCmd, out: &mut impl Write) -> Result<()> {
    match cmd {
        DeviceCmd::Link(a) => link(ctx, a, out),
        DeviceCmd::Add(a) => add(ctx, a, out),
        DeviceCmd::Remove(a) => remove(ctx, a, out),
    }
}

fn link(ctx: &Ctx, args: Link, out: &mut impl Write) -> Result<()> {
    let valid = std::time::Duration::from_millis(starling_app::parse_duration(&args.expires)?);
    if valid > std::time::Duration::from_secs(7 * 24 * 3600) {
        return Err(invalid("a device link works for at most 7d"));
    }
    let (links, unsynced) = ctx.app.link_device(valid)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "links": links.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
                "registered": unsynced.is_none(),
            }),
        );
    }
    writeln!(
        out,
        "On your new device, run `starling device add` with this link (valid for {}):",
        args.expires
    )?;
    for link in &links {
        writeln!(out, "\n{}\n", link.as_str())?;
        if !args.no_qr
            && let Ok(code) = qrcode::QrCode::new(link.as_bytes())
        {
            let qr = code
                .render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build();
            writeln!(out, "{qr}")?;
        }
    }
    match unsynced {
        None => writeln!(
            out,
            "It works once. Anyone holding it becomes you: hand it over privately."
        )?,
        Some(e) => writeln!(
            out,
            "It works once, after this device syncs (`starling sync`): the relay could not be \
             reached ({e}). Anyone holding it becomes you: hand it over privately."
        )?,
    }
    Ok(())
}

fn add(ctx: &Ctx, args: Add, out: &mut impl Write) -> Result<()> {
    let joined = ctx.app.add_device(&args.link, args.name.as_deref())?;
    report_joined(ctx, &joined, out)
}

fn report_joined(ctx: &Ctx, joined: &DeviceJoined, out: &mut impl Write) -> Result<()> {
    let id = ctx.app.identity()?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "device": id.device.to_string(),
                "person": id.person.to_string(),
                "journals": joined.journals,
                "problems": joined.outcome.problems,
                "recovery_code": joined.recovery_code.as_ref().map(|c| c.as_str()),
            }),
        );
    }
    writeln!(
        out,
        "This device ({}) is now yours, with {} journal(s).",
        short(id.device),
        joined.journals
    )?;
    for p in &joined.outcome.problems {
        writeln!(out, "  not yet: {}", p.text)?;
    }
    if joined.recovery_code.is_some() {
        // A recovery usually follows a loss: the lost devices still read
        // what is written until they are removed.
        let others: Vec<_> = ctx
            .app
            .devices()
            .map(|d| d.devices)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !d.this_device)
            .collect();
        if !others.is_empty() {
            writeln!(
                out,
                "\nYour other devices still read everything written in your journals until you \
                 remove them. Remove each one you have lost (`starling device remove ID`):"
            )?;
            for d in &others {
                writeln!(
                    out,
                    "  {}  in {} of your journals",
                    short(d.device),
                    d.journals
                )?;
            }
        }
    }
    if let Some(code) = &joined.recovery_code {
        writeln!(
            out,
            "\nYour old recovery code is used up. Your new one (write it down; it is shown \
             only this once):\n"
        )?;
        writeln!(out, "{}", code.as_str())?;
    }
    Ok(())
}

fn remove(ctx: &Ctx, args: Remove, out: &mut impl Write) -> Result<()> {
    // A mistyped id is said before anyone is asked to confirm.
    ctx.app.removable_device(&args.device)?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(crate::ctx::invalid(
                "removing a device cannot be undone: run it in a terminal to confirm, or pass --yes",
            ));
        }
        write!(
            out,
            "Remove device {} from all your journals? It will read nothing written from now on. \
             Type remove to remove: ",
            args.device
        )?;
        out.flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.trim() != "remove" {
            bail!("nothing changed");
        }
    }
    let removed = ctx.app.remove_device(&args.device)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "device": removed.device.to_string(),
                "journals": removed.journals,
                "synced": removed.unsynced.is_none(),
                "recovery_code": removed.recovery_code.as_str(),
            }),
        );
    }
    writeln!(
        out,
        "Removed device {} from {} journal(s); their keys rotated.",
        short(removed.device),
        removed.journals
    )?;
    if let Some(e) = &removed.unsynced {
        writeln!(
            out,
            "The relay could not be reached ({e}): the removal reaches it at the next \
             `starling sync`."
        )?;
    }
    writeln!(
        out,
        "The removed device may have seen your recovery code, so it no longer works. Your \
         new one (write it down; it is shown only this once):"
    )?;
    writeln!(out, "{}", removed.recovery_code.as_str())?;
    Ok(())
}

pub fn devices(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let d = ctx.app.devices()?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "person": d.person.to_string(),
                "devices": d.devices.iter().map(|x| {
                    let (joined, from) = match x.joined {
                        Joined::First => ("first", None),
                        Joined::Linked(by) => ("linked", Some(by.to_string())),
                        Joined::Recovered => ("recovered", None),
                        Joined::Unknown => ("unknown", None),
                    };
                    serde_json::json!({
                        "device": x.device.to_string(),
                        "this_device": x.this_device,
                        "journals": x.journals,
                        "joined": joined,
                        "linked_from": from,
                    })
                }).collect::<Vec<_>>(),
                "journals": d.journals,
                "recovery_code_in": d.recovery_in,
            }),
        );
    }
    writeln!(out, "Your devices:")?;
    for x in &d.devices {
        let this = if x.this_device { "  (this device)" } else { "" };
        let how = match x.joined {
            Joined::First => "; your first device".to_owned(),
            Joined::Linked(by) if d.devices.iter().any(|y| y.this_device && y.device == by) => {
                "; linked from this device".to_owned()
            }
            Joined::Linked(by) => format!("; linked from {}", short(by)),
            Joined::Recovered => "; set up with your recovery code".to_owned(),
            Joined::Unknown => String::new(),
        };
        writeln!(
            out,
            "  {}  in {} of {} journal(s){how}{this}",
            short(x.device),
            x.journals,
            d.journals
        )?;
    }
    if d.journals > 0 {
        writeln!(
            out,
            "Recovery code: registered in {} of {} journal(s).{}",
            d.recovery_in,
            d.journals,
            if d.recovery_in < d.journals {
                " Sync to register it in the rest, or make one with `starling recovery-code --new`."
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

pub fn recovery_code(ctx: &Ctx, args: RecoveryCode, out: &mut impl Write) -> Result<()> {
    if !args.new {
        let d = ctx.app.devices()?;
        if ctx.json {
            return print_json(
                out,
                &serde_json::json!({ "journals": d.journals, "registered_in": d.recovery_in }),
            );
        }
        writeln!(
            out,
            "Your recovery code is registered in {} of {} journal(s). It is never stored, so it \
             cannot be shown again: `starling recovery-code --new` makes a new one and the old \
             one stops working.",
            d.recovery_in, d.journals
        )?;
        return Ok(());
    }
    let (code, unsynced) = ctx.app.new_recovery_code()?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "recovery_code": code.as_str(), "registered": unsynced.is_none() }),
        );
    }
    writeln!(
        out,
        "Your new recovery code. Write it down and keep it somewhere safe: with it, \
         `starling recover` restores you and your journals on a new device. The old code no \
         longer works. It is shown only this once."
    )?;
    if let Some(e) = unsynced {
        writeln!(
            out,
            "(The relay could not be reached ({e}); the code starts working after the next \
             `starling sync`.)"
        )?;
    }
    writeln!(out, "{}", code.as_str())?;
    Ok(())
}

pub fn recover(ctx: &Ctx, args: Recover, out: &mut impl Write) -> Result<()> {
    let code = read_code(out)?;
    let joined = ctx
        .app
        .recover(&args.relay, &code, args.name.as_deref())
        .map_err(|e| match e {
            AppError::Client(starling_app::client::ClientError::Person(p)) => {
                invalid(p.to_string())
            }
            other => other.into(),
        })?;
    report_joined(ctx, &joined, out)
}

/// The recovery code: asked for on a terminal (not echoed), else the first
/// line of standard input.
fn read_code(out: &mut impl Write) -> Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        out.flush()?;
        return Ok(Zeroizing::new(rpassword::prompt_password(
            "Your recovery code: ",
        )?));
    }
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .take(1024)
        .read_to_string(&mut text)?;
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if line.is_empty() {
        bail!("give your recovery code on standard input, or run this in a terminal");
    }
    Ok(Zeroizing::new(line.trim().to_owned()))
}
