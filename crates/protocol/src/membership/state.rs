//! Replaying the membership log into the current membership.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRngCore;

use super::op::{InviteId, MembershipOp, OpBody, OpContent, OpHash, RotateEpoch};
use super::{MAX_MEMBERS, MAX_OPS, MEMBERSHIP_VERSION, MembershipError, Role, wrap};
use crate::domain;
use crate::ids::{DeviceId, DocId, Epoch};
use crate::keys::{DeviceKey, EpochKey, Signature};

/// A current member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Access role.
    pub role: Role,
    /// Perspective label ("client", "worker", ...).
    pub perspective: String,
}

/// Where an invite stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// DeviceId carries its decoded key; there are few invites.
#[allow(clippy::large_enum_variant)]
pub enum InviteStatus {
    /// Redeemable until it expires.
    Live,
    /// Redeemed by this device.
    Used(DeviceId),
    /// Withdrawn by an owner.
    Revoked,
}

/// A registered invite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// Role granted.
    pub role: Role,
    /// Perspective granted.
    pub perspective: String,
    /// Unix milliseconds after which it cannot be redeemed.
    pub expires_at: u64,
    /// Live, used or revoked.
    pub status: InviteStatus,
}

/// The membership of one document, as of the log's head.
#[derive(Clone, Debug)]
pub struct MembershipState {
    doc: DocId,
    members: BTreeMap<DeviceId, Member>,
    invites: BTreeMap<InviteId, Invite>,
    epoch: Epoch,
    rotations: BTreeMap<Epoch, RotateEpoch>,
    /// Every device that held a write role at some point of each epoch.
    writers: BTreeMap<Epoch, BTreeSet<DeviceId>>,
    head: OpHash,
    len: u64,
    /// Whether the log ends with the owner's [`OpBody::DeleteDocument`].
    deleted: bool,
}

/// The bytes an invite key signs to redeem.
pub(crate) fn redeem_message(doc: &DocId, invite: &InviteId, joiner: &DeviceId) -> Vec<u8> {
    [
        doc.as_bytes().as_slice(),
        invite.as_bytes(),
        joiner.as_bytes(),
    ]
    .concat()
}

impl MembershipState {
    /// Replays a whole log from its genesis, checking every op.
    pub fn verify_chain(doc: DocId, ops: &[MembershipOp]) -> Result<Self, MembershipError> {
        if ops.len() > MAX_OPS {
            return Err(MembershipError::TooLarge("log"));
        }
        let mut state = Self::empty(doc);
        for op in ops {
            state.apply(op)?;
        }
        if state.len == 0 {
            return Err(MembershipError::Genesis);
        }
        Ok(state)
    }

    fn empty(doc: DocId) -> Self {
        Self {
            doc,
            members: BTreeMap::new(),
            invites: BTreeMap::new(),
            epoch: Epoch(0),
            rotations: BTreeMap::new(),
            writers: BTreeMap::new(),
            head: OpHash::ZERO,
            len: 0,
            deleted: false,
        }
    }

    /// Signs a genesis op making `owner` the owner of `doc`.
    pub fn genesis(
        doc: DocId,
        owner: &DeviceKey,
        perspective: &str,
        now: u64,
    ) -> Result<MembershipOp, MembershipError> {
        Self::empty(doc).sign_op(
            owner,
            now,
            OpBody::Genesis {
                perspective: perspective.into(),
            },
        )
    }

    /// Signs `body` as the next op after the current head.
    pub fn sign_op(
        &self,
        author: &DeviceKey,
        now: u64,
        body: OpBody,
    ) -> Result<MembershipOp, MembershipError> {
        MembershipOp::sign(
            OpContent {
                version: MEMBERSHIP_VERSION,
                doc: self.doc,
                index: self.len,
                prev: self.head,
                author: author.device_id(),
                at: now,
                body,
            },
            author,
        )
    }

    /// Signs a rotation to the next epoch, wrapping `new_key` for every
    /// current member and carrying `current_key`.
    pub fn rotate(
        &self,
        author: &DeviceKey,
        now: u64,
        current_key: &EpochKey,
        new_key: &EpochKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<MembershipOp, MembershipError> {
        let members: Vec<DeviceId> = self.members.keys().copied().collect();
        let r = wrap::build_rotation(
            &self.doc,
            self.epoch.next(),
            new_key,
            current_key,
            &members,
            rng,
        )?;
        self.sign_op(author, now, OpBody::RotateEpoch(r))
    }

    /// Removes `device` and rotates to a fresh key the removed device never
    /// sees: two ops, to publish in order. Returns them with the new key.
    pub fn remove_and_rotate(
        &self,
        author: &DeviceKey,
        now: u64,
        device: DeviceId,
        current_key: &EpochKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Vec<MembershipOp>, EpochKey), MembershipError> {
        let remove = self.sign_op(author, now, OpBody::RemoveMember { device })?;
        let mut next = self.clone();
        next.apply(&remove)?;
        let new_key = EpochKey::generate(rng);
        let rotate = next.rotate(author, now, current_key, &new_key, rng)?;
        Ok((vec![remove, rotate], new_key))
    }

    /// Checks `op` against the current state and applies it.
    pub fn apply(&mut self, op: &MembershipOp) -> Result<(), MembershipError> {
        let c = op.content();
        if c.doc != self.doc {
            return Err(MembershipError::WrongDoc);
        }
        if c.index != self.len || c.prev != self.head {
            return Err(MembershipError::BadLink { expected: self.len });
        }
        op.verify_signature()?;
        self.check_and_apply(c)?;
        let epoch = self.epoch;
        let current: Vec<DeviceId> = self
            .members
            .iter()
            .filter(|(_, m)| m.role.can_write())
            .map(|(d, _)| *d)
            .collect();
        self.writers.entry(epoch).or_default().extend(current);
        self.head = op.hash();
        self.len += 1;
        Ok(())
    }

    fn author_role(&self, c: &OpContent) -> Option<Role> {
        self.members.get(&c.author).map(|m| m.role)
    }

    fn require_owner(&self, c: &OpContent) -> Result<(), MembershipError> {
        match self.author_role(c) {
            Some(r) if r.can_admin() => Ok(()),
            _ => Err(MembershipError::Unauthorised),
        }
    }

    fn owners(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.role == Role::Owner)
            .count()
    }

    fn check_and_apply(&mut self, c: &OpContent) -> Result<(), MembershipError> {
        if self.len == 0 {
            let OpBody::Genesis { perspective } = &c.body else {
                return Err(MembershipError::Genesis);
            };
            self.members.insert(
                c.author,
                Member {
                    role: Role::Owner,
                    perspective: perspective.clone(),
                },
            );
            return Ok(());
        }
        if self.deleted {
            return Err(MembershipError::Invalid("the document was deleted"));
        }
        match &c.body {
            OpBody::Genesis { .. } => Err(MembershipError::Genesis),
            OpBody::AddMember {
                device,
                role,
                perspective,
            } => {
                self.require_owner(c)?;
                if self.members.contains_key(device) {
                    return Err(MembershipError::Invalid("already a member"));
                }
                if self.members.len() >= MAX_MEMBERS {
                    return Err(MembershipError::TooLarge("members"));
                }
                self.members.insert(
                    *device,
                    Member {
                        role: *role,
                        perspective: perspective.clone(),
                    },
                );
                Ok(())
            }
            OpBody::RemoveMember { device } => {
                // A member may always leave; removing anyone else is an
                // owner's.
                if c.author != *device {
                    self.require_owner(c)?;
                }
                let m = self
                    .members
                    .get(device)
                    .ok_or(MembershipError::Invalid("not a member"))?;
                if m.role == Role::Owner && self.owners() == 1 {
                    return Err(MembershipError::Invalid("cannot remove the last owner"));
                }
                self.members.remove(device);
                Ok(())
            }
            OpBody::ChangeRole { device, role } => {
                self.require_owner(c)?;
                let owners = self.owners();
                let m = self
                    .members
                    .get_mut(device)
                    .ok_or(MembershipError::Invalid("not a member"))?;
                if m.role == Role::Owner && *role != Role::Owner && owners == 1 {
                    return Err(MembershipError::Invalid("cannot demote the last owner"));
                }
                m.role = *role;
                Ok(())
            }
            OpBody::RotateEpoch(r) => {
                self.require_owner(c)?;
                if r.epoch != self.epoch.next() || r.epoch == self.epoch {
                    return Err(MembershipError::Invalid(
                        "rotation must go to the next epoch",
                    ));
                }
                let mut wrapped: Vec<DeviceId> = r.wrapped.iter().map(|w| w.device).collect();
                wrapped.sort();
                let members: Vec<DeviceId> = self.members.keys().copied().collect();
                if wrapped != members {
                    return Err(MembershipError::Invalid(
                        "rotation must wrap for exactly the members",
                    ));
                }
                self.epoch = r.epoch;
                self.rotations.insert(r.epoch, r.clone());
                Ok(())
            }
            OpBody::CreateInvite {
                invite,
                role,
                perspective,
                expires_at,
            } => {
                self.require_owner(c)?;
                if self.invites.contains_key(invite) {
                    return Err(MembershipError::Invalid("invite already exists"));
                }
                if self.invites.len() >= MAX_OPS {
                    return Err(MembershipError::TooLarge("invites"));
                }
                let inv = Invite {
                    role: *role,
                    perspective: perspective.clone(),
                    expires_at: *expires_at,
                    status: InviteStatus::Live,
                };
                self.invites.insert(*invite, inv);
                Ok(())
            }
            OpBody::RevokeInvite { invite } => {
                self.require_owner(c)?;
                let inv = self
                    .invites
                    .get_mut(invite)
                    .ok_or(MembershipError::Invite("unknown invite"))?;
                if inv.status != InviteStatus::Live {
                    return Err(MembershipError::Invite("invite is not live"));
                }
                inv.status = InviteStatus::Revoked;
                Ok(())
            }
            OpBody::RedeemInvite { invite, proof } => self.redeem(c, invite, proof),
            OpBody::DeleteDocument => {
                self.require_owner(c)?;
                self.deleted = true;
                Ok(())
            }
        }
    }

    fn redeem(
        &mut self,
        c: &OpContent,
        invite: &InviteId,
        proof: &Signature,
    ) -> Result<(), MembershipError> {
        if self.members.contains_key(&c.author) {
            return Err(MembershipError::Invalid("already a member"));
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err(MembershipError::TooLarge("members"));
        }
        let msg = redeem_message(&self.doc, invite, &c.author);
        if !proof.verify(invite, domain::INVITE_REDEEM, &msg) {
            return Err(MembershipError::Invite("bad proof of the invite secret"));
        }
        let inv = self
            .invites
            .get_mut(invite)
            .ok_or(MembershipError::Invite("unknown invite"))?;
        match inv.status {
            InviteStatus::Live => {}
            InviteStatus::Used(_) => return Err(MembershipError::Invite("invite already used")),
            InviteStatus::Revoked => return Err(MembershipError::Invite("invite revoked")),
        }
        if c.at > inv.expires_at {
            return Err(MembershipError::Invite("invite expired"));
        }
        inv.status = InviteStatus::Used(c.author);
        let member = Member {
            role: inv.role,
            perspective: inv.perspective.clone(),
        };
        self.members.insert(c.author, member);
        Ok(())
    }

    /// The document.
    pub fn doc(&self) -> DocId {
        self.doc
    }

    /// `device`'s role, if a member.
    pub fn role(&self, device: &DeviceId) -> Option<Role> {
        self.members.get(device).map(|m| m.role)
    }

    /// Whether `device` may publish envelopes (nobody may, once the
    /// document is deleted).
    pub fn can_write(&self, device: &DeviceId) -> bool {
        !self.deleted && self.role(device).is_some_and(Role::can_write)
    }

    /// Whether the log ends with the owner's [`OpBody::DeleteDocument`].
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Whether `device` held a write role at any point of `epoch`: the rule
    /// for accepting an envelope sealed in that epoch, even if its author
    /// has since lost the role.
    pub fn was_writer(&self, device: &DeviceId, epoch: Epoch) -> bool {
        self.writers.get(&epoch).is_some_and(|w| w.contains(device))
    }

    /// The member's id as stored in the log, with its key already decoded
    /// (for [`crate::Envelope::verify_with`]).
    pub fn member_id(&self, device: &DeviceId) -> Option<DeviceId> {
        self.members.get_key_value(device).map(|(k, _)| *k)
    }

    /// Current members, ordered by device id.
    pub fn members(&self) -> &BTreeMap<DeviceId, Member> {
        &self.members
    }

    /// Registered invites.
    pub fn invites(&self) -> &BTreeMap<InviteId, Invite> {
        &self.invites
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Hash of the last op (the next op's `prev`).
    pub fn head(&self) -> OpHash {
        self.head
    }

    /// Number of ops applied (the next op's index).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before genesis.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Unwraps the key of `epoch` (> 0) with `me`'s device key.
    pub fn unwrap_epoch_key(
        &self,
        epoch: Epoch,
        me: &DeviceKey,
    ) -> Result<EpochKey, MembershipError> {
        let r = self.rotations.get(&epoch).ok_or(MembershipError::Unwrap)?;
        wrap::unwrap_for(&self.doc, r, me)
    }

    /// Given the key of `epoch` (> 0), recovers the key of the epoch before.
    pub fn previous_epoch_key(
        &self,
        epoch: Epoch,
        key: &EpochKey,
    ) -> Result<EpochKey, MembershipError> {
        let r = self.rotations.get(&epoch).ok_or(MembershipError::Unwrap)?;
        wrap::unwrap_previous(&self.doc, r, key)
    }

    /// Walks back from `key` (of `epoch`) to every earlier epoch's key.
    pub fn history_keys(&self, epoch: Epoch, key: EpochKey) -> Vec<(Epoch, EpochKey)> {
        let mut out = vec![(epoch, key)];
        let mut e = epoch;
        while e.0 > 0 {
            let Some((_, k)) = out.last() else { break };
            match self.previous_epoch_key(e, k) {
                Ok(prev) => {
                    e = Epoch(e.0 - 1);
                    out.push((e, prev));
                }
                Err(_) => break,
            }
        }
        out
    }
}
