//! The story with the relay run as two instances on one PostgreSQL
//! database, behind a round-robin TCP proxy standing in for the load
//! balancer: each connection goes to the other instance than the one
//! before, so the two devices (and each device's commands) are served by
//! both.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::live::{lines, wait_for};
use crate::util::{Person, Running, pair_at};

// Shared with the relay's tests, which use all of it.
#[allow(dead_code)]
#[path = "../../../relay/tests/relay/cluster.rs"]
mod cluster;

/// A round-robin proxy on 127.0.0.1 in front of `backends`; records which
/// backend each connection went to.
struct Proxy {
    addr: SocketAddr,
    routed: Arc<Mutex<Vec<usize>>>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

impl Proxy {
    /// Listens on `addr` (just freed by the caller).
    fn start_on(addr: SocketAddr, backends: Vec<SocketAddr>) -> Proxy {
        let listener = TcpListener::bind(addr).unwrap();
        let routed = Arc::new(Mutex::new(Vec::new()));
        let log = routed.clone();
        std::thread::spawn(move || {
            for (n, inbound) in listener.incoming().enumerate() {
                let Ok(inbound) = inbound else { continue };
                let to = n % backends.len();
                log.lock().unwrap().push(to);
                let Ok(out) = TcpStream::connect(backends[to]) else {
                    continue;
                };
                let (i2, o2) = (inbound.try_clone().unwrap(), out.try_clone().unwrap());
                std::thread::spawn(move || pipe(inbound, out));
                std::thread::spawn(move || pipe(o2, i2));
            }
        });
        Proxy { addr, routed }
    }

    fn routed(&self) -> Vec<usize> {
        self.routed.lock().unwrap().clone()
    }
}

/// Two relay instances on one database with one key and the origin the
/// proxy gives clients.
struct Instances {
    runtime: tokio::runtime::Runtime,
    handles: Vec<starling_relay::RelayHandle>,
}

impl Instances {
    fn start(dir: &std::path::Path, url: &str, origin: &str) -> Instances {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handles = (0..2)
            .map(|_| {
                let mut c = starling_relay::RelayConfig::for_data_dir(dir.join("relay"));
                c.database_url = Some(url.to_owned());
                c.origin = Some(origin.to_owned());
                runtime.block_on(starling_relay::start(c)).unwrap()
            })
            .collect();
        Instances { runtime, handles }
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for h in self.handles.drain(..) {
            self.runtime.block_on(h.shutdown());
        }
    }
}

fn star(p: &Person) -> serde_json::Value {
    let mut v = p.json(&["show"]);
    v.as_object_mut().unwrap().remove("warnings");
    v
}

#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling --test e2e -- --ignored postgres_"]
fn postgres_the_story_and_a_live_watch_across_two_relay_instances() {
    let pg = cluster::Cluster::start();
    let url = pg.database();
    let root = tempfile::tempdir().unwrap();
    // The proxy's address is what clients use, so it is the instances'
    // origin: taken first, then listened on once they are up.
    let front = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let relays = Instances::start(root.path(), &url, &format!("ws://{front}"));
    let proxy = Proxy::start_on(
        front,
        relays.handles.iter().map(|h| h.local_addr()).collect(),
    );
    let addr = proxy.addr.to_string();

    // Create, share, join.
    let (sam, alex) = pair_at(&root, &addr);
    // Offline edits on both sides, then sync in turn: the disagreement
    // shows, the same on both devices.
    sam.ok(&["score", "work", "4"]);
    sam.ok(&["score", "work", "5", "--as", "agreed"]);
    alex.ok(&["score", "work", "7"]);
    alex.ok(&["score", "work", "6", "--as", "agreed"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    alex.ok(&["sync"]);
    let (s, a) = (star(&sam), star(&alex));
    assert_eq!(
        s["readings"], a["readings"],
        "both devices show the same star"
    );
    let work = &s["readings"][0]["areas"][4];
    assert_eq!(work["client"]["value"], 4);
    assert_eq!(work["worker"]["value"], 7);
    let conflicts = s["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1);
    let path = conflicts[0]["path"].as_str().unwrap().to_owned();
    alex.ok(&["resolve", &path, "6"]);
    alex.ok(&["sync"]);
    sam.ok(&["sync"]);
    for p in [&sam, &alex] {
        assert_eq!(p.json(&["conflicts"]).as_array().unwrap().len(), 0);
        assert_eq!(star(p)["readings"][0]["areas"][4]["agreed"]["value"], 6);
    }
    let routed = proxy.routed();
    assert!(
        routed.contains(&0) && routed.contains(&1),
        "both instances served: {routed:?}"
    );

    // A live watch on one instance sees a score published through the
    // other.
    let before = proxy.routed().len();
    let mut watch = Running(
        alex.cmd(&["sync", "--watch"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines(&mut watch.0);
    assert!(
        wait_for(&rx, "up to date", 20).is_some(),
        "the watcher never caught up"
    );
    sam.ok(&["score", "self_care", "8"]);
    sam.ok(&["sync"]);
    let seen = wait_for(&rx, "scored self_care 8", 10);
    let routed = proxy.routed();
    drop(watch);
    assert!(seen.is_some(), "the watcher never printed the score");
    assert_eq!(routed.len(), before + 2, "one connection each: {routed:?}");
    assert_ne!(
        routed[before],
        routed[before + 1],
        "the watcher and the publisher were on different instances"
    );
}
