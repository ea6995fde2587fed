//! `starling ui` in a real browser: two people, two `starling ui`
//! processes with their own homes, a real relay on 127.0.0.1 that goes down
//! and comes back, driven in the system's headless Chromium by
//! `crates/web/tests/browser/story.mjs` (playwright-core, axe-core).
//! Screenshots of every screen land in `target/ui-screenshots/`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{Relay, Running};

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
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    std::fs::write(state.join("org-ca.pem"), ca.pem()).unwrap();
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
