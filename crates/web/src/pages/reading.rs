//! One reading: every area with the three perspectives, gaps and conflicts
//! (who said what, settled in one step), sign-off; and one area at a time
//! on its ladder.

use std::collections::HashMap;

use maud::{Markup, html};
use recovery_journal::{
    AreaView, FieldPath, Instrument, JournalView, Perspective, ReadingView, Score, SignOff,
};
use starling_app::{App, ScoreInput};

use super::forms::field;
use super::journal::{Tab, attribution, header};
use super::{Section, csrf, data, error_summary, form_field, post_button};
use crate::i18n::{n, s};
use crate::routes::{Answer, Ctx, done, refusal};

fn cell(ctx: &Ctx<'_>, score: &Score) -> Markup {
    html! {
        @if let Some(v) = score.value {
            (v)
        } @else if !score.conflict.is_empty() {
            span.tag.conflict { (ctx.tr.t("tag-conflict")) }
            " "
            (score.conflict.iter().map(|c| c.value.as_str()).collect::<Vec<_>>().join(" / "))
        } @else {
            span { "–" } span.visually-hidden { (ctx.tr.t("not-scored")) }
        }
    }
}

fn signoff_words(ctx: &Ctx<'_>, view: &JournalView, r: &ReadingView) -> String {
    let tr = ctx.tr;
    let names = |ds: &[recovery_journal::DeviceId]| {
        let names: Vec<String> = ds
            .iter()
            .map(|d| {
                view.member_name(*d)
                    .map_or_else(|| tr.t("unknown-device"), str::to_owned)
            })
            .collect();
        s(names.join(", "))
    };
    match &r.signoff {
        SignOff::Unsigned => tr.t("signoff-unsigned"),
        SignOff::Partial { signed_by } => tr.ta(
            "signoff-partial",
            &[("count", n(signed_by.len())), ("who", names(signed_by))],
        ),
        SignOff::SignedOff { .. } => tr.t("signoff-done"),
        SignOff::Outdated { signed_by, changed } => tr.ta(
            "signoff-outdated",
            &[
                ("who", names(signed_by)),
                ("fields", s(changed_words(ctx, r, changed))),
            ],
        ),
        SignOff::Amended { changed, .. } => tr.ta(
            "signoff-amended",
            &[("fields", s(changed_words(ctx, r, changed)))],
        ),
    }
}

/// The fields a sign-off names as changed (`work.agreed`), in words:
/// "Work (Agreed)".
fn changed_words(ctx: &Ctx<'_>, r: &ReadingView, changed: &[String]) -> String {
    let tr = ctx.tr;
    let words: Vec<String> = changed
        .iter()
        .map(|f| match f.split_once('.') {
            Some((area, what)) => {
                let area = r
                    .areas
                    .iter()
                    .find(|a| a.area == area)
                    .map_or_else(|| area.to_owned(), |a| a.name.clone());
                let what = match what {
                    "note" => tr.t("signoff-field-note"),
                    p => tr.t(&format!("perspective-{p}")),
                };
                format!("{area} ({what})")
            }
            None => match f.as_str() {
                "date" => tr.t("reading-date"),
                "mode" => tr.t("reading-mode"),
                "instrument" => tr.t("signoff-field-instrument"),
                other => other.to_owned(),
            },
        })
        .collect();
    words.join(", ")
}

/// `GET /j/{doc}/r/{rid}`.
pub fn page(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    rid: &str,
    _q: &HashMap<String, String>,
) -> Answer {
    page_with(app, ctx, doc, rid, None, &[])
}

/// The reading page; with the date form's value and errors after a refused
/// change of date.
fn page_with(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    rid: &str,
    typed: Option<&str>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let journal = app.read(&row)?;
    let view = journal.view.clone();
    let rid = app.reading(&journal.view, Some(rid))?;
    let Some(r) = view.reading(&rid) else {
        return Err(crate::routes::Problem::NotFound(tr.t("problem-no-reading")));
    };
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    // This device signed what it says now.
    let signed_by_me = match (&r.signoff, app.device()) {
        (SignOff::Partial { signed_by }, Ok(me)) => signed_by.contains(&me),
        _ => false,
    };
    let date = r
        .sort_date()
        .map(|d| d.to_string())
        .unwrap_or_else(|| tr.t("undated"));
    let mode = r.mode.value.map(|m| m.to_string()).unwrap_or_default();
    let back = format!("/j/{}/r/{}", row.doc, rid);
    let body = html! {
        (header(ctx, &row, Tab::Reading, local))
        h2 { (tr.ta("reading-heading", &[("date", s(date.clone())), ("mode", s(tr.t(&format!("mode-{mode}"))))])) }
        (error_summary(tr, errors))
        @if r.deleted_while_edited {
            div.notice.warn { p { (tr.t("reading-deleted-while-edited")) } }
        }
        p { (tr.t("signoff-label")) " " strong { (signoff_words(ctx, &view, r)) } }
        (super::conflicts::boxes(ctx, &row.doc, &view, &back, |p| in_reading(p, &rid)))
        div.table-scroll role="region" tabindex="0" aria-label=(tr.t("reading-table")) {
            table {
                caption { (tr.t("reading-table")) }
                thead { tr {
                    th scope="col" { (tr.t("area")) }
                    th.num scope="col" { (tr.t("perspective-client")) }
                    th.num scope="col" { (tr.t("perspective-worker")) }
                    th.num scope="col" { (tr.t("perspective-agreed")) }
                    th scope="col" { (tr.t("stage")) }
                    th scope="col" { (tr.t("reading-marks")) }
                    th scope="col" { span.visually-hidden { (tr.t("actions")) } }
                } }
                tbody {
                    @for a in &r.areas {
                        tr {
                            th scope="row" { (data(&a.name)) }
                            td.num { (cell(ctx, &a.client)) }
                            td.num { (cell(ctx, &a.worker)) }
                            td.num { (cell(ctx, &a.agreed)) }
                            td { @if let Some(st) = &a.stage { (data(st)) } }
                            td {
                                @if let Some(g) = a.gap { span.tag.gap { (tr.ta("tag-gap", &[("gap", n(usize::from(g)))])) } }
                                @if [&a.client, &a.worker, &a.agreed].iter().any(|s| !s.flags.is_empty()) { span.tag.conflict { (tr.t("tag-check-author")) } }
                                @if !a.note.is_empty() { p.hint.note-text { (tr.t("note-label")) " " (data(&a.note)) } }
                            }
                            td { a href=(format!("/j/{}/r/{}/a/{}", row.doc, rid, a.area)) { (tr.t("reading-change")) span.visually-hidden { " " (data(&a.name)) } } }
                        }
                    }
                }
            }
        }
        @if !matches!(r.signoff, SignOff::SignedOff { .. }) {
            h3 { (tr.t("signoff-title")) }
            @if signed_by_me {
                p { (tr.t("signoff-you-signed")) }
            } @else {
                p.hint { (tr.t("signoff-hint")) }
                (post_button(&format!("/j/{}/signoff", row.doc), ctx.csrf, &tr.t("signoff-button"), "", &[("reading", rid.as_str())]))
            }
        }
        p.no-print { a href=(format!("/j/{}/print?reading={}", row.doc, rid)) { (tr.t("print-link")) } }
        div.no-print {
            h3 { (tr.t("reading-date-title")) }
            form method="post" action=(format!("/j/{}/r/{}/date", row.doc, rid)) novalidate {
                (csrf(ctx.csrf))
                (form_field("date", Some("date-hint"), errors, html! {
                    label for="date" { (tr.t("reading-date-taken")) }
                    p.hint id="date-hint" { (tr.t("reading-date-taken-hint")) }
                }, |d| html! {
                    input.short type="date" id="date" name="date" required
                        value=(typed.map_or_else(|| r.sort_date().map(|d| d.to_string()).unwrap_or_default(), str::to_owned))
                        aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                }))
                button.secondary type="submit" { (tr.t("reading-date-change")) }
            }
            h3 { (tr.t("reading-delete-title")) }
            p.hint { (tr.t("reading-delete-hint")) }
            (post_button(&format!("/j/{}/r/{}/delete", row.doc, rid), ctx.csrf, &tr.t("reading-delete-button"), "warning", &[]))
        }
    };
    Ok(ctx.page(
        tr.ta("reading-page-title", &[("date", s(date))]),
        Section::Journal,
        Some(&row.doc),
        attribution(&journal, &view),
        body,
    ))
}

fn ladder(
    name: &str,
    instrument: &Instrument,
    current: Option<u8>,
    none_label: Option<String>,
) -> Markup {
    html! {
        div.ladder {
            @if let Some(label) = none_label {
                div.radio {
                    input type="radio" id=(format!("{name}-none")) name=(name) value="" checked[current.is_none()];
                    label for=(format!("{name}-none")) { (label) }
                }
            }
            @for (i, stage) in instrument.stages.iter().enumerate() {
                // Each step is described by its stage's name.
                @let stage_id = format!("{name}-stage-{i}");
                p.stage id=(stage_id) { span translate="no" { (stage.name) } }
                @for v in stage.min..=stage.max {
                    div.radio {
                        input type="radio" id=(format!("{name}-{v}")) name=(name) value=(v) checked[current == Some(v)] aria-describedby=(stage_id);
                        label for=(format!("{name}-{v}")) { (v) }
                    }
                }
            }
        }
    }
}

/// `GET /j/{doc}/r/{rid}/a/{area}` (and the form again with errors).
pub fn area(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    rid: &str,
    area: &str,
    f: &HashMap<String, String>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let journal = app.read(&row)?;
    let view = journal.view.clone();
    let rid = app.reading(&journal.view, Some(rid))?;
    let not_found = || crate::routes::Problem::NotFound(tr.t("problem-no-reading"));
    let r = view.reading(&rid).ok_or_else(not_found)?;
    let a: &AreaView = r.area(area).ok_or_else(not_found)?;
    let instrument = journal
        .instrument(&r.instrument)
        .cloned()
        .ok_or_else(not_found)?;
    let mine = app.my_perspective(&row, &journal.view)?;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let date = r
        .sort_date()
        .map(|d| d.to_string())
        .unwrap_or_else(|| tr.t("undated"));
    let back = format!("/j/{}/r/{}", row.doc, rid);
    let body = html! {
        (header(ctx, &row, Tab::Reading, local))
        p.crumbs { a href=(back) { (tr.ta("reading-back", &[("date", s(date.clone()))])) } }
        h2 { (data(&a.name)) }
        (error_summary(tr, errors))
        form method="post" action=(format!("/j/{}/r/{}/a/{}", row.doc, rid, a.area)) novalidate {
            (csrf(ctx.csrf))
            @if let Some(p) = mine {
                fieldset id="mine" {
                    legend { (tr.t(match p { Perspective::Client => "score-yours-client", _ => "score-yours-worker" })) }
                    p.hint { (tr.t("score-hint")) }
                    (ladder("mine", &instrument, a.score(p).value, None))
                }
            }
            fieldset id="agreed" {
                legend { (tr.t("score-agreed")) }
                p.hint { (tr.t("score-agreed-hint")) }
                (ladder("agreed", &instrument, a.agreed.value, Some(tr.t("score-not-agreed"))))
            }
            div.field {
                label for="note" { (tr.t("note-area")) }
                textarea id="note" name="note" rows="4" { (field(f, "note").unwrap_or(&a.note)) }
            }
            button type="submit" { (tr.t("save")) }
            a.button.secondary href=(back) { (tr.t("cancel")) }
        }
    };
    Ok(ctx.page(
        a.name.clone(),
        Section::Journal,
        Some(&row.doc),
        Some(instrument.attribution),
        body,
    ))
}

/// `POST /j/{doc}/r/{rid}/a/{area}`.
pub fn save_area(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    rid: &str,
    area: &str,
    f: &HashMap<String, String>,
) -> Answer {
    let row = app.pick(Some(doc))?;
    let journal = app.read(&row)?;
    let view = journal.view.clone();
    let reading = app.reading(&journal.view, Some(rid))?;
    let current = view.reading(&reading).and_then(|r| r.area(area)).cloned();
    let mine = app.my_perspective(&row, &journal.view)?;
    drop(journal);
    let mut errors = Vec::new();
    let parse = |name: &str| -> Result<Option<i64>, ()> {
        match field(f, name) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| ()),
        }
    };
    let write = |p: Perspective, v: i64| {
        app.score(
            &row,
            &ScoreInput {
                area: area.to_owned(),
                score: v,
                perspective: Some(p),
                reading: Some(reading.to_string()),
                note: None,
            },
        )
    };
    let mut wrote = false;
    if let Some(p) = mine {
        match parse("mine") {
            Ok(Some(v)) if current.as_ref().and_then(|a| a.score(p).value) != Some(v as u8) => {
                if let Err(e) = write(p, v) {
                    errors.push(("mine".to_owned(), crate::routes::chain(&e)));
                } else {
                    wrote = true;
                }
            }
            Ok(_) => {}
            Err(()) => errors.push(("mine".to_owned(), ctx.tr.t("score-invalid"))),
        }
    }
    match parse("agreed") {
        Ok(Some(v)) if current.as_ref().and_then(|a| a.agreed.value) != Some(v as u8) => {
            if let Err(e) = write(Perspective::Agreed, v) {
                errors.push(("agreed".to_owned(), crate::routes::chain(&e)));
            } else {
                wrote = true;
            }
        }
        Ok(_) => {}
        Err(()) => errors.push(("agreed".to_owned(), ctx.tr.t("score-invalid"))),
    }
    let note = f
        .get("note")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    if current.as_ref().is_some_and(|a| a.note != note) {
        match app.area_note(&row, Some(reading.as_str()), area, &note) {
            Ok(()) => wrote = true,
            Err(e) => errors.push(("note".to_owned(), crate::routes::chain(&e))),
        }
    }
    if !errors.is_empty() {
        return self::area(app, ctx, doc, rid, area, f, &errors);
    }
    let key = if wrote { "done-saved" } else { "done-nothing" };
    done(&format!("/j/{}/r/{}", row.doc, reading), key)
}

/// `POST /j/{doc}/reading`: a date that cannot be a reading's (after
/// today, not a date) shows the journal's page again, saying why.
pub fn new_reading(app: &App, ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    match app.new_reading(
        &row,
        field(f, "date"),
        field(f, "mode").unwrap_or("joint"),
        "recovery-star",
    ) {
        Ok((id, _, _)) => done(&format!("/j/{}/r/{}", row.doc, id), "done-reading"),
        Err(e) => {
            let errors = [("date".to_owned(), refusal(e)?)];
            super::journal::overview_with(app, ctx, doc, &HashMap::new(), f, &errors)
        }
    }
}

/// `POST /j/{doc}/signoff`.
pub fn sign_off(app: &App, _ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let (rid, _) = app.sign_off(&row, field(f, "reading"))?;
    done(&format!("/j/{}/r/{}", row.doc, rid), "done-signed")
}

/// `POST /j/{doc}/r/{rid}/date`: change the date a reading was taken; a
/// refused date shows the page again, saying why.
pub fn set_date(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    rid: &str,
    f: &HashMap<String, String>,
) -> Answer {
    let row = app.pick(Some(doc))?;
    let typed = field(f, "date").unwrap_or_default();
    let error = if typed.is_empty() {
        Some(ctx.tr.t("reading-date-missing"))
    } else {
        match app.set_reading_date(&row, Some(rid), typed) {
            Ok((id, _)) => return done(&format!("/j/{}/r/{}", row.doc, id), "done-saved"),
            Err(e) => Some(refusal(e)?),
        }
    };
    let errors: Vec<(String, String)> = error.into_iter().map(|e| ("date".to_owned(), e)).collect();
    page_with(app, ctx, doc, rid, Some(typed), &errors)
}

/// `POST /j/{doc}/r/{rid}/delete`: delete a reading for everyone (the
/// deleted readings page brings it back).
pub fn delete(
    app: &App,
    _ctx: &Ctx<'_>,
    doc: &str,
    rid: &str,
    _f: &HashMap<String, String>,
) -> Answer {
    let row = app.pick(Some(doc))?;
    app.delete_reading(&row, rid)?;
    done(&format!("/j/{}/deleted", row.doc), "done-reading-deleted")
}

/// `GET /j/{doc}/deleted`: the readings deleted, each with a button to
/// bring it back. (It loads the document: a page seldom opened.)
pub fn deleted(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let gone = app.deleted_readings(&row)?;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let body = html! {
        (header(ctx, &row, Tab::Overview, local))
        h2 { (tr.t("deleted-title")) }
        @if gone.is_empty() {
            p { (tr.t("deleted-none")) }
        } @else {
            p.hint { (tr.t("deleted-hint")) }
            ul {
                @for (id, date) in &gone {
                    @let date = date.map(|d| d.to_string()).unwrap_or_else(|| tr.t("undated"));
                    li {
                        (tr.ta("deleted-reading", &[("date", s(date.clone()))])) " "
                        (post_button(&format!("/j/{}/deleted", row.doc), ctx.csrf,
                            &tr.ta("deleted-restore", &[("date", s(date))]), "secondary", &[("reading", id.as_str())]))
                    }
                }
            }
        }
        p { a href=(format!("/j/{}", row.doc)) { (tr.t("deleted-back")) } }
    };
    Ok(ctx.page(
        tr.t("deleted-title"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}

/// `POST /j/{doc}/deleted`: bring a deleted reading back.
pub fn restore(app: &App, _ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let (id, _) = app.restore_reading(&row, field(f, "reading").unwrap_or_default())?;
    done(&format!("/j/{}/r/{}", row.doc, id), "done-reading-restored")
}

/// Whether a conflict is in reading `rid` (its date, a score, a note, or
/// its deletion).
fn in_reading(path: &FieldPath, rid: &recovery_journal::ReadingId) -> bool {
    match path {
        FieldPath::Score(id, _, _)
        | FieldPath::AreaNote(id, _)
        | FieldPath::Reading(id, _)
        | FieldPath::Deleted(recovery_journal::ItemRef::Reading(id)) => id == rid,
        _ => false,
    }
}
