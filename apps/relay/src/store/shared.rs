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
use postgres::{Client, IsolationLevel, NoTls};
use starling_protocol::membership::MembershipOp;
use starling_protocol::relay::{Committed, Tombstone};
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
}

impl Fresh {
    pub fn doc(&self) -> DocId {
        match self {
            Fresh::Deleted(d, _) | Fresh::Rows(d, _) => *d,
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
fn connect(url: &str, stop: &AtomicBool, what: &str) -> Option<Client> {
    let mut wait = Duration::from_millis(100);
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match Client::connect(url, NoTls) {
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
#[derive(Debug, PartialEq, Eq)]
enum Note {
    Changed(u64, Vec<DocId>),
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
    while let Some(mut client) = connect(url, stop, "listener") {
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
        .query("SELECT doc, ops, seq FROM doc_heads", &[])?
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
    let mut client: Option<Client> = None;
    while let Ok(req) = rx.recv() {
        loop {
            let c = match client.as_mut().filter(|c| !c.is_closed()) {
                Some(c) => c,
                None => match connect(url, stop, "reader") {
                    Some(c) => client.insert(c),
                    None => return,
                },
            };
            let done = match &req {
                PeerRequest::Read(have) => read(c, have).map(|f| Some(HubEvent::Fresh(f))),
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

/// What was committed to each document after the heads given, read in one
/// snapshot.
fn read(client: &mut Client, have: &[(DocId, (u64, u64))]) -> Result<Vec<Fresh>, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let mut out = Vec::with_capacity(have.len());
    for (doc, (ops, seq)) in have {
        let key = &doc.as_bytes()[..];
        if let Some(r) = tx.query_opt(
            "SELECT at, idx, op, stamp FROM tombstones WHERE doc = $1",
            &[&key],
        )? {
            let parts = (r.get(1), r.get(2), r.get(3));
            match load::tombstone(r.get(0), parts) {
                Some(t) => out.push(Fresh::Deleted(*doc, Box::new(t))),
                None => tracing::error!(%doc, "a stored tombstone is damaged"),
            }
            continue;
        }
        let mut committed = Committed::default();
        let rows = tx.query(
            "SELECT idx, op, stamp FROM membership_ops WHERE doc = $1 AND idx >= $2 ORDER BY idx",
            &[&key, &(*ops as i64)],
        )?;
        for r in rows {
            let idx: i64 = r.get(0);
            let op = MembershipOp::from_bytes(&r.get::<_, Vec<u8>>(1))
                .map_err(|e| StoreError::Corrupt(format!("{doc}: membership op {idx}: {e}")))?;
            let stamp: Option<Vec<u8>> = r.get(2);
            committed.ops.push((
                idx.max(0) as u64,
                op,
                stamp.as_deref().and_then(decode_stamp),
            ));
        }
        let rows = tx.query(
            "SELECT doc_seq, author, author_seq, hash, bytes FROM envelopes
             WHERE doc = $1 AND doc_seq > $2 ORDER BY doc_seq",
            &[&key, &(*seq as i64)],
        )?;
        let mut metas = load::Metas::default();
        let mut envelopes = Vec::with_capacity(rows.len());
        for r in rows {
            let doc_seq: i64 = r.get(0);
            let bytes: Option<Vec<u8>> = r.get(4);
            let author: Vec<u8> = r.get(1);
            let hash: Vec<u8> = r.get(3);
            let len = bytes.as_ref().map(|b| b.len() as i64);
            metas.push(*doc, doc_seq, &author, r.get(2), &hash, len)?;
            envelopes.push(
                bytes
                    .map(|b| Envelope::from_bytes(&b))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("{doc}: envelope {doc_seq}: {e}")))?,
            );
        }
        committed.envelopes = metas
            .into_metas()
            .into_iter()
            .map(|(m, _)| m)
            .zip(envelopes)
            .collect();
        out.push(Fresh::Rows(*doc, committed));
    }
    tx.commit()?;
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
        assert_eq!(parse(&payload), Some(Note::Changed(255, vec![doc, doc])));
        for bad in [
            "",
            "c",
            "c zz 00",
            "c 01 nothex",
            "x 01 00112233445566778899aabbccddeeff",
            "p 01 00112233445566778899aabbccddeeff",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
