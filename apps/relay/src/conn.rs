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
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use starling_protocol::DeviceKey;
use starling_protocol::relay::ConnId;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::hub::HubEvent;
use crate::limits::TokenBucket;
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
        replay_next: Vec::new(),
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
                // Pieces of replays written: ask for what follows them.
                for doc in std::mem::take(&mut st.replay_next) {
                    if st.ctx.hub.send(HubEvent::ReplayNext { conn, doc }).await.is_err() {
                        break;
                    }
                }
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
