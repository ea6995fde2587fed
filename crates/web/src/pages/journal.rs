//! One journal: its star chart (readings overlaid, perspectives drawn
//! apart) with a table beside it as its text alternative, distance
//! travelled per area, and its readings.

use std::collections::HashMap;

use maud::{Markup, html};
use recovery_journal::{JournalView, Perspective, ReadModel};
use starling_app::App;
use starling_app::chart::{ChartText, svg_with};
use starling_client::DocRow;

use super::{Section, csrf, data, error_summary, form_field};
use crate::i18n::s;
use crate::routes::{Answer, Ctx};

/// The journal's sections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Reading,
    Plan,
    Notes,
    History,
    Share,
    Export,
}

/// The journal's heading and its section links.
pub fn header(ctx: &Ctx<'_>, row: &DocRow, tab: Tab, local: usize) -> Markup {
    let tr = ctx.tr;
    let base = format!("/j/{}", row.doc);
    let cur = |t: Tab| if t == tab { Some("page") } else { None };
    let tabs = [
        (Tab::Overview, base.clone(), "tab-overview"),
        (Tab::Plan, format!("{base}/plan"), "tab-plan"),
        (Tab::Notes, format!("{base}/notes"), "tab-notes"),
        (Tab::History, format!("{base}/history"), "tab-history"),
        (Tab::Share, format!("{base}/share"), "tab-share"),
        (Tab::Export, format!("{base}/export"), "tab-export"),
    ];
    html! {
        p.crumbs { a href="/" { (tr.t("nav-journals")) } }
        h1 {
            (tr.ta("journal-title", &[("name", s(if row.title.is_empty() { "…" } else { &row.title }))]))
        }
        p { (super::caseload::sync_words(ctx, row.problem.as_deref(), local)) }
        nav aria-label=(tr.t("tabs-label")) {
            ul.tabs {
                @for (t, href, key) in &tabs {
                    li { a href=(href) aria-current=[cur(*t)] { (tr.t(key)) } }
                }
            }
        }
    }
}

/// The licence line of the instrument the latest reading uses.
pub fn attribution(journal: &ReadModel, view: &JournalView) -> Option<String> {
    let r = view.latest_reading()?;
    journal
        .instrument(&r.instrument)
        .map(|i| i.attribution.clone())
}

fn perspective_name(ctx: &Ctx<'_>, p: Perspective) -> String {
    ctx.tr.t(match p {
        Perspective::Client => "perspective-client",
        Perspective::Worker => "perspective-worker",
        Perspective::Agreed => "perspective-agreed",
    })
}

/// `GET /j/{doc}`.
pub fn overview(app: &App, ctx: &Ctx<'_>, doc: &str, q: &HashMap<String, String>) -> Answer {
    overview_with(app, ctx, doc, q, &HashMap::new(), &[])
}

/// The journal's page; after a refused new reading, with the form as
/// typed (`f`) and why, by the field.
pub fn overview_with(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    q: &HashMap<String, String>,
    f: &HashMap<String, String>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let Ok(journal) = app.read(&row) else {
        let body = html! {
            (header(ctx, &row, Tab::Overview, local))
            p { (tr.t("journal-waiting-first-sync")) }
        };
        return Ok(ctx.page(
            tr.t("journal-waiting-title"),
            Section::Journal,
            Some(&row.doc),
            None,
            body,
        ));
    };
    let view = journal.view.clone();
    // Which readings and perspectives to draw: the latest two and every
    // perspective, unless the person chose.
    let chosen: Vec<String> = q
        .get("readings")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let readings: Vec<&recovery_journal::ReadingView> = if chosen.is_empty() {
        view.readings.iter().rev().take(2).rev().collect()
    } else {
        view.readings
            .iter()
            .filter(|r| chosen.iter().any(|c| c == r.id.as_str()))
            .collect()
    };
    let wanted: Vec<Perspective> = match q.get("p") {
        Some(p) => p.split(',').filter_map(|x| x.parse().ok()).collect(),
        None => Perspective::ALL.to_vec(),
    };
    let mut shown = view.clone();
    shown
        .readings
        .retain(|r| readings.iter().any(|x| x.id == r.id));
    let model = journal.chart(&shown, &wanted);
    let distance = journal.distance_travelled();
    let label = tr.t("chart-label");
    // Not synced and never reached its relay: the address may be wrong,
    // and can still be put right.
    // Its relay's certificate is from an authority this device does not
    // trust: the address is right, the organisation's certificate is
    // missing.
    let untrusted = ctx.live.link(&row.relay).is_some_and(|l| l.untrusted());
    let wrong_relay = !untrusted
        && row.problem.is_some()
        && app.client().never_reached_relay(&row.doc).unwrap_or(false);
    let body = html! {
        (header(ctx, &row, Tab::Overview, local))
        @if untrusted {
            div.notice.warn {
                p { (tr.ta("journal-relay-untrusted", &[("relay", s(row.relay.clone()))])) }
                p { a href="/relays#certificate" { (tr.t("relays-untrusted-add")) } }
            }
        }
        @if wrong_relay {
            div.notice.warn {
                p { (tr.ta("journal-relay-unreached", &[("relay", s(row.relay.clone()))])) }
                p { a href=(format!("/j/{}/relay", row.doc)) { (tr.t("journal-relay-correct")) } }
            }
        }
        @if !view.conflicts.is_empty() {
            div.notice.warn {
                p { (tr.ta("journal-conflicts", &[("count", crate::i18n::n(view.conflicts.len()))])) }
                p { a href=(format!("/j/{}/conflicts", row.doc)) { (tr.t("journal-see-conflicts")) } }
            }
        }
        h2 { (tr.t("readings-title")) }
        @if view.readings.is_empty() {
            p { (tr.t("readings-none")) }
        } @else {
            ul {
                @for r in view.readings.iter().rev() {
                    li {
                        a href=(format!("/j/{}/r/{}", row.doc, r.id)) {
                            (r.sort_date().map(|d| d.to_string()).unwrap_or_else(|| tr.t("undated")))
                        }
                        @if r.areas.iter().any(|a| a.gap.is_some()) { " " span.tag.gap { (tr.t("tag-gaps")) } }
                        @if r.areas.iter().any(|a| !a.agreed.conflict.is_empty() || !a.client.conflict.is_empty() || !a.worker.conflict.is_empty()) { " " span.tag.conflict { (tr.t("tag-conflict")) } }
                    }
                }
            }
        }
        p { a href=(format!("/j/{}/deleted", row.doc)) { (tr.t("readings-deleted-link")) } }
        @let mode = f.get("mode").map_or("joint", String::as_str);
        details open[!errors.is_empty()] {
            summary { (tr.t("reading-new")) }
            (error_summary(tr, errors))
            form method="post" action=(format!("/j/{}/reading", row.doc)) novalidate {
                (csrf(ctx.csrf))
                (form_field("date", Some("date-hint"), errors, html! {
                    label for="date" { (tr.t("reading-date")) }
                    p.hint id="date-hint" { (tr.t("reading-date-hint")) }
                }, |d| html! {
                    input.short type="date" id="date" name="date" value=(f.get("date").map_or("", String::as_str))
                        aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                }))
                fieldset {
                    legend { (tr.t("reading-mode")) }
                    div.radios {
                        @for (value, key) in [("joint", "mode-joint"), ("client", "mode-client"), ("worker", "mode-worker")] {
                            div.radio {
                                input type="radio" id=(format!("mode-{value}")) name="mode" value=(value) checked[value == mode];
                                label for=(format!("mode-{value}")) { (tr.t(key)) }
                            }
                        }
                    }
                }
                button type="submit" { (tr.t("reading-start")) }
            }
        }
        @if let Some(model) = &model {
            h2 { (tr.t("chart-title")) }
            form.controls method="get" action=(format!("/j/{}", row.doc)) {
                fieldset {
                    legend { (tr.t("chart-readings")) }
                    @for r in view.readings.iter().rev().take(8) {
                        div.radio {
                            input type="checkbox" id=(format!("cmp-{}", r.id)) name="readings" value=(r.id.as_str()) checked[readings.iter().any(|x| x.id == r.id)];
                            label for=(format!("cmp-{}", r.id)) { (r.sort_date().map(|d| d.to_string()).unwrap_or_else(|| tr.t("undated"))) }
                        }
                    }
                }
                fieldset {
                    legend { (tr.t("chart-perspectives")) }
                    @for p in Perspective::ALL {
                        div.radio {
                            input type="checkbox" id=(format!("p-{p}")) name="p" value=(p.as_str()) checked[wanted.contains(p)];
                            label for=(format!("p-{p}")) { (perspective_name(ctx, *p)) }
                        }
                    }
                }
                button.secondary type="submit" { (tr.t("chart-show")) }
            }
            p.hint { (tr.t("chart-how")) }
            div.chart {
                (super::svg(svg_with(model, &ChartText {
                    title: tr.t("chart-title"),
                    undated: tr.t("undated"),
                    client: perspective_name(ctx, Perspective::Client),
                    worker: perspective_name(ctx, Perspective::Worker),
                    agreed: perspective_name(ctx, Perspective::Agreed),
                    aria_label: Some(label.clone()),
                })))
            }
            div.table-scroll role="region" tabindex="0" aria-label=(tr.t("chart-table")) {
                table {
                    caption { (tr.t("chart-table")) }
                    thead {
                        tr {
                            th scope="col" { (tr.t("area")) }
                            @for s in &model.series {
                                th.num scope="col" {
                                    (s.date.map(|d| d.to_string()).unwrap_or_else(|| tr.t("undated")))
                                    br;
                                    (perspective_name(ctx, s.perspective))
                                }
                            }
                        }
                    }
                    tbody {
                        @for (i, (_, name)) in model.areas.iter().enumerate() {
                            tr {
                                th scope="row" { (data(name)) }
                                @for s in &model.series {
                                    td.num { @match s.values.get(i).copied().flatten() { Some(v) => (v), None => "–" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !distance.is_empty() {
            h2 { (tr.t("distance-title")) }
            div.table-scroll role="region" tabindex="0" aria-label=(tr.t("distance-caption")) {
                table {
                    caption { (tr.t("distance-caption")) }
                    thead { tr {
                        th scope="col" { (tr.t("area")) }
                        th scope="col" { (tr.t("distance-first")) }
                        th scope="col" { (tr.t("distance-latest")) }
                        th.num scope="col" { (tr.t("distance-change")) }
                    } }
                    tbody {
                        @for d in distance.iter().filter(|d| d.perspective == Perspective::Agreed) {
                            tr {
                                th scope="row" { (data(&d.name)) }
                                td { (d.first.1) " (" (d.first.0.map(|x| x.to_string()).unwrap_or_default()) ")" }
                                td { (d.latest.1) " (" (d.latest.0.map(|x| x.to_string()).unwrap_or_default()) ")" }
                                td.num { (format!("{:+}", d.change)) }
                            }
                        }
                    }
                }
            }
        }
    };
    let title = if row.title.is_empty() {
        tr.t("journal-waiting-title")
    } else {
        row.title.clone()
    };
    Ok(ctx.page(
        title,
        Section::Journal,
        Some(&row.doc),
        attribution(&journal, &view),
        body,
    ))
}

/// `GET /j/{doc}/relay`: correcting the relay address of a journal that
/// never reached its relay.
pub fn relay_form(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    relay_page(app, ctx, &row, None, &[])
}

/// `POST /j/{doc}/relay`.
pub fn relay(app: &App, ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let typed = super::forms::field(f, "relay").unwrap_or("");
    match app.correct_relay(&row, typed) {
        Ok(_) => crate::routes::done(&format!("/j/{}", row.doc), "done-relay-corrected"),
        Err(e) => {
            let why = crate::routes::refusal(e)?;
            relay_page(app, ctx, &row, Some(typed), &[("relay".to_owned(), why)])
        }
    }
}

fn relay_page(
    app: &App,
    ctx: &Ctx<'_>,
    row: &starling_app::client::DocRow,
    typed: Option<&str>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let body = html! {
        (header(ctx, row, Tab::Overview, local))
        (super::error_summary(tr, errors))
        h2 { (tr.t("relay-title")) }
        p { (tr.t("relay-intro")) }
        form method="post" action=(format!("/j/{}/relay", row.doc)) novalidate {
            (super::csrf(ctx.csrf))
            (super::form_field("relay", Some("relay-hint"), errors, html! {
                label for="relay" { (tr.t("relay-label")) }
                p.hint id="relay-hint" { (tr.t("relay-hint")) }
            }, |d| html! {
                input type="text" id="relay" name="relay" spellcheck="false" autocapitalize="off"
                    value=(typed.unwrap_or(&row.relay))
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
            }))
            button type="submit" { (tr.t("relay-button")) }
        }
        p { a href=(format!("/j/{}", row.doc)) { (tr.t("relay-back")) } }
    };
    Ok(ctx.page(
        tr.t("relay-title"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}
