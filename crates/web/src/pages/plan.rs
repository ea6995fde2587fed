//! The action plan: goals per area, steps (who, by when, done), the review
//! date, and the steps carried forward from earlier readings.

use std::collections::HashMap;

use maud::html;
use recovery_journal::{FieldPath, ItemRef};
use starling_app::App;

use super::forms::field;
use super::journal::{Tab, attribution, header};
use super::{Section, csrf, data, error_summary, form_field, post_button, post_button_for};
use crate::i18n::s;
use crate::routes::{Answer, Ctx, done, refusal, with_query};

/// `GET /j/{doc}/plan` (`?reading=` for an earlier reading's plan).
pub fn page(app: &App, ctx: &Ctx<'_>, doc: &str, q: &HashMap<String, String>) -> Answer {
    page_with(app, ctx, doc, q, &HashMap::new(), &[])
}

/// The plan page; after a refused form, with what was typed in it (`f`)
/// and why, by the id of the field.
fn page_with(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    q: &HashMap<String, String>,
    f: &HashMap<String, String>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    // What was typed, in the form it was typed in (`action`, and for a
    // step the goal).
    let typed = |action: &str, goal: Option<&str>, name: &str| -> String {
        let same =
            field(f, "action") == Some(action) && goal.is_none_or(|g| field(f, "goal") == Some(g));
        if same {
            f.get(name).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let row = app.pick(Some(doc))?;
    let journal = app.read(&row)?;
    let view = journal.view.clone();
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let reading = app.reading(&journal.view, field(q, "reading")).ok();
    let plan = reading.as_ref().and_then(|r| view.plan(r));
    let areas: Vec<(String, String)> = view
        .latest_reading()
        .map(|r| {
            r.areas
                .iter()
                .map(|a| (a.area.clone(), a.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let base = format!("/j/{}/plan", row.doc);
    let today = starling_app::today();
    // Just removed: a way to bring it back.
    let undo: Option<Vec<(&str, &str)>> = match (field(q, "removed-goal"), field(q, "removed-step"))
    {
        (Some(goal), None) => Some(vec![("action", "restore-goal"), ("goal", goal)]),
        (Some(goal), Some(step)) => Some(vec![
            ("action", "restore-step"),
            ("goal", goal),
            ("step", step),
        ]),
        _ => None,
    };
    let body = html! {
        (header(ctx, &row, Tab::Plan, local))
        @match (&reading, &plan) {
            (Some(rid), Some(plan)) => {
                h2 { (tr.t("plan-title")) }
                @if let Some(undo) = undo {
                    div.notice {
                        (post_button(&base, ctx.csrf, &tr.t("plan-undo-remove"), "secondary", &undo))
                    }
                }
                p {
                    (tr.t("plan-review")) " "
                    strong { @match plan.review_date { Some(d) => (d.to_string()), None => (tr.t("card-no-review")) } }
                }
                (error_summary(tr, errors))
                form method="post" action=(base) novalidate {
                    (csrf(ctx.csrf))
                    input type="hidden" name="action" value="review";
                    input type="hidden" name="reading" value=(rid.as_str());
                    (form_field("review", None, errors, html! {
                        label for="review" { (tr.t("plan-review-set")) }
                    }, |d| html! {
                        input.short type="date" id="review" name="date" value=(typed("review", None, "date"))
                            aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                    }))
                    button.secondary type="submit" { (tr.t("save")) }
                }
                (super::conflicts::boxes(ctx, &row.doc, &view, &format!("{base}?reading={rid}"), |p| match p {
                    FieldPath::Reading(r, "review_date") => r == rid,
                    FieldPath::GoalTarget(_)
                    | FieldPath::Step(..)
                    | FieldPath::Deleted(ItemRef::Goal(_) | ItemRef::Step(..)) => true,
                    _ => false,
                }))
                @for (heading, goals) in [(tr.t("plan-goals"), &plan.goals), (tr.t("plan-carried"), &plan.carried_forward)] {
                    @if !goals.is_empty() {
                        h3 { (heading) }
                        @for g in goals {
                            div.panel {
                                h4 { (data(&g.title)) }
                                p.hint {
                                    (tr.t("area")) ": " (data(&super::area_name(&view, &g.area)))
                                    @if let Some(t) = g.target.value { " · " (tr.t("plan-target")) " " (t) }
                                }
                                @if g.steps.is_empty() {
                                    p { (tr.t("plan-no-steps")) }
                                } @else {
                                    ul {
                                        @for st in &g.steps {
                                            li {
                                                @if st.done.value == Some(true) { span.tag.ok { (tr.t("plan-done")) } " " }
                                                (data(&st.text))
                                                " ("
                                                (st.owner.value.map(|o| tr.t(&format!("owner-{o}"))).unwrap_or_default())
                                                @if let Some(d) = st.due.value { ", " (tr.ta("plan-due", &[("date", s(d.to_string()))])) }
                                                ") "
                                                @if st.done.value != Some(true) && st.due.value.is_some_and(|d| d < today) {
                                                    span.tag.conflict { (tr.t("tag-overdue")) } " "
                                                }
                                                @if st.done.value == Some(true) {
                                                    (post_button_for(&base, ctx.csrf, &tr.t("plan-mark-undone"), Some(&st.text), "link", &[("action", "undone"), ("goal", g.id.as_str()), ("step", st.id.as_str()), ("reading", rid.as_str())]))
                                                } @else {
                                                    (post_button_for(&base, ctx.csrf, &tr.t("plan-mark-done"), Some(&st.text), "link", &[("action", "done"), ("goal", g.id.as_str()), ("step", st.id.as_str()), ("reading", rid.as_str())]))
                                                }
                                                (post_button_for(&base, ctx.csrf, &tr.t("plan-step-remove"), Some(&st.text), "link", &[("action", "remove-step"), ("goal", g.id.as_str()), ("step", st.id.as_str()), ("reading", rid.as_str())]))
                                            }
                                        }
                                    }
                                }
                                @let (title_id, target_id) = (format!("title-{}", g.id), format!("target-{}", g.id));
                                @let changing = errors.iter().any(|(at, _)| *at == title_id || *at == target_id);
                                @let edited = |name: &str, now: String| if changing && field(f, "goal") == Some(g.id.as_str()) { f.get(name).cloned().unwrap_or_default() } else { now };
                                details open[changing] {
                                    summary aria-label=(format!("{}: {}", tr.t("plan-goal-change"), g.title)) { (tr.t("plan-goal-change")) }
                                    form method="post" action=(base) novalidate {
                                        (csrf(ctx.csrf))
                                        input type="hidden" name="action" value="edit-goal";
                                        input type="hidden" name="goal" value=(g.id.as_str());
                                        input type="hidden" name="reading" value=(rid.as_str());
                                        (form_field(&title_id, None, errors, html! {
                                            label for=(title_id) { (tr.t("plan-goal-title")) }
                                        }, |d| html! {
                                            input type="text" id=(title_id) name="title" value=(edited("title", g.title.clone()))
                                                aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                                        }))
                                        (form_field(&target_id, None, errors, html! {
                                            label for=(target_id) { (tr.t("plan-target")) }
                                        }, |d| html! {
                                            input.short type="text" inputmode="numeric" id=(target_id) name="target"
                                                value=(edited("target", g.target.value.map(|t| t.to_string()).unwrap_or_default()))
                                                aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                                        }))
                                        button type="submit" { (tr.t("plan-goal-save")) }
                                    }
                                    (post_button_for(&base, ctx.csrf, &tr.t("plan-goal-remove"), Some(&g.title), "warning", &[("action", "remove-goal"), ("goal", g.id.as_str()), ("reading", rid.as_str())]))
                                }
                                @let (step_id, due_id) = (format!("step-{}", g.id), format!("due-{}", g.id));
                                @let refused = errors.iter().any(|(at, _)| *at == step_id || *at == due_id);
                                @let owner = typed("step", Some(g.id.as_str()), "owner");
                                details open[refused] {
                                    summary { (tr.t("plan-add-step")) }
                                    form method="post" action=(base) novalidate {
                                        (csrf(ctx.csrf))
                                        input type="hidden" name="action" value="step";
                                        input type="hidden" name="goal" value=(g.id.as_str());
                                        input type="hidden" name="reading" value=(rid.as_str());
                                        (form_field(&step_id, None, errors, html! {
                                            label for=(step_id) { (tr.t("plan-step-text")) }
                                        }, |d| html! {
                                            input type="text" id=(step_id) name="text" value=(typed("step", Some(g.id.as_str()), "text"))
                                                aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                                        }))
                                        div.field {
                                            label for=(format!("owner-{}", g.id)) { (tr.t("plan-step-owner")) }
                                            select id=(format!("owner-{}", g.id)) name="owner" {
                                                @for o in ["client", "worker", "supporter", "other"] {
                                                    option value=(o) selected[owner == o] { (tr.t(&format!("owner-{o}"))) }
                                                }
                                            }
                                        }
                                        (form_field(&due_id, None, errors, html! {
                                            label for=(due_id) { (tr.t("plan-step-due")) }
                                        }, |d| html! {
                                            input.short type="date" id=(due_id) name="due" value=(typed("step", Some(g.id.as_str()), "due"))
                                                aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                                        }))
                                        button type="submit" { (tr.t("plan-add-step")) }
                                    }
                                }
                            }
                        }
                    }
                }
                h3 { (tr.t("plan-add-goal")) }
                @let area = typed("goal", None, "area");
                form method="post" action=(base) novalidate {
                    (csrf(ctx.csrf))
                    input type="hidden" name="action" value="goal";
                    input type="hidden" name="reading" value=(rid.as_str());
                    div.field {
                        label for="goal-area" { (tr.t("area")) }
                        select id="goal-area" name="area" {
                            @for (id, name) in &areas { option value=(id) selected[area == *id] translate="no" { (name) } }
                        }
                    }
                    (form_field("goal-title", Some("goal-title-hint"), errors, html! {
                        label for="goal-title" { (tr.t("plan-goal-title")) }
                        p.hint id="goal-title-hint" { (tr.t("plan-goal-hint")) }
                    }, |d| html! {
                        input type="text" id="goal-title" name="title" value=(typed("goal", None, "title"))
                            aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                    }))
                    (form_field("goal-target", Some("goal-target-hint"), errors, html! {
                        label for="goal-target" { (tr.t("plan-target")) }
                        p.hint id="goal-target-hint" { (tr.t("plan-target-hint")) }
                    }, |d| html! {
                        input.short type="text" inputmode="numeric" id="goal-target" name="target" value=(typed("goal", None, "target"))
                            aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
                    }))
                    button type="submit" { (tr.t("plan-add-goal")) }
                }
            }
            _ => { p { (tr.t("readings-none")) } }
        }
    };
    Ok(ctx.page(
        tr.t("plan-title"),
        Section::Journal,
        Some(&row.doc),
        attribution(&journal, &view),
        body,
    ))
}

/// `POST /j/{doc}/plan`: add a goal or a step, mark a step done, set the
/// review date. A form that cannot be kept (no text, a target off the
/// scale, a date that is not one) shows the page again, with what was
/// typed and why, by the field.
pub fn act(app: &App, ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    // Back to the plan of the reading it was sent from.
    let back = match field(f, "reading") {
        Some(r) => format!("/j/{}/plan?reading={r}", row.doc),
        None => format!("/j/{}/plan", row.doc),
    };
    let goal = field(f, "goal").unwrap_or_default();
    // The field an error from the app is about, and the outcome.
    let (at, outcome) = match field(f, "action") {
        Some("goal") => {
            let target = match field(f, "target").map(|t| t.parse::<i64>()) {
                None => None,
                Some(Ok(t)) if (1..=10).contains(&t) => Some(t),
                Some(_) => {
                    return refuse(app, ctx, doc, f, "goal-target", tr.t("plan-target-invalid"));
                }
            };
            let Some(title) = field(f, "title") else {
                return refuse(app, ctx, doc, f, "goal-title", tr.t("plan-goal-missing"));
            };
            let added = app.add_goal(
                &row,
                field(f, "area").unwrap_or_default(),
                title,
                target,
                field(f, "reading"),
            );
            ("goal-title".to_owned(), added.map(|_| "done-goal"))
        }
        Some("step") => {
            let Some(text) = field(f, "text") else {
                return refuse(
                    app,
                    ctx,
                    doc,
                    f,
                    &format!("step-{goal}"),
                    tr.t("plan-step-missing"),
                );
            };
            let added = app.add_step(
                &row,
                goal,
                text,
                field(f, "owner").unwrap_or("client"),
                field(f, "due"),
            );
            (format!("due-{goal}"), added.map(|_| "done-step"))
        }
        Some(action @ ("done" | "undone")) => {
            let finished = action == "done";
            app.step_done(&row, goal, field(f, "step").unwrap_or_default(), finished)?;
            let key = if finished {
                "done-step-done"
            } else {
                "done-step-undone"
            };
            return done(&back, key);
        }
        Some("edit-goal") => {
            let target = match field(f, "target").map(|t| t.parse::<i64>()) {
                None => None,
                Some(Ok(t)) if (1..=10).contains(&t) => Some(t),
                Some(_) => {
                    let at = format!("target-{goal}");
                    return refuse(app, ctx, doc, f, &at, tr.t("plan-target-invalid"));
                }
            };
            let Some(title) = field(f, "title") else {
                let at = format!("title-{goal}");
                return refuse(app, ctx, doc, f, &at, tr.t("plan-goal-missing"));
            };
            let changed = app.edit_goal(&row, goal, Some(title), Some(target));
            (
                format!("title-{goal}"),
                changed.map(|_| "done-goal-changed"),
            )
        }
        Some("remove-goal") => {
            let id = app.remove_goal(&row, goal)?;
            let undo = with_query(&back, &format!("removed-goal={id}"));
            return done(&undo, "done-goal-removed");
        }
        Some("remove-step") => {
            let (g, st) = app.remove_step(&row, goal, field(f, "step").unwrap_or_default())?;
            let undo = with_query(&back, &format!("removed-goal={g}&removed-step={st}"));
            return done(&undo, "done-step-removed");
        }
        Some("restore-goal") => {
            app.restore_goal(&row, goal)?;
            return done(&back, "done-restored");
        }
        Some("restore-step") => {
            app.restore_step(&row, goal, field(f, "step").unwrap_or_default())?;
            return done(&back, "done-restored");
        }
        Some("review") => match field(f, "date") {
            Some(d) => (
                "review".to_owned(),
                app.set_review_date(&row, field(f, "reading"), d)
                    .map(|_| "done-saved"),
            ),
            None => return done(&back, "done-nothing"),
        },
        _ => return done(&back, "done-nothing"),
    };
    match outcome {
        Ok(key) => done(&back, key),
        Err(e) => refuse(app, ctx, doc, f, &at, refusal(e)?),
    }
}

/// The plan page again, the form as typed, `text` said by the field `at`.
fn refuse(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    f: &HashMap<String, String>,
    at: &str,
    text: String,
) -> Answer {
    let q: HashMap<String, String> = field(f, "reading")
        .map(|r| ("reading".to_owned(), r.to_owned()))
        .into_iter()
        .collect();
    page_with(app, ctx, doc, &q, f, &[(at.to_owned(), text)])
}
