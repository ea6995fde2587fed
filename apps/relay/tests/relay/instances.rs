//! Several relay instances on one PostgreSQL database: a document is live
//! across them, the database keeps one order per document, and a client
//! whose instance dies carries on through another, losing nothing
//! acknowledged.
//!
//! The soak runs (many kills, many races) are ignored with a reason; run
//! them with `cargo test -p starling-relay --test relay -- --ignored soak_`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use starling_protocol::membership::Role;
use starling_protocol::session::SessionEvent;
use starling_protocol::wire::{DocCursor, ErrorCode, Message};
use starling_protocol::{DocId, Envelope, EnvelopeHash};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::crash::{Acked, ORIGIN, publisher};
use crate::postgres::Cluster;
use crate::util::*;

/// Bytes a device may keep stored, in these tests.
const QUOTA: u64 = 64 * 1024;

fn config(dir: &Path, url: &str) -> starling_relay::RelayConfig {
    let mut c = starling_relay::RelayConfig::for_data_dir(dir);
    c.origin = Some(ORIGIN.into());
    c.database_url = Some(url.to_owned());
    c
}

/// Two instances in this process on one database, with the same key (one
/// data directory: the key file is all they keep there).
async fn two_instances(
    dir: &Path,
    url: &str,
    device_quota: Option<u64>,
) -> (starling_relay::RelayHandle, starling_relay::RelayHandle) {
    let config = || {
        let mut c = config(dir, url);
        if let Some(q) = device_quota {
            c.limits.max_device_bytes = q;
        }
        c
    };
    let a = starling_relay::start(config()).await.unwrap();
    let b = starling_relay::start(config()).await.unwrap();
    assert_eq!(a.relay_id(), b.relay_id(), "one relay identity");
    (a, b)
}

/// Waits until `relay` serves `doc` to `k`'s device (another instance
/// created it a moment ago).
async fn wait_known(relay: &starling_relay::RelayHandle, k: u8, doc: DocId) {
    let start = Instant::now();
    loop {
        let mut raw = Raw::logged_in(relay, &key(k)).await;
        raw.send(&Message::Subscribe {
            docs: vec![DocCursor { doc, cursor: 0 }],
        })
        .await;
        loop {
            match raw.recv().await {
                Some(Message::CaughtUp { .. }) => return,
                Some(Message::Error { .. }) | None => break,
                Some(_) => {}
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the other instance never learnt of the document"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `c` on a new connection to `relay`, resumed from its cursors.
async fn resume(c: Client, relay: &starling_relay::RelayHandle) -> Client {
    let mut s = c.session;
    s.handle_disconnected(now_ms(), &mut rand_core::OsRng);
    let mut c = Client::reconnect(s, &relay.url()).await;
    c.until(|e| matches!(e, SessionEvent::CaughtUp { .. }))
        .await;
    c
}

/// What became of one publish.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Acked(u64),
    Refused(ErrorCode),
    Closed,
}

async fn try_publish(w: &mut Raw, e: &Envelope) -> Outcome {
    w.send(&Message::Publish {
        envelope: e.clone(),
    })
    .await;
    loop {
        match w.recv().await {
            Some(Message::Acks(a)) if a.entries.len() == 1 => {
                return Outcome::Acked(a.entries[0].doc_seq);
            }
            Some(Message::Error { code, .. }) => return Outcome::Refused(code),
            None => return Outcome::Closed,
            Some(_) => {}
        }
    }
}

/// Publishes `e` through `relay` as `k`, again after a closed connection
/// or a gap, until it is acknowledged or refused.
async fn publish_settled(relay: &starling_relay::RelayHandle, k: u8, e: &Envelope) -> Outcome {
    let start = Instant::now();
    loop {
        let mut w = Raw::logged_in(relay, &key(k)).await;
        match try_publish(&mut w, e).await {
            // Closed after a lost race, or the instance has not yet taken
            // in the author's previous envelope: try again, as a client
            // does.
            Outcome::Closed | Outcome::Refused(ErrorCode::Gap) => {}
            other => return other,
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The rows the database holds for `author` in `doc`: (author seq, hash).
async fn rows_of(url: &str, doc: DocId, author: u8) -> Vec<(i64, Vec<u8>)> {
    let (url, doc, author) = (
        url.to_owned(),
        doc.as_bytes().to_vec(),
        key(author).device_id().as_bytes().to_vec(),
    );
    tokio::task::spawn_blocking(move || {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        db.query(
            "SELECT author_seq, hash FROM envelopes WHERE doc = $1 AND author = $2 ORDER BY author_seq",
            &[&doc, &author],
        )
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_two_instances_serve_one_document_live_and_keep_every_guarantee() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    // A quota small enough for a test to reach through two instances.
    let (a, b) = two_instances(dir.path(), &url, Some(QUOTA)).await;

    // The owner works through instance A; the member and a third writer
    // through B.
    let mut owner = Client::connect(&a, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Editor)
        .await;
    owner
        .add_member(doc, key(3).device_id(), Role::Editor)
        .await;
    wait_known(&b, 2, doc).await;
    let mut member = Client::connect(&b, key(2)).await;
    let out = member.session.open_doc(doc);
    member.apply(out).await;
    member
        .until(|e| matches!(e, SessionEvent::CaughtUp { .. }))
        .await;

    // Live both ways, in one order.
    let seq = owner.publish(doc, b"score 6 from A").await;
    member
        .until(|e| matches!(e, SessionEvent::Apply { payload, .. } if payload == b"score 6 from A"))
        .await;
    assert_eq!(member.session.cursor(&doc), Some(seq));
    let seq2 = member.publish(doc, b"score 7 from B").await;
    assert_eq!(seq2, seq + 1, "one order across instances");
    owner
        .until(|e| matches!(e, SessionEvent::Apply { payload, .. } if payload == b"score 7 from B"))
        .await;

    // Presence crosses instances too (it is never stored).
    let out = member
        .session
        .send_presence(doc, b"editing goals", &mut rand_core::OsRng)
        .unwrap();
    member.apply(out).await;
    owner
        .until(|e| matches!(e, SessionEvent::Presence { data, .. } if data == b"editing goals"))
        .await;

    // Deduplication: an envelope stored through A and sent again through
    // B is acknowledged at the same doc seq and stored once.
    let e1 = seal(doc, &key(3), 1, EnvelopeHash::ZERO, b"third writer");
    let Outcome::Acked(at) = publish_settled(&a, 3, &e1).await else {
        panic!("refused through A")
    };
    assert_eq!(publish_settled(&b, 3, &e1).await, Outcome::Acked(at));
    assert_eq!(rows_of(&url, doc, 3).await.len(), 1);

    // Membership is checked against the current log: removed through A,
    // the writer's next envelope is never stored through B.
    let out = owner
        .session
        .remove_member(now_ms(), doc, key(3).device_id(), &mut rand_core::OsRng)
        .unwrap();
    owner.apply(out).await;
    owner.sync(doc).await;
    let e2 = seal(doc, &key(3), 2, e1.hash(), b"after removal");
    let got = publish_settled(&b, 3, &e2).await;
    assert!(matches!(got, Outcome::Refused(_)), "{got:?}");
    assert_eq!(rows_of(&url, doc, 3).await.len(), 1, "nothing stored after");

    // (A stale instance that lost a race closed its connections: the
    // member resumes, as a client does.)
    let mut member = resume(member, &b).await;
    // Too large to travel in a notification: read back from the database.
    let big = vec![7u8; 20_000];
    owner.publish(doc, &big).await;
    member
        .until(|e| matches!(e, SessionEvent::Apply { payload, .. } if *payload == big))
        .await;

    // A device's quota counts what it stored through every instance.
    let out = owner
        .session
        .add_member(
            now_ms(),
            doc,
            key(4).device_id(),
            Role::Editor,
            "carer",
            &mut rand_core::OsRng,
        )
        .unwrap();
    owner.apply(out).await;
    owner.sync(doc).await;
    let chunk = vec![1u8; QUOTA as usize * 2 / 5];
    let q1 = seal(doc, &key(4), 1, EnvelopeHash::ZERO, &chunk);
    let q2 = seal(doc, &key(4), 2, q1.hash(), &chunk);
    let q3 = seal(doc, &key(4), 3, q2.hash(), &chunk);
    assert!(matches!(
        publish_settled(&a, 4, &q1).await,
        Outcome::Acked(_)
    ));
    assert!(matches!(
        publish_settled(&b, 4, &q2).await,
        Outcome::Acked(_)
    ));
    assert_eq!(
        publish_settled(&a, 4, &q3).await,
        Outcome::Refused(ErrorCode::TooLarge),
        "over quota through two instances"
    );

    // Deleted through A: the member on B is told.
    let mut member = resume(member, &b).await;
    let out = owner.session.delete_doc(now_ms(), doc).unwrap();
    owner.apply(out).await;
    member
        .until(|e| matches!(e, SessionEvent::Deleted { .. }))
        .await;
    // And no instance creates it again, whatever it has taken in.
    let genesis = starling_protocol::membership::MembershipState::genesis(
        doc,
        &key(1),
        "client",
        None,
        now_ms(),
    )
    .unwrap();
    let start = Instant::now();
    loop {
        let mut w = Raw::logged_in(&b, &key(1)).await;
        w.send(&Message::MembershipPublish {
            doc,
            op: genesis.clone(),
        })
        .await;
        match w.recv().await {
            Some(Message::Deleted { .. }) => break,
            None => {}
            other => panic!("a deleted document was created again: {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    let (u, raw_doc) = (url.clone(), doc.as_bytes().to_vec());
    let ops: i64 = tokio::task::spawn_blocking(move || {
        let mut db = postgres::Client::connect(&u, postgres::NoTls).unwrap();
        db.query_one(
            "SELECT count(*) FROM membership_ops WHERE doc = $1",
            &[&raw_doc],
        )
        .unwrap()
        .get(0)
    })
    .await
    .unwrap();
    assert_eq!(ops, 0);

    a.shutdown().await;
    b.shutdown().await;
    drop(cluster);
}

/// Runs `sql` on the database at `url` (blocking, off the runtime).
async fn sql(url: &str, sql: String) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        db.batch_execute(&sql).unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_an_instance_that_missed_notifications_catches_up_from_the_database() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let admin = cluster.admin_url();
    let name = url.rsplit('/').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_instances(dir.path(), &url, None).await;
    let mut owner = Client::connect(&a, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(2).device_id(), Role::Viewer)
        .await;
    wait_known(&b, 2, doc).await;
    let mut member = Client::connect(&b, key(2)).await;
    let out = member.session.open_doc(doc);
    member.apply(out).await;
    member
        .until(|e| matches!(e, SessionEvent::CaughtUp { .. }))
        .await;

    // Both instances lose their listening connections and cannot make new
    // ones for a while: what A commits meanwhile is notified to nobody.
    sql(
        &admin,
        format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{name}' AND query LIKE 'LISTEN%';"
        ),
    )
    .await;
    for i in 0..3u8 {
        owner.publish(doc, &[b'm', i]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    sql(
        &admin,
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true;"),
    )
    .await;
    // B listens again, finds the document's heads moved, reads it back and
    // delivers, in order.
    member
        .until(|e| matches!(e, SessionEvent::Apply { payload, .. } if payload == &[b'm', 2]))
        .await;
    let applied: Vec<Vec<u8>> = member
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Apply { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(applied, vec![vec![b'm', 0], vec![b'm', 1], vec![b'm', 2]]);
    a.shutdown().await;
    b.shutdown().await;
    drop(cluster);
}

/// `tries` times, one device sends two different envelopes for the same
/// chain position to both instances at once: exactly one is acknowledged
/// and stored, every time.
async fn race(tries: u64) {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_instances(dir.path(), &url, None).await;
    let mut owner = Client::connect(&a, key(1)).await;
    let doc = owner.create_doc().await;
    owner
        .add_member(doc, key(3).device_id(), Role::Editor)
        .await;
    wait_known(&b, 3, doc).await;
    let mut wa = Raw::logged_in(&a, &key(3)).await;
    let mut wb = Raw::logged_in(&b, &key(3)).await;
    let mut prev = EnvelopeHash::ZERO;
    let mut wins = [0u64; 2];
    for seq in 1..=tries {
        let ea = seal(doc, &key(3), seq, prev, format!("A {seq}").as_bytes());
        let eb = seal(doc, &key(3), seq, prev, format!("B {seq}").as_bytes());
        let (ra, rb) = tokio::join!(try_publish(&mut wa, &ea), try_publish(&mut wb, &eb));
        let winner = match (&ra, &rb) {
            (Outcome::Acked(_), Outcome::Acked(_)) => {
                panic!("try {seq}: both envelopes acknowledged")
            }
            (Outcome::Acked(_), _) => &ea,
            (_, Outcome::Acked(_)) => &eb,
            _ => panic!("try {seq}: neither acknowledged: {ra:?} {rb:?}"),
        };
        wins[usize::from(winner.hash() == eb.hash())] += 1;
        prev = winner.hash();
        if ra == Outcome::Closed {
            wa = Raw::logged_in(&a, &key(3)).await;
        }
        if rb == Outcome::Closed {
            wb = Raw::logged_in(&b, &key(3)).await;
        }
    }
    let rows = rows_of(&url, doc, 3).await;
    assert_eq!(rows.len() as u64, tries, "one envelope per position");
    assert_eq!(
        rows.last().map(|r| r.1.clone()),
        Some(prev.as_bytes().to_vec())
    );
    eprintln!("{tries} races: A won {}, B won {}", wins[0], wins[1]);
    a.shutdown().await;
    b.shutdown().await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_two_instances_never_accept_two_envelopes_at_one_position() {
    race(50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak (1,000 races, about 10 s here): cargo test -p starling-relay --test relay -- --ignored soak_"]
async fn soak_two_instances_race_1000_times() {
    race(1000).await;
}

/// A round-robin TCP proxy on 127.0.0.1 standing in for the load
/// balancer: each connection goes to the next backend that accepts it.
async fn proxy(backends: Arc<Mutex<Vec<SocketAddr>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let list = backends.lock().unwrap().clone();
            let first = next.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                for i in 0..list.len() {
                    let to = list[(first + i) % list.len()];
                    if let Ok(mut out) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The relay binary on `url`, with the key in `dir`; its address.
async fn spawn_instance(dir: &Path, url: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_starling-relay"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--origin", ORIGIN])
        .env("STARLING_RELAY_DATABASE_URL", url)
        .env("STARLING_RELAY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the relay binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("relay start timed out")
            .unwrap()
            .expect("relay exited before listening");
        if let Some(u) = line.strip_prefix("starling-relay listening on ") {
            break u.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (child, addr)
}

/// Every acknowledged envelope is stored where it was acknowledged, and
/// each document's doc seqs run from 1 without a gap.
async fn verify(url: &str, acks: Vec<Acked>, docs: Vec<DocId>) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for a in &acks {
            let row = db
                .query_opt(
                    "SELECT doc_seq, hash, bytes FROM envelopes
                     WHERE doc = $1 AND author = $2 AND author_seq = $3",
                    &[
                        &&a.doc.as_bytes()[..],
                        &&a.author.as_bytes()[..],
                        &(a.seq as i64),
                    ],
                )
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged envelope {a:?} missing"));
            assert_eq!(row.get::<_, i64>(0) as u64, a.doc_seq, "{a:?}");
            assert_eq!(row.get::<_, Vec<u8>>(1), a.hash.as_bytes(), "{a:?}");
            let env = Envelope::from_bytes(&row.get::<_, Vec<u8>>(2)).unwrap();
            assert_eq!(env.hash(), a.hash);
        }
        for doc in docs {
            let seqs: Vec<i64> = db
                .query(
                    "SELECT doc_seq FROM envelopes WHERE doc = $1 ORDER BY doc_seq",
                    &[&&doc.as_bytes()[..]],
                )
                .unwrap()
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            let want: Vec<i64> = (1..=seqs.len() as i64).collect();
            assert_eq!(seqs, want, "doc seqs of {doc} have a gap");
        }
    })
    .await
    .unwrap();
}

/// What a subscriber from zero gets of `doc` through `to`: its doc seqs.
async fn replayed(to: SocketAddr, owner: u8, doc: DocId) -> Vec<u64> {
    let mut raw = Raw::connect(&format!("ws://{to}/v1/sync")).await;
    raw.login(&key(owner)).await;
    raw.send(&Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 0 }],
    })
    .await;
    let mut seqs = Vec::new();
    loop {
        match raw.recv().await {
            Some(Message::Deliver { doc_seq, .. }) => seqs.push(doc_seq),
            Some(Message::CaughtUp { .. }) => return seqs,
            Some(_) => {}
            None => panic!("closed during a replay"),
        }
    }
}

/// Publishers through the proxy while instances are killed with SIGKILL
/// in turn (and started again): the clients carry on through the other,
/// nothing acknowledged is lost, and both instances then serve every
/// document identically.
async fn failover(kills: usize) {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.database_async().await;
    let dir = tempfile::tempdir().unwrap();
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(spawn_instance(dir.path(), &url).await);
    }
    let backends = Arc::new(Mutex::new(
        instances.iter().map(|i| i.1).collect::<Vec<_>>(),
    ));
    let front = proxy(backends.clone()).await;
    let (_url_tx, url_rx) = watch::channel(format!("ws://{front}/v1/sync"));
    let (stop_tx, stop_rx) = watch::channel(false);
    let acks = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..4u8)
        .map(|i| {
            tokio::spawn(publisher(
                20 + i,
                url_rx.clone(),
                stop_rx.clone(),
                acks.clone(),
            ))
        })
        .collect();
    let mut progress = Vec::new();
    for round in 0..kills {
        let before = acks.lock().unwrap().len();
        let until = Instant::now() + Duration::from_secs(20);
        while acks.lock().unwrap().len() < before + 40 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let victim = round % 2;
        instances[victim].0.start_kill().unwrap();
        instances[victim].0.wait().await.unwrap();
        // The survivor carries everyone.
        let after_kill = acks.lock().unwrap().len();
        let until = Instant::now() + Duration::from_secs(20);
        while acks.lock().unwrap().len() < after_kill + 40 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        progress.push(acks.lock().unwrap().len() - after_kill);
        instances[victim] = spawn_instance(dir.path(), &url).await;
        backends.lock().unwrap()[victim] = instances[victim].1;
    }
    stop_tx.send(true).unwrap();
    let mut docs = Vec::new();
    for t in tasks {
        docs.push(
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(
        progress.iter().all(|p| *p >= 40),
        "the survivor did not carry the load: {progress:?}"
    );
    let acks = acks.lock().unwrap().clone();
    let mut highest: BTreeMap<DocId, u64> = BTreeMap::new();
    for a in &acks {
        let e = highest.entry(a.doc).or_default();
        *e = (*e).max(a.doc_seq);
    }
    eprintln!("{kills} kills, {} acks", acks.len());
    verify(&url, acks, docs.clone()).await;
    // Every device converges: both instances serve each document whole.
    for (i, doc) in docs.iter().enumerate() {
        let owner = 20 + i as u8;
        let want: Vec<u64> = (1..=highest[doc]).collect();
        for inst in &instances {
            let got = replayed(inst.1, owner, *doc).await;
            assert_eq!(got, want, "instance {} serves {doc}", inst.1);
        }
    }
    for (mut child, _) in instances {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (Debian's postgresql package), which .ci/run installs: cargo test -p starling-relay --test relay -- --ignored postgres_"]
async fn postgres_a_killed_instance_loses_nothing_acknowledged() {
    failover(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak (10 kills, about 10 s here): cargo test -p starling-relay --test relay -- --ignored soak_"]
async fn soak_instances_killed_10_times_lose_nothing_acknowledged() {
    failover(10).await;
}
