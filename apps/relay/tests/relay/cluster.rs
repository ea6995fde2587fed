//! A throwaway PostgreSQL cluster for tests (Debian's postgresql package:
//! initdb into a temp dir, a free port on 127.0.0.1, as the `postgres`
//! user when the tests run as root, since PostgreSQL refuses root). Shared
//! by the relay's tests and the CLI's (`#[path]`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A PostgreSQL cluster in a temp dir, stopped when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// Where Debian keeps the server binaries (outside PATH), the newest
/// version first; else whatever `initdb` PATH finds.
fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_default()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    pub fn start() -> Cluster {
        let bin = pg_bin();
        let as_postgres = is_root();
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Cluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = c.dir.path().join("data");
        c.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        c.start_again();
        c
    }

    /// Starts the server (again, after [`Cluster::stop`]) on the same
    /// port and data.
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = if self.bin.as_os_str().is_empty() {
            PathBuf::from(tool)
        } else {
            self.bin.join(tool)
        };
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().unwrap_or_else(|e| {
            panic!(
                "{} (install Debian's postgresql package): {e}",
                exe.display()
            )
        });
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The administrator's URL (the `postgres` database).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A new database: its URL. (Blocking: in async code, call it on a
    /// blocking thread.)
    #[allow(dead_code)] // the CLI's tests (sync) use it; the relay's are async
    pub fn database(&self) -> String {
        Cluster::database_at(&self.admin_url())
    }

    /// A new database in the cluster whose administrator's URL is `admin`.
    pub fn database_at(admin: &str) -> String {
        // Unique in a cluster that outlives one test run.
        let name = format!(
            "relay_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        format!("{base}/{name}")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = std::panic::catch_unwind(|| {
            self.run(
                "pg_ctl",
                &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
            )
        });
    }
}
