//! The relay's per-document rules: subscribe, publish, membership, invites.

use super::doc::{DocState, Offer};
use super::{CheckedPublish, ConnId, RelayAction, RelayCore, err, send};
use crate::envelope::{Envelope, EnvelopeHash, VerifiedEnvelope};
use crate::ids::{DeviceId, DocId};
use crate::membership::{
    InviteId, InviteStatus, MembershipError, MembershipOp, MembershipState, OpBody, OpStamp,
};
use crate::wire::{AckEntry, DocCursor, ErrorCode, Message, RetryClass};

fn ack(
    conn: ConnId,
    doc: DocId,
    author: DeviceId,
    author_seq: u64,
    hash: EnvelopeHash,
    doc_seq: u64,
) -> RelayAction {
    RelayAction::Ack {
        conn,
        entry: AckEntry {
            doc,
            author,
            author_seq,
            hash,
            doc_seq,
        },
    }
}

impl RelayCore {
    pub(super) fn subscribe(
        &mut self,
        conn: ConnId,
        device: DeviceId,
        docs: Vec<DocCursor>,
    ) -> Vec<RelayAction> {
        // Repeated ids are merged: one replay each, from the lowest cursor.
        let mut wanted: std::collections::BTreeMap<DocId, u64> = Default::default();
        for DocCursor { doc, cursor } in docs {
            let c = wanted.entry(doc).or_insert(cursor);
            *c = (*c).min(cursor);
        }
        let mut out = Vec::new();
        for (doc, cursor) in wanted {
            let Some(c) = self.conns.get_mut(&conn) else {
                break;
            };
            if c.replaying.contains_key(&doc) {
                // Its replay is under way and ends with `caught_up`.
                continue;
            }
            if let Some(q) = c.queued.iter_mut().find(|(d, _)| *d == doc) {
                q.1 = q.1.min(cursor);
                continue;
            }
            if self.damaged.contains(&doc) {
                out.push(super::damaged(conn, doc));
                continue;
            }
            if let Some(t) = self.deleted.get(&doc) {
                out.push(send(conn, t.notice(doc)));
                continue;
            }
            if c.subscriptions.contains(&doc) {
                // Already live: nothing is replayed twice; `caught_up` says
                // where the document stands (a barrier, at a few bytes).
                let doc_seq = self.docs.get(&doc).map_or(0, |s| s.last_doc_seq);
                out.push(send(conn, Message::CaughtUp { doc, doc_seq }));
                continue;
            }
            if c.in_flight >= super::MAX_REPLAYS {
                // Its turn comes when a replay under way ends.
                c.queued.push_back((doc, cursor));
                continue;
            }
            self.start_replay(conn, device, doc, cursor, &mut out);
        }
        out
    }

    /// Starts `conn`'s replay of `doc` from `cursor`: the membership log,
    /// then the first piece of the envelopes (or why not).
    pub(super) fn start_replay(
        &mut self,
        conn: ConnId,
        device: DeviceId,
        doc: DocId,
        cursor: u64,
        out: &mut Vec<RelayAction>,
    ) {
        if self.damaged.contains(&doc) {
            out.push(super::damaged(conn, doc));
            return;
        }
        if let Some(t) = self.deleted.get(&doc) {
            out.push(send(conn, t.notice(doc)));
            return;
        }
        let Some(state) = self.docs.get(&doc) else {
            out.push(err(
                conn,
                ErrorCode::UnknownDoc,
                RetryClass::RetryLater,
                Some(doc),
                "unknown document",
            ));
            return;
        };
        if state.membership.role(&device).is_none() {
            // A device that was removed gets the log up to its removal,
            // so it can verify the owner's signature on it (and learns
            // nothing of what came after).
            let removal = state.ops.iter().rposition(|op| {
                matches!(&op.content().body, OpBody::RemoveMember { device: d } if *d == device)
            });
            if let Some(last) = removal {
                let mut log = log_messages(conn, doc, state);
                log.truncate(last + 1);
                out.extend(log);
            }
            out.push(err(
                conn,
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                Some(doc),
                if removal.is_some() {
                    "removed from document"
                } else {
                    "not a member"
                },
            ));
            return;
        }
        out.extend(log_messages(conn, doc, state));
        let after = cursor.min(state.last_doc_seq);
        out.push(self.replay_step(conn, doc, after));
    }

    /// The next piece of `conn`'s replay of `doc`, after doc seq `after`;
    /// the last piece makes the connection a live subscriber.
    pub(super) fn replay_step(&mut self, conn: ConnId, doc: DocId, after: u64) -> RelayAction {
        let budget = self.config.replay_chunk_bytes;
        let chunk = self.docs.get(&doc).map(|s| s.replay_chunk(after, budget));
        let chunk = chunk.unwrap_or(super::doc::Chunk {
            up_to: after,
            bytes: 0,
            last: true,
        });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.in_flight += 1;
            if chunk.last {
                c.replaying.remove(&doc);
            } else {
                c.replaying.insert(doc, chunk.up_to);
            }
        }
        if chunk.last {
            self.add_subscription(conn, doc);
        }
        RelayAction::Replay {
            conn,
            doc,
            after,
            up_to: chunk.up_to,
            bytes: chunk.bytes,
            last: chunk.last,
        }
    }

    /// A publish verified here, with the author's key from the membership
    /// log (decoded once, when the member was added).
    pub(super) fn publish(
        &mut self,
        conn: ConnId,
        device: DeviceId,
        envelope: Envelope,
    ) -> Vec<RelayAction> {
        if let Some(out) = self.publish_prechecks(conn, device, &envelope) {
            return out;
        }
        let doc = envelope.header_unverified().doc;
        let author = self
            .docs
            .get(&doc)
            .and_then(|s| s.membership.member_id(&device))
            .unwrap_or(device);
        match envelope.verify_with(&author) {
            Ok(v) => self.accept(conn, device, v),
            Err(e) => vec![err(
                conn,
                ErrorCode::BadEnvelope,
                RetryClass::Unauthorised,
                Some(doc),
                e.to_string(),
            )],
        }
    }

    /// A publish whose signature the application checked.
    pub(super) fn publish_checked(
        &mut self,
        conn: ConnId,
        device: DeviceId,
        publish: CheckedPublish,
    ) -> Vec<RelayAction> {
        if let Some(out) = self.publish_prechecks(conn, device, publish.envelope()) {
            return out;
        }
        match publish {
            CheckedPublish::Verified(v) => self.accept(conn, device, v),
            CheckedPublish::Failed { envelope, error } => vec![err(
                conn,
                ErrorCode::BadEnvelope,
                RetryClass::Unauthorised,
                Some(envelope.header_unverified().doc),
                error.to_string(),
            )],
        }
    }

    /// The checks made before the signature's: authorship, a known
    /// document, and the dedupe fast path (a byte-identical retransmission
    /// of a stored envelope is re-acked without verifying it again).
    fn publish_prechecks(
        &self,
        conn: ConnId,
        device: DeviceId,
        envelope: &Envelope,
    ) -> Option<Vec<RelayAction>> {
        let h = envelope.header_unverified();
        let doc = h.doc;
        let bad = |code, retry, text: &str| Some(vec![err(conn, code, retry, Some(doc), text)]);
        if h.author != device {
            return bad(
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                "publish only your own envelopes",
            );
        }
        let Some(state) = self.docs.get(&doc) else {
            return bad(
                ErrorCode::UnknownDoc,
                RetryClass::RetryLater,
                "unknown document",
            );
        };
        let (author_seq, hash) = (h.seq, envelope.hash());
        state
            .stored_at(&device, author_seq, &hash)
            .map(|doc_seq| vec![ack(conn, doc, device, author_seq, hash, doc_seq)])
    }

    /// The rules after the signature: role, epoch, chain; then store, ack
    /// and fan out.
    fn accept(
        &mut self,
        conn: ConnId,
        device: DeviceId,
        verified: VerifiedEnvelope,
    ) -> Vec<RelayAction> {
        let h = verified.header();
        let doc = h.doc;
        let bad = |code, retry, text: &str| vec![err(conn, code, retry, Some(doc), text)];
        let Some(state) = self.docs.get_mut(&doc) else {
            return bad(
                ErrorCode::UnknownDoc,
                RetryClass::RetryLater,
                "unknown document",
            );
        };
        if !state.membership.can_write(&device) {
            return bad(
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                "no write role",
            );
        }
        if h.epoch > state.membership.epoch() {
            return bad(
                ErrorCode::BadEnvelope,
                RetryClass::RetryLater,
                "epoch not yet started",
            );
        }
        let (author, author_seq, hash) = (h.author, h.seq, verified.hash());
        match state.offer(&verified) {
            Offer::Duplicate { doc_seq } => {
                vec![ack(conn, doc, author, author_seq, hash, doc_seq)]
            }
            Offer::Gap { expected } => bad(
                ErrorCode::Gap,
                RetryClass::RetryLater,
                &format!("expected author seq {expected}"),
            ),
            Offer::Fork => bad(
                ErrorCode::Fork,
                RetryClass::Unauthorised,
                "conflicts with the stored chain",
            ),
            Offer::BadCovers => bad(
                ErrorCode::BadEnvelope,
                RetryClass::Unauthorised,
                "snapshot covers unknown envelopes",
            ),
            Offer::Accepted { meta, compact } => {
                let subscribers = self.subscribers.get(&doc);
                let fan_out = subscribers.map_or(0, |s| s.len());
                let mut out = Vec::with_capacity(fan_out + 3);
                let envelope = verified.envelope().clone();
                out.push(RelayAction::StoreEnvelope {
                    doc,
                    meta,
                    envelope: verified,
                });
                if !compact.is_empty() {
                    out.push(RelayAction::Compact {
                        doc,
                        doc_seqs: compact,
                    });
                }
                out.push(ack(conn, doc, author, author_seq, hash, meta.doc_seq));
                for c in subscribers.into_iter().flatten() {
                    if *c != conn {
                        let msg = Message::Deliver {
                            doc,
                            doc_seq: meta.doc_seq,
                            envelope: envelope.clone(),
                        };
                        out.push(send(*c, msg));
                    }
                }
                out
            }
        }
    }

    fn membership_error(conn: ConnId, doc: DocId, e: &MembershipError) -> RelayAction {
        let retry = match e {
            MembershipError::BadLink { .. } => RetryClass::RetryLater,
            _ => RetryClass::Unauthorised,
        };
        err(
            conn,
            ErrorCode::BadMembership,
            retry,
            Some(doc),
            e.to_string(),
        )
    }

    /// Applies an op, stamps it with the relay's clock `now`, and fans it
    /// out; drops subscriptions of removed members.
    fn append_op(
        &mut self,
        now: u64,
        conn: ConnId,
        doc: DocId,
        op: MembershipOp,
    ) -> Vec<RelayAction> {
        let result = match self.docs.get_mut(&doc) {
            Some(state) => state.apply_op(&op),
            None => match MembershipState::verify_chain(doc, std::slice::from_ref(&op)) {
                Ok(m) => {
                    self.docs
                        .insert(doc, DocState::new(m, vec![op.clone()], vec![None]));
                    Ok(0)
                }
                Err(e) => Err(e),
            },
        };
        let index = match result {
            Ok(i) => i,
            Err(e) => return vec![Self::membership_error(conn, doc, &e)],
        };
        let stamp = OpStamp::sign(&self.key, &doc, index, &op.hash(), now);
        if matches!(op.content().body, OpBody::DeleteDocument) {
            let tombstone = super::Tombstone {
                at: now,
                op: Some((index, op, stamp)),
            };
            return self.erase(doc, tombstone, Some(conn));
        }
        if let Some(state) = self.docs.get_mut(&doc) {
            state.stamp(index, stamp);
        }
        let mut out = vec![RelayAction::StoreMembershipOp {
            doc,
            index,
            op: op.clone(),
            stamp,
        }];
        out.extend(self.fan_out_op(doc, index, op, stamp, Some(conn)));
        out
    }

    /// Sends an appended op to the document's subscribers (and to
    /// `origin`, its publisher, if on this relay) and drops the
    /// subscriptions of members it removed.
    pub(super) fn fan_out_op(
        &mut self,
        doc: DocId,
        index: u64,
        op: MembershipOp,
        stamp: OpStamp,
        origin: Option<ConnId>,
    ) -> Vec<RelayAction> {
        let mut out = Vec::new();
        let mut targets = self.subscribers(&doc);
        targets.extend(self.replaying(&doc));
        if let Some(conn) = origin
            && !targets.contains(&conn)
        {
            targets.push(conn);
        }
        for c in targets {
            out.push(send(
                c,
                Message::MembershipDeliver {
                    doc,
                    index,
                    op: op.clone(),
                    stamp: Some(stamp),
                },
            ));
        }
        // Removed members stop receiving the document.
        let Some(state) = self.docs.get(&doc) else {
            return out;
        };
        let mut listening = self.subscribers(&doc);
        listening.extend(self.replaying(&doc));
        let removed: Vec<ConnId> = listening
            .into_iter()
            .filter(|id| {
                self.conns.get(id).is_some_and(|c| {
                    matches!(c.auth, super::AuthState::Authenticated(d)
                        if state.membership.role(&d).is_none())
                })
            })
            .collect();
        for id in removed {
            self.remove_subscription(id, &doc);
            out.push(err(
                id,
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                Some(doc),
                "removed from document",
            ));
        }
        out
    }

    pub(super) fn membership_publish(
        &mut self,
        now: u64,
        conn: ConnId,
        doc: DocId,
        op: MembershipOp,
    ) -> Vec<RelayAction> {
        if matches!(op.content().body, OpBody::RedeemInvite { .. }) {
            return self.invite_redeem_checked(now, conn, doc, op);
        }
        self.append_op(now, conn, doc, op)
    }

    pub(super) fn invite_fetch(
        &mut self,
        now: u64,
        conn: ConnId,
        doc: DocId,
        invite: InviteId,
    ) -> Vec<RelayAction> {
        let refuse =
            |retry, text: &str| vec![err(conn, ErrorCode::Forbidden, retry, Some(doc), text)];
        let Some(state) = self.docs.get(&doc) else {
            // The owner's device has not told the relay of the document yet.
            return vec![err(
                conn,
                ErrorCode::UnknownDoc,
                RetryClass::RetryLater,
                Some(doc),
                "unknown document",
            )];
        };
        // Each refusal says which, so the joiner can tell a used link from
        // an expired one, and both from one the relay has not learnt yet.
        match state.membership.invites().get(&invite) {
            None => refuse(RetryClass::RetryLater, "unknown invite"),
            Some(inv) => match inv.status {
                InviteStatus::Used(_) => refuse(RetryClass::Unauthorised, "invite already used"),
                InviteStatus::Revoked => refuse(RetryClass::Unauthorised, "invite revoked"),
                InviteStatus::Live if now > inv.expires_at => {
                    refuse(RetryClass::Unauthorised, "invite expired")
                }
                InviteStatus::Live => {
                    let mut out = log_messages(conn, doc, state);
                    out.push(send(conn, Message::InviteRedeemable { doc, invite }));
                    out
                }
            },
        }
    }

    /// Where a device invite is live, for the holder of its secret.
    pub(super) fn invite_find(
        &mut self,
        now: u64,
        conn: ConnId,
        device: DeviceId,
        invite: InviteId,
        proof: crate::keys::Signature,
    ) -> Vec<RelayAction> {
        let docs = if proof.verify(&invite, crate::domain::INVITE_FIND, device.as_bytes()) {
            self.docs
                .iter()
                .filter(|(_, d)| {
                    d.membership.invites().get(&invite).is_some_and(|inv| {
                        inv.is_device_invite()
                            && inv.status == InviteStatus::Live
                            && now <= inv.expires_at
                    })
                })
                .map(|(doc, _)| *doc)
                .take(crate::wire::MAX_DOCS_PER_MESSAGE)
                .collect()
        } else {
            Vec::new()
        };
        vec![send(conn, Message::InviteDocs { invite, docs })]
    }

    pub(super) fn invite_redeem(
        &mut self,
        now: u64,
        conn: ConnId,
        device: DeviceId,
        doc: DocId,
        op: MembershipOp,
    ) -> Vec<RelayAction> {
        if op.content().author != device {
            return vec![err(
                conn,
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                Some(doc),
                "redeem for yourself",
            )];
        }
        self.invite_redeem_checked(now, conn, doc, op)
    }

    fn invite_redeem_checked(
        &mut self,
        now: u64,
        conn: ConnId,
        doc: DocId,
        op: MembershipOp,
    ) -> Vec<RelayAction> {
        let c = op.content();
        if !matches!(c.body, OpBody::RedeemInvite { .. }) {
            return vec![err(
                conn,
                ErrorCode::BadMembership,
                RetryClass::Unauthorised,
                Some(doc),
                "not a redeem op",
            )];
        }
        if c.at.abs_diff(now) > self.config.auth_window_ms {
            return vec![err(
                conn,
                ErrorCode::BadMembership,
                RetryClass::Unauthorised,
                Some(doc),
                "redeem clock outside the window",
            )];
        }
        // Expiry is judged by the relay's clock (which it stamps on the op
        // and members check), not by the time the joiner wrote.
        let invite = match &c.body {
            OpBody::RedeemInvite { invite, .. } => *invite,
            _ => return Vec::new(),
        };
        let expired = self
            .docs
            .get(&doc)
            .and_then(|s| s.membership.invites().get(&invite))
            .is_some_and(|inv| now > inv.expires_at);
        if expired {
            return vec![err(
                conn,
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                Some(doc),
                "invite expired",
            )];
        }
        self.append_op(now, conn, doc, op)
    }
}

/// The whole membership log of `doc`, with the relay's stamps, for `conn`.
fn log_messages(conn: ConnId, doc: DocId, state: &DocState) -> Vec<RelayAction> {
    state
        .ops
        .iter()
        .zip(&state.stamps)
        .enumerate()
        .map(|(i, (op, stamp))| {
            send(
                conn,
                Message::MembershipDeliver {
                    doc,
                    index: i as u64,
                    op: op.clone(),
                    stamp: *stamp,
                },
            )
        })
        .collect()
}
