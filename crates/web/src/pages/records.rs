//! Notes, history (who changed what, when; the journal as it was), export,
//! and the print view of one review.

use std::collections::HashMap;

use maud::html;
use recovery_journal::{ChangeHash, FieldPath, ItemRef, Perspective};
use starling_app::App;

use super::forms::field;
use super::journal::{Tab, attribution, header};
use super::{Section, csrf, data, error_summary, form_field};
use crate::i18n::s;
use crate::routes::{Answer, Ctx, done, refusal};

pub(crate) fn time(secs: i64) -> String {
    let date = recovery_journal::Date::from_unix(secs);
    let rem = secs.rem_euclid(86_400);
    format!("{date} {:02}:{:02}", rem / 3600, (rem % 3600) / 60)
}

/// `GET /j/{doc}/notes`.
pub fn notes(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    notes_with(app, ctx, doc, &HashMap::new(), &[])
}

/// The notes page; after a refused note, with what was typed and why.
fn notes_with(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    typed: &HashMap<String, String>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let journal = app.read(&row)?;
    let view = journal.view.clone();
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let notes = app.notes(&row, None)?;
    let typed = |name: &str| typed.get(name).cloned().unwrap_or_default();
    let body = html! {
        (header(ctx, &row, Tab::Notes, local))
        h2 { (tr.t("notes-add")) }
        (error_summary(tr, errors))
        form method="post" action=(format!("/j/{}/notes", row.doc)) novalidate {
            (csrf(ctx.csrf))
            (form_field("text", None, errors, html! {
                label for="text" { (tr.t("notes-text")) }
            }, |d| html! {
                textarea id="text" name="text" rows="4" aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()] { (typed("text")) }
            }))
            (form_field("date", Some("date-hint"), errors, html! {
                label for="date" { (tr.t("notes-date")) }
                p.hint id="date-hint" { (tr.t("reading-date-hint")) }
            }, |d| html! {
                input.short type="date" id="date" name="date" value=(typed("date"))
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
            }))
            button type="submit" { (tr.t("notes-save")) }
        }
        h2 { (tr.t("notes-title")) }
        (super::conflicts::boxes(ctx, &row.doc, &view, &format!("/j/{}/notes", row.doc), |p| matches!(
            p,
            FieldPath::NoteDate(_) | FieldPath::Deleted(ItemRef::Note(_))
        )))
        @if notes.is_empty() { p { (tr.t("notes-none")) } }
        @for n in &notes {
            div.panel {
                p.hint {
                    (n.date.value.map(|d| d.to_string()).unwrap_or_else(|| tr.t("undated")))
                    " · "
                    @match n.author.and_then(|a| view.member_name(a)) {
                        Some(name) => (data(name)),
                        None => (tr.t("unknown-device")),
                    }
                    @if let Some(a) = &n.area { " · " (data(&super::area_name(&view, a))) }
                }
                p.note-text { (data(&n.text)) }
            }
        }
    };
    Ok(ctx.page(
        tr.t("notes-title"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}

/// `POST /j/{doc}/notes`: a note that cannot be kept (no text, a date
/// after today) shows the form again, with what was typed and why.
pub fn add_note(app: &App, ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let (at, error) = match field(f, "text") {
        None => ("text", ctx.tr.t("notes-text-missing")),
        Some(text) => match App::note_date(field(f, "date")) {
            Err(e) => ("date", refusal(e)?),
            // The date is good: what is left to refuse is the text (too long).
            Ok(_) => match app.add_note(&row, text, None, field(f, "date")) {
                Ok(_) => return done(&format!("/j/{}/notes", row.doc), "done-note"),
                Err(e) => ("text", refusal(e)?),
            },
        },
    };
    let errors = [(at.to_owned(), error)];
    notes_with(app, ctx, doc, f, &errors)
}

/// `GET /j/{doc}/history` (`?at=HASH`: the journal as it was then).
pub fn history(app: &App, ctx: &Ctx<'_>, doc: &str, q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let journal = app.load(&row)?;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    // Newest first by the time each was made (concurrent changes from two
    // devices come in no order of their own); equal times keep their order.
    let mut entries = journal.history();
    entries.sort_by_key(|e| e.time);
    // Area names for the messages' ids.
    let names = journal.view();
    let at = field(q, "at").and_then(|h| h.parse::<ChangeHash>().ok());
    let then = at
        .as_ref()
        .and_then(|h| journal.at(std::slice::from_ref(h)).ok())
        .map(|j| j.view());
    let body = html! {
        (header(ctx, &row, Tab::History, local))
        @if let Some(view) = &then {
            div.panel {
                h2 { (tr.t("history-then")) }
                @if let Some(r) = view.latest_reading() {
                    table {
                        caption { (r.sort_date().map(|d| d.to_string()).unwrap_or_default()) }
                        thead { tr {
                            th scope="col" { (tr.t("area")) }
                            @for p in Perspective::ALL { th.num scope="col" { (tr.t(&format!("perspective-{p}"))) } }
                        } }
                        tbody {
                            @for a in &r.areas {
                                tr {
                                    th scope="row" { (data(&a.name)) }
                                    @for p in Perspective::ALL {
                                        td.num { @match a.score(*p).value { Some(v) => (v), None => "–" } }
                                    }
                                }
                            }
                        }
                    }
                } @else {
                    p { (tr.t("readings-none")) }
                }
                p { a href=(format!("/j/{}/history", row.doc)) { (tr.t("history-now")) } }
            }
        }
        h2 { (tr.t("history-title")) }
        p.hint { (tr.t("history-hint")) }
        div.table-scroll role="region" tabindex="0" aria-label=(tr.t("history-title")) {
            table {
                caption.visually-hidden { (tr.t("history-title")) }
                thead { tr {
                    th scope="col" { (tr.t("history-when")) }
                    th scope="col" { (tr.t("history-who")) }
                    th scope="col" { (tr.t("history-what")) }
                    th scope="col" { span.visually-hidden { (tr.t("actions")) } }
                } }
                tbody {
                    @for e in entries.iter().rev().take(200) {
                        tr {
                            td { (time(e.time)) }
                            td { (e.author.clone().map(|a| data(&a)).unwrap_or_else(|| html! { (tr.t("unknown-device")) })) }
                            td { (data(&super::area_words(&e.message, Some(&names), e.area.as_deref()))) }
                            td { a href=(format!("/j/{}/history?at={}", row.doc, e.hash)) { (tr.t("history-see")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page(
        tr.t("history-title"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}

/// `GET /j/{doc}/export`.
pub fn export_page(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let me = app.device().ok();
    let erase_link = if me.is_some_and(|me| app.load(&row).ok().is_some_and(|j| j.owned_by(me))) {
        "delete-title"
    } else {
        "leave-title"
    };
    let body = html! {
        (header(ctx, &row, Tab::Export, local))
        h2 { (tr.t("export-title")) }
        p { (tr.t("export-intro")) }
        ul {
            li { a href=(format!("/j/{}/export/json", row.doc)) download { (tr.t("export-json")) } }
            li { a href=(format!("/j/{}/export/csv", row.doc)) download { (tr.t("export-csv")) } }
            li { a href=(format!("/j/{}/export/automerge", row.doc)) download { (tr.t("export-automerge")) } }
            li { a href=(format!("/j/{}/export/fhir", row.doc)) download { (tr.t("export-fhir")) } }
        }
        p { a href="/data" { (tr.t("export-everything")) } }
        p { a href=(format!("/j/{}/print", row.doc)) { (tr.t("print-link")) } }
        h2 { (tr.t("rights-title")) }
        ul {
            li { a href=(format!("/j/{}/access", row.doc)) { (tr.t("access-title")) } }
            li { a href=(format!("/j/{}/delete", row.doc)) { (tr.t(erase_link)) } }
        }
    };
    Ok(ctx.page(
        tr.t("export-title"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}

/// `GET /j/{doc}/print` (`?reading=`): one review on paper: the reading,
/// the star, the action plan.
pub fn print(app: &App, ctx: &Ctx<'_>, doc: &str, q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let journal = app.read(&row)?;
    let view = journal.view.clone();
    let rid = app.reading(&journal.view, field(q, "reading"))?;
    let r = view.reading(&rid).cloned();
    let plan = view.plan(&rid);
    let mut one = view.clone();
    one.readings.retain(|x| x.id == rid);
    let model = journal.chart(&one, Perspective::ALL);
    let date = r
        .as_ref()
        .and_then(|r| r.sort_date())
        .map(|d| d.to_string())
        .unwrap_or_default();
    let body = html! {
        p.crumbs.no-print { a href=(format!("/j/{}", row.doc)) { (tr.t("print-back")) } }
        h1 { (tr.ta("print-title", &[("name", s(row.title.clone())), ("date", s(date.clone()))])) }
        p.no-print { (tr.t("print-how")) }
        @if let Some(r) = &r {
            // Scrolls sideways on a narrow screen: by keyboard too.
            div.table-scroll tabindex="0" role="region" aria-label=(tr.t("reading-table")) { table {
                caption { (tr.t("reading-table")) }
                thead { tr {
                    th scope="col" { (tr.t("area")) }
                    @for p in Perspective::ALL { th.num scope="col" { (tr.t(&format!("perspective-{p}"))) } }
                    th scope="col" { (tr.t("note-label")) }
                } }
                tbody {
                    @for a in &r.areas {
                        tr {
                            th scope="row" { (data(&a.name)) }
                            @for p in Perspective::ALL { td.num { @match a.score(*p).value { Some(v) => (v), None => "–" } } }
                            td.note-text { (data(&a.note)) }
                        }
                    }
                }
            } }
        }
        @if let Some(model) = &model {
            div.chart {
                (super::svg(starling_app::chart::svg_with(model, &starling_app::chart::ChartText {
                    title: tr.t("chart-title"),
                    undated: tr.t("undated"),
                    client: tr.t("perspective-client"),
                    worker: tr.t("perspective-worker"),
                    agreed: tr.t("perspective-agreed"),
                    aria_label: Some(tr.t("chart-label")),
                })))
            }
        }
        @if let Some(plan) = &plan {
            h2.print-break { (tr.t("plan-title")) }
            @for g in plan.goals.iter().chain(&plan.carried_forward) {
                h3 { (data(&g.title)) }
                ul {
                    @for st in &g.steps {
                        li {
                            @if st.done.value == Some(true) { "✓ " }
                            (data(&st.text))
                            @if let Some(d) = st.due.value { " (" (tr.ta("plan-due", &[("date", s(d.to_string()))])) ")" }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page(
        tr.ta(
            "print-title",
            &[("name", s(row.title.clone())), ("date", s(date))],
        ),
        Section::Journal,
        Some(&row.doc),
        attribution(&journal, &view),
        body,
    ))
}

/// The name of a saved copy's folder: `starling-data-DATE-HHMMSS`.
fn copy_name(now_ms: u64) -> String {
    let secs = (now_ms / 1000) as i64;
    let rem = secs.rem_euclid(86_400);
    format!(
        "starling-data-{}-{:02}{:02}{:02}",
        recovery_journal::Date::from_unix(secs),
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `GET /data` (`?saved=NAME` after a save): a copy of everything about
/// the person on this device (subject access), saved as a folder.
pub fn data_page(_app: &App, ctx: &Ctx<'_>, q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    // Only a folder this page saved (a plain name holding an index) is shown.
    let saved = field(q, "saved")
        .filter(|n| {
            n.starts_with("starling-data-")
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(|n| ctx.export_dir.join(n))
        .filter(|d| d.join("index.html").is_file());
    let body = html! {
        h1 { (tr.t("data-title")) }
        p { (tr.t("data-intro")) }
        @if let Some(dir) = &saved {
            div.panel role="status" {
                h2 { (tr.t("data-saved-title")) }
                p { (tr.t("data-saved-where")) " " code { (data(&dir.display().to_string())) } }
                p { (tr.t("data-saved-open")) }
            }
        }
        h2 { (tr.t("data-what-title")) }
        ul {
            li { (tr.t("data-what-journals")) }
            li { (tr.t("data-what-people")) }
            li { (tr.t("data-what-device")) }
        }
        p { (tr.t("data-not-relay")) }
        p { (tr.t("data-where")) " " code { (data(&ctx.export_dir.display().to_string())) } }
        form method="post" action="/data" {
            (csrf(ctx.csrf))
            button type="submit" { (tr.t("data-save")) }
        }
        p.hint { (tr.t("data-keep-safe")) }
    };
    Ok(ctx.page(tr.t("data-title"), Section::Data, None, None, body))
}

/// `POST /data`: saves the copy into a new folder.
pub fn save_data(app: &App, ctx: &Ctx<'_>, _f: &HashMap<String, String>) -> Answer {
    let name = copy_name(starling_app::client::now_ms());
    app.export_all(&ctx.export_dir.join(&name))?;
    done(&format!("/data?saved={name}"), "done-data-saved")
}
