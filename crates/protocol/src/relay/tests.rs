#![allow(clippy::unwrap_used)]

use super::*;
use crate::envelope::{EnvelopeHash, EnvelopeHeader};
use crate::membership::{MembershipState, OpBody, Role};
use crate::testing::SeededRng;
use crate::wire::{AckEntry, auth_message};
use crate::{Epoch, EpochKey};

const ORIGIN: &str = "wss://relay.test";

struct Fixture {
    relay: RelayCore,
    rng: SeededRng,
    owner: DeviceKey,
    viewer: DeviceKey,
    doc: DocId,
    key: EpochKey,
}

fn sent(actions: &[RelayAction], to: ConnId) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            RelayAction::Send { conn, msg } if *conn == to => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn acked(actions: &[RelayAction], to: ConnId) -> Vec<AckEntry> {
    actions
        .iter()
        .filter_map(|a| match a {
            RelayAction::Ack { conn, entry } if *conn == to => Some(*entry),
            _ => None,
        })
        .collect()
}

fn error_code(actions: &[RelayAction], to: ConnId) -> Option<ErrorCode> {
    sent(actions, to).into_iter().find_map(|m| {
        if let Message::Error { code, .. } = m {
            Some(code)
        } else {
            None
        }
    })
}

impl Fixture {
    fn new() -> Self {
        let mut rng = SeededRng::new(1);
        let relay = RelayCore::new(DeviceKey::generate(&mut rng), RelayConfig::new(ORIGIN));
        let owner = DeviceKey::generate(&mut rng);
        let viewer = DeviceKey::generate(&mut rng);
        let doc = DocId::random(&mut rng);
        let mut f = Fixture {
            relay,
            rng,
            owner,
            viewer,
            doc,
            key: EpochKey::from_bytes([3; 32]),
        };
        f.login(ConnId(1), &f.owner.clone(), 1000);
        let g = MembershipState::genesis(doc, &f.owner, "client", None, 1000).unwrap();
        let mut state = MembershipState::verify_chain(doc, std::slice::from_ref(&g)).unwrap();
        let body = OpBody::AddMember {
            device: f.viewer.device_id(),
            role: Role::Viewer,
            perspective: "carer".into(),
        };
        let add = state.sign_op(&f.owner, 1000, body).unwrap();
        state.apply(&add).unwrap();
        for op in [g, add] {
            let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op });
            assert!(error_code(&a, ConnId(1)).is_none());
        }
        f
    }

    fn msg(&mut self, conn: ConnId, m: Message) -> Vec<RelayAction> {
        self.relay.handle_message(1000, conn, m, &mut self.rng)
    }

    fn login(&mut self, conn: ConnId, key: &DeviceKey, ts: u64) -> Vec<RelayAction> {
        self.relay.handle_connect(conn);
        let a = self.msg(
            conn,
            Message::Hello {
                device: key.device_id(),
                agent: "t".into(),
            },
        );
        let Some(Message::Challenge {
            nonce,
            origin,
            relay,
        }) = sent(&a, conn).pop()
        else {
            panic!()
        };
        let sig = key.sign(
            crate::domain::AUTH_SIG,
            &auth_message(&nonce.0, &origin, ts, &relay, &key.device_id()),
        );
        self.msg(
            conn,
            Message::Authenticate {
                device: key.device_id(),
                timestamp: ts,
                signature: sig,
            },
        )
    }

    fn envelope(&mut self, author: &DeviceKey, seq: u64, prev: EnvelopeHash) -> Envelope {
        let h = EnvelopeHeader::changes(self.doc, Epoch(0), author.device_id(), seq, prev);
        Envelope::seal(h, b"p", &self.key, author, &mut self.rng).unwrap()
    }
}

#[test]
fn handshake_checks_signature_origin_and_clock() {
    let mut f = Fixture::new();
    let k = DeviceKey::generate(&mut f.rng);
    let a = f.login(ConnId(5), &k, 1000);
    assert!(matches!(sent(&a, ConnId(5))[0], Message::Welcome { .. }));
    let stale = f.login(ConnId(6), &k, 1000 + 10 * 60 * 1000);
    assert_eq!(error_code(&stale, ConnId(6)), Some(ErrorCode::AuthFailed));
    assert!(stale.contains(&RelayAction::Close { conn: ConnId(6) }));
    // Signed for another origin.
    f.relay.handle_connect(ConnId(7));
    let a = f.msg(
        ConnId(7),
        Message::Hello {
            device: k.device_id(),
            agent: "t".into(),
        },
    );
    let Some(Message::Challenge { nonce, relay, .. }) = sent(&a, ConnId(7)).pop() else {
        panic!()
    };
    let sig = k.sign(
        crate::domain::AUTH_SIG,
        &auth_message(&nonce.0, "wss://evil", 1000, &relay, &k.device_id()),
    );
    let a = f.msg(
        ConnId(7),
        Message::Authenticate {
            device: k.device_id(),
            timestamp: 1000,
            signature: sig,
        },
    );
    assert_eq!(error_code(&a, ConnId(7)), Some(ErrorCode::AuthFailed));
    // Nothing before authentication.
    f.relay.handle_connect(ConnId(8));
    let a = f.msg(ConnId(8), Message::Subscribe { docs: vec![] });
    assert_eq!(error_code(&a, ConnId(8)), Some(ErrorCode::AuthFailed));
}

#[test]
fn publish_rules_dedupe_gap_fork_and_roles() {
    let mut f = Fixture::new();
    let owner = f.owner.clone();
    let e1 = f.envelope(&owner, 1, EnvelopeHash::ZERO);
    let a = f.msg(
        ConnId(1),
        Message::Publish {
            envelope: e1.clone(),
        },
    );
    assert!(matches!(a[0], RelayAction::StoreEnvelope { .. }));
    let [ack] = acked(&a, ConnId(1))[..] else {
        panic!()
    };
    assert_eq!((ack.doc_seq, ack.author_seq, ack.hash), (1, 1, e1.hash()));
    // Retransmission: same ack position, nothing stored.
    let a = f.msg(
        ConnId(1),
        Message::Publish {
            envelope: e1.clone(),
        },
    );
    assert!(matches!(
        acked(&a, ConnId(1))[..],
        [AckEntry { doc_seq: 1, .. }]
    ));
    assert!(
        !a.iter()
            .any(|x| matches!(x, RelayAction::StoreEnvelope { .. }))
    );
    // Gap.
    let e3 = f.envelope(&owner, 3, EnvelopeHash::from_bytes([1; 32]));
    assert_eq!(
        error_code(
            &f.msg(ConnId(1), Message::Publish { envelope: e3 }),
            ConnId(1)
        ),
        Some(ErrorCode::Gap)
    );
    // Fork: seq 2 not linking to seq 1.
    let bad2 = f.envelope(&owner, 2, EnvelopeHash::from_bytes([9; 32]));
    assert_eq!(
        error_code(
            &f.msg(ConnId(1), Message::Publish { envelope: bad2 }),
            ConnId(1)
        ),
        Some(ErrorCode::Fork)
    );
    // Viewer cannot write.
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    let ev = f.envelope(&viewer, 1, EnvelopeHash::ZERO);
    assert_eq!(
        error_code(
            &f.msg(ConnId(2), Message::Publish { envelope: ev }),
            ConnId(2)
        ),
        Some(ErrorCode::Forbidden)
    );
    // Nobody publishes someone else's envelope.
    let e2 = f.envelope(&owner, 2, e1.hash());
    assert_eq!(
        error_code(
            &f.msg(ConnId(2), Message::Publish { envelope: e2 }),
            ConnId(2)
        ),
        Some(ErrorCode::Forbidden)
    );
}

#[test]
fn subscribers_get_log_replay_and_fan_out() {
    let mut f = Fixture::new();
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    let a = f.msg(
        ConnId(2),
        Message::Subscribe {
            docs: vec![crate::wire::DocCursor {
                doc: f.doc,
                cursor: 0,
            }],
        },
    );
    assert_eq!(sent(&a, ConnId(2)).len(), 2, "two membership ops");
    assert!(a.iter().any(|x| matches!(
        x,
        RelayAction::Replay {
            after: 0,
            up_to: 0,
            ..
        }
    )));
    let owner = f.owner.clone();
    let e1 = f.envelope(&owner, 1, EnvelopeHash::ZERO);
    let a = f.msg(ConnId(1), Message::Publish { envelope: e1 });
    assert!(matches!(
        sent(&a, ConnId(2))[0],
        Message::Deliver { doc_seq: 1, .. }
    ));
    // Strangers cannot subscribe.
    let k = DeviceKey::generate(&mut f.rng);
    f.login(ConnId(3), &k, 1000);
    let a = f.msg(
        ConnId(3),
        Message::Subscribe {
            docs: vec![crate::wire::DocCursor {
                doc: f.doc,
                cursor: 0,
            }],
        },
    );
    assert_eq!(error_code(&a, ConnId(3)), Some(ErrorCode::Forbidden));
}

#[test]
fn malformed_frames_get_errors_not_panics() {
    let mut f = Fixture::new();
    for frame in [&b""[..], b"\xff", b"\xa2av\x01am\x00", &[0u8; 64]] {
        let a = f.relay.handle_frame(1000, ConnId(1), frame, &mut f.rng);
        assert!(error_code(&a, ConnId(1)).is_some());
    }
}

/// Publishes through the entry point that takes envelopes verified by the
/// application: the same decisions as an unverified publish, nothing
/// verified twice, and a failed signature refused after the cheaper checks.
#[test]
fn checked_publishes_follow_the_same_rules() {
    let mut f = Fixture::new();
    let owner = f.owner.clone();
    let e1 = f.envelope(&owner, 1, EnvelopeHash::ZERO);
    let verified = e1.clone().verify().unwrap();
    let a = f
        .relay
        .handle_checked_publish(ConnId(1), CheckedPublish::Verified(verified.clone()));
    assert!(matches!(
        &a[0],
        RelayAction::StoreEnvelope { envelope, .. } if envelope.envelope() == &e1
    ));
    assert!(matches!(
        acked(&a, ConnId(1))[..],
        [AckEntry { doc_seq: 1, .. }]
    ));
    // A retransmission is re-acked, not stored again.
    let a = f
        .relay
        .handle_checked_publish(ConnId(1), CheckedPublish::Verified(verified));
    assert!(matches!(
        acked(&a, ConnId(1))[..],
        [AckEntry { doc_seq: 1, .. }]
    ));
    assert!(
        !a.iter()
            .any(|x| matches!(x, RelayAction::StoreEnvelope { .. }))
    );
    // A failed signature is refused as bad_envelope...
    let e2 = f.envelope(&owner, 2, e1.hash());
    let failed = |envelope: Envelope| CheckedPublish::Failed {
        envelope,
        error: crate::EnvelopeError::BadSignature,
    };
    let a = f
        .relay
        .handle_checked_publish(ConnId(1), failed(e2.clone()));
    assert_eq!(error_code(&a, ConnId(1)), Some(ErrorCode::BadEnvelope));
    // ...but authorship and authentication are checked first.
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    let a = f
        .relay
        .handle_checked_publish(ConnId(2), failed(e2.clone()));
    assert_eq!(error_code(&a, ConnId(2)), Some(ErrorCode::Forbidden));
    let a = f.relay.handle_checked_publish(
        ConnId(2),
        CheckedPublish::Verified(e2.clone().verify().unwrap()),
    );
    assert_eq!(error_code(&a, ConnId(2)), Some(ErrorCode::Forbidden));
    f.relay.handle_connect(ConnId(3));
    let a = f.relay.handle_checked_publish(ConnId(3), failed(e2));
    assert_eq!(error_code(&a, ConnId(3)), Some(ErrorCode::AuthFailed));
    let a = f.relay.handle_checked_publish(ConnId(4), failed(e1));
    assert_eq!(a, vec![RelayAction::Close { conn: ConnId(4) }]);
}

/// Fan-out reaches exactly the connections subscribed now: not ones that
/// unsubscribed or disconnected, and not the publisher itself.
#[test]
fn fan_out_follows_subscribe_unsubscribe_and_disconnect() {
    let mut f = Fixture::new();
    let viewer = f.viewer.clone();
    let cursor = crate::wire::DocCursor {
        doc: f.doc,
        cursor: 0,
    };
    for c in 2..=4 {
        f.login(ConnId(c), &viewer, 1000);
        f.msg(ConnId(c), Message::Subscribe { docs: vec![cursor] });
    }
    f.msg(ConnId(1), Message::Subscribe { docs: vec![cursor] });
    f.msg(ConnId(3), Message::Unsubscribe { docs: vec![f.doc] });
    f.relay.handle_disconnect(ConnId(4));
    let owner = f.owner.clone();
    let e1 = f.envelope(&owner, 1, EnvelopeHash::ZERO);
    let a = f.msg(ConnId(1), Message::Publish { envelope: e1 });
    let delivered: Vec<ConnId> = a
        .iter()
        .filter_map(|x| match x {
            RelayAction::Send {
                conn,
                msg: Message::Deliver { .. },
            } => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![ConnId(2)]);
    // Resubscribing after a disconnect (a new connection) works again.
    f.login(ConnId(5), &viewer, 1000);
    f.msg(ConnId(5), Message::Subscribe { docs: vec![cursor] });
    let e2 = f.envelope(
        &owner,
        2,
        a.iter()
            .find_map(|x| match x {
                RelayAction::StoreEnvelope { envelope, .. } => Some(envelope.hash()),
                _ => None,
            })
            .unwrap(),
    );
    let a = f.msg(ConnId(1), Message::Publish { envelope: e2 });
    assert_eq!(sent(&a, ConnId(5)).len(), 1);
    assert_eq!(sent(&a, ConnId(2)).len(), 1);
}

fn replays(actions: &[RelayAction]) -> Vec<(u64, u64, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            RelayAction::Replay {
                after, up_to, last, ..
            } => Some((*after, *up_to, *last)),
            _ => None,
        })
        .collect()
}

fn subscribe(f: &mut Fixture, conn: ConnId, docs: &[(DocId, u64)]) -> Vec<RelayAction> {
    let docs = docs
        .iter()
        .map(|(doc, cursor)| crate::wire::DocCursor {
            doc: *doc,
            cursor: *cursor,
        })
        .collect();
    f.msg(conn, Message::Subscribe { docs })
}

/// The owner publishes `n` envelopes; returns their encoded length and the
/// last one's hash.
fn publish_n(f: &mut Fixture, n: u64) -> (u64, EnvelopeHash) {
    let owner = f.owner.clone();
    let mut prev = EnvelopeHash::ZERO;
    let mut len = 0;
    for seq in 1..=n {
        let e = f.envelope(&owner, seq, prev);
        prev = e.hash();
        len = e.as_bytes().len() as u64;
        let a = f.msg(ConnId(1), Message::Publish { envelope: e });
        assert!(error_code(&a, ConnId(1)).is_none());
    }
    (len, prev)
}

#[test]
fn a_replay_comes_in_pieces_and_the_connection_goes_live_after_the_last() {
    let mut f = Fixture::new();
    let (len, prev) = publish_n(&mut f, 10);
    f.relay.config.replay_chunk_bytes = 3 * len;
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    let doc = f.doc;
    let a = subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    assert_eq!(replays(&a), vec![(0, 3, false)]);
    // Not live yet: a publish meanwhile is not fanned out to it...
    let owner = f.owner.clone();
    let e11 = f.envelope(&owner, 11, prev);
    let prev = e11.hash();
    let a = f.msg(ConnId(1), Message::Publish { envelope: e11 });
    assert!(sent(&a, ConnId(2)).is_empty());
    // ...but reaches it through a later piece.
    let a = f.relay.handle_replay_next(ConnId(2), doc);
    assert_eq!(replays(&a), vec![(3, 6, false)]);
    let a = f.relay.handle_replay_next(ConnId(2), doc);
    assert_eq!(replays(&a), vec![(6, 9, false)]);
    let a = f.relay.handle_replay_next(ConnId(2), doc);
    assert_eq!(replays(&a), vec![(9, 11, true)], "the last piece");
    assert!(
        f.relay.handle_replay_next(ConnId(2), doc).is_empty(),
        "nothing after the last piece"
    );
    // Live now.
    let e = f.envelope(&owner, 12, prev);
    let a = f.msg(ConnId(1), Message::Publish { envelope: e });
    assert!(matches!(
        sent(&a, ConnId(2))[..],
        [Message::Deliver { doc_seq: 12, .. }]
    ));
}

#[test]
fn one_subscribe_never_replays_a_document_twice() {
    let mut f = Fixture::new();
    publish_n(&mut f, 3);
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    let doc = f.doc;
    // The same id three times: merged, from the lowest cursor.
    let a = subscribe(&mut f, ConnId(2), &[(doc, 2), (doc, 0), (doc, 1)]);
    assert_eq!(replays(&a), vec![(0, 3, true)]);
    assert_eq!(sent(&a, ConnId(2)).len(), 2, "the log once");
    // Subscribing again while live replays nothing: `caught_up` only.
    let a = subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    assert!(replays(&a).is_empty(), "{a:?}");
    assert!(matches!(
        sent(&a, ConnId(2))[..],
        [Message::CaughtUp { doc_seq: 3, .. }]
    ));
    // Nor while a replay is still in progress.
    f.relay.config.replay_chunk_bytes = 1;
    f.login(ConnId(3), &viewer, 1000);
    let a = subscribe(&mut f, ConnId(3), &[(doc, 0)]);
    assert_eq!(replays(&a), vec![(0, 1, false)]);
    assert!(subscribe(&mut f, ConnId(3), &[(doc, 0)]).is_empty());
}

#[test]
fn a_membership_op_appended_during_a_replay_reaches_the_replaying_connection() {
    let mut f = Fixture::new();
    publish_n(&mut f, 4);
    f.relay.config.replay_chunk_bytes = 1;
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    let doc = f.doc;
    subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    let state = f.relay.docs[&doc].membership.clone();
    let other = DeviceKey::generate(&mut f.rng);
    let body = OpBody::AddMember {
        device: other.device_id(),
        role: Role::Viewer,
        perspective: "peer".into(),
    };
    let op = state.sign_op(&f.owner, 1000, body).unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op });
    assert!(
        sent(&a, ConnId(2)).iter().any(|m| matches!(
            m,
            Message::MembershipDeliver {
                index: 2,
                stamp: Some(_),
                ..
            }
        )),
        "{a:?}"
    );
}

#[test]
fn invite_expiry_is_judged_by_the_relays_clock_and_stamped() {
    use crate::invite::InviteSecret;
    let mut f = Fixture::new();
    let doc = f.doc;
    let secret = InviteSecret::generate(&mut f.rng);
    let state = f.relay.docs[&doc].membership.clone();
    let expires = 2000;
    let create = secret
        .create_op(&state, &f.owner, 1000, Role::Editor, "worker", expires)
        .unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op: create });
    assert!(error_code(&a, ConnId(1)).is_none());
    let state = f.relay.docs[&doc].membership.clone();
    let joiner = DeviceKey::generate(&mut f.rng);
    // The joiner writes a time before the expiry; the relay's clock is a
    // minute past it (within the clock window, so today's check passed).
    let redeem = secret.redeem_op(&state, &joiner, expires - 1).unwrap();
    f.login(ConnId(4), &joiner, expires + 60_000);
    let a = f.relay.handle_message(
        expires + 60_000,
        ConnId(4),
        Message::InviteRedeem {
            doc,
            op: redeem.clone(),
        },
        &mut f.rng,
    );
    assert_eq!(error_code(&a, ConnId(4)), Some(ErrorCode::Forbidden));
    assert!(
        !a.iter()
            .any(|x| matches!(x, RelayAction::StoreMembershipOp { .. }))
    );
    // In time, the op is stored with the relay's stamp of that time.
    let a = f.relay.handle_message(
        expires - 1,
        ConnId(4),
        Message::InviteRedeem { doc, op: redeem },
        &mut f.rng,
    );
    let stamp = a
        .iter()
        .find_map(|x| match x {
            RelayAction::StoreMembershipOp {
                stamp, op, index, ..
            } => {
                assert!(stamp.verify(&f.relay.relay_id(), &doc, *index, &op.hash()));
                Some(*stamp)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(stamp.at, expires - 1);
}

#[test]
fn a_removed_device_gets_the_log_up_to_its_removal_and_nothing_after() {
    let mut f = Fixture::new();
    let doc = f.doc;
    let viewer = f.viewer.clone();
    // The owner removes the viewer, then adds someone else.
    let state = f.relay.docs[&doc].membership.clone();
    let (ops, _) = state
        .remove_and_rotate(&f.owner, 1000, viewer.device_id(), &f.key, &mut f.rng)
        .unwrap();
    for op in ops {
        let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op });
        assert!(error_code(&a, ConnId(1)).is_none());
    }
    let removal_index = f.relay.docs[&doc].ops.len() as u64 - 2;
    let state = f.relay.docs[&doc].membership.clone();
    let newcomer = DeviceKey::generate(&mut f.rng);
    let body = OpBody::AddMember {
        device: newcomer.device_id(),
        role: Role::Viewer,
        perspective: "peer".into(),
    };
    let op = state.sign_op(&f.owner, 1000, body).unwrap();
    f.msg(ConnId(1), Message::MembershipPublish { doc, op });
    f.login(ConnId(2), &viewer, 1000);
    let a = subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    let got = sent(&a, ConnId(2));
    let indexes: Vec<u64> = got
        .iter()
        .filter_map(|m| match m {
            Message::MembershipDeliver { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(indexes, (0..=removal_index).collect::<Vec<_>>());
    assert!(matches!(
        got.last(),
        Some(Message::Error { code: ErrorCode::Forbidden, message, .. }) if message == "removed from document"
    ));
    assert!(replays(&a).is_empty());
}

#[test]
fn a_damaged_document_is_refused_and_the_others_are_served() {
    let mut f = Fixture::new();
    let doc = f.doc;
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    let a = f.relay.mark_damaged(doc);
    assert!(matches!(
        sent(&a, ConnId(2))[..],
        [Message::Error {
            code: ErrorCode::UnknownDoc,
            ..
        }]
    ));
    // Every request about it is refused, even a genesis that would start it again.
    let owner = f.owner.clone();
    let e = f.envelope(&owner, 1, EnvelopeHash::ZERO);
    let a = f.msg(ConnId(1), Message::Publish { envelope: e });
    assert_eq!(error_code(&a, ConnId(1)), Some(ErrorCode::UnknownDoc));
    let g = MembershipState::genesis(doc, &owner, "client", None, 1000).unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op: g });
    assert_eq!(error_code(&a, ConnId(1)), Some(ErrorCode::UnknownDoc));
    assert!(
        !a.iter()
            .any(|x| matches!(x, RelayAction::StoreMembershipOp { .. }))
    );
    let a = subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    assert!(
        matches!(sent(&a, ConnId(2))[..], [Message::Error { ref message, .. }] if message == super::DAMAGED)
    );
    // Another document works.
    let other = DocId::random(&mut f.rng);
    let g = MembershipState::genesis(other, &owner, "client", None, 1000).unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc: other, op: g });
    assert!(error_code(&a, ConnId(1)).is_none());
}

#[test]
fn a_connection_has_a_few_replays_under_way_and_the_rest_wait_their_turn() {
    let mut f = Fixture::new();
    let owner = f.owner.clone();
    let mut docs = vec![f.doc];
    for _ in 0..super::MAX_REPLAYS + 2 {
        let doc = DocId::random(&mut f.rng);
        let g = MembershipState::genesis(doc, &owner, "client", None, 1000).unwrap();
        let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op: g });
        assert!(error_code(&a, ConnId(1)).is_none());
        docs.push(doc);
    }
    f.login(ConnId(3), &owner, 1000);
    let cursors: Vec<(DocId, u64)> = docs.iter().map(|d| (*d, 0)).collect();
    let a = subscribe(&mut f, ConnId(3), &cursors);
    // Only MAX_REPLAYS start; each asks to be told when it is sent.
    let started: Vec<DocId> = a
        .iter()
        .filter_map(|x| match x {
            RelayAction::Replay { doc, .. } => Some(*doc),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), super::MAX_REPLAYS);
    // The log of a waiting document is not sent before its turn.
    let logged = sent(&a, ConnId(3))
        .iter()
        .filter(|m| matches!(m, Message::MembershipDeliver { .. }))
        .count();
    // (f.doc has two ops, the others one each; the first MAX_REPLAYS
    // include f.doc or not, depending on the ids' order.)
    assert!(
        logged <= super::MAX_REPLAYS + 1,
        "{logged} log messages for {} docs",
        docs.len()
    );
    // Sending one starts the next in the queue; a repeat subscribe of a
    // waiting document adds nothing.
    let again = subscribe(&mut f, ConnId(3), &[(docs[docs.len() - 1], 0)]);
    assert!(replays(&again).is_empty());
    let mut all: Vec<DocId> = started.clone();
    for doc in started {
        let a = f.relay.handle_replay_next(ConnId(3), doc);
        for x in &a {
            if let RelayAction::Replay { doc, .. } = x {
                all.push(*doc);
            }
        }
    }
    all.sort();
    let mut want = docs.clone();
    want.sort();
    assert_eq!(all, want, "every document replayed exactly once");
    // Unsubscribing a waiting document drops it from the queue.
    let mut g = Fixture::new();
    let owner = g.owner.clone();
    let mut more = Vec::new();
    for _ in 0..super::MAX_REPLAYS + 1 {
        let doc = DocId::random(&mut g.rng);
        let op = MembershipState::genesis(doc, &owner, "client", None, 1000).unwrap();
        g.msg(ConnId(1), Message::MembershipPublish { doc, op });
        more.push((doc, 0));
    }
    g.login(ConnId(3), &owner, 1000);
    let a = subscribe(&mut g, ConnId(3), &more);
    let started: Vec<DocId> = a
        .iter()
        .filter_map(|x| match x {
            RelayAction::Replay { doc, .. } => Some(*doc),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), super::MAX_REPLAYS);
    let waiting = more.iter().find(|(d, _)| !started.contains(d)).unwrap().0;
    g.msg(
        ConnId(3),
        Message::Unsubscribe {
            docs: vec![waiting],
        },
    );
    for doc in started {
        assert!(replays(&g.relay.handle_replay_next(ConnId(3), doc)).is_empty());
    }
}

fn deleted_notice(actions: &[RelayAction], to: ConnId) -> Option<(u64, MembershipOp)> {
    sent(actions, to).into_iter().find_map(|m| match m {
        Message::Deleted { index, op, .. } => Some((index, op)),
        _ => None,
    })
}

#[test]
fn a_deleted_document_is_erased_and_its_tombstone_refuses_everything() {
    let mut f = Fixture::new();
    let doc = f.doc;
    let (owner, viewer) = (f.owner.clone(), f.viewer.clone());
    publish_n(&mut f, 3);
    f.login(ConnId(2), &viewer, 1000);
    subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    // Only an owner deletes: the viewer's delete is refused.
    let state = f.relay.docs[&doc].membership.clone();
    let op = state
        .sign_op(&viewer, 1000, OpBody::DeleteDocument)
        .unwrap();
    let a = f.msg(ConnId(2), Message::MembershipPublish { doc, op });
    assert_eq!(error_code(&a, ConnId(2)), Some(ErrorCode::BadMembership));
    assert!(!f.relay.is_deleted(&doc));
    // The owner's delete erases it at once and tells everyone following it.
    let op = state.sign_op(&owner, 1000, OpBody::DeleteDocument).unwrap();
    let a = f.msg(
        ConnId(1),
        Message::MembershipPublish {
            doc,
            op: op.clone(),
        },
    );
    let erase: Vec<&Tombstone> = a
        .iter()
        .filter_map(|x| match x {
            RelayAction::EraseDoc {
                doc: d, tombstone, ..
            } if *d == doc => Some(tombstone),
            _ => None,
        })
        .collect();
    assert_eq!(erase.len(), 1);
    assert_eq!(
        erase[0].op.as_ref().map(|(i, o, _)| (*i, o.hash())),
        Some((2, op.hash()))
    );
    assert!(
        matches!(a[0], RelayAction::EraseDoc { .. }),
        "erased before anyone is told"
    );
    assert_eq!(
        deleted_notice(&a, ConnId(1)).map(|n| n.1.hash()),
        Some(op.hash())
    );
    assert_eq!(
        deleted_notice(&a, ConnId(2)).map(|n| n.1.hash()),
        Some(op.hash())
    );
    assert!(
        !a.iter()
            .any(|x| matches!(x, RelayAction::StoreMembershipOp { .. }))
    );
    assert!(f.relay.docs().all(|d| *d != doc));
    // Every later request gets the notice: a write, a genesis starting it
    // again, a subscribe, an invite.
    let e = f.envelope(&owner, 4, EnvelopeHash::ZERO);
    let a = f.msg(ConnId(1), Message::Publish { envelope: e });
    assert!(deleted_notice(&a, ConnId(1)).is_some());
    assert!(
        !a.iter()
            .any(|x| matches!(x, RelayAction::StoreEnvelope { .. }))
    );
    let g = MembershipState::genesis(doc, &owner, "client", None, 1000).unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op: g });
    assert!(deleted_notice(&a, ConnId(1)).is_some());
    assert!(
        !a.iter()
            .any(|x| matches!(x, RelayAction::StoreMembershipOp { .. }))
    );
    let a = subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    assert!(deleted_notice(&a, ConnId(2)).is_some());
    assert!(replays(&a).is_empty());
    let invite = DeviceKey::generate(&mut f.rng).device_id();
    let a = f.msg(ConnId(2), Message::InviteFetch { doc, invite });
    assert!(deleted_notice(&a, ConnId(2)).is_some());
}

#[test]
fn a_tombstone_fed_back_refuses_as_the_erase_did() {
    let mut f = Fixture::new();
    let doc = f.doc;
    let owner = f.owner.clone();
    let state = f.relay.docs[&doc].membership.clone();
    let op = state.sign_op(&owner, 1000, OpBody::DeleteDocument).unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op });
    let Some(RelayAction::EraseDoc { tombstone, .. }) = a.first().cloned() else {
        panic!("no erase: {a:?}")
    };
    // After a reload (a restart, or a failed commit), the stored tombstone
    // is all there is of the document.
    f.relay
        .reload_docs(Vec::new(), vec![(doc, tombstone.clone())]);
    assert!(f.relay.is_deleted(&doc));
    let viewer = f.viewer.clone();
    f.login(ConnId(2), &viewer, 1000);
    let a = subscribe(&mut f, ConnId(2), &[(doc, 0)]);
    assert_eq!(sent(&a, ConnId(2)), vec![tombstone.notice(doc)]);
    // A retention deletion has no owner's op: members hear an error, and
    // nothing they could take as a reason to erase their copies.
    let other = DocId::random(&mut f.rng);
    f.relay
        .restore_tombstone(other, Tombstone { at: 5, op: None });
    let a = subscribe(&mut f, ConnId(2), &[(other, 0)]);
    assert!(matches!(
        &sent(&a, ConnId(2))[..],
        [Message::Error { code: ErrorCode::Deleted, message, .. }] if message.contains("retention")
    ));
}

#[test]
fn only_the_holder_of_a_device_invites_secret_learns_where_it_is_live() {
    let mut f = Fixture::new();
    let doc = f.doc;
    let owner = f.owner.clone();
    let secret = crate::invite::InviteSecret::from_bytes([7; 32]);
    let plain = crate::invite::InviteSecret::from_bytes([8; 32]);
    let state = f.relay.docs[&doc].membership.clone();
    let key = f.key.clone();
    let op = state
        .device_invite(&owner, 1000, secret.id(), 5000, &key, &mut f.rng)
        .unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op });
    assert!(error_code(&a, ConnId(1)).is_none());
    let state = f.relay.docs[&doc].membership.clone();
    let op = plain
        .create_op(&state, &owner, 1000, Role::Editor, "worker", 5000)
        .unwrap();
    let a = f.msg(ConnId(1), Message::MembershipPublish { doc, op });
    assert!(error_code(&a, ConnId(1)).is_none());
    let laptop = DeviceKey::generate(&mut f.rng);
    f.login(ConnId(3), &laptop, 1000);
    let find = |s: &crate::invite::InviteSecret, asker: &DeviceKey| Message::InviteFind {
        invite: s.id(),
        proof: s
            .invite_key()
            .sign(crate::domain::INVITE_FIND, asker.device_id().as_bytes()),
    };
    let docs = |a: &[RelayAction]| match &sent(a, ConnId(3))[..] {
        [Message::InviteDocs { docs, .. }] => docs.clone(),
        other => panic!("{other:?}"),
    };
    let a = f.msg(ConnId(3), find(&secret, &laptop));
    assert_eq!(docs(&a), vec![doc]);
    // A proof made for another device (one the relay saw, replayed) finds
    // nothing, nor does an ordinary invite, which names its document.
    let a = f.msg(ConnId(3), find(&secret, &owner));
    assert!(docs(&a).is_empty());
    let a = f.msg(ConnId(3), find(&plain, &laptop));
    assert!(docs(&a).is_empty());
    // Past its expiry the invite is found nowhere.
    let a = f
        .relay
        .handle_message(6000, ConnId(3), find(&secret, &laptop), &mut f.rng);
    assert!(docs(&a).is_empty());
}
