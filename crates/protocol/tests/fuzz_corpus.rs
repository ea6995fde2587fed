//! Replays every saved fuzz input (fuzz/corpus/<target>/*) through the same
//! functions the fuzz targets call, so CI catches regressions without a
//! fuzzer.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use starling_protocol::fuzzing;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = manifest_dir().join("../../fuzz/corpus").join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no corpus for {target}");
    out
}

fn replay(target: &str, f: fn(&[u8])) {
    for (path, data) in corpus(target) {
        let r = std::panic::catch_unwind(|| f(&data));
        assert!(r.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn wire_decode_corpus() {
    replay("wire_decode", fuzzing::wire_decode);
}

#[test]
fn envelope_open_corpus() {
    replay("envelope_open", fuzzing::envelope_open);
}

#[test]
fn invite_parse_corpus() {
    replay("invite_parse", fuzzing::invite_parse);
}

#[test]
fn person_parse_corpus() {
    replay("person_parse", fuzzing::person_parse);
}

#[test]
fn membership_apply_corpus() {
    replay("membership_apply", fuzzing::membership_apply);
}

#[test]
fn session_frames_corpus() {
    replay("session_frames", fuzzing::session_frames);
}

#[test]
fn session_merge_corpus() {
    replay("session_merge", fuzzing::session_merge);
}

/// The merge world is where its docs say: the invitee's redeem makes the
/// owner redo its offline removal (two ops) after it, re-seal its envelope
/// under the new key and send it again, with no tampering reported.
#[test]
fn the_merge_world_reaches_the_merge() {
    use starling_protocol::session::SessionEvent;
    use starling_protocol::wire::Message;
    let mut w = fuzzing::merge_world().unwrap();
    assert!(w.session.is_ready());
    let before = w.session.persisted(&w.doc).unwrap();
    assert_eq!(before.op_outbox.len(), 2, "removal and rotation queued");
    let out = w.session.handle_frame(fuzzing::FUZZ_NOW, &w.foreign);
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, SessionEvent::Tampering { .. })),
        "{:?}",
        out.events
    );
    let redone = out
        .send
        .iter()
        .filter(|m| matches!(m, Message::MembershipPublish { .. }))
        .count();
    assert_eq!(redone, 2);
    let resent: Vec<_> = out
        .send
        .iter()
        .filter_map(|m| match m {
            Message::Publish { envelope } => Some(envelope.clone()),
            _ => None,
        })
        .collect();
    // The world's first envelope (epoch 0) goes out as it was; the one
    // written after the removal is sealed again under the new key.
    assert_eq!(resent.len(), 2);
    assert_eq!(resent[0].hash(), before.outbox[0].hash());
    assert_ne!(
        resent[1].hash(),
        before.outbox[1].hash(),
        "sealed again under the new key"
    );
    assert_eq!(
        resent[1].header_unverified().prev,
        resent[0].hash(),
        "still linked to its predecessor"
    );
}

#[test]
fn relay_frames_corpus() {
    replay("relay_frames", fuzzing::relay_frames);
}

/// The fuzzed session and relay start where their docs say: the fuzzer's
/// frames meet a session that is authenticated with an envelope in flight,
/// and a relay that has authenticated the device.
#[test]
fn fuzz_worlds_start_authenticated() {
    use starling_protocol::relay::{ConnId, RelayAction};
    use starling_protocol::testing::{SeededRng, sample_messages};
    use starling_protocol::wire::{self, AckEntry, Acks, Message};
    let mut w = fuzzing::session_world().unwrap();
    assert!(w.session.is_ready());
    assert_eq!(w.session.unacked(&w.doc), 1);
    let h = w.published.header_unverified();
    let ack = Acks::sign(
        &starling_protocol::DeviceKey::from_seed([2; 32]),
        vec![AckEntry {
            doc: w.doc,
            author: h.author,
            author_seq: h.seq,
            hash: w.published.hash(),
            doc_seq: 1,
        }],
    );
    let frame = wire::encode(&Message::Acks(ack)).unwrap();
    w.session.handle_frame(fuzzing::FUZZ_NOW, &frame);
    assert_eq!(w.session.unacked(&w.doc), 0, "a relay-signed ack lands");

    let mut core = fuzzing::relay_world();
    let genesis = sample_messages()
        .into_iter()
        .find(|m| matches!(m, Message::MembershipPublish { .. }))
        .unwrap();
    let actions = core.handle_message(
        fuzzing::FUZZ_NOW,
        ConnId(1),
        genesis,
        &mut SeededRng::new(9),
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, RelayAction::StoreMembershipOp { .. })),
        "the authenticated device creates a document: {actions:?}"
    );
}

/// Writes the seed inputs. Run once after a format change:
/// `cargo test -p starling-protocol --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "regenerates fuzz seed files"]
fn write_seeds() {
    use starling_protocol::membership::{MembershipState, OpBody, Role};
    use starling_protocol::testing::{SeededRng, sample_messages};
    use starling_protocol::{
        DeviceKey, DocId, Envelope, EnvelopeHash, EnvelopeHeader, Epoch, EpochKey,
    };
    let root = manifest_dir().join("../../fuzz/corpus");
    let put = |t: &str, name: &str, b: &[u8]| std::fs::write(root.join(t).join(name), b).unwrap();
    for (i, m) in sample_messages().iter().enumerate() {
        put(
            "wire_decode",
            &format!("seed-{i:02}"),
            &starling_protocol::wire::encode(m).unwrap(),
        );
    }
    // Every sample message as one frame list, for the session and the relay.
    let all: Vec<Vec<u8>> = sample_messages()
        .iter()
        .map(|m| starling_protocol::wire::encode(m).unwrap())
        .collect();
    put(
        "session_frames",
        "seed-samples",
        &fuzzing::join_frames(&all),
    );
    put("relay_frames", "seed-samples", &fuzzing::join_frames(&all));
    // The session's own document: the relay's ack of its envelope, its
    // membership, and the envelope delivered back.
    let w = fuzzing::session_world().unwrap();
    let h = w.published.header_unverified();
    let relay = DeviceKey::from_seed([2; 32]);
    let ack = starling_protocol::wire::Acks::sign(
        &relay,
        vec![starling_protocol::wire::AckEntry {
            doc: w.doc,
            author: h.author,
            author_seq: h.seq,
            hash: w.published.hash(),
            doc_seq: 1,
        }],
    );
    let own = [
        starling_protocol::wire::Message::Acks(ack),
        starling_protocol::wire::Message::Deliver {
            doc: w.doc,
            doc_seq: 1,
            envelope: w.published.clone(),
        },
        starling_protocol::wire::Message::CaughtUp {
            doc: w.doc,
            doc_seq: 1,
        },
    ];
    let own: Vec<Vec<u8>> = own
        .iter()
        .map(|m| starling_protocol::wire::encode(m).unwrap())
        .collect();
    put(
        "session_frames",
        "seed-own-doc",
        &fuzzing::join_frames(&own),
    );
    // The merge world: the invitee's redeem, before and after the relay's
    // refusal of the stale removal.
    let m = fuzzing::merge_world().unwrap();
    let refusal = starling_protocol::wire::encode(&starling_protocol::wire::Message::error(
        starling_protocol::wire::ErrorCode::BadMembership,
        starling_protocol::wire::RetryClass::RetryLater,
        Some(m.doc),
        "membership op does not follow the log head (expected index 4)",
    ))
    .unwrap();
    put(
        "session_merge",
        "seed-redeem",
        &fuzzing::join_frames(std::slice::from_ref(&m.foreign)),
    );
    put(
        "session_merge",
        "seed-refused-then-redeem",
        &fuzzing::join_frames(&[refusal.clone(), m.foreign.clone()]),
    );
    put(
        "session_merge",
        "seed-redeem-twice",
        &fuzzing::join_frames(&[m.foreign.clone(), refusal, m.foreign]),
    );
    let dev = DeviceKey::from_seed(core::array::from_fn(|i| i as u8));
    let key = EpochKey::from_bytes(fuzzing::FUZZ_EPOCH_KEY);
    let doc = DocId::from_bytes([0x40; 16]);
    let h = EnvelopeHeader::changes(doc, Epoch(0), dev.device_id(), 1, EnvelopeHash::ZERO);
    let e = Envelope::seal_with_nonce(h, b"hello starling", &key, &dev, [0x50; 24]).unwrap();
    put("envelope_open", "seed-changes", e.as_bytes());
    let covers = vec![starling_protocol::Cover {
        author: dev.device_id(),
        seq: 1,
        hash: e.hash(),
    }];
    let h = EnvelopeHeader::snapshot(doc, Epoch(3), dev.device_id(), 2, e.hash(), covers);
    let s = Envelope::seal_with_nonce(h, b"snapshot", &key, &dev, [0x51; 24]).unwrap();
    put("envelope_open", "seed-snapshot", s.as_bytes());
    // Persons: a device invite, its redemption, removing a device.
    put(
        "membership_apply",
        "seed-persons",
        &[3, 0x00, 0x02, 0x10, 0x12, 0x03, 0x01],
    );
    let person = DeviceKey::from_seed([4; 32]).device_id();
    put(
        "person_parse",
        "seed-link",
        format!(
            "starling://device/wss://relay.example.org:8443/{person}#{}",
            "01".repeat(32)
        )
        .as_bytes(),
    );
    put(
        "person_parse",
        "seed-code",
        starling_protocol::person::RecoveryCode::from_bytes([7; 16])
            .to_text()
            .as_bytes(),
    );
    put(
        "invite_parse",
        "seed-link",
        format!(
            "starling://invite/relay.example.org:8443/{}#{}.3.{}",
            "ab".repeat(16),
            "01".repeat(32),
            "02".repeat(32)
        )
        .as_bytes(),
    );
    put(
        "invite_parse",
        "seed-ipv6",
        format!(
            "starling://invite/[::1]:9000/{}#{}.0.{}",
            "cd".repeat(16),
            "0f".repeat(32),
            "ee".repeat(32)
        )
        .as_bytes(),
    );
    put("invite_parse", "seed-bad", b"starling://invite/host/zz#..");
    // Raw mode: a genesis, an add and a rotation, length-prefixed.
    let owner = DeviceKey::from_seed([1; 32]);
    let g = MembershipState::genesis(doc, &owner, "client", None, 0).unwrap();
    let mut st = MembershipState::verify_chain(doc, std::slice::from_ref(&g)).unwrap();
    let add = st
        .sign_op(
            &owner,
            1,
            OpBody::AddMember {
                device: DeviceKey::from_seed([2; 32]).device_id(),
                role: Role::Editor,
                perspective: "worker".into(),
            },
        )
        .unwrap();
    st.apply(&add).unwrap();
    let rot = st
        .rotate(
            &owner,
            2,
            &key,
            &EpochKey::from_bytes([9; 32]),
            &mut SeededRng::new(1),
        )
        .unwrap();
    let mut raw = vec![0u8];
    for op in [g, add, rot] {
        let b = op.to_bytes();
        raw.extend_from_slice(&(b.len() as u16).to_be_bytes());
        raw.extend_from_slice(&b);
    }
    put("membership_apply", "seed-raw", &raw);
    put(
        "membership_apply",
        "seed-driven",
        &[1, 0x14, 0x27, 0x03, 0x51, 0x96, 0xd3, 0x11, 0x02],
    );
}

/// This package's directory, as cargo gives it to the running test (the
/// path compiled in may be another checkout's when a shared target
/// directory reuses the build).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
