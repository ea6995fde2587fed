//! Sharing: who is in the journal and with what access; inviting someone
//! (a single-use link and its QR code); removing a member.

use std::collections::HashMap;

use maud::{Markup, html};
use starling_app::{App, AppError, Invite};

use super::forms::{confirm_box, field, unconfirmed};
use super::journal::{Tab, header};
use super::{Section, csrf, data, error_summary, form_field, post_button_for};
use crate::i18n::s;
use crate::routes::{Answer, Ctx, done};

fn page_with(
    app: &App,
    ctx: &Ctx<'_>,
    doc: &str,
    invite: Option<(&Invite, &str)>,
    typed: &HashMap<String, String>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let row = app.pick(Some(doc))?;
    let local = app.client().not_yet_at_relay(&row.doc).unwrap_or(0);
    let (members, removed_self) = app.members(&row)?;
    let pending = app.invites(&row).unwrap_or_default();
    let owner = members
        .iter()
        .any(|m| m.you && m.role.as_deref() == Some("owner"));
    // After a refused invite, the form as it was sent.
    let sent = |name: &str| typed.get(name).map(String::as_str);
    let chosen =
        |name: &str, value: &str, default: bool| sent(name).map_or(default, |v| v == value);
    let invite_form: Markup = html! {
        h2 { (tr.t("share-invite")) }
        p { (tr.t("share-invite-intro")) }
        (error_summary(tr, errors))
        form method="post" action=(format!("/j/{}/share", row.doc)) novalidate {
            (csrf(ctx.csrf))
            (form_field("name", None, errors, html! {
                label for="name" { (tr.t("share-name")) }
            }, |d| html! {
                input type="text" id="name" name="name" autocomplete="off" value=(sent("name").unwrap_or_default())
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
            }))
            fieldset {
                legend { (tr.t("share-as")) }
                div.radios {
                    div.radio { input type="radio" id="as-worker" name="as" value="worker" checked[chosen("as", "worker", true)]; label for="as-worker" { (tr.t("perspective-worker")) } }
                    div.radio { input type="radio" id="as-supporter" name="as" value="supporter" checked[chosen("as", "supporter", false)]; label for="as-supporter" { (tr.t("perspective-supporter")) } }
                }
            }
            fieldset {
                legend { (tr.t("share-access")) }
                div.radios {
                    div.radio { input type="radio" id="role-editor" name="role" value="editor" checked[chosen("role", "editor", true)]; label for="role-editor" { (tr.t("access-editor")) } }
                    div.radio { input type="radio" id="role-viewer" name="role" value="viewer" checked[chosen("role", "viewer", false)]; label for="role-viewer" { (tr.t("access-viewer")) } }
                }
            }
            div.field {
                label for="expires" { (tr.t("share-expires")) }
                select id="expires" name="expires" {
                    option value="1h" selected[chosen("expires", "1h", false)] { (tr.t("expires-hour")) }
                    option value="1d" selected[chosen("expires", "1d", false)] { (tr.t("expires-day")) }
                    option value="7d" selected[chosen("expires", "7d", true)] { (tr.t("expires-week")) }
                }
            }
            button type="submit" { (tr.t("share-create")) }
        }
    };
    let body = html! {
        (header(ctx, &row, Tab::Share, local))
        @if let Some((inv, name)) = invite {
            div.notice role="status" {
                h2 { (tr.ta("share-link-for", &[("name", s(name))])) }
                p { (tr.t("share-link-how")) }
                p.link-box id="invite-link" translate="no" { (inv.link) }
                (super::copy_button(tr, "invite-link"))
                @if let Some(svg) = super::qr_svg(&inv.link) {
                    div.qr role="img" aria-label=(tr.t("share-qr")) { (super::svg(svg)) }
                }
                p { @if inv.registered { (tr.t("share-registered")) } @else { (tr.t("share-not-registered")) } }
            }
        }
        @if removed_self { div.notice.warn { p { (tr.t("share-you-removed")) } } }
        h2 { (tr.t("share-members")) }
        div.table-scroll role="region" tabindex="0" aria-label=(tr.t("share-members")) { table {
            caption.visually-hidden { (tr.t("share-members")) }
            thead { tr {
                th scope="col" { (tr.t("share-col-name")) }
                th scope="col" { (tr.t("share-col-as")) }
                th scope="col" { (tr.t("share-col-access")) }
                th scope="col" { span.visually-hidden { (tr.t("actions")) } }
            } }
            tbody {
                @for m in &members {
                    tr {
                        td {
                            @match &m.name { Some(n) => (data(n)), None => (tr.t("share-unnamed")) }
                            @if m.you { " " (tr.t("share-you")) }
                        }
                        td { (tr.t(&format!("perspective-{}", m.perspective))) }
                        td {
                            @match (&m.role, m.removed) {
                                (_, Some(d)) if m.left => (tr.ta("share-left-on", &[("date", s(d.to_string()))])),
                                (None, None) if m.left => (tr.t("share-left")),
                                (_, Some(d)) => (tr.ta("share-removed-on", &[("date", s(d.to_string()))])),
                                (Some(r), None) => (tr.t(&format!("access-{r}"))),
                                (None, None) => (tr.t("share-removed")),
                            }
                        }
                        td {
                            @if owner && !m.you && m.removed.is_none() && m.role.is_some() {
                                a href=(format!("/j/{}/revoke?member={}", row.doc, m.device)) {
                                    (tr.ta("share-remove", &[("name", s(m.name.clone().unwrap_or_default()))]))
                                }
                            }
                        }
                    }
                }
            }
        } }
        @if owner && !pending.is_empty() {
            h2 { (tr.t("share-pending")) }
            p { (tr.t("share-pending-hint")) }
            div.table-scroll role="region" tabindex="0" aria-label=(tr.t("share-pending")) { table {
                caption.visually-hidden { (tr.t("share-pending")) }
                thead { tr {
                    th scope="col" { (tr.t("share-col-name")) }
                    th scope="col" { (tr.t("share-col-as")) }
                    th scope="col" { (tr.t("share-col-access")) }
                    th scope="col" { (tr.t("share-col-expires")) }
                    th scope="col" { span.visually-hidden { (tr.t("actions")) } }
                } }
                tbody {
                    @for i in &pending {
                        tr {
                            td { (data(&i.name)) }
                            td { (tr.t(&format!("perspective-{}", i.perspective))) }
                            td { (tr.t(&format!("access-{}", i.role))) }
                            td { (expiry(ctx, i.expires_at)) }
                            td {
                                (post_button_for(&format!("/j/{}/invites/withdraw", row.doc), ctx.csrf,
                                    &tr.t("share-withdraw"), Some(&i.name), "warning", &[("invite", &i.id)]))
                            }
                        }
                    }
                }
            } }
        }
        @if owner { (invite_form) } @else { p { (tr.t("share-owner-only")) } }
    };
    Ok(ctx.page(
        tr.t("tab-share"),
        Section::Journal,
        Some(&row.doc),
        None,
        body,
    ))
}

/// `GET /j/{doc}/share`.
pub fn page(app: &App, ctx: &Ctx<'_>, doc: &str, _q: &HashMap<String, String>) -> Answer {
    page_with(app, ctx, doc, None, &HashMap::new(), &[])
}

/// `POST /j/{doc}/share`: the link is shown once, on this page (never in
/// a URL).
pub fn invite(app: &App, ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let name = field(f, "name").unwrap_or_default();
    if name.is_empty() {
        let errors = [("name".to_owned(), ctx.tr.t("share-name-missing"))];
        return page_with(app, ctx, doc, None, f, &errors);
    }
    match app.share(
        &row,
        field(f, "role").unwrap_or("editor"),
        field(f, "as").unwrap_or("worker"),
        name,
        field(f, "expires").unwrap_or("7d"),
    ) {
        Ok(inv) => page_with(app, ctx, doc, Some((&inv, name)), &HashMap::new(), &[]),
        Err(AppError::Invalid(text)) => page_with(app, ctx, doc, None, f, &[("name".into(), text)]),
        Err(e) => Err(e.into()),
    }
}

/// `POST /j/{doc}/revoke`.
pub fn revoke(app: &App, ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let member = field(f, "member").unwrap_or_default();
    if let Some(errors) = unconfirmed(f, ctx.tr.t("share-remove-confirm-error")) {
        return revoke_page(app, ctx, &row, member, &errors);
    }
    app.revoke(&row, member)?;
    done(&format!("/j/{}/share", row.doc), "done-removed")
}

/// `GET /j/{doc}/revoke?member=…`: what removing someone does, and a box
/// to tick first (it cannot be undone: they would need a new invite).
pub fn revoke_form(app: &App, ctx: &Ctx<'_>, doc: &str, q: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    revoke_page(app, ctx, &row, field(q, "member").unwrap_or_default(), &[])
}

fn revoke_page(
    app: &App,
    ctx: &Ctx<'_>,
    row: &starling_app::client::DocRow,
    member: &str,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let (members, _) = app.members(row)?;
    let Some(m) = members
        .iter()
        .find(|m| m.device == member && !m.you && m.removed.is_none())
    else {
        return Err(
            AppError::NotFound(format!("no member {member} to remove in this journal")).into(),
        );
    };
    let name = m.name.clone().unwrap_or_else(|| tr.t("share-unnamed"));
    let title = tr.ta("share-remove", &[("name", s(name.clone()))]);
    let back = format!("/j/{}/share", row.doc);
    let body = html! {
        (error_summary(tr, errors))
        h1 { (title) }
        p { (tr.ta("share-remove-intro", &[("name", s(name.clone()))])) }
        form method="post" action=(format!("/j/{}/revoke", row.doc)) novalidate {
            (csrf(ctx.csrf))
            input type="hidden" name="member" value=(member);
            (confirm_box(errors, &tr.ta("share-remove-confirm", &[("name", s(name.clone()))])))
            button.warning type="submit" { (title) }
        }
        p { a href=(back) { (tr.t("share-remove-back")) } }
    };
    Ok(ctx.page(title, Section::Journal, Some(&row.doc), None, body))
}

/// When an invite stops working: its date and time (UTC).
fn expiry(ctx: &Ctx<'_>, at_ms: u64) -> String {
    let secs = i64::try_from(at_ms / 1000).unwrap_or(i64::MAX);
    ctx.tr.ta(
        "share-expires-at",
        &[("time", s(super::records::time(secs)))],
    )
}

/// `POST /j/{doc}/invites/withdraw`: the invite's link stops working.
pub fn withdraw(app: &App, _ctx: &Ctx<'_>, doc: &str, f: &HashMap<String, String>) -> Answer {
    let row = app.pick(Some(doc))?;
    let back = format!("/j/{}/share", row.doc);
    match app.withdraw_invite(&row, field(f, "invite").unwrap_or_default()) {
        Ok((_, true)) => done(&back, "done-invite-withdrawn"),
        Ok((_, false)) => done(&back, "done-invite-withdrawn-later"),
        // Used or withdrawn meanwhile: the page shows where it stands.
        Err(e) if e.kind() == starling_app::ErrorKind::NotFound => done(&back, "done-invite-gone"),
        Err(e) => Err(e.into()),
    }
}
