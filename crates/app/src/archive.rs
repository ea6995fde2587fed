//! Subject access: one folder with everything about the person on this
//! device (`starling export --all DIR`), and an `index.html` that explains
//! each file in plain English and opens offline.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::App;
use crate::error::{AppError, Result, invalid};

/// The archive's format name and version (in `device.json`).
pub const ARCHIVE_FORMAT: &str = "starling-subject-access/1";

/// What [`App::export_all`] wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Archive {
    /// The folder.
    pub dir: PathBuf,
    /// Journals in it.
    pub journals: usize,
    /// Every file written, relative to `dir`.
    pub files: Vec<String>,
}

/// One journal's files: (file name, what it is).
const JOURNAL_FILES: &[(&str, &str)] = &[
    (
        "journal.json",
        "Everything in the journal: every reading (drafts and readings not signed off included), \
         every score from each perspective, area notes, sign-offs, goals and steps of the action \
         plan, journal notes and members. The format is described in Starling's docs/journal-json.md.",
    ),
    (
        "view.json",
        "The journal as Starling shows it: each reading with its sign-off (who signed it, and \
         what changed after), open conflicts with who said what, and the action plan.",
    ),
    (
        "journal.csv",
        "The scores as a table (one row per reading, area and perspective), for a spreadsheet.",
    ),
    (
        "journal.fhir.json",
        "The same readings and plan as a FHIR R4 Bundle, the format care record systems read.",
    ),
    (
        "history.json",
        "Every change made to the journal: who made it (which device), when, and what it was.",
    ),
    (
        "members.json",
        "Who is in the journal, as this device knows them: their name, role and perspective, \
         and when anyone was removed.",
    ),
    (
        "invites.json",
        "Invitations this device handed out for the journal: to whom and as what (the secret \
         part of each link is not kept, so it is not here).",
    ),
    (
        "relay-access-log.json",
        "What the relay holds about the journal, as it stated it when this folder was made: how \
         many encrypted changes it stores and their size, when the journal reached it, and every \
         device it took changes from or sent them to, by the hour, named as the journal knows \
         them (a device the journal never let in is flagged).",
    ),
    (
        "relay-access-log.signed",
        "The same statement as the relay signed it with its key (CBOR; the relay's key is in \
         device.json), so anyone can check the relay said it.",
    ),
    (
        "journal.automerge",
        "The journal's raw data, in the open automerge format that other automerge programs \
         can read.",
    ),
];

/// How long making the folder waits for each relay's statement.
const RELAY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8], files: &mut Vec<String>) -> Result<()> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| file_error(parent, source))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write as _;
    options
        .open(&path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|source| file_error(&path, source))?;
    files.push(name.to_owned());
    Ok(())
}

pub(crate) fn file_error(path: &Path, reason: std::io::Error) -> AppError {
    AppError::File {
        path: path.display().to_string(),
        reason,
    }
}

fn pretty(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

impl App {
    /// Writes everything about the person on this device into `dir` (a
    /// folder that does not exist yet, or is empty): each journal as JSON,
    /// CSV, FHIR and automerge, with its history, members and the invites
    /// handed out; this device's identity (not its secret key), the relays
    /// it pinned and the authorities it trusts; and `index.html`.
    pub fn export_all(&self, dir: &Path) -> Result<Archive> {
        // `my-data/` and `my-data` are one folder.
        let dir: &Path = &dir.components().collect::<PathBuf>();
        if dir.exists() {
            let empty = std::fs::read_dir(dir)
                .map_err(|source| file_error(dir, source))?
                .next()
                .is_none();
            if !empty {
                return Err(invalid(format!(
                    "{} is not empty: give a new folder for the archive",
                    dir.display()
                )));
            }
        }
        // Built beside it and renamed into place: a failure halfway leaves
        // no partial archive behind.
        let mut staging = dir.as_os_str().to_owned();
        staging.push(format!(".partial-{}", std::process::id()));
        let staging = PathBuf::from(staging);
        let _ = std::fs::remove_dir_all(&staging);
        let built = self.build_archive(&staging).and_then(|built| {
            std::fs::rename(&staging, dir)
                .map_err(|source| file_error(dir, source))
                .map(|()| built)
        });
        match built {
            Ok((journals, files)) => Ok(Archive {
                dir: dir.to_owned(),
                journals,
                files,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }

    /// Writes the archive into `dir` (new): how many journals, which files.
    fn build_archive(&self, dir: &Path) -> Result<(usize, Vec<String>)> {
        std::fs::create_dir_all(dir).map_err(|source| file_error(dir, source))?;
        // It holds health data: the owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|source| file_error(dir, source))?;
        }
        let me = self.client.identity()?;
        let mut files = Vec::new();
        let mut journals = Vec::new();
        let rows = self.client.docs()?;
        let mut held = self.access_logs_for(&rows, RELAY_WITHIN);
        let mut relay_notes: Vec<(String, String)> = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            let folder = format!("journals/{:02}-{}", i + 1, crate::short(&row.doc));
            let mut written = Vec::new();
            let mut note = None;
            match self.load(&row) {
                Ok(journal) => {
                    let jdir = dir.join(&folder);
                    let parts: [(&str, Vec<u8>); 6] = [
                        ("journal.json", crate::transfer::json_export(&journal, &row)),
                        ("view.json", pretty(&journal.view())),
                        ("journal.csv", journal.export_csv().into_bytes()),
                        ("journal.fhir.json", journal.export_fhir().into_bytes()),
                        ("history.json", pretty(&journal.history())),
                        ("journal.automerge", journal.export_automerge()),
                    ];
                    for (name, bytes) in parts {
                        write(&jdir, name, &bytes, &mut written)?;
                    }
                }
                Err(e) => note = Some(e.to_string()),
            }
            let jdir = dir.join(&folder);
            if let Ok((members, _)) = self.members(&row) {
                write(&jdir, "members.json", &pretty(&members), &mut written)?;
            }
            let invites: Vec<_> = self
                .client
                .store()
                .invites(&row.doc)?
                .into_iter()
                .map(|(id, name, perspective)| json!({ "invite": id, "name": name, "as": perspective }))
                .collect();
            write(&jdir, "invites.json", &pretty(&invites), &mut written)?;
            match held.remove(&row.doc) {
                Some(Ok(report)) => {
                    let signed = report.signed.to_bytes();
                    let mut value = serde_json::to_value(&report).unwrap_or_default();
                    value["signed_by_relay_key"] = json!(
                        self.client
                            .pinned_relays()?
                            .into_iter()
                            .find(|(r, _, _)| *r == row.relay)
                            .map(|(_, key, _)| key)
                    );
                    write(
                        &jdir,
                        "relay-access-log.json",
                        &pretty(&value),
                        &mut written,
                    )?;
                    write(&jdir, "relay-access-log.signed", &signed, &mut written)?;
                }
                Some(Err(why)) => relay_notes.push((row.doc.clone(), why)),
                None => {}
            }
            files.extend(written.iter().map(|f| format!("{folder}/{f}")));
            journals.push((row, folder, written, note));
        }
        let device = json!({
            "format": ARCHIVE_FORMAT,
            "created_ms": starling_client::now_ms(),
            "identity": { "name": me.name, "device": me.device.to_string() },
            "relays_pinned": self.client.pinned_relays()?.into_iter().map(|(relay, key, at)| {
                json!({ "relay": relay, "key": key, "pinned_ms": at })
            }).collect::<Vec<_>>(),
            "trusted_authorities": self.client.trusted_cas()?.into_iter().map(|ca| {
                json!({ "fingerprint": ca.fingerprint, "label": ca.label, "added_ms": ca.added })
            }).collect::<Vec<_>>(),
            "journals": journals.iter().map(|(row, folder, _, note)| json!({
                "journal": row.doc, "title": row.title, "relay": row.relay,
                "folder": folder, "last_sync_ms": row.last_sync, "not_readable": note,
            })).collect::<Vec<_>>(),
            "held_by_the_relay_not_included": relay_notes.iter().map(|(doc, why)| {
                json!({ "journal": doc, "why": why })
            }).collect::<Vec<_>>(),
        });
        write(dir, "device.json", &pretty(&device), &mut files)?;
        let index = index_html(&me.name, &journals, &relay_notes);
        write(dir, "index.html", index.as_bytes(), &mut files)?;
        Ok((journals.len(), files))
    }
}

type Listed = (starling_client::DocRow, String, Vec<String>, Option<String>);

fn index_html(name: &str, journals: &[Listed], relay_notes: &[(String, String)]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Your Starling data</title>\
         <style>body{{font-family:sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         dt{{font-weight:bold;margin-top:.75rem}}</style></head><body><main>\
         <h1>Your Starling data</h1>\
         <p>This folder holds everything about you that was on this device ({}) when it was made: \
         your recovery journals, who shares them, and how this device syncs. Nothing here needs \
         the internet to open.</p>\
         <p>It holds health information. Keep it somewhere safe, and delete it when you no longer \
         need it.</p>",
        esc(name)
    );
    h.push_str("<h2>Your journals</h2>");
    if journals.is_empty() {
        h.push_str("<p>There are no journals on this device.</p>");
    }
    for (row, folder, written, note) in journals {
        let title = if row.title.is_empty() {
            "A journal still being joined"
        } else {
            &row.title
        };
        let _ = write!(
            h,
            "<h3>{}</h3><p>Journal {} (folder <code>{}</code>), synced through {}.</p>",
            esc(title),
            esc(&crate::short(&row.doc)),
            esc(folder),
            esc(&row.relay)
        );
        if let Some(n) = note {
            let _ = write!(
                h,
                "<p>Its content could not be read on this device: {}</p>",
                esc(n)
            );
        }
        if let Some((_, why)) = relay_notes.iter().find(|(d, _)| *d == row.doc) {
            let _ = write!(
                h,
                "<p>What the relay holds about it is not here: {}. Make this folder again \
                 when the relay can be reached.</p>",
                esc(why)
            );
        }
        h.push_str("<dl>");
        for (file, what) in JOURNAL_FILES {
            if written.iter().any(|w| w == file) {
                let _ = write!(
                    h,
                    "<dt><a href=\"{0}/{1}\">{1}</a></dt><dd>{2}</dd>",
                    esc(folder),
                    esc(file),
                    esc(what)
                );
            }
        }
        h.push_str("</dl>");
    }
    h.push_str(
        "<h2>This device</h2><dl><dt><a href=\"device.json\">device.json</a></dt><dd>Your name and \
         this device's public key (its secret key is not here), the relays this device syncs \
         with and the key each one showed the first time, the certificate authorities it trusts, \
         and a list of the journals above.</dd></dl>\
         <h2>Not in this folder</h2><p>The relay cannot read your journals: it stores them \
         encrypted, so it holds nothing of their content beyond what each journal's \
         <code>relay-access-log</code> files say. Copies anyone made of a journal (an export, a \
         backup) are theirs to delete.</p>\
         </main></body></html>\n",
    );
    h
}
