//! Relay instances sharing one PostgreSQL database.
//!
//! Each instance decides in memory, as a single relay does; the database
//! decides between instances. Every commit moves each document's
//! `doc_heads` row from the heads its instance decided on to the new ones
//! (`pg::advance_heads`), so an instance whose view went stale fails its
//! batch instead of writing beside another's, and reloads. Each commit
//! also notifies the other instances (`LISTEN`/`NOTIFY` on
//! [`pg::CHANNEL`]) which documents changed.
//!
//! Two threads per instance, each with its own connection:
//! - the **listener** waits for notifications and tells the hub which
//!   documents are stale; on (re)connecting, and every
//!   [`HEADS_EVERY`], it reads every document's heads so nothing missed
//!   while a notification was lost stays missed;
//! - the **reader** reads back, for the hub, what other instances
//!   committed after the heads the hub has ([`Fresh`]), and sends on
//!   presence to the other instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, IsolationLevel, Statement};
use starling_protocol::membership::MembershipOp;
use starling_protocol::relay::{Committed, EnvelopeMeta, Tombstone};
use starling_protocol::{DeviceId, DocId, Envelope};
use tokio::sync::mpsc as tmpsc;

use super::StoreError;
use super::load::{self, decode_stamp};
use super::pg::CHANNEL;
use crate::hub::HubEvent;

/// How often the listener reads every document's heads, in case a
/// notification was lost.
pub(crate) const HEADS_EVERY: Duration = Duration::from_secs(10);
/// How long the listener waits for a notification before it looks at the
/// clock and the stop flag.
const WAIT: Duration = Duration::from_millis(250);
/// The longest wait between attempts to reach the database.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What another instance committed to a document since the heads asked
/// about.
#[derive(Debug)]
pub(crate) enum Fresh {
    /// It was deleted.
    Deleted(DocId, Box<Tombstone>),
    /// Rows after the heads asked about (maybe none).
    Rows(DocId, Committed),
    /// Its stored rows do not read: refused until restored.
    Damaged(DocId, String),
}

impl Fresh {
    pub fn doc(&self) -> DocId {
        match self {
            Fresh::Deleted(d, _) | Fresh::Rows(d, _) | Fresh::Damaged(d, _) => *d,
        }
    }
}

enum PeerRequest {
    /// Read what was committed after these heads (ops, last doc seq).
    Read(Vec<(DocId, (u64, u64))>),
    /// Tell the other instances a member's presence.
    Presence {
        doc: DocId,
        from: Box<DeviceId>,
        blob: Vec<u8>,
    },
}

/// The hub's handle on the reader thread.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    tx: mpsc::Sender<PeerRequest>,
}

impl Peer {
    /// Asks for what other instances committed after `have` (each
    /// document's heads here); the answer comes as [`HubEvent::Fresh`].
    pub fn read(&self, have: Vec<(DocId, (u64, u64))>) {
        let _ = self.tx.send(PeerRequest::Read(have));
    }

    /// Sends a member's presence on to the other instances' subscribers.
    pub fn presence(&self, doc: DocId, from: DeviceId, blob: Vec<u8>) {
        let _ = self.tx.send(PeerRequest::Presence {
            doc,
            from: Box::new(from),
            blob,
        });
    }
}

impl std::fmt::Debug for PeerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerRequest::Read(d) => write!(f, "Read({} docs)", d.len()),
            PeerRequest::Presence { doc, .. } => write!(f, "Presence({doc})"),
        }
    }
}

/// The listener and reader threads, stopped and joined on shutdown.
#[derive(Debug)]
pub(crate) struct SharedThreads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl SharedThreads {
    pub fn join(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts the listener and the reader for the instance `instance`, which
/// report to the hub through `hub`.
pub(crate) fn start(
    url: &str,
    instance: u64,
    hub: tmpsc::Sender<HubEvent>,
) -> std::io::Result<(Peer, SharedThreads)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let listener = {
        let (url, hub, stop) = (url.to_owned(), hub.clone(), stop.clone());
        std::thread::Builder::new()
            .name("relay-listen".into())
            .spawn(move || listen(&url, instance, &hub, &stop))?
    };
    let reader = {
        let (url, stop) = (url.to_owned(), stop.clone());
        std::thread::Builder::new()
            .name("relay-peer".into())
            .spawn(move || serve(&url, instance, rx, &hub, &stop))?
    };
    Ok((
        Peer { tx },
        SharedThreads {
            stop,
            threads: vec![listener, reader],
        },
    ))
}

/// Connects, waiting longer after each failure; `None` once stopped.
fn connect_until_stopped(url: &str, stop: &AtomicBool, what: &str) -> Option<Client> {
    let mut wait = Duration::from_millis(100);
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match super::pg::connect(url) {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(error = %e, what, "cannot reach the shared database; retrying");
                std::thread::sleep(wait);
                wait = (wait * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// What a notification says.
#[derive(Debug)]
enum Note {
    Changed(u64, Vec<DocId>),
    /// The rows one commit added to a document, after the heads given.
    Rows(u64, DocId, (u64, u64), Box<Committed>),
    Presence(u64, DocId, Box<DeviceId>, Vec<u8>),
}

fn parse(payload: &str) -> Option<Note> {
    let mut parts = payload.split(' ');
    let kind = parts.next()?;
    let instance = u64::from_str_radix(parts.next()?, 16).ok()?;
    match kind {
        "c" => {
            let docs = parts
                .next()?
                .split(',')
                .map(|d| d.parse().ok())
                .collect::<Option<Vec<DocId>>>()?;
            Some(Note::Changed(instance, docs))
        }
        "r" => {
            let doc: DocId = parts.next()?.parse().ok()?;
            let ops0: u64 = parts.next()?.parse().ok()?;
            let seq0: u64 = parts.next()?.parse().ok()?;
            let n_ops: usize = parts.next()?.parse().ok()?;
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut c = Committed::default();
            for i in 0..n_ops {
                let (op, stamp) = parts.next()?.split_once('.')?;
                let op = MembershipOp::from_bytes(&b64.decode(op).ok()?).ok()?;
                let stamp = decode_stamp(&b64.decode(stamp).ok()?)?;
                c.ops.push((ops0 + i as u64, op, Some(stamp)));
            }
            for (i, e) in parts.enumerate() {
                let bytes = b64.decode(e).ok()?;
                let env = Envelope::from_bytes(&bytes).ok()?;
                let h = env.header_unverified();
                if h.doc != doc {
                    return None;
                }
                let meta = EnvelopeMeta {
                    doc_seq: seq0 + i as u64 + 1,
                    author: h.author,
                    author_seq: h.seq,
                    hash: env.hash(),
                    len: bytes.len() as u64,
                };
                c.envelopes.push((meta, Some(env)));
            }
            Some(Note::Rows(instance, doc, (ops0, seq0), Box::new(c)))
        }
        "p" => {
            let doc = parts.next()?.parse().ok()?;
            let from = parts.next()?.parse().ok()?;
            let blob = base64::engine::general_purpose::STANDARD
                .decode(parts.next()?)
                .ok()?;
            Some(Note::Presence(instance, doc, Box::new(from), blob))
        }
        _ => None,
    }
}

fn listen(url: &str, instance: u64, hub: &tmpsc::Sender<HubEvent>, stop: &AtomicBool) {
    while let Some(mut client) = connect_until_stopped(url, stop, "listener") {
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
            tracing::warn!(error = %e, "cannot listen on the shared database; retrying");
            continue;
        }
        tracing::info!(
            instance = format!("{instance:016x}"),
            "listening for the other relay instances"
        );
        // Whatever changed while nobody listened.
        let mut polled = Instant::now();
        match heads(&mut client) {
            Ok(ev) => {
                if hub.blocking_send(ev).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the document heads; reconnecting");
                continue;
            }
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let next = client.notifications().timeout_iter(WAIT).next();
            let event = match next {
                Ok(Some(n)) => match parse(n.payload()) {
                    Some(Note::Changed(from, docs)) if from != instance => {
                        Some(HubEvent::Stale(docs))
                    }
                    Some(Note::Rows(from, doc, before, rows)) if from != instance => {
                        Some(HubEvent::Committed { doc, before, rows })
                    }
                    Some(Note::Presence(from, doc, device, blob)) if from != instance => {
                        Some(HubEvent::Presence {
                            doc,
                            from: device,
                            blob,
                        })
                    }
                    Some(_) => None,
                    None => {
                        tracing::warn!("a notification on the relay channel does not parse");
                        None
                    }
                },
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the shared database's notifications; reconnecting");
                    break;
                }
            };
            if let Some(ev) = event
                && hub.blocking_send(ev).is_err()
            {
                return;
            }
            if polled.elapsed() >= HEADS_EVERY {
                polled = Instant::now();
                match heads(&mut client) {
                    Ok(ev) => {
                        if hub.blocking_send(ev).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the document heads; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

/// Every document's heads and every deleted document.
fn heads(client: &mut Client) -> Result<HubEvent, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let heads = tx
        .query("SELECT doc, ops, seq FROM doc_heads WHERE ops >= 0", &[])?
        .into_iter()
        .filter_map(|r| {
            let doc = load::doc_id(&r.get::<_, Vec<u8>>(0))?;
            let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
            Some((doc, (n(1), n(2))))
        })
        .collect();
    let deleted = tx
        .query("SELECT doc FROM tombstones", &[])?
        .into_iter()
        .filter_map(|r| load::doc_id(&r.get::<_, Vec<u8>>(0)))
        .collect();
    tx.commit()?;
    Ok(HubEvent::Heads { heads, deleted })
}

fn serve(
    url: &str,
    instance: u64,
    rx: mpsc::Receiver<PeerRequest>,
    hub: &tmpsc::Sender<HubEvent>,
    stop: &AtomicBool,
) {
    let mut client: Option<(Client, Reads)> = None;
    while let Ok(req) = rx.recv() {
        loop {
            if client.as_ref().is_none_or(|c| c.0.is_closed()) {
                let Some(mut c) = connect_until_stopped(url, stop, "reader") else {
                    return;
                };
                match Reads::prepare(&mut c) {
                    Ok(st) => client = Some((c, st)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot prepare the reader's statements; retrying");
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    }
                }
            }
            let Some((c, st)) = client.as_mut() else {
                continue;
            };
            let done = match &req {
                PeerRequest::Read(have) => read(c, st, have).map(|f| Some(HubEvent::Fresh(f))),
                PeerRequest::Presence { doc, from, blob } => {
                    let payload = format!(
                        "p {instance:016x} {doc} {from} {}",
                        base64::engine::general_purpose::STANDARD.encode(blob)
                    );
                    c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                        .map(|_| None)
                        .map_err(StoreError::from)
                }
            };
            // A row that does not read is no reason to try forever: each
            // document is read alone, and one that fails is damaged.
            let done = match (done, &req) {
                (Err(e), PeerRequest::Read(have)) if super::fault_reason(&e).is_none() => {
                    tracing::error!(error = %e, "rows of another instance's commit do not read");
                    let mut fresh = Vec::new();
                    let mut lost = None;
                    for one in have {
                        match read(c, st, std::slice::from_ref(one)) {
                            Ok(f) => fresh.extend(f),
                            Err(e) if super::fault_reason(&e).is_none() => {
                                fresh.push(Fresh::Damaged(one.0, e.to_string()))
                            }
                            // The database went: all of it again, later.
                            Err(e) => lost = Some(e),
                        }
                    }
                    match lost {
                        Some(e) => Err(e),
                        None => Ok(Some(HubEvent::Fresh(fresh))),
                    }
                }
                (Err(e), PeerRequest::Presence { .. }) if super::fault_reason(&e).is_none() => {
                    tracing::warn!(error = %e, "presence not sent on to the other instances");
                    Ok(None)
                }
                (done, _) => done,
            };
            match done {
                Ok(Some(ev)) => {
                    if hub.blocking_send(ev).is_err() {
                        return;
                    }
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read what the other relay instances committed; retrying");
                    client = None;
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

/// The reader's statements, prepared once per connection.
struct Reads {
    tombstones: Statement,
    ops: Statement,
    envelopes: Statement,
}

impl Reads {
    fn prepare(c: &mut Client) -> Result<Reads, StoreError> {
        Ok(Reads {
            tombstones: c.prepare(
                "SELECT doc, at, idx, op, stamp FROM tombstones WHERE doc = ANY($1::bytea[])",
            )?,
            ops: c.prepare(
                "SELECT m.doc, m.idx, m.op, m.stamp FROM membership_ops m
                 JOIN unnest($1::bytea[], $2::bigint[]) AS h(doc, have) ON m.doc = h.doc
                 WHERE m.idx >= h.have ORDER BY m.doc, m.idx",
            )?,
            envelopes: c.prepare(
                "SELECT e.doc, e.doc_seq, e.author, e.author_seq, e.hash, e.bytes FROM envelopes e
                 JOIN unnest($1::bytea[], $2::bigint[]) AS h(doc, have) ON e.doc = h.doc
                 WHERE e.doc_seq > h.have ORDER BY e.doc, e.doc_seq",
            )?,
        })
    }
}

/// What was committed to each document after the heads given, in one
/// snapshot (three statements, each over every document asked about).
fn read(
    client: &mut Client,
    st: &Reads,
    have: &[(DocId, (u64, u64))],
) -> Result<Vec<Fresh>, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let docs: Vec<Vec<u8>> = have.iter().map(|(d, _)| d.as_bytes().to_vec()).collect();
    let mut out = Vec::with_capacity(have.len());
    let mut deleted = std::collections::HashSet::new();
    for r in tx.query(&st.tombstones, &[&docs])? {
        let Some(doc) = load::doc_id(&r.get::<_, Vec<u8>>(0)) else {
            continue;
        };
        deleted.insert(doc);
        match load::tombstone(r.get(1), (r.get(2), r.get(3), r.get(4))) {
            Some(t) => out.push(Fresh::Deleted(doc, Box::new(t))),
            None => out.push(Fresh::Damaged(doc, "its tombstone is damaged".into())),
        }
    }
    let mut rows: std::collections::HashMap<DocId, Committed> = have
        .iter()
        .filter(|(d, _)| !deleted.contains(d))
        .map(|(d, _)| (*d, Committed::default()))
        .collect();
    let ops: Vec<i64> = have.iter().map(|(_, h)| h.0 as i64).collect();
    for r in tx.query(&st.ops, &[&docs, &ops])? {
        let Some(doc) = load::doc_id(&r.get::<_, Vec<u8>>(0)) else {
            continue;
        };
        let Some(c) = rows.get_mut(&doc) else {
            continue;
        };
        let idx: i64 = r.get(1);
        let op = MembershipOp::from_bytes(&r.get::<_, Vec<u8>>(2))
            .map_err(|e| StoreError::Corrupt(format!("{doc}: membership op {idx}: {e}")))?;
        let stamp: Option<Vec<u8>> = r.get(3);
        c.ops.push((
            idx.max(0) as u64,
            op,
            stamp.as_deref().and_then(decode_stamp),
        ));
    }
    let seqs: Vec<i64> = have.iter().map(|(_, h)| h.1 as i64).collect();
    for r in tx.query(&st.envelopes, &[&docs, &seqs])? {
        let Some(doc) = load::doc_id(&r.get::<_, Vec<u8>>(0)) else {
            continue;
        };
        let Some(c) = rows.get_mut(&doc) else {
            continue;
        };
        let doc_seq: i64 = r.get(1);
        let bytes: Option<Vec<u8>> = r.get(5);
        let author: Vec<u8> = r.get(2);
        let hash: Vec<u8> = r.get(4);
        let mut meta = load::Metas::default();
        meta.push(
            doc,
            doc_seq,
            &author,
            r.get(3),
            &hash,
            bytes.as_ref().map(|b| b.len() as i64),
        )?;
        let envelope = bytes
            .map(|b| Envelope::from_bytes(&b))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("{doc}: envelope {doc_seq}: {e}")))?;
        if let Some((m, _)) = meta.into_metas().pop() {
            c.envelopes.push((m, envelope));
        }
    }
    tx.commit()?;
    out.extend(rows.into_iter().map(|(d, c)| Fresh::Rows(d, c)));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn notifications_parse_and_refuse_garbage() {
        let doc: DocId = "00112233445566778899aabbccddeeff".parse().unwrap();
        let payload = format!("c 00000000000000ff {doc},{doc}");
        assert!(matches!(parse(&payload), Some(Note::Changed(255, d)) if d == vec![doc, doc]));
        for bad in [
            "",
            "c",
            "c zz 00",
            "c 01 nothex",
            "x 01 00112233445566778899aabbccddeeff",
            "p 01 00112233445566778899aabbccddeeff",
            "r 01 00112233445566778899aabbccddeeff 0 0 1",
            "r 01 00112233445566778899aabbccddeeff 0 0 0 bm90IGFuIGVudmVsb3Bl",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
