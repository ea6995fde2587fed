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
    let g = MembershipState::genesis(doc, &owner, "client", 1).unwrap();
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
