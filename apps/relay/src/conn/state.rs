//! One connection's state and the checks that need no shared state: frame
//! size, message rate, decoding, the subscription limit, and the
//! signatures of the authenticated device's publishes (one batch per read).
//! Outgoing messages are encoded here too, acks signed together.

use std::collections::HashSet;

use bytes::Bytes;
use starling_protocol::envelope::verify_batch_with;
use starling_protocol::relay::{CheckedPublish, ConnId};
use starling_protocol::wire::{self, AckEntry, Acks, ErrorCode, MAX_ACKS, Message, RetryClass};
use starling_protocol::{DeviceId, DocId, Envelope, EnvelopeError};
use tokio::time::Instant;

use super::{ConnCtx, WsFrame};
use crate::hub::Inbound;
use crate::limits::TokenBucket;

fn code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Malformed => "malformed",
        ErrorCode::Version => "version",
        ErrorCode::AuthFailed => "auth_failed",
        ErrorCode::NotAllowed => "not_allowed",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::UnknownDoc => "unknown_doc",
        ErrorCode::BadEnvelope => "bad_envelope",
        ErrorCode::Gap => "gap",
        ErrorCode::Fork => "fork",
        ErrorCode::BadMembership => "bad_membership",
        ErrorCode::TooLarge => "too_large",
        ErrorCode::Busy => "busy",
        ErrorCode::Deleted => "deleted",
        _ => "other",
    }
}

pub(super) struct State {
    pub(super) conn: ConnId,
    pub(super) ctx: ConnCtx,
    pub(super) bucket: TokenBucket,
    pub(super) subs: HashSet<DocId>,
    pub(super) last_seen: Instant,
    /// The device of the `hello` (its key decoded when it was parsed).
    pub(super) device: Option<DeviceId>,
    /// Whether the relay welcomed `device`: the core authenticated it, and
    /// holds every publish on this connection to be its own. Envelopes it
    /// authors are verified here with its decoded key; anything else goes
    /// to the core unverified (which refuses it, or verifies it itself).
    pub(super) welcomed: bool,
    /// Documents whose replay piece was just written: the hub sends the
    /// next once they are flushed (and the device's answers are paid for).
    pub(super) replay_next: Vec<DocId>,
    /// Whether the connection counts among its device's (see
    /// [`crate::limits::AnswerBudgets::join`]).
    pub(super) joined: bool,
    /// Answer bytes written and not yet charged to the device.
    pub(super) answered: u64,
    /// While the device's answers are in debt: when it is paid. The
    /// connection is not read, and its replays wait, until then.
    pub(super) paid_at: Option<Instant>,
}

/// What to do with one incoming frame.
pub(super) enum Step {
    Continue,
    Forward(Message),
    Send(Message),
    SendAndClose(Message, &'static str),
    Close,
}

impl State {
    /// Charges the answers written since the last charge to the device;
    /// sets `paid_at` while it is in debt.
    pub(super) fn charge_answers(&mut self) {
        let bytes = std::mem::take(&mut self.answered);
        if let (true, Some(device)) = (self.joined, self.device) {
            self.paid_at = self.ctx.answers.charge(device, bytes);
        }
    }

    /// Asks the hub for what follows the replay pieces written; false if
    /// the hub is gone.
    pub(super) async fn ask_replay_next(&mut self) -> bool {
        for doc in std::mem::take(&mut self.replay_next) {
            let ev = crate::hub::HubEvent::ReplayNext {
                conn: self.conn,
                doc,
            };
            if self.ctx.hub.send(ev).await.is_err() {
                return false;
            }
        }
        true
    }

    fn error(code: ErrorCode, retry: RetryClass, text: impl Into<String>) -> Message {
        Message::error(code, retry, None, text)
    }

    /// The cheap checks of one incoming frame.
    pub(super) fn incoming(&mut self, frame: WsFrame) -> Step {
        self.last_seen = Instant::now();
        let bytes = match frame {
            WsFrame::Binary(b) => b,
            WsFrame::Text(_) => {
                self.ctx.metrics.rejection("text_frame");
                let e = Self::error(
                    ErrorCode::Malformed,
                    RetryClass::Unauthorised,
                    "binary frames only",
                );
                return Step::Send(e);
            }
            WsFrame::Ping(_) | WsFrame::Pong(_) => return Step::Continue,
            WsFrame::Close(_) => return Step::Close,
        };
        self.ctx.metrics.bytes_in.inc_by(bytes.len() as u64);
        if !self.bucket.try_take() {
            self.ctx.metrics.rejection("rate_limit");
            let text = format!(
                "over {} messages per second",
                self.ctx.limits.messages_per_sec
            );
            return Step::Send(Self::error(ErrorCode::Busy, RetryClass::RetryLater, text));
        }
        if bytes.len() > self.ctx.limits.max_frame_bytes {
            self.ctx.metrics.rejection("frame_too_large");
            let text = format!(
                "frame of {} bytes over {}",
                bytes.len(),
                self.ctx.limits.max_frame_bytes
            );
            return Step::Send(Self::error(ErrorCode::TooLarge, RetryClass::TooLarge, text));
        }
        let msg = match wire::decode(&bytes) {
            Ok(m) => m,
            Err(wire::WireError::Version(v)) => {
                self.ctx.metrics.rejection("version");
                let text = format!("relay speaks v{}, got v{v}", wire::WIRE_VERSION);
                let e = Self::error(ErrorCode::Version, RetryClass::Upgrade, text);
                return Step::SendAndClose(e, "unsupported wire version");
            }
            Err(wire::WireError::TooLarge(n)) => {
                self.ctx.metrics.rejection("frame_too_large");
                let e = Self::error(
                    ErrorCode::TooLarge,
                    RetryClass::TooLarge,
                    format!("frame of {n} bytes"),
                );
                return Step::Send(e);
            }
            Err(e) => {
                self.ctx.metrics.rejection("malformed");
                return Step::Send(Self::error(
                    ErrorCode::Malformed,
                    RetryClass::Unauthorised,
                    e.to_string(),
                ));
            }
        };
        match &msg {
            Message::Hello { device, .. } => {
                tracing::Span::current().record("device", tracing::field::display(device));
                if !self.welcomed {
                    self.device = Some(*device);
                }
            }
            Message::Subscribe { docs } => {
                let new: HashSet<DocId> = docs
                    .iter()
                    .map(|c| c.doc)
                    .filter(|d| !self.subs.contains(d))
                    .collect();
                if self.subs.len() + new.len() > self.ctx.limits.max_subscriptions {
                    self.ctx.metrics.rejection("subscription_limit");
                    let text = format!(
                        "at most {} subscriptions per connection",
                        self.ctx.limits.max_subscriptions
                    );
                    return Step::Send(Self::error(
                        ErrorCode::TooLarge,
                        RetryClass::TooLarge,
                        text,
                    ));
                }
                self.ctx.metrics.subscriptions.inc_by(new.len() as i64);
                self.subs.extend(new);
            }
            Message::Publish { envelope } => {
                // Hash here, in parallel across connections; the envelope
                // caches it for the hub's dedupe check.
                let _ = envelope.hash();
            }
            Message::Unsubscribe { docs } => {
                for d in docs {
                    if self.subs.remove(d) {
                        self.ctx.metrics.subscriptions.dec();
                    }
                }
            }
            _ => {}
        }
        Step::Forward(msg)
    }

    /// Verifies the publishes among `msgs` that the authenticated device
    /// authored, as one batch, and wraps each message for the hub.
    pub(super) fn check(&self, msgs: Vec<Message>) -> Vec<Inbound> {
        let Some(me) = self.device.filter(|_| self.welcomed) else {
            return msgs
                .into_iter()
                .map(|m| Inbound::Msg(Box::new(m)))
                .collect();
        };
        let mut batch: Vec<Envelope> = Vec::new();
        let mut slots: Vec<Result<Message, Envelope>> = Vec::with_capacity(msgs.len());
        for m in msgs {
            match m {
                Message::Publish { envelope } if envelope.header_unverified().author == me => {
                    batch.push(envelope.clone());
                    slots.push(Err(envelope));
                }
                m => slots.push(Ok(m)),
            }
        }
        // One result per envelope, in order.
        let mut results = verify_batch_with(batch, &[me]).into_iter();
        slots
            .into_iter()
            .map(|s| match s {
                Ok(m) => Inbound::Msg(Box::new(m)),
                Err(envelope) => Inbound::Publish(Box::new(match results.next() {
                    Some(Ok(v)) => CheckedPublish::Verified(v),
                    Some(Err(error)) => CheckedPublish::Failed { envelope, error },
                    None => CheckedPublish::Failed {
                        envelope,
                        error: EnvelopeError::BadSignature,
                    },
                })),
            })
            .collect()
    }

    /// Encodes an outgoing message; keeps counters, the subscription set
    /// and the authenticated device.
    pub(super) fn outgoing(&mut self, msg: &Message) -> Option<Bytes> {
        match msg {
            Message::Welcome { .. } => self.welcomed = true,
            Message::Deliver { .. } => {
                self.ctx.metrics.envelopes_out.inc();
            }
            Message::Error { code, doc, .. } => {
                self.ctx.metrics.error_sent(code_name(*code));
                if let (Some(d), ErrorCode::Forbidden | ErrorCode::UnknownDoc) = (doc, code)
                    && self.subs.remove(d)
                {
                    self.ctx.metrics.subscriptions.dec();
                }
            }
            _ => {}
        }
        match wire::encode(msg) {
            Ok(b) => {
                self.ctx.metrics.bytes_out.inc_by(b.len() as u64);
                Some(Bytes::from(b))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an outgoing message");
                None
            }
        }
    }

    /// Signs `acks` as few `acks` messages as the size limit allows.
    pub(super) fn acks_frames(&mut self, acks: &mut Vec<AckEntry>) -> Vec<Bytes> {
        let mut out = Vec::new();
        for chunk in acks.chunks(MAX_ACKS) {
            let m = Message::Acks(Acks::sign(&self.ctx.relay_key, chunk.to_vec()));
            if let Some(b) = self.outgoing(&m) {
                out.push(b);
            }
        }
        acks.clear();
        out
    }
}
