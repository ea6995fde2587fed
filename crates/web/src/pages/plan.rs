//! The action plan: goals per area, steps (who, by when, done), the review
//! date, and the steps carried forward from earlier readings.

use std::collections::HashMap;

use maud::html;
use starling_app::App;

use super::forms::field;
use super::journal::{Tab, attribution, header};
use super::{Section, csrf, data, post_button};
use crate::i18n::s;
use crate::routes::{Answer, Ctx, done};

/// `GET /j/{doc}/plan` (`?reading=` for an earlier reading's plan).
pub fn page(app: &App, ctx: &Ctx<'_>, doc: &str, q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
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
    let body = html! {
        (header(ctx, &row, Tab::Plan, local))
        @match (&reading, &plan) {
            (Some(rid), Some(plan)) => {
                h2 { (tr.t("plan-title")) }
                p {
                    (tr.t("plan-review")) " "
                    strong { @match plan.review_date { Some(d) => (d.to_string()), None => (tr.t("card-no-review")) } }
                }
                form method="post" action=(base) {
                    (csrf(ctx.csrf))
                    input type="hidden" name="action" value="review";
                    input type="hidden" name="reading" value=(rid.as_str());
                    div.field {
                        label for="review" { (tr.t("plan-review-set")) }
                        input.short type="date" id="review" name="date";
                    }
                    button.secondary type="submit" { (tr.t("save")) }
                }
                @for (heading, goals) in [(tr.t("plan-goals"), &plan.goals), (tr.t("plan-carried"), &plan.carried_forward)] {
                    @if !goals.is_empty() {
                        h3 { (heading) }
                        @for g in goals {
                            div.panel {
                                h4 { (data(&g.title)) }
                                p.hint {
                                    (tr.t("area")) ": " (data(&g.area))
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
                                                @if st.done.value != Some(true) {
                                                    (post_button(&base, ctx.csrf, &tr.t("plan-mark-done"), "link", &[("action", "done"), ("goal", g.id.as_str()), ("step", st.id.as_str())]))
                                                }
                                            }
                                        }
                                    }
                                }
                                details {
                                    summary { (tr.t("plan-add-step")) }
                                    form method="post" action=(base) {
                                        (csrf(ctx.csrf))
                                        input type="hidden" name="action" value="step";
                                        input type="hidden" name="goal" value=(g.id.as_str());
                                        div.field {
                                            label for=(format!("step-{}", g.id)) { (tr.t("plan-step-text")) }
                                            input type="text" id=(format!("step-{}", g.id)) name="text";
                                        }
                                        div.field {
                                            label for=(format!("owner-{}", g.id)) { (tr.t("plan-step-owner")) }
                                            select id=(format!("owner-{}", g.id)) name="owner" {
                                                @for o in ["client", "worker", "supporter", "other"] {
                                                    option value=(o) { (tr.t(&format!("owner-{o}"))) }
                                                }
                                            }
                                        }
                                        div.field {
                                            label for=(format!("due-{}", g.id)) { (tr.t("plan-step-due")) }
                                            input.short type="date" id=(format!("due-{}", g.id)) name="due";
                                        }
                                        button type="submit" { (tr.t("plan-add-step")) }
                                    }
                                }
                            }
                        }
                    }
                }
                h3 { (tr.t("plan-add-goal")) }
                form method="post" action=(base) {
                    (csrf(ctx.csrf))
                    input type="hidden" name="action" value="goal";
                    input type="hidden" name="reading" value=(rid.as_str());
                    div.field {
                        label for="goal-area" { (tr.t("area")) }
                        select id="goal-area" name="area" {
                            @for (id, name) in &areas { option value=(id) translate="no" { (name) } }
                        }
                    }
                    div.field {
                        label for="goal-title" { (tr.t("plan-goal-title")) }
                        p.hint id="goal-title-hint" { (tr.t("plan-goal-hint")) }
                        input type="text" id="goal-title" name="title" aria-describedby="goal-title-hint";
                    }
                    div.field {
                        label for="goal-target" { (tr.t("plan-target")) }
                        input.short type="text" inputmode="numeric" id="goal-target" name="target";
                    }
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
/// review date.
pub fn act(app: &App, _ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let back = format!("/j/{}/plan", row.doc);
    match field(f, "action") {
        Some("goal") => {
            let target = field(f, "target").and_then(|t| t.parse().ok());
            app.add_goal(
                &row,
                field(f, "area").unwrap_or_default(),
                field(f, "title").unwrap_or_default(),
                target,
                field(f, "reading"),
            )?;
            done(&back, "done-goal")
        }
        Some("step") => {
            app.add_step(
                &row,
                field(f, "goal").unwrap_or_default(),
                field(f, "text").unwrap_or_default(),
                field(f, "owner").unwrap_or("client"),
                field(f, "due"),
            )?;
            done(&back, "done-step")
        }
        Some("done") => {
            app.step_done(
                &row,
                field(f, "goal").unwrap_or_default(),
                field(f, "step").unwrap_or_default(),
                true,
            )?;
            done(&back, "done-step-done")
        }
        Some("review") => {
            if let Some(d) = field(f, "date") {
                app.set_review_date(&row, field(f, "reading"), d)?;
            }
            done(&back, "done-saved")
        }
        _ => done(&back, "done-nothing"),
    }
}
