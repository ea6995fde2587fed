//! The star in the terminal: one line per area, three perspectives side by side.

use std::io::Write;

use recovery_journal::{JournalView, ReadingView, Score};

fn cell(score: &Score) -> String {
    match (score.value, score.conflict.is_empty()) {
        (Some(v), _) => format!("{v:>2}"),
        (None, false) => {
            let values: Vec<&str> = score.conflict.iter().map(|c| c.value.as_str()).collect();
            format!("{}?", values.join("|"))
        }
        (None, true) => " -".to_owned(),
    }
}

fn bar(score: &Score, max: u8) -> String {
    let n = score.value.unwrap_or(0).min(max) as usize;
    format!("{}{}", "#".repeat(n), ".".repeat(max as usize - n))
}

/// Print one reading as a table: area, client, worker, agreed, stage, marks.
pub fn reading(
    out: &mut impl Write,
    view: &JournalView,
    reading: &ReadingView,
) -> std::io::Result<()> {
    let date = reading
        .sort_date()
        .map(|d| d.to_string())
        .unwrap_or_else(|| "undated".into());
    let mode = reading
        .mode
        .value
        .map(|m| m.to_string())
        .unwrap_or_default();
    writeln!(out, "Reading {date} ({mode})")?;
    writeln!(
        out,
        "  {:<26} {:>6} {:>6} {:>6}  {:<10} {:<15} notes",
        "area", "client", "worker", "agreed", "", "stage"
    )?;
    for area in &reading.areas {
        let mut marks = Vec::new();
        if let Some(gap) = area.gap {
            marks.push(format!("gap {gap}"));
        }
        if !area.agreed.conflict.is_empty()
            || !area.client.conflict.is_empty()
            || !area.worker.conflict.is_empty()
        {
            marks.push("CONFLICT".to_owned());
        }
        if [&area.client, &area.worker, &area.agreed]
            .iter()
            .any(|s| !s.flags.is_empty())
        {
            marks.push("check author".to_owned());
        }
        writeln!(
            out,
            "  {:<26} {:>6} {:>6} {:>6}  {:<10} {:<15} {}",
            area.name,
            cell(&area.client),
            cell(&area.worker),
            cell(&area.agreed),
            bar(&area.agreed, 10),
            area.stage.as_deref().unwrap_or("-"),
            marks.join(", ")
        )?;
    }
    for conflict in view.conflicts.iter() {
        let said: Vec<String> = conflict
            .candidates
            .iter()
            .map(|c| {
                let who = c
                    .author
                    .and_then(|a| view.member_name(a).map(str::to_owned))
                    .unwrap_or_else(|| "unknown device".into());
                format!("{who} said {}", c.value)
            })
            .collect();
        writeln!(out, "  conflict at {}: {}", conflict.path, said.join("; "))?;
    }
    Ok(())
}
