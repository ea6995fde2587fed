//! `new` and `list`.

use std::io::Write;

use anyhow::Result;

use crate::cmd::print_json;
use crate::ctx::{Ctx, short, warn_if_plain};

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
    warn_if_plain(&args.relay);
    let doc = ctx
        .app
        .new_journal(&args.relay, args.client_name.as_deref(), &args.instrument)?;
    let row = ctx.app.pick(Some(&doc.to_string()))?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "journal": doc.to_string(), "client": row.title, "relay": row.relay }),
        );
    }
    writeln!(
        out,
        "Created journal {doc} for {}, syncing through {}.",
        row.title, row.relay
    )?;
    writeln!(
        out,
        "Next: `starling reading new`, then `starling score AREA N`."
    )?;
    Ok(())
}

pub fn list(ctx: &Ctx, out: &mut impl Write) -> Result<()> {
    let mut rows = Vec::new();
    for (doc, summary) in ctx.app.summaries()? {
        let (readings, conflicts) = match summary {
            Ok(s) => (Some(s.readings), Some(s.conflicts)),
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
                    "last_sync_ms": d.last_sync, "problem": d.problem,
                    "readings": r, "conflicts": c,
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
    // One write for the whole list, not one per journal.
    let mut out = std::io::BufWriter::new(out);
    for (d, readings, conflicts) in rows {
        let synced = match (&d.problem, d.last_sync) {
            (Some(problem), _) => format!("NOT SYNCING: {problem}"),
            (None, Some(ms)) => format!("synced {}", ago(ms)),
            (None, None) => "never synced".to_owned(),
        };
        let body = match (readings, conflicts) {
            (Some(r), Some(c)) => format!(
                "{}, {}",
                crate::render::count(r, "reading"),
                crate::render::count(c, "open conflict")
            ),
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
            short(&d.doc),
            title,
            d.relay
        )?;
    }
    out.flush()?;
    Ok(())
}

pub(crate) fn ago(ms: i64) -> String {
    let now = starling_app::client::now_ms() as i64;
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}
