//! Property tests for every codec: round-trips, and that mutations and
//! garbage are rejected without panicking.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use starling_protocol::invite::{InviteLink, InviteSecret};
use starling_protocol::membership::{MembershipOp, MembershipState, OpBody, Role};
use starling_protocol::testing::{SeededRng, sample_messages};
use starling_protocol::wire::{self, AckEntry, Acks, DocCursor, ErrorCode, Message, RetryClass};
use starling_protocol::{ByteArray, Bytes};
use starling_protocol::{
    Cover, DeviceKey, DocId, Envelope, EnvelopeHash, EnvelopeHeader, Epoch, EpochKey,
};

fn key(seed: u8) -> DeviceKey {
    DeviceKey::from_seed([seed; 32])
}

fn sealed(payload: &[u8], seq: u64, epoch: u64, snapshot: bool, nonce: [u8; 24]) -> Envelope {
    let k = key(1);
    let prev = if seq == 1 {
        EnvelopeHash::ZERO
    } else {
        EnvelopeHash::from_bytes([seq as u8; 32])
    };
    let doc = DocId::from_bytes([2; 16]);
    let h = if snapshot {
        let covers = vec![Cover {
            author: key(3).device_id(),
            seq: 4,
            hash: EnvelopeHash::from_bytes([5; 32]),
        }];
        EnvelopeHeader::snapshot(doc, Epoch(epoch), k.device_id(), seq, prev, covers)
    } else {
        EnvelopeHeader::changes(doc, Epoch(epoch), k.device_id(), seq, prev)
    };
    Envelope::seal_with_nonce(h, payload, &EpochKey::from_bytes([7; 32]), &k, nonce).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn envelope_round_trips(payload in prop::collection::vec(any::<u8>(), 0..2048), seq in 1u64..u64::MAX, epoch: u64, snapshot: bool, nonce: [u8; 24]) {
        let env = sealed(&payload, seq, epoch, snapshot, nonce);
        let back = Envelope::from_bytes(env.as_bytes()).unwrap();
        prop_assert_eq!(&back, &env);
        let opened = back.open(&EpochKey::from_bytes([7; 32])).unwrap();
        prop_assert_eq!(opened.payload(), &payload[..]);
    }

    #[test]
    fn any_mutated_byte_fails_to_open(payload in prop::collection::vec(any::<u8>(), 0..300), snapshot: bool, idx: prop::sample::Index, flip in 1u8..=255) {
        let env = sealed(&payload, 2, 0, snapshot, [9; 24]);
        let mut b = env.as_bytes().to_vec();
        let i = idx.index(b.len());
        b[i] ^= flip;
        let r = Envelope::from_bytes(&b).and_then(|e| e.open(&EpochKey::from_bytes([7; 32])));
        prop_assert!(r.is_err(), "mutated byte {} opened", i);
    }

    #[test]
    fn envelope_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Envelope::from_bytes(&bytes);
    }
}

fn arb_doc() -> impl Strategy<Value = DocId> {
    any::<[u8; 16]>().prop_map(DocId::from_bytes)
}

fn arb_message() -> impl Strategy<Value = Message> {
    let text = "[ -~]{0,40}";
    prop_oneof![
        (0usize..17).prop_map(|i| sample_messages()[i].clone()),
        text.prop_map(|agent| Message::Hello {
            device: key(1).device_id(),
            agent
        }),
        (any::<[u8; 32]>(), text).prop_map(|(n, origin)| Message::Challenge {
            nonce: ByteArray(n),
            origin,
            relay: key(2).device_id()
        }),
        any::<u64>().prop_map(|t| Message::Welcome { server_time: t }),
        prop::collection::vec((arb_doc(), any::<u64>()), 0..20).prop_map(|v| Message::Subscribe {
            docs: v
                .into_iter()
                .map(|(doc, cursor)| DocCursor { doc, cursor })
                .collect()
        }),
        prop::collection::vec(arb_doc(), 0..20).prop_map(|docs| Message::Unsubscribe { docs }),
        (arb_doc(), any::<u64>()).prop_map(|(doc, doc_seq)| Message::CaughtUp { doc, doc_seq }),
        (arb_doc(), prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(doc, b)| {
            Message::Presence {
                doc,
                from: None,
                blob: Bytes(b),
            }
        }),
        (
            arb_doc(),
            text,
            prop::sample::select(vec![
                RetryClass::RetryLater,
                RetryClass::TooLarge,
                RetryClass::Unauthorised,
                RetryClass::Upgrade
            ])
        )
            .prop_map(|(doc, m, retry)| Message::error(
                ErrorCode::Busy,
                retry,
                Some(doc),
                m
            )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wire_round_trips(m in arb_message()) {
        let bytes = wire::encode(&m).unwrap();
        prop_assert_eq!(wire::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn wire_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = wire::decode(&bytes);
    }

    #[test]
    fn wire_mutations_never_panic(i in 0usize..17, idx: prop::sample::Index, flip in 1u8..=255) {
        let mut b = wire::encode(&sample_messages()[i]).unwrap();
        let j = idx.index(b.len());
        b[j] ^= flip;
        let _ = wire::decode(&b);
    }

    #[test]
    fn invite_links_round_trip(host in "(wss://|ws://)?[a-z][a-z0-9]{0,19}(\\.[a-z][a-z0-9]{0,9}){0,3}(:[1-9][0-9]{0,3})?", doc: [u8; 16], secret: [u8; 32], epoch: u64, k: [u8; 32]) {
        let relay: starling_protocol::RelayAddr = host.parse().unwrap();
        let link = InviteLink { relay, doc: DocId::from_bytes(doc), secret: InviteSecret::from_bytes(secret), epoch: Epoch(epoch), key: EpochKey::from_bytes(k) };
        let text = link.to_link();
        prop_assert_eq!(text.parse::<InviteLink>().unwrap(), link);
    }

    #[test]
    fn invite_parse_never_panics(s in "\\PC{0,200}") {
        let _ = s.parse::<InviteLink>();
        let _ = format!("starling://invite/{s}").parse::<InviteLink>();
    }

    #[test]
    fn ids_round_trip(doc: [u8; 16], seed: [u8; 32]) {
        let d = DocId::from_bytes(doc);
        prop_assert_eq!(d.to_string().parse::<DocId>().unwrap(), d);
        let id = DeviceKey::from_seed(seed).device_id();
        prop_assert_eq!(id.to_string().parse::<starling_protocol::DeviceId>().unwrap(), id);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn membership_ops_round_trip(perspective in "\\PC{0,16}", at: u64, role in prop::sample::select(vec![Role::Owner, Role::Editor, Role::Viewer])) {
        let doc = DocId::from_bytes([1; 16]);
        let g = MembershipState::genesis(doc, &key(1), &perspective, None, at).unwrap();
        let state = MembershipState::verify_chain(doc, std::slice::from_ref(&g)).unwrap();
        let add = state.sign_op(&key(1), at, OpBody::AddMember { device: key(2).device_id(), role, perspective: perspective.clone() }).unwrap();
        for op in [g, add] {
            prop_assert_eq!(MembershipOp::from_bytes(&op.to_bytes()).unwrap(), op);
        }
    }

    #[test]
    fn membership_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = MembershipOp::from_bytes(&bytes);
    }

    #[test]
    fn rotation_keys_unwrap_for_members_only(seed: u64) {
        let mut rng = SeededRng::new(seed);
        let doc = DocId::random(&mut rng);
        let (owner, other) = (DeviceKey::generate(&mut rng), DeviceKey::generate(&mut rng));
        let g = MembershipState::genesis(doc, &owner, "client", None, 0).unwrap();
        let mut st = MembershipState::verify_chain(doc, &[g]).unwrap();
        let (k0, k1) = (EpochKey::generate(&mut rng), EpochKey::generate(&mut rng));
        let r = st.rotate(&owner, 1, &k0, &k1, &mut rng).unwrap();
        st.apply(&r).unwrap();
        prop_assert_eq!(st.unwrap_epoch_key(Epoch(1), &owner).unwrap(), k1.clone());
        prop_assert!(st.unwrap_epoch_key(Epoch(1), &other).is_err());
        prop_assert_eq!(st.previous_epoch_key(Epoch(1), &k1).unwrap(), k0);
    }
}

fn arb_ack_entries() -> impl Strategy<Value = Vec<AckEntry>> {
    prop::collection::vec(
        (arb_doc(), 1u64..u64::MAX, any::<[u8; 32]>(), 1u64..u64::MAX),
        1..80,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(doc, author_seq, hash, doc_seq)| AckEntry {
                doc,
                author: key(1).device_id(),
                author_seq,
                hash: EnvelopeHash::from_bytes(hash),
                doc_seq,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A batch of acks survives the wire, verifies once for all its
    /// entries, and every entry's receipt verifies alone; any change to an
    /// entry breaks both.
    #[test]
    fn ack_batches_round_trip_and_receipts_verify(entries in arb_ack_entries(), pick: prop::sample::Index, bump in 1u64..1000) {
        let relay = key(2);
        let acks = Acks::sign(&relay, entries);
        let m = Message::Acks(acks.clone());
        prop_assert_eq!(wire::decode(&wire::encode(&m).unwrap()).unwrap(), m);
        prop_assert!(acks.verify(&relay.device_id()));
        let i = pick.index(acks.entries.len());
        let r = acks.receipt(i).unwrap();
        prop_assert!(r.verify(&relay.device_id()));
        prop_assert!(!r.verify(&key(3).device_id()));
        let mut forged = acks.clone();
        forged.entries[i].doc_seq = forged.entries[i].doc_seq.wrapping_add(bump);
        prop_assert!(!forged.verify(&relay.device_id()));
        let mut moved = r;
        moved.entry.doc_seq = moved.entry.doc_seq.wrapping_add(bump);
        prop_assert!(!moved.verify(&relay.device_id()));
    }
}
