//! Local actions: creating and joining documents, publishing envelopes,
//! changing membership, presence.

use rand_core::CryptoRngCore;

use super::doc::DocSync;
use super::{ClientSession, Link, Output, SessionError};
use crate::envelope::{Envelope, EnvelopeHeader, VerifiedEnvelope};
use crate::ids::{DeviceId, DocId, Epoch};
use crate::invite::{InviteLink, InviteSecret};
use crate::keys::EpochKey;
use crate::membership::{InviteId, MembershipOp, MembershipState, OpBody, Role};
use crate::wire::{self, Message};

impl ClientSession {
    fn doc_mut(&mut self, doc: &DocId) -> Result<&mut DocSync, SessionError> {
        self.docs.get_mut(doc).ok_or(SessionError::UnknownDoc)
    }

    /// The current epoch of `doc` and its key.
    fn current_key(&self, doc: &DocId) -> Result<(Epoch, &EpochKey), SessionError> {
        let epoch = self.state(doc)?.epoch();
        let key = self
            .docs
            .get(doc)
            .and_then(|d| d.keys.get(&epoch))
            .ok_or(SessionError::NoKey)?;
        Ok((epoch, key))
    }

    fn state(&self, doc: &DocId) -> Result<&MembershipState, SessionError> {
        self.docs
            .get(doc)
            .and_then(|d| d.membership.as_ref())
            .ok_or(SessionError::UnknownDoc)
    }

    /// Creates a document owned by this device, with a fresh epoch-0 key.
    pub fn create_doc(
        &mut self,
        now: u64,
        perspective: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(DocId, Output), SessionError> {
        let doc = DocId::random(rng);
        let genesis = MembershipState::genesis(doc, &self.key, perspective, self.person, now)?;
        let mut d = DocSync::new(doc);
        d.keys.insert(Epoch(0), EpochKey::generate(rng));
        self.docs.insert(doc, d);
        let mut out = self.local_op(doc, genesis)?;
        if self.link == Link::Ready {
            if let Some(d) = self.docs.get_mut(&doc) {
                d.subscribed = true;
            }
            out.send.push(Message::Subscribe {
                docs: vec![wire::DocCursor { doc, cursor: 0 }],
            });
        }
        Ok((doc, out))
    }

    /// Starts joining through an invite link: fetches the log and redeems
    /// once connected.
    pub fn join(&mut self, link: &InviteLink) -> Output {
        let mut d = DocSync::new(link.doc);
        d.keys.insert(link.epoch, link.key.clone());
        self.docs.entry(link.doc).or_insert(d);
        self.invites.insert(link.doc, link.secret.clone());
        let mut out = Output::default();
        if self.link == Link::Ready {
            out.send.push(Message::InviteFetch {
                doc: link.doc,
                invite: link.secret.id(),
            });
        }
        out
    }

    /// Starts joining `doc` through a device invite (linking this device to
    /// a person, or recovering one): fetches the log, redeems, and takes the
    /// epoch keys from the invite's grant.
    pub fn join_device(&mut self, doc: DocId, secret: &InviteSecret) -> Output {
        let mut d = DocSync::new(doc);
        d.invite_key = Some(secret.invite_key());
        self.docs.entry(doc).or_insert(d);
        self.invites.insert(doc, secret.clone());
        let mut out = Output::default();
        if self.link == Link::Ready {
            out.send.push(Message::InviteFetch {
                doc,
                invite: secret.id(),
            });
        }
        out
    }

    /// Asks the relay where the device invite of `secret` is live; the
    /// answer comes as [`SessionEvent::InviteDocs`](super::SessionEvent).
    /// Sends nothing unless connected.
    pub fn find_invites(&self, secret: &InviteSecret) -> Output {
        let mut out = Output::default();
        if self.link == Link::Ready {
            let proof = secret
                .invite_key()
                .sign(crate::domain::INVITE_FIND, self.key.device_id().as_bytes());
            out.send.push(Message::InviteFind {
                invite: secret.id(),
                proof,
            });
        }
        out
    }

    /// Applies our own op locally, queues it until the relay echoes it, and
    /// sends it when live.
    fn local_op(&mut self, doc: DocId, op: MembershipOp) -> Result<Output, SessionError> {
        let ready = self.link == Link::Ready;
        let d = self.doc_mut(&doc)?;
        match &mut d.membership {
            None => {
                d.membership = Some(MembershipState::verify_chain(
                    doc,
                    std::slice::from_ref(&op),
                )?)
            }
            Some(m) => m.apply(&op)?,
        }
        d.ops.push(op.clone());
        d.op_outbox.push(op.clone());
        let mut out = Output::default();
        if ready {
            out.send.push(Message::MembershipPublish { doc, op });
        }
        Ok(out)
    }

    /// Seals `payload` as our next change envelope for `doc`, queues it in
    /// the outbox until acked, and sends it when live.
    pub fn publish(
        &mut self,
        doc: DocId,
        payload: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        self.seal_and_queue(doc, payload, false, rng)
    }

    /// Seals a snapshot of the whole document covering every chain applied
    /// so far; the relay may then drop what it covers.
    pub fn publish_snapshot(
        &mut self,
        doc: DocId,
        payload: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        self.seal_and_queue(doc, payload, true, rng)
    }

    /// After the relay refused our envelope over a quota
    /// ([`ClientSession::compaction_wanted`]): withdraws our unacknowledged
    /// envelopes (the relay acknowledges in order, so it took none of them:
    /// the first was refused and the rest followed it) and seals, at the
    /// first one's place in our chain, a snapshot of the whole document,
    /// which holds what they held. The relay then drops what the snapshot
    /// covers and the document has room again.
    pub fn publish_snapshot_in_place(
        &mut self,
        doc: DocId,
        payload: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let me = self.key.device_id();
        let d = self.doc_mut(&doc)?;
        if let Some((&first, env)) = d.outbox.iter().next() {
            let prev = env.header_unverified().prev;
            d.chain.rewind(&me, first.saturating_sub(1), prev);
            d.outbox.clear();
        }
        self.seal_and_queue(doc, payload, true, rng)
    }

    /// Bytes of the envelopes applied to `doc` since its last snapshot
    /// (ours included): about what the relay holds that a snapshot would
    /// let it drop. The application publishes a snapshot past a threshold
    /// of its choosing.
    pub fn history_bytes(&self, doc: &DocId) -> u64 {
        self.docs.get(doc).map_or(0, |d| d.history_bytes)
    }

    /// Whether the relay refused one of our envelopes to `doc` over a
    /// quota since our last snapshot: see
    /// [`ClientSession::publish_snapshot_in_place`].
    pub fn compaction_wanted(&self, doc: &DocId) -> bool {
        self.docs.get(doc).is_some_and(|d| d.compaction_wanted)
    }

    fn seal_and_queue(
        &mut self,
        doc: DocId,
        payload: &[u8],
        snapshot: bool,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let me = self.key.device_id();
        let ready = self.link == Link::Ready;
        let key = self.key.clone();
        let d = self.doc_mut(&doc)?;
        let m = d.membership.as_ref().ok_or(SessionError::UnknownDoc)?;
        if !m.can_write(&me) {
            return Err(SessionError::NotAllowed);
        }
        let epoch = m.epoch();
        let epoch_key = d.keys.get(&epoch).ok_or(SessionError::NoKey)?.clone();
        let seq = d.chain.head(&me).saturating_add(1);
        let prev = d.chain.head_hash(&me);
        let header = if snapshot {
            EnvelopeHeader::snapshot(doc, epoch, me, seq, prev, d.chain.heads())
        } else {
            EnvelopeHeader::changes(doc, epoch, me, seq, prev)
        };
        let env = Envelope::seal(header, payload, &epoch_key, &key, rng)?;
        let own = VerifiedEnvelope::own(env.clone());
        d.chain.accept(&own);
        d.count_history(&own);
        if snapshot {
            d.compaction_wanted = false;
        }
        d.outbox.insert(seq, env.clone());
        let mut out = Output::default();
        if ready && d.subscribed {
            out.send.push(Message::Publish { envelope: env });
        }
        Ok(out)
    }

    /// Adds a member (owner only), then rotates the epoch so the new member
    /// receives the key wrapped to its device (and, through the key chain,
    /// the history). No key travels out of band.
    pub fn add_member(
        &mut self,
        now: u64,
        doc: DocId,
        device: DeviceId,
        role: Role,
        perspective: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let body = OpBody::AddMember {
            device,
            role,
            perspective: perspective.into(),
        };
        let op = self.state(&doc)?.sign_op(&self.key, now, body)?;
        let mut out = self.local_op(doc, op)?;
        out.send.extend(self.rotate(now, doc, rng)?.send);
        Ok(out)
    }

    /// Starts a new epoch with a fresh key wrapped for every member (owner
    /// only).
    pub fn rotate(
        &mut self,
        now: u64,
        doc: DocId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let state = self.state(&doc)?;
        let (epoch, current) = self.current_key(&doc)?;
        let new_key = EpochKey::generate(rng);
        let op = state.rotate(&self.key, now, current, &new_key, rng)?;
        let out = self.local_op(doc, op)?;
        self.doc_mut(&doc)?.keys.insert(epoch.next(), new_key);
        Ok(out)
    }

    /// Opens a document this device was added to by an owner: subscribes
    /// (when live) and learns the keys from the membership log. Calling it
    /// again re-subscribes, e.g. after the relay said the device was not a
    /// member yet.
    pub fn open_doc(&mut self, doc: DocId) -> Output {
        let mut out = Output::default();
        let ready = self.link == Link::Ready;
        let d = self.docs.entry(doc).or_insert_with(|| DocSync::new(doc));
        if ready && !d.subscribed {
            d.subscribed = true;
            out.send.push(Message::Subscribe {
                docs: vec![wire::DocCursor {
                    doc,
                    cursor: d.cursor,
                }],
            });
        }
        out
    }

    /// Asks the relay for `doc`'s access log (members only); the answer
    /// comes as [`super::SessionEvent::AccessLog`] once its signature
    /// verifies. Nothing is sent before the session is live.
    pub fn request_access_log(&self, doc: DocId) -> Output {
        let mut out = Output::default();
        if self.link == Link::Ready {
            out.send.push(Message::AccessLogRequest { doc });
        }
        out
    }

    /// Leaves `doc`: signs this device's own removal and queues it. Once
    /// the relay confirms it, [`super::SessionEvent::Left`] says to erase the
    /// copy. The last owner cannot leave (delete the document instead).
    pub fn leave(&mut self, now: u64, doc: DocId) -> Result<Output, SessionError> {
        let me = self.key.device_id();
        let op = self
            .state(&doc)?
            .sign_op(&self.key, now, OpBody::RemoveMember { device: me })?;
        self.local_op(doc, op)
    }

    /// Deletes `doc` (owner only): signs the delete op and queues it. Once
    /// the relay has erased the document, it answers with a
    /// [`Message::Deleted`] and [`super::SessionEvent::Deleted`] says to erase the
    /// local copy; every other member's device hears the same.
    pub fn delete_doc(&mut self, now: u64, doc: DocId) -> Result<Output, SessionError> {
        let op = self
            .state(&doc)?
            .sign_op(&self.key, now, OpBody::DeleteDocument)?;
        self.local_op(doc, op)
    }

    /// Changes a member's role (owner only).
    pub fn change_role(
        &mut self,
        now: u64,
        doc: DocId,
        device: DeviceId,
        role: Role,
    ) -> Result<Output, SessionError> {
        let op = self
            .state(&doc)?
            .sign_op(&self.key, now, OpBody::ChangeRole { device, role })?;
        self.local_op(doc, op)
    }

    /// Removes a member and rotates to a new epoch key the removed device
    /// never receives (owner only).
    pub fn remove_member(
        &mut self,
        now: u64,
        doc: DocId,
        device: DeviceId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let state = self.state(&doc)?;
        let (epoch, current) = self.current_key(&doc)?;
        let (ops, new_key) = state.remove_and_rotate(&self.key, now, device, current, rng)?;
        let mut out = Output::default();
        for op in ops {
            out.send.extend(self.local_op(doc, op)?.send);
        }
        self.doc_mut(&doc)?.keys.insert(epoch.next(), new_key);
        Ok(out)
    }

    /// Removes one device of a person (ours, or as an owner anyone's) and
    /// rotates to a key that device never gets.
    pub fn remove_device(
        &mut self,
        now: u64,
        doc: DocId,
        device: DeviceId,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let state = self.state(&doc)?;
        let (epoch, current) = self.current_key(&doc)?;
        let (ops, new_key) =
            state.remove_device_and_rotate(&self.key, now, device, current, rng)?;
        let mut out = Output::default();
        for op in ops {
            out.send.extend(self.local_op(doc, op)?.send);
        }
        self.doc_mut(&doc)?.keys.insert(epoch.next(), new_key);
        Ok(out)
    }

    /// Registers the device invite `invite` (the id of its secret) in
    /// `doc`: whoever redeems it becomes another device of our person (see
    /// [`MembershipState::device_invite`]).
    pub fn create_device_invite(
        &mut self,
        now: u64,
        doc: DocId,
        invite: InviteId,
        expires_at: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let (_, key) = self.current_key(&doc)?;
        let key = key.clone();
        let op = self
            .state(&doc)?
            .device_invite(&self.key, now, invite, expires_at, &key, rng)?;
        self.local_op(doc, op)
    }

    /// Creates a single-use invite (owner only) and returns its link.
    #[allow(clippy::too_many_arguments)]
    pub fn create_invite(
        &mut self,
        now: u64,
        doc: DocId,
        relay_address: &crate::addr::RelayAddr,
        role: Role,
        perspective: &str,
        expires_at: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(InviteLink, Output), SessionError> {
        let secret = InviteSecret::generate(rng);
        let (epoch, key) = self.current_key(&doc)?;
        let key = key.clone();
        let op = secret.create_op(
            self.state(&doc)?,
            &self.key,
            now,
            role,
            perspective,
            expires_at,
        )?;
        let out = self.local_op(doc, op)?;
        self.doc_mut(&doc)?
            .created_invites
            .insert(secret.id(), epoch);
        let link = InviteLink {
            relay: relay_address.clone(),
            doc,
            secret,
            epoch,
            key,
        };
        Ok((link, out))
    }

    /// Revokes an invite (an owner's, or a device invite of our own person).
    pub fn revoke_invite(
        &mut self,
        now: u64,
        doc: DocId,
        invite: InviteId,
    ) -> Result<Output, SessionError> {
        let op = self
            .state(&doc)?
            .sign_op(&self.key, now, OpBody::RevokeInvite { invite })?;
        self.local_op(doc, op)
    }

    /// Sends encrypted presence data to the document's other subscribers.
    pub fn send_presence(
        &mut self,
        doc: DocId,
        data: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Output, SessionError> {
        let me = self.key.device_id();
        let d = self.doc_mut(&doc)?;
        let epoch = d
            .membership
            .as_ref()
            .ok_or(SessionError::UnknownDoc)?
            .epoch();
        let key = d.keys.get(&epoch).ok_or(SessionError::NoKey)?;
        d.presence_counter = d.presence_counter.saturating_add(1);
        let blob = wire::presence::seal(key, &doc, epoch, &me, d.presence_counter, data, rng)
            .map_err(|_| {
                SessionError::Envelope(crate::envelope::EnvelopeError::TooLarge("presence"))
            })?;
        Ok(Output {
            send: vec![Message::Presence {
                doc,
                from: None,
                blob,
            }],
            events: Vec::new(),
        })
    }
}
