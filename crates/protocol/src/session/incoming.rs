//! Handling messages from the relay.

use super::doc::DocSync;
use super::{ClientSession, Link, Output, SessionEvent, Tampering};
use crate::domain;
use crate::envelope::{Envelope, EnvelopeError, VerifiedEnvelope, verify_batch_with};
use crate::ids::DocId;
use crate::membership::{MembershipOp, MembershipState, OpBody, OpStamp};
use crate::wire::{self, Acks, ErrorCode, Message, auth_message};

impl ClientSession {
    /// A binary frame arrived from the relay.
    pub fn handle_frame(&mut self, now: u64, frame: &[u8]) -> Output {
        match wire::decode(frame) {
            Ok(m) => self.handle_message(now, m),
            Err(e) => Output {
                send: Vec::new(),
                events: vec![SessionEvent::RelayError {
                    code: ErrorCode::Malformed,
                    retry: wire::RetryClass::RetryLater,
                    doc: None,
                    message: e.to_string(),
                }],
            },
        }
    }

    /// A decoded message arrived from the relay.
    pub fn handle_message(&mut self, now: u64, msg: Message) -> Output {
        let mut out = Output::default();
        match msg {
            Message::Challenge {
                nonce,
                origin,
                relay,
            } => self.on_challenge(now, nonce.0, origin, relay, &mut out),
            Message::Welcome { .. } if self.link == Link::Authenticating => {
                self.link = Link::Ready;
                self.backoff.reset();
                out.events.push(SessionEvent::Connected);
                self.resume(&mut out);
            }
            Message::Acks(acks) => self.on_acks(&acks, &mut out),
            Message::Deliver {
                doc,
                doc_seq,
                envelope,
            } => self.on_deliver(doc, doc_seq, envelope, &mut out),
            Message::CaughtUp { doc, .. } => out.events.push(SessionEvent::CaughtUp { doc }),
            Message::MembershipDeliver {
                doc,
                index,
                op,
                stamp,
            } => self.on_membership(now, doc, index, op, stamp, &mut out),
            Message::Deleted {
                doc,
                index,
                op,
                stamp,
            } => self.on_deleted(doc, index, &op, &stamp, &mut out),
            Message::AccessLog { doc, log } => {
                let checked = match self.relay {
                    Some(relay) => log.verify(&relay, &doc).map_err(|e| e.to_string()),
                    None => {
                        Err("an access log arrived before the relay authenticated itself".into())
                    }
                };
                out.events.push(match checked {
                    Ok(checked) => SessionEvent::AccessLog {
                        doc,
                        log: checked,
                        signed: log,
                    },
                    Err(why) => SessionEvent::Tampering {
                        doc: Some(doc),
                        what: Tampering::BadAccessLog(why),
                    },
                });
            }
            Message::InviteDocs { invite, docs } => {
                out.events.push(SessionEvent::InviteDocs { invite, docs });
            }
            Message::InviteRedeemable { doc, invite } => {
                self.on_redeemable(now, doc, invite, &mut out)
            }
            Message::Presence {
                doc,
                from: Some(from),
                blob,
            } => self.on_presence(doc, from, &blob.0, &mut out),
            Message::Error {
                code: ErrorCode::BadMembership,
                retry: wire::RetryClass::RetryLater,
                doc: Some(doc),
                ..
            } if self
                .docs
                .get(&doc)
                .is_some_and(|d| d.subscribed && !d.op_outbox.is_empty()) =>
            {
                // Our queued op no longer follows the relay's log head:
                // someone else's op came first. The log the subscription
                // replays brings it, and ours are redone after it (see
                // `on_membership`); nothing for the application.
            }
            Message::Error {
                code,
                retry,
                doc,
                message,
            } => {
                if let Some(d) = doc.and_then(|doc| self.docs.get_mut(&doc)) {
                    match code {
                        ErrorCode::Forbidden | ErrorCode::UnknownDoc | ErrorCode::Deleted => {
                            d.subscribed = false
                        }
                        // Over the document's or our quota: a snapshot in
                        // place of what was refused frees room.
                        ErrorCode::TooLarge if !d.outbox.is_empty() => d.compaction_wanted = true,
                        _ => {}
                    }
                }
                if matches!(code, ErrorCode::AuthFailed | ErrorCode::NotAllowed) {
                    self.link = Link::Refused;
                    out.events.push(SessionEvent::AuthFailed(message.clone()));
                }
                out.events.push(SessionEvent::RelayError {
                    code,
                    retry,
                    doc,
                    message,
                });
            }
            _ => {}
        }
        out
    }

    fn on_challenge(
        &mut self,
        now: u64,
        nonce: [u8; 32],
        origin: String,
        relay: crate::DeviceId,
        out: &mut Output,
    ) {
        let pinned_ok = self.relay.is_none_or(|r| r == relay);
        if self.link != Link::Hello || origin != self.config.origin || !pinned_ok {
            self.link = Link::Refused;
            out.events.push(SessionEvent::Tampering {
                doc: None,
                what: Tampering::WrongRelay,
            });
            return;
        }
        self.relay = Some(relay);
        let me = self.key.device_id();
        let signature = self.key.sign(
            domain::AUTH_SIG,
            &auth_message(&nonce, &origin, now, &relay, &me),
        );
        self.link = Link::Authenticating;
        out.send.push(Message::Authenticate {
            device: me,
            timestamp: now,
            signature,
        });
    }

    /// One relay signature covers every entry: verified once, then each
    /// entry that names an envelope in our outbox releases it.
    fn on_acks(&mut self, acks: &Acks, out: &mut Output) {
        let Some(relay) = self.relay else { return };
        if !acks.verify(&relay) {
            let first = acks.entries.first().map(|e| e.doc);
            let doc = first.filter(|d| acks.entries.iter().all(|e| e.doc == *d));
            out.events.push(SessionEvent::Tampering {
                doc,
                what: Tampering::BadAck,
            });
            return;
        }
        for e in &acks.entries {
            if let Some(d) = self.docs.get_mut(&e.doc)
                && d.outbox
                    .get(&e.author_seq)
                    .is_some_and(|env| env.hash() == e.hash)
            {
                d.outbox.remove(&e.author_seq);
                out.events.push(SessionEvent::Acked {
                    doc: e.doc,
                    seq: e.author_seq,
                    doc_seq: e.doc_seq,
                });
            }
        }
    }

    fn on_deliver(&mut self, doc: DocId, doc_seq: u64, envelope: Envelope, out: &mut Output) {
        self.on_deliver_checked(doc, doc_seq, envelope, None, out);
    }

    /// Handles a deliver; `pre` is the outcome of a batch verification of
    /// this envelope, if one was done.
    fn on_deliver_checked(
        &mut self,
        doc: DocId,
        doc_seq: u64,
        envelope: Envelope,
        pre: Option<Result<VerifiedEnvelope, EnvelopeError>>,
        out: &mut Output,
    ) {
        let Some(d) = self.docs.get_mut(&doc) else {
            return;
        };
        d.cursor = d.cursor.max(doc_seq);
        let tampered = SessionEvent::Tampering {
            doc: Some(doc),
            what: Tampering::BadSignature,
        };
        if envelope.header_unverified().doc != doc {
            out.events.push(tampered);
            return;
        }
        let author = envelope.header_unverified().author;
        if d.chain
            .knows(&author, envelope.header_unverified().seq, &envelope.hash())
        {
            return; // a byte-identical replay of what was applied
        }
        let verified = match pre {
            Some(r) => r,
            None => match d.membership.as_ref().and_then(|m| m.member_id(&author)) {
                Some(id) => envelope.verify_with(&id),
                None => envelope.verify(),
            },
        };
        match verified {
            Ok(v) => d.receive(v, &self.key, &mut out.events),
            Err(_) => out.events.push(tampered),
        }
    }

    /// Several frames that arrived together: envelopes among them are
    /// verified as one ed25519 batch, then everything is handled in order.
    pub fn handle_frames(&mut self, now: u64, frames: &[&[u8]]) -> Output {
        let mut out = Output::default();
        let mut msgs = Vec::with_capacity(frames.len());
        for f in frames {
            match wire::decode(f) {
                Ok(m) => msgs.push(m),
                Err(e) => out.events.push(SessionEvent::RelayError {
                    code: ErrorCode::Malformed,
                    retry: wire::RetryClass::RetryLater,
                    doc: None,
                    message: e.to_string(),
                }),
            }
        }
        let fresh = |m: &Message| match m {
            Message::Deliver { doc, envelope, .. } => self.docs.get(doc).is_some_and(|d| {
                let h = envelope.header_unverified();
                !d.chain.knows(&h.author, h.seq, &envelope.hash())
            }),
            _ => false,
        };
        let batch: Vec<Envelope> = msgs
            .iter()
            .filter(|m| fresh(m))
            .filter_map(|m| {
                if let Message::Deliver { envelope, .. } = m {
                    Some(envelope.clone())
                } else {
                    None
                }
            })
            .collect();
        // Members' ids come with their keys decoded: their envelopes' keys
        // need no decoding again.
        let mut known: Vec<crate::DeviceId> = msgs
            .iter()
            .filter_map(|m| match m {
                Message::Deliver { doc, envelope, .. } => {
                    let author = envelope.header_unverified().author;
                    self.docs.get(doc)?.membership.as_ref()?.member_id(&author)
                }
                _ => None,
            })
            .collect();
        known.sort();
        known.dedup();
        let mut results = if batch.len() >= 2 {
            verify_batch_with(batch, &known).into_iter()
        } else {
            Vec::new().into_iter()
        };
        let batched = results.len() > 0;
        let flags: Vec<bool> = msgs.iter().map(|m| batched && fresh(m)).collect();
        for (m, in_batch) in msgs.into_iter().zip(flags) {
            let o = match m {
                Message::Deliver {
                    doc,
                    doc_seq,
                    envelope,
                } if in_batch => {
                    let mut o = Output::default();
                    self.on_deliver_checked(doc, doc_seq, envelope, results.next(), &mut o);
                    o
                }
                m => self.handle_message(now, m),
            };
            out.send.extend(o.send);
            out.events.extend(o.events);
        }
        out
    }

    fn on_membership(
        &mut self,
        now: u64,
        doc: DocId,
        index: u64,
        op: MembershipOp,
        stamp: Option<OpStamp>,
        out: &mut Output,
    ) {
        let relay = self.relay;
        let Some(d) = self.docs.get_mut(&doc) else {
            return;
        };
        let echo = d
            .ops
            .get(index as usize)
            .is_some_and(|o| o.hash() == op.hash());
        if !echo && let Err(why) = check_stamp(relay, d, index, &op, stamp) {
            out.events.push(SessionEvent::Tampering {
                doc: Some(doc),
                what: Tampering::BadMembership(why.into()),
            });
            return;
        }
        if index < d.ops.len() as u64 {
            if echo {
                // The relay's echo of our own op.
                d.op_outbox.retain(|o| o.hash() != op.hash());
                let me = self.key.device_id();
                let c = op.content();
                if c.author == me
                    && matches!(c.body, OpBody::RemoveMember { device } if device == me)
                {
                    // Our leaving is confirmed: the document is no longer ours.
                    self.docs.remove(&doc);
                    self.invites.remove(&doc);
                    out.events.push(SessionEvent::Left { doc });
                }
                return;
            }
            // Another member's op took the place of ours: if ours were still
            // unconfirmed, it comes first and ours are redone after it.
            let Some(mine) = d.take_back(index as usize, &op) else {
                let what = Tampering::BadMembership(
                    "membership log diverged (if another owner changed the membership while \
                     this device changed it offline, the two are not merged)"
                        .into(),
                );
                out.events.push(SessionEvent::Tampering {
                    doc: Some(doc),
                    what,
                });
                return;
            };
            self.append_op(doc, index, op, out);
            self.redo_ops(now, doc, mine, out);
            return;
        }
        self.append_op(doc, index, op, out);
    }

    /// Appends a relay-ordered op at `index` (the end of our log).
    fn append_op(&mut self, doc: DocId, index: u64, op: MembershipOp, out: &mut Output) {
        let me = self.key.device_id();
        let Some(d) = self.docs.get_mut(&doc) else {
            return;
        };
        let len = d.ops.len() as u64;
        if index > len {
            return;
        }
        let was_member = d.membership.as_ref().is_some_and(|m| m.role(&me).is_some());
        // Another device of this person leaving takes this device out too:
        // the person left, so this copy goes as well.
        let left_by_person = d.membership.as_ref().is_some_and(|m| {
            let mine = m.person_of(&me);
            mine.is_some()
                && m.person_of(&op.content().author) == mine
                && matches!(op.content().body, OpBody::RemoveMember { device }
                    if m.person_of(&device) == mine)
        });
        let result = match &mut d.membership {
            None => MembershipState::verify_chain(doc, std::slice::from_ref(&op))
                .map(|m| d.membership = Some(m)),
            Some(m) => m.apply(&op),
        };
        if let Err(e) = result {
            let what = Tampering::BadMembership(e.to_string());
            out.events.push(SessionEvent::Tampering {
                doc: Some(doc),
                what,
            });
            return;
        }
        let hash = op.hash();
        d.ops.push(op);
        d.op_outbox.retain(|o| o.hash() != hash);
        d.derive_keys(&self.key);
        out.events.push(SessionEvent::MembershipChanged { doc });
        // Our invite was redeemed, but its link carried an older epoch's key:
        // the joiner needs the current key, which only a rotation delivers.
        if let Some(OpBody::RedeemInvite { invite, .. }) = d.ops.last().map(|o| &o.content().body)
            && let Some(link_epoch) = d.created_invites.remove(invite)
            && d.membership
                .as_ref()
                .is_some_and(|m| m.epoch() != link_epoch)
        {
            out.events.push(SessionEvent::RotationNeeded { doc });
        }
        let is_member = d.membership.as_ref().is_some_and(|m| m.role(&me).is_some());
        if is_member {
            // A member again (a removed device that joined with a new invite).
            d.removed = false;
        }
        if was_member && !is_member && left_by_person {
            self.docs.remove(&doc);
            self.invites.remove(&doc);
            out.events.push(SessionEvent::Left { doc });
            return;
        }
        if was_member && !is_member {
            d.removed = true;
            d.subscribed = false;
            out.events.push(SessionEvent::Removed { doc });
        }
        if !was_member
            && is_member
            && self.invites.remove(&doc).is_some()
            && self.link == Link::Ready
        {
            d.subscribed = true;
            out.send.push(Message::Subscribe {
                docs: vec![wire::DocCursor {
                    doc,
                    cursor: d.cursor,
                }],
            });
        }
        d.drain(&self.key, &mut out.events);
    }

    /// The relay says the owner deleted `doc`: if the op verifies (the
    /// owner's signature, the relay's stamp, and an author who owns the
    /// document as far as this device knows), the document is dropped and
    /// the application erases its copy.
    fn on_deleted(
        &mut self,
        doc: DocId,
        index: u64,
        op: &MembershipOp,
        stamp: &OpStamp,
        out: &mut Output,
    ) {
        let Some(d) = self.docs.get(&doc) else {
            return;
        };
        match check_deletion(self.relay, d, index, op, stamp) {
            Ok(()) => {
                self.docs.remove(&doc);
                self.invites.remove(&doc);
                out.events.push(SessionEvent::Deleted {
                    doc,
                    by: op.content().author,
                });
            }
            Err(why) => out.events.push(SessionEvent::Tampering {
                doc: Some(doc),
                what: Tampering::BadMembership(why.into()),
            }),
        }
    }

    fn on_redeemable(
        &mut self,
        now: u64,
        doc: DocId,
        invite: crate::membership::InviteId,
        out: &mut Output,
    ) {
        let Some(secret) = self.invites.get(&doc) else {
            return;
        };
        if secret.id() != invite {
            return;
        }
        let Some(d) = self.docs.get_mut(&doc) else {
            return;
        };
        let Some(m) = &d.membership else { return };
        if m.role(&self.key.device_id()).is_some() {
            return;
        }
        if let Ok(op) = secret.redeem_op(m, &self.key, now) {
            d.op_outbox.push(op.clone());
            out.send.push(Message::InviteRedeem { doc, op });
        }
    }

    fn on_presence(&mut self, doc: DocId, from: crate::DeviceId, blob: &[u8], out: &mut Output) {
        let Some(d) = self.docs.get_mut(&doc) else {
            return;
        };
        let Some(m) = &d.membership else { return };
        let epoch = m.epoch();
        let Some(key) = d.keys.get(&epoch) else {
            return;
        };
        match wire::presence::open(key, &doc, epoch, &from, blob) {
            Ok((counter, data)) if counter > d.presence_seen.get(&from).copied().unwrap_or(0) => {
                d.presence_seen.insert(from, counter);
                out.events.push(SessionEvent::Presence { doc, from, data });
            }
            _ => out.events.push(SessionEvent::Tampering {
                doc: Some(doc),
                what: Tampering::BadPresence(from),
            }),
        }
    }

    /// After `Welcome`: re-send pending ops, subscribe, fetch invites and
    /// retransmit unacknowledged envelopes.
    fn resume(&mut self, out: &mut Output) {
        let me = self.key.device_id();
        for (doc, d) in self.docs.iter_mut() {
            push_pending(*doc, d, out);
            let member = d.membership.as_ref().is_some_and(|m| m.role(&me).is_some());
            if let Some(secret) = self.invites.get(doc).filter(|_| !member) {
                out.send.push(Message::InviteFetch {
                    doc: *doc,
                    invite: secret.id(),
                });
                continue;
            }
            if (member || d.membership.is_none()) && !d.removed {
                d.subscribed = true;
                out.send.push(Message::Subscribe {
                    docs: vec![wire::DocCursor {
                        doc: *doc,
                        cursor: d.cursor,
                    }],
                });
                push_outbox(d, out);
            }
        }
    }
}

/// Our unacknowledged envelopes of `d`, again, in order.
pub(super) fn push_outbox(d: &DocSync, out: &mut Output) {
    for env in d.outbox.values() {
        out.send.push(Message::Publish {
            envelope: env.clone(),
        });
    }
}

fn push_pending(doc: DocId, d: &DocSync, out: &mut Output) {
    for op in &d.op_outbox {
        let msg = if matches!(
            op.content().body,
            crate::membership::OpBody::RedeemInvite { .. }
        ) {
            Message::InviteRedeem {
                doc,
                op: op.clone(),
            }
        } else {
            Message::MembershipPublish {
                doc,
                op: op.clone(),
            }
        };
        out.send.push(msg);
    }
}

/// Whether a deletion the relay reports holds: a delete op for `d`,
/// signed by its author, stamped by the relay at `index`, and by an owner:
/// checked in full when it follows our log head (or is our own op), and by
/// the author's role in our log when we are behind it. A device that never
/// received the log (a join in progress) holds nothing to lose.
fn check_deletion(
    relay: Option<crate::DeviceId>,
    d: &DocSync,
    index: u64,
    op: &MembershipOp,
    stamp: &OpStamp,
) -> Result<(), &'static str> {
    let c = op.content();
    if c.doc != d.doc || !matches!(c.body, OpBody::DeleteDocument) {
        return Err("a deletion notice that is not this document's delete op");
    }
    op.verify_signature()
        .map_err(|_| "a deletion whose signature does not verify")?;
    let relay = relay.ok_or("a deletion arrived before the relay authenticated itself")?;
    if !stamp.verify(&relay, &d.doc, index, &op.hash()) {
        return Err("a deletion whose relay stamp does not verify");
    }
    let Some(m) = &d.membership else {
        return Ok(());
    };
    let len = m.len();
    if index < len {
        return match d.ops.get(index as usize) {
            Some(ours) if ours.hash() == op.hash() => Ok(()),
            _ => Err("a deletion at a place in the log that holds another op"),
        };
    }
    if index == len && c.prev == m.head() {
        let mut next = m.clone();
        return next
            .apply(op)
            .map_err(|_| "a deletion by a device that may not delete the document");
    }
    match m.role(&c.author) {
        Some(crate::membership::Role::Owner) => Ok(()),
        _ => Err("a deletion by a device this device does not know as an owner"),
    }
}

/// A join (`redeem_invite`) counts only with the relay's stamp, and only if
/// the stamped time, the relay's clock when it appended the op, is not past
/// the invite's expiry: the joiner's own time is the joiner's word. Other
/// ops need no stamp.
fn check_stamp(
    relay: Option<crate::DeviceId>,
    d: &DocSync,
    index: u64,
    op: &MembershipOp,
    stamp: Option<OpStamp>,
) -> Result<(), &'static str> {
    let OpBody::RedeemInvite { invite, .. } = &op.content().body else {
        return Ok(());
    };
    let relay = relay.ok_or("a join arrived before the relay authenticated itself")?;
    let stamp = stamp.ok_or("a join without the relay's stamp of when it was accepted")?;
    if !stamp.verify(&relay, &d.doc, index, &op.hash()) {
        return Err("a join whose relay stamp does not verify");
    }
    let expires_at = d
        .membership
        .as_ref()
        .and_then(|m| m.invites().get(invite))
        .map(|i| i.expires_at);
    if expires_at.is_some_and(|e| stamp.at > e) {
        return Err("the relay accepted a join after its invite had expired");
    }
    Ok(())
}
