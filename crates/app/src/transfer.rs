//! Export (JSON, CSV, raw automerge) and import (a JSON export becomes a
//! journal this device owns).

use std::path::Path;

use recovery_journal::Journal;
use starling_client::{DocId, DocRow};

use crate::App;
use crate::error::{AppError, Result, invalid};

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// The documented JSON schema (docs/journal-json.md).
    Json,
    /// One row per reading, area and perspective.
    Csv,
    /// The raw automerge document, for other automerge tools.
    Automerge,
    /// A FHIR R4 Bundle for care records (docs/fhir.md).
    Fhir,
}

impl std::str::FromStr for ExportFormat {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "json" => Ok(ExportFormat::Json),
            "csv" => Ok(ExportFormat::Csv),
            "automerge" => Ok(ExportFormat::Automerge),
            "fhir" => Ok(ExportFormat::Fhir),
            other => Err(invalid(format!(
                "format `{other}`: use json, csv, automerge or fhir"
            ))),
        }
    }
}

impl App {
    /// The journal's bytes in `format`.
    pub fn export(&self, row: &DocRow, format: ExportFormat) -> Result<Vec<u8>> {
        if format == ExportFormat::Fhir {
            // From the kept read model: no need to load the document.
            let bundle = self.read(row)?.fhir_bundle();
            return Ok(serde_json::to_vec_pretty(&bundle).unwrap_or_default());
        }
        let journal = self.load(row)?;
        Ok(match format {
            ExportFormat::Json => json_export(&journal, row),
            ExportFormat::Csv => journal.export_csv().into_bytes(),
            ExportFormat::Automerge | ExportFormat::Fhir => journal.export_automerge(),
        })
    }

    /// Imports a JSON export as a new journal this device owns (it takes the
    /// client's place, under the client's name), syncing through `relay`.
    pub fn import(&self, file: &Path, relay: &str) -> Result<Imported> {
        let relay = crate::sharing::relay_addr(relay)?;
        let bytes = std::fs::read(file).map_err(|e| crate::archive::file_error(file, e))?;
        // Not text at all (an automerge export, say) is, like any other
        // file, "not a Starling journal in JSON".
        let export = recovery_journal::JournalExport::parse(&String::from_utf8_lossy(&bytes))?;
        let me = self.device()?;
        let not_carried = not_carried(&export, &me.to_string());
        let journal = Journal::from_export(export, me)?;
        let title = journal
            .owner()
            .and_then(|o| journal.member(o))
            .map(|m| m.name)
            .unwrap_or_default();
        let doc = self
            .client
            .create(&relay, &title, "client", &journal.changes_since(&[]))?;
        Ok(Imported {
            journal: doc,
            title,
            not_carried,
        })
    }
}

/// Writes `bytes` to `path` (a chart, an export), saying in words why not.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| crate::archive::file_error(path, e))
}

/// What an import made, and what of the export it could not carry over.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Imported {
    /// The new journal.
    pub journal: DocId,
    /// Its client's name.
    pub title: String,
    /// What was left behind, in words (empty: nothing).
    pub not_carried: Vec<String>,
}

/// What an import of `export` leaves behind, by design (docs/journal-json.md),
/// for the importer to hear rather than find missing.
fn not_carried(export: &recovery_journal::JournalExport, importer: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !export.conflicts.is_empty() {
        out.push(format!(
            "{} open conflict(s): both values of each are left out; settle them \
             (`starling conflicts`) and export again to keep the agreed value",
            export.conflicts.len()
        ));
    }
    let others = export
        .notes
        .iter()
        .filter(|n| n.author.as_deref().is_some_and(|a| a != importer))
        .count();
    if others > 0 {
        out.push(format!(
            "who wrote {others} note(s): notes are now attributed to you (the export keeps \
             their authors)"
        ));
    }
    if !export.readings.is_empty() {
        out.push(
            "sign-offs: a signature belongs to the device that made it; sign readings again"
                .to_owned(),
        );
    }
    out
}

/// The JSON export of `journal`, with the id it syncs under (`row`'s), which
/// the journal itself does not know.
pub(crate) fn json_export(journal: &Journal, row: &DocRow) -> Vec<u8> {
    let mut export = journal.to_export();
    export.document_id = Some(row.doc.clone());
    serde_json::to_vec_pretty(&export).unwrap_or_default()
}
