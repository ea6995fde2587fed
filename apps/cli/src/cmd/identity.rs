//! `init` and `whoami`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use crate::cmd::print_json;
use crate::ctx::{Ctx, invalid};

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Init {
    /// Your name, as others in your journals will see it. Asked for when
    /// missing and the terminal is interactive.
    #[arg(long)]
    pub name: Option<String>,
}

pub fn init(ctx: &Ctx, args: Init, out: &mut impl Write) -> Result<()> {
    let name = match args.name {
        Some(n) => n,
        None if std::io::stdin().is_terminal() => {
            eprint!("Your name: ");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_owned()
        }
        None => return Err(invalid("give your name with --name")),
    };
    let id = ctx.app.init(&name)?;
    let (code, _) = ctx.app.new_recovery_code()?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "device": id.device.to_string(),
                "name": id.name,
                "recovery_code": code.as_str(),
            }),
        );
    }
    writeln!(
        out,
        "Created identity for {} (device {}).",
        id.name, id.device
    )?;
    writeln!(
        out,
        "Its key is stored in {} and never leaves this device.",
        ctx.app.client().store().path().display()
    )?;
    writeln!(
        out,
        "\nYour recovery code. Write it down and keep it somewhere safe: if you lose this \
         device, `starling recover` restores you and your journals on a new one. It is shown \
         only this once (`starling recovery-code --new` makes another).\n"
    )?;
    writeln!(out, "{}", code.as_str())?;
    Ok(())
}

pub fn whoami(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let id = ctx.app.identity()?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "device": id.device.to_string(),
                "name": id.name,
                "person": id.person.to_string(),
            }),
        );
    }
    writeln!(out, "{} (device {})", id.name, id.device)?;
    if id.person != id.device {
        writeln!(
            out,
            "One of your devices: your first was {} (`starling devices` lists them).",
            starling_app::short(id.person)
        )?;
    }
    Ok(())
}
