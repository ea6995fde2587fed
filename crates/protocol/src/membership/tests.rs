#![allow(clippy::unwrap_used)]

use super::*;
use crate::invite::InviteSecret;
use crate::testing::SeededRng;
use crate::{DeviceKey, DocId, Epoch, EpochKey};

struct World {
    doc: DocId,
    owner: DeviceKey,
    worker: DeviceKey,
    carer: DeviceKey,
    ops: Vec<MembershipOp>,
    state: MembershipState,
}

fn world() -> World {
    let doc = DocId::from_bytes([1; 16]);
    let owner = DeviceKey::from_seed([10; 32]);
    let worker = DeviceKey::from_seed([11; 32]);
    let carer = DeviceKey::from_seed([12; 32]);
    let g = MembershipState::genesis(doc, &owner, "client", None, 1).unwrap();
    let mut state = MembershipState::verify_chain(doc, std::slice::from_ref(&g)).unwrap();
    let add = state
        .sign_op(
            &owner,
            2,
            OpBody::AddMember {
                device: worker.device_id(),
                role: Role::Editor,
                perspective: "worker".into(),
            },
        )
        .unwrap();
    state.apply(&add).unwrap();
    World {
        doc,
        owner,
        worker,
        carer,
        ops: vec![g, add],
        state,
    }
}

impl World {
    fn push(&mut self, op: MembershipOp) -> Result<(), MembershipError> {
        self.state.apply(&op)?;
        self.ops.push(op);
        Ok(())
    }
}

#[test]
fn genesis_and_add() {
    let w = world();
    assert_eq!(w.state.role(&w.owner.device_id()), Some(Role::Owner));
    assert_eq!(w.state.role(&w.worker.device_id()), Some(Role::Editor));
    assert!(w.state.can_write(&w.worker.device_id()));
    assert_eq!(w.state.role(&w.carer.device_id()), None);
    let again = MembershipState::verify_chain(w.doc, &w.ops).unwrap();
    assert_eq!(again.head(), w.state.head());
    assert_eq!(again.len(), 2);
}

#[test]
fn only_owners_administer() {
    let mut w = world();
    let op = w
        .state
        .sign_op(
            &w.worker,
            3,
            OpBody::AddMember {
                device: w.carer.device_id(),
                role: Role::Viewer,
                perspective: "carer".into(),
            },
        )
        .unwrap();
    assert_eq!(w.push(op).unwrap_err(), MembershipError::Unauthorised);
    let op = w
        .state
        .sign_op(
            &w.owner,
            3,
            OpBody::RemoveMember {
                device: w.owner.device_id(),
            },
        )
        .unwrap();
    assert!(matches!(
        w.push(op).unwrap_err(),
        MembershipError::Invalid(_)
    ));
}

#[test]
fn links_and_signatures_are_checked() {
    let w = world();
    let mut ops = w.ops.clone();
    ops.swap(0, 1);
    assert!(MembershipState::verify_chain(w.doc, &ops).is_err());
    assert!(MembershipState::verify_chain(DocId::from_bytes([2; 16]), &w.ops).is_err());
    assert_eq!(
        MembershipState::verify_chain(w.doc, &[]).unwrap_err(),
        MembershipError::Genesis
    );
    // Flip each byte of the second op: it must fail to decode or to verify.
    let bytes = w.ops[1].to_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        if let Ok(op) = MembershipOp::from_bytes(&b)
            && op != w.ops[1]
        {
            let r = MembershipState::verify_chain(w.doc, &[w.ops[0].clone(), op]);
            assert!(r.is_err(), "flipped byte {i} accepted");
        }
    }
}

#[test]
fn rotation_excludes_removed_member_and_chains_keys() {
    let mut w = world();
    let mut rng = SeededRng::new(7);
    let k0 = EpochKey::from_bytes([5; 32]);
    let (ops, k1) = w
        .state
        .remove_and_rotate(&w.owner, 3, w.worker.device_id(), &k0, &mut rng)
        .unwrap();
    for op in ops {
        w.push(op).unwrap();
    }
    assert_eq!(w.state.epoch(), Epoch(1));
    assert_eq!(w.state.role(&w.worker.device_id()), None);
    assert_eq!(w.state.unwrap_epoch_key(Epoch(1), &w.owner).unwrap(), k1);
    assert!(w.state.unwrap_epoch_key(Epoch(1), &w.worker).is_err());
    let hist = w.state.history_keys(Epoch(1), k1.clone());
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[1], (Epoch(0), k0));
    // A rotation that still wraps for the removed device is refused.
    let bad = w
        .state
        .rotate(&w.owner, 4, &k1, &EpochKey::from_bytes([6; 32]), &mut rng)
        .unwrap();
    let mut tampered = bad.content().clone();
    if let OpBody::RotateEpoch(r) = &mut tampered.body {
        r.epoch = Epoch(5);
    }
    let op = MembershipOp::sign(tampered, &w.owner).unwrap();
    assert!(w.state.clone().apply(&op).is_err());
    let chain = MembershipState::verify_chain(w.doc, &w.ops).unwrap();
    assert_eq!(chain.epoch(), Epoch(1));
}

#[test]
fn invite_lifecycle() {
    let mut w = world();
    let mut rng = SeededRng::new(9);
    let secret = InviteSecret::generate(&mut rng);
    let op = secret
        .create_op(&w.state, &w.owner, 3, Role::Viewer, "carer", 1_000)
        .unwrap();
    w.push(op).unwrap();
    // Someone else cannot reuse the carer's proof.
    let redeem = secret.redeem_op(&w.state, &w.carer, 500).unwrap();
    let mut stolen = redeem.content().clone();
    let thief = DeviceKey::from_seed([66; 32]);
    stolen.author = thief.device_id();
    let stolen = MembershipOp::sign(stolen, &thief).unwrap();
    assert!(matches!(
        w.state.clone().apply(&stolen).unwrap_err(),
        MembershipError::Invite(_)
    ));
    // Expired.
    let late = secret.redeem_op(&w.state, &w.carer, 1_001).unwrap();
    assert!(matches!(
        w.state.clone().apply(&late).unwrap_err(),
        MembershipError::Invite(_)
    ));
    w.push(redeem).unwrap();
    assert_eq!(w.state.role(&w.carer.device_id()), Some(Role::Viewer));
    assert_eq!(w.state.members()[&w.carer.device_id()].perspective, "carer");
    // Single use.
    let again = secret.redeem_op(&w.state, &thief, 600).unwrap();
    assert!(w.state.clone().apply(&again).is_err());
    // Revoked invites cannot be redeemed.
    let s2 = InviteSecret::generate(&mut rng);
    w.push(
        s2.create_op(&w.state, &w.owner, 4, Role::Editor, "peer", 10_000)
            .unwrap(),
    )
    .unwrap();
    w.push(
        w.state
            .sign_op(&w.owner, 5, OpBody::RevokeInvite { invite: s2.id() })
            .unwrap(),
    )
    .unwrap();
    let r = s2.redeem_op(&w.state, &thief, 6).unwrap();
    assert_eq!(
        w.state.clone().apply(&r).unwrap_err(),
        MembershipError::Invite("invite revoked")
    );
    MembershipState::verify_chain(w.doc, &w.ops).unwrap();
}

#[test]
fn op_bytes_round_trip() {
    let w = world();
    for op in &w.ops {
        assert_eq!(&MembershipOp::from_bytes(&op.to_bytes()).unwrap(), op);
    }
}

#[test]
fn a_member_may_leave_but_not_remove_others_and_the_last_owner_stays() {
    let mut w = world();
    let carer = w.carer.device_id();
    let add = OpBody::AddMember {
        device: carer,
        role: Role::Viewer,
        perspective: "carer".into(),
    };
    w.push(w.state.sign_op(&w.owner, 3, add).unwrap()).unwrap();
    // The worker may not remove the carer...
    let remove_carer = OpBody::RemoveMember { device: carer };
    let op = w.state.sign_op(&w.worker, 4, remove_carer).unwrap();
    assert_eq!(w.push(op), Err(MembershipError::Unauthorised));
    // ...but may remove itself.
    let me = w.worker.device_id();
    let leave = OpBody::RemoveMember { device: me };
    w.push(w.state.sign_op(&w.worker, 4, leave).unwrap())
        .unwrap();
    assert_eq!(w.state.role(&me), None);
    // The only owner cannot leave: the document would have nobody to run it.
    let owner = w.owner.device_id();
    let leave = OpBody::RemoveMember { device: owner };
    let op = w.state.sign_op(&w.owner, 5, leave).unwrap();
    assert!(matches!(w.push(op), Err(MembershipError::Invalid(_))));
    assert_eq!(w.state.role(&owner), Some(Role::Owner));
}

#[test]
fn only_an_owner_deletes_and_nothing_follows_a_deletion() {
    let mut w = world();
    let op = w
        .state
        .sign_op(&w.worker, 3, OpBody::DeleteDocument)
        .unwrap();
    assert_eq!(w.push(op), Err(MembershipError::Unauthorised));
    assert!(!w.state.is_deleted());
    let op = w
        .state
        .sign_op(&w.owner, 3, OpBody::DeleteDocument)
        .unwrap();
    w.push(op).unwrap();
    assert!(w.state.is_deleted());
    // Nobody writes to a deleted document, and no op follows the deletion.
    assert!(!w.state.can_write(&w.owner.device_id()));
    assert!(!w.state.can_write(&w.worker.device_id()));
    let again = OpBody::ChangeRole {
        device: w.worker.device_id(),
        role: Role::Viewer,
    };
    let op = w.state.sign_op(&w.owner, 4, again).unwrap();
    assert!(matches!(w.push(op), Err(MembershipError::Invalid(_))));
    // The whole log replays to the same deleted state.
    let replayed = MembershipState::verify_chain(w.doc, &w.ops).unwrap();
    assert!(replayed.is_deleted());
}

/// The client (the owner) links a second device through a device invite.
fn linked(w: &mut World, rng: &mut SeededRng, k0: &EpochKey) -> (DeviceKey, InviteSecret) {
    let laptop = DeviceKey::from_seed([20; 32]);
    let secret = InviteSecret::from_bytes([21; 32]);
    let op = w
        .state
        .device_invite(&w.owner, 3, secret.id(), 100, k0, rng)
        .unwrap();
    w.push(op).unwrap();
    assert_eq!(
        w.state.unwrap_grant(&secret.invite_key()).unwrap(),
        (Epoch(0), k0.clone())
    );
    let redeem = secret.redeem_op(&w.state, &laptop, 4).unwrap();
    w.push(redeem).unwrap();
    (laptop, secret)
}

#[test]
fn a_linked_device_is_the_same_person_with_the_same_role_and_perspective() {
    let mut w = world();
    let mut rng = SeededRng::new(3);
    let k0 = EpochKey::from_bytes([5; 32]);
    let (laptop, _) = linked(&mut w, &mut rng, &k0);
    let owner = w.state.members()[&w.owner.device_id()].clone();
    let second = w.state.members()[&laptop.device_id()].clone();
    assert_eq!(second, owner);
    assert_eq!(second.person, w.owner.device_id());
    assert_eq!(w.state.role(&laptop.device_id()), Some(Role::Owner));
    assert_eq!(w.state.devices_of(&w.owner.device_id()), {
        let mut v = vec![w.owner.device_id(), laptop.device_id()];
        v.sort();
        v
    });
    // Two devices, one owning person: the laptop may administer, and the
    // person is still the last owner.
    let op = w
        .state
        .sign_op(
            &laptop,
            5,
            OpBody::RemoveMember {
                device: w.owner.device_id(),
            },
        )
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&op),
        Err(MembershipError::Invalid("cannot remove the last owner"))
    );
    // A worker cannot make a device invite for the client's person, nor
    // for their own with another perspective.
    let secret = InviteSecret::from_bytes([30; 32]);
    let op = w
        .state
        .device_invite(&w.worker, 6, secret.id(), 100, &k0, &mut rng)
        .unwrap();
    let mut c = op.content().clone();
    if let OpBody::CreateInvite {
        device: Some(g), ..
    } = &mut c.body
    {
        g.person = w.owner.device_id();
    }
    let forged = MembershipOp::sign(c.clone(), &w.worker).unwrap();
    assert_eq!(
        w.state.clone().apply(&forged),
        Err(MembershipError::Unauthorised)
    );
    if let OpBody::CreateInvite {
        perspective,
        device: Some(g),
        ..
    } = &mut c.body
    {
        g.person = w.worker.device_id();
        *perspective = "client".into();
    }
    let forged = MembershipOp::sign(c, &w.worker).unwrap();
    assert!(w.state.clone().apply(&forged).is_err());
    assert!(w.state.clone().apply(&op).is_ok());
}

#[test]
fn removing_a_lost_device_rotates_past_it_and_keeps_the_person() {
    let mut w = world();
    let mut rng = SeededRng::new(4);
    let k0 = EpochKey::from_bytes([5; 32]);
    let (laptop, _) = linked(&mut w, &mut rng, &k0);
    // A recovery invite stands live for the person: rotations wrap for it.
    let recovery = InviteSecret::from_bytes([40; 32]);
    let op = w
        .state
        .device_invite(&laptop, 5, recovery.id(), u64::MAX, &k0, &mut rng)
        .unwrap();
    w.push(op).unwrap();
    // The laptop removes the lost phone (the first device).
    let (ops, k1) = w
        .state
        .remove_device_and_rotate(&laptop, 6, w.owner.device_id(), &k0, &mut rng)
        .unwrap();
    for op in ops {
        w.push(op).unwrap();
    }
    assert_eq!(w.state.role(&w.owner.device_id()), None);
    assert_eq!(w.state.role(&laptop.device_id()), Some(Role::Owner));
    assert_eq!(
        w.state.person_of(&laptop.device_id()),
        Some(w.owner.device_id())
    );
    assert!(w.state.unwrap_epoch_key(Epoch(1), &w.owner).is_err());
    assert_eq!(w.state.unwrap_epoch_key(Epoch(1), &laptop).unwrap(), k1);
    assert_eq!(
        w.state
            .unwrap_epoch_key(Epoch(1), &recovery.invite_key())
            .unwrap(),
        k1
    );
    // The last device is not removed as a device; the person may leave only
    // if someone else owns.
    let op = w
        .state
        .sign_op(
            &laptop,
            7,
            OpBody::RemoveDevice {
                device: laptop.device_id(),
            },
        )
        .unwrap();
    assert!(w.state.clone().apply(&op).is_err());
    // A worker may not remove the client's device, nor rotate but right
    // after removing one of their own; an owner's rotation must wrap for
    // the recovery invite too.
    let op = w
        .state
        .sign_op(
            &w.worker,
            7,
            OpBody::RemoveDevice {
                device: laptop.device_id(),
            },
        )
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&op),
        Err(MembershipError::Unauthorised)
    );
    let theirs = w
        .state
        .rotate(&w.worker, 8, &k1, &EpochKey::from_bytes([7; 32]), &mut rng)
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&theirs),
        Err(MembershipError::Unauthorised)
    );
    let rotation = w
        .state
        .rotate(&laptop, 8, &k1, &EpochKey::from_bytes([7; 32]), &mut rng)
        .unwrap();
    let OpBody::RotateEpoch(r) = &rotation.content().body else {
        panic!("a rotation")
    };
    assert_eq!(r.wrapped.len(), 3);
    let mut short = rotation.content().clone();
    if let OpBody::RotateEpoch(r) = &mut short.body {
        r.wrapped.retain(|x| x.device != recovery.id());
    }
    let short = MembershipOp::sign(short, &laptop).unwrap();
    assert!(w.state.clone().apply(&short).is_err());
    w.push(rotation).unwrap();
    // Recovery: a new device redeems the standing invite and reads the
    // newest epoch with the key the rotation wrapped for the invite.
    let fresh = DeviceKey::from_seed([50; 32]);
    let redeem = recovery.redeem_op(&w.state, &fresh, 9).unwrap();
    w.push(redeem).unwrap();
    assert_eq!(w.state.role(&fresh.device_id()), Some(Role::Owner));
    assert_eq!(
        w.state.person_of(&fresh.device_id()),
        Some(w.owner.device_id())
    );
    let chain = MembershipState::verify_chain(w.doc, &w.ops).unwrap();
    assert_eq!(chain.members(), w.state.members());
}

#[test]
fn leaving_takes_every_device_of_the_person_and_an_owner_removes_a_person() {
    let mut w = world();
    let mut rng = SeededRng::new(5);
    let k0 = EpochKey::from_bytes([5; 32]);
    let phone = DeviceKey::from_seed([60; 32]);
    let secret = InviteSecret::from_bytes([61; 32]);
    let op = w
        .state
        .device_invite(&w.worker, 3, secret.id(), 100, &k0, &mut rng)
        .unwrap();
    w.push(op).unwrap();
    w.push(secret.redeem_op(&w.state, &phone, 4).unwrap())
        .unwrap();
    assert_eq!(w.state.role(&phone.device_id()), Some(Role::Editor));
    assert_eq!(w.state.members()[&phone.device_id()].perspective, "worker");
    // Re-roling the worker re-roles both devices.
    let op = w
        .state
        .sign_op(
            &w.owner,
            5,
            OpBody::ChangeRole {
                device: phone.device_id(),
                role: Role::Viewer,
            },
        )
        .unwrap();
    w.push(op).unwrap();
    assert_eq!(w.state.role(&w.worker.device_id()), Some(Role::Viewer));
    let mut gone = w.state.clone();
    let leave = gone
        .sign_op(
            &phone,
            6,
            OpBody::RemoveMember {
                device: phone.device_id(),
            },
        )
        .unwrap();
    gone.apply(&leave).unwrap();
    assert_eq!(gone.role(&w.worker.device_id()), None);
    assert_eq!(gone.role(&phone.device_id()), None);
    let remove = w
        .state
        .sign_op(
            &w.owner,
            6,
            OpBody::RemoveMember {
                device: w.worker.device_id(),
            },
        )
        .unwrap();
    w.push(remove).unwrap();
    assert_eq!(w.state.members().len(), 1);
}

#[test]
fn a_removed_device_stays_its_persons() {
    let mut w = world();
    let mut rng = SeededRng::new(6);
    let k0 = EpochKey::from_bytes([5; 32]);
    let (laptop, _) = linked(&mut w, &mut rng, &k0);
    let (ops, _) = w
        .state
        .remove_device_and_rotate(&w.owner, 6, laptop.device_id(), &k0, &mut rng)
        .unwrap();
    for op in ops {
        w.push(op).unwrap();
    }
    let persons = w.state.persons();
    assert_eq!(persons[&laptop.device_id()], w.owner.device_id());
    assert_eq!(persons[&w.worker.device_id()], w.worker.device_id());
    assert_eq!(persons.len(), 3);
}

#[test]
fn what_persons_added_is_version_2_and_the_rest_stays_version_1() {
    let mut w = world();
    let mut rng = SeededRng::new(8);
    let k0 = EpochKey::from_bytes([5; 32]);
    assert!(w.ops.iter().all(|op| op.content().version == 1));
    let secret = InviteSecret::from_bytes([70; 32]);
    let op = w
        .state
        .device_invite(&w.owner, 3, secret.id(), 100, &k0, &mut rng)
        .unwrap();
    assert_eq!(op.content().version, 2);
    // Written as version 1, older software would misread it: refused.
    let mut v1 = op.content().clone();
    v1.version = 1;
    assert_eq!(
        MembershipOp::sign(v1, &w.owner).unwrap_err(),
        MembershipError::Version(1)
    );
    w.push(op).unwrap();
    // A rotation that wraps for the live device invite is version 2 too.
    let r = w
        .state
        .rotate(&w.owner, 4, &k0, &EpochKey::from_bytes([6; 32]), &mut rng)
        .unwrap();
    assert_eq!(r.content().version, 2);
    let mut v1 = r.content().clone();
    v1.version = 1;
    let v1 = MembershipOp::sign(v1, &w.owner).unwrap();
    assert_eq!(w.state.clone().apply(&v1), Err(MembershipError::Version(1)));
    w.push(r).unwrap();
}

#[test]
fn a_removed_persons_and_a_removed_devices_invites_get_no_later_key() {
    let mut w = world();
    let mut rng = SeededRng::new(9);
    let k0 = EpochKey::from_bytes([5; 32]);
    // The worker keeps a device link of their own, then is removed.
    let kept = InviteSecret::from_bytes([80; 32]);
    let op = w
        .state
        .device_invite(&w.worker, 3, kept.id(), 10_000, &k0, &mut rng)
        .unwrap();
    w.push(op).unwrap();
    let (ops, k1) = w
        .state
        .remove_and_rotate(&w.owner, 4, w.worker.device_id(), &k0, &mut rng)
        .unwrap();
    for op in ops {
        w.push(op).unwrap();
    }
    assert_eq!(w.state.invites()[&kept.id()].status, InviteStatus::Revoked);
    assert!(
        w.state
            .unwrap_epoch_key(Epoch(1), &kept.invite_key())
            .is_err()
    );
    // A lost device's link goes with it; the person's recovery invite stays.
    let (laptop, _) = {
        let laptop = DeviceKey::from_seed([81; 32]);
        let s = InviteSecret::from_bytes([82; 32]);
        let op = w
            .state
            .device_invite(&w.owner, 5, s.id(), 10_000, &k1, &mut rng)
            .unwrap();
        w.push(op).unwrap();
        w.push(s.redeem_op(&w.state, &laptop, 6).unwrap()).unwrap();
        (laptop, s)
    };
    let link = InviteSecret::from_bytes([83; 32]);
    let recovery = InviteSecret::from_bytes([84; 32]);
    for (s, expires) in [(&link, 10_000), (&recovery, u64::MAX)] {
        let op = w
            .state
            .device_invite(&laptop, 7, s.id(), expires, &k1, &mut rng)
            .unwrap();
        w.push(op).unwrap();
    }
    let (ops, k2) = w
        .state
        .remove_device_and_rotate(&w.owner, 8, laptop.device_id(), &k1, &mut rng)
        .unwrap();
    for op in ops {
        w.push(op).unwrap();
    }
    assert!(
        w.state
            .unwrap_epoch_key(Epoch(2), &link.invite_key())
            .is_err()
    );
    // Its recovery invite too: whoever holds the device may have kept the
    // code, so the person draws a new one.
    assert!(
        w.state
            .unwrap_epoch_key(Epoch(2), &recovery.invite_key())
            .is_err()
    );
    let _ = k2;
    let chain = MembershipState::verify_chain(w.doc, &w.ops).unwrap();
    assert_eq!(chain.invites(), w.state.invites());
}

#[test]
fn a_device_keeps_its_person_and_device_invites_are_few() {
    let mut w = world();
    let mut rng = SeededRng::new(12);
    let k0 = EpochKey::from_bytes([5; 32]);
    let (laptop, _) = linked(&mut w, &mut rng, &k0);
    // The laptop is removed from the client, then a worker's device link
    // would take it in as the worker's: refused, what it wrote stays the
    // client's.
    let (ops, k1) = w
        .state
        .remove_device_and_rotate(&w.owner, 5, laptop.device_id(), &k0, &mut rng)
        .unwrap();
    for op in ops {
        w.push(op).unwrap();
    }
    let s = InviteSecret::from_bytes([90; 32]);
    let op = w
        .state
        .device_invite(&w.worker, 6, s.id(), 1000, &k1, &mut rng)
        .unwrap();
    w.push(op).unwrap();
    let redeem = s.redeem_op(&w.state, &laptop, 7).unwrap();
    assert!(w.state.clone().apply(&redeem).is_err());
    // A person holds at most a few live device invites at once.
    for i in 0..3u8 {
        let s = InviteSecret::from_bytes([91 + i; 32]);
        let op = w
            .state
            .device_invite(&w.worker, 8, s.id(), 1000, &k1, &mut rng)
            .unwrap();
        w.push(op).unwrap();
    }
    let s = InviteSecret::from_bytes([99; 32]);
    let op = w
        .state
        .device_invite(&w.worker, 9, s.id(), 1000, &k1, &mut rng)
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&op),
        Err(MembershipError::TooLarge("live device invites"))
    );
}
