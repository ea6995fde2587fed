//! Keeping the UI to the person at this machine.
//!
//! - The server listens on 127.0.0.1 only, on a free port.
//! - `starling ui` prints a URL carrying a secret made for this launch
//!   (`/?token=…`, as Jupyter does). The first request trades it for an
//!   `HttpOnly`, `SameSite=Strict` session cookie and redirects to a URL
//!   without it. Every other request needs the cookie.
//! - The `Host` header must be the loopback address served (a DNS
//!   rebinding page at `evil.example` resolving to 127.0.0.1 sends its own
//!   name), and an `Origin`, when sent, must be ours.
//! - A state-changing request (POST) must come from our own pages: an
//!   `Origin` (or `Referer`) of ours, no `Sec-Fetch-Site: cross-site`, and
//!   the form's CSRF token.
//! - Every response carries a strict Content-Security-Policy (no inline
//!   script or style, nothing from elsewhere), `nosniff`, no referrer, and
//!   may not be framed.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand_core::RngCore;

use crate::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "starling_session";

/// This launch's secrets and where it listens.
#[derive(Clone)]
pub struct Secrets {
    /// In the URL printed at launch; traded once per browser for a cookie.
    pub token: String,
    /// The session cookie's value.
    pub session: String,
    /// Sent with every form.
    pub csrf: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// `localhost:PORT`.
    pub alt_host: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Secrets {
    /// Fresh secrets for a server on `port`.
    pub fn new(port: u16) -> Secrets {
        Secrets {
            token: random_hex(),
            session: random_hex(),
            csrf: random_hex(),
            host: format!("127.0.0.1:{port}"),
            alt_host: format!("localhost:{port}"),
        }
    }

    fn ours(&self, host: &str) -> bool {
        host == self.host || host == self.alt_host
    }

    fn our_origin(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|h| self.ours(h))
    }
}

/// Equal without leaking where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_owned())
        })
}

/// A refusal, with the headers every answer carries.
fn refuse(status: StatusCode, text: &str) -> Response {
    with_headers(
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text.to_owned(),
        )
            .into_response(),
    )
}

/// The guard every request passes (see the module docs).
pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let s = &state.secrets;
    let headers = req.headers();
    let host = header(headers, header::HOST).unwrap_or_default();
    if !s.ours(host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: this page is served only to 127.0.0.1",
        );
    }
    if let Some(origin) = header(headers, header::ORIGIN)
        && !s.our_origin(origin)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: a request from another site",
        );
    }
    // The launch link: trade the token for a cookie, then drop it from the URL.
    if let Some(token) = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
    {
        if !same(token, &s.token) {
            return refuse(
                StatusCode::FORBIDDEN,
                "refused: this link is not from this launch of starling ui",
            );
        }
        let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", s.session);
        let mut resp = Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, "/")
            .body(Body::empty())
            .unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return with_headers(resp);
    }
    let session = cookie(headers);
    if !session.is_some_and(|c| same(&c, &s.session)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "refused: open Starling with the link `starling ui` printed",
        );
    }
    if req.method() == axum::http::Method::POST {
        let cross = header(headers, header::HeaderName::from_static("sec-fetch-site"))
            .is_some_and(|v| v == "cross-site");
        let origin_ok = header(headers, header::ORIGIN).is_some_and(|o| s.our_origin(o))
            || header(headers, header::REFERER).is_some_and(|r| {
                r.strip_prefix("http://")
                    .and_then(|rest| rest.split('/').next())
                    .is_some_and(|h| s.ours(h))
            });
        if cross || !origin_ok {
            return refuse(StatusCode::FORBIDDEN, "refused: a form from another site");
        }
    }
    with_headers(next.run(req).await)
}

/// The content security policy: our own files only; no inline script or
/// style; forms post only here; never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (k, v) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Whether a form's CSRF token is this launch's.
pub(crate) fn csrf_ok(state: &AppState, token: &str) -> bool {
    same(token, &state.secrets.csrf)
}
