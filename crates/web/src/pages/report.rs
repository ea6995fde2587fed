//! The caseload's distance travelled: every journal's change in agreed
//! scores, first reading to latest, area by area, with the caseload's mean
//! (what `starling report --caseload` prints), read from the kept
//! summaries.

use std::collections::HashMap;

use maud::html;
use recovery_journal::Perspective;
use starling_app::App;

use super::{Section, data};
use crate::i18n::{n, s};
use crate::routes::{Answer, Ctx};

/// One journal's row: its agreed change per area, by area name.
struct Row {
    doc: String,
    title: String,
    readings: usize,
    conflicts: usize,
    /// Area name -> (first, latest, change).
    areas: HashMap<String, (u8, u8, i16)>,
    /// Whether its first and latest agreed scores are from different
    /// readings (a journal with one reading has travelled nowhere yet).
    moved: bool,
}

/// `GET /report`.
pub fn page(app: &App, ctx: &Ctx<'_>, _q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let mut areas: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for (row, summary) in app.summaries()? {
        let Ok(sum) = summary else {
            // Never left out silently: a caseload must add up.
            unreadable.push(row.title);
            continue;
        };
        let mut r = Row {
            doc: row.doc,
            title: row.title,
            readings: sum.readings,
            conflicts: sum.conflicts,
            areas: HashMap::new(),
            moved: false,
        };
        for d in sum
            .distance
            .iter()
            .filter(|d| d.perspective == Perspective::Agreed)
        {
            if !areas.contains(&d.name) {
                areas.push(d.name.clone());
            }
            r.moved |= d.first.0 != d.latest.0;
            r.areas
                .insert(d.name.clone(), (d.first.1, d.latest.1, d.change));
        }
        rows.push(r);
    }
    rows.sort_by_key(|r| r.title.to_lowercase());
    let moved: Vec<&Row> = rows.iter().filter(|r| r.moved).collect();
    // The mean change per area over the journals that have moved in it.
    let mean = |area: &String| {
        let changes: Vec<i16> = moved
            .iter()
            .filter_map(|r| r.areas.get(area).map(|a| a.2))
            .collect();
        (!changes.is_empty())
            .then(|| changes.iter().map(|&c| f64::from(c)).sum::<f64>() / changes.len() as f64)
    };
    let body = html! {
        h1 { (tr.t("report-title")) }
        p { (tr.t("report-intro")) }
        @if !unreadable.is_empty() {
            div.error-summary role="alert" {
                h2 { (tr.t("report-unreadable")) }
                ul { @for t in &unreadable { li { (data(t)) } } }
            }
        }
        @if areas.is_empty() {
            p { (tr.t("report-none")) }
        } @else {
            div.table-scroll role="region" tabindex="0" aria-label=(tr.ta("report-caption", &[("count", n(rows.len()))])) {
                table.report {
                    caption { (tr.ta("report-caption", &[("count", n(rows.len()))])) }
                    thead { tr {
                        th scope="col" { (tr.t("report-journal")) }
                        th.num scope="col" { (tr.t("report-readings")) }
                        th.num scope="col" { (tr.t("report-conflicts")) }
                        @for a in &areas { th.num scope="col" { (data(a)) } }
                    } }
                    tbody {
                        @for r in &rows {
                            tr {
                                th scope="row" {
                                    a href=(format!("/j/{}", r.doc)) {
                                        @if r.title.is_empty() { (tr.t("journal-joining")) } @else { (data(&r.title)) }
                                    }
                                }
                                td.num { (r.readings) }
                                td.num { (r.conflicts) }
                                @for a in &areas {
                                    td.num {
                                        @match r.areas.get(a) {
                                            Some((first, latest, change)) => {
                                                (format!("{change:+}"))
                                                br;
                                                span.hint { (tr.ta("report-from-to", &[("first", n(usize::from(*first))), ("latest", n(usize::from(*latest)))])) }
                                            }
                                            None => { span aria-label=(tr.t("report-no-score")) { "–" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    tfoot { tr {
                        th scope="row" { (tr.ta("report-mean", &[("count", n(moved.len()))])) }
                        td {}
                        td {}
                        @for a in &areas {
                            td.num {
                                @match mean(a) {
                                    Some(m) => (tr.ta("report-mean-value", &[("value", s(format!("{m:+.1}")))])),
                                    None => span aria-label=(tr.t("report-no-score")) { "–" },
                                }
                            }
                        }
                    } }
                }
            }
        }
        p { a href="/" { (tr.t("report-back")) } }
    };
    Ok(ctx.page(tr.t("report-title"), Section::Journals, None, None, body))
}
