//! The relays this device syncs through, how each one stands, and the
//! certificate authorities it trusts besides the public ones: so that a
//! person reaches their organisation's own relay without a terminal.

use std::collections::HashMap;

use maud::html;
use starling_app::App;

use super::forms::{confirm_box, field, unconfirmed};
use super::{Section, csrf, data, error_summary, form_field};
use crate::i18n::{n, s};
use crate::live::RelayLink;
use crate::routes::{Answer, Ctx, done, refusal};

/// A certificate file as sent by the browser: its name and bytes.
pub type Upload = Option<(String, Vec<u8>)>;

/// `GET /relays`.
pub fn page(app: &App, ctx: &Ctx<'_>, _q: &HashMap<String, String>) -> Answer {
    relays_page(app, ctx, None, &[])
}

/// The page; after a refused certificate, with the text pasted (`pasted`)
/// and why, by its field.
fn relays_page(
    app: &App,
    ctx: &Ctx<'_>,
    pasted: Option<&str>,
    errors: &[(String, String)],
) -> Answer {
    let tr = ctx.tr;
    let journals = app.journals()?;
    let relays = app.sync_relays()?;
    let cas = app.client().trusted_cas()?;
    let rows: Vec<(String, usize, Option<RelayLink>)> = relays
        .iter()
        .map(|r| {
            let count = journals.iter().filter(|j| &j.relay == r).count();
            (r.clone(), count, ctx.live.link(r))
        })
        .collect();
    let untrusted: Vec<&str> = rows
        .iter()
        .filter(|(_, _, l)| l.as_ref().is_some_and(RelayLink::untrusted))
        .map(|(r, _, _)| r.as_str())
        .collect();
    let body = html! {
        h1 { (tr.t("relays-title")) }
        (error_summary(tr, errors))
        p { (tr.t("relays-intro")) }
        @for r in &untrusted {
            div.notice.warn role="status" {
                p { (tr.ta("relays-untrusted", &[("relay", s(r.to_string()))])) }
                p { a href="#certificate" { (tr.t("relays-untrusted-add")) } }
            }
        }
        h2 { (tr.t("relays-table")) }
        @if rows.is_empty() {
            p { (tr.t("relays-none")) }
        } @else {
            ul.relays {
                @for (relay, count, link) in &rows {
                    li {
                        code { (data(relay)) } " "
                        @match link {
                            Some(l) if l.connected => span.tag.ok { (tr.t("relays-connected")) },
                            Some(l) => {
                                span.tag.conflict { (tr.t("relays-unreached")) }
                                @if let Some(why) = tls_words(tr, l).or_else(|| l.reason.clone()) { " " (why) }
                            },
                            None => span.tag { (tr.t("relays-not-tried")) },
                        }
                        br;
                        span.hint { (tr.ta("relays-journals", &[("count", n(*count))])) }
                    }
                }
            }
        }
        h2 id="certificate" { (tr.t("relays-cas-title")) }
        p { (tr.t("relays-cas-intro")) }
        @if cas.is_empty() {
            p { (tr.t("relays-cas-none")) }
        } @else {
            div.table-scroll role="region" tabindex="0" aria-label=(tr.t("relays-cas-table")) {
                table {
                    caption { (tr.t("relays-cas-table")) }
                    thead { tr {
                        th scope="col" { (tr.t("relays-ca-from")) }
                        th scope="col" { (tr.t("relays-ca-fingerprint")) }
                        th scope="col" { (tr.t("relays-ca-added")) }
                        th scope="col" { span.visually-hidden { (tr.t("relays-ca-actions")) } }
                    } }
                    tbody {
                        @for ca in &cas {
                            tr {
                                td { (data(&ca.label)) }
                                td { code { (data(&ca.fingerprint[..16.min(ca.fingerprint.len())])) } }
                                td { (super::rights::moment(tr, ca.added.max(0) as u64)) }
                                td {
                                    a href=(format!("/relays/untrust?ca={}", ca.fingerprint)) {
                                        (tr.t("relays-ca-remove")) span.visually-hidden { " " (data(&ca.label)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { (tr.t("relays-add-title")) }
        form method="post" action="/relays/trust" enctype="multipart/form-data" novalidate {
            (csrf(ctx.csrf))
            (form_field("file", Some("file-hint"), errors, html! {
                label for="file" { (tr.t("relays-add-file")) }
                p.hint id="file-hint" { (tr.t("relays-add-file-hint")) }
            }, |d| html! {
                input type="file" id="file" name="file" accept=".pem,.crt,.cer,application/x-pem-file"
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()];
            }))
            (form_field("pem", Some("pem-hint"), errors, html! {
                label for="pem" { (tr.t("relays-add-paste")) }
                p.hint id="pem-hint" { (tr.t("relays-add-paste-hint")) }
            }, |d| html! {
                textarea id="pem" name="pem" rows="4" spellcheck="false" autocapitalize="off"
                    aria-describedby=[d.by.as_deref()] aria-invalid=[d.invalid()] { (pasted.unwrap_or("")) }
            }))
            button type="submit" { (tr.t("relays-add-button")) }
        }
    };
    Ok(ctx.page(tr.t("relays-title"), Section::Relays, None, None, body))
}

/// What was wrong with a relay's TLS, in the page's language; `None` when
/// TLS is not what failed (the client's own words are shown then).
fn tls_words(tr: &crate::i18n::Catalogue, link: &RelayLink) -> Option<String> {
    use starling_app::client::TlsProblem as P;
    let key = match link.tls.as_ref()? {
        P::UnknownIssuer => "tls-unknown-issuer",
        P::WrongName => "tls-wrong-name",
        P::Expired => "tls-expired",
        P::NotYetValid => "tls-not-yet-valid",
        P::Revoked => "tls-revoked",
        P::NotTls => "tls-not-tls",
        _ => return None,
    };
    Some(tr.t(key))
}

/// `POST /relays/trust`: a certificate authority, from a file or pasted.
pub fn trust(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>, file: Upload) -> Answer {
    let tr = ctx.tr;
    let pasted = field(f, "pem");
    // The field an error belongs beside: the file, unless text was pasted
    // and no file chosen.
    let (label, pem, which) = match (file, pasted) {
        (Some((name, bytes)), _) if !bytes.is_empty() => {
            let name = if name.trim().is_empty() {
                tr.t("relays-ca-uploaded")
            } else {
                name
            };
            (name, bytes, "file")
        }
        (_, Some(text)) => (tr.t("relays-ca-pasted"), text.as_bytes().to_vec(), "pem"),
        _ => {
            let why = tr.t("relays-add-nothing");
            return relays_page(app, ctx, None, &[("file".to_owned(), why)]);
        }
    };
    match app.client().trust_ca(&pem, &label) {
        Ok(_) => done("/relays", "done-ca-trusted"),
        Err(e) => {
            let why = refusal(e.into())?;
            relays_page(app, ctx, pasted, &[(which.to_owned(), why)])
        }
    }
}

/// `GET /relays/untrust?ca=…`: what removing it means, and the box to tick.
pub fn untrust_form(app: &App, ctx: &Ctx<'_>, q: &HashMap<String, String>) -> Answer {
    untrust_page(app, ctx, q.get("ca").map_or("", String::as_str), &[])
}

fn untrust_page(app: &App, ctx: &Ctx<'_>, fp: &str, errors: &[(String, String)]) -> Answer {
    let tr = ctx.tr;
    let Some(ca) = app
        .client()
        .trusted_cas()?
        .into_iter()
        .find(|c| !fp.is_empty() && c.fingerprint == fp)
    else {
        return Err(crate::routes::Problem::NotFound(tr.t("relays-ca-gone")));
    };
    let body = html! {
        h1 { (tr.t("relays-untrust-title")) }
        (error_summary(tr, errors))
        p { (tr.ta("relays-untrust-what", &[("from", s(ca.label.clone()))])) }
        form method="post" action="/relays/untrust" novalidate {
            (csrf(ctx.csrf))
            input type="hidden" name="ca" value=(ca.fingerprint);
            (confirm_box(errors, &tr.t("relays-untrust-confirm")))
            button.warning type="submit" { (tr.t("relays-untrust-button")) }
        }
        p { a href="/relays" { (tr.t("relays-back")) } }
    };
    Ok(ctx.page(
        tr.t("relays-untrust-title"),
        Section::Relays,
        None,
        None,
        body,
    ))
}

/// `POST /relays/untrust`.
pub fn untrust(app: &App, ctx: &Ctx<'_>, f: &HashMap<String, String>) -> Answer {
    let fp = field(f, "ca").unwrap_or("");
    if let Some(errors) = unconfirmed(f, ctx.tr.t("relays-untrust-unticked")) {
        return untrust_page(app, ctx, fp, &errors);
    }
    // Only a whole fingerprint from this page's own list.
    if !app
        .client()
        .trusted_cas()?
        .iter()
        .any(|c| !fp.is_empty() && c.fingerprint == fp)
    {
        return done("/relays", "done-ca-already-gone");
    }
    app.client().untrust_ca(fp)?;
    done("/relays", "done-ca-untrusted")
}
