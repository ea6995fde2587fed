//! Replaying the membership log into the current membership.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::CryptoRngCore;

use super::op::{DeviceGrant, InviteId, MembershipOp, OpBody, OpContent, OpHash, RotateEpoch};
use super::{MAX_MEMBERS, MAX_OPS, MembershipError, Role, wrap};
use crate::domain;
use crate::ids::{DeviceId, DocId, Epoch};
use crate::keys::{DeviceKey, EpochKey, Signature};

/// A current member device. Role and perspective belong to the person, so
/// every device of one person holds the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Access role.
    pub role: Role,
    /// Perspective label ("client", "worker", ...).
    pub perspective: String,
    /// The person this device belongs to: the id of the person's first
    /// device (for a person with one device, the device itself).
    pub person: DeviceId,
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
    /// For a device invite: the person and the wrapped key.
    pub device: Option<DeviceGrant>,
    /// The device that made it.
    pub by: DeviceId,
}

impl Invite {
    /// Whether this invite adds a device to a person, not a new member.
    pub fn is_device_invite(&self) -> bool {
        self.device.is_some()
    }

    /// Whether a rotation must wrap its key for this invite: a device
    /// invite not yet used or revoked (expired or not: what a rotation
    /// wraps for never depends on the time its author claims; devices
    /// revoke their person's expired links).
    fn wants_key(&self) -> bool {
        self.device.is_some() && self.status == InviteStatus::Live
    }
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
    /// Every device that was ever a member, with its person (removed
    /// devices stay: what they wrote is still their person's).
    persons: BTreeMap<DeviceId, DeviceId>,
    /// The person whose device the previous op removed, if it was a
    /// `RemoveDevice` (that person may rotate next).
    last_device_removal: Option<DeviceId>,
    /// Set while applying a `RemoveDevice`, moved to `last_device_removal`.
    removal: Option<DeviceId>,
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
            persons: BTreeMap::new(),
            last_device_removal: None,
            removal: None,
        }
    }

    /// Signs a genesis op making `owner` the owner of `doc`. `person` names
    /// the person `owner` is a device of, when that is not `owner` itself.
    pub fn genesis(
        doc: DocId,
        owner: &DeviceKey,
        perspective: &str,
        person: Option<DeviceId>,
        now: u64,
    ) -> Result<MembershipOp, MembershipError> {
        let person = person.filter(|p| *p != owner.device_id());
        Self::empty(doc).sign_op(
            owner,
            now,
            OpBody::Genesis {
                perspective: perspective.into(),
                person,
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
                version: body.version(),
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
    /// current member and every live device invite, and carrying
    /// `current_key`.
    pub fn rotate(
        &self,
        author: &DeviceKey,
        now: u64,
        current_key: &EpochKey,
        new_key: &EpochKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<MembershipOp, MembershipError> {
        let members = self.key_holders();
        let for_invites = members.len() > self.members.len();
        let r = wrap::build_rotation(
            &self.doc,
            self.epoch.next(),
            new_key,
            current_key,
            &members,
            rng,
        )?;
        let body = OpBody::RotateEpoch(r);
        if !for_invites {
            return self.sign_op(author, now, body);
        }
        // Older software would take the wraps for device invites as a
        // rotation for someone who is not a member.
        MembershipOp::sign(
            OpContent {
                version: super::MEMBERSHIP_VERSION,
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
        self.remove_with(
            author,
            now,
            OpBody::RemoveMember { device },
            current_key,
            rng,
        )
    }

    /// Removes one device of a person (see [`OpBody::RemoveDevice`]) and
    /// rotates, as [`MembershipState::remove_and_rotate`] does.
    pub fn remove_device_and_rotate(
        &self,
        author: &DeviceKey,
        now: u64,
        device: DeviceId,
        current_key: &EpochKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Vec<MembershipOp>, EpochKey), MembershipError> {
        self.remove_with(
            author,
            now,
            OpBody::RemoveDevice { device },
            current_key,
            rng,
        )
    }

    fn remove_with(
        &self,
        author: &DeviceKey,
        now: u64,
        body: OpBody,
        current_key: &EpochKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Vec<MembershipOp>, EpochKey), MembershipError> {
        let remove = self.sign_op(author, now, body)?;
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
        if c.version < super::MEMBERSHIP_VERSION
            && let OpBody::RotateEpoch(r) = &c.body
            && r.wrapped.len() > self.members.len()
        {
            return Err(MembershipError::Version(c.version));
        }
        self.removal = None;
        self.check_and_apply(c)?;
        self.last_device_removal = self.removal.take();
        let added = match &c.body {
            OpBody::Genesis { .. } | OpBody::RedeemInvite { .. } => Some(c.author),
            OpBody::AddMember { device, .. } => Some(*device),
            _ => None,
        };
        if let Some((device, m)) = added.and_then(|d| self.members.get_key_value(&d)) {
            self.persons.entry(*device).or_insert(m.person);
        }
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

    /// Signs a device invite: whoever redeems it with `invite`'s secret
    /// becomes another device of `author`'s person, with the person's role
    /// and perspective, and can read with `key` (the current epoch's).
    pub fn device_invite(
        &self,
        author: &DeviceKey,
        now: u64,
        invite: InviteId,
        expires_at: u64,
        key: &EpochKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<MembershipOp, MembershipError> {
        let me = self
            .members
            .get(&author.device_id())
            .ok_or(MembershipError::Unauthorised)?;
        let grant = wrap::build_grant(&self.doc, me.person, self.epoch, key, &invite, rng)?;
        let body = OpBody::CreateInvite {
            invite,
            role: me.role,
            perspective: me.perspective.clone(),
            expires_at,
            device: Some(Box::new(grant)),
        };
        self.sign_op(author, now, body)
    }

    /// Who a rotation wraps its key for: the members and the live device
    /// invites, ordered by id.
    fn key_holders(&self) -> Vec<DeviceId> {
        let mut out: Vec<DeviceId> = self.members.keys().copied().collect();
        out.extend(
            self.invites
                .iter()
                .filter(|(_, inv)| inv.wants_key())
                .map(|(id, _)| *id),
        );
        out.sort();
        out.dedup();
        out
    }

    fn author_person(&self, c: &OpContent) -> Option<DeviceId> {
        self.members.get(&c.author).map(|m| m.person)
    }

    fn is_person(&self, id: &DeviceId) -> bool {
        self.members.values().any(|m| m.person == *id)
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

    /// How many people own the document.
    fn owners(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.role == Role::Owner)
            .map(|m| m.person)
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn check_and_apply(&mut self, c: &OpContent) -> Result<(), MembershipError> {
        if self.len == 0 {
            let OpBody::Genesis {
                perspective,
                person,
            } = &c.body
            else {
                return Err(MembershipError::Genesis);
            };
            self.members.insert(
                c.author,
                Member {
                    role: Role::Owner,
                    perspective: perspective.clone(),
                    person: person.unwrap_or(c.author),
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
                if self.members.contains_key(device)
                    || self.is_person(device)
                    || self.persons.get(device).is_some_and(|p| p != device)
                {
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
                        person: *device,
                    },
                );
                Ok(())
            }
            OpBody::RemoveMember { device } => {
                let m = self
                    .members
                    .get(device)
                    .ok_or(MembershipError::Invalid("not a member"))?;
                let person = m.person;
                // A person may always leave; removing anyone else is an
                // owner's.
                if self.author_person(c) != Some(person) {
                    self.require_owner(c)?;
                }
                if m.role == Role::Owner && self.owners() == 1 {
                    return Err(MembershipError::Invalid("cannot remove the last owner"));
                }
                self.members.retain(|_, m| m.person != person);
                // Their device invites go with them: a rotation must not
                // wrap the next key for a secret a removed person holds.
                for inv in self.invites.values_mut() {
                    if inv.status == InviteStatus::Live
                        && inv.device.as_ref().is_some_and(|g| g.person == person)
                    {
                        inv.status = InviteStatus::Revoked;
                    }
                }
                Ok(())
            }
            OpBody::RemoveDevice { device } => {
                let m = self
                    .members
                    .get(device)
                    .ok_or(MembershipError::Invalid("not a member"))?;
                let person = m.person;
                if self.author_person(c) != Some(person) {
                    self.require_owner(c)?;
                }
                let devices = self.members.values().filter(|m| m.person == person).count();
                if devices < 2 {
                    return Err(MembershipError::Invalid(
                        "that is the person's last device: remove the member instead",
                    ));
                }
                self.members.remove(device);
                // Every device invite the removed device made goes with it
                // (whoever holds it may hold their secrets), a recovery
                // code's too: the person draws a new one.
                for inv in self.invites.values_mut() {
                    if inv.status == InviteStatus::Live && inv.by == *device && inv.device.is_some()
                    {
                        inv.status = InviteStatus::Revoked;
                    }
                }
                self.removal = Some(person);
                Ok(())
            }
            OpBody::ChangeRole { device, role } => {
                self.require_owner(c)?;
                let owners = self.owners();
                let m = self
                    .members
                    .get(device)
                    .ok_or(MembershipError::Invalid("not a member"))?;
                if m.role == Role::Owner && *role != Role::Owner && owners == 1 {
                    return Err(MembershipError::Invalid("cannot demote the last owner"));
                }
                let person = m.person;
                for m in self.members.values_mut().filter(|m| m.person == person) {
                    m.role = *role;
                }
                Ok(())
            }
            OpBody::RotateEpoch(r) => {
                // Owners rotate; so does a person right after removing one
                // of their own devices (a lost phone), whatever their role.
                let after_own_removal = self.author_person(c).is_some()
                    && self.last_device_removal == self.author_person(c);
                if !after_own_removal {
                    self.require_owner(c)?;
                }
                if r.epoch != self.epoch.next() || r.epoch == self.epoch {
                    return Err(MembershipError::Invalid(
                        "rotation must go to the next epoch",
                    ));
                }
                let mut wrapped: Vec<DeviceId> = r.wrapped.iter().map(|w| w.device).collect();
                wrapped.sort();
                if wrapped != self.key_holders() {
                    return Err(MembershipError::Invalid(
                        "rotation must wrap for exactly the members and live device invites",
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
                device,
            } => {
                if let Some(g) = device {
                    // A device invite: by any device of the person, for the
                    // person's own role and perspective, carrying the key of
                    // the current epoch.
                    let me = self
                        .members
                        .get(&c.author)
                        .ok_or(MembershipError::Unauthorised)?;
                    if me.person != g.person {
                        return Err(MembershipError::Unauthorised);
                    }
                    if me.role != *role || me.perspective != *perspective {
                        return Err(MembershipError::Invalid(
                            "a device invite grants the person's own role and perspective",
                        ));
                    }
                    if g.key.device != *invite || g.epoch != self.epoch {
                        return Err(MembershipError::Invalid(
                            "a device invite wraps the current key for its invite",
                        ));
                    }
                    // Every live one is wrapped for by each rotation: few.
                    let live = self.invites.values().filter(|i| i.wants_key());
                    let (all, mine) = live.fold((0, 0), |(a, m), i| {
                        let ours = i.device.as_ref().is_some_and(|d| d.person == g.person);
                        (a + 1, m + usize::from(ours))
                    });
                    if all >= super::MAX_DEVICE_INVITES
                        || mine >= super::MAX_DEVICE_INVITES_PER_PERSON
                    {
                        return Err(MembershipError::TooLarge("live device invites"));
                    }
                } else {
                    self.require_owner(c)?;
                }
                if self.invites.contains_key(invite) || self.members.contains_key(invite) {
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
                    device: device.as_deref().cloned(),
                    by: c.author,
                };
                self.invites.insert(*invite, inv);
                Ok(())
            }
            OpBody::RevokeInvite { invite } => {
                let mine = self.invites.get(invite).is_some_and(|inv| {
                    inv.device.as_ref().map(|g| g.person) == self.author_person(c)
                        && self.author_person(c).is_some()
                });
                if !mine {
                    self.require_owner(c)?;
                }
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
        if self.members.contains_key(&c.author) || self.is_person(&c.author) {
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
            .get(invite)
            .ok_or(MembershipError::Invite("unknown invite"))?;
        match inv.status {
            InviteStatus::Live => {}
            InviteStatus::Used(_) => return Err(MembershipError::Invite("invite already used")),
            InviteStatus::Revoked => return Err(MembershipError::Invite("invite revoked")),
        }
        if c.at > inv.expires_at {
            return Err(MembershipError::Invite("invite expired"));
        }
        let member = match &inv.device {
            Some(g) => {
                // The person's role and perspective now, which an owner may
                // have changed since the invite.
                let person = self
                    .members
                    .values()
                    .find(|m| m.person == g.person)
                    .ok_or(MembershipError::Invite("that person is no longer a member"))?;
                Member {
                    role: person.role,
                    perspective: person.perspective.clone(),
                    person: g.person,
                }
            }
            None => Member {
                role: inv.role,
                perspective: inv.perspective.clone(),
                person: c.author,
            },
        };
        // A device belongs to one person for the whole log: what it wrote
        // stays that person's.
        if self
            .persons
            .get(&c.author)
            .is_some_and(|p| *p != member.person)
        {
            return Err(MembershipError::Invalid(
                "that device was another person's in this document",
            ));
        }
        if let Some(inv) = self.invites.get_mut(invite) {
            inv.status = InviteStatus::Used(c.author);
        }
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

    /// The person `device` belongs to, if a member.
    pub fn person_of(&self, device: &DeviceId) -> Option<DeviceId> {
        self.members.get(device).map(|m| m.person)
    }

    /// Every device that was ever a member, with the person it belongs to
    /// (a removed device stays listed: what it wrote is still its
    /// person's).
    pub fn persons(&self) -> &BTreeMap<DeviceId, DeviceId> {
        &self.persons
    }

    /// The current devices of `person`, ordered by id.
    pub fn devices_of(&self, person: &DeviceId) -> Vec<DeviceId> {
        self.members
            .iter()
            .filter(|(_, m)| m.person == *person)
            .map(|(d, _)| *d)
            .collect()
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

    /// Opens the grant of the device invite `invite_key` names: its epoch
    /// and that epoch's key.
    pub fn unwrap_grant(
        &self,
        invite_key: &DeviceKey,
    ) -> Result<(Epoch, EpochKey), MembershipError> {
        let g = self
            .invites
            .get(&invite_key.device_id())
            .and_then(|inv| inv.device.as_ref())
            .ok_or(MembershipError::Unwrap)?;
        Ok((g.epoch, wrap::unwrap_grant(&self.doc, g, invite_key)?))
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
