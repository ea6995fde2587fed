//! One websocket connection, independent of the websocket library: the
//! handler takes a `Sink` and a `Stream` of [`WsFrame`]s, so axum, a
//! tokio-tungstenite stream or a pair of channels can drive it.
//!
//! Work that needs no shared state happens here, in parallel across
//! connections, before the hub sees anything: frame size, the message rate
//! (token bucket), decoding, the subscription limit, and the signatures of
//! published envelopes. Frames that arrived together are handled together:
//! their envelopes are verified as one ed25519 batch (with the decoded key
//! of the device the connection authenticated as, kept for the
//! connection's lifetime) and forwarded to the hub as one event.
//!
//! Outgoing, everything the hub queued is written, then flushed once; the
//! acks among it are signed as one `acks` message. Each connection pings
//! when idle and is closed after [`Limits::idle_timeout_secs`] of silence.

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use starling_protocol::envelope::verify_batch_with;
use starling_protocol::relay::{CheckedPublish, ConnId};
use starling_protocol::wire::{self, AckEntry, Acks, ErrorCode, MAX_ACKS, Message, RetryClass};
use starling_protocol::{DeviceId, DeviceKey, DocId, Envelope, EnvelopeError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::hub::{HubEvent, Inbound};
use crate::limits::TokenBucket;
use crate::metrics::Metrics;
use crate::outbox::{Batch, Outbound, outbox};

/// A websocket frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsFrame {
    /// A binary frame: one wire message. Shared bytes, so one encoded
    /// delivery goes to every subscriber without a copy.
    Binary(Bytes),
    /// A text frame (refused: the protocol is binary).
    Text(String),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame, with code and reason.
    Close(Option<(u16, String)>),
}

/// Close code for a relay going away (shutdown, idle timeout).
const CLOSE_AWAY: u16 = 1001;
/// Close code for a policy violation or overload.
const CLOSE_POLICY: u16 = 1008;
/// Most frames read before they are handled together.
const READ_BATCH: usize = 64;
/// Most hub batches written before a flush.
const WRITE_BATCH: usize = 64;

/// Everything a connection task needs.
#[derive(Clone, Debug)]
pub(crate) struct ConnCtx {
    pub hub: tokio::sync::mpsc::Sender<HubEvent>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub cancel: CancellationToken,
    /// The relay's key, to sign acks.
    pub relay_key: Arc<DeviceKey>,
}

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
        _ => "other",
    }
}

struct State {
    conn: ConnId,
    ctx: ConnCtx,
    bucket: TokenBucket,
    subs: HashSet<DocId>,
    last_seen: Instant,
    /// The device of the `hello` (its key decoded when it was parsed).
    device: Option<DeviceId>,
    /// Whether the relay welcomed `device`: the core authenticated it, and
    /// holds every publish on this connection to be its own. Envelopes it
    /// authors are verified here with its decoded key; anything else goes
    /// to the core unverified (which refuses it, or verifies it itself).
    welcomed: bool,
}

/// What to do with one incoming frame.
enum Step {
    Continue,
    Forward(Message),
    Send(Message),
    SendAndClose(Message, &'static str),
    Close,
}

impl State {
    fn error(code: ErrorCode, retry: RetryClass, text: impl Into<String>) -> Message {
        Message::error(code, retry, None, text)
    }

    /// The cheap checks of one incoming frame.
    fn incoming(&mut self, frame: WsFrame) -> Step {
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
        self.ctx
            .metrics
            .bytes_in
            .fetch_add(bytes.len() as u64, Relaxed);
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
                self.ctx
                    .metrics
                    .subscriptions
                    .fetch_add(new.len() as i64, Relaxed);
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
                        self.ctx.metrics.subscriptions.fetch_sub(1, Relaxed);
                    }
                }
            }
            _ => {}
        }
        Step::Forward(msg)
    }

    /// Verifies the publishes among `msgs` that the authenticated device
    /// authored, as one batch, and wraps each message for the hub.
    fn check(&self, msgs: Vec<Message>) -> Vec<Inbound> {
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
    fn outgoing(&mut self, msg: &Message) -> Option<Bytes> {
        match msg {
            Message::Welcome { .. } => self.welcomed = true,
            Message::Deliver { .. } => {
                self.ctx.metrics.envelopes_out.fetch_add(1, Relaxed);
            }
            Message::Error { code, doc, .. } => {
                self.ctx.metrics.error_sent(code_name(*code));
                if let (Some(d), ErrorCode::Forbidden | ErrorCode::UnknownDoc) = (doc, code)
                    && self.subs.remove(d)
                {
                    self.ctx.metrics.subscriptions.fetch_sub(1, Relaxed);
                }
            }
            _ => {}
        }
        match wire::encode(msg) {
            Ok(b) => {
                self.ctx
                    .metrics
                    .bytes_out
                    .fetch_add(b.len() as u64, Relaxed);
                Some(Bytes::from(b))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an outgoing message");
                None
            }
        }
    }

    /// Signs `acks` as few `acks` messages as the size limit allows.
    fn acks_frames(&mut self, acks: &mut Vec<AckEntry>) -> Vec<Bytes> {
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

/// Writes queued batches without flushing; returns why to stop, if so. The
/// acks among them go out last (before a close), as one signed message.
async fn write_out<Si: Sink<WsFrame> + Unpin>(
    st: &mut State,
    sink: &mut Si,
    batches: Vec<Batch>,
) -> Option<&'static str> {
    let mut acks = Vec::new();
    for item in batches.into_iter().flat_map(|b| b.items) {
        let frame = match item {
            Outbound::Msg(m) => match st.outgoing(&m) {
                Some(b) => b,
                None => continue,
            },
            Outbound::Frame(b) => {
                st.ctx.metrics.envelopes_out.fetch_add(1, Relaxed);
                st.ctx.metrics.bytes_out.fetch_add(b.len() as u64, Relaxed);
                b
            }
            Outbound::Ack(e) => {
                acks.push(*e);
                continue;
            }
            Outbound::Close(why) => {
                for b in st.acks_frames(&mut acks) {
                    let _ = sink.feed(WsFrame::Binary(b)).await;
                }
                let _ = sink.feed(close(CLOSE_POLICY, why)).await;
                return Some(why);
            }
        };
        if sink.feed(WsFrame::Binary(frame)).await.is_err() {
            return Some("write failed");
        }
    }
    for b in st.acks_frames(&mut acks) {
        if sink.feed(WsFrame::Binary(b)).await.is_err() {
            return Some("write failed");
        }
    }
    None
}

fn close(code: u16, reason: &str) -> WsFrame {
    WsFrame::Close(Some((code, reason.to_owned())))
}

/// Reads, checks and forwards frames that arrived together; answers what
/// the checks refuse. Returns why to stop, if so.
async fn read_in<Si, St, E>(
    st: &mut State,
    sink: &mut Si,
    stream: &mut St,
    first: WsFrame,
) -> Option<&'static str>
where
    Si: Sink<WsFrame> + Unpin,
    St: Stream<Item = Result<WsFrame, E>> + Unpin,
    E: Display,
{
    let mut frames = vec![first];
    let mut end = None;
    while frames.len() < READ_BATCH {
        match stream.next().now_or_never() {
            Some(Some(Ok(f))) => frames.push(f),
            Some(Some(Err(e))) => {
                tracing::debug!(error = %e, "read failed");
                end = Some("read failed");
                break;
            }
            Some(None) => {
                end = Some("peer closed");
                break;
            }
            None => break,
        }
    }
    let mut forward = Vec::new();
    let mut replied = false;
    for f in frames {
        match st.incoming(f) {
            Step::Continue => {}
            Step::Forward(m) => forward.push(m),
            Step::Send(m) => {
                if let Some(b) = st.outgoing(&m) {
                    replied = true;
                    if sink.feed(WsFrame::Binary(b)).await.is_err() {
                        end = Some("write failed");
                        break;
                    }
                }
            }
            Step::SendAndClose(m, why) => {
                if let Some(b) = st.outgoing(&m) {
                    let _ = sink.feed(WsFrame::Binary(b)).await;
                }
                let _ = sink.feed(close(CLOSE_POLICY, why)).await;
                replied = true;
                end = Some(why);
                break;
            }
            Step::Close => {
                end = Some("peer closed");
                break;
            }
        }
    }
    if !forward.is_empty() {
        let msgs = st.check(forward);
        match st.ctx.hub.reserve_many(msgs.len()).await {
            Ok(permits) => {
                for (permit, m) in permits.zip(msgs) {
                    permit.send(HubEvent::Message {
                        conn: st.conn,
                        msg: m,
                    });
                }
            }
            Err(_) => end = end.or(Some("peer closed")),
        }
    }
    if replied && sink.flush().await.is_err() {
        end = end.or(Some("write failed"));
    }
    end
}

/// Serves one connection until either side closes it or the relay shuts
/// down (then pending messages are flushed and a close frame sent).
pub(crate) async fn serve<Si, St, E>(conn: ConnId, mut sink: Si, mut stream: St, ctx: ConnCtx)
where
    Si: Sink<WsFrame> + Unpin,
    St: Stream<Item = Result<WsFrame, E>> + Unpin,
    E: Display,
{
    let (tx, mut rx) = outbox(ctx.limits.outbound_queue);
    if ctx
        .hub
        .send(HubEvent::Connect { conn, outbox: tx })
        .await
        .is_err()
    {
        let _ = sink.send(close(CLOSE_AWAY, "relay shutting down")).await;
        return;
    }
    ctx.metrics.connections.fetch_add(1, Relaxed);
    ctx.metrics.connections_total.fetch_add(1, Relaxed);
    tracing::debug!("connected");
    let ping_every = Duration::from_secs(ctx.limits.ping_interval_secs);
    let idle = Duration::from_secs(ctx.limits.idle_timeout_secs);
    let mut st = State {
        conn,
        bucket: TokenBucket::new(ctx.limits.messages_per_sec, ctx.limits.message_burst),
        subs: HashSet::new(),
        last_seen: Instant::now(),
        device: None,
        welcomed: false,
        ctx,
    };
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut draining = false;
    let cancel = st.ctx.cancel.clone();
    let reason = loop {
        tokio::select! {
            biased;
            out = rx.recv() => {
                let Some(first) = out else {
                    let _ = sink.send(close(CLOSE_AWAY, "relay shutting down")).await;
                    break "relay closed the connection";
                };
                // Write everything queued, then flush once.
                let mut batches = vec![first];
                while batches.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Some(b) => batches.push(b),
                        None => break,
                    }
                }
                let weight = batches.iter().map(|b| b.weight).sum();
                let stop = write_out(&mut st, &mut sink, batches).await;
                let flushed = sink.flush().await.is_ok();
                rx.written(weight);
                if let Some(why) = stop { break why; }
                if !flushed { break "write failed"; }
            }
            _ = cancel.cancelled(), if !draining => {
                // Stop reading; the hub finishes in-flight commits, then
                // drops our queue, which ends the loop with a close frame.
                draining = true;
            }
            frame = stream.next(), if !draining => match frame {
                None => break "peer closed",
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "read failed");
                    break "read failed";
                }
                Some(Ok(f)) => {
                    if let Some(why) = read_in(&mut st, &mut sink, &mut stream, f).await {
                        break why;
                    }
                }
            },
            _ = ping.tick() => {
                if st.last_seen.elapsed() >= idle {
                    st.ctx.metrics.rejection("idle_timeout");
                    let _ = sink.send(close(CLOSE_AWAY, "idle timeout")).await;
                    break "idle timeout";
                }
                if st.last_seen.elapsed() >= ping_every && sink.send(WsFrame::Ping(Vec::new())).await.is_err() {
                    break "write failed";
                }
            }
        }
    };
    let _ = sink.close().await;
    let _ = st.ctx.hub.send(HubEvent::Disconnect { conn }).await;
    st.ctx.metrics.connections.fetch_sub(1, Relaxed);
    st.ctx
        .metrics
        .subscriptions
        .fetch_sub(st.subs.len() as i64, Relaxed);
    tracing::debug!(reason, "disconnected");
}
