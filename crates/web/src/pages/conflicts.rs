//! Differences to settle: every open conflict of a journal, each said in
//! words (which reading, goal, step or note, and what of it), who said
//! what, and a button for each value to keep. A reading's page shows its
//! own; `/j/{doc}/conflicts` shows them all, plans and notes included.

use std::collections::HashMap;

use maud::{Markup, html};
use recovery_journal::{Candidate, Conflict, FieldPath, ItemRef, JournalView, Perspective};
use starling_app::App;

use super::forms::field;
use super::journal::{Tab, header};
use super::{Section, post_button_for};
use crate::i18n::s;
use crate::routes::{Answer, Ctx, done};

/// Longest piece of a note's text that names it.
const NOTE_WORDS: usize = 40;

/// `GET /j/{doc}/conflicts`.
pub fn page(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let journal = app.read(&row)?;
    let view = &journal.view;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let back = format!("/j/{}/conflicts", row.doc);
    let body = html! {
        (header(ctx, &row, Tab::Overview, local))
        h2 { (tr.t("conflicts-title")) }
        @if view.conflicts.is_empty() {
            p { (tr.t("conflicts-none")) }
        } @else {
            p.hint { (tr.t("conflicts-hint")) }
            @for c in &view.conflicts {
                (conflict_box(ctx, &row.doc, view, c, &back, true))
            }
        }
    };
    Ok(ctx.page(
        tr.t("conflicts-title"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}

/// One conflict: what it is, who said what, and a button per value to keep
/// (for an item deleted on one device and changed on another: keep it or
/// delete it). `where_` adds which reading, goal or note it is in.
pub(crate) fn conflict_box(
    ctx: &Ctx<'_>,
    doc: &str,
    view: &JournalView,
    c: &Conflict,
    back: &str,
    where_: bool,
) -> Markup {
    let tr = ctx.tr;
    let action = format!("/j/{doc}/resolve");
    let path = c.path.to_string();
    // Each button names what it settles, for those who hear it.
    let what = label(ctx, view, &c.path, where_);
    html! {
        div.conflict-box {
            p { strong { (what) } }
            @if let FieldPath::Deleted(item) = &c.path {
                ul {
                    @for cand in &c.candidates {
                        li { (tr.ta(if cand.value == "deleted" { "conflict-deleted-by" } else { "conflict-edited-by" }, &[("who", s(who(ctx, view, cand)))])) }
                    }
                }
                @let (keep, delete) = match item {
                    ItemRef::Reading(_) => ("conflict-keep-reading", "conflict-delete-reading"),
                    _ => ("conflict-keep-item", "conflict-delete-item"),
                };
                @let after_delete = match item {
                    ItemRef::Reading(_) => format!("/j/{doc}/deleted"),
                    _ => back.to_owned(),
                };
                (post_button_for(&action, ctx.csrf, &tr.t(keep), Some(&what), "", &[("path", &path), ("value", "keep"), ("back", back)]))
                (post_button_for(&action, ctx.csrf, &tr.t(delete), Some(&what), "warning", &[("path", &path), ("value", "delete"), ("back", &after_delete)]))
            } @else {
                ul {
                    @for cand in &c.candidates {
                        li { (tr.ta("conflict-said", &[("who", s(who(ctx, view, cand))), ("value", s(value_words(ctx, &c.path, &cand.value)))])) }
                    }
                }
                @for cand in &c.candidates {
                    (post_button_for(&action, ctx.csrf,
                        &tr.ta("conflict-keep", &[("value", s(value_words(ctx, &c.path, &cand.value)))]), Some(&what), "", &[("path", &path), ("value", &cand.value), ("back", back)]))
                }
            }
        }
    }
}

/// Who wrote a value, by the name the journal knows them by.
fn who(ctx: &Ctx<'_>, view: &JournalView, c: &Candidate) -> String {
    c.author
        .and_then(|a| view.member_name(a).map(str::to_owned))
        .unwrap_or_else(|| ctx.tr.t("unknown-device"))
}

/// A perspective's (or a step owner's) name.
fn whose(ctx: &Ctx<'_>, p: &str) -> String {
    ctx.tr.t(&format!("perspective-{p}"))
}

/// What a conflict is about, in words: "Work: Agreed score", "The target
/// of the goal “Find volunteering”"; with `where_`, which reading too.
pub(crate) fn label(ctx: &Ctx<'_>, view: &JournalView, path: &FieldPath, where_: bool) -> String {
    let tr = ctx.tr;
    let goal = |g| {
        view.goals
            .iter()
            .find(|x| &x.id == g)
            .map_or_else(String::new, |x| x.title.clone())
    };
    let step = |g, st| {
        view.goals
            .iter()
            .find(|x| &x.id == g)
            .and_then(|x| x.steps.iter().find(|y| &y.id == st))
            .map_or_else(String::new, |y| y.text.clone())
    };
    let note = |n| {
        view.notes
            .iter()
            .find(|x| &x.id == n)
            .map_or_else(String::new, |x| short_text(&x.text))
    };
    let (what, reading) = match path {
        FieldPath::Score(r, area, p) => {
            let name = area_name(view, r, area);
            let p = match p {
                Perspective::Client => "client",
                Perspective::Worker => "worker",
                Perspective::Agreed => "agreed",
            };
            let words = tr.ta(
                "conflict-score",
                &[("area", s(name)), ("perspective", s(whose(ctx, p)))],
            );
            (words, Some(r))
        }
        FieldPath::Reading(r, f) => (
            match *f {
                "date" | "mode" | "review_date" => tr.t(&format!("conflict-reading-{f}")),
                other => tr.ta("conflict-reading", &[("field", s(other))]),
            },
            Some(r),
        ),
        FieldPath::AreaNote(r, area) => (
            tr.ta(
                "conflict-area-note",
                &[("area", s(area_name(view, r, area)))],
            ),
            Some(r),
        ),
        FieldPath::GoalTarget(g) => (tr.ta("conflict-goal-target", &[("goal", s(goal(g)))]), None),
        FieldPath::Step(g, st, f) => (
            tr.ta(&format!("conflict-step-{f}"), &[("step", s(step(g, st)))]),
            None,
        ),
        FieldPath::NoteDate(n) => (tr.ta("conflict-note-date", &[("note", s(note(n)))]), None),
        FieldPath::Deleted(ItemRef::Reading(r)) => (tr.t("conflict-reading-deleted"), Some(r)),
        FieldPath::Deleted(ItemRef::Goal(g)) => (
            tr.ta("conflict-goal-deleted", &[("goal", s(goal(g)))]),
            None,
        ),
        FieldPath::Deleted(ItemRef::Step(g, st)) => (
            tr.ta("conflict-step-deleted", &[("step", s(step(g, st)))]),
            None,
        ),
        FieldPath::Deleted(ItemRef::Note(n)) => (
            tr.ta("conflict-note-deleted", &[("note", s(note(n)))]),
            None,
        ),
    };
    match reading.filter(|_| where_) {
        Some(r) => {
            let date = view
                .reading(r)
                .and_then(|r| r.sort_date())
                .map_or_else(|| tr.t("undated"), |d| d.to_string());
            tr.ta(
                "conflict-in-reading",
                &[("what", s(what)), ("date", s(date))],
            )
        }
        None => what,
    }
}

/// An area's name in a reading (its id if the reading does not have it).
fn area_name(view: &JournalView, r: &recovery_journal::ReadingId, area: &str) -> String {
    view.reading(r)
        .and_then(|r| r.area(area))
        .map_or_else(|| area.to_owned(), |a| a.name.clone())
}

/// The start of a note's text, enough to know it by.
fn short_text(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= NOTE_WORDS && !text.contains('\n') {
        return line.to_owned();
    }
    let start: String = line.chars().take(NOTE_WORDS).collect();
    format!("{}…", start.trim_end())
}

/// A value as people say it: a step done or not, whose step it is.
fn value_words(ctx: &Ctx<'_>, path: &FieldPath, value: &str) -> String {
    match (path, value) {
        (FieldPath::Step(_, _, "done"), "true") => ctx.tr.t("conflict-value-done"),
        (FieldPath::Step(_, _, "done"), "false") => ctx.tr.t("conflict-value-not-done"),
        (FieldPath::Step(_, _, "owner"), o) => ctx.tr.t(&format!("owner-{o}")),
        _ => value.to_owned(),
    }
}

/// `POST /j/{doc}/resolve`: settle a conflict with the value chosen.
pub fn resolve(app: &App, _ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let path = field(f, "path").unwrap_or_default();
    let value = field(f, "value").unwrap_or_default();
    let back = field(f, "back")
        .filter(|b| b.starts_with("/j/"))
        .unwrap_or("/");
    match app.resolve(&row, path, value) {
        Ok(_) => done(back, "done-settled"),
        // Settled meanwhile (another tab, another device): the page shows
        // the value kept.
        Err(e) if e.kind() == starling_app::ErrorKind::NotFound => {
            done(back, "done-already-settled")
        }
        Err(e) => Err(e.into()),
    }
}

/// The conflicts `pred` picks, each in a box, with `back` as where to
/// return; nothing when there are none.
pub(crate) fn boxes(
    ctx: &Ctx<'_>,
    doc: &str,
    view: &JournalView,
    back: &str,
    pred: impl Fn(&FieldPath) -> bool,
) -> Markup {
    let tr = ctx.tr;
    let picked: Vec<&Conflict> = view.conflicts.iter().filter(|c| pred(&c.path)).collect();
    html! {
        @if !picked.is_empty() {
            h3 { (tr.t("conflicts-title")) }
            p.hint { (tr.t("conflicts-hint")) }
            @for c in picked {
                (conflict_box(ctx, doc, view, c, back, false))
            }
        }
    }
}
