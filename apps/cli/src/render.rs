//! The star in the terminal: one line per area, three perspectives side by side.

use std::io::Write;

use recovery_journal::{JournalView, NoteView, ReadingView, Score, SignOff};

/// Text from peers: no control characters reach the terminal.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// Text of several lines from peers: each line cleaned, the lines after the
/// first indented by `indent` spaces (blank lines dropped).
fn clean_lines(text: &str, indent: usize) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(clean)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines.join(&format!("\n{:indent$}", ""))
}

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
        "  {:<48} {:>6} {:>6} {:>6}  {:<10} {:<15} marks",
        "area (id)", "client", "worker", "agreed", "", "stage"
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
            "  {:<48} {:>6} {:>6} {:>6}  {:<10} {:<15} {}",
            format!("{} ({})", clean(&area.name), clean(&area.area)),
            cell(&area.client),
            cell(&area.worker),
            cell(&area.agreed),
            bar(&area.agreed, 10),
            area.stage.as_deref().unwrap_or("-"),
            marks.join(", ")
        )?;
        let note_conflict = view.conflicts.iter().any(|c| {
            matches!(&c.path, recovery_journal::FieldPath::AreaNote(r, a)
                if *r == reading.id && *a == area.area)
        });
        if note_conflict {
            writeln!(
                out,
                "  {:<48} note: CONFLICT, written two ways at once (`starling conflicts`)",
                ""
            )?;
        } else if !area.note.is_empty() {
            writeln!(out, "  {:<48} note: {}", "", clean_lines(&area.note, 57))?;
        }
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

/// The star: the latest reading in full, the agreed scores of up to three
/// earlier readings beside it, sign-off state, the plan and open conflicts.
pub fn star(out: &mut impl Write, view: &JournalView) -> std::io::Result<()> {
    let Some(latest) = view.latest_reading() else {
        return writeln!(out, "No readings yet: `starling reading new` starts one.");
    };
    reading(out, view, latest)?;
    let earlier: Vec<&ReadingView> = view.readings.iter().rev().skip(1).take(3).collect();
    if !earlier.is_empty() {
        let dates: Vec<String> = earlier
            .iter()
            .map(|r| r.sort_date().map(|d| d.to_string()).unwrap_or_default())
            .collect();
        writeln!(out, "\n  Agreed scores before: {}", dates.join(", "))?;
        for area in &latest.areas {
            let past: Vec<String> = earlier
                .iter()
                .map(|r| {
                    r.area(&area.area)
                        .map(|a| cell(&a.agreed))
                        .unwrap_or_else(|| " -".into())
                })
                .collect();
            writeln!(out, "  {:<48} {}", clean(&area.name), past.join("  "))?;
        }
    }
    writeln!(out, "\n  Sign-off: {}", signoff(&latest.signoff))?;
    if let Some(plan) = view.plan(&latest.id) {
        for goal in plan.goals.iter().chain(plan.carried_forward.iter()) {
            let target = goal
                .target
                .value
                .map(|t| format!(" (target {t})"))
                .unwrap_or_default();
            writeln!(
                out,
                "  Goal {} on {}: {}{target}",
                short(goal.id.as_str()),
                goal.area,
                goal.title
            )?;
            for step in &goal.steps {
                let done = if step.done.value == Some(true) {
                    "x"
                } else {
                    " "
                };
                let owner = step
                    .owner
                    .value
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "?".into());
                let overdue = step.done.value != Some(true)
                    && step.due.value.is_some_and(|d| d < starling_app::today());
                let due = step
                    .due
                    .value
                    .map(|d| format!(" by {d}{}", if overdue { ", OVERDUE" } else { "" }))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "    [{done}] {} {} ({owner}{due})",
                    short(step.id.as_str()),
                    step.text
                )?;
            }
        }
    }
    let mut notes: Vec<&NoteView> = view.notes.iter().collect();
    notes.sort_by_key(|n| std::cmp::Reverse(n.date.value));
    if !notes.is_empty() {
        writeln!(
            out,
            "\n  Recent notes (`starling note list` shows all {}):",
            notes.len()
        )?;
        for n in notes.iter().take(3) {
            note(out, view, n)?;
        }
    }
    let removed: Vec<String> = view
        .members
        .iter()
        .filter_map(|m| {
            m.removed
                .map(|d| format!("{} (removed {d})", clean(&m.name)))
        })
        .collect();
    if !removed.is_empty() {
        writeln!(out, "\n  No longer members: {}", removed.join(", "))?;
    }
    for w in &view.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}

/// One note: its date, author, area and text.
pub fn note(out: &mut impl Write, view: &JournalView, n: &NoteView) -> std::io::Result<()> {
    let date = n
        .date
        .value
        .map(|d| d.to_string())
        .unwrap_or_else(|| "undated".into());
    let who = n
        .author
        .and_then(|a| view.member_name(a))
        .map(clean)
        .unwrap_or_else(|| "unknown device".into());
    let area = n
        .area
        .as_deref()
        .map(|a| format!(" [{}]", clean(a)))
        .unwrap_or_default();
    writeln!(out, "  {date}  {who}{area}: {}", clean_lines(&n.text, 14))
}

/// "1 reading", "2 readings".
pub fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// The first six characters of an id (ids come from peers: any length).
fn short(id: &str) -> String {
    id.chars().take(6).collect()
}

/// A reading's sign-off, in words.
pub fn signoff(status: &SignOff) -> String {
    match status {
        SignOff::Unsigned => "not signed off".to_owned(),
        SignOff::Partial { signed_by } => format!(
            "signed by {} of 2 (client and worker both sign)",
            signed_by.len()
        ),
        SignOff::SignedOff { .. } => "signed off by client and worker".to_owned(),
        SignOff::Outdated { signed_by, changed } => format!(
            "signed by {} of 2 on an earlier version; changed since: {} (sign it off again)",
            signed_by.len(),
            changed.join(", ")
        ),
        SignOff::Amended { changed, .. } => {
            format!("AMENDED after sign-off: {}", changed.join(", "))
        }
    }
}
