//! The routes, and the glue between a request and a screen: each handler
//! runs its work on a blocking thread with the store, and answers with a
//! page, a redirect (after a successful form), or an error page.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use starling_app::{App, AppError, ErrorKind};

use crate::AppState;
use crate::i18n::Catalogue;
use crate::live::Status;
use crate::pages::{self, Page, Section, layout};

/// What a screen needs besides the store.
pub(crate) struct Ctx<'a> {
    pub tr: &'a Catalogue,
    pub csrf: &'a str,
    pub status: Status,
    pub flash: Option<String>,
    pub revision: u64,
    /// Where "Your data" saves copies.
    pub export_dir: &'a std::path::Path,
    /// The live sync: how each relay stands.
    pub live: &'a crate::live::Live,
}

impl Ctx<'_> {
    /// A full page.
    pub fn page(
        &self,
        title: String,
        section: Section,
        journal: Option<&str>,
        attribution: Option<String>,
        body: Markup,
    ) -> Response {
        let p = Page {
            tr: self.tr,
            title,
            journal,
            status: self.status,
            flash: self.flash.clone(),
            attribution,
            section,
            revision: self.revision,
            csrf: self.csrf,
        };
        axum::response::Html(layout(&p, body).into_string()).into_response()
    }
}

/// Why a screen could not be shown.
#[derive(Debug)]
pub(crate) enum Problem {
    /// Nothing by that name on this device.
    NotFound(String),
    /// Anything else.
    Failed(String),
    /// This device is not set up yet: the first-run page comes first.
    NotSetUp,
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        if matches!(
            e,
            AppError::Client(starling_app::client::ClientError::NoIdentity)
        ) {
            return Problem::NotSetUp;
        }
        let text = chain(&e);
        match e.kind() {
            ErrorKind::NotFound => Problem::NotFound(text),
            _ => Problem::Failed(text),
        }
    }
}

impl From<starling_app::client::ClientError> for Problem {
    fn from(e: starling_app::client::ClientError) -> Self {
        AppError::from(e).into()
    }
}

/// What to tell the person beside a field when the app refused what they
/// typed (an invalid input); any other error is the page's problem.
pub(crate) fn refusal(e: AppError) -> Result<String, Problem> {
    match e.kind() {
        ErrorKind::Invalid => Ok(chain(&e)),
        _ => Err(e.into()),
    }
}

/// An error with its causes, for people.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = c.source();
    }
    text
}

pub(crate) type Answer = Result<Response, Problem>;

fn flash(tr: &Catalogue, q: &HashMap<String, String>) -> Option<String> {
    q.get("done")
        .filter(|k| {
            k.starts_with("done-") && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
        .map(|k| tr.t(k))
}

impl AppState {
    /// Runs `f` with the store on a blocking thread, and answers.
    pub(crate) async fn run(
        &self,
        q: HashMap<String, String>,
        f: impl FnOnce(&App, &Ctx<'_>) -> Answer + Send + 'static,
    ) -> Response {
        let state = self.clone();
        let done = tokio::task::spawn_blocking(move || {
            let ctx = Ctx {
                tr: &state.tr,
                csrf: &state.secrets.csrf,
                status: state.live.status(),
                flash: flash(&state.tr, &q),
                revision: state.live.revision(),
                export_dir: &state.export_dir,
                live: &state.live,
            };
            let app = match state.app.lock() {
                Ok(a) => a,
                Err(poisoned) => poisoned.into_inner(),
            };
            match f(&app, &ctx) {
                Ok(r) => r,
                Err(p) => problem_page(&ctx, p),
            }
        })
        .await;
        done.unwrap_or_else(|_| {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        })
    }
}

fn problem_page(ctx: &Ctx<'_>, p: Problem) -> Response {
    let (status, title, text) = match p {
        Problem::NotSetUp => {
            return done("/", "done-set-up-first")
                .unwrap_or_else(|_| StatusCode::SEE_OTHER.into_response());
        }
        Problem::NotFound(t) => (StatusCode::NOT_FOUND, ctx.tr.t("problem-not-found"), t),
        Problem::Failed(t) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            ctx.tr.t("problem-failed"),
            t,
        ),
    };
    let body = html! {
        h1 { (title) }
        p { (text) }
        p { a href="/" { (ctx.tr.t("problem-back")) } }
    };
    let mut r = ctx.page(title, Section::Journals, None, None, body);
    *r.status_mut() = status;
    r
}

/// Redirect after a successful form, with a message to show once.
pub(crate) fn done(to: &str, key: &str) -> Answer {
    // Where to go can come from a form: only a plain path of this UI.
    let plain = to.starts_with('/')
        && !to.starts_with("//")
        && to
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'#');
    let to = if plain { to } else { "/" };
    Ok(Redirect::to(&with_query(to, &format!("done={key}"))).into_response())
}

/// `url` with `query` added to its query string.
pub(crate) fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// The refusal of a form whose CSRF token (`f["csrf"]`) is not this
/// launch's; `None` for one of ours.
fn not_ours(s: &AppState, f: &HashMap<String, String>) -> Option<Response> {
    let ours = crate::security::csrf_ok(s, f.get("csrf").map_or("", |v| v));
    (!ours).then(|| {
        (
            StatusCode::FORBIDDEN,
            "refused: this form is not from this page",
        )
            .into_response()
    })
}

type Q = Query<Vec<(String, String)>>;

/// Query pairs as a map; a repeated key (checkboxes) joins its values with `,`.
fn fold(pairs: Vec<(String, String)>) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for (k, v) in pairs {
        out.entry(k)
            .and_modify(|x| {
                x.push(',');
                x.push_str(&v);
            })
            .or_insert(v);
    }
    out
}
type F = FormIn;

/// A form as sent, each line break made `\n` (see [`pages::forms::lines`]):
/// every form handler takes its fields through this.
pub(crate) struct FormIn(pub HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for FormIn {
    type Rejection =
        <axum::Form<HashMap<String, String>> as axum::extract::FromRequest<S>>::Rejection;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Form(f) = axum::Form::from_request(req, state).await?;
        Ok(FormIn(pages::forms::lines(f)))
    }
}

pub(crate) fn router(state: AppState) -> Router {
    use pages::{
        caseload, conflicts, devices, journal, plan, reading, records, relays, report, rights,
        share,
    };
    macro_rules! page {
        ($f:path) => {
            |State(s): State<AppState>, Query(q): Q| async move {
                let q = fold(q);
                let q2 = q.clone();
                s.run(q, move |app, ctx| $f(app, ctx, &q2)).await
            }
        };
    }
    macro_rules! doc_page {
        ($f:path) => {
            |State(s): State<AppState>, Path(doc): Path<String>, Query(q): Q| async move {
                let q = fold(q);
                let q2 = q.clone();
                s.run(q, move |app, ctx| $f(app, ctx, &doc, &q2)).await
            }
        };
    }
    macro_rules! form {
        ($f:path) => {
            |State(s): State<AppState>, FormIn(f): F| async move {
                if let Some(refused) = not_ours(&s, &f) {
                    return refused;
                }
                s.run(HashMap::new(), move |app, ctx| $f(app, ctx, &f))
                    .await
            }
        };
    }
    macro_rules! doc_form {
        ($f:path) => {
            |State(s): State<AppState>, Path(doc): Path<String>, FormIn(f): F| async move {
                if let Some(refused) = not_ours(&s, &f) {
                    return refused;
                }
                s.run(HashMap::new(), move |app, ctx| $f(app, ctx, &doc, &f))
                    .await
            }
        };
    }
    macro_rules! reading_form {
        ($f:path) => {
            |State(s): State<AppState>,
             Path((doc, rid)): Path<(String, String)>,
             FormIn(f): F| async move {
                if let Some(refused) = not_ours(&s, &f) {
                    return refused;
                }
                s.run(HashMap::new(), move |app, ctx| $f(app, ctx, &doc, &rid, &f))
                    .await
            }
        };
    }
    Router::new()
        .route("/", get(page!(caseload::home)))
        .route("/report", get(page!(report::page)))
        .route("/setup", post(form!(caseload::setup)))
        .route("/setup/link", post(form!(devices::setup_link)))
        .route("/setup/recover", post(form!(devices::setup_recover)))
        .route("/devices", get(page!(devices::page)))
        .route("/devices/link", post(form!(devices::link)))
        .route("/devices/recovery", post(form!(devices::recovery)))
        .route(
            "/devices/remove",
            get(page!(devices::remove_form)).post(form!(devices::remove)),
        )
        .route("/quit", post(quit))
        .route("/relays", get(page!(relays::page)))
        .route("/relays/trust", post(trust_ca))
        .route(
            "/relays/untrust",
            get(page!(relays::untrust_form)).post(form!(relays::untrust)),
        )
        .route(
            "/new",
            get(page!(caseload::new_form)).post(form!(caseload::new_journal)),
        )
        .route(
            "/join",
            get(page!(caseload::join_form)).post(form!(caseload::join)),
        )
        .route("/j/{doc}", get(doc_page!(journal::overview)))
        .route(
            "/j/{doc}/relay",
            get(doc_page!(journal::relay_form)).post(doc_form!(journal::relay)),
        )
        .route("/j/{doc}/reading", post(doc_form!(reading::new_reading)))
        .route("/j/{doc}/r/{rid}", get(reading_page))
        .route("/j/{doc}/r/{rid}/a/{area}", get(area_page).post(area_form))
        .route(
            "/j/{doc}/r/{rid}/date",
            post(reading_form!(reading::set_date)),
        )
        .route(
            "/j/{doc}/r/{rid}/delete",
            post(reading_form!(reading::delete)),
        )
        .route(
            "/j/{doc}/deleted",
            get(doc_page!(reading::deleted)).post(doc_form!(reading::restore)),
        )
        .route("/j/{doc}/resolve", post(doc_form!(conflicts::resolve)))
        .route("/j/{doc}/conflicts", get(doc_page!(conflicts::page)))
        .route("/j/{doc}/signoff", post(doc_form!(reading::sign_off)))
        .route(
            "/j/{doc}/plan",
            get(doc_page!(plan::page)).post(doc_form!(plan::act)),
        )
        .route(
            "/j/{doc}/notes",
            get(doc_page!(records::notes)).post(doc_form!(records::add_note)),
        )
        .route("/j/{doc}/history", get(doc_page!(records::history)))
        .route(
            "/j/{doc}/share",
            get(doc_page!(share::page)).post(doc_form!(share::invite)),
        )
        .route(
            "/j/{doc}/revoke",
            get(doc_page!(share::revoke_form)).post(doc_form!(share::revoke)),
        )
        .route(
            "/j/{doc}/invites/withdraw",
            post(doc_form!(share::withdraw)),
        )
        .route("/j/{doc}/export", get(doc_page!(records::export_page)))
        .route("/j/{doc}/export/{format}", get(export_file))
        .route("/j/{doc}/print", get(doc_page!(records::print)))
        .route("/j/{doc}/access", get(doc_page!(rights::access_page)))
        .route(
            "/j/{doc}/delete",
            get(doc_page!(rights::erase_form)).post(doc_form!(rights::erase)),
        )
        .route(
            "/data",
            get(page!(records::data_page)).post(form!(records::save_data)),
        )
        .route("/events", get(crate::live::events))
        .route("/status.json", get(status_json))
        .route("/assets/{name}", get(crate::assets::file))
        .fallback(|State(s): State<AppState>| async move {
            s.run(HashMap::new(), |_, ctx| {
                Err(Problem::NotFound(ctx.tr.t("problem-no-page")))
            })
            .await
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::security::guard,
        ))
        .with_state(state)
}

/// `POST /quit`: "Stop Starling". Says it stopped, then stops serving and
/// syncing (a page already answering finishes first), so a person who
/// opened it from a launcher, with no terminal, can end it.
async fn quit(State(s): State<AppState>, FormIn(f): F) -> Response {
    if let Some(refused) = not_ours(&s, &f) {
        return refused;
    }
    let quit = s.quit.clone();
    let page = s
        .run(HashMap::new(), |_, ctx| {
            let tr = ctx.tr;
            let body = html! {
                h1 { (tr.t("quit-title")) }
                p { (tr.t("quit-saved")) }
                p { (tr.t("quit-again")) }
            };
            Ok(ctx.page(tr.t("quit-title"), Section::Stopped, None, None, body))
        })
        .await;
    // A moment for the browser to fetch the page's stylesheet first.
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let _ = quit.send(true);
    });
    page
}

/// A multipart form's text fields, and its `file` field (name, bytes).
async fn read_multipart(
    mut form: axum::extract::Multipart,
) -> Result<
    (HashMap<String, String>, pages::relays::Upload),
    axum::extract::multipart::MultipartError,
> {
    let mut fields = HashMap::new();
    let mut file = None;
    while let Some(part) = form.next_field().await? {
        let name = part.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = part.file_name().unwrap_or_default().to_owned();
            file = Some((file_name, part.bytes().await?.to_vec()));
        } else {
            fields.insert(name, part.text().await?);
        }
    }
    Ok((fields, file))
}

/// `POST /relays/trust`: a form with a file in it (multipart), so its
/// fields are read here rather than by [`FormIn`].
async fn trust_ca(State(s): State<AppState>, form: axum::extract::Multipart) -> Response {
    let (fields, file) = match read_multipart(form).await {
        Ok(read) => read,
        Err(e) => {
            let why = format!("this form could not be read: {e}");
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    let fields = pages::forms::lines(fields);
    if let Some(refused) = not_ours(&s, &fields) {
        return refused;
    }
    s.run(HashMap::new(), move |app, ctx| {
        pages::relays::trust(app, ctx, &fields, file)
    })
    .await
}

async fn reading_page(
    State(s): State<AppState>,
    Path((doc, rid)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    let q = fold(q);
    let q2 = q.clone();
    s.run(q, move |app, ctx| {
        pages::reading::page(app, ctx, &doc, &rid, &q2)
    })
    .await
}

async fn area_page(
    State(s): State<AppState>,
    Path((doc, rid, area)): Path<(String, String, String)>,
    Query(q): Q,
) -> Response {
    s.run(fold(q), move |app, ctx| {
        pages::reading::area(app, ctx, &doc, &rid, &area, &HashMap::new(), &[])
    })
    .await
}

async fn area_form(
    State(s): State<AppState>,
    Path((doc, rid, area)): Path<(String, String, String)>,
    FormIn(f): F,
) -> Response {
    if let Some(refused) = not_ours(&s, &f) {
        return refused;
    }
    s.run(HashMap::new(), move |app, ctx| {
        pages::reading::save_area(app, ctx, &doc, &rid, &area, &f)
    })
    .await
}

async fn export_file(
    State(s): State<AppState>,
    Path((doc, format)): Path<(String, String)>,
) -> Response {
    s.run(HashMap::new(), move |app, _ctx| {
        let row = app.pick(Some(&doc))?;
        let f: starling_app::ExportFormat = format.parse()?;
        let bytes = app.export(&row, f)?;
        let (mime, ext) = match format.as_str() {
            "json" => ("application/json", "json"),
            "csv" => ("text/csv; charset=utf-8", "csv"),
            "fhir" => ("application/fhir+json", "fhir.json"),
            _ => ("application/octet-stream", "automerge"),
        };
        let name = format!("journal-{}.{ext}", starling_app::short(&row.doc));
        Ok((
            [
                (header::CONTENT_TYPE, mime.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response())
    })
    .await
}

async fn status_json(State(s): State<AppState>) -> Response {
    axum::Json(serde_json::json!({ "status": s.live.status() })).into_response()
}
