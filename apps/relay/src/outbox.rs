//! The queue from the hub to one connection task.
//!
//! The hub hands a connection everything one commit released for it as one
//! batch, so the connection wakes once, writes every frame and flushes once
//! (one send syscall where there used to be one per message), and signs all
//! the acks of the batch with one signature. The queue counts messages, not
//! batches: a connection with more than [`crate::Limits::outbound_queue`]
//! messages waiting is too slow and is dropped (it resumes from its cursor).
//! A replay counts as one, so catching up never counts as being slow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Outbound items and the number of messages they count for.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub items: Vec<Outbound>,
    pub weight: usize,
}

/// Why a batch was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Over the limit of queued messages.
    TooSlow,
    /// The connection task has stopped.
    Gone,
}

/// The hub's end.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Batch>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<Batch>,
    queued: Arc<AtomicUsize>,
}

/// A queue that holds at most `limit` messages.
pub(crate) fn outbox(limit: usize) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            queued: queued.clone(),
            limit,
        },
        Inbox { rx, queued },
    )
}

impl Outbox {
    /// Queues a batch, unless the connection already has too much waiting.
    /// A batch meeting an empty queue is always taken, however heavy: one
    /// commit's worth for one connection is never "too slow".
    pub fn send(&self, batch: Batch) -> Result<(), Refused> {
        let before = self.queued.fetch_add(batch.weight, Ordering::AcqRel);
        if before > 0 && before.saturating_add(batch.weight) > self.limit {
            self.queued.fetch_sub(batch.weight, Ordering::AcqRel);
            return Err(Refused::TooSlow);
        }
        let weight = batch.weight;
        self.tx.send(batch).map_err(|_| {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            Refused::Gone
        })
    }

    /// Queues a close frame; never refused for being slow.
    pub fn close(&self, why: &'static str) {
        let _ = self.tx.send(Batch {
            items: vec![Outbound::Close(why)],
            weight: 0,
        });
    }
}

impl Inbox {
    /// The next batch; `None` once the hub dropped the connection.
    pub async fn recv(&mut self) -> Option<Batch> {
        self.rx.recv().await
    }

    /// Another batch, if one is already queued.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.rx.try_recv().ok()
    }

    /// `weight` messages were written.
    pub fn written(&self, weight: usize) {
        self.queued.fetch_sub(weight, Ordering::AcqRel);
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
        }
    }

    #[test]
    fn counts_messages_until_written() {
        let (tx, mut rx) = outbox(10);
        tx.send(batch(6)).unwrap();
        assert_eq!(tx.send(batch(5)).unwrap_err(), Refused::TooSlow);
        tx.send(batch(4)).unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(b.items.len(), 6);
        rx.written(b.weight);
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
        let (tx, mut rx) = outbox(10);
        tx.send(batch(25)).unwrap();
        assert_eq!(tx.send(batch(1)).unwrap_err(), Refused::TooSlow);
        let b = rx.try_recv().unwrap();
        rx.written(b.weight);
        tx.send(batch(1)).unwrap();
    }
}
