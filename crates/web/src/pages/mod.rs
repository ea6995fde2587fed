//! The screens, as server-rendered HTML (maud escapes every value; text
//! from other members and instruments is marked `translate="no"` as data).
//! Every screen works without script: forms post back and redirect.

pub mod caseload;
pub mod conflicts;
pub mod devices;
pub mod forms;
pub mod journal;
pub mod plan;
pub mod reading;
pub mod records;
pub mod relays;
pub mod report;
pub mod rights;
pub mod share;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::i18n::Catalogue;
use crate::live::Status;

/// What every page shows around its content.
pub struct Page<'a> {
    /// Messages.
    pub tr: &'a Catalogue,
    /// The page's title (also its `<h1>` unless the page has its own).
    pub title: String,
    /// The journal the page shows, for live updates.
    pub journal: Option<&'a str>,
    /// Where sync stands.
    pub status: Status,
    /// A message after an action (`?done=`), shown once.
    pub flash: Option<String>,
    /// The instrument's licence line, where its names appear.
    pub attribution: Option<String>,
    /// The current section, for `aria-current` in the navigation.
    pub section: Section,
    /// The live revision the page was rendered at.
    pub revision: u64,
    /// This launch's form token, for the footer's "Stop Starling".
    pub csrf: &'a str,
}

/// Top-level sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The journals list.
    Journals,
    /// Creating or joining.
    Add,
    /// Inside one journal.
    Journal,
    /// Your data: a copy of everything.
    Data,
    /// Your devices and recovery code.
    Devices,
    /// The relays, and the certificate authorities this device trusts.
    Relays,
    /// Setting this device up: no menu and no sync status, as nothing
    /// behind them works yet.
    FirstRun,
    /// Starling has stopped: nothing behind a link works any more.
    Stopped,
}

/// A button that copies the text of the element `target` (an id), for a
/// link to hand over: hidden until the page's script finds a clipboard,
/// and it says in the live region that it copied.
pub fn copy_button(tr: &Catalogue, target: &str) -> Markup {
    html! {
        button.secondary.copy type="button" hidden data-copy=(target)
            data-copied=(tr.t("copy-done")) data-failed=(tr.t("copy-failed"))
            data-label=(tr.t("copy-link")) data-done-label=(tr.t("copy-done-short")) {
            (tr.t("copy-link"))
        }
    }
}

/// Data from peers or instruments, never translated.
pub fn data(text: &str) -> Markup {
    html! { span translate="no" { (text) } }
}

/// The whole page.
pub fn layout(p: &Page<'_>, main: Markup) -> Markup {
    let tr = p.tr;
    let current = |s: Section| if p.section == s { Some("page") } else { None };
    html! {
        (DOCTYPE)
        html lang=(tr.lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (p.title) " – " (tr.t("app-name")) }
                link rel="stylesheet" href=(crate::assets::css_path());
                // No icon to fetch: the browser asks no /favicon.ico.
                link rel="icon" href="data:,";
                // Stopped: no live updates to listen for.
                @if p.section != Section::Stopped {
                    script src=(crate::assets::js_path()) defer {}
                }
            }
            body data-journal=[p.journal] data-revision=(p.revision)
                data-status-page[p.section == Section::Relays] {
                a.skip href="#main" { (tr.t("skip-to-content")) }
                header.top {
                    div.wrap {
                        a.brand href="/" { (tr.t("app-name")) }
                        @if !matches!(p.section, Section::FirstRun | Section::Stopped) {
                        nav.main aria-label=(tr.t("nav-label")) {
                            ul {
                                li { a href="/" aria-current=[current(Section::Journals)] { (tr.t("nav-journals")) } }
                                li { a href="/new" aria-current=[current(Section::Add)] { (tr.t("nav-new")) } }
                                li { a href="/join" { (tr.t("nav-join")) } }
                                li { a href="/data" aria-current=[current(Section::Data)] { (tr.t("nav-data")) } }
                                li { a href="/devices" aria-current=[current(Section::Devices)] { (tr.t("nav-devices")) } }
                            }
                        }
                        }
                    }
                }
                @if !matches!(p.section, Section::FirstRun | Section::Stopped) {
                    div.status {
                        p.wrap id="sync-status" {
                            strong { (tr.t("status-label")) " " }
                            span id="sync-status-text" role="status" { (tr.t(p.status.message())) }
                            @if p.status != Status::NothingYet {
                                " " a href="/relays" aria-current=[current(Section::Relays)] { (tr.t("status-relays")) }
                            }
                        }
                    }
                }
                div.wrap {
                    main id="main" tabindex="-1" {
                        @if let Some(f) = &p.flash {
                            div.notice role="status" { p { (f) } }
                        }
                        (main)
                    }
                }
                div.banner id="changes-banner" hidden {
                    div.wrap {
                        span data-text { (tr.t("live-new-changes")) }
                        button.secondary id="changes-show" type="button" { (tr.t("live-show")) }
                    }
                }
                div.visually-hidden id="live" aria-live="polite" {}
                footer.foot {
                    div.wrap {
                        @if let Some(a) = &p.attribution {
                            p translate="no" { (a) }
                        }
                        p { (tr.t("footer-local")) }
                        @if p.section != Section::Stopped {
                            form method="post" action="/quit" {
                                (csrf(p.csrf))
                                button.link type="submit" { (tr.t("quit-button")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An error summary at the top of a form (each error links to its field).
pub fn error_summary(tr: &Catalogue, errors: &[(String, String)]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
                h2 id="error-summary-title" { (tr.t("error-summary")) }
                ul {
                    @for (field, text) in errors {
                        li { a href=(format!("#{field}")) { (text) } }
                    }
                }
            }
        }
    }
}

/// How a form control is described: by its hint and its errors.
pub struct Described {
    /// `aria-describedby`: the hint's id and the error's, if any.
    pub by: Option<String>,
    /// Whether the field has an error (`aria-invalid`).
    pub invalid: bool,
}

impl Described {
    /// `aria-invalid`'s value, when there is an error.
    pub fn invalid(&self) -> Option<&'static str> {
        self.invalid.then_some("true")
    }
}

/// A form field: `label` (with any hint, whose id is `hint`), the errors
/// for the control `id` (each said beside it, and tied to it), and the
/// control, which `control` draws with the description it is given.
pub fn form_field(
    id: &str,
    hint: Option<&str>,
    errors: &[(String, String)],
    label: Markup,
    control: impl FnOnce(Described) -> Markup,
) -> Markup {
    let mine: Vec<&String> = errors
        .iter()
        .filter(|(f, _)| f == id)
        .map(|(_, e)| e)
        .collect();
    let error_id = format!("{id}-error");
    let by: Vec<&str> = hint
        .into_iter()
        .chain((!mine.is_empty()).then_some(error_id.as_str()))
        .collect();
    let described = Described {
        by: (!by.is_empty()).then(|| by.join(" ")),
        invalid: !mine.is_empty(),
    };
    html! {
        div.field.has-error[!mine.is_empty()] {
            (label)
            @if !mine.is_empty() {
                p.error id=(error_id) {
                    @for (i, e) in mine.iter().enumerate() { @if i > 0 { " " } (e) }
                }
            }
            (control(described))
        }
    }
}

/// The CSRF field every form carries.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A button that posts a small form.
pub fn post_button(
    action: &str,
    csrf_token: &str,
    label: &str,
    class: &str,
    hidden: &[(&str, &str)],
) -> Markup {
    post_button_for(action, csrf_token, label, None, class, hidden)
}

/// As [`post_button`], for one of several alike ("Mark done" on each
/// step): `what` it acts on ends its name, for those who hear it, not
/// see it beside the button.
pub fn post_button_for(
    action: &str,
    csrf_token: &str,
    label: &str,
    what: Option<&str>,
    class: &str,
    hidden: &[(&str, &str)],
) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(csrf_token))
            @for (k, v) in hidden {
                input type="hidden" name=(k) value=(v);
            }
            // Named whole ("Mark done: Call the GP") rather than by a
            // visually hidden span, whose position Chromium reads as a
            // word break ("Mark done : Call the GP").
            button class=(class) type="submit" aria-label=[what.map(|w| format!("{label}: {w}"))] {
                (label)
            }
        }
    }
}

/// A link as a QR code (SVG), for a phone's camera; `None` if too long.
pub(crate) fn qr_svg(link: &str) -> Option<String> {
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .quiet_zone(true)
            .min_dimensions(200, 200)
            .build(),
    )
}

/// Inline SVG (already escaped by its writer).
pub fn svg(text: String) -> Markup {
    PreEscaped(text)
}

/// An area's name as the journal's readings give it ("Work"), or its id
/// when no reading has it.
pub(crate) fn area_name(view: &recovery_journal::JournalView, area: &str) -> String {
    view.readings
        .iter()
        .rev()
        .find_map(|r| r.area(area))
        .map_or_else(|| area.to_owned(), |a| a.name.clone())
}

/// A change's message (written by the app that made it, in English, with
/// area ids) as people read it: an id of several words ("self_care") by
/// its area's name ("Self-care"), from `view`'s readings or the bundled
/// instruments. A one-word id ("work") is named only as the first word
/// equal to `area`, the area the change says it is about (the app's words
/// come before any a person typed, such as a goal's title).
pub(crate) fn area_words(
    text: &str,
    view: Option<&recovery_journal::JournalView>,
    area: Option<&str>,
) -> String {
    static BUNDLED: std::sync::OnceLock<std::collections::HashMap<String, String>> =
        std::sync::OnceLock::new();
    let bundled = BUNDLED.get_or_init(|| {
        recovery_journal::Instrument::all_bundled()
            .into_iter()
            .flat_map(|i| i.areas.into_iter().map(|a| (a.id, a.name)))
            .collect()
    });
    let name = |id: &str| {
        view.map(|v| area_name(v, id))
            .filter(|n| n != id)
            .or_else(|| bundled.get(id).cloned())
    };
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let mut area = area;
    let mut flush = |word: &mut String, out: &mut String| {
        let about = area == Some(word.as_str());
        match name(word).filter(|_| word.contains('_') || about) {
            Some(n) => out.push_str(&n),
            None => out.push_str(word),
        }
        if about {
            area = None;
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::area_words;

    #[test]
    fn messages_say_areas_of_several_words_by_name_and_leave_the_rest() {
        assert_eq!(
            area_words(
                "worker scored self_care 3 on reading 2026-11-23",
                None,
                None
            ),
            "worker scored Self care 3 on reading 2026-11-23"
        );
        assert_eq!(
            area_words(
                "added goal on self_care: fix my_bike, self_caring",
                None,
                None
            ),
            "added goal on Self care: fix my_bike, self_caring"
        );
        assert_eq!(area_words("scored work 6", None, None), "scored work 6");
        // About the work area: its id is its name there.
        assert_eq!(
            area_words("added goal on work: find work", None, Some("work")),
            "added goal on Work: find work"
        );
    }
}
