//! The journals on this device (a coordinator's caseload), first-run setup,
//! and creating or joining a journal.

use std::collections::HashMap;
use std::fmt::Write;

use maud::{Markup, html};
use starling_app::{App, AppError, JoinOutcome, JournalSummary};

use super::forms::field;
use super::{Section, csrf, data, error_summary, form_field};
use crate::i18n::n;
use crate::routes::{Answer, Ctx, done};

/// A small star of the latest reading (agreed scores, else the client's),
/// drawn for sighted people; the card's text says the same.
fn mini_star(sum: &JournalSummary) -> String {
    let (min, max) = sum.scale;
    let span = f64::from(max.saturating_sub(min).max(1));
    let count = sum.latest.len().max(1);
    let point = |i: usize, v: Option<u8>| {
        let frac = v.map_or(0.0, |v| {
            (f64::from(v.saturating_sub(min)) + 1.0) / (span + 1.0)
        });
        let a = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / count as f64;
        (44.0 + 40.0 * frac * a.cos(), 44.0 + 40.0 * frac * a.sin())
    };
    let mut svg = String::from(
        r##"<svg class="mini" viewBox="0 0 88 88" aria-hidden="true" focusable="false"><circle cx="44" cy="44" r="40" fill="#f0f4f5" stroke="#aeb7bd"/>"##,
    );
    // The spokes: one path, not an element each (a caseload draws 200).
    svg.push_str(r##"<path stroke="#aeb7bd" d=""##);
    for i in 0..sum.latest.len() {
        let (x, y) = point(i, Some(max));
        let _ = write!(svg, "M44 44L{x:.1} {y:.1}");
    }
    svg.push_str(r##""/>"##);
    let pts: Vec<String> = sum
        .latest
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (x, y) = point(i, a.agreed.or(a.client));
            format!("{x:.1},{y:.1}")
        })
        .collect();
    if !pts.is_empty() {
        let _ = write!(
            svg,
            r##"<polygon points="{}" fill="#007f3b" fill-opacity="0.25" stroke="#007f3b" stroke-width="2"/>"##,
            pts.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

fn needs_attention(s: &JournalSummary, problem: bool) -> bool {
    s.conflicts > 0 || s.steps_due > 0 || problem
}

/// `GET /`: the journals, or first-run setup.
pub fn home(app: &App, ctx: &Ctx<'_>, q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    if app.identity().is_err() {
        return Ok(setup_page(ctx, None, &[]));
    }
    let mut items = Vec::new();
    for (row, summary) in app.summaries()? {
        let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
        items.push((row, summary.ok(), local));
    }
    let total = items.len();
    let filter = field(q, "q").map(str::to_lowercase);
    let attention = q.get("show").is_some_and(|v| v == "attention");
    let sort = q.get("sort").map_or("name", String::as_str);
    items.retain(|(row, sum, _)| {
        filter
            .as_ref()
            .is_none_or(|f| row.title.to_lowercase().contains(f))
            && (!attention
                || sum
                    .as_ref()
                    .is_some_and(|s| needs_attention(s, row.problem.is_some())))
    });
    match sort {
        "reading" => items
            .sort_by_key(|(_, s, _)| std::cmp::Reverse(s.as_ref().and_then(|s| s.last_reading))),
        "conflicts" => items.sort_by_key(|(_, s, _)| {
            std::cmp::Reverse(s.as_ref().map_or(0, |s| s.conflicts + s.steps_due))
        }),
        "review" => items.sort_by_key(|(_, s, _)| {
            s.as_ref()
                .and_then(|s| s.next_review)
                .map_or((1, None), |d| (0, Some(d)))
        }),
        _ => items.sort_by_key(|(r, _, _)| r.title.to_lowercase()),
    }
    let sort_option = |value: &str, key: &str| {
        html! { option value=(value) selected[sort == value] { (tr.t(key)) } }
    };
    let body = html! {
        h1 { (tr.t("journals-title")) }
        @if total == 0 {
            p { (tr.t("journals-none")) }
            p {
                a.button href="/new" { (tr.t("nav-new")) }
                a.button.secondary href="/join" { (tr.t("nav-join")) }
            }
            // Until a journal is here, this device can still become another
            // of the person's (a link) or get them back (a recovery code),
            // also after an attempt that failed.
            (super::devices::setup_other(ctx, &HashMap::new(), &[]))
        } @else {
            form.controls method="get" action="/" role="search" {
                div.field {
                    label for="q" { (tr.t("journals-filter")) }
                    input type="search" id="q" name="q" value=[field(q, "q")];
                }
                div.field {
                    label for="show" { (tr.t("journals-show")) }
                    select id="show" name="show" {
                        option value="all" selected[!attention] { (tr.t("journals-show-all")) }
                        option value="attention" selected[attention] { (tr.t("journals-show-attention")) }
                    }
                }
                div.field {
                    label for="sort" { (tr.t("journals-sort")) }
                    select id="sort" name="sort" {
                        (sort_option("name", "journals-sort-name"))
                        (sort_option("reading", "journals-sort-reading"))
                        (sort_option("conflicts", "journals-sort-attention"))
                        (sort_option("review", "journals-sort-review"))
                    }
                }
                button.secondary type="submit" { (tr.t("journals-apply")) }
            }
            p.hint role="status" { (tr.ta("journals-count", &[("shown", n(items.len())), ("total", n(total))])) }
            p { a href="/report" { (tr.t("journals-report")) } }
            ul.cards {
                @for (row, sum, local) in &items {
                    li.card {
                        @if let Some(sum) = sum {
                            (super::svg(mini_star(sum)))
                        } @else {
                            span {}
                        }
                        div {
                            h2 {
                                a href=(format!("/j/{}", row.doc)) {
                                    @if row.title.is_empty() { (tr.t("journal-joining")) } @else { (data(&row.title)) }
                                }
                            }
                            @if let Some(sum) = sum {
                                dl {
                                    dt { (tr.t("card-last-reading")) }
                                    dd { @match sum.last_reading { Some(d) => (d.to_string()), None => (tr.t("card-no-readings")) } }
                                    dt { (tr.t("card-conflicts")) }
                                    dd { (sum.conflicts) }
                                    dt { (tr.t("card-gaps")) }
                                    dd { (sum.gaps) }
                                    dt { (tr.t("card-steps-due")) }
                                    dd { (sum.steps_due) }
                                    dt { (tr.t("card-review")) }
                                    dd { @match sum.next_review { Some(d) => (d.to_string()), None => (tr.t("card-no-review")) } }
                                    dt { (tr.t("card-sync")) }
                                    dd { (sync_words(ctx, row.problem.as_deref(), *local)) }
                                }
                                @if needs_attention(sum, row.problem.is_some()) {
                                    p { span.tag.conflict { (tr.t("card-needs-attention")) } }
                                }
                            } @else {
                                p { (tr.t("journal-waiting-first-sync")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.page(tr.t("journals-title"), Section::Journals, None, None, body))
}

/// Where this device's edits to a journal stand, in words.
pub fn sync_words(ctx: &Ctx<'_>, problem: Option<&str>, local: usize) -> Markup {
    let tr = ctx.tr;
    html! {
        @if let Some(p) = problem {
            span.tag.conflict { (tr.t("sync-not-syncing")) } " " (p)
        } @else if local > 0 {
            span.tag.local { (tr.t("sync-local-only")) } " " (tr.ta("sync-local-count", &[("count", n(local))]))
        } @else {
            span.tag.ok { (tr.t("sync-at-relay")) }
        }
    }
}

fn setup_page(
    ctx: &Ctx<'_>,
    name: Option<&str>,
    errors: &[(String, String)],
) -> axum::response::Response {
    setup_body(ctx, name, errors, &HashMap::new(), &[])
}

/// The first-run page after a failed link or recovery: its errors on its
/// form.
pub fn setup_page_with(
    ctx: &Ctx<'_>,
    f: &HashMap<String, String>,
    errors: &[(String, String)],
) -> axum::response::Response {
    setup_body(ctx, None, &[], f, errors)
}

fn setup_body(
    ctx: &Ctx<'_>,
    name: Option<&str>,
    errors: &[(String, String)],
    other_f: &HashMap<String, String>,
    other_errors: &[(String, String)],
) -> axum::response::Response {
    let tr = ctx.tr;
    let body = html! {
        (error_summary(tr, other_errors))
        h1 { (tr.t("setup-title")) }
        p { (tr.t("setup-intro")) }
        (error_summary(tr, errors))
        form method="post" action="/setup" novalidate {
            (csrf(ctx.csrf))
            (form_field("name", Some("name-hint"), errors, html! {
                label for="name" { (tr.t("setup-name")) }
                p.hint id="name-hint" { (tr.t("setup-name-hint")) }
            }, |d| html! {
                input type="text" id="name" name="name" autocomplete="name" value=[name]
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
            }))
            button type="submit" { (tr.t("setup-continue")) }
        }
        (super::devices::setup_other(ctx, other_f, other_errors))
    };
    ctx.page(tr.t("setup-title"), Section::FirstRun, None, None, body)
}

/// `POST /setup`.
pub fn setup(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>) -> Answer {
    // Sent again (the page with the recovery code reloaded, or a second
    // tab): the identity is made; its journals are the next step.
    if app.identity().is_ok() {
        return done("/", "done-setup-already");
    }
    let name = field(f, "name").unwrap_or_default();
    match app.init(name) {
        Ok(_) => {
            // The recovery code, shown once; with no journal yet there is
            // nothing to sync, and new journals take it up as they sync.
            let (code, _) = app.new_recovery_code()?;
            super::devices::after_setup(ctx, &code)
        }
        Err(AppError::Invalid(_)) => Ok(setup_page(
            ctx,
            Some(name),
            &[("name".into(), ctx.tr.t("setup-name-error"))],
        )),
        Err(e) => Err(e.into()),
    }
}

fn new_page(
    app: &App,
    ctx: &Ctx<'_>,
    f: &HashMap<String, String>,
    errors: &[(String, String)],
) -> axum::response::Response {
    let tr = ctx.tr;
    // The relay this device's latest journal uses: most people have one.
    let usual = app
        .journals()
        .ok()
        .and_then(|j| j.into_iter().max_by_key(|r| r.created).map(|r| r.relay));
    // A form sent back keeps what was typed, blank included.
    let relay = match f.get("relay") {
        Some(typed) => Some(typed.clone()),
        None => usual,
    };
    let body = html! {
        h1 { (tr.t("new-title")) }
        (error_summary(tr, errors))
        form method="post" action="/new" novalidate {
            (csrf(ctx.csrf))
            (form_field("client_name", Some("client_name-hint"), errors, html! {
                label for="client_name" { (tr.t("new-client-name")) }
                p.hint id="client_name-hint" { (tr.t("new-client-name-hint")) }
            }, |d| html! {
                input type="text" id="client_name" name="client_name" value=[field(f, "client_name")]
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
            }))
            (form_field("relay", Some("relay-hint"), errors, html! {
                label for="relay" { (tr.t("new-relay")) }
                p.hint id="relay-hint" { (tr.t("new-relay-hint")) }
            }, |d| html! {
                input type="text" id="relay" name="relay" spellcheck="false" autocapitalize="off" value=[relay]
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
            }))
            fieldset {
                legend { (tr.t("new-instrument")) }
                div.radios {
                    div.radio {
                        input type="radio" id="instrument-rs" name="instrument" value="recovery-star" checked[field(f, "instrument") != Some("starling-compass")];
                        label for="instrument-rs" { (tr.t("instrument-recovery-star")) }
                    }
                    div.radio {
                        input type="radio" id="instrument-sc" name="instrument" value="starling-compass" checked[field(f, "instrument") == Some("starling-compass")];
                        label for="instrument-sc" { (tr.t("instrument-compass")) }
                    }
                }
            }
            button type="submit" { (tr.t("new-create")) }
        }
    };
    ctx.page(tr.t("new-title"), Section::Add, None, None, body)
}

/// `GET /new`.
pub fn new_form(app: &App, ctx: &Ctx<'_>, _q: &HashMap<String, String>) -> Answer {
    Ok(new_page(app, ctx, &HashMap::new(), &[]))
}

/// `POST /new`: the journal, and its first reading.
pub fn new_journal(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>) -> Answer {
    let Some(relay) = field(f, "relay") else {
        let why = ctx.tr.t("new-relay-missing");
        return Ok(new_page(app, ctx, f, &[("relay".into(), why)]));
    };
    let instrument = field(f, "instrument").unwrap_or("recovery-star");
    match app.new_journal(relay, field(f, "client_name"), instrument) {
        Ok(doc) => done(&format!("/j/{doc}"), "done-created"),
        Err(AppError::Invalid(text)) => {
            let which = if text.contains("relay") {
                "relay"
            } else {
                "client_name"
            };
            Ok(new_page(app, ctx, f, &[(which.into(), text)]))
        }
        Err(e) => Err(e.into()),
    }
}

fn join_page(ctx: &Ctx<'_>, errors: &[(String, String)]) -> axum::response::Response {
    let tr = ctx.tr;
    let body = html! {
        h1 { (tr.t("join-title")) }
        p { (tr.t("join-intro")) }
        (error_summary(tr, errors))
        form method="post" action="/join" novalidate {
            (csrf(ctx.csrf))
            div.field.has-error[!errors.is_empty()] {
                label for="link" { (tr.t("join-link")) }
                p.hint id="link-hint" { (tr.t("join-link-hint")) }
                @for (_, e) in errors { p.error { (e) } }
                textarea id="link" name="link" rows="3" spellcheck="false" autocapitalize="off" aria-describedby="link-hint" {}
            }
            button type="submit" { (tr.t("join-button")) }
        }
    };
    ctx.page(tr.t("join-title"), Section::Add, None, None, body)
}

/// `GET /join`.
pub fn join_form(_app: &App, ctx: &Ctx<'_>, _q: &HashMap<String, String>) -> Answer {
    Ok(join_page(ctx, &[]))
}

/// `POST /join`.
pub fn join(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>) -> Answer {
    let link = field(f, "link").unwrap_or_default();
    match app.join(link, false) {
        Ok(JoinOutcome::Joined { row, .. }) => done(&format!("/j/{}", row.doc), "done-joined"),
        Ok(JoinOutcome::AlreadyMember { row }) => {
            done(&format!("/j/{}", row.doc), "done-already-member")
        }
        Ok(_) => done("/", "done-joined"),
        Err(e @ (AppError::Invalid(_) | AppError::SyncIncomplete(_))) => {
            Ok(join_page(ctx, &[("link".into(), crate::routes::chain(&e))]))
        }
        Err(AppError::Client(e)) => {
            let text = crate::routes::chain(&e);
            Ok(join_page(ctx, &[("link".into(), text)]))
        }
        Err(e) => Err(e.into()),
    }
}
