//! The relay's per-document rules: subscribe, publish, membership, invites.

use super::doc::{DocState, Offer};
use super::{CheckedPublish, ConnId, RelayAction, RelayCore, err, send};
use crate::envelope::{Envelope, EnvelopeHash, VerifiedEnvelope};
use crate::ids::{DeviceId, DocId};
use crate::membership::{
    InviteId, InviteStatus, MembershipError, MembershipOp, MembershipState, OpBody,
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
        let mut out = Vec::new();
        for DocCursor { doc, cursor } in docs {
            let Some(state) = self.docs.get(&doc) else {
                out.push(err(
                    conn,
                    ErrorCode::UnknownDoc,
                    RetryClass::RetryLater,
                    Some(doc),
                    "unknown document",
                ));
                continue;
            };
            if state.membership.role(&device).is_none() {
                out.push(err(
                    conn,
                    ErrorCode::Forbidden,
                    RetryClass::Unauthorised,
                    Some(doc),
                    "not a member",
                ));
                continue;
            }
            for (i, op) in state.ops.iter().enumerate() {
                out.push(send(
                    conn,
                    Message::MembershipDeliver {
                        doc,
                        index: i as u64,
                        op: op.clone(),
                    },
                ));
            }
            out.push(RelayAction::Replay {
                conn,
                doc,
                after: cursor.min(state.last_doc_seq),
                up_to: state.last_doc_seq,
            });
            self.add_subscription(conn, doc);
        }
        out
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

    /// Applies an op and fans it out; drops subscriptions of removed members.
    fn append_op(&mut self, conn: ConnId, doc: DocId, op: MembershipOp) -> Vec<RelayAction> {
        let result = match self.docs.get_mut(&doc) {
            Some(state) => state.apply_op(&op),
            None => match MembershipState::verify_chain(doc, std::slice::from_ref(&op)) {
                Ok(m) => {
                    self.docs.insert(doc, DocState::new(m, vec![op.clone()]));
                    Ok(0)
                }
                Err(e) => Err(e),
            },
        };
        let index = match result {
            Ok(i) => i,
            Err(e) => return vec![Self::membership_error(conn, doc, &e)],
        };
        let mut out = vec![RelayAction::StoreMembershipOp {
            doc,
            index,
            op: op.clone(),
        }];
        let mut targets = self.subscribers(&doc);
        if !targets.contains(&conn) {
            targets.push(conn);
        }
        for c in targets {
            out.push(send(
                c,
                Message::MembershipDeliver {
                    doc,
                    index,
                    op: op.clone(),
                },
            ));
        }
        // Removed members stop receiving the document.
        let Some(state) = self.docs.get(&doc) else {
            return out;
        };
        let removed: Vec<ConnId> = self
            .subscribers(&doc)
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
        self.append_op(conn, doc, op)
    }

    pub(super) fn invite_fetch(
        &mut self,
        now: u64,
        conn: ConnId,
        doc: DocId,
        invite: InviteId,
    ) -> Vec<RelayAction> {
        let live = self
            .docs
            .get(&doc)
            .and_then(|s| s.membership.invites().get(&invite).map(|i| (s, i)));
        match live {
            Some((state, inv)) if inv.status == InviteStatus::Live && now <= inv.expires_at => {
                let mut out: Vec<RelayAction> = state
                    .ops
                    .iter()
                    .enumerate()
                    .map(|(i, op)| {
                        send(
                            conn,
                            Message::MembershipDeliver {
                                doc,
                                index: i as u64,
                                op: op.clone(),
                            },
                        )
                    })
                    .collect();
                out.push(send(conn, Message::InviteRedeemable { doc, invite }));
                out
            }
            _ => vec![err(
                conn,
                ErrorCode::Forbidden,
                RetryClass::Unauthorised,
                Some(doc),
                "no such live invite",
            )],
        }
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
        self.append_op(conn, doc, op)
    }
}
