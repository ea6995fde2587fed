//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and
//! the test that replays their saved corpora (`tests/fuzz_corpus.rs`).
//!
//! Each takes arbitrary bytes and must never panic, except on a broken
//! invariant (a decoded value that does not re-encode to itself, say), which
//! is exactly what the fuzzer should report.

use crate::DocId;
use crate::envelope::Envelope;
use crate::invite::InviteLink;
use crate::keys::{DeviceKey, EpochKey};
use crate::membership::{MembershipOp, MembershipState, OpBody, Role};
use crate::testing::SeededRng;
use crate::wire;

/// Decodes a wire frame; a message that decodes must round-trip.
pub fn wire_decode(data: &[u8]) {
    if let Ok(m) = wire::decode(data) {
        let again = wire::encode(&m).map(|b| wire::decode(&b));
        assert!(
            matches!(again, Ok(Ok(ref m2)) if *m2 == m),
            "decoded message does not round-trip"
        );
    }
}

/// The epoch key `envelope_open` tries (the one of the spec's test vector).
pub const FUZZ_EPOCH_KEY: [u8; 32] = [
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
];

/// Parses, verifies and opens an envelope; what parses must re-encode to the
/// same bytes.
pub fn envelope_open(data: &[u8]) {
    if let Ok(env) = Envelope::from_bytes(data) {
        assert_eq!(env.as_bytes(), data, "parsed envelope does not round-trip");
        let _ = env.open(&EpochKey::from_bytes(FUZZ_EPOCH_KEY));
    }
}

/// Parses an invite link; a parsed link must print back to one that parses
/// to the same value.
pub fn invite_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(link) = text.parse::<InviteLink>() {
        let again = link.to_link().parse::<InviteLink>();
        assert!(
            matches!(again, Ok(ref l) if *l == link),
            "invite link does not round-trip"
        );
    }
}

/// Parses a device link and a recovery code; whatever parses must print
/// back to text that parses to the same value.
pub fn person_parse(data: &[u8]) {
    use crate::person::{DeviceLink, RecoveryCode};
    let text = String::from_utf8_lossy(data);
    if let Ok(link) = text.parse::<DeviceLink>() {
        let again = link.to_link().parse::<DeviceLink>();
        assert!(
            matches!(again, Ok(ref l) if *l == link),
            "device link does not round-trip"
        );
    }
    if let Ok(code) = text.parse::<RecoveryCode>() {
        let again = code.to_text().parse::<RecoveryCode>();
        assert!(
            matches!(again, Ok(ref c) if *c == code),
            "recovery code does not round-trip"
        );
    }
}

/// Applies a membership log. If the first byte is even the rest is a list of
/// encoded ops (`u16be` length, bytes); otherwise each byte drives a signed
/// op by one of four fixed devices (structure-aware, so the fuzzer reaches
/// the authority rules past the signature checks).
pub fn membership_apply(data: &[u8]) {
    let doc = DocId::from_bytes([0x40; 16]);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let mut ops = Vec::new();
        let mut r = rest;
        while r.len() >= 2 && ops.len() < 64 {
            let n = u16::from_be_bytes([r[0], r[1]]) as usize;
            let Some(b) = r.get(2..2 + n) else { break };
            if let Ok(op) = MembershipOp::from_bytes(b) {
                ops.push(op);
            }
            r = &r[2 + n..];
        }
        if let Ok(state) = MembershipState::verify_chain(doc, &ops) {
            check_invariants(&state);
        }
        return;
    }
    let keys: Vec<DeviceKey> = (1..=8u8).map(|i| DeviceKey::from_seed([i; 32])).collect();
    let invites: Vec<crate::invite::InviteSecret> = (1..=4u8)
        .map(|i| crate::invite::InviteSecret::from_bytes([0x80 | i; 32]))
        .collect();
    let Ok(genesis) = MembershipState::genesis(doc, &keys[0], "client", None, 0) else {
        return;
    };
    let Ok(mut state) = MembershipState::verify_chain(doc, &[genesis]) else {
        return;
    };
    let mut rng = SeededRng::new(u64::from(mode));
    let key = EpochKey::from_bytes([9; 32]);
    for (i, &b) in rest.iter().take(64).enumerate() {
        let author = &keys[usize::from(b >> 6)];
        let target = keys[usize::from((b >> 4) & 3)].device_id();
        let role =
            [Role::Owner, Role::Editor, Role::Viewer, Role::Viewer][usize::from((b >> 2) & 3)];
        let now = i as u64;
        // Modes with bit 1 set drive what persons added instead: device
        // invites, their redemption by new devices, and removing a device.
        let persons = mode & 2 != 0;
        let op = match (b & 3) + if persons { 4 } else { 0 } {
            4 => state.device_invite(
                author,
                now,
                invites[usize::from((b >> 4) & 3)].id(),
                1000,
                &key,
                &mut rng,
            ),
            5 => state.sign_op(author, now, OpBody::RemoveDevice { device: target }),
            6 => invites[usize::from((b >> 4) & 3)].redeem_op(
                &state,
                &keys[4 + usize::from(b >> 6)],
                now,
            ),
            7 => state
                .remove_device_and_rotate(author, now, target, &key, &mut rng)
                .map(|(ops, _)| ops[0].clone()),
            0 => state.sign_op(
                author,
                now,
                OpBody::AddMember {
                    device: target,
                    role,
                    perspective: "p".into(),
                },
            ),
            1 => state.sign_op(author, now, OpBody::RemoveMember { device: target }),
            2 => state.sign_op(
                author,
                now,
                OpBody::ChangeRole {
                    device: target,
                    role,
                },
            ),
            _ => state.rotate(author, now, &key, &key, &mut rng),
        };
        if let Ok(op) = op {
            let _ = state.apply(&op);
            check_invariants(&state);
        }
    }
}

fn check_invariants(state: &MembershipState) {
    assert!(
        state.members().values().any(|m| m.role == Role::Owner),
        "a verified log left the document without an owner"
    );
    for m in state.members().values() {
        for other in state.members().values().filter(|o| o.person == m.person) {
            assert!(
                other.role == m.role && other.perspective == m.perspective,
                "two devices of one person hold different roles or perspectives"
            );
        }
    }
    for inv in state.invites().values() {
        if let Some(g) = &inv.device
            && inv.status == crate::membership::InviteStatus::Live
        {
            assert!(
                state.members().values().any(|m| m.person == g.person),
                "a live device invite of someone no longer a member"
            );
        }
    }
}

/// Splits fuzz input into at most 64 frames, each a `u16be` length and that
/// many bytes; a short tail ends the list.
pub fn frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut r = data;
    while r.len() >= 2 && out.len() < 64 {
        let n = u16::from_be_bytes([r[0], r[1]]) as usize;
        let Some(b) = r.get(2..2 + n) else { break };
        out.push(b);
        r = &r[2 + n..];
    }
    out
}

/// The inverse of [`frames`], for writing seeds.
pub fn join_frames(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(&(f.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The origin the fuzzed relay and session use (the sample messages' one).
pub const FUZZ_ORIGIN: &str = "wss://relay.test";
/// The clock of the fuzzed relay and session, ms.
pub const FUZZ_NOW: u64 = 1_000_000;

/// A client session mid-sync, from [`session_world`].
#[derive(Debug)]
pub struct SessionWorld {
    /// The session.
    pub session: crate::session::ClientSession,
    /// The document it created.
    pub doc: DocId,
    /// The envelope it published, not yet acknowledged.
    pub published: Envelope,
}

/// A client session as it is mid-sync: device `[1; 32]`, one document it
/// created, authenticated to relay `[2; 32]`, with one envelope published
/// and not yet acknowledged.
pub fn session_world() -> Option<SessionWorld> {
    use crate::session::{ClientSession, SessionConfig};
    let dev = DeviceKey::from_seed([1; 32]);
    let relay = DeviceKey::from_seed([2; 32]);
    let mut rng = SeededRng::new(1);
    let config = SessionConfig {
        origin: FUZZ_ORIGIN.into(),
        relay: None,
        agent: "fuzz".into(),
    };
    let mut s = ClientSession::new(dev, config, &mut rng);
    let (doc, _) = s.create_doc(FUZZ_NOW, "client", &mut rng).ok()?;
    s.handle_connected(FUZZ_NOW);
    s.handle_message(
        FUZZ_NOW,
        wire::Message::Challenge {
            nonce: crate::bytes::ByteArray([6; 32]),
            origin: FUZZ_ORIGIN.into(),
            relay: relay.device_id(),
        },
    );
    s.handle_message(
        FUZZ_NOW,
        wire::Message::Welcome {
            server_time: FUZZ_NOW,
        },
    );
    let out = s.publish(doc, b"payload", &mut rng).ok()?;
    let published = out.send.into_iter().find_map(|m| match m {
        wire::Message::Publish { envelope } => Some(envelope),
        _ => None,
    })?;
    Some(SessionWorld {
        session: s,
        doc,
        published,
    })
}

/// Feeds frames (see [`frames`]) from a hostile relay to a client session in
/// [`session_world`]'s state. Nothing may panic, and the session's state must
/// still persist.
pub fn session_frames(data: &[u8]) {
    if let Some(mut w) = session_world() {
        feed(&mut w.session, &w.doc, data);
    }
}

/// Hands `data`'s frames to `session`, a millisecond apart, then persists
/// `doc`'s state.
fn feed(session: &mut crate::session::ClientSession, doc: &DocId, data: &[u8]) {
    for (i, f) in frames(data).into_iter().enumerate() {
        session.handle_frame(FUZZ_NOW + i as u64, f);
    }
    let _ = session.persisted(doc);
}

/// An owner's session whose offline changes lost their place in the log: the
/// owner (device `[1; 32]`) created a document, an invite and added a
/// member, all confirmed; then, offline, removed the member (two ops) and
/// wrote an envelope under the removal's new key. `foreign` is the relay's
/// frame delivering the invitee's redeem at the removal's position, which
/// makes the session take its ops back and redo them.
#[derive(Clone, Debug)]
pub struct MergeWorld {
    /// The session, authenticated and subscribed.
    pub session: crate::session::ClientSession,
    /// The document.
    pub doc: DocId,
    /// The `membership_deliver` frame of the invitee's redeem.
    pub foreign: Vec<u8>,
}

/// Builds [`MergeWorld`] (once; the fuzz target clones it).
pub fn merge_world() -> Option<MergeWorld> {
    static WORLD: std::sync::OnceLock<Option<MergeWorld>> = std::sync::OnceLock::new();
    WORLD.get_or_init(build_merge_world).clone()
}

fn build_merge_world() -> Option<MergeWorld> {
    use crate::invite::InviteSecret;
    use crate::wire::Message;
    let mut w = session_world()?;
    let mut rng = SeededRng::new(2);
    let doc = w.doc;
    let s = &mut w.session;
    // The relay echoes each of the owner's ops: they are confirmed.
    let echo = |s: &mut crate::session::ClientSession, out: crate::session::Output| {
        for m in out.send {
            if let Message::MembershipPublish { doc, op } = m {
                let index = op.content().index;
                let stamp = None;
                s.handle_message(
                    FUZZ_NOW,
                    Message::MembershipDeliver {
                        doc,
                        index,
                        op,
                        stamp,
                    },
                );
            }
        }
    };
    let genesis = s.persisted(&doc)?.op_outbox.first()?.clone();
    s.handle_message(
        FUZZ_NOW,
        Message::MembershipDeliver {
            doc,
            index: 0,
            op: genesis,
            stamp: None,
        },
    );
    let (link, out) = s
        .create_invite(
            FUZZ_NOW,
            doc,
            &"relay.test".parse().expect("valid"),
            Role::Editor,
            "friend",
            FUZZ_NOW + 1,
            &mut rng,
        )
        .ok()?;
    echo(s, out);
    let member = DeviceKey::from_seed([3; 32]).device_id();
    let out = s
        .add_member(FUZZ_NOW, doc, member, Role::Editor, "worker", &mut rng)
        .ok()?;
    echo(s, out);
    let before = s.membership(&doc)?.clone();
    s.handle_disconnected(FUZZ_NOW, &mut rng);
    let _ = s.remove_member(FUZZ_NOW, doc, member, &mut rng).ok()?;
    let _ = s
        .publish(doc, b"written after the removal", &mut rng)
        .ok()?;
    let joiner = DeviceKey::from_seed([4; 32]);
    let secret: &InviteSecret = &link.secret;
    let redeem = secret.redeem_op(&before, &joiner, FUZZ_NOW).ok()?;
    // The relay's stamp: it took the join at FUZZ_NOW, before the invite
    // expired.
    let relay_key = DeviceKey::from_seed([2; 32]);
    let stamp =
        crate::membership::OpStamp::sign(&relay_key, &doc, before.len(), &redeem.hash(), FUZZ_NOW);
    let foreign = wire::encode(&Message::MembershipDeliver {
        doc,
        index: before.len(),
        op: redeem,
        stamp: Some(stamp),
    })
    .ok()?;
    // Back online, as after a reconnect.
    s.handle_connected(FUZZ_NOW);
    s.handle_message(
        FUZZ_NOW,
        Message::Challenge {
            nonce: crate::bytes::ByteArray([6; 32]),
            origin: FUZZ_ORIGIN.into(),
            relay: DeviceKey::from_seed([2; 32]).device_id(),
        },
    );
    s.handle_message(
        FUZZ_NOW,
        Message::Welcome {
            server_time: FUZZ_NOW,
        },
    );
    Some(MergeWorld {
        session: w.session,
        doc,
        foreign,
    })
}

/// Feeds frames from a hostile relay to [`merge_world`]'s session. Nothing
/// may panic, and the state must still persist.
pub fn session_merge(data: &[u8]) {
    if let Some(mut w) = merge_world() {
        feed(&mut w.session, &w.doc, data);
    }
}

/// A relay core with device `[1; 32]` authenticated on connection 1, and
/// the messages it answered along the way.
pub fn relay_world() -> crate::relay::RelayCore {
    use crate::relay::{ConnId, RelayAction, RelayConfig, RelayCore};
    let dev = DeviceKey::from_seed([1; 32]);
    let relay_key = DeviceKey::from_seed([2; 32]);
    let relay = relay_key.device_id();
    let mut core = RelayCore::new(relay_key, RelayConfig::new(FUZZ_ORIGIN));
    let mut rng = SeededRng::new(2);
    let conn = ConnId(1);
    core.handle_connect(conn);
    let hello = wire::Message::Hello {
        device: dev.device_id(),
        agent: "fuzz".into(),
    };
    let nonce = core
        .handle_message(FUZZ_NOW, conn, hello, &mut rng)
        .into_iter()
        .find_map(|a| match a {
            RelayAction::Send {
                msg: wire::Message::Challenge { nonce, .. },
                ..
            } => Some(nonce.0),
            _ => None,
        });
    if let Some(nonce) = nonce {
        let me = dev.device_id();
        let signed = wire::auth_message(&nonce, FUZZ_ORIGIN, FUZZ_NOW, &relay, &me);
        let auth = wire::Message::Authenticate {
            device: me,
            timestamp: FUZZ_NOW,
            signature: dev.sign(crate::domain::AUTH_SIG, &signed),
        };
        core.handle_message(FUZZ_NOW, conn, auth, &mut rng);
    }
    core
}

/// Feeds frames (see [`frames`]) from a hostile device, authenticated on
/// connection 1, to a relay core. Nothing may panic.
pub fn relay_frames(data: &[u8]) {
    let mut core = relay_world();
    let mut rng = SeededRng::new(3);
    for (i, f) in frames(data).into_iter().enumerate() {
        core.handle_frame(FUZZ_NOW + i as u64, crate::relay::ConnId(1), f, &mut rng);
    }
}
