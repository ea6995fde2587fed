//! `starling ui` in a real browser: two people, two `starling ui`
//! processes with their own homes, a real relay on 127.0.0.1 that goes down
//! and comes back, driven in the system's headless Chromium by
//! `crates/web/tests/browser/story.mjs` (playwright-core, axe-core).
//! Screenshots of every screen land in `target/ui-screenshots/`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{Person, Relay, Running};

fn browser_dir() -> PathBuf {
    crate::util::manifest_dir().join("../../crates/web/tests/browser")
}

/// `starling ui` for `home`, and the link it printed.
fn ui(home: &Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["--json", "ui"])
        .env("STARLING_HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    (Running(child), v["url"].as_str().unwrap().to_owned())
}

fn phase(name: &str, sam: &str, alex: &str, state: &Path, relay: &str, shots: &Path) {
    let out = Command::new("node")
        .arg(browser_dir().join("story.mjs"))
        .args([name, sam, alex])
        .arg(state)
        .env("RELAY", relay)
        .env("CA_PEM", state.join("org-ca.pem"))
        .env("SCREENSHOTS", shots)
        .output()
        .expect("node (install Node.js; `.ci/run` does)");
    assert!(
        out.status.success(),
        "phase {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs Chromium and the browser test tools, which `.ci/run` installs: apt-get install chromium && npm ci --prefix crates/web/tests/browser && cargo test -p starling --test e2e -- --ignored ui_"]
fn ui_two_people_score_offline_see_the_conflict_and_settle_it_live() {
    let root = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(root.path());
    let (_sam_ui, sam) = ui(&root.path().join("sam"));
    let (_alex_ui, alex) = ui(&root.path().join("alex"));
    let state = root.path().join("browser");
    std::fs::create_dir_all(&state).unwrap();
    // An organisation's certificate authority, for Sam to add in the UI.
    let ca = crate::tls::make_ca(&state);
    std::fs::rename(&ca.ca, state.join("org-ca.pem")).unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    phase("setup", &sam, &alex, &state, &relay.addr, &shots);
    relay.stop();
    phase("offline", &sam, &alex, &state, &relay.addr, &shots);
    relay.restart();
    phase("online", &sam, &alex, &state, &relay.addr, &shots);
    // Sam's subject access export opens offline in the browser and lists
    // every journal file.
    let archive = root.path().join("sam-archive");
    let out = Command::new(env!("CARGO_BIN_EXE_starling"))
        .args(["export", "--all"])
        .arg(&archive)
        .env("STARLING_HOME", root.path().join("sam"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    phase(
        "archive",
        archive.to_str().unwrap(),
        &alex,
        &state,
        &relay.addr,
        &shots,
    );
    let figures = std::fs::read_to_string(state.join("figures.json")).unwrap();
    println!("ui figures: {figures}");
    println!("screenshots: {}", shots.canonicalize().unwrap().display());
}

/// One HTTP/1.1 request to the UI at `port`; the status line and headers,
/// and the body.
fn http(port: u16, request: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head.to_owned(), body.to_owned())
}

#[test]
fn a_second_launch_opens_the_running_ui_and_stop_starling_ends_it() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("sam");
    let (mut first, url) = ui(&home);
    let runtime_file = home.join("ui.json");
    assert!(
        runtime_file.exists(),
        "the running UI's link is kept in the home"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&runtime_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "only its owner may read the link: {mode:o}"
        );
    }
    // A second launch (a launcher clicked again) opens this one.
    let v = Person { home: home.clone() }.json(&["ui"]);
    assert_eq!(v["url"], url.as_str());
    assert_eq!(v["already_running"], true);

    // "Stop Starling", from a page of its own: the process ends, and its
    // link with it.
    let port: u16 = url["http://127.0.0.1:".len()..url.find("/?").unwrap()]
        .parse()
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    let (head, _) = http(
        port,
        &format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
            &url[url.find("/?").unwrap()..]
        ),
    );
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (_, page) = http(
        port,
        &format!("GET / HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
    );
    assert!(page.contains("Stop Starling"), "{page}");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let body = format!("csrf={}", &page[at..at + 64]);
    let (head, page) = http(
        port,
        &format!(
            "POST /quit HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nOrigin: http://{host}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(page.contains("Starling has stopped"), "{page}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = first.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after Stop Starling"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    assert!(!runtime_file.exists(), "the link is gone with the process");
    // A launch now starts afresh: the old link is not offered.
    let (_next, next_url) = ui(&home);
    assert_ne!(next_url, url);
}

#[test]
fn a_launcher_opens_starling_for_this_home_without_a_terminal() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("sam");
    let data = root.path().join("share");
    let out = Person { home: home.clone() }
        .cmd(&["ui", "--install-launcher"])
        .env("XDG_DATA_HOME", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = std::fs::read_to_string(data.join("applications/starling.desktop")).unwrap();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_starling")).unwrap();
    assert!(
        entry.contains(&format!(
            "Exec=\"{}\" --home \"{}\" ui --open\n",
            exe.display(),
            home.display()
        )),
        "{entry}"
    );
    assert!(entry.contains("Terminal=false"), "{entry}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Added Starling"));
}
