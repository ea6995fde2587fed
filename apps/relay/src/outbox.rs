//! The queue from the hub to one connection task.
//!
//! The hub hands a connection everything one commit released for it as one
//! batch, so the connection wakes once, writes every frame and flushes once
//! (one send syscall where there used to be one per message), and signs all
//! the acks of the batch with one signature. The queue counts messages and
//! bytes: a connection with more than [`crate::Limits::outbound_queue`]
//! messages or [`crate::Limits::outbound_queue_bytes`] bytes waiting is too
//! slow and is dropped (it resumes from its cursor). A replay counts as one
//! message (catching up is not being slow) but by its bytes, which its
//! pieces bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use starling_protocol::wire::{AckEntry, Message};
use tokio::sync::mpsc;

/// One thing to send a connection (small: a fan-out queues one per
/// subscriber).
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Encode and send this message.
    Msg(Box<Message>),
    /// Send this already encoded `deliver` frame (shared by a fan-out).
    Frame(Bytes),
    /// Acknowledge this envelope: the connection signs every ack of a batch
    /// as one `acks` message.
    Ack(Box<AckEntry>),
    /// Send a close frame with this reason and stop.
    Close(&'static str),
    /// The piece of a replay of this document before it has been written:
    /// ask the hub for the next piece.
    ReplayNext(starling_protocol::DocId),
}

impl Outbound {
    /// About how many bytes it puts on the wire.
    pub fn size(&self) -> u64 {
        match self {
            Outbound::Frame(b) => b.len() as u64,
            Outbound::Msg(m) => match &**m {
                Message::Deliver { envelope, .. } => envelope.as_bytes().len() as u64 + 64,
                Message::MembershipDeliver { op, .. } => op.to_bytes().len() as u64 + 160,
                _ => 256,
            },
            Outbound::Ack(_) => 160,
            Outbound::Close(_) | Outbound::ReplayNext(_) => 0,
        }
    }
}

/// Outbound items, the number of messages they count for, and their bytes.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub items: Vec<Outbound>,
    pub weight: usize,
    pub bytes: u64,
}

/// Why a batch was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Over the limit of queued messages.
    TooSlow,
    /// The connection task has stopped.
    Gone,
}

/// The hub's end. Batches travel boxed: the channel allocates its first
/// 32 slots when it is made, and a pointer per slot instead of a whole
/// batch keeps an idle connection ~1 KB lighter.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Box<Batch>>,
    queued: Arc<AtomicUsize>,
    queued_bytes: Arc<AtomicU64>,
    limit: usize,
    byte_limit: u64,
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<Box<Batch>>,
    queued: Arc<AtomicUsize>,
    queued_bytes: Arc<AtomicU64>,
}

/// A queue that holds at most `limit` messages and `byte_limit` bytes.
pub(crate) fn outbox(limit: usize, byte_limit: u64) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let queued_bytes = Arc::new(AtomicU64::new(0));
    (
        Outbox {
            tx,
            queued: queued.clone(),
            queued_bytes: queued_bytes.clone(),
            limit,
            byte_limit,
        },
        Inbox {
            rx,
            queued,
            queued_bytes,
        },
    )
}

impl Outbox {
    /// Queues a batch, unless the connection already has too much waiting.
    /// A batch meeting an empty queue is always taken, however heavy: one
    /// commit's worth for one connection is never "too slow".
    pub fn send(&self, batch: Batch) -> Result<(), Refused> {
        let before = self.queued.fetch_add(batch.weight, Ordering::AcqRel);
        let before_bytes = self.queued_bytes.fetch_add(batch.bytes, Ordering::AcqRel);
        let over = before.saturating_add(batch.weight) > self.limit
            || before_bytes.saturating_add(batch.bytes) > self.byte_limit;
        if (before > 0 || before_bytes > 0) && over {
            self.queued.fetch_sub(batch.weight, Ordering::AcqRel);
            self.queued_bytes.fetch_sub(batch.bytes, Ordering::AcqRel);
            return Err(Refused::TooSlow);
        }
        let (weight, bytes) = (batch.weight, batch.bytes);
        self.tx.send(Box::new(batch)).map_err(|_| {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            Refused::Gone
        })
    }

    /// Queues a close frame; never refused for being slow.
    pub fn close(&self, why: &'static str) {
        let _ = self.tx.send(Box::new(Batch {
            items: vec![Outbound::Close(why)],
            weight: 0,
            bytes: 0,
        }));
    }
}

impl Inbox {
    /// The next batch; `None` once the hub dropped the connection.
    pub async fn recv(&mut self) -> Option<Batch> {
        self.rx.recv().await.map(|b| *b)
    }

    /// Another batch, if one is already queued.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.rx.try_recv().ok().map(|b| *b)
    }

    /// `weight` messages of `bytes` bytes were written.
    pub fn written(&self, weight: usize, bytes: u64) {
        self.queued.fetch_sub(weight, Ordering::AcqRel);
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Batch {
        Batch {
            items: (0..n).map(|_| Outbound::Frame(Bytes::new())).collect(),
            weight: n,
            bytes: 0,
        }
    }

    fn heavy(bytes: u64) -> Batch {
        Batch {
            items: vec![Outbound::Frame(Bytes::from(vec![0; bytes as usize]))],
            weight: 1,
            bytes,
        }
    }

    #[test]
    fn counts_bytes_too() {
        let (tx, mut rx) = outbox(100, 1000);
        tx.send(heavy(600)).unwrap();
        assert_eq!(
            tx.send(heavy(600)).unwrap_err(),
            Refused::TooSlow,
            "1200 bytes over 1000"
        );
        tx.send(heavy(300)).unwrap();
        let b = rx.try_recv().unwrap();
        rx.written(b.weight, b.bytes);
        tx.send(heavy(600)).unwrap();
        // One heavy batch meeting an empty queue is taken.
        let (tx, _rx) = outbox(100, 1000);
        tx.send(heavy(5000)).unwrap();
    }

    #[test]
    fn counts_messages_until_written() {
        let (tx, mut rx) = outbox(10, u64::MAX);
        tx.send(batch(6)).unwrap();
        assert_eq!(tx.send(batch(5)).unwrap_err(), Refused::TooSlow);
        tx.send(batch(4)).unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(b.items.len(), 6);
        rx.written(b.weight, b.bytes);
        tx.send(batch(5)).unwrap();
        // A close always gets through.
        tx.close("bye");
        assert_eq!(rx.try_recv().unwrap().weight, 4);
        assert_eq!(rx.try_recv().unwrap().weight, 5);
        assert!(matches!(
            rx.try_recv().unwrap().items[..],
            [Outbound::Close("bye")]
        ));
        drop(rx);
        assert_eq!(tx.send(batch(1)).unwrap_err(), Refused::Gone);
    }

    #[test]
    fn one_heavy_batch_on_an_empty_queue_is_not_too_slow() {
        let (tx, mut rx) = outbox(10, u64::MAX);
        tx.send(batch(25)).unwrap();
        assert_eq!(tx.send(batch(1)).unwrap_err(), Refused::TooSlow);
        let b = rx.try_recv().unwrap();
        rx.written(b.weight, b.bytes);
        tx.send(batch(1)).unwrap();
    }
}
