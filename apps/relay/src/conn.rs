//! One websocket connection, independent of the websocket library: the
//! handler takes a `Sink` and a `Stream` of [`WsFrame`]s, so axum, a
//! tokio-tungstenite stream or a pair of channels can drive it.
//!
//! Cheap checks happen here, in parallel across connections, before the hub
//! sees anything: frame size, the message rate (token bucket), decoding, and
//! the subscription limit. Each connection pings when idle and is closed
//! after [`Limits::idle_timeout_secs`] of silence.

use std::collections::{HashSet, VecDeque};
use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use starling_protocol::DocId;
use starling_protocol::relay::ConnId;
use starling_protocol::wire::{self, ErrorCode, Message, RetryClass, WireError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::hub::{HubEvent, Outbound};
use crate::limits::TokenBucket;
use crate::metrics::Metrics;

/// A websocket frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsFrame {
    /// A binary frame: one wire message.
    Binary(Vec<u8>),
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

/// Everything a connection task needs.
#[derive(Clone, Debug)]
pub(crate) struct ConnCtx {
    pub hub: mpsc::Sender<HubEvent>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub cancel: CancellationToken,
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
}

enum Step {
    Continue,
    Send(Message),
    SendAndClose(Message, &'static str),
    Close,
}

impl State {
    fn error(code: ErrorCode, retry: RetryClass, text: impl Into<String>) -> Message {
        Message::error(code, retry, None, text)
    }

    /// Handles one incoming frame; may forward a message to the hub.
    async fn incoming(&mut self, frame: WsFrame) -> Step {
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
            Err(WireError::Version(v)) => {
                self.ctx.metrics.rejection("version");
                let text = format!("relay speaks v{}, got v{v}", wire::WIRE_VERSION);
                let e = Self::error(ErrorCode::Version, RetryClass::Upgrade, text);
                return Step::SendAndClose(e, "unsupported wire version");
            }
            Err(WireError::TooLarge(n)) => {
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
        let conn = self.conn;
        if self
            .ctx
            .hub
            .send(HubEvent::Message {
                conn,
                msg: Box::new(msg),
            })
            .await
            .is_err()
        {
            return Step::Close;
        }
        Step::Continue
    }

    /// Encodes an outgoing message; keeps counters and the subscription set.
    fn outgoing(&mut self, msg: &Message) -> Option<Vec<u8>> {
        match msg {
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
                Some(b)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot encode an outgoing message");
                None
            }
        }
    }
}

/// Writes queued items without flushing; returns why to stop, if so.
async fn write_out<Si: Sink<WsFrame> + Unpin>(
    st: &mut State,
    sink: &mut Si,
    mut items: VecDeque<Outbound>,
) -> Option<&'static str> {
    while let Some(item) = items.pop_front() {
        let frame = match item {
            Outbound::Many(v) => {
                for x in v.into_iter().rev() {
                    items.push_front(x);
                }
                continue;
            }
            Outbound::Msg(m) => match st.outgoing(&m) {
                Some(b) => WsFrame::Binary(b),
                None => continue,
            },
            Outbound::Deliver(b) => {
                st.ctx.metrics.envelopes_out.fetch_add(1, Relaxed);
                st.ctx.metrics.bytes_out.fetch_add(b.len() as u64, Relaxed);
                WsFrame::Binary(b.as_ref().clone())
            }
            Outbound::Close(why) => {
                let _ = sink.feed(close(CLOSE_POLICY, why)).await;
                return Some(why);
            }
        };
        if sink.feed(frame).await.is_err() {
            return Some("write failed");
        }
    }
    None
}

fn close(code: u16, reason: &str) -> WsFrame {
    WsFrame::Close(Some((code, reason.to_owned())))
}

/// Serves one connection until either side closes it or the relay shuts
/// down (then pending messages are flushed and a close frame sent).
pub(crate) async fn serve<Si, St, E>(conn: ConnId, mut sink: Si, mut stream: St, ctx: ConnCtx)
where
    Si: Sink<WsFrame> + Unpin,
    St: Stream<Item = Result<WsFrame, E>> + Unpin,
    E: Display,
{
    let (tx, mut rx) = mpsc::channel(ctx.limits.outbound_queue);
    if ctx.hub.send(HubEvent::Connect { conn, tx }).await.is_err() {
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
                let mut items = VecDeque::from([first]);
                while items.len() < 256 {
                    match rx.try_recv() {
                        Ok(o) => items.push_back(o),
                        Err(_) => break,
                    }
                }
                let stop = write_out(&mut st, &mut sink, items).await;
                let flushed = sink.flush().await.is_ok();
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
                Some(Ok(f)) => match st.incoming(f).await {
                    Step::Continue => {}
                    Step::Close => break "peer closed",
                    Step::Send(m) => {
                        if let Some(b) = st.outgoing(&m) && sink.send(WsFrame::Binary(b)).await.is_err() {
                            break "write failed";
                        }
                    }
                    Step::SendAndClose(m, why) => {
                        if let Some(b) = st.outgoing(&m) {
                            let _ = sink.feed(WsFrame::Binary(b)).await;
                        }
                        let _ = sink.send(close(CLOSE_POLICY, why)).await;
                        break why;
                    }
                },
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
