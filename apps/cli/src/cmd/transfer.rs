//! `export` and `import`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use starling_app::ExportFormat;

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, short, warn_if_plain};

/// Arguments of `export`.
#[derive(Debug, clap::Args)]
pub struct Export {
    /// json (documented schema), csv (one row per reading, area and
    /// perspective), automerge (raw document for other automerge tools) or
    /// fhir (a FHIR R4 Bundle for a care record; see docs/fhir.md).
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Everything about you on this device, in a new folder: every journal
    /// in every format with its history, members and invites, this device's
    /// relays, and an index.html that explains each file (your copy under
    /// data-protection law: a subject access export).
    ///
    /// Example: starling export --all my-starling-data
    #[arg(long, value_name = "DIR", conflicts_with_all = ["format", "out", "journal"])]
    pub all: Option<PathBuf>,
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
    if let Some(dir) = args.all {
        let archive = ctx.app.export_all(&dir)?;
        if ctx.json {
            return print_json(out, &archive);
        }
        writeln!(
            out,
            "Wrote {} files about {} journal(s) to {}.\nOpen {} in a browser: it explains each file.",
            archive.files.len(),
            archive.journals,
            dir.display(),
            dir.join("index.html").display()
        )?;
        return Ok(());
    }
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let format: ExportFormat = args.format.parse()?;
    let bytes = ctx.app.export(&row, format)?;
    match args.out {
        Some(path) => {
            starling_app::write_file(&path, &bytes)?;
            if ctx.json {
                return print_json(
                    out,
                    &serde_json::json!({ "out": path, "bytes": bytes.len(), "format": args.format }),
                );
            }
            writeln!(out, "Wrote {} ({} bytes).", path.display(), bytes.len())?;
        }
        None => out.write_all(&bytes)?,
    }
    Ok(())
}

pub fn import(ctx: &Ctx, args: Import, out: &mut impl Write) -> Result<()> {
    warn_if_plain(&args.relay);
    let imported = ctx.app.import(&args.file, &args.relay)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({
                "journal": imported.journal.to_string(),
                "client": imported.title,
                "not_carried": imported.not_carried,
            }),
        );
    }
    writeln!(
        out,
        "Imported {} as {}'s journal {} (you own it).",
        args.file.display(),
        imported.title,
        short(imported.journal)
    )?;
    if !imported.not_carried.is_empty() {
        writeln!(out, "Not carried over:")?;
        for line in &imported.not_carried {
            writeln!(out, "  - {line}")?;
        }
    }
    Ok(())
}
