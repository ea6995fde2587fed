//! `show`, `chart`, `history`, `report`, `conflicts`, `resolve`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use recovery_journal::Perspective;

use crate::cmd::{Pick, print_json};
use crate::ctx::{Ctx, not_found};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Show {
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `chart`.
#[derive(Debug, clap::Args)]
pub struct Chart {
    /// Where to write the SVG.
    #[arg(long, default_value = "star.svg")]
    pub out: PathBuf,
    /// How many of the latest readings to draw.
    #[arg(long, default_value_t = 4, conflicts_with = "reading")]
    pub readings: usize,
    /// Draw this reading (id prefix or date; `starling reading list` shows
    /// them). Give it more than once to compare readings, e.g. `--reading
    /// 2026-01-12 --reading 2026-07-03`.
    #[arg(long, value_name = "READING")]
    pub reading: Vec<String>,
    /// Perspectives to draw: agreed, client, worker (comma separated).
    #[arg(long, default_value = "agreed", value_delimiter = ',')]
    pub perspectives: Vec<String>,
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `history`.
#[derive(Debug, clap::Args)]
pub struct History {
    /// Only changes about this area.
    #[arg(long)]
    pub area: Option<String>,
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct Report {
    /// Every journal on this device (a coordinator's caseload).
    #[arg(long)]
    pub caseload: bool,
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `conflicts`.
#[derive(Debug, clap::Args)]
pub struct Conflicts {
    #[command(flatten)]
    pub pick: Pick,
}

/// Arguments of `resolve`.
#[derive(Debug, clap::Args)]
pub struct Resolve {
    /// The conflict's path, as `starling conflicts` prints it.
    pub path: String,
    /// The value you agreed on (a score, a date, a note's whole text; `keep`
    /// or `delete` for a deleted item).
    pub value: String,
    #[command(flatten)]
    pub pick: Pick,
}

pub fn show(ctx: &Ctx, args: Show, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    if ctx.json {
        let view = ctx.app.read(&row)?.view;
        // `journal` is the id `-j` takes, as `new` and `list` print it;
        // `journal_id` is the journal's own id, kept across exports.
        let mut value = serde_json::to_value(&view)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("journal".into(), row.doc.clone().into());
        }
        return print_json(out, &value);
    }
    // The text shows the latest readings only: no need to decode them all.
    let view = ctx.app.read_recent(&row)?;
    writeln!(
        out,
        "{} — journal {}",
        row.title,
        crate::ctx::short(&row.doc)
    )?;
    crate::render::star(out, &view)?;
    Ok(())
}

pub fn chart(ctx: &Ctx, args: Chart, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let journal = ctx.app.read(&row)?;
    let mut view = journal.view.clone();
    if args.reading.is_empty() {
        let keep = view.readings.len().saturating_sub(args.readings);
        view.readings.drain(..keep);
    } else {
        let chosen = args
            .reading
            .iter()
            .map(|w| ctx.app.reading(&view, Some(w)))
            .collect::<Result<Vec<_>, _>>()?;
        view.readings.retain(|r| chosen.contains(&r.id));
    }
    let perspectives: Vec<Perspective> = args
        .perspectives
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;
    let model = journal
        .chart(&view, &perspectives)
        .ok_or_else(|| not_found("no readings to draw yet"))?;
    if model.series.is_empty() {
        let drawn: Vec<&str> = args.perspectives.iter().map(|p| p.trim()).collect();
        let readings = crate::render::count(view.readings.len(), "reading");
        let which = if args.reading.is_empty() {
            format!("the latest {readings}")
        } else {
            format!("the {readings} chosen")
        };
        return Err(not_found(format!(
            "nothing to draw yet: no {} scores in {which}; \
             `--perspectives client,worker,agreed` draws every view",
            drawn.join(" or "),
        )));
    }
    starling_app::write_file(&args.out, starling_app::chart::svg(&model).as_bytes())?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "out": args.out, "series": model.series.len() }),
        );
    }
    writeln!(
        out,
        "Wrote {} ({}: one per reading and perspective).",
        args.out.display(),
        crate::render::count(model.series.len(), "outline"),
    )?;
    Ok(())
}

pub fn history(ctx: &Ctx, args: History, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let journal = ctx.app.load(&row)?;
    let entries = match &args.area {
        Some(area) => {
            starling_app::check_area_in(&journal, area)?;
            journal.history_of_area(area)
        }
        None => journal.history(),
    };
    if ctx.json {
        return print_json(out, &entries);
    }
    for e in entries {
        let who = e
            .author
            .clone()
            .unwrap_or_else(|| e.device.map(|d| d.short()).unwrap_or_default());
        writeln!(out, "{}  {:<12} {}", format_time(e.time), who, e.message)?;
    }
    Ok(())
}

pub fn report(ctx: &Ctx, args: Report, out: &mut impl Write) -> Result<()> {
    let rows = if args.caseload {
        ctx.app.summaries()?
    } else {
        let row = ctx.app.pick(args.pick.journal.as_deref())?;
        let summary = ctx.app.summary(&row)?;
        vec![(row, Ok(summary))]
    };
    if ctx.json {
        let all: Vec<_> = rows
            .into_iter()
            .map(|(row, s)| match s {
                Ok(s) => serde_json::json!({
                    "journal": row.doc, "title": row.title, "readings": s.readings,
                    "conflicts": s.conflicts, "distance": s.distance,
                }),
                Err(e) => serde_json::json!({
                    "journal": row.doc, "title": row.title, "error": e.to_string(),
                }),
            })
            .collect();
        return print_json(out, &all);
    }
    // A caseload's report is long: one write, not one per line.
    let mut out = std::io::BufWriter::new(out);
    writeln!(
        out,
        "Distance travelled in agreed scores, first reading -> latest (`--json` has every perspective):"
    )?;
    for (row, s) in rows {
        let s = match s {
            Ok(s) => s,
            Err(e) => {
                // Never left out silently: a caseload must add up.
                writeln!(out, "{}: could not be read: {e}", row.title)?;
                continue;
            }
        };
        writeln!(
            out,
            "{} ({}, {})",
            row.title,
            crate::render::count(s.readings, "reading"),
            crate::render::count(s.conflicts, "open conflict"),
        )?;
        let agreed: Vec<_> = s
            .distance
            .iter()
            .filter(|d| d.perspective == Perspective::Agreed)
            .collect();
        if agreed.is_empty() {
            writeln!(out, "  no agreed scores yet")?;
        }
        for d in agreed {
            let first = d.first.0.map(|x| x.to_string()).unwrap_or_default();
            let latest = d.latest.0.map(|x| x.to_string()).unwrap_or_default();
            writeln!(
                out,
                "  {:<26} {:>2} ({first}) -> {:>2} ({latest})  {:+}",
                d.name, d.first.1, d.latest.1, d.change
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

pub fn conflicts(ctx: &Ctx, args: Conflicts, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    let view = ctx.app.read(&row)?.view;
    if ctx.json {
        return print_json(out, &view.conflicts);
    }
    if view.conflicts.is_empty() {
        writeln!(out, "No open conflicts.")?;
    }
    for c in &view.conflicts {
        let deletion = matches!(c.path, recovery_journal::FieldPath::Deleted(_));
        writeln!(out, "{}", c.path)?;
        for cand in &c.candidates {
            let who = cand
                .author
                .and_then(|a| view.member_name(a).map(str::to_owned))
                .unwrap_or_else(|| "unknown device".into());
            let did = match (deletion, cand.value.as_str()) {
                (true, "deleted") => "deleted it".to_owned(),
                (true, _) => "changed it".to_owned(),
                (false, value) => format!("set {value}"),
            };
            writeln!(out, "    {who} {did} at {}", format_time(cand.time))?;
        }
        if deletion {
            writeln!(out, "    (settle with VALUE keep or delete)")?;
        }
    }
    if !view.conflicts.is_empty() {
        writeln!(out, "Settle one with: starling resolve PATH VALUE")?;
    }
    Ok(())
}

pub fn resolve(ctx: &Ctx, args: Resolve, out: &mut impl Write) -> Result<()> {
    let row = ctx.app.pick(args.pick.journal.as_deref())?;
    ctx.app.resolve(&row, &args.path, &args.value)?;
    if ctx.json {
        return print_json(
            out,
            &serde_json::json!({ "resolved": args.path, "value": args.value }),
        );
    }
    writeln!(
        out,
        "Resolved {} to {}. Sync to share it.",
        args.path, args.value
    )?;
    Ok(())
}

fn format_time(secs: i64) -> String {
    let t = time_fmt(secs);
    t.unwrap_or_else(|| secs.to_string())
}

fn time_fmt(secs: i64) -> Option<String> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let date = recovery_journal::Date::from_unix(days * 86_400);
    Some(format!("{date} {:02}:{:02}", rem / 3600, (rem % 3600) / 60))
}
