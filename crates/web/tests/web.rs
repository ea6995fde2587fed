//! The UI over real HTTP on 127.0.0.1: who may use it (the security rules),
//! every screen answering, and every word coming from the catalogue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use starling_app::{App, ScoreInput};
use starling_web::{UiOptions, UiServer};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request, `Connection: close`.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // Bodies may be chunked: keep what is HTML or text.
    let body = if rest.contains("<!DOCTYPE") {
        rest[rest.find("<!DOCTYPE").unwrap_or(0)..].to_owned()
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Trades the server's launch token for the session cookie.
fn login(server: &UiServer) -> String {
    let url = server.url();
    let r = request(
        server.local_addr(),
        "GET",
        &url[url.find("/?token").unwrap()..],
        &[("Host", &server.local_addr().to_string())],
        "",
    );
    assert_eq!(r.status, 303);
    let cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
}

/// A home with one journal (client Sam, a reading, a score, a note), and
/// its UI served without a live sync.
struct Ui {
    runtime: tokio::runtime::Runtime,
    server: Option<UiServer>,
    _home: tempfile::TempDir,
    doc: String,
    reading: String,
}

impl Ui {
    fn start(lang: &str, client_name: &str) -> Ui {
        Self::start_on(lang, client_name, "127.0.0.1:9")
    }

    /// As [`Ui::start`], the journal synced through `relay`.
    fn start_on(lang: &str, client_name: &str, relay: &str) -> Ui {
        let home = tempfile::tempdir().unwrap();
        let app = App::open(home.path()).unwrap();
        app.init("Sam").unwrap();
        let doc = app
            .new_journal(relay, Some(client_name), "recovery-star")
            .unwrap()
            .to_string();
        let row = app.pick(Some(&doc)).unwrap();
        let (reading, _, _) = app
            .new_reading(&row, Some("2026-11-23"), "joint", "recovery-star")
            .unwrap();
        app.score(&row, &ScoreInput::new("work", 4)).unwrap();
        app.add_note(&row, "Went to the group", Some("social_networks"), None)
            .unwrap();
        let goal = app
            .add_goal(&row, "work", "Find volunteering", Some(6), None)
            .unwrap();
        app.add_step(
            &row,
            goal.as_str(),
            "Call the centre",
            "client",
            Some("2026-12-01"),
        )
        .unwrap();
        drop(app);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let options = UiOptions {
            lang: lang.into(),
            port: 0,
            live_sync: false,
            export_dir: Some(home.path().join("exports")),
        };
        let server = runtime
            .block_on(starling_web::serve(home.path(), options))
            .unwrap();
        Ui {
            runtime,
            server: Some(server),
            _home: home,
            doc,
            reading: reading.to_string(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().local_addr()
    }

    fn host(&self) -> String {
        self.addr().to_string()
    }

    fn token_path(&self) -> String {
        let url = self.server.as_ref().unwrap().url();
        url[url.find("/?token").unwrap()..].to_owned()
    }

    /// Trades the launch token for the session cookie.
    fn login(&self) -> String {
        login(self.server.as_ref().unwrap())
    }

    fn get(&self, cookie: &str, path: &str) -> Reply {
        request(
            self.addr(),
            "GET",
            path,
            &[("Host", &self.host()), ("Cookie", cookie)],
            "",
        )
    }

    /// A form sent from one of this UI's pages, as the browser sends it.
    fn post(&self, cookie: &str, path: &str, body: &str) -> Reply {
        let host = self.host();
        let origin = format!("http://{host}");
        request(
            self.addr(),
            "POST",
            path,
            &[("Host", &host), ("Cookie", cookie), ("Origin", &origin)],
            body,
        )
    }

    fn pages(&self) -> Vec<String> {
        let (d, r) = (&self.doc, &self.reading);
        vec![
            "/".into(),
            "/new".into(),
            "/join".into(),
            format!("/j/{d}"),
            format!("/j/{d}/r/{r}"),
            format!("/j/{d}/r/{r}/a/work"),
            format!("/j/{d}/plan"),
            format!("/j/{d}/notes"),
            format!("/j/{d}/history"),
            format!("/j/{d}/share"),
            format!("/j/{d}/export"),
            format!("/j/{d}/print"),
            format!("/j/{d}/access"),
            format!("/j/{d}/delete"),
            format!("/j/{d}/deleted"),
            format!("/j/{d}/conflicts"),
            "/data".into(),
            "/devices".into(),
            "/devices/remove?device=abcdef12".into(),
            "/report".into(),
            "/relays".into(),
        ]
    }
}

/// A UI on a home with no identity yet (the first-run page).
fn serve_empty(runtime: &tokio::runtime::Runtime, home: &std::path::Path) -> UiServer {
    let options = UiOptions {
        lang: "en".into(),
        port: 0,
        live_sync: false,
        export_dir: None,
    };
    runtime
        .block_on(starling_web::serve(home, options))
        .unwrap()
}

impl Drop for Ui {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    html[at..at + 64].to_owned()
}

#[test]
fn only_this_machines_own_browser_with_the_launch_link_gets_in() {
    let ui = Ui::start("en", "Sam");
    let host = ui.host();
    // No cookie: refused.
    let r = request(ui.addr(), "GET", "/", &[("Host", &host)], "");
    assert_eq!(r.status, 401);
    // A wrong token: refused, with the headers every answer carries.
    let r = request(ui.addr(), "GET", "/?token=00", &[("Host", &host)], "");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r.header("content-security-policy").is_some());
    let cookie = ui.login();
    // An address that is no page: a page saying so, and the way back.
    let r = ui.get(&cookie, "/j/nothing/here");
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("There is no page at this address"),
        "{}",
        r.body
    );
    assert!(r.body.contains("href=\"/\""), "{}", r.body);
    // Another Host (DNS rebinding): refused, cookie or not.
    let r = request(
        ui.addr(),
        "GET",
        "/",
        &[("Host", "evil.example"), ("Cookie", &cookie)],
        "",
    );
    assert_eq!(r.status, 403);
    let r = request(
        ui.addr(),
        "GET",
        &ui.token_path(),
        &[("Host", "evil.example")],
        "",
    );
    assert_eq!(r.status, 403, "not even the launch link");
    // Another Origin: refused.
    let r = request(
        ui.addr(),
        "GET",
        "/",
        &[
            ("Host", &host),
            ("Cookie", &cookie),
            ("Origin", "http://evil.example"),
        ],
        "",
    );
    assert_eq!(r.status, 403);
    // Our page, with every protective header.
    let page = ui.get(&cookie, "/");
    assert_eq!(page.status, 200);
    // Set up: the menu and the sync status are there.
    assert!(page.body.contains("<nav") && page.body.contains("id=\"sync-status\""));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(
        page.body.contains("<link rel=\"icon\" href=\"data:,\">"),
        "no request for a /favicon.ico that is not there"
    );

    // A state-changing request from another site: refused.
    let form = ui.get(&cookie, &format!("/j/{}/notes", ui.doc));
    let token = csrf(&form.body);
    let path = format!("/j/{}/notes", ui.doc);
    let body = format!("csrf={token}&text=from+elsewhere");
    let origin = format!("http://{host}");
    for (name, headers) in [
        ("cross-site origin", vec![("Origin", "http://evil.example")]),
        ("no origin or referer", vec![]),
        (
            "fetch metadata says cross-site",
            vec![
                ("Origin", origin.as_str()),
                ("Sec-Fetch-Site", "cross-site"),
            ],
        ),
    ] {
        let mut h = vec![("Host", host.as_str()), ("Cookie", cookie.as_str())];
        h.extend(headers);
        let r = request(ui.addr(), "POST", &path, &h, &body);
        assert_eq!(r.status, 403, "{name}");
    }
    // Without this launch's CSRF token: refused.
    let h = [
        ("Host", host.as_str()),
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
    ];
    let r = request(ui.addr(), "POST", &path, &h, "csrf=00&text=forged");
    assert_eq!(r.status, 403);
    // Our own form: accepted.
    let r = request(ui.addr(), "POST", &path, &h, &body);
    assert_eq!(r.status, 303);
    let notes = ui.get(&cookie, &path).body;
    assert!(notes.contains("from elsewhere"));
    assert!(!notes.contains("forged"));
}

#[test]
fn text_from_members_is_shown_as_text() {
    let ui = Ui::start("en", "<script>alert(1)</script>");
    let cookie = ui.login();
    for path in ["/".to_owned(), format!("/j/{}", ui.doc)] {
        let page = ui.get(&cookie, &path);
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("<script>alert"), "{path}: raw markup");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: shown as text"
        );
    }
}

#[test]
fn a_reading_is_redated_deleted_and_restored_and_a_future_date_is_refused() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let host = ui.host();
    let origin = format!("http://{host}");
    let h = [
        ("Host", host.as_str()),
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
    ];
    let (d, r) = (&ui.doc, &ui.reading);
    let page = ui.get(&cookie, &format!("/j/{d}/r/{r}"));
    assert!(page.body.contains("value=\"2026-11-23\""), "{}", page.body);
    let token = csrf(&page.body);

    // A date after today: the page again, the reason linked to the field,
    // and the reading keeps its date.
    let action = format!("/j/{d}/r/{r}/date");
    let refused = request(
        ui.addr(),
        "POST",
        &action,
        &h,
        &format!("csrf={token}&date=2999-01-01"),
    );
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("error-summary"), "{}", refused.body);
    assert!(refused.body.contains("href=\"#date\""), "{}", refused.body);
    assert!(refused.body.contains("in the future"), "{}", refused.body);
    assert!(
        refused.body.contains("value=\"2999-01-01\""),
        "what was typed stays"
    );
    let page = ui.get(&cookie, &format!("/j/{d}"));
    assert!(page.body.contains("2026-11-23") && !page.body.contains("2999"));

    // A past date is taken.
    let moved = request(
        ui.addr(),
        "POST",
        &action,
        &h,
        &format!("csrf={token}&date=2026-11-20"),
    );
    assert_eq!(moved.status, 303);
    let page = ui.get(&cookie, &format!("/j/{d}"));
    assert!(page.body.contains("2026-11-20") && !page.body.contains("2026-11-23"));

    // Deleted: gone from the journal, listed on the deleted readings page.
    let gone = request(
        ui.addr(),
        "POST",
        &format!("/j/{d}/r/{r}/delete"),
        &h,
        &format!("csrf={token}"),
    );
    assert_eq!(gone.status, 303);
    assert!(
        gone.header("location")
            .unwrap()
            .ends_with("/deleted?done=done-reading-deleted")
    );
    let page = ui.get(&cookie, &format!("/j/{d}"));
    assert!(!page.body.contains("2026-11-20"), "{}", page.body);
    let deleted = ui.get(&cookie, &format!("/j/{d}/deleted"));
    assert!(
        deleted.body.contains("Restore the reading of 2026-11-20"),
        "{}",
        deleted.body
    );

    // Restored, with its score.
    let back = request(
        ui.addr(),
        "POST",
        &format!("/j/{d}/deleted"),
        &h,
        &format!("csrf={token}&reading={r}"),
    );
    assert_eq!(back.status, 303);
    let page = ui.get(&cookie, &format!("/j/{d}/r/{r}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Reading of 2026-11-20"), "{}", page.body);
    let deleted = ui.get(&cookie, &format!("/j/{d}/deleted"));
    assert!(deleted.body.contains("No readings are deleted."));
}

#[test]
fn a_step_past_its_date_and_not_done_is_marked_overdue_until_done() {
    // The journal's step "Call the centre" was due 2026-12-01.
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let plan = ui.get(&cookie, &format!("/j/{}/plan", ui.doc));
    assert!(plan.body.contains(">overdue<"), "{}", plan.body);
    let host = ui.host();
    let origin = format!("http://{host}");
    let h = [
        ("Host", host.as_str()),
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
    ];
    let hidden = |name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        let at = plan.body.find(&key).unwrap() + key.len();
        plan.body[at..at + plan.body[at..].find('"').unwrap()].to_owned()
    };
    let (goal, step) = (hidden("goal"), hidden("step"));
    let r = request(
        ui.addr(),
        "POST",
        &format!("/j/{}/plan", ui.doc),
        &h,
        &format!(
            "csrf={}&action=done&goal={goal}&step={step}",
            csrf(&plan.body)
        ),
    );
    assert_eq!(r.status, 303);
    let plan = ui.get(&cookie, &format!("/j/{}/plan", ui.doc));
    assert!(!plan.body.contains(">overdue<"), "{}", plan.body);
}

#[test]
fn every_screen_answers_with_every_message_in_the_catalogue() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    for path in ui.pages() {
        let page = ui.get(&cookie, &path);
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains('⟪'),
            "{path}: a message is missing from the catalogue"
        );
    }
}

/// Text nodes of `html` outside elements marked `translate="no"` (data)
/// and outside `<script>`/`<style>`/`<svg>`.
fn translatable_text(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let mut out = Vec::new();
    for node in doc.tree.nodes() {
        let scraper::Node::Text(t) = node.value() else {
            continue;
        };
        let text = t.trim();
        if text.is_empty() || !text.chars().any(char::is_alphabetic) {
            continue;
        }
        let skip = node.ancestors().any(|a| {
            a.value().as_element().is_some_and(|e| {
                e.attr("translate") == Some("no")
                    || matches!(e.name(), "script" | "style" | "svg" | "title")
            })
        });
        if !skip {
            out.push(text.to_owned());
        }
    }
    out
}

#[test]
fn no_word_on_any_screen_is_hard_coded() {
    // The pseudo-locale brackets every catalogue message: any text node
    // without the brackets did not come from the catalogue.
    let relays = Relays::start(1);
    let ui = Ui::start_on("en-XA", "Sam", &relays.addr(0));
    // An invite not used yet, so the share page lists it too.
    let app = App::open(ui._home.path()).unwrap();
    let row = app.pick(Some(&ui.doc)).unwrap();
    app.share(&row, "editor", "worker", "Bob", "7d").unwrap();
    let cookie = ui.login();
    for path in ui.pages() {
        let page = ui.get(&cookie, &path);
        assert_eq!(page.status, 200, "{path}");
        if path.ends_with("/share") {
            assert!(page.body.contains("invites/withdraw"), "{}", page.body);
        }
        for text in translatable_text(&page.body) {
            assert!(
                text.contains('⟦'),
                "{path}: `{text}` is not from the catalogue"
            );
        }
    }
}

#[test]
fn pages_link_assets_the_browser_keeps_until_a_build_changes_them() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let page = ui.get(&cookie, &format!("/j/{}", ui.doc));
    for (attr, ext, kind) in [
        ("href=\"", ".css", "text/css"),
        ("src=\"", ".js", "text/javascript"),
    ] {
        let at = page
            .body
            .find(&format!("{attr}/assets/app."))
            .unwrap_or_else(|| panic!("no {ext} linked"))
            + attr.len();
        let path = &page.body[at..at + page.body[at..].find('"').unwrap()];
        assert!(path.ends_with(ext), "{path}");
        let file = ui.get(&cookie, path);
        assert_eq!(file.status, 200, "{path}");
        assert!(file.header("content-type").unwrap().starts_with(kind));
        let cache = file.header("cache-control").unwrap();
        assert!(
            cache.contains("immutable") && cache.contains("max-age="),
            "{cache}"
        );
        assert!(!file.body.is_empty());
    }
    // Another build's names (or none) are not served as this build's files.
    for stale in ["/assets/app.css", "/assets/app.0000000000000000.css"] {
        assert_eq!(ui.get(&cookie, stale).status, 404, "{stale}");
    }
    // Pages themselves are never kept: they hold the journal.
    assert_eq!(page.header("cache-control"), Some("no-store"));
}

#[test]
fn your_data_saves_a_copy_of_everything_into_a_new_folder() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let page = ui.get(&cookie, "/data");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Save a copy of everything"));
    let host = ui.host();
    let origin = format!("http://{host}");
    let h = [
        ("Host", host.as_str()),
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
    ];
    let r = request(
        ui.addr(),
        "POST",
        "/data",
        &h,
        &format!("csrf={}", csrf(&page.body)),
    );
    assert_eq!(r.status, 303);
    let to = r.header("location").unwrap().to_owned();
    let name = to
        .split("saved=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap();
    let dir = ui._home.path().join("exports").join(name);
    assert!(dir.join("index.html").is_file(), "{}", dir.display());
    assert!(dir.join("device.json").is_file());
    let journal = std::fs::read_dir(dir.join("journals")).unwrap().count();
    assert_eq!(journal, 1);
    // The page says where, and only for a folder it saved.
    let shown = ui.get(&cookie, &to);
    assert!(
        shown.body.contains(&dir.display().to_string()),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Your copy is in this folder"));
    for made_up in [
        "starling-data-..%2F..%2Fetc",
        "starling-data-2020-01-01-000000",
    ] {
        let page = ui.get(&cookie, &format!("/data?saved={made_up}"));
        assert!(
            !page.body.contains("Your copy is in this folder"),
            "{made_up}"
        );
    }
}

#[test]
fn a_journal_says_who_looked_and_its_owner_deletes_it_only_with_the_box_ticked() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let relay = relay_rt
        .block_on(starling_relay::start(
            starling_relay::RelayConfig::for_data_dir(relay_dir.path()),
        ))
        .unwrap();
    let ui = Ui::start_on("en", "Sam", &relay.local_addr().to_string());
    let cookie = ui.login();
    // The relay's log names this device, which sent the journal's changes.
    let page = ui.get(&cookie, &format!("/j/{}/access", ui.doc));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("You (this device)"), "{}", page.body);
    assert!(page.body.contains("sent "), "{}", page.body);
    // When, in words and for machines.
    assert!(page.body.contains("<time datetime=\""), "{}", page.body);
    assert!(page.body.contains(" UTC</time>"), "{}", page.body);
    assert!(!page.body.contains("Someone outside the journal"));

    let form = ui.get(&cookie, &format!("/j/{}/delete", ui.doc));
    assert!(form.body.contains("Delete this journal"), "{}", form.body);
    let host = ui.host();
    let origin = format!("http://{host}");
    let h = [
        ("Host", host.as_str()),
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
    ];
    let token = csrf(&form.body);
    let action = format!("/j/{}/delete", ui.doc);
    // Without the box ticked: the form again, saying what to do.
    let r = request(ui.addr(), "POST", &action, &h, &format!("csrf={token}"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Tick the box to confirm"), "{}", r.body);
    assert!(r.body.contains("error-summary"));
    let still = ui.get(&cookie, "/");
    assert!(still.body.contains("Sam"), "nothing was deleted");
    // Ticked: deleted at the relay and here.
    let r = request(
        ui.addr(),
        "POST",
        &action,
        &h,
        &format!("csrf={token}&confirm=yes"),
    );
    assert_eq!(r.status, 303);
    assert!(
        r.header("location").unwrap().contains("done=done-deleted"),
        "{:?}",
        r.header("location")
    );
    let gone = ui.get(&cookie, &format!("/j/{}", ui.doc));
    assert_eq!(gone.status, 404);
    drop(ui);
    relay_rt.block_on(relay.shutdown());
}

#[test]
fn a_second_device_joins_through_a_link_made_in_the_ui_and_a_third_recovers_from_the_code() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let relay = relay_rt
        .block_on(starling_relay::start(
            starling_relay::RelayConfig::for_data_dir(relay_dir.path()),
        ))
        .unwrap();
    let ui = Ui::start_on("en", "Sam", &relay.local_addr().to_string());
    let cookie = ui.login();
    let host = ui.host();
    let origin = format!("http://{host}");
    let h = [
        ("Host", host.as_str()),
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
    ];
    let page = ui.get(&cookie, "/devices");
    assert!(page.body.contains("this device"), "{}", page.body);
    let token = csrf(&page.body);
    // A new recovery code, shown once, in the groups people write down.
    let r = request(
        ui.addr(),
        "POST",
        "/devices/recovery",
        &h,
        &format!("csrf={token}"),
    );
    assert_eq!(r.status, 200);
    let at = r
        .body
        .find("class=\"recovery-code\"")
        .expect("the code is shown");
    let code: String = r.body[at..]
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 33, "{code}");
    assert_eq!(code.matches('-').count(), 6, "{code}");
    // A link for a new device.
    let r = request(
        ui.addr(),
        "POST",
        "/devices/link",
        &h,
        &format!("csrf={token}"),
    );
    assert_eq!(r.status, 200);
    let at = r.body.find("starling://device/").expect("a device link");
    let link: String = r.body[at..].split('<').next().unwrap().to_owned();
    // And as a QR code, for a phone's camera.
    assert!(
        r.body.contains("aria-label=\"QR code of the device link\"") && r.body.contains("<svg"),
        "{}",
        r.body
    );

    // The new device: a first-run page that offers the link and the code.
    let laptop_home = tempfile::tempdir().unwrap();
    let laptop = serve_empty(&ui.runtime, laptop_home.path());
    let laddr = laptop.local_addr();
    let lhost = laddr.to_string();
    let lcookie = login(&laptop);
    let lorigin = format!("http://{lhost}");
    let lh = [
        ("Host", lhost.as_str()),
        ("Cookie", lcookie.as_str()),
        ("Origin", lorigin.as_str()),
    ];
    let first = request(laddr, "GET", "/", &lh, "");
    assert!(
        first.body.contains("Add this device with a link"),
        "{}",
        first.body
    );
    assert!(first.body.contains("I have my recovery code"));
    let ltoken = csrf(&first.body);
    // A damaged link is refused on the form, nothing stored.
    let r = request(
        laddr,
        "POST",
        "/setup/link",
        &lh,
        &format!("csrf={ltoken}&name=Sam&link=starling%3A%2F%2Fdevice%2Fnope"),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("error-summary"), "{}", r.body);
    let enc: String = link
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    let r = request(
        laddr,
        "POST",
        "/setup/link",
        &lh,
        &format!("csrf={ltoken}&name=Sam&link={enc}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let home = request(laddr, "GET", "/", &lh, "");
    assert!(
        home.body.contains("Sam"),
        "the journal arrived: {}",
        home.body
    );
    let devices = request(laddr, "GET", "/devices", &lh, "");
    assert_eq!(
        devices.body.matches("in 1 of 1").count(),
        2,
        "{}",
        devices.body
    );
    // Which is which, in words, on the laptop.
    assert!(
        devices.body.contains("Your first device"),
        "{}",
        devices.body
    );
    assert!(
        devices.body.contains("Linked from device "),
        "{}",
        devices.body
    );
    // Removing the other one says which it is before asking.
    let at = devices.body.find("/devices/remove?device=").unwrap();
    let href = &devices.body[at..at + devices.body[at..].find('"').unwrap()];
    let confirm = request(laddr, "GET", href, &lh, "");
    assert!(
        confirm.body.contains("Your first device"),
        "{}",
        confirm.body
    );
    ui.runtime.block_on(laptop.shutdown());

    // A third device, from the recovery code alone, typed sloppily.
    let phone_home = tempfile::tempdir().unwrap();
    let phone = serve_empty(&ui.runtime, phone_home.path());
    let paddr = phone.local_addr();
    let phost = paddr.to_string();
    let pcookie = login(&phone);
    let porigin = format!("http://{phost}");
    let ph = [
        ("Host", phost.as_str()),
        ("Cookie", pcookie.as_str()),
        ("Origin", porigin.as_str()),
    ];
    let first = request(paddr, "GET", "/", &ph, "");
    let ptoken = csrf(&first.body);
    let relay_addr = relay.local_addr().to_string();
    // A relay out of reach is said on the form, which keeps what was
    // typed, and the way to recover stays offered.
    let r = request(
        paddr,
        "POST",
        "/setup/recover",
        &ph,
        &format!("csrf={ptoken}&name=Sam&relay=127.0.0.1:9&code={code}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("nothing is listening"), "{}", r.body);
    assert!(r.body.contains("value=\"127.0.0.1:9\""), "{}", r.body);
    assert!(r.body.contains(&format!("value=\"{code}\"")), "{}", r.body);
    let again = request(paddr, "GET", "/", &ph, "");
    assert!(
        again.body.contains("I have my recovery code"),
        "{}",
        again.body
    );
    let ptoken = csrf(&again.body);
    // A mistyped code is refused on the form.
    let mut typo: Vec<char> = code.chars().collect();
    typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let r = request(
        paddr,
        "POST",
        "/setup/recover",
        &ph,
        &format!("csrf={ptoken}&name=Sam&relay={relay_addr}&code={typo}"),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("mistyped"), "{}", r.body);
    let sloppy = code.to_lowercase().replace('-', "+");
    let r = request(
        paddr,
        "POST",
        "/setup/recover",
        &ph,
        &format!("csrf={ptoken}&name=Sam&relay={relay_addr}&code={sloppy}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Welcome back"), "{}", r.body);
    assert!(
        r.body.contains("class=\"recovery-code\""),
        "a new code: {}",
        r.body
    );
    let home = request(paddr, "GET", "/", &ph, "");
    assert!(
        home.body.contains("Sam"),
        "the journal is back: {}",
        home.body
    );
    let devices = request(paddr, "GET", "/devices", &ph, "");
    assert!(
        devices.body.contains("Set up with your recovery code"),
        "{}",
        devices.body
    );
    assert!(
        !devices.body.contains("If that was not you"),
        "the recovered device itself is not warned about"
    );
    // Sam's first device, once synced, warns that the code was used.
    let once = starling_app::SyncOptions::once(std::time::Duration::from_secs(10));
    let _ = App::open(ui._home.path())
        .unwrap()
        .sync(None, &once, |_| {});
    let cookie = ui.login();
    let first_devices = ui.get(&cookie, "/devices");
    assert!(
        first_devices
            .body
            .contains("was set up with your recovery code. If that was not you"),
        "{}",
        first_devices.body
    );
    ui.runtime.block_on(phone.shutdown());
    drop(ui);
    relay_rt.block_on(relay.shutdown());
}

/// Sam's UI on `relays`' first relay, and Alex, on a device of his own,
/// joined to its journal as worker; both synced once. The directory holds
/// Alex's device.
fn sam_and_alex(relays: &Relays) -> (Ui, App, App, tempfile::TempDir) {
    let ui = Ui::start_on("en", "Sam", &relays.addr(0));
    let sam = App::open(ui._home.path()).unwrap();
    let row = sam.pick(Some(&ui.doc)).unwrap();
    let once = starling_app::SyncOptions::once(std::time::Duration::from_secs(10));
    let link = sam
        .share(&row, "editor", "worker", "Alex", "7d")
        .unwrap()
        .link;
    let alex_home = tempfile::tempdir().unwrap();
    let alex = App::open(alex_home.path()).unwrap();
    alex.init("Alex").unwrap();
    alex.join(&link, false).unwrap();
    alex.sync(None, &once, |_| {}).unwrap();
    sam.sync(None, &once, |_| {}).unwrap();
    (ui, sam, alex, alex_home)
}

/// Real relays on 127.0.0.1, each with its own data directory, on a
/// runtime of their own; shut down when dropped.
struct Relays {
    runtime: tokio::runtime::Runtime,
    handles: Vec<starling_relay::RelayHandle>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Relays {
    fn start(n: usize) -> Relays {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let handles = dirs
            .iter()
            .map(|d| {
                runtime
                    .block_on(starling_relay::start(
                        starling_relay::RelayConfig::for_data_dir(d.path()),
                    ))
                    .unwrap()
            })
            .collect();
        Relays {
            runtime,
            handles,
            _dirs: dirs,
        }
    }

    fn addr(&self, i: usize) -> String {
        self.handles[i].local_addr().to_string()
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        for r in self.handles.drain(..) {
            self.runtime.block_on(r.shutdown());
        }
    }
}

/// A home set up for Sam, and its UI served with the live sync on.
struct LiveUi {
    runtime: tokio::runtime::Runtime,
    server: Option<UiServer>,
    home: tempfile::TempDir,
}

impl LiveUi {
    fn new() -> LiveUi {
        let home = tempfile::tempdir().unwrap();
        App::open(home.path()).unwrap().init("Sam").unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        LiveUi {
            runtime,
            server: None,
            home,
        }
    }

    fn app(&self) -> App {
        App::open(self.home.path()).unwrap()
    }

    fn serve(&mut self) {
        let options = UiOptions {
            lang: "en".into(),
            port: 0,
            live_sync: true,
            export_dir: None,
        };
        let server = self
            .runtime
            .block_on(starling_web::serve(self.home.path(), options))
            .unwrap();
        self.server = Some(server);
    }

    /// Waits up to 20 s for `doc` to have synced.
    fn synced(&self, doc: &str) -> bool {
        wait_for(|| {
            let rows = self.app().journals().unwrap();
            rows.iter().any(|r| r.doc == doc && r.last_sync.is_some())
        })
    }
}

impl Drop for LiveUi {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// Whether `done` turns true within 20 s.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
fn a_journal_started_on_a_second_relay_syncs_without_restarting_the_ui() {
    let relays = Relays::start(2);
    let mut ui = LiveUi::new();
    let first = ui
        .app()
        .new_journal(&relays.addr(0), Some("Sam"), "recovery-star")
        .unwrap()
        .to_string();
    ui.serve();
    assert!(ui.synced(&first), "the live sync reaches the first relay");
    // A second journal, on a relay the live sync was not talking to.
    let second = ui
        .app()
        .new_journal(&relays.addr(1), Some("Sam at work"), "recovery-star")
        .unwrap()
        .to_string();
    assert!(
        ui.synced(&second),
        "a journal on a new relay waited for a restart of the UI"
    );
}

#[test]
fn one_relay_out_of_reach_is_not_offline_while_another_is_connected() {
    let relays = Relays::start(1);
    let mut ui = LiveUi::new();
    let app = ui.app();
    let here = app
        .new_journal(&relays.addr(0), Some("Sam"), "recovery-star")
        .unwrap()
        .to_string();
    // Nothing listens on the discard port: refused at once, every retry.
    app.new_journal("127.0.0.1:9", Some("Sam at work"), "recovery-star")
        .unwrap();
    ui.serve();
    let server = ui.server.as_ref().unwrap();
    let addr = server.local_addr();
    let host = addr.to_string();
    let cookie = login(server);
    assert!(ui.synced(&here), "the reachable relay syncs");
    let status = || {
        let page = request(
            addr,
            "GET",
            "/",
            &[("Host", &host), ("Cookie", &cookie)],
            "",
        );
        let at = page.body.find("id=\"sync-status-text\"").unwrap();
        let rest = &page.body[at..];
        rest[rest.find('>').unwrap() + 1..rest.find("</span>").unwrap()].to_owned()
    };
    let mut last = String::new();
    assert!(
        wait_for(|| {
            last = status();
            last.contains("one of your relays can't be reached")
        }),
        "the status said {last:?}"
    );
    assert!(!last.contains("offline"), "{last}");
}

#[test]
fn a_form_refused_comes_back_as_typed_with_the_reason_tied_to_its_field() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let d = &ui.doc;
    let plan = ui.get(&cookie, &format!("/j/{d}/plan"));
    let token = csrf(&plan.body);
    let at = plan.body.find("name=\"goal\" value=\"").unwrap() + 19;
    let goal: String = plan.body[at..].split('"').next().unwrap().to_owned();
    // (form path, body, the field's id, words of the reason, what was typed)
    let cases = [
        (
            format!("/j/{d}/notes"),
            "text=Went+to+the+allotment&date=2999-01-01".to_owned(),
            "date",
            "in the future",
            "Went to the allotment",
        ),
        (
            format!("/j/{d}/notes"),
            "text=+&date=2026-11-20".to_owned(),
            "text",
            "it is empty",
            "2026-11-20",
        ),
        (
            format!("/j/{d}/plan"),
            "action=goal&area=work&title=Apply+for+the+course&target=11".to_owned(),
            "goal-target",
            "1 to 10",
            "Apply for the course",
        ),
        (
            format!("/j/{d}/plan"),
            "action=goal&area=work&title=&target=7".to_owned(),
            "goal-title",
            "it is empty",
            "value=\"7\"",
        ),
        (
            format!("/j/{d}/plan"),
            format!("action=step&goal={goal}&text=&owner=worker&due=2026-12-20"),
            &format!("step-{goal}"),
            "it is empty",
            "2026-12-20",
        ),
        (
            format!("/j/{d}/plan"),
            format!("action=step&goal={goal}&text=Ring+the+college&owner=worker&due=2026-02-30"),
            &format!("due-{goal}"),
            "2026-02-30",
            "Ring the college",
        ),
        (
            format!("/j/{d}/reading"),
            "date=2999-01-01&mode=worker".to_owned(),
            "date",
            "in the future",
            "value=\"worker\" checked",
        ),
    ];
    for (path, body, id, reason, kept) in &cases {
        let r = ui.post(&cookie, path, &format!("csrf={token}&{body}"));
        assert_eq!(r.status, 200, "{path} {body}: {}", r.body);
        let page = &r.body;
        assert!(page.contains("error-summary"), "{body}: {page}");
        assert!(page.contains(&format!("href=\"#{id}\"")), "{body}: {page}");
        let error = page
            .find(&format!("id=\"{id}-error\""))
            .unwrap_or_else(|| panic!("{body}: no error beside {id}: {page}"));
        assert!(
            page[error..].split("</p>").next().unwrap().contains(reason),
            "{body}: {page}"
        );
        // The control is tied to the error and marked invalid.
        let control = page.find(&format!("id=\"{id}\" name=")).unwrap();
        let tag = page[control..].split('>').next().unwrap();
        assert!(tag.contains("aria-invalid=\"true\""), "{tag}");
        assert!(tag.contains(&format!("{id}-error")), "{tag}");
        assert!(
            page.contains(kept),
            "{body}: what was typed is lost: {page}"
        );
    }
    // Nothing refused was kept.
    let app = App::open(ui._home.path()).unwrap();
    let row = app.pick(Some(d)).unwrap();
    let notes = app.notes(&row, None).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    // A note's line breaks, sent as a browser sends them, are kept as lines.
    let r = ui.post(
        &cookie,
        &format!("/j/{d}/notes"),
        &format!("csrf={token}&text=Had+a+good+week.%0D%0AWent+twice."),
    );
    assert_eq!(r.status, 303);
    let notes = app.notes(&row, None).unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.text == "Had a good week.\nWent twice."),
        "{notes:?}"
    );
}

#[test]
fn a_form_sent_again_from_an_old_page_says_what_happened_instead_of_failing() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let (d, r) = (&ui.doc, &ui.reading);
    let token = csrf(&ui.get(&cookie, &format!("/j/{d}/notes")).body);
    // The page with the recovery code, reloaded: the device is set up.
    let again = ui.post(&cookie, "/setup", &format!("csrf={token}&name=Sam"));
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(
        again
            .header("location")
            .unwrap()
            .contains("done-setup-already")
    );
    // A conflict settled in another tab, settled again from the old page.
    let back = format!("/j/{d}/r/{r}");
    let settled = ui.post(
        &cookie,
        &format!("/j/{d}/resolve"),
        &format!("csrf={token}&path=reading/{r}/score/work/agreed&value=6&back={back}"),
    );
    assert_eq!(settled.status, 303, "{}", settled.body);
    let to = settled.header("location").unwrap();
    assert!(
        to.starts_with(&back) && to.contains("done-already-settled"),
        "{to}"
    );
    let page = ui.get(&cookie, to);
    assert!(page.body.contains("already settled"), "{}", page.body);
}

#[test]
fn a_journal_that_never_reached_its_relay_is_deleted_at_once() {
    // Its relay, the discard port, never answers.
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let action = format!("/j/{}/delete", ui.doc);
    let form = ui.get(&cookie, &action);
    let r = ui.post(
        &cookie,
        &action,
        &format!("csrf={}&confirm=yes", csrf(&form.body)),
    );
    assert_eq!(r.status, 303);
    let to = r.header("location").unwrap();
    assert!(to.contains("done=done-deleted-here"), "{to}");
    let home = ui.get(&cookie, to);
    assert!(
        home.body.contains("It had never reached its relay"),
        "{}",
        home.body
    );
    assert_eq!(ui.get(&cookie, &format!("/j/{}", ui.doc)).status, 404);
}

#[test]
fn a_reading_says_who_signed_and_a_change_after_one_side_signed_is_named() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let page = format!("/j/{}/r/{}", ui.doc, ui.reading);
    let before = ui.get(&cookie, &page);
    let r = ui.post(
        &cookie,
        &format!("/j/{}/signoff", ui.doc),
        &format!("csrf={}&reading={}", csrf(&before.body), ui.reading),
    );
    assert_eq!(r.status, 303);
    // Signed here: who signed, and no second sign-off to offer.
    let signed = ui.get(&cookie, &page);
    assert!(
        signed.body.contains("signed by Sam (1 of 2)"),
        "{}",
        signed.body
    );
    assert!(signed.body.contains("You have signed this version"));
    assert!(!signed.body.contains("Sign off this reading"));
    // A later change: the signature is of an earlier version, and the page
    // says what changed, in words, and offers to sign again.
    let app = App::open(ui._home.path()).unwrap();
    let row = app.pick(Some(&ui.doc)).unwrap();
    let mut agreed = ScoreInput::new("work", 5);
    agreed.perspective = Some(recovery_journal::Perspective::Agreed);
    app.score(&row, &agreed).unwrap();
    let changed = ui.get(&cookie, &page);
    assert!(
        changed
            .body
            .contains("Sam signed an earlier version. Changed since: Work (Agreed)."),
        "{}",
        changed.body
    );
    assert!(changed.body.contains("Sign off this reading"));
}

#[test]
fn every_difference_can_be_settled_in_the_ui_plans_and_notes_included() {
    use std::time::Duration;
    let relays = Relays::start(1);
    let (ui, sam, alex, _alex_home) = sam_and_alex(&relays);
    let row = sam.pick(Some(&ui.doc)).unwrap();
    let once = starling_app::SyncOptions::once(Duration::from_secs(10));
    alex.sync(None, &once, |_| {}).unwrap();
    let alex_row = alex.pick(Some(&ui.doc)).unwrap();
    // Each sets the goal's target, the step's due date, the note's date and
    // the review date, offline, differently.
    let view = sam.load(&row).unwrap().view();
    let goal = view.goals[0].id.clone();
    let step = view.goals[0].steps[0].id.clone();
    let note = view.notes[0].id.clone();
    for (app, row, target, day) in [(&sam, &row, 7, "02"), (&alex, &alex_row, 8, "03")] {
        let date: recovery_journal::Date = format!("2026-11-{day}").parse().unwrap();
        app.edit(row, |j| j.set_goal_target(&goal, Some(target)))
            .unwrap();
        app.edit(row, |j| j.set_step_due(&goal, &step, date))
            .unwrap();
        app.edit(row, |j| j.set_note_date(&note, date)).unwrap();
        app.set_review_date(row, None, &format!("2027-01-{day}"))
            .unwrap();
    }
    alex.sync(None, &once, |_| {}).unwrap();
    sam.sync(None, &once, |_| {}).unwrap();

    let cookie = ui.login();
    let (d, r) = (&ui.doc, &ui.reading);
    let overview = ui.get(&cookie, &format!("/j/{d}"));
    assert!(
        overview
            .body
            .contains(&format!("href=\"/j/{d}/conflicts\"")),
        "the overview links to every difference"
    );
    let all = ui.get(&cookie, &format!("/j/{d}/conflicts"));
    for words in [
        "The target of the goal “Find volunteering”",
        "When the step “Call the centre” is due",
        "The date of the note “Went to the group”",
        "The review date, in the reading of 2026-11-23",
        "Alex said 2026-11-03",
        "Keep 2027-01-02",
    ] {
        assert!(all.body.contains(words), "{words}: {}", all.body);
    }
    assert!(
        !all.body.contains("reading's review_date"),
        "no raw field names"
    );
    // The plan and the notes show their own, to settle where they are.
    let plan = ui.get(&cookie, &format!("/j/{d}/plan?reading={r}"));
    assert!(plan.body.contains("The review date"), "{}", plan.body);
    assert!(plan.body.contains("The target of the goal"));
    assert!(!plan.body.contains("The date of the note"));
    let notes = ui.get(&cookie, &format!("/j/{d}/notes"));
    assert!(
        notes.body.contains("The date of the note"),
        "{}",
        notes.body
    );
    // Settled from the plan: back to the plan, one difference fewer.
    let settle = ui.post(
        &cookie,
        &format!("/j/{d}/resolve"),
        &format!(
            "csrf={}&path=goal/{}/target&value=8&back=/j/{d}/plan?reading={r}",
            csrf(&plan.body),
            goal.as_str()
        ),
    );
    assert_eq!(settle.status, 303, "{}", settle.body);
    let to = settle.header("location").unwrap();
    assert!(to.starts_with(&format!("/j/{d}/plan")), "{to}");
    let plan = ui.get(&cookie, to);
    assert!(
        !plan.body.contains("The target of the goal"),
        "{}",
        plan.body
    );
    assert!(plan.body.contains("Target score 8"), "{}", plan.body);
}

#[test]
fn a_refused_invite_keeps_the_choices_and_says_why_beside_the_name() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let page = format!("/j/{}/share", ui.doc);
    let token = csrf(&ui.get(&cookie, &page).body);
    for (name, why) in [
        ("", "Enter the name of the person you are inviting."),
        ("sam", "already called sam"),
    ] {
        let r = ui.post(
            &cookie,
            &page,
            &format!("csrf={token}&name={name}&as=supporter&role=viewer&expires=1h"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let b = &r.body;
        let error = &b[b
            .find("id=\"name-error\"")
            .expect("an error beside the name")..];
        assert!(error[..error.find("</p>").unwrap()].contains(why), "{b}");
        assert!(b.contains("aria-describedby=\"name-error\""), "{b}");
        assert!(
            b.contains(&format!(
                "name=\"name\" autocomplete=\"off\" value=\"{name}\""
            )),
            "{b}"
        );
        for kept in [
            "value=\"supporter\" checked",
            "value=\"viewer\" checked",
            "value=\"1h\" selected",
        ] {
            assert!(b.contains(kept), "{kept}: {b}");
        }
        assert!(!b.contains("value=\"worker\" checked"), "{b}");
    }
}

#[test]
fn the_history_says_areas_by_name() {
    let ui = Ui::start("en", "Sam");
    let app = App::open(ui._home.path()).unwrap();
    let row = app.pick(Some(&ui.doc)).unwrap();
    app.score(&row, &ScoreInput::new("self_care", 3)).unwrap();
    let cookie = ui.login();
    let page = ui.get(&cookie, &format!("/j/{}/history", ui.doc));
    assert!(page.body.contains("scored Self care 3"), "{}", page.body);
    assert!(!page.body.contains("self_care"), "{}", page.body);
}

#[test]
fn a_step_marked_done_by_mistake_is_undone_and_each_button_names_its_step() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let (d, r) = (&ui.doc, &ui.reading);
    let plan = format!("/j/{d}/plan?reading={r}");
    let page = ui.get(&cookie, &plan);
    assert!(
        page.body
            .contains("aria-label=\"Mark done: Call the centre\">Mark done</button>"),
        "{}",
        page.body
    );
    let app = App::open(ui._home.path()).unwrap();
    let row = app.pick(Some(d)).unwrap();
    let view = app.load(&row).unwrap().view();
    let (goal, step) = (&view.goals[0].id, &view.goals[0].steps[0].id);
    let token = csrf(&page.body);
    let send = |action: &str| {
        ui.post(
            &cookie,
            &format!("/j/{d}/plan"),
            &format!(
                "csrf={token}&action={action}&goal={}&step={}&reading={r}",
                goal.as_str(),
                step.as_str()
            ),
        )
    };
    let is_done = || app.load(&row).unwrap().view().goals[0].steps[0].done.value == Some(true);
    let r1 = send("done");
    assert!(
        r1.header("location").unwrap().starts_with(&plan),
        "{:?}",
        r1.header("location")
    );
    assert!(is_done());
    let page = ui.get(&cookie, r1.header("location").unwrap());
    assert!(
        page.body
            .contains("aria-label=\"Not done yet: Call the centre\">Not done yet</button>"),
        "{}",
        page.body
    );
    let r2 = send("undone");
    assert!(r2.header("location").unwrap().contains("done-step-undone"));
    assert!(!is_done(), "marked not done again");
}

#[test]
fn a_return_address_that_is_not_a_plain_path_goes_home_instead() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let d = &ui.doc;
    let token = csrf(&ui.get(&cookie, &format!("/j/{d}/notes")).body);
    for back in [
        "/j/x%0D%0ASet-Cookie:%20a=b",
        "//evil.example/j/",
        "/j/%E2%80%A6",
    ] {
        let r = ui.post(
            &cookie,
            &format!("/j/{d}/resolve"),
            &format!("csrf={token}&path=reading/none/score/work/agreed&value=6&back={back}"),
        );
        assert_eq!(r.status, 303, "{back}: {}", r.body);
        assert!(
            r.header("location").unwrap().starts_with("/?done="),
            "{back}: {:?}",
            r.header("location")
        );
    }
}

#[test]
fn before_set_up_every_menu_page_leads_to_the_first_run_page() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let server = serve_empty(&runtime, home.path());
    let cookie = login(&server);
    let host = server.local_addr().to_string();
    let get = |path: &str| {
        request(
            server.local_addr(),
            "GET",
            path,
            &[("Host", &host), ("Cookie", &cookie)],
            "",
        )
    };
    for path in ["/new", "/join", "/data", "/devices"] {
        let r = get(path);
        assert!(!r.body.contains("no identity"), "{path} said: {}", r.body);
        match r.status {
            200 => {}
            303 => {
                let to = r.header("location").unwrap();
                assert_eq!(to, "/?done=done-set-up-first", "{path}");
                let first = get(to);
                assert!(first.body.contains("Set up Starling on this device first"));
                assert!(first.body.contains("name=\"name\""), "the set-up form");
                // Nothing behind the menu works yet, and nothing syncs.
                assert!(!first.body.contains("<nav"), "{}", first.body);
                assert!(!first.body.contains("sync-status"), "{}", first.body);
            }
            other => panic!("{path}: {other} {}", r.body),
        }
    }
    runtime.block_on(server.shutdown());
}

#[test]
fn each_step_of_the_ladder_is_described_by_its_stage() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let page = ui.get(&cookie, &format!("/j/{}/r/{}/a/work", ui.doc, ui.reading));
    let doc = scraper::Html::parse_document(&page.body);
    let radios = scraper::Selector::parse(".ladder input[type=radio][value]").unwrap();
    let mut described = 0;
    for input in doc.select(&radios) {
        if input.value().attr("value") == Some("") {
            continue;
        }
        let by = input.value().attr("aria-describedby").expect("described");
        let stage = scraper::Selector::parse(&format!("p.stage#{by}")).unwrap();
        let text: String = doc
            .select(&stage)
            .next()
            .expect("its stage")
            .text()
            .collect();
        assert!(!text.trim().is_empty());
        described += 1;
    }
    assert_eq!(
        described,
        2 * 10,
        "ten steps for your own score and the agreed one"
    );
}

#[test]
fn an_invite_not_used_yet_is_withdrawn_from_the_share_page() {
    let relays = Relays::start(1);
    let ui = Ui::start_on("en", "Sam", &relays.addr(0));
    let app = App::open(ui._home.path()).unwrap();
    let row = app.pick(Some(&ui.doc)).unwrap();
    let invite = app.share(&row, "editor", "worker", "Bob", "7d").unwrap();
    assert!(invite.registered);
    let cookie = ui.login();
    let page = format!("/j/{}/share", ui.doc);
    let shown = ui.get(&cookie, &page);
    assert!(
        shown.body.contains("Invites not used yet"),
        "{}",
        shown.body
    );
    let id = app.invites(&row).unwrap()[0].id.clone();
    let r = ui.post(
        &cookie,
        &format!("/j/{}/invites/withdraw", ui.doc),
        &format!("csrf={}&invite={id}", csrf(&shown.body)),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.header("location").unwrap();
    assert!(to.contains("done-invite-withdrawn"), "{to}");
    let after = ui.get(&cookie, to);
    assert!(
        after.body.contains("its link no longer works"),
        "{}",
        after.body
    );
    assert!(
        !after.body.contains("Invites not used yet"),
        "{}",
        after.body
    );
    // Bob's link does not let him in.
    let bob_home = tempfile::tempdir().unwrap();
    let bob = App::open(bob_home.path()).unwrap();
    bob.init("Bob").unwrap();
    let joined = bob.join(&invite.link, false);
    let said = match joined {
        Err(e) => e.to_string(),
        Ok(_) => {
            let once = starling_app::SyncOptions::once(std::time::Duration::from_secs(10));
            match bob.sync(None, &once, |_| {}) {
                Err(e) => e.to_string(),
                Ok(o) => format!("{:?}", o.problems),
            }
        }
    };
    assert!(said.contains("withdrawn"), "{said}");
}

#[test]
fn a_goal_is_changed_and_a_step_or_goal_removed_with_a_way_back() {
    let ui = Ui::start("en", "Sam");
    let cookie = ui.login();
    let (d, r) = (&ui.doc, &ui.reading);
    let plan = format!("/j/{d}/plan?reading={r}");
    let page = ui.get(&cookie, &plan);
    let app = App::open(ui._home.path()).unwrap();
    let row = app.pick(Some(d)).unwrap();
    let view = || app.load(&row).unwrap().view();
    let goal = view().goals[0].id.to_string();
    let step = view().goals[0].steps[0].id.to_string();
    let token = csrf(&page.body);
    let send = |body: &str| {
        ui.post(
            &cookie,
            &format!("/j/{d}/plan"),
            &format!("csrf={token}&goal={goal}&reading={r}&{body}"),
        )
    };
    // A target off the ladder: the form again, the reason by its field.
    let refused = send("action=edit-goal&title=Find+paid+work&target=12");
    assert_eq!(refused.status, 200);
    assert!(
        refused
            .body
            .contains(&format!("id=\"target-{goal}-error\"")),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"Find paid work\""),
        "kept as typed"
    );
    let changed = send("action=edit-goal&title=Find+paid+work&target=7");
    assert!(
        changed
            .header("location")
            .unwrap()
            .contains("done-goal-changed")
    );
    assert_eq!(view().goals[0].title, "Find paid work");
    assert_eq!(view().goals[0].target.value, Some(7));
    // A step removed, and brought back from the page it lands on.
    let removed = send(&format!("action=remove-step&step={step}"));
    let to = removed.header("location").unwrap().to_owned();
    assert!(to.contains("done-step-removed"), "{to}");
    assert!(view().goals[0].steps.is_empty());
    let landed = ui.get(&cookie, &to);
    assert!(
        landed.body.contains("Undo: bring it back"),
        "{}",
        landed.body
    );
    assert!(landed.body.contains("value=\"restore-step\""));
    send(&format!("action=restore-step&step={step}"));
    assert_eq!(view().goals[0].steps.len(), 1, "the step is back");
    // The goal removed, and back.
    let removed = send("action=remove-goal");
    assert!(
        removed
            .header("location")
            .unwrap()
            .contains(&format!("removed-goal={goal}"))
    );
    assert!(view().goals.is_empty());
    send("action=restore-goal");
    assert_eq!(view().goals.len(), 1, "the goal is back");
}

#[test]
fn the_caseload_report_gives_each_journals_distance_travelled_and_the_mean() {
    use starling_app::journal::Perspective;
    let ui = Ui::start("en", "Sam");
    let app = App::open(ui._home.path()).unwrap();
    let agreed = |area: &str, score: i64| ScoreInput {
        perspective: Some(Perspective::Agreed),
        ..ScoreInput::new(area, score)
    };
    // Sam: work 3 -> 5 over two readings.
    let sam = app.pick(Some(&ui.doc)).unwrap();
    app.score(&sam, &agreed("work", 3)).unwrap();
    app.new_reading(&sam, Some("2026-12-01"), "joint", "recovery-star")
        .unwrap();
    app.score(&sam, &agreed("work", 5)).unwrap();
    // Jo: one reading only, so no distance yet.
    let jo = app
        .new_journal("127.0.0.1:9", Some("Jo"), "recovery-star")
        .unwrap()
        .to_string();
    let jo = app.pick(Some(&jo)).unwrap();
    app.new_reading(&jo, Some("2026-11-30"), "joint", "recovery-star")
        .unwrap();
    app.score(&jo, &agreed("work", 7)).unwrap();
    drop(app);
    let cookie = ui.login();
    let home = ui.get(&cookie, "/");
    assert!(home.body.contains("href=\"/report\""), "{}", home.body);
    let page = ui.get(&cookie, "/report");
    assert_eq!(page.status, 200);
    let doc = scraper::Html::parse_document(&page.body);
    let row_of = |name: &str| {
        let rows = scraper::Selector::parse("tbody tr").unwrap();
        doc.select(&rows)
            .find(|r| r.text().any(|t| t == name))
            .map(|r| r.text().collect::<Vec<_>>().join("|"))
            .unwrap_or_else(|| panic!("{name} in {}", page.body))
    };
    let sam = row_of("Sam");
    assert!(sam.contains("+2") && sam.contains("3 to 5"), "{sam}");
    let jo = row_of("Jo");
    assert!(jo.contains("+0") && jo.contains("7 to 7"), "{jo}");
    // The mean counts only the journal that has moved: +2.0, not +1.0.
    let foot = scraper::Selector::parse("tfoot tr").unwrap();
    let mean: String = doc.select(&foot).next().unwrap().text().collect();
    assert!(
        mean.contains("(1 journal with two or more readings)"),
        "{mean}"
    );
    assert!(mean.contains("+2.0") && !mean.contains("+1.0"), "{mean}");
}

#[test]
fn removing_a_member_asks_first_and_says_what_it_does() {
    let relays = Relays::start(1);
    let (ui, sam, _alex, _alex_home) = sam_and_alex(&relays);
    let cookie = ui.login();
    let share = ui.get(&cookie, &format!("/j/{}/share", ui.doc));
    // "Remove Alex" leads to a page that asks; it removes nobody itself.
    let start = format!("/j/{}/revoke?member=", ui.doc);
    let at = share.body.find(&start).expect("a remove link");
    let href = &share.body[at..at + share.body[at..].find('"').unwrap()];
    let ask = ui.get(&cookie, href);
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(
        ask.body.contains("Yes, remove Alex from this journal"),
        "{}",
        ask.body
    );
    let member = href.split("member=").nth(1).unwrap();
    let still_in = |app: &App| {
        let (members, _) = app.members(&app.pick(Some(&ui.doc)).unwrap()).unwrap();
        members
            .iter()
            .any(|m| m.name.as_deref() == Some("Alex") && m.removed.is_none())
    };
    let token = csrf(&ask.body);
    let path = format!("/j/{}/revoke", ui.doc);
    let r = ui.post(&cookie, &path, &format!("csrf={token}&member={member}"));
    assert_eq!(r.status, 200, "not removed without the box: {}", r.body);
    assert!(r.body.contains("Tick the box"), "{}", r.body);
    assert!(still_in(&sam));
    let r = ui.post(
        &cookie,
        &path,
        &format!("csrf={token}&member={member}&confirm=yes"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.header("location").unwrap().contains("done-removed"));
    assert!(!still_in(&sam), "removed once confirmed");
    // Nobody else to remove by that name now.
    assert_eq!(ui.get(&cookie, href).status, 404);
}

#[test]
fn a_device_with_no_journal_says_there_is_nothing_to_sync_not_starting() {
    let mut ui = LiveUi::new();
    ui.serve();
    let server = ui.server.as_ref().unwrap();
    let addr = server.local_addr();
    let host = addr.to_string();
    let cookie = login(server);
    let said = wait_for(|| {
        request(
            addr,
            "GET",
            "/",
            &[("Host", &host), ("Cookie", &cookie)],
            "",
        )
        .body
        .contains("nothing to sync yet")
    });
    assert!(said, "the status stayed at starting…");
}

#[test]
fn a_journal_that_never_reached_its_relay_gets_its_address_corrected() {
    use std::time::Duration;
    let relays = Relays::start(1);
    let ui = Ui::start_on("en", "Sam", "127.0.0.1:9");
    let app = App::open(ui._home.path()).unwrap();
    let once = starling_app::SyncOptions::once(Duration::from_secs(10));
    assert!(
        app.sync(None, &once, |_| {}).is_err(),
        "nothing listens there"
    );
    let cookie = ui.login();
    let page = ui.get(&cookie, &format!("/j/{}", ui.doc));
    assert!(
        page.body.contains("has not reached its relay yet"),
        "{}",
        page.body
    );
    let path = format!("/j/{}/relay", ui.doc);
    let form = ui.get(&cookie, &path);
    assert_eq!(form.status, 200);
    let token = csrf(&form.body);
    // A mistyped address is said beside the field, as typed.
    let r = ui.post(&cookie, &path, &format!("csrf={token}&relay=ws://"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("is not a relay address"), "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\""), "{}", r.body);
    let good = relays.addr(0);
    let r = ui.post(&cookie, &path, &format!("csrf={token}&relay={good}"));
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.header("location")
            .unwrap()
            .contains("done-relay-corrected")
    );
    let row = app.pick(Some(&ui.doc)).unwrap();
    assert!(row.problem.is_none(), "the old address's problem is gone");
    app.sync(None, &once, |_| {}).unwrap();
    // Once a relay holds it, it stays there.
    let r = ui.post(&cookie, &path, &format!("csrf={token}&relay=127.0.0.1:9"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("can no longer change"), "{}", r.body);
    let page = ui.get(&cookie, &format!("/j/{}", ui.doc));
    assert!(!page.body.contains("has not reached its relay yet"));
}

/// A certificate authority made here, and a relay on 127.0.0.1 that serves
/// TLS for `localhost` with a certificate it signed: an organisation's own
/// relay.
struct OrgRelay {
    ca_pem: String,
    relays: Relays,
}

impl OrgRelay {
    fn start() -> OrgRelay {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Starling test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, leaf.pem()).unwrap();
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config = starling_relay::RelayConfig::for_data_dir(dir.path().join("relay"));
        config.origin = Some(format!("wss://localhost:{port}"));
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
        let handle = runtime
            .block_on(starling_relay::start_on(config, listener))
            .unwrap();
        OrgRelay {
            ca_pem: ca.pem(),
            relays: Relays {
                runtime,
                handles: vec![handle],
                _dirs: vec![dir],
            },
        }
    }

    fn addr(&self) -> String {
        format!(
            "wss://localhost:{}",
            self.relays.handles[0].local_addr().port()
        )
    }
}

/// A form with a file in it, as a browser sends it.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str)>) -> (String, String) {
    let boundary = "----starling-test-boundary";
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    if let Some((name, content)) = file {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/x-pem-file\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn an_organisations_own_certificate_is_added_in_the_ui_and_its_relay_then_syncs() {
    let org = OrgRelay::start();
    let mut ui = LiveUi::new();
    let doc = ui
        .app()
        .new_journal(&org.addr(), Some("Sam"), "recovery-star")
        .unwrap()
        .to_string();
    ui.serve();
    let server = ui.server.as_ref().unwrap();
    let addr = server.local_addr();
    let host = addr.to_string();
    let origin = format!("http://{host}");
    let cookie = login(server);
    let get = |path: &str| {
        request(
            addr,
            "GET",
            path,
            &[("Host", &host), ("Cookie", &cookie)],
            "",
        )
    };
    let post = |path: &str, kind: &str, body: &str| {
        request(
            addr,
            "POST",
            path,
            &[
                ("Host", &host),
                ("Cookie", &cookie),
                ("Origin", &origin),
                ("Content-Type", kind),
            ],
            body,
        )
    };
    // The relay's certificate is not from a public authority: the page
    // says what is missing, not only "offline", and so does the journal.
    let mut page = String::new();
    assert!(
        wait_for(|| {
            page = get("/relays").body;
            page.contains("doesn't trust yet, so nothing is sent to it")
        }),
        "{page}"
    );
    assert!(page.contains("Can't be reached"), "{page}");
    assert!(
        page.contains("its certificate is signed by an authority this device does not trust"),
        "the reason, in words: {page}"
    );
    let journal = get(&format!("/j/{doc}")).body;
    assert!(
        journal.contains("href=\"/relays#certificate\""),
        "{journal}"
    );
    // The status line does not call it "offline", which waiting would fix.
    assert!(
        journal.contains("doesn't trust yet, so this journal is not sent to it"),
        "{journal}"
    );
    assert!(
        journal.contains("can't be reached until you add your organisation's certificate"),
        "the status line: {journal}"
    );
    assert!(ui.app().journals().unwrap()[0].last_sync.is_none());
    let token = csrf(&page);

    // A file that is not a certificate is refused beside the field, and
    // nothing is trusted.
    let (kind, body) = multipart(&[("csrf", &token)], Some(("notes.txt", "hello")));
    let r = post("/relays/trust", &kind, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("no PEM"), "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\""), "{}", r.body);
    assert!(ui.app().client().trusted_cas().unwrap().is_empty());
    // Pasted text that is not a certificate: said beside the box it was
    // pasted in, and kept there to correct.
    let (kind, body) = multipart(&[("csrf", &token), ("pem", "not a certificate")], None);
    let r = post("/relays/trust", &kind, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"pem-error\""), "{}", r.body);
    assert!(
        r.body.contains(">not a certificate</textarea>"),
        "{}",
        r.body
    );
    // Nothing chosen: said, not a failure.
    let (kind, body) = multipart(&[("csrf", &token), ("pem", "")], None);
    let r = post("/relays/trust", &kind, &body);
    assert!(r.body.contains("Choose the certificate file"), "{}", r.body);
    // A form from elsewhere is refused.
    let (kind, body) = multipart(&[("csrf", "0")], Some(("org-ca.pem", &org.ca_pem)));
    assert_eq!(post("/relays/trust", &kind, &body).status, 403);

    // The organisation's file: trusted, and the relay is tried again at
    // once (not after the backoff), so the journal syncs.
    let (kind, body) = multipart(&[("csrf", &token)], Some(("org-ca.pem", &org.ca_pem)));
    let r = post("/relays/trust", &kind, &body);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.header("location").unwrap().contains("done-ca-trusted"));
    let cas = ui.app().client().trusted_cas().unwrap();
    assert_eq!(cas.len(), 1);
    assert_eq!(cas[0].label, "org-ca.pem");
    assert!(
        ui.synced(&doc),
        "the journal reached the relay once trusted"
    );
    assert!(
        wait_for(|| get("/relays").body.contains("Connected")),
        "the relay shows connected"
    );
    let page = get("/relays").body;
    assert!(page.contains("org-ca.pem"), "{page}");
    assert!(!page.contains("doesn't trust yet"), "{page}");
    assert!(!page.contains("until you add your organisation"), "{page}");

    // Removing it asks first, then the device no longer trusts it.
    let fp = cas[0].fingerprint.clone();
    let form = get(&format!("/relays/untrust?ca={fp}"));
    assert_eq!(form.status, 200);
    assert!(form.body.contains("org-ca.pem"), "{}", form.body);
    let form_body = format!("csrf={token}&ca={fp}");
    let r = post(
        "/relays/untrust",
        "application/x-www-form-urlencoded",
        &form_body,
    );
    assert_eq!(r.status, 200, "unticked: asked again");
    assert!(r.body.contains("Tick the box"), "{}", r.body);
    assert_eq!(ui.app().client().trusted_cas().unwrap().len(), 1);
    let r = post(
        "/relays/untrust",
        "application/x-www-form-urlencoded",
        &format!("{form_body}&confirm=yes"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(ui.app().client().trusted_cas().unwrap().is_empty());
    assert_eq!(get(&format!("/relays/untrust?ca={fp}")).status, 404);
}

#[test]
fn a_new_journal_starts_on_the_relay_this_device_already_uses() {
    let ui = Ui::start_on("en", "Sam", "relay.example.org");
    let cookie = ui.login();
    let page = ui.get(&cookie, "/new");
    assert!(
        page.body.contains("value=\"relay.example.org\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("7878"), "no made-up default");
    // Left blank: said beside the field, nothing made.
    let token = csrf(&page.body);
    let before = App::open(ui._home.path())
        .unwrap()
        .journals()
        .unwrap()
        .len();
    let r = ui.post(
        &cookie,
        "/new",
        &format!("csrf={token}&client_name=Alex&relay=&instrument=recovery-star"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Enter your organisation"), "{}", r.body);
    assert!(r.body.contains("aria-invalid=\"true\""), "{}", r.body);
    // What was typed (nothing) comes back, not the usual relay again.
    assert!(
        !r.body.contains("value=\"relay.example.org\""),
        "{}",
        r.body
    );
    let after = App::open(ui._home.path())
        .unwrap()
        .journals()
        .unwrap()
        .len();
    assert_eq!(before, after);
}
