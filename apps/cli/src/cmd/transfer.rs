//! `export` and `import`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use recovery_journal::Journal;

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, invalid};

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Export {
    /// json (documented schema), csv (one row per reading, area and
    /// perspective) or automerge (raw document for other automerge tools).
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct Import {
    /// A JSON export.
    pub file: PathBuf,
    /// The relay the imported journal will sync through.
    #[arg(long, env = "STARLING_RELAY", default_value = "127.0.0.1:7878")]
    pub relay: String,
}

pub fn export(ctx: &Ctx, args: Export, out: &mut impl Write) -> Result<()> {
    let row = ctx.pick(args.pick.journal.as_deref())?;
    let journal = ctx.load(&row)?;
    let bytes = match args.format.as_str() {
        "json" => journal.export_json().into_bytes(),
        "csv" => journal.export_csv().into_bytes(),
        "automerge" => journal.export_automerge(),
        other => {
            return Err(invalid(format!(
                "format `{other}`: use json, csv or automerge"
            )));
        }
    };
    match args.out {
        Some(path) => {
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            if !ctx.json {
                writeln!(out, "Wrote {} ({} bytes).", path.display(), bytes.len())?;
            }
        }
        None => out.write_all(&bytes)?,
    }
    Ok(())
}

pub fn import(ctx: &Ctx, args: Import, out: &mut impl Write) -> Result<()> {
    let relay = crate::ctx::relay_addr(&args.relay)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let journal = Journal::import_json(&text, ctx.device()?)?;
    let title = journal
        .view()
        .members
        .iter()
        .find(|m| Some(m.device) == journal.owner())
        .map(|m| m.name.clone())
        .unwrap_or_default();
    let doc = ctx
        .client
        .create(&relay, &title, "client", &journal.changes_since(&[]))?;
    if ctx.json {
        return print_json(out, &serde_json::json!({ "journal": doc.to_string() }));
    }
    writeln!(out, "Imported {} as journal {doc}.", args.file.display())?;
    Ok(())
}
