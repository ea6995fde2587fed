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
    let keys: Vec<DeviceKey> = (1..=4u8).map(|i| DeviceKey::from_seed([i; 32])).collect();
    let Ok(genesis) = MembershipState::genesis(doc, &keys[0], "client", 0) else {
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
        let op = match b & 3 {
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
}
