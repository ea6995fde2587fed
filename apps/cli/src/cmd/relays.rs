//! `relays`: the relay keys this device pinned, and the certificate
//! authorities it trusts for `wss://` relays.

use std::io::Write;

use crate::cmd::journal::ago;
use crate::cmd::print_json;
use crate::ctx::Ctx;
use anyhow::{Context, Result};

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
    /// Trust the certificate authority in a PEM file for `wss://` relays:
    /// for an organisation whose relay's certificate comes from its own CA.
    /// Public relays (Let's Encrypt and other public CAs) need nothing. The
    /// platform's CAs, and those in `SSL_CERT_FILE`, are trusted too.
    ///
    /// Example: starling relays trust-ca /etc/ssl/our-trust-ca.pem
    #[command(name = "trust-ca", verbatim_doc_comment)]
    TrustCa {
        /// A PEM file with one or more `CERTIFICATE` blocks.
        file: std::path::PathBuf,
    },
    /// Correct the relay address of a journal that never reached its relay
    /// (a mistyped address, or plain `host:port` for a relay that serves
    /// TLS): it is sent to the new address at the next sync. A journal a
    /// relay already holds keeps its relay.
    ///
    /// Example: starling relays set-address wss://relay.example.org -j Sam
    #[command(name = "set-address", verbatim_doc_comment)]
    SetAddress {
        /// The right address: `wss://host[:port]`, or `host:port`.
        address: String,
        #[command(flatten)]
        pick: crate::cmd::Pick,
    },
    /// Stop trusting a certificate authority added with `trust-ca`.
    ///
    /// Example: starling relays untrust-ca 3f2a9c01
    #[command(name = "untrust-ca")]
    UntrustCa {
        /// Its fingerprint (at least 8 hex digits), as `starling relays` lists it.
        fingerprint: String,
    },
}

pub fn relays(ctx: &Ctx, args: Relays, out: &mut impl Write) -> Result<()> {
    match args.action.unwrap_or(RelaysAction::List) {
        RelaysAction::List => list(ctx, out),
        RelaysAction::TrustCa { file } => trust(ctx, &file, out),
        RelaysAction::SetAddress { address, pick } => {
            let row = ctx.app.pick(pick.journal.as_deref())?;
            let kept = ctx.app.correct_relay(&row, &address)?;
            if ctx.json {
                return print_json(
                    out,
                    &serde_json::json!({ "journal": row.doc, "relay": kept }),
                );
            }
            writeln!(
                out,
                "{} now syncs through {kept}; `starling sync` sends it there.",
                starling_app::journal_label(&row)
            )?;
            Ok(())
        }
        RelaysAction::UntrustCa { fingerprint } => {
            let n = ctx.app.client().untrust_ca(&fingerprint)?;
            if ctx.json {
                return print_json(out, &serde_json::json!({ "removed": n }));
            }
            if n == 0 {
                return Err(crate::ctx::not_found(format!(
                    "no trusted certificate authority starts with {fingerprint}"
                )));
            }
            writeln!(
                out,
                "No longer trusting {n} certificate authorit{}.",
                if n == 1 { "y" } else { "ies" }
            )?;
            Ok(())
        }
        RelaysAction::Forget { relay } => {
            let addr = starling_app::client::RelayAddr::parse(relay.trim()).map_err(|e| {
                crate::ctx::invalid(format!("`{relay}` is not a relay address: {e}"))
            })?;
            let forgot = ctx.app.client().forget_relay_key(&addr)?;
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

fn trust(ctx: &Ctx, file: &std::path::Path, out: &mut impl Write) -> Result<()> {
    let pem = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let label = file.display().to_string();
    let added = ctx.app.client().trust_ca(&pem, &label)?;
    if ctx.json {
        return print_json(out, &serde_json::json!({ "trusted": added }));
    }
    for f in &added {
        writeln!(
            out,
            "Trusting certificate authority {f} from {label} for wss:// relays."
        )?;
    }
    Ok(())
}

fn list(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let pinned = ctx.app.client().pinned_relays()?;
    let cas = ctx.app.client().trusted_cas()?;
    if ctx.json {
        let rows: Vec<_> = pinned
            .iter()
            .map(|(relay, key, at)| serde_json::json!({ "relay": relay, "key": key, "pinned_ms": at }))
            .collect();
        let cas: Vec<_> = cas
            .iter()
            .map(|c| serde_json::json!({ "fingerprint": c.fingerprint, "from": c.label, "added_ms": c.added }))
            .collect();
        return print_json(
            out,
            &serde_json::json!({ "relays": rows, "trusted_cas": cas }),
        );
    }
    for c in &cas {
        writeln!(
            out,
            "trusted CA {} (from {}, added {})",
            c.fingerprint,
            c.label,
            ago(c.added)
        )?;
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
