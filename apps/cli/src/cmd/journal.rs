//! `new` and `list`.

use std::io::Write;

use anyhow::Result;
use recovery_journal::{Instrument, Journal};

use crate::cmd::print_json;
use crate::ctx::{Ctx, relay_addr};

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
pub struct New {
    /// The name of the person whose journal it is (you, by default).
    #[arg(long, value_name = "NAME")]
    pub client_name: Option<String>,
    /// The relay this journal syncs through: `host[:port]` (TLS, except on
    /// this machine), `wss://host[:port]`, or `ws://host[:port]` for a relay
    /// without TLS.
    #[arg(long, env = "STARLING_RELAY", default_value = "127.0.0.1:7878")]
    pub relay: String,
    /// Instrument for readings: `recovery-star` or `starling-compass`.
    #[arg(long, default_value = "recovery-star")]
    pub instrument: String,
}

pub fn new(ctx: &Ctx, args: New, out: &mut impl Write) -> Result<()> {
    let relay = relay_addr(&args.relay)?;
    Instrument::bundled(&args.instrument)?;
    let me = ctx.client.identity()?;
    let name = args.client_name.unwrap_or_else(|| me.name.clone());
    let journal = Journal::create(ctx.device()?, &name)?;
    let changes = journal.changes_since(&[]);
    let doc = ctx.client.create(&relay, &name, "client", &changes)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "journal": doc.to_string(), "client": name, "relay": relay.to_string() }),
        );
    }
    writeln!(
        out,
        "Created journal {doc} for {name}, syncing through {relay}."
    )?;
    writeln!(
        out,
        "Next: `starling reading new`, then `starling score AREA N`."
    )?;
    Ok(())
}

pub fn list(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let mut rows = Vec::new();
    for doc in ctx.client.docs()? {
        let (readings, conflicts) = match ctx.load(&doc) {
            Ok(j) => {
                let v = j.view();
                (Some(v.readings.len()), Some(v.conflicts.len()))
            }
            Err(_) => (None, None),
        };
        rows.push((doc, readings, conflicts));
    }
    if ctx.json {
        let items: Vec<_> = rows
            .iter()
            .map(|(d, r, c)| {
                serde_json::json!({
                    "journal": d.doc, "title": d.title, "relay": d.relay,
                    "last_sync_ms": d.last_sync, "readings": r, "conflicts": c,
                })
            })
            .collect();
        return print_json(out, &items);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "No journals yet. `starling new` creates one; `starling join LINK` joins one."
        )?;
    }
    for (d, readings, conflicts) in rows {
        let synced = match d.last_sync {
            Some(ms) => format!("synced {}", ago(ms)),
            None => "never synced".to_owned(),
        };
        let body = match (readings, conflicts) {
            (Some(r), Some(c)) => format!("{r} readings, {c} open conflicts"),
            _ => "waiting for its first sync".to_owned(),
        };
        let title = if d.title.is_empty() {
            "(joining)"
        } else {
            &d.title
        };
        writeln!(
            out,
            "{}  {:<20} {body}; {synced} via {}",
            crate::ctx::short(&d.doc),
            title,
            d.relay
        )?;
    }
    Ok(())
}

pub(crate) fn ago(ms: i64) -> String {
    let now = starling_client::now_ms() as i64;
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}
