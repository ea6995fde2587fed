//! Stories: each test reads as what happens to the people involved.

use starling_protocol::DeviceId;
use starling_protocol::envelope::{Envelope, EnvelopeHeader};
use starling_protocol::session::{SessionEvent, Tampering};
use starling_protocol::wire::{self, Message};

use crate::world::{Malice, World};

fn items(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn client_and_worker_edit_offline_then_converge() {
    let mut w = World::new(1, &["client", "worker", "carer"]);
    w.setup();
    w.write(0, &items("client-online", 1));
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 2]);
    w.set_online(0, false);
    w.set_online(1, false);
    w.write(0, &items("client-offline", 2));
    w.write(1, &items("worker-offline", 3));
    w.write(0, &items("client-offline-again", 1));
    w.run_for(10_000);
    assert_ne!(w.peers[0].set, w.peers[1].set);
    w.set_online(0, true);
    w.set_online(1, true);
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 2]);
    assert!(w.tampering(2).is_empty());
}

#[test]
fn removed_member_cannot_read_what_is_written_after() {
    let mut w = World::new(2, &["client", "worker", "carer"]);
    let doc = w.setup();
    w.write(1, &items("before", 2));
    w.run_until_quiet();
    assert!(w.peers[2].set.contains("before-0"));
    let carer = w.id(2);
    let out = w.peers[0]
        .session
        .remove_member(w.now, doc, carer, &mut w.rng)
        .unwrap();
    w.output(0, out);
    w.run_until_quiet();
    assert!(
        w.peers[2]
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::Removed { .. }))
    );
    w.write(1, &items("after", 2));
    w.write(0, &items("after-client", 1));
    w.run_until_quiet();
    assert!(
        w.peers[2].set.contains("before-1"),
        "removed members keep what they had"
    );
    assert!(!w.peers[2].set.iter().any(|s| s.starts_with("after")));
    w.assert_converged(&[0, 1]);
    // Even a relay that leaks the new envelopes to the removed member gives
    // it nothing readable.
    let leaked: Vec<_> = w.relay.stored(&doc);
    let before = w.peers[2].set.clone();
    for (doc_seq, envelope) in leaked {
        let frame = wire::encode(&Message::Deliver {
            doc,
            doc_seq,
            envelope,
        })
        .unwrap();
        let out = w.peers[2].session.handle_frame(w.now, &frame);
        assert!(
            !out.events
                .iter()
                .any(|e| matches!(e, SessionEvent::Apply { .. }))
        );
    }
    assert_eq!(w.peers[2].set, before);
}

#[test]
fn corrupting_relay_is_detected_and_nothing_tampered_is_applied() {
    let mut w = World::new(3, &["client", "worker"]);
    w.setup();
    w.malice = Malice::Corrupt;
    w.victim = 1;
    for i in 0..8 {
        w.write(0, &items(&format!("c{i}"), 1));
        w.run_until_quiet();
    }
    assert!(
        w.tampering(1)
            .iter()
            .any(|t| matches!(t, Tampering::BadSignature))
    );
    // Everything the worker applied is genuine (World asserts payloads), and
    // it never applied out of order: missing envelopes wait.
    assert!(w.peers[1].set.is_subset(&w.written));
}

#[test]
fn replaying_relay_causes_no_double_application() {
    let mut w = World::new(4, &["client", "worker"]);
    w.setup();
    w.malice = Malice::Replay;
    w.victim = 1;
    for i in 0..8 {
        w.write(0, &items(&format!("r{i}"), 1));
        w.run_until_quiet();
    }
    w.assert_converged(&[0, 1]);
    assert!(w.tampering(1).is_empty());
}

#[test]
fn withholding_relay_is_noticed_as_waiting() {
    let mut w = World::new(5, &["client", "worker"]);
    w.setup();
    w.malice = Malice::Withhold;
    w.victim = 1;
    for i in 0..10 {
        w.write(0, &items(&format!("w{i}"), 1));
        w.run_until_quiet();
    }
    let waiting = w.peers[1]
        .events
        .iter()
        .any(|e| matches!(e, SessionEvent::Waiting { .. }));
    assert!(waiting, "a withheld envelope must be noticed");
    // Applied items form a prefix of the client's writes: nothing out of order.
    let n = w.peers[1].set.len();
    for i in 0..n {
        assert!(w.peers[1].set.contains(&format!("w{i}-0")));
    }
}

#[test]
fn equivocating_author_is_reported_as_fork() {
    let mut w = World::new(6, &["client", "worker"]);
    let doc = w.setup();
    w.write(0, &items("honest", 1));
    w.write(0, &items("honest-again", 1));
    w.run_until_quiet();
    // The relay holds a second envelope the (compromised) client signed for
    // the same position, and delivers it.
    let key = w.peers[0].key.clone();
    let me = w.id(0);
    let seq = w.peers[0].session.own_seq(&doc);
    let epoch = w.peers[0].session.membership(&doc).unwrap().epoch();
    let stored = w.peers[0].session.persisted(&doc).unwrap();
    let ek = stored
        .keys
        .iter()
        .find(|(e, _)| *e == epoch)
        .unwrap()
        .1
        .clone();
    let header = EnvelopeHeader::changes(
        doc,
        epoch,
        me,
        seq,
        starling_protocol::EnvelopeHash::from_bytes([7; 32]),
    );
    let evil = Envelope::seal(header, b"evil", &ek, &key, &mut w.rng).unwrap();
    let frame = wire::encode(&Message::Deliver {
        doc,
        doc_seq: 99,
        envelope: evil,
    })
    .unwrap();
    let out = w.peers[1].session.handle_frame(w.now, &frame);
    w.output(1, out);
    assert!(
        w.tampering(1)
            .iter()
            .any(|t| matches!(t, Tampering::Fork { .. }))
    );
    assert!(!w.peers[1].set.contains("evil"));
}

#[test]
fn acknowledged_writes_survive_a_relay_restart() {
    let mut w = World::new(7, &["client", "worker", "carer"]);
    w.setup();
    w.write(1, &items("pre-crash", 3));
    w.run_until_quiet();
    w.restart_relay();
    w.write(0, &items("post-crash", 2));
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 2]);
}

#[test]
fn snapshot_lets_the_relay_compact_and_newcomers_still_converge() {
    let mut w = World::new(8, &["client", "worker", "carer", "newcomer"]);
    let doc = w.setup();
    for i in 0..6 {
        w.write(i % 2, &items(&format!("s{i}"), 1));
        w.run_until_quiet();
    }
    let before = w.relay.stored_envelopes(&doc);
    w.snapshot(0);
    w.run_until_quiet();
    let after = w.relay.stored_envelopes(&doc);
    assert!(after < before, "{after} !< {before}");
    w.write(1, &items("after-snapshot", 1));
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 2]);
    // A newcomer added after compaction gets the snapshot instead of the
    // dropped history, continues every chain from it, and converges.
    let newcomer = w.id(3);
    let out = w.peers[0]
        .session
        .add_member(
            w.now,
            doc,
            newcomer,
            starling_protocol::membership::Role::Editor,
            "peer",
            &mut w.rng,
        )
        .unwrap();
    w.output(0, out);
    w.run_until_quiet();
    let out = w.peers[3].session.open_doc(doc);
    w.output(3, out);
    w.run_until_quiet();
    w.write(3, &items("newcomer", 1));
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 2, 3]);
    assert!(w.peers[3].events.iter().any(|e| matches!(
        e,
        SessionEvent::Apply {
            kind: starling_protocol::EnvelopeKind::Snapshot { .. },
            ..
        }
    )));
}

#[test]
fn refused_device_does_not_retry() {
    use starling_protocol::DeviceKey;
    use starling_protocol::relay::{ConnId, RelayConfig, RelayCore};
    use starling_protocol::session::{ClientSession, SessionConfig};
    use starling_protocol::testing::SeededRng;
    let mut rng = SeededRng::new(9);
    let mut cfg = RelayConfig::new(crate::world::ORIGIN);
    cfg.allow_list = Some(Default::default());
    let mut relay = RelayCore::new(DeviceKey::generate(&mut rng), cfg);
    let mut s = ClientSession::new(
        DeviceKey::generate(&mut rng),
        SessionConfig {
            origin: crate::world::ORIGIN.into(),
            relay: None,
            agent: "t".into(),
        },
        &mut rng,
    );
    relay.handle_connect(ConnId(1));
    let out = s.handle_connected(0);
    let acts = relay.handle_message(0, ConnId(1), out.send[0].clone(), &mut rng);
    let starling_protocol::relay::RelayAction::Send { msg, .. } = &acts[0] else {
        panic!()
    };
    let out = s.handle_message(0, msg.clone());
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, SessionEvent::AuthFailed(_)))
    );
    s.handle_disconnected(0, &mut rng);
    assert_eq!(s.poll_reconnect(), None);
}

#[test]
fn worker_restarts_with_unsent_edits_and_they_still_arrive() {
    use starling_protocol::session::{ClientSession, SessionConfig};
    let mut w = World::new(10, &["client", "worker"]);
    let doc = w.setup();
    w.write(1, &items("before", 1));
    w.run_until_quiet();
    w.set_online(1, false);
    w.write(1, &items("offline-edit", 2));
    assert_eq!(w.peers[1].session.unacked(&doc), 1);
    // The process exits; a new one restores from what was stored.
    let stored = w.peers[1].session.persisted(&doc).unwrap();
    let key = w.peers[1].key.clone();
    let cfg = SessionConfig {
        origin: crate::world::ORIGIN.into(),
        relay: None,
        agent: "sim/worker".into(),
    };
    let mut fresh = ClientSession::new(key, cfg, &mut w.rng);
    fresh.restore_doc(stored).unwrap();
    w.peers[1].session = fresh;
    w.set_online(1, true);
    w.write(0, &items("client-meanwhile", 1));
    w.run_until_quiet();
    w.assert_converged(&[0, 1]);
    assert_eq!(w.peers[1].session.unacked(&doc), 0);
}

#[test]
fn joiner_with_an_old_link_gets_the_current_key() {
    use starling_protocol::membership::Role;
    let mut w = World::new(11, &["client", "worker", "carer"]);
    w.run_until_quiet();
    let (doc, out) = w.peers[0]
        .session
        .create_doc(w.now, "client", &mut w.rng)
        .unwrap();
    w.doc = Some(doc);
    w.output(0, out);
    w.run_until_quiet();
    let (link, out) = w.peers[0]
        .session
        .create_invite(
            w.now,
            doc,
            &"relay.test".parse().unwrap(),
            Role::Editor,
            "worker",
            w.now + 3_600_000,
            &mut w.rng,
        )
        .unwrap();
    w.output(0, out);
    // Before the worker uses the link, the carer is added: a new epoch.
    w.add(0, 2, Role::Viewer);
    // The carer opens it too early: the relay says "not a member" ...
    let out = w.peers[2].session.open_doc(doc);
    w.output(2, out);
    w.run_until_quiet();
    // ... so it opens it again once told it was added.
    let out = w.peers[2].session.open_doc(doc);
    w.output(2, out);
    w.run_until_quiet();
    let out = w.peers[1].session.join(&link);
    w.output(1, out);
    w.run_until_quiet();
    assert_eq!(
        w.peers[1].session.membership(&doc).unwrap().epoch(),
        starling_protocol::Epoch(2)
    );
    w.write(0, &items("current-epoch", 1));
    w.write(1, &items("from-worker", 1));
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 2]);
}

#[test]
fn an_offline_removal_lands_after_a_join_that_beat_it_to_the_relay() {
    use starling_protocol::membership::Role;
    // The client invites a friend, then goes offline and removes the carer.
    // Meanwhile the friend joins: the relay orders the join first, at the
    // place in the log the client's removal had taken on its own device.
    let mut w = World::new(12, &["client", "worker", "carer", "friend"]);
    let doc = w.setup();
    w.write(1, &items("before", 1));
    w.run_until_quiet();
    let link = w.invite(doc, Role::Editor, "friend");
    w.set_online(0, false);
    let carer = w.id(2);
    w.remove(0, 2);
    w.write(0, &items("offline-after-removal", 1));
    w.join(3, &link);
    w.run_until_quiet();
    assert!(
        w.peers[3]
            .session
            .membership(&doc)
            .unwrap()
            .role(&w.id(3))
            .is_some()
    );
    w.set_online(0, true);
    w.run_until_quiet();

    assert!(w.tampering(0).is_empty(), "{:?}", w.tampering(0));
    for p in [0, 1, 3] {
        let m = w.peers[p].session.membership(&doc).unwrap();
        assert_eq!(
            m.role(&carer),
            None,
            "{}: the removal took effect",
            w.peers[p].name
        );
        assert_eq!(m.role(&w.id(3)), Some(Role::Editor), "{}", w.peers[p].name);
    }
    assert!(
        !w.peers[0]
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::MembershipChangeDropped { .. }))
    );
    // The carer cannot unwrap the key of the epoch the removal started; the
    // friend, who joined meanwhile, can.
    let m = w.peers[1].session.membership(&doc).unwrap();
    assert!(m.unwrap_epoch_key(m.epoch(), &w.peers[2].key).is_err());
    assert!(m.unwrap_epoch_key(m.epoch(), &w.peers[3].key).is_ok());
    assert_eq!(w.peers[0].session.unacked(&doc), 0, "nothing left unsent");
    w.write(1, &items("after", 1));
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 3]);
    assert!(
        !w.peers[2]
            .set
            .iter()
            .any(|s| s.starts_with("offline") || s.starts_with("after"))
    );
}

#[test]
fn a_member_who_leaves_while_the_owner_removes_them_offline_is_gone_and_the_owner_syncs_on() {
    // The client, offline, removes the worker (a new key) and writes on;
    // meanwhile the worker leaves. The relay orders the leaving first, at
    // the place the removal took on the client's device. The removal has
    // happened already: no tampering, nothing dropped, and the client's
    // offline writes reach the carer under a key the worker never gets.
    let mut w = World::new(15, &["client", "worker", "carer"]);
    let doc = w.setup();
    w.write(1, &items("before", 1));
    w.run_until_quiet();
    let before = w.peers[0].session.membership(&doc).unwrap().epoch();
    w.set_online(0, false);
    let worker = w.id(1);
    w.remove(0, 1);
    w.write(0, &items("offline-after-removal", 2));
    w.leave(1);
    w.run_until_quiet();
    w.set_online(0, true);
    w.run_until_quiet();

    assert!(w.tampering(0).is_empty(), "{:?}", w.tampering(0));
    assert!(w.tampering(2).is_empty(), "{:?}", w.tampering(2));
    assert!(
        !w.peers[0]
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::MembershipChangeDropped { .. })),
        "the removal is not reported as dropped"
    );
    for p in [0, 2] {
        let m = w.peers[p].session.membership(&doc).unwrap();
        assert_eq!(m.role(&worker), None, "{}", w.peers[p].name);
        assert!(
            m.epoch() > before,
            "{}: a new key after the leaving",
            w.peers[p].name
        );
        assert!(m.unwrap_epoch_key(m.epoch(), &w.peers[1].key).is_err());
    }
    assert_eq!(w.peers[0].session.unacked(&doc), 0, "nothing left unsent");
    w.write(2, &items("after", 1));
    w.run_until_quiet();
    w.assert_converged(&[0, 2]);
    assert!(
        w.peers[2]
            .set
            .iter()
            .any(|s| s.starts_with("offline-after-removal")),
        "the offline writes arrived"
    );
}

#[test]
fn an_offline_change_that_no_longer_applies_is_dropped_and_said_so() {
    use starling_protocol::membership::Role;
    // The client invites a friend, then (offline, having forgotten) adds the
    // friend's device directly. The friend joins through the link first:
    // the direct add no longer applies. It is dropped, with a reason, and
    // nobody is told of tampering.
    let mut w = World::new(13, &["client", "worker", "carer", "friend"]);
    let doc = w.setup();
    let link = w.invite(doc, Role::Editor, "friend");
    w.set_online(0, false);
    let friend = w.id(3);
    w.add(0, 3, Role::Viewer);
    w.write(0, &items("offline", 1));
    w.join(3, &link);
    w.run_until_quiet();
    w.set_online(0, true);
    w.run_until_quiet();

    assert!(w.tampering(0).is_empty(), "{:?}", w.tampering(0));
    let dropped: Vec<&String> = w.peers[0]
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::MembershipChangeDropped { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(dropped[0].contains("adding") && dropped[0].contains("already a member"));
    for p in [0, 1, 3] {
        let m = w.peers[p].session.membership(&doc).unwrap();
        assert_eq!(
            m.role(&friend),
            Some(Role::Editor),
            "the link's role stands"
        );
    }
    assert_eq!(w.peers[0].session.unacked(&doc), 0);
    w.run_until_quiet();
    w.assert_converged(&[0, 1, 2, 3]);
}

#[test]
fn two_offline_removals_land_after_a_join_each_with_its_own_new_key() {
    use starling_protocol::membership::Role;
    let mut w = World::new(14, &["client", "worker", "carer", "friend"]);
    let doc = w.setup();
    let link = w.invite(doc, Role::Viewer, "friend");
    let before = w.peers[0].session.membership(&doc).unwrap().epoch();
    w.set_online(0, false);
    for p in [2, 1] {
        w.remove(0, p);
        w.write(0, &items(&format!("without-{p}"), 1));
    }
    w.join(3, &link);
    w.run_until_quiet();
    w.set_online(0, true);
    w.run_until_quiet();

    assert!(w.tampering(0).is_empty(), "{:?}", w.tampering(0));
    assert!(w.tampering(3).is_empty(), "{:?}", w.tampering(3));
    let m = w.peers[3].session.membership(&doc).unwrap();
    assert_eq!(m.role(&w.id(1)), None);
    assert_eq!(m.role(&w.id(2)), None);
    assert_eq!(m.epoch().0, before.0 + 2, "one rotation per removal");
    let last = m.epoch();
    let first = starling_protocol::Epoch(before.0 + 1);
    assert!(m.unwrap_epoch_key(first, &w.peers[2].key).is_err());
    assert!(
        m.unwrap_epoch_key(first, &w.peers[1].key).is_ok(),
        "the worker left later"
    );
    assert!(m.unwrap_epoch_key(last, &w.peers[1].key).is_err());
    assert!(m.unwrap_epoch_key(last, &w.peers[3].key).is_ok());
    assert_eq!(w.peers[0].session.unacked(&doc), 0);
    assert!(w.peers[3].set.contains("without-2-0") && w.peers[3].set.contains("without-1-0"));
    assert!(!w.peers[2].set.iter().any(|s| s.starts_with("without")));
}

#[test]
fn another_owners_concurrent_removal_is_not_merged_yet() {
    use starling_protocol::membership::Role;
    // A known gap, pinned: two owners change the membership at once, one of
    // them offline, and the other's change takes access away. This device
    // keeps its own log and says the logs diverged; nothing is redone.
    let mut w = World::new(15, &["client", "worker", "carer"]);
    let doc = w.setup();
    let worker = w.id(1);
    let out = w.peers[0]
        .session
        .change_role(w.now, doc, worker, Role::Owner)
        .unwrap();
    w.output(0, out);
    w.run_until_quiet();
    w.set_online(0, false);
    let out = w.peers[0].session.rotate(w.now, doc, &mut w.rng).unwrap();
    w.output(0, out);
    let carer = w.id(2);
    w.remove(1, 2);
    w.run_until_quiet();
    w.set_online(0, true);
    w.run_until_quiet();
    assert!(
        w.tampering(0)
            .iter()
            .any(|t| matches!(t, Tampering::BadMembership(m) if m.contains("not merged")))
    );
    let m = w.peers[1].session.membership(&doc).unwrap();
    assert_eq!(m.role(&carer), None, "the other owner's removal stands");
}

/// An owner's session (from the fuzzing world: authenticated to relay key
/// `[2; 32]`) with an invite expiring at `expires`, and the frame of a
/// join of that invite stamped by `stamper` at `stamped` (no stamp: `None`).
fn join_stamped(expires: u64, stamper: Option<(u8, u64)>) -> (Vec<SessionEvent>, usize, usize) {
    use starling_protocol::DeviceKey;
    use starling_protocol::fuzzing::{FUZZ_NOW, session_world};
    use starling_protocol::membership::{OpStamp, Role};
    use starling_protocol::testing::SeededRng;
    let mut w = session_world().unwrap();
    let (s, doc) = (&mut w.session, w.doc);
    let mut rng = SeededRng::new(9);
    let genesis = s.persisted(&doc).unwrap().op_outbox[0].clone();
    let echo = |s: &mut starling_protocol::session::ClientSession, index, op| {
        s.handle_message(
            FUZZ_NOW,
            Message::MembershipDeliver {
                doc,
                index,
                op,
                stamp: None,
            },
        )
    };
    echo(s, 0, genesis);
    let (link, out) = s
        .create_invite(
            FUZZ_NOW,
            doc,
            &"relay.test".parse().unwrap(),
            Role::Editor,
            "worker",
            expires,
            &mut rng,
        )
        .unwrap();
    for m in out.send {
        if let Message::MembershipPublish { op, .. } = m {
            echo(s, 1, op);
        }
    }
    let before = s.membership(&doc).unwrap().clone();
    let joiner = DeviceKey::from_seed([7; 32]);
    // The joiner writes a time before the expiry, whatever the real time.
    let redeem = link
        .secret
        .redeem_op(&before, &joiner, expires - 1)
        .unwrap();
    let stamp = stamper.map(|(seed, at)| {
        OpStamp::sign(
            &DeviceKey::from_seed([seed; 32]),
            &doc,
            2,
            &redeem.hash(),
            at,
        )
    });
    let out = s.handle_message(
        FUZZ_NOW,
        Message::MembershipDeliver {
            doc,
            index: 2,
            op: redeem,
            stamp,
        },
    );
    let after = s.membership(&doc).unwrap().members().len();
    (out.events, before.members().len(), after)
}

#[test]
fn a_join_a_colluding_relay_accepted_after_the_invite_expired_is_refused() {
    let expires = 5_000_000;
    // The relay (key [2; 32]) took the join a minute after the expiry, and
    // says so in its stamp: refused, though the joiner backdated its op.
    let (events, before, after) = join_stamped(expires, Some((2, expires + 60_000)));
    assert_eq!(after, before, "the late joiner is not a member");
    assert!(
        events.iter().any(|e| matches!(
            e,
            SessionEvent::Tampering { what: Tampering::BadMembership(why), .. }
                if why.contains("expired")
        )),
        "{events:?}"
    );
    // No stamp, or a stamp by another key: refused too.
    for stamper in [None, Some((3, expires - 10))] {
        let (events, before, after) = join_stamped(expires, stamper);
        assert_eq!(after, before, "{stamper:?}");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, SessionEvent::Tampering { .. })),
            "{stamper:?}: {events:?}"
        );
    }
    // Stamped in time: the join counts.
    let (events, before, after) = join_stamped(expires, Some((2, expires - 10)));
    assert_eq!(after, before + 1, "{events:?}");
}

fn deleted_by(w: &World, p: usize) -> Option<DeviceId> {
    w.peers[p].events.iter().find_map(|e| match e {
        SessionEvent::Deleted { by, .. } => Some(*by),
        _ => None,
    })
}

#[test]
fn an_owners_deletion_reaches_every_member_even_one_offline_at_the_time() {
    let mut w = World::new(21, &["client", "worker", "carer"]);
    let doc = w.setup();
    w.write(1, &items("note", 3));
    w.run_until_quiet();
    // The carer is away while the owner deletes the journal.
    w.set_online(2, false);
    let out = w.peers[0].session.delete_doc(w.now, doc).unwrap();
    w.output(0, out);
    w.run_until_quiet();
    let owner = w.id(0);
    assert_eq!(
        deleted_by(&w, 0),
        Some(owner),
        "the owner hears the relay erased it"
    );
    assert_eq!(deleted_by(&w, 1), Some(owner));
    assert!(
        !w.relay.holds(&doc),
        "the relay keeps nothing but the tombstone"
    );
    assert!(w.peers[0].session.membership(&doc).is_none());
    assert!(w.peers[1].session.membership(&doc).is_none());
    // The carer comes back and learns it on its next connection.
    w.set_online(2, true);
    w.run_for(60_000);
    w.run_until_quiet();
    assert_eq!(deleted_by(&w, 2), Some(owner));
    assert!(w.peers[2].session.membership(&doc).is_none());
}

#[test]
fn a_deletion_not_signed_by_an_owner_erases_nothing() {
    let mut w = World::new(22, &["client", "worker"]);
    let doc = w.setup();
    w.run_until_quiet();
    // A relay (or anyone) forwarding a delete op the worker signed: it
    // verifies as the worker's, but the worker does not own the journal.
    let state = w.peers[1].session.membership(&doc).unwrap().clone();
    let worker = w.peers[1].key.clone();
    let op = state
        .sign_op(
            &worker,
            w.now,
            starling_protocol::membership::OpBody::DeleteDocument,
        )
        .unwrap();
    let relay_key = w.relay_key.clone();
    let stamp = starling_protocol::membership::OpStamp::sign(
        &relay_key,
        &doc,
        state.len(),
        &op.hash(),
        w.now,
    );
    let frame = wire::encode(&Message::Deleted {
        doc,
        index: state.len(),
        op,
        stamp,
    })
    .unwrap();
    let out = w.peers[0].session.handle_frame(w.now, &frame);
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, SessionEvent::Tampering { .. }))
    );
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, SessionEvent::Deleted { .. }))
    );
    assert!(w.peers[0].session.membership(&doc).is_some());
}

#[test]
fn a_member_who_leaves_hears_it_confirmed_and_the_others_see_them_gone() {
    let mut w = World::new(23, &["client", "worker", "carer"]);
    let doc = w.setup();
    w.run_until_quiet();
    let carer = w.id(2);
    let out = w.peers[2].session.leave(w.now, doc).unwrap();
    w.output(2, out);
    w.run_until_quiet();
    assert!(
        w.peers[2]
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::Left { doc: d } if *d == doc))
    );
    assert!(w.peers[2].session.membership(&doc).is_none());
    for p in [0, 1] {
        let m = w.peers[p].session.membership(&doc).unwrap();
        assert_eq!(
            m.role(&carer),
            None,
            "{} still lists the carer",
            w.peers[p].name
        );
    }
    // The one owner cannot leave.
    assert!(w.peers[0].session.leave(w.now, doc).is_err());
}

#[test]
fn a_member_gets_the_relays_signed_access_log_and_a_forged_one_is_refused() {
    let mut w = World::new(24, &["client", "worker"]);
    let doc = w.setup();
    w.write(1, &items("note", 2));
    w.run_until_quiet();
    let out = w.peers[0].session.request_access_log(doc);
    w.output(0, out);
    w.run_until_quiet();
    let log = w.peers[0].events.iter().find_map(|e| match e {
        SessionEvent::AccessLog { doc: d, log, .. } if *d == doc => Some(log.clone()),
        _ => None,
    });
    let log = log.expect("the relay answered");
    assert_eq!(log.stored.envelopes, 1, "one envelope of two notes");
    // The same log signed by another key, or about another document, is
    // refused as tampering.
    let forger = starling_protocol::DeviceKey::from_seed([77; 32]);
    for (signer, about) in [
        (&forger, doc),
        (
            &w.relay_key.clone(),
            starling_protocol::DocId::from_bytes([9; 16]),
        ),
    ] {
        let mut forged = log.clone();
        forged.doc = about;
        let frame = wire::encode(&Message::AccessLog {
            doc,
            log: wire::SignedAccessLog::sign(signer, &forged),
        })
        .unwrap();
        let out = w.peers[0].session.handle_frame(w.now, &frame);
        assert!(
            matches!(
                &out.events[..],
                [SessionEvent::Tampering {
                    what: Tampering::BadAccessLog(_),
                    ..
                }]
            ),
            "{:?}",
            out.events
        );
    }
}

/// The client's phone (peer 0) links a laptop (peer 2).
fn client_with_laptop(seed: u64) -> (World, usize) {
    let mut w = World::new(seed, &["phone", "worker"]);
    w.setup();
    w.write(0, &items("before-laptop", 2));
    w.run_until_quiet();
    let laptop = w.add_peer("laptop");
    let secret = starling_protocol::invite::InviteSecret::from_bytes([9; 32]);
    w.link(0, laptop, &secret, w.now + 600_000);
    (w, laptop)
}

#[test]
fn a_person_edits_from_two_devices_offline_and_both_count_as_the_client() {
    let (mut w, laptop) = client_with_laptop(31);
    let doc = w.doc.unwrap();
    assert!(
        w.peers[laptop].set.contains("before-laptop-1"),
        "history arrives"
    );
    for p in [0, 1, laptop] {
        let m = w.peers[p].session.membership(&doc).unwrap();
        let phone = &m.members()[&w.id(0)];
        let second = &m.members()[&w.id(laptop)];
        assert_eq!(second.perspective, "client");
        assert_eq!(second.role, phone.role);
        assert_eq!(second.person, w.id(0));
    }
    w.set_online(0, false);
    w.set_online(laptop, false);
    w.write(0, &items("phone-offline", 2));
    w.write(laptop, &items("laptop-offline", 2));
    w.write(1, &items("worker", 1));
    w.run_for(5_000);
    w.set_online(0, true);
    w.set_online(laptop, true);
    w.run_until_quiet();
    w.assert_converged(&[0, 1, laptop]);
    for p in [0, 1, laptop] {
        assert!(w.tampering(p).is_empty(), "{}", w.peers[p].name);
    }
}

#[test]
fn a_removed_lost_device_reads_nothing_written_after_its_removal() {
    let (mut w, laptop) = client_with_laptop(32);
    let doc = w.doc.unwrap();
    // The phone is lost: the laptop removes it and the key rotates.
    w.set_online(0, false);
    let phone = w.id(0);
    let out = w.peers[laptop]
        .session
        .remove_device(w.now, doc, phone, &mut w.rng)
        .unwrap();
    w.output(laptop, out);
    w.run_until_quiet();
    w.write(1, &items("after-worker", 1));
    w.write(laptop, &items("after-laptop", 1));
    w.run_until_quiet();
    assert!(
        w.peers[1]
            .session
            .membership(&doc)
            .unwrap()
            .role(&phone)
            .is_none()
    );
    // Whoever finds the phone and connects it gets nothing new, and even
    // the relay leaking every stored envelope to it gives nothing readable.
    w.set_online(0, true);
    w.run_until_quiet();
    assert!(!w.peers[0].set.iter().any(|s| s.starts_with("after")));
    let before = w.peers[0].set.clone();
    for (doc_seq, envelope) in w.relay.stored(&doc) {
        let frame = wire::encode(&Message::Deliver {
            doc,
            doc_seq,
            envelope,
        })
        .unwrap();
        let out = w.peers[0].session.handle_frame(w.now, &frame);
        assert!(
            !out.events
                .iter()
                .any(|e| matches!(e, SessionEvent::Apply { .. }))
        );
    }
    assert_eq!(w.peers[0].set, before);
    w.assert_converged(&[1, laptop]);
}

#[test]
fn a_device_link_works_once_and_not_after_it_expires() {
    let (mut w, laptop) = client_with_laptop(33);
    let doc = w.doc.unwrap();
    // A second device with the same link finds nothing left to redeem.
    let thief = w.add_peer("thief");
    let secret = starling_protocol::invite::InviteSecret::from_bytes([9; 32]);
    w.find(thief, &secret);
    assert!(
        w.peers[thief]
            .session
            .membership(&doc)
            .is_none_or(|m| m.role(&w.id(thief)).is_none())
    );
    assert!(w.peers[thief].set.is_empty());
    // An expired link finds nothing either.
    let late = starling_protocol::invite::InviteSecret::from_bytes([10; 32]);
    let expires = w.now + 1_000;
    let out = w.peers[laptop]
        .session
        .create_device_invite(w.now, doc, late.id(), expires, &mut w.rng)
        .unwrap();
    w.output(laptop, out);
    w.run_until_quiet();
    w.now += 5_000;
    let tablet = w.add_peer("tablet");
    w.find(tablet, &late);
    let found = w.peers[tablet].events.iter().find_map(|e| match e {
        SessionEvent::InviteDocs { docs, .. } => Some(docs.clone()),
        _ => None,
    });
    assert_eq!(found, Some(Vec::new()));
    assert!(w.peers[tablet].set.is_empty());
}

#[test]
fn a_person_who_leaves_from_one_device_leaves_from_all() {
    let (mut w, laptop) = client_with_laptop(34);
    let doc = w.doc.unwrap();
    // The worker owns nothing here; make the worker an owner so the client
    // person may leave.
    let worker = w.id(1);
    let out = w.peers[0]
        .session
        .change_role(
            w.now,
            doc,
            worker,
            starling_protocol::membership::Role::Owner,
        )
        .unwrap();
    w.output(0, out);
    w.run_until_quiet();
    let out = w.peers[laptop].session.leave(w.now, doc).unwrap();
    w.output(laptop, out);
    w.run_until_quiet();
    for p in [0, laptop] {
        assert!(
            w.peers[p]
                .events
                .iter()
                .any(|e| matches!(e, SessionEvent::Left { doc: d } if *d == doc)),
            "{} erases its copy",
            w.peers[p].name
        );
        assert!(w.peers[p].session.membership(&doc).is_none());
    }
    let m = w.peers[1].session.membership(&doc).unwrap();
    assert_eq!(m.members().len(), 1, "only the worker is left");
}
