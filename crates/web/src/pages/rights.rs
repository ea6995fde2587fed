//! A journal's data rights, without a terminal: who has looked at it (the
//! relay's signed access log), and deleting it (the owner) or leaving it
//! (everyone else).

use std::collections::HashMap;

use maud::html;
use starling_app::App;
use starling_app::access::When;

use super::forms::{confirm_box, unconfirmed};
use super::journal::{Tab, header};
use super::{Section, csrf, data, error_summary};
use crate::i18n::{n, s};
use crate::routes::{Answer, Ctx, done};

/// `GET /j/{doc}/access`: who the relay served the journal to.
pub fn access_page(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let report = app.access_log(&row);
    let body = html! {
        (header(ctx, &row, Tab::Export, local))
        h2 { (tr.t("access-title")) }
        p { (tr.t("access-intro")) }
        @match &report {
            Err(e) => {
                div.panel role="status" {
                    p { (tr.t("access-unreachable")) }
                    p.hint { (data(&e.to_string())) }
                }
            }
            Ok(r) => {
                @if !r.unknown_devices.is_empty() {
                    div.error-summary role="alert" {
                        h3 { (tr.t("access-unknown-title")) }
                        p { (tr.t("access-unknown")) }
                        ul { @for d in &r.unknown_devices { li { code { (data(d)) } } } }
                    }
                }
                p {
                    (tr.ta("access-stored", &[
                        ("changes", n(r.stored.envelopes as usize)),
                        ("when", s(when_words(tr, When::of(r.at)))),
                    ]))
                }
                @if r.lines.is_empty() {
                    p { (tr.t("access-none")) }
                } @else {
                    div.table-scroll role="region" tabindex="0" aria-label=(tr.t("access-table")) {
                        table {
                            caption { (tr.t("access-table")) }
                            thead { tr {
                                th scope="col" { (tr.t("access-when")) }
                                th scope="col" { (tr.t("access-who")) }
                                th scope="col" { (tr.t("access-what")) }
                            } }
                            tbody {
                                @for l in r.lines.iter().rev() {
                                    tr {
                                        td { (moment(tr, l.at)) }
                                        td {
                                            @if l.you { (tr.t("access-you")) } @else { (data(&l.who)) }
                                        }
                                        td {
                                            (tr.ta(match l.kind {
                                                starling_app::client::AccessKind::Publish => "access-sent",
                                                starling_app::client::AccessKind::Fetch => "access-fetched",
                                                starling_app::client::AccessKind::Membership => "access-membership",
                                            }, &[("count", n(l.count as usize))]))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href=(format!("/j/{}/export", row.doc)) { (tr.t("access-back")) } }
    };
    Ok(ctx.page(
        tr.t("access-title"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}

/// Weekdays' names in the catalogue, Monday first.
const WEEKDAYS: [&str; 7] = [
    "day-mon", "day-tue", "day-wed", "day-thu", "day-fri", "day-sat", "day-sun",
];

/// A moment in UTC in the page's language: "Tue 2026-12-01 14:02 UTC".
fn when_words(tr: &crate::i18n::Catalogue, t: When) -> String {
    tr.ta(
        "when-utc",
        &[
            ("day", s(tr.t(WEEKDAYS[t.weekday as usize]))),
            ("date", s(t.date.to_string())),
            ("time", s(t.time())),
        ],
    )
}

/// [`when_words`] as a `<time>`, which machines read too.
pub(crate) fn moment(tr: &crate::i18n::Catalogue, ms: u64) -> maud::Markup {
    let t = When::of(ms);
    html! { time datetime=(format!("{}T{}Z", t.date, t.time())) { (when_words(tr, t)) } }
}

/// Whether this device owns the journal (it deletes; others leave).
fn owns(app: &App, row: &starling_app::client::DocRow) -> bool {
    let me = app.device().ok();
    me.is_some_and(|me| app.load(row).ok().is_some_and(|j| j.owned_by(me)))
}

fn erase_page(
    app: &App,
    ctx: &Ctx<'_>,
    row: &starling_app::client::DocRow,
    errors: &[(String, String)],
) -> axum::response::Response {
    let tr = ctx.tr;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let (title, intro, confirm, button) = if owns(app, row) {
        (
            "delete-title",
            "delete-intro",
            "delete-confirm",
            "delete-button",
        )
    } else {
        (
            "leave-title",
            "leave-intro",
            "leave-confirm",
            "leave-button",
        )
    };
    let body = html! {
        (header(ctx, row, Tab::Export, local))
        (error_summary(tr, errors))
        h2 { (tr.t(title)) }
        p { (tr.t(intro)) }
        p { a href="/data" { (tr.t("erase-copy-first")) } }
        form method="post" action=(format!("/j/{}/delete", row.doc)) novalidate {
            (csrf(ctx.csrf))
            (confirm_box(errors, &tr.t(confirm)))
            button.warning type="submit" { (tr.t(button)) }
        }
    };
    ctx.page(tr.t(title), Section::Journal, Some(&row.doc), None, body)
}

/// `GET /j/{doc}/delete`: delete (the owner) or leave (a member).
pub fn erase_form(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    Ok(erase_page(app, ctx, &row, &[]))
}

/// `POST /j/{doc}/delete`: only with the box ticked.
pub fn erase(app: &App, ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let owner = owns(app, &row);
    let key = if owner {
        "delete-confirm-error"
    } else {
        "leave-confirm-error"
    };
    if let Some(errors) = unconfirmed(f, ctx.tr.t(key)) {
        return Ok(erase_page(app, ctx, &row, &errors));
    }
    let erased = if owner {
        app.delete(&row)?
    } else {
        app.leave(&row)?
    };
    match (erased.done, owner) {
        (true, true) if erased.never_synced => done("/", "done-deleted-here"),
        (true, true) => done("/", "done-deleted"),
        (true, false) => done("/", "done-left"),
        (false, _) => done(&format!("/j/{}/export", row.doc), "done-erase-queued"),
    }
}
