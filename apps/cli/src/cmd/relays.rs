//! `relays`: the relay keys this device pinned.

use std::io::Write;

use anyhow::Result;
use starling_client::RelayAddr;

use crate::cmd::journal::ago;
use crate::cmd::print_json;
use crate::ctx::{Ctx, invalid};

/// Arguments of `relays`.
#[derive(Debug, clap::Args)]
pub struct Relays {
    #[command(subcommand)]
    pub action: Option<RelaysAction>,
}

/// What to do with pinned relay keys.
#[derive(Debug, clap::Subcommand)]
pub enum RelaysAction {
    /// List every relay this device has met and the key it pinned (the default).
    List,
    /// Forget the key pinned for a relay, so the next sync pins the key it
    /// presents. Do this only when the relay's operator confirms it has a new key.
    ///
    /// Example: starling relays forget relay.example.org:7878
    Forget {
        /// The relay, as `starling list` shows it (`host:port`).
        relay: String,
    },
}

pub fn relays(ctx: &Ctx, args: Relays, out: &mut impl Write) -> Result<()> {
    match args.action.unwrap_or(RelaysAction::List) {
        RelaysAction::List => list(ctx, out),
        RelaysAction::Forget { relay } => {
            let addr = RelayAddr::parse(&relay)
                .ok_or_else(|| invalid(format!("`{relay}` is not a relay address")))?;
            let forgot = ctx.client.forget_relay_key(&addr)?;
            if ctx.json {
                return print_json(
                    out,
                    &serde_json::json!({ "relay": addr.to_string(), "forgotten": forgot }),
                );
            }
            if forgot {
                writeln!(
                    out,
                    "Forgot the key pinned for {addr}; the next sync pins the key it presents."
                )?;
            } else {
                writeln!(out, "No key was pinned for {addr}.")?;
            }
            Ok(())
        }
    }
}

fn list(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let pinned = ctx.client.pinned_relays()?;
    if ctx.json {
        let rows: Vec<_> = pinned
            .iter()
            .map(|(relay, key, at)| serde_json::json!({ "relay": relay, "key": key, "pinned_ms": at }))
            .collect();
        return print_json(out, &rows);
    }
    if pinned.is_empty() {
        writeln!(
            out,
            "No relay met yet. The first sync with a relay pins the key it presents."
        )?;
    }
    for (relay, key, at) in pinned {
        writeln!(out, "{relay}  key {key}  pinned {}", ago(at))?;
    }
    Ok(())
}
