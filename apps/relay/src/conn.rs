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

mod state;

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use starling_protocol::DeviceKey;
use starling_protocol::relay::ConnId;
use starling_protocol::wire::{ErrorCode, Message, RetryClass};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::hub::HubEvent;
use crate::limits::{AnswerBudgets, TokenBucket};
use crate::metrics::Metrics;
use crate::outbox::{Batch, Outbound, outbox};
use state::{State, Step};

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
    /// Incoming writes held between reading and committing, in KiB, over
    /// all connections ([`Limits::intake_bytes`]).
    pub intake: Arc<Semaphore>,
    /// What each device's requests make the relay send.
    pub answers: Arc<AnswerBudgets>,
}

impl ConnCtx {
    /// Takes `kib` of intake, waiting while commits catch up; `None` when
    /// the relay is stopping.
    async fn take_intake(&self, kib: u32) -> Option<OwnedSemaphorePermit> {
        let total = (self.limits.intake_bytes / 1024).min(u64::from(u32::MAX)) as u32;
        let kib = kib.clamp(1, total.max(1));
        match self.intake.clone().try_acquire_many_owned(kib) {
            Ok(p) => Some(p),
            Err(_) => {
                self.metrics.intake_waits.inc();
                self.intake.clone().acquire_many_owned(kib).await.ok()
            }
        }
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
            Outbound::Msg(m) => {
                let Some(b) = st.outgoing(&m) else {
                    continue;
                };
                match &*m {
                    // Others' presence is paid for by its sender.
                    Message::Presence { .. } => {}
                    Message::Welcome { .. } => {
                        if let Some(device) = st.device {
                            if !st.ctx.answers.join(device) {
                                st.ctx.metrics.rejection("connection_limit");
                                let e = Message::error(
                                    ErrorCode::Busy,
                                    RetryClass::RetryLater,
                                    None,
                                    "too many connections for this device",
                                );
                                if let Some(b) = st.outgoing(&e) {
                                    let _ = sink.feed(WsFrame::Binary(b)).await;
                                }
                                let _ =
                                    sink.feed(close(CLOSE_POLICY, "too many connections")).await;
                                return Some("too many connections for this device");
                            }
                            st.joined = true;
                        }
                    }
                    _ => st.answered += b.len() as u64,
                }
                b
            }
            Outbound::Frame(b) => {
                st.ctx.metrics.envelopes_out.inc();
                st.ctx.metrics.bytes_out.inc_by(b.len() as u64);
                b
            }
            Outbound::Ack(e) => {
                acks.push(*e);
                continue;
            }
            Outbound::ReplayNext(doc) => {
                st.replay_next.push(doc);
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
    let mut kib = 0u32;
    let mut replied = false;
    for f in frames {
        let size = match &f {
            WsFrame::Binary(b) => b.len(),
            _ => 0,
        };
        match st.incoming(f) {
            Step::Continue => {}
            Step::Forward(m) => {
                forward.push(m);
                kib = kib.saturating_add(size.div_ceil(1024).max(1) as u32);
            }
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
        // Held until the messages are committed: a slow disk slows the
        // reading down instead of filling memory.
        let Some(mut intake) = st.ctx.take_intake(kib).await.map(Some) else {
            return end.or(Some("relay shutting down"));
        };
        match st.ctx.hub.reserve_many(msgs.len()).await {
            Ok(permits) => {
                for (permit, m) in permits.zip(msgs) {
                    permit.send(HubEvent::Message {
                        conn: st.conn,
                        msg: m,
                        permit: intake.take(),
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
    let (tx, mut rx) = outbox(ctx.limits.outbound_queue, ctx.limits.outbound_queue_bytes);
    if ctx
        .hub
        .send(HubEvent::Connect { conn, outbox: tx })
        .await
        .is_err()
    {
        let _ = sink.send(close(CLOSE_AWAY, "relay shutting down")).await;
        return;
    }
    ctx.metrics.connections.inc();
    ctx.metrics.connections_accepted.inc();
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
        replay_next: Vec::new(),
        joined: false,
        answered: 0,
        paid_at: None,
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
                let bytes = batches.iter().map(|b| b.bytes).sum();
                let stop = write_out(&mut st, &mut sink, batches).await;
                let flushed = sink.flush().await.is_ok();
                rx.written(weight, bytes);
                if let Some(why) = stop { break why; }
                if !flushed { break "write failed"; }
                st.charge_answers();
                // Pieces of replays written: ask for what follows them,
                // once the device's answers are paid for.
                if st.paid_at.is_none() && !st.ask_replay_next().await {
                    break "relay closed the connection";
                }
            }
            _ = tokio::time::sleep_until(st.paid_at.unwrap_or_else(Instant::now)), if st.paid_at.is_some() => {
                st.paid_at = None;
                st.charge_answers();
                if st.paid_at.is_none() && !st.ask_replay_next().await {
                    break "relay closed the connection";
                }
            }
            _ = cancel.cancelled(), if !draining => {
                // Stop reading; the hub finishes in-flight commits, then
                // drops our queue, which ends the loop with a close frame.
                draining = true;
            }
            frame = stream.next(), if !draining && st.paid_at.is_none() => match frame {
                None => break "peer closed",
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "read failed");
                    break "read failed";
                }
                Some(Ok(f)) => {
                    // Boxed: its state (~2.8 KB) lives only while a frame is
                    // handled, not in every idle connection's task.
                    if let Some(why) = Box::pin(read_in(&mut st, &mut sink, &mut stream, f)).await {
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
    if let (true, Some(device)) = (st.joined, st.device) {
        st.ctx.answers.leave(device);
    }
    st.ctx.metrics.connections.dec();
    st.ctx.metrics.subscriptions.dec_by(st.subs.len() as i64);
    tracing::debug!(reason, "disconnected");
}
