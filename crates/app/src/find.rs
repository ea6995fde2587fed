//! Finding what a person names: a journal (its id, its journal id as
//! exports print it, or the client's name), a reading (an id prefix or a
//! date), a goal or step (id prefixes), an area (its id, with a suggestion
//! when it is misspelt).

use recovery_journal::{GoalId, Instrument, Journal, JournalView, ReadingId, ReadingView, StepId};
use starling_client::DocRow;

use crate::App;
use crate::error::{AppError, Result, invalid, not_found};

/// The short form of a journal or device id people see: its first 12
/// characters (never a slice that could split a character of a damaged row).
pub fn short(id: impl std::fmt::Display) -> String {
    id.to_string().chars().take(12).collect()
}

/// What a device without journals is told.
pub(crate) const NO_JOURNALS: &str = "no journals on this device yet: `starling new` starts one, \
     and `starling join LINK` joins one from an invite link";

impl App {
    /// The journal named by `journal` (an id prefix, the journal id an
    /// export prints, or the client's name), or the only one on this device.
    pub fn pick(&self, journal: Option<&str>) -> Result<DocRow> {
        let docs = self.client.docs()?;
        let Some(wanted) = journal.map(str::trim) else {
            return match docs.len() {
                0 => {
                    // Before `init`, say that first.
                    self.client.identity()?;
                    Err(not_found(NO_JOURNALS))
                }
                1 => Ok(docs.into_iter().next().unwrap_or_else(|| unreachable!())),
                _ => {
                    let names: Vec<String> = docs
                        .iter()
                        .map(|d| format!("{} ({})", short(&d.doc), title(d)))
                        .collect();
                    Err(invalid(format!(
                        "this device has several journals; say which with -j (an id or the client's name): {}",
                        names.join(", ")
                    )))
                }
            };
        };
        if wanted.is_empty() {
            return Err(invalid("name a journal by its id or its client's name"));
        }
        let lower = wanted.to_ascii_lowercase();
        let by =
            |f: &dyn Fn(&DocRow) -> bool| docs.iter().filter(|d| f(d)).cloned().collect::<Vec<_>>();
        let mut hits = by(&|d| d.doc.starts_with(&lower));
        if hits.is_empty() {
            hits = by(&|d| d.title.eq_ignore_ascii_case(wanted));
        }
        if hits.is_empty() {
            // The journal id that `show --json` and exports print.
            hits = by(&|d| {
                self.load(d)
                    .map(|j| j.journal_id().starts_with(&lower))
                    .unwrap_or(false)
            });
        }
        match hits.len() {
            0 => Err(not_found(format!("no journal `{wanted}` on this device"))),
            1 => Ok(hits.remove(0)),
            _ => Err(invalid(format!(
                "`{wanted}` matches more than one journal; give more of its id"
            ))),
        }
    }

    /// The reading named by `wanted` (an id prefix or a date), or the latest.
    pub fn reading(&self, view: &JournalView, wanted: Option<&str>) -> Result<ReadingId> {
        match wanted {
            None => view
                .latest_reading()
                .map(|r| r.id.clone())
                .ok_or_else(|| not_found("this journal has no readings yet: start one first")),
            Some(w) => {
                let hits: Vec<&ReadingView> = view
                    .readings
                    .iter()
                    .filter(|r| {
                        r.id.as_str().starts_with(w)
                            || r.sort_date().is_some_and(|d| d.to_string() == w)
                    })
                    .collect();
                match hits.as_slice() {
                    [one] => Ok(one.id.clone()),
                    [] => Err(not_found(format!("no reading `{w}` in this journal"))),
                    several => {
                        // Say which, so the person can pick one by its id.
                        let short =
                            |r: &ReadingView| -> String { r.id.as_str().chars().take(8).collect() };
                        let named: Vec<String> = several
                            .iter()
                            .map(|r| {
                                let date = r
                                    .sort_date()
                                    .map_or_else(|| "undated".to_owned(), |d| d.to_string());
                                let mode =
                                    r.mode.value.map(|m| format!(", {m}")).unwrap_or_default();
                                format!("{} ({date}{mode})", short(r))
                            })
                            .collect();
                        let first = short(several[0]);
                        Err(invalid(format!(
                            "`{w}` matches {} readings: {}; name one by the start of its id \
                             (such as {first})",
                            several.len(),
                            named.join(", ")
                        )))
                    }
                }
            }
        }
    }

    /// The goal whose id starts with `prefix`.
    pub fn goal(&self, view: &JournalView, prefix: &str) -> Result<GoalId> {
        let hits: Vec<&GoalId> = view
            .goals
            .iter()
            .map(|g| &g.id)
            .filter(|g| g.as_str().starts_with(prefix))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(not_found(format!("no goal starts with `{prefix}`"))),
            _ => Err(invalid(format!(
                "`{prefix}` matches several goals; give more of the id"
            ))),
        }
    }

    /// The step of `goal` whose id starts with `prefix`.
    pub fn step(&self, journal: &Journal, goal: &GoalId, prefix: &str) -> Result<StepId> {
        let view = journal.view();
        let g = view
            .goals
            .iter()
            .find(|g| &g.id == goal)
            .ok_or_else(|| not_found(format!("no goal `{goal}`")))?;
        let hits: Vec<&StepId> = g
            .steps
            .iter()
            .map(|s| &s.id)
            .filter(|s| s.as_str().starts_with(prefix))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(not_found(format!(
                "no step of that goal starts with `{prefix}`"
            ))),
            _ => Err(invalid(format!(
                "`{prefix}` matches several steps; give more of the id"
            ))),
        }
    }
}

/// The title people see: the client's name, or a placeholder while joining.
pub(crate) fn title(row: &DocRow) -> &str {
    if row.title.is_empty() {
        "joining"
    } else {
        &row.title
    }
}

/// Checks `area` against the reading's instrument; a misspelt id gets the
/// closest valid one and the list.
pub(crate) fn check_area(journal: &Journal, reading: &ReadingId, area: &str) -> Result<()> {
    let view = journal.view();
    let Some(r) = view.reading(reading) else {
        return Ok(());
    };
    let ids: Vec<&str> = r.areas.iter().map(|a| a.area.as_str()).collect();
    area_among(&ids, area)
}

/// Checks `area` against the areas of every reading of the journal (none
/// yet: anything goes); a misspelt id gets the closest valid one.
pub fn check_area_in(journal: &Journal, area: &str) -> Result<()> {
    let view = journal.view();
    let mut ids: Vec<&str> = Vec::new();
    for a in view.readings.iter().flat_map(|r| &r.areas) {
        if !ids.contains(&a.area.as_str()) {
            ids.push(&a.area);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    area_among(&ids, area)
}

fn area_among(ids: &[&str], area: &str) -> Result<()> {
    if ids.contains(&area) {
        return Ok(());
    }
    let closest = ids
        .iter()
        .map(|id| (distance(area, id), *id))
        .min()
        .filter(|(d, id)| *d <= (id.len() / 3).max(2));
    let hint = match closest {
        Some((_, id)) => format!("did you mean `{id}`? "),
        None => String::new(),
    };
    Err(AppError::Invalid(format!(
        "unknown area `{area}`: {hint}the areas are {}",
        ids.join(", ")
    )))
}

/// The area ids of the bundled instruments, for help texts.
pub fn area_help() -> String {
    Instrument::all_bundled()
        .iter()
        .map(|i| {
            let ids: Vec<&str> = i.areas.iter().map(|a| a.id.as_str()).collect();
            format!("{}: {}", i.name, ids.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Edit distance (Levenshtein), for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("wrok", "work"), 2);
        assert_eq!(distance("work", "work"), 0);
        assert_eq!(distance("selfcare", "self_care"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn short_ids_never_split_a_character() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("ééé"), "ééé");
    }
}
