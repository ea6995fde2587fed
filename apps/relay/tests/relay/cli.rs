//! The binary: check-config, backup while serving, SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::util::*;

const BIN: &str = env!("CARGO_BIN_EXE_starling-relay");

#[tokio::test]
async fn check_config_accepts_the_sample_and_refuses_junk() {
    let sample = manifest_dir().join("relay.sample.toml");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&sample)
        .arg("check-config")
        .env_remove("STARLING_RELAY_LOG")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listen = \"127.0.0.1:7878\""), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_frame_bytes = 5\n").unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_frame_bytes"));

    // A certificate file that is not there fails the check, as serving would.
    let tls = dir.path().join("tls.toml");
    let missing = dir.path().join("missing.pem");
    std::fs::write(
        &tls,
        format!("tls_cert = {missing:?}\ntls_key = {missing:?}\n"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&tls)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("missing.pem"), "{err}");
    assert!(!err.contains("configuration ok"), "{err}");

    // A config file that is not there: said once.
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(dir.path().join("none.toml"))
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("No such file").count(), 1, "{err}");

    let out = Command::new(BIN)
        .arg("check-config")
        .env("STARLING_RELAY_LISTEN", "not an address")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn serves_backs_up_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("STARLING_RELAY_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first
        .strip_prefix("starling-relay listening on ")
        .unwrap()
        .to_owned();
    let mut c = Raw::connect(&url).await;
    c.login(&key(1)).await;

    let dest = dir.path().join("copy.db");
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("backup")
        .arg(&dest)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = rusqlite::Connection::open(&dest).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");

    let pid = child.id().unwrap().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    // The client gets a close frame; the relay exits 0 in bounded time.
    assert!(c.closed().await);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("relay did not exit after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn trace_logs_hold_no_ciphertext_or_keys() {
    use starling_protocol::wire::Message;
    use starling_protocol::{DocId, EnvelopeHash};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("STARLING_RELAY_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first.strip_prefix("starling-relay listening on ").unwrap();
    let mut c = Raw::connect(url).await;
    let k = key(1);
    c.login(&k).await;
    let doc = DocId::from_bytes([5; 16]);
    let op =
        starling_protocol::membership::MembershipState::genesis(doc, &k, "client", None, now_ms())
            .unwrap();
    c.send(&Message::MembershipPublish { doc, op }).await;
    c.recv().await.unwrap();
    let env = seal(doc, &k, 1, EnvelopeHash::ZERO, b"secret score 7");
    c.send(&Message::Publish {
        envelope: env.clone(),
    })
    .await;
    assert!(matches!(c.recv().await, Some(Message::Acks(_))));
    let pid = child.id().unwrap().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs = out.stderr;
    assert!(!logs.is_empty(), "trace logging produced nothing");
    let bytes = env.as_bytes();
    // The last 24 bytes of the ciphertext (just before the 64-byte signature).
    let window = &bytes[bytes.len() - 64 - 24..bytes.len() - 64];
    let text = String::from_utf8_lossy(&logs);
    assert!(!logs.windows(window.len()).any(|w| w == window));
    assert!(!text.contains(&hex::encode(window)));
    assert!(!text.contains(&format!("{window:?}")[1..40]));
    let key_hex = std::fs::read_to_string(dir.path().join("relay.key")).unwrap();
    assert!(!text.contains(key_hex.trim()));
    // Not a terminal: plain text, no colour codes in a log file.
    assert!(!text.contains('\u{1b}'), "{text}");
}

/// SIGHUP re-reads the allow-list even when its modification time is
/// unchanged (so the poll cannot be what noticed).
#[tokio::test]
async fn sighup_reloads_the_allow_list() {
    use starling_protocol::wire::{ErrorCode, Message};
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("allow.txt");
    std::fs::write(&list, format!("{}\n", key(1).device_id())).unwrap();
    let mtime = std::fs::metadata(&list).unwrap().modified().unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("STARLING_RELAY_REGISTRATION", "allowlist")
        .env("STARLING_RELAY_ALLOWLIST_FILE", &list)
        .env("STARLING_RELAY_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first
        .strip_prefix("starling-relay listening on ")
        .unwrap()
        .to_owned();
    let mut c = Raw::connect(&url).await;
    hello(&mut c).await;
    assert_eq!(c.recv_error().await.0, ErrorCode::NotAllowed);

    std::fs::write(
        &list,
        format!("{}\n{}\n", key(1).device_id(), key(2).device_id()),
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&list)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let pid = child.id().unwrap().to_string();
    Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut c = Raw::connect(&url).await;
        hello(&mut c).await;
        if let Some(Message::Challenge { .. }) = c.recv().await {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(child.wait().await.unwrap().success());
}

async fn hello(c: &mut Raw) {
    c.send(&starling_protocol::wire::Message::Hello {
        device: key(2).device_id(),
        agent: "t".into(),
    })
    .await;
}

/// Runs the binary on `dir` until it listens (then stops it with SIGTERM)
/// or exits; returns whether it listened, and its stderr.
async fn run_until_listening(dir: &std::path::Path) -> (bool, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("STARLING_RELAY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    let listened = first.is_some_and(|l| l.starts_with("starling-relay listening on"));
    if listened {
        let pid = child.id().unwrap().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
    }
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    (listened, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The integrity check's verdict is in the log at every start.
#[tokio::test]
async fn start_logs_the_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let (listened, logs) = run_until_listening(dir.path()).await;
    assert!(listened, "{logs}");
    assert!(logs.contains("database integrity check: ok"), "{logs}");
}

/// A database that cannot be read at all stops the start with a message
/// that names it and says what to do.
#[tokio::test]
async fn an_unreadable_database_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    let (listened, logs) = run_until_listening(dir.path()).await;
    assert!(!listened, "{logs}");
    for part in [db.to_str().unwrap(), "cannot read", "restore", "backup"] {
        assert!(logs.contains(part), "{part:?} missing from: {logs}");
    }
}

/// SIGHUP re-reads the configuration and applies a changed max_db_bytes.
#[tokio::test]
async fn sighup_applies_a_changed_max_db_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("relay.toml");
    std::fs::write(&conf, "max_db_bytes = 1048576\n").unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("STARLING_RELAY_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = tokio::time::timeout(WAIT, out.next_line()).await.unwrap();
    assert!(listening.unwrap().is_some());
    let applied = async |logs: &mut tokio::io::Lines<_>, bytes: u64| loop {
        let line: Option<String> = tokio::time::timeout(WAIT, logs.next_line())
            .await
            .expect("timed out waiting for the log")
            .unwrap();
        let line = line.expect("relay exited");
        if line.contains("database size limit applied")
            && line.contains(&format!("\"max_db_bytes\":{bytes}"))
        {
            break;
        }
    };
    applied(&mut logs, 1048576).await;
    std::fs::write(&conf, "max_db_bytes = 2097152\n").unwrap();
    let pid = child.id().unwrap().to_string();
    Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .unwrap();
    applied(&mut logs, 2097152).await;
    // A SIGTERM on the heels of a SIGHUP (while the relay reloads) still
    // stops it, cleanly.
    Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .unwrap();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    let exited = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("a SIGTERM during a reload was lost: the relay kept running");
    assert!(exited.unwrap().success());
}

/// This package's directory, as cargo gives it to the running test (the
/// path compiled in may be another checkout's when a shared target
/// directory reuses the build).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
