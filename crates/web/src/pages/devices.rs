//! Your devices, without a terminal: link a new one, remove a lost one,
//! make a new recovery code; and, on a new device, join yourself with a
//! link or your recovery code.

use std::collections::HashMap;

use maud::{Markup, html};
use starling_app::client::{DeviceId, Joined};
use starling_app::{App, AppError, DeviceJoined, LINK_VALID, short};

use super::forms::{confirm_box, field, unconfirmed};
use super::{Section, csrf, data, error_summary};
use crate::i18n::{Catalogue, n, s};
use crate::routes::{Answer, Ctx, done, refusal};

/// `GET /devices`.
pub fn page(app: &App, ctx: &Ctx<'_>, _q: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let d = app.devices()?;
    let me = d.devices.iter().find(|x| x.this_device).map(|x| x.device);
    // Another device got in with the recovery code: if that was not the
    // person, someone has their code.
    let recovered: Vec<String> = d
        .devices
        .iter()
        .filter(|x| !x.this_device && x.joined == Joined::Recovered)
        .map(|x| short(x.device))
        .collect();
    let body = html! {
        h1 { (tr.t("devices-title")) }
        @for x in &recovered {
            div.notice.warn role="status" {
                p { (tr.ta("devices-recovered-warning", &[("device", s(x.clone()))])) }
            }
        }
        p { (tr.t("devices-intro")) }
        div.table-scroll role="region" tabindex="0" aria-label=(tr.t("devices-table")) {
            table {
                caption { (tr.t("devices-table")) }
                thead { tr {
                    th scope="col" { (tr.t("devices-device")) }
                    th scope="col" { (tr.t("devices-journals")) }
                    th scope="col" { span.visually-hidden { (tr.t("devices-actions")) } }
                } }
                tbody {
                    @for x in &d.devices {
                        tr {
                            td {
                                code { (data(&short(x.device))) }
                                @if x.this_device { " " span.tag.ok { (tr.t("devices-this")) } }
                                @if let Some(how) = joined_words(tr, x.joined, me) { br; span.hint { (how) } }
                            }
                            td { (tr.ta("devices-in", &[("count", n(x.journals)), ("total", n(d.journals))])) }
                            td {
                                @if !x.this_device {
                                    a href=(format!("/devices/remove?device={}", x.device)) {
                                        (tr.t("devices-remove")) span.visually-hidden { " " (short(x.device)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (tr.t("devices-link-title")) }
        p { (tr.t("devices-link-intro")) }
        form method="post" action="/devices/link" {
            (csrf(ctx.csrf))
            button type="submit" { (tr.t("devices-link-button")) }
        }
        h2 { (tr.t("devices-recovery-title")) }
        p { (tr.ta("devices-recovery-status", &[("count", n(d.recovery_in)), ("total", n(d.journals))])) }
        p { (tr.t("devices-recovery-intro")) }
        form method="post" action="/devices/recovery" {
            (csrf(ctx.csrf))
            button.secondary type="submit" { (tr.t("devices-recovery-button")) }
        }
    };
    Ok(ctx.page(tr.t("devices-title"), Section::Devices, None, None, body))
}

/// A devices page's action this device may not take, and why.
fn refused(ctx: &Ctx<'_>, title: &str, why: String) -> Answer {
    let tr = ctx.tr;
    let body = html! {
        h1 { (tr.t(title)) }
        div.error-summary role="alert" tabindex="-1" {
            h2 { (tr.t("devices-refused")) }
            p { (why) }
        }
        p { a href="/devices" { (tr.t("devices-back")) } }
    };
    Ok(ctx.page(tr.t(title), Section::Devices, None, None, body))
}

/// How a device became the person's, in words (none when no journal says).
fn joined_words(tr: &Catalogue, joined: Joined, me: Option<DeviceId>) -> Option<String> {
    Some(match joined {
        Joined::First => tr.t("devices-joined-first"),
        Joined::Linked(from) if Some(from) == me => tr.t("devices-joined-linked-here"),
        Joined::Linked(from) => tr.ta("devices-joined-linked", &[("device", s(short(from)))]),
        Joined::Recovered => tr.t("devices-joined-recovered"),
        Joined::Unknown => return None,
    })
}

/// `POST /devices/link`: the link, shown once.
pub fn link(app: &App, ctx: &Ctx<'_>, _f: &HashMap<String, String>) -> Answer {
    let tr = ctx.tr;
    let (links, unsynced) = match app.link_device(LINK_VALID) {
        Ok(made) => made,
        Err(e) => return refused(ctx, "devices-link-title", refusal(e)?),
    };
    let body = html! {
        h1 { (tr.t("devices-link-title")) }
        p { (tr.t("devices-link-how")) }
        @for (i, l) in links.iter().enumerate() {
            div.field {
                label for=(format!("link-{i}")) { (tr.t("devices-link-label")) }
                textarea id=(format!("link-{i}")) readonly rows="4" spellcheck="false" { (l.as_str()) }
                (super::copy_button(tr, &format!("link-{i}")))
            }
            // The new device is often a phone: its camera reads this.
            @if let Some(svg) = super::qr_svg(l.as_str()) {
                div.qr role="img" aria-label=(tr.t("devices-link-qr")) { (super::svg(svg)) }
            }
        }
        div.panel role="status" {
            p { (tr.t("devices-link-warning")) }
            @if unsynced.is_some() { p { (tr.t("devices-link-unsynced")) } }
        }
        p { a href="/devices" { (tr.t("devices-back")) } }
    };
    Ok(ctx.page(
        tr.t("devices-link-title"),
        Section::Devices,
        None,
        None,
        body,
    ))
}

/// A recovery code, shown once, with what to do with it.
fn code_page(ctx: &Ctx<'_>, title: &str, code: &str, intro: &str, next: &str) -> Answer {
    let tr = ctx.tr;
    let body = html! {
        h1 { (tr.t(title)) }
        p { (tr.t(intro)) }
        p.recovery-code translate="no" aria-label=(tr.t("devices-code-label")) { (code) }
        div.panel role="status" { p { (tr.t("devices-code-once")) } }
        p { a.button href=(next) { (tr.t("devices-code-written")) } }
    };
    Ok(ctx.page(tr.t(title), Section::Devices, None, None, body))
}

/// `POST /devices/recovery`: a new code, shown once.
pub fn recovery(app: &App, ctx: &Ctx<'_>, _f: &HashMap<String, String>) -> Answer {
    let (code, _) = match app.new_recovery_code() {
        Ok(made) => made,
        Err(e) => return refused(ctx, "devices-recovery-title", refusal(e)?),
    };
    code_page(
        ctx,
        "devices-code-title",
        &code,
        "devices-code-new",
        "/devices",
    )
}

fn remove_page(
    app: &App,
    ctx: &Ctx<'_>,
    device: &str,
    errors: &[(String, String)],
) -> axum::response::Response {
    let tr = ctx.tr;
    // How the device became the person's, to be sure it is the lost one.
    let how = app.devices().ok().and_then(|d| {
        let me = d.devices.iter().find(|x| x.this_device).map(|x| x.device);
        let x = d.devices.iter().find(|x| x.device.to_string() == device)?;
        joined_words(tr, x.joined, me)
    });
    let body = html! {
        (error_summary(tr, errors))
        h1 { (tr.t("devices-remove-title")) }
        p { (tr.t("devices-remove-intro")) " " code { (data(&short(device))) } }
        @if let Some(how) = how { p.hint { (how) } }
        form method="post" action="/devices/remove" novalidate {
            (csrf(ctx.csrf))
            input type="hidden" name="device" value=(device);
            (confirm_box(errors, &tr.t("devices-remove-confirm")))
            button.warning type="submit" { (tr.t("devices-remove-button")) }
        }
        p { a href="/devices" { (tr.t("devices-back")) } }
    };
    ctx.page(
        tr.t("devices-remove-title"),
        Section::Devices,
        None,
        None,
        body,
    )
}

/// `GET /devices/remove?device=ID`.
pub fn remove_form(app: &App, ctx: &Ctx<'_>, q: &HashMap<String, String>) -> Answer {
    Ok(remove_page(app, ctx, field(q, "device").unwrap_or(""), &[]))
}

/// `POST /devices/remove`: only with the box ticked.
pub fn remove(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>) -> Answer {
    let device = field(f, "device").unwrap_or("");
    if let Some(errors) = unconfirmed(f, ctx.tr.t("devices-remove-confirm-error")) {
        return Ok(remove_page(app, ctx, device, &errors));
    }
    let removed = match app.remove_device(device) {
        Ok(removed) => removed,
        Err(e) => return refused(ctx, "devices-remove-title", refusal(e)?),
    };
    let intro = if removed.unsynced.is_some() {
        "devices-code-removed-queued"
    } else {
        "devices-code-removed"
    };
    code_page(
        ctx,
        "devices-code-title",
        &removed.recovery_code,
        intro,
        "/devices",
    )
}

/// The first-run choices besides starting afresh: a link from another
/// device, or the recovery code.
pub fn setup_other(
    ctx: &Ctx<'_>,
    f: &HashMap<String, String>,
    errors: &[(String, String)],
) -> Markup {
    let tr = ctx.tr;
    let err_for = |id: &str| errors.iter().find(|(f, _)| f == id).map(|(_, e)| e.clone());
    html! {
        h2 { (tr.t("setup-other-title")) }
        p { (tr.t("setup-other-intro")) }
        details open[err_for("link").is_some()] {
            summary { (tr.t("setup-link-title")) }
            form method="post" action="/setup/link" novalidate {
                (csrf(ctx.csrf))
                div.field {
                    label for="link-name" { (tr.t("setup-other-name")) }
                    input type="text" id="link-name" name="name" autocomplete="name" value=[field(f, "name")];
                }
                div.field.has-error[err_for("link").is_some()] {
                    label for="link" { (tr.t("setup-link-label")) }
                    p.hint id="link-hint" { (tr.t("setup-link-hint")) }
                    @if let Some(e) = err_for("link") { p.error { (e) } }
                    textarea id="link" name="link" rows="3" spellcheck="false" aria-describedby="link-hint" { (field(f, "link").unwrap_or("")) }
                }
                button type="submit" { (tr.t("setup-link-button")) }
            }
        }
        details open[err_for("code").is_some() || err_for("relay").is_some()] {
            summary { (tr.t("setup-recover-title")) }
            form method="post" action="/setup/recover" novalidate {
                (csrf(ctx.csrf))
                div.field {
                    label for="recover-name" { (tr.t("setup-other-name")) }
                    input type="text" id="recover-name" name="name" autocomplete="name" value=[field(f, "name")];
                }
                div.field.has-error[err_for("relay").is_some()] {
                    label for="relay" { (tr.t("setup-recover-relay")) }
                    p.hint id="relay-hint" { (tr.t("setup-recover-relay-hint")) }
                    @if let Some(e) = err_for("relay") { p.error { (e) } }
                    input type="text" id="relay" name="relay" spellcheck="false" autocapitalize="off" value=[field(f, "relay")] aria-describedby="relay-hint";
                }
                div.field.has-error[err_for("code").is_some()] {
                    label for="code" { (tr.t("setup-recover-code")) }
                    p.hint id="code-hint" { (tr.t("setup-recover-code-hint")) }
                    @if let Some(e) = err_for("code") { p.error { (e) } }
                    input type="text" id="code" name="code" spellcheck="false" autocapitalize="characters" autocomplete="off" aria-describedby="code-hint" value=[field(f, "code")];
                }
                button type="submit" { (tr.t("setup-recover-button")) }
            }
        }
    }
}

fn name_of(f: &HashMap<String, String>) -> Option<&str> {
    field(f, "name")
}

/// `POST /setup/link`: this device joins its person through a link.
pub fn setup_link(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>) -> Answer {
    let link = field(f, "link").unwrap_or("");
    match app.add_device(link, name_of(f)) {
        Ok(_) => done("/", "done-device-added"),
        // A relay out of reach is said beside the link too: nothing is
        // left half-done, and the form keeps what was typed.
        Err(e) if is_form_error(&e) => {
            let errors = [("link".to_owned(), e.to_string())];
            Ok(super::caseload::setup_page_with(ctx, f, &errors))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /setup/recover`: this device restores its person from the code.
pub fn setup_recover(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>) -> Answer {
    let relay = field(f, "relay").unwrap_or("");
    let code = field(f, "code").unwrap_or("");
    if relay.is_empty() {
        let errors = [("relay".to_owned(), ctx.tr.t("setup-recover-relay-error"))];
        return Ok(super::caseload::setup_page_with(ctx, f, &errors));
    }
    match app.recover(relay, code, name_of(f)) {
        Ok(DeviceJoined {
            recovery_code: Some(code),
            ..
        }) => code_page(
            ctx,
            "devices-code-title",
            &code,
            "devices-code-recovered",
            "/",
        ),
        Ok(_) => done("/", "done-device-added"),
        Err(e) if is_form_error(&e) => {
            let which = if is_relay(&e) || e.to_string().contains("relay") {
                "relay"
            } else {
                "code"
            };
            let errors = [(which.to_owned(), e.to_string())];
            Ok(super::caseload::setup_page_with(ctx, f, &errors))
        }
        Err(e) => Err(e.into()),
    }
}

fn is_relay(e: &AppError) -> bool {
    matches!(e.kind(), starling_app::ErrorKind::Relay)
}

/// What joining a person can fail on that the person can put right on the
/// form: what they typed, or the relay it names being out of reach.
fn is_form_error(e: &AppError) -> bool {
    is_relay(e)
        || matches!(
            e,
            AppError::Invalid(_) | AppError::Client(_) | AppError::SyncIncomplete(_)
        )
}

/// After a first-run set-up: the new recovery code, shown once.
pub fn after_setup(ctx: &Ctx<'_>, code: &str) -> Answer {
    code_page(
        ctx,
        "devices-code-title",
        code,
        "devices-code-first",
        "/?done=done-setup",
    )
}
