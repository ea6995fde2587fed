//! A relay that can be stopped and restarted on the same port, and people
//! who run `starling` in their own homes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A relay on 127.0.0.1, in its own runtime, restartable on the same port.
pub struct Relay {
    runtime: tokio::runtime::Runtime,
    handle: Option<starling_relay::RelayHandle>,
    data: PathBuf,
    pub addr: String,
}

impl Relay {
    pub fn start(dir: &Path) -> Relay {
        Self::start_with(dir, |_| {})
    }

    /// A relay whose configuration `f` adjusts first.
    pub fn start_with(dir: &Path, f: impl FnOnce(&mut starling_relay::RelayConfig)) -> Relay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let data = dir.join("relay");
        let mut config = starling_relay::RelayConfig::for_data_dir(&data);
        f(&mut config);
        let handle = runtime.block_on(starling_relay::start(config)).unwrap();
        let addr = handle.local_addr().to_string();
        Relay {
            runtime,
            handle: Some(handle),
            data,
            addr,
        }
    }

    /// Frame bytes the relay has sent, over all connections.
    pub fn bytes_out(&self) -> u64 {
        self.handle.as_ref().map_or(0, |h| h.metrics().bytes_out())
    }

    /// Runs the relay's retention sweep as if the clock said `now`.
    pub fn sweep_at(&self, now: u64) -> usize {
        let h = self.handle.as_ref().expect("running");
        self.runtime.block_on(h.sweep_retention_at(now))
    }

    /// The relay's database file.
    pub fn db_path(&self) -> PathBuf {
        self.data.join("relay.db")
    }

    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.runtime.block_on(h.shutdown());
        }
    }

    /// Start again on the same port with the same data but a new key, as if
    /// its operator had lost the key file (or someone else took its place).
    pub fn restart_with_new_key(&mut self) {
        self.stop();
        std::fs::remove_file(self.data.join("relay.key")).unwrap();
        self.restart();
    }

    /// Start again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        let mut config = starling_relay::RelayConfig::for_data_dir(&self.data);
        config.listen = self.addr.parse().unwrap();
        self.handle = Some(
            self.runtime
                .block_on(starling_relay::start(config))
                .unwrap(),
        );
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A child process that is killed when dropped, so a failing test leaves
/// nothing running.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `p`'s `sync --watch --json`, running, and its events as they come.
pub fn watch_json(p: &Person) -> (Running, std::sync::mpsc::Receiver<serde_json::Value>) {
    let mut watch = Running(
        p.cmd(&["--json", "sync", "--watch"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = watch.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let event = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    (watch, rx)
}

/// The next `changed` event within 20 s.
pub fn next_changed(events: &std::sync::mpsc::Receiver<serde_json::Value>) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let event = events
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("a changed event");
        if event["kind"] == "changed" {
            return event;
        }
    }
}

/// One person with their own device (home directory).
pub struct Person {
    pub home: PathBuf,
}

impl Person {
    pub fn new(root: &TempDir, name: &str) -> Person {
        let home = root.path().join(name.to_lowercase());
        let p = Person { home };
        p.ok(&["init", "--name", name]);
        p
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_starling"));
        c.args(args)
            .env("STARLING_HOME", &self.home)
            .env_remove("STARLING_RELAY")
            .env_remove("STARLING_PASSPHRASE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run and require success; return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "starling {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run and return the exit code and stderr.
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "starling {args:?} should have failed"
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

/// Sam (client, owner) and Alex (worker) sharing one journal through `relay`,
/// with one reading dated 2026-11-23.
pub fn pair(root: &TempDir, relay: &Relay) -> (Person, Person) {
    pair_at(root, &relay.addr)
}

/// [`pair`] through the relay at `addr`.
pub fn pair_at(root: &TempDir, addr: &str) -> (Person, Person) {
    let sam = Person::new(root, "Sam");
    let alex = Person::new(root, "Alex");
    sam.ok(&["new", "--relay", addr]);
    sam.ok(&["reading", "new", "--date", "2026-11-23"]);
    sam.ok(&["sync"]);
    let link = sam.json(&["share", "--as", "worker", "--name", "Alex"])["link"]
        .as_str()
        .unwrap()
        .to_owned();
    sam.ok(&["sync"]);
    alex.ok(&["join", &link]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    (sam, alex)
}

/// This package's directory, as cargo gives it to the running test (the
/// path compiled in may be another checkout's when a shared target
/// directory reuses the build).
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
