//! The simulated world: relay, peers, network, clock and a malicious-relay
//! filter.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_core::RngCore;
use starling_protocol::envelope::Envelope;
use starling_protocol::invite::InviteSecret;
use starling_protocol::relay::{ConnId, MemoryRelay, RelayConfig};
use starling_protocol::session::{ClientSession, Output, SessionConfig, SessionEvent, Tampering};
use starling_protocol::testing::SeededRng;
use starling_protocol::wire::{self, Message};
use starling_protocol::{DeviceId, DeviceKey, DocId};

pub const ORIGIN: &str = "wss://relay.test";

/// How the relay misbehaves towards one victim peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malice {
    /// Honest.
    None,
    /// Silently drops some deliveries to the victim.
    Withhold,
    /// Re-sends earlier deliveries to the victim.
    Replay,
    /// Flips a byte in some deliveries to the victim.
    Corrupt,
}

#[derive(Clone)]
pub struct Peer {
    pub name: &'static str,
    /// The device key (the harness plays a compromised device with it).
    pub key: DeviceKey,
    pub session: ClientSession,
    pub conn: Option<ConnId>,
    pub online: bool,
    pub set: BTreeSet<String>,
    pub events: Vec<SessionEvent>,
    /// (author, seq) pairs applied, to catch double application.
    pub applied: BTreeSet<(DeviceId, u64)>,
    /// The device invite this peer is joining through (a link or a
    /// recovery code), redeemed wherever the relay says it is live.
    pub linking: Option<InviteSecret>,
}

#[derive(Clone)]
struct InFlight {
    at: u64,
    conn: ConnId,
    to_relay: bool,
    frame: Vec<u8>,
}

#[derive(Clone)]
pub struct World {
    pub now: u64,
    pub rng: SeededRng,
    pub relay: MemoryRelay,
    /// The relay's key (the harness plays a colluding relay with it).
    pub relay_key: DeviceKey,
    pub peers: Vec<Peer>,
    pub doc: Option<DocId>,
    flight: VecDeque<InFlight>,
    next_conn: u64,
    /// Per-direction FIFO: latest scheduled delivery time per (conn, dir).
    last_at: BTreeMap<(ConnId, bool), u64>,
    pub malice: Malice,
    pub victim: usize,
    replay_pool: Vec<Vec<u8>>,
    /// Probability per step that a connected peer's link breaks.
    pub p_disconnect: f64,
    /// Largest one-way latency, ms.
    pub max_latency: u64,
    /// Every item any peer wrote.
    pub written: BTreeSet<String>,
    /// Authored payloads by (author, seq), to check what is applied.
    pub authored: BTreeMap<(DeviceId, u64), Vec<u8>>,
    pub counts: BTreeMap<String, u64>,
}

pub fn decode_items(payload: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(payload)
        .split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn new_peer(name: &'static str, rng: &mut SeededRng) -> Peer {
    let key = DeviceKey::generate(rng);
    let cfg = SessionConfig {
        origin: ORIGIN.into(),
        relay: None,
        agent: format!("sim/{name}"),
    };
    Peer {
        name,
        key: key.clone(),
        session: ClientSession::new(key, cfg, rng),
        conn: None,
        online: true,
        set: BTreeSet::new(),
        events: Vec::new(),
        applied: BTreeSet::new(),
        linking: None,
    }
}

impl World {
    /// A new device nobody knows yet, online.
    pub fn add_peer(&mut self, name: &'static str) -> usize {
        let peer = new_peer(name, &mut self.rng);
        self.peers.push(peer);
        self.peers.len() - 1
    }

    /// Peer `by` makes a device invite in the document for `secret`; peer
    /// `who` then asks the relay where it is live and redeems it, becoming
    /// another device of `by`'s person.
    pub fn link(&mut self, by: usize, who: usize, secret: &InviteSecret, expires_at: u64) {
        let doc = self.doc.unwrap();
        let out = self.peers[by]
            .session
            .create_device_invite(self.now, doc, secret.id(), expires_at, &mut self.rng)
            .unwrap();
        self.output(by, out);
        let person = self.peers[by].session.person();
        self.peers[who].session.set_person(Some(person));
        self.find(who, secret);
    }

    /// Peer `who` asks where `secret`'s device invite is live and redeems it.
    pub fn find(&mut self, who: usize, secret: &InviteSecret) {
        self.peers[who].linking = Some(secret.clone());
        self.run_until_quiet();
        let out = self.peers[who].session.find_invites(secret);
        self.output(who, out);
        self.run_until_quiet();
    }

    pub fn new(seed: u64, names: &[&'static str]) -> Self {
        let mut rng = SeededRng::new(seed);
        let relay_key = DeviceKey::generate(&mut rng);
        let relay = MemoryRelay::new(relay_key.clone(), RelayConfig::new(ORIGIN));
        let peers = names.iter().map(|name| new_peer(name, &mut rng)).collect();
        World {
            now: 1_000_000,
            rng,
            relay,
            relay_key,
            peers,
            doc: None,
            flight: VecDeque::new(),
            next_conn: 1,
            last_at: BTreeMap::new(),
            malice: Malice::None,
            victim: usize::MAX,
            replay_pool: Vec::new(),
            p_disconnect: 0.0,
            max_latency: 30,
            written: BTreeSet::new(),
            authored: BTreeMap::new(),
            counts: BTreeMap::new(),
        }
    }

    pub fn id(&self, p: usize) -> DeviceId {
        self.peers[p].session.device_id()
    }

    fn schedule(&mut self, conn: ConnId, to_relay: bool, frame: Vec<u8>) {
        let lat = 1 + self.rng.below(self.max_latency.max(1));
        let last = self.last_at.get(&(conn, to_relay)).copied().unwrap_or(0);
        let at = (self.now + lat).max(last);
        self.last_at.insert((conn, to_relay), at);
        self.flight.push_back(InFlight {
            at,
            conn,
            to_relay,
            frame,
        });
    }

    /// Carries out a session output for peer `p`.
    pub fn output(&mut self, p: usize, out: Output) {
        let mut rotate = Vec::new();
        let mut join = Vec::new();
        for ev in out.events {
            if let SessionEvent::RotationNeeded { doc } = ev {
                rotate.push(doc);
            }
            if let SessionEvent::InviteDocs { invite, docs } = &ev
                && let Some(secret) = &self.peers[p].linking
                && secret.id() == *invite
            {
                join.extend(docs.iter().map(|d| (*d, secret.clone())));
            }
            self.on_event(p, ev);
        }
        if let Some(conn) = self.peers[p].conn {
            for m in out.send {
                let frame = wire::encode(&m).expect("encodable");
                self.schedule(conn, true, frame);
            }
        }
        for (doc, secret) in join {
            let out = self.peers[p].session.join_device(doc, &secret);
            self.output(p, out);
        }
        for doc in rotate {
            let out = self.peers[p]
                .session
                .rotate(self.now, doc, &mut self.rng)
                .expect("owner rotates");
            self.output(p, out);
        }
    }

    fn on_event(&mut self, p: usize, ev: SessionEvent) {
        if let SessionEvent::Apply {
            author,
            seq,
            payload,
            kind,
            ..
        } = &ev
        {
            let peer = &mut self.peers[p];
            assert!(
                peer.applied.insert((*author, *seq)),
                "{} applied {seq} twice",
                peer.name
            );
            if let Some(expected) = self.authored.get(&(*author, *seq)) {
                assert_eq!(expected, payload, "applied payload differs from authored");
            }
            let _ = kind;
            for item in decode_items(payload) {
                peer.set.insert(item);
            }
        }
        self.peers[p].events.push(ev);
    }

    /// Peer `p` writes `items` (one envelope) and applies them locally.
    pub fn write(&mut self, p: usize, items: &[String]) {
        let Some(doc) = self.doc else { return };
        let payload = items.join("\n").into_bytes();
        let me = self.id(p);
        let Ok(out) = self.peers[p].session.publish(doc, &payload, &mut self.rng) else {
            return;
        };
        self.authored
            .insert((me, self.peers[p].session.own_seq(&doc)), payload);
        for i in items {
            self.peers[p].set.insert(i.clone());
            self.written.insert(i.clone());
        }
        self.output(p, out);
    }

    /// Peer `p` writes a snapshot of its whole set.
    pub fn snapshot(&mut self, p: usize) {
        let Some(doc) = self.doc else { return };
        let payload = self.peers[p]
            .set
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        let me = self.id(p);
        if let Ok(out) = self.peers[p]
            .session
            .publish_snapshot(doc, &payload, &mut self.rng)
        {
            self.authored
                .insert((me, self.peers[p].session.own_seq(&doc)), payload);
            self.output(p, out);
        }
    }

    pub fn disconnect(&mut self, p: usize) {
        if let Some(conn) = self.peers[p].conn.take() {
            self.flight.retain(|f| f.conn != conn);
            self.relay.disconnect(conn);
            self.peers[p]
                .session
                .handle_disconnected(self.now, &mut self.rng);
        }
    }

    fn connect(&mut self, p: usize) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.relay.connect(conn);
        self.peers[p].conn = Some(conn);
        let out = self.peers[p].session.handle_connected(self.now);
        self.output(p, out);
    }

    /// Relay crash and restart: every connection drops.
    pub fn restart_relay(&mut self) {
        for p in 0..self.peers.len() {
            self.disconnect(p);
        }
        self.relay.restart();
    }

    fn tamper(&mut self, to: usize, frame: Vec<u8>) -> Vec<Vec<u8>> {
        if self.malice == Malice::None || to != self.victim {
            return vec![frame];
        }
        let is_deliver = matches!(wire::decode(&frame), Ok(Message::Deliver { .. }));
        if !is_deliver {
            return vec![frame];
        }
        match self.malice {
            Malice::Withhold if self.rng.chance(0.3) => vec![],
            Malice::Replay => {
                self.replay_pool.push(frame.clone());
                let mut v = vec![frame];
                if self.rng.chance(0.5) {
                    let i = self.rng.below(self.replay_pool.len() as u64) as usize;
                    v.push(self.replay_pool[i].clone());
                }
                v
            }
            Malice::Corrupt if self.rng.chance(0.3) => {
                let Ok(Message::Deliver {
                    doc,
                    doc_seq,
                    envelope,
                }) = wire::decode(&frame)
                else {
                    return vec![frame];
                };
                let mut b = envelope.as_bytes().to_vec();
                let i = self.rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << (self.rng.next_u32() % 8);
                match Envelope::from_bytes(&b) {
                    Ok(e) => vec![
                        wire::encode(&Message::Deliver {
                            doc,
                            doc_seq,
                            envelope: e,
                        })
                        .unwrap(),
                    ],
                    Err(_) => vec![],
                }
            }
            _ => vec![frame],
        }
    }

    /// One scheduling step: faults, reconnects, then deliver what is due.
    /// Returns false when nothing is in flight and nothing is scheduled.
    pub fn step(&mut self) -> bool {
        for p in 0..self.peers.len() {
            if self.peers[p].conn.is_some()
                && self.p_disconnect > 0.0
                && self.rng.chance(self.p_disconnect)
            {
                self.disconnect(p);
            }
        }
        let mut busy = !self.flight.is_empty();
        for p in 0..self.peers.len() {
            if self.peers[p].conn.is_none()
                && self.peers[p].online
                && let Some(t) = self.peers[p].session.poll_reconnect()
            {
                busy = true;
                if t <= self.now {
                    self.connect(p);
                }
            }
        }
        if !busy {
            return false;
        }
        let next = self.flight.iter().map(|f| f.at).min();
        let wake = self
            .peers
            .iter()
            .filter(|p| p.conn.is_none() && p.online)
            .filter_map(|p| p.session.poll_reconnect())
            .min();
        let t = match (next, wake) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return false,
        };
        self.now = self.now.max(t);
        let due: Vec<InFlight> = {
            let (due, rest): (Vec<_>, Vec<_>) =
                self.flight.drain(..).partition(|f| f.at <= self.now);
            self.flight = rest.into();
            due
        };
        let mut due = due;
        due.sort_by_key(|f| f.at);
        // Frames for one client that arrive together are handed over as a
        // batch (their envelopes are batch-verified).
        let mut to_clients: BTreeMap<ConnId, Vec<Vec<u8>>> = BTreeMap::new();
        for f in due {
            if f.to_relay {
                self.deliver(f);
            } else {
                self.count(&f.frame);
                to_clients.entry(f.conn).or_default().push(f.frame);
            }
        }
        for (conn, frames) in to_clients {
            let Some(p) = self.peers.iter().position(|p| p.conn == Some(conn)) else {
                continue;
            };
            let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let out = self.peers[p].session.handle_frames(self.now, &refs);
            self.output(p, out);
        }
        true
    }

    fn count(&mut self, frame: &[u8]) {
        if std::env::var_os("SIM_COUNT").is_some()
            && let Ok(m) = wire::decode(frame)
        {
            let name = format!("{m:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("")
                .to_string();
            *self.counts.entry(name).or_default() += 1;
        }
    }

    fn deliver(&mut self, f: InFlight) {
        self.count(&f.frame);
        let Some(p) = self.peers.iter().position(|p| p.conn == Some(f.conn)) else {
            return;
        };
        if f.to_relay {
            let mut rng = SeededRng::new(self.rng.next_u64());
            let outs = self
                .relay
                .handle_frame(self.now, f.conn, &f.frame, &mut rng);
            for (conn, msg) in outs {
                let Some(to) = self.peers.iter().position(|p| p.conn == Some(conn)) else {
                    continue;
                };
                match msg {
                    Some(m) => {
                        let frame = wire::encode(&m).expect("encodable");
                        for fr in self.tamper(to, frame) {
                            self.schedule(conn, false, fr);
                        }
                    }
                    None => self.disconnect(to),
                }
            }
        } else {
            let out = self.peers[p].session.handle_frame(self.now, &f.frame);
            self.output(p, out);
        }
    }

    /// Runs until nothing is in flight (bounded).
    pub fn run_until_quiet(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("did not quiesce");
    }

    /// Advances the clock, running the network meanwhile.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            if !self.step() {
                break;
            }
        }
        self.now = self.now.max(end);
    }

    pub fn tampering(&self, p: usize) -> Vec<&Tampering> {
        self.peers[p]
            .events
            .iter()
            .filter_map(|e| {
                if let SessionEvent::Tampering { what, .. } = e {
                    Some(what)
                } else {
                    None
                }
            })
            .collect()
    }
}

impl World {
    /// The usual cast: peer 0 (client) owns the doc, peer 1 (worker) joins
    /// as an editor through an invite link, peer 2 (carer, if present) is
    /// added directly as a viewer.
    pub fn setup(&mut self) -> DocId {
        self.run_until_quiet();
        let (doc, out) = self.peers[0]
            .session
            .create_doc(self.now, "client", &mut self.rng)
            .unwrap();
        self.doc = Some(doc);
        self.output(0, out);
        self.run_until_quiet();
        let link = self.invite(doc, starling_protocol::membership::Role::Editor, "worker");
        // The link travels out of band, as text.
        let link: starling_protocol::invite::InviteLink = link.to_link().parse().unwrap();
        let out = self.peers[1].session.join(&link);
        self.output(1, out);
        self.run_until_quiet();
        if self.peers.len() > 2 {
            let carer = self.id(2);
            let out = self.peers[0]
                .session
                .add_member(
                    self.now,
                    doc,
                    carer,
                    starling_protocol::membership::Role::Viewer,
                    "carer",
                    &mut self.rng,
                )
                .unwrap();
            self.output(0, out);
            self.run_until_quiet();
            let out = self.peers[2].session.open_doc(doc);
            self.output(2, out);
            self.run_until_quiet();
        }
        doc
    }

    /// The owner (peer 0) creates an invite link for `role` and `perspective`
    /// and registers it at the relay.
    pub fn invite(
        &mut self,
        doc: starling_protocol::DocId,
        role: starling_protocol::membership::Role,
        perspective: &str,
    ) -> starling_protocol::invite::InviteLink {
        let (link, out) = self.peers[0]
            .session
            .create_invite(
                self.now,
                doc,
                &"relay.test:443".parse().unwrap(),
                role,
                perspective,
                self.now + 3_600_000,
                &mut self.rng,
            )
            .unwrap();
        self.output(0, out);
        self.run_until_quiet();
        link
    }

    /// Peer `by` adds peer `who` as `role` (and rotates), online or not.
    pub fn add(&mut self, by: usize, who: usize, role: starling_protocol::membership::Role) {
        let (doc, device, name) = (self.doc.unwrap(), self.id(who), self.peers[who].name);
        let out = self.peers[by]
            .session
            .add_member(self.now, doc, device, role, name, &mut self.rng)
            .unwrap();
        self.output(by, out);
    }

    /// Peer `by` removes peer `who` (and rotates), online or not.
    pub fn remove(&mut self, by: usize, who: usize) {
        let (doc, device) = (self.doc.unwrap(), self.id(who));
        let out = self.peers[by]
            .session
            .remove_member(self.now, doc, device, &mut self.rng)
            .unwrap();
        self.output(by, out);
    }

    /// Peer `p` leaves the document, online or not.
    pub fn leave(&mut self, p: usize) {
        let doc = self.doc.unwrap();
        let out = self.peers[p].session.leave(self.now, doc).unwrap();
        self.output(p, out);
    }

    /// Peer `p` joins through `link`.
    pub fn join(&mut self, p: usize, link: &starling_protocol::invite::InviteLink) {
        let out = self.peers[p].session.join(link);
        self.output(p, out);
    }

    /// Takes peer `p` offline (disconnects, stays down) or back online.
    pub fn set_online(&mut self, p: usize, online: bool) {
        self.peers[p].online = online;
        if !online {
            self.disconnect(p);
        }
    }

    /// Asserts every listed peer holds exactly `self.written`.
    pub fn assert_converged(&self, peers: &[usize]) {
        for &p in peers {
            assert_eq!(
                self.peers[p].set, self.written,
                "{} differs",
                self.peers[p].name
            );
        }
    }
}
