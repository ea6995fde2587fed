//! The stylesheet and the script, built into the binary. Their paths carry
//! a hash of their content, so a browser keeps them for good and fetches
//! them again only when a new build changes them: a page costs one request.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// FNV-1a, 64 bits: enough to tell two builds' files apart (not a
/// security measure; the files come from the binary itself).
const fn fnv(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const CSS_HASH: u64 = fnv(CSS);
const JS_HASH: u64 = fnv(JS);

/// The stylesheet's path, as pages link it.
pub(crate) fn css_path() -> String {
    format!("/assets/app.{CSS_HASH:016x}.css")
}

/// The script's path, as pages link it.
pub(crate) fn js_path() -> String {
    format!("/assets/app.{JS_HASH:016x}.js")
}

/// `GET /assets/{name}`: a file by its hashed name, kept by the browser.
pub(crate) async fn file(Path(name): Path<String>) -> Response {
    let (kind, body) = if name == css_path()["/assets/".len()..] {
        ("text/css; charset=utf-8", CSS)
    } else if name == js_path()["/assets/".len()..] {
        ("text/javascript; charset=utf-8", JS)
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_s_name_changes_with_its_content() {
        assert_ne!(fnv("body { color: black }"), fnv("body { color: blue }"));
        assert_ne!(css_path(), js_path());
        assert!(css_path().ends_with(".css") && js_path().ends_with(".js"));
    }
}
