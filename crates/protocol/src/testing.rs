//! Deterministic helpers for tests, simulations, benchmarks and fuzzing.
//!
//! **Never use these in production**: [`SeededRng`] claims to be a
//! cryptographic RNG so it can stand in for one, but anyone who knows the
//! seed knows every byte it yields.

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// A deterministic RNG: SHA-256 in counter mode over a 64-bit seed.
#[derive(Clone, Debug)]
pub struct SeededRng {
    seed: u64,
    counter: u64,
    buf: [u8; 32],
    used: usize,
}

impl SeededRng {
    /// An RNG yielding the stream named by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: 0,
            buf: [0; 32],
            used: 32,
        }
    }

    /// A uniformly distributed value in `0..n` (`n` > 0; 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            if self.used == 32 {
                let mut h = Sha256::new();
                h.update(self.seed.to_le_bytes());
                h.update(self.counter.to_le_bytes());
                self.buf = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *d = self.buf[self.used];
            self.used += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for SeededRng {}

/// One example of every wire message, built from fixed keys; for round-trip
/// tests and fuzz seeds.
pub fn sample_messages() -> Vec<crate::wire::Message> {
    use crate::bytes::{ByteArray, Bytes};
    use crate::envelope::{Envelope, EnvelopeHash, EnvelopeHeader};
    use crate::membership::MembershipState;
    use crate::wire::{AckEntry, Acks, DocCursor, ErrorCode, Message, RetryClass};
    use crate::{DeviceKey, DocId, Epoch, EpochKey};

    let dev = DeviceKey::from_seed([1; 32]);
    let relay = DeviceKey::from_seed([2; 32]);
    let doc = DocId::from_bytes([3; 16]);
    let key = EpochKey::from_bytes([4; 32]);
    let header = EnvelopeHeader::changes(doc, Epoch(0), dev.device_id(), 1, EnvelopeHash::ZERO);
    let mut out = Vec::new();
    let envelope = Envelope::seal_with_nonce(header, b"payload", &key, &dev, [5; 24]);
    let genesis = MembershipState::genesis(doc, &dev, "client", None, 1);
    out.push(Message::Hello {
        device: dev.device_id(),
        agent: "starling/0.1".into(),
    });
    out.push(Message::Challenge {
        nonce: ByteArray([6; 32]),
        origin: "wss://relay.test".into(),
        relay: relay.device_id(),
    });
    out.push(Message::Authenticate {
        device: dev.device_id(),
        timestamp: 7,
        signature: dev.sign(b"x", b"y"),
    });
    out.push(Message::Welcome { server_time: 8 });
    out.push(Message::Subscribe {
        docs: vec![DocCursor { doc, cursor: 9 }],
    });
    out.push(Message::Unsubscribe { docs: vec![doc] });
    if let Ok(envelope) = envelope {
        let hash = envelope.hash();
        out.push(Message::Publish {
            envelope: envelope.clone(),
        });
        let entry = AckEntry {
            doc,
            author: dev.device_id(),
            author_seq: 1,
            hash,
            doc_seq: 10,
        };
        out.push(Message::Acks(Acks::sign(&relay, vec![entry])));
        out.push(Message::Deliver {
            doc,
            doc_seq: 10,
            envelope,
        });
    }
    out.push(Message::CaughtUp { doc, doc_seq: 10 });
    if let Ok(op) = genesis {
        out.push(Message::MembershipPublish {
            doc,
            op: op.clone(),
        });
        out.push(Message::MembershipDeliver {
            doc,
            index: 0,
            op: op.clone(),
            stamp: Some(crate::membership::OpStamp::sign(
                &relay,
                &doc,
                0,
                &op.hash(),
                10,
            )),
        });
        if let Ok(state) = MembershipState::verify_chain(doc, std::slice::from_ref(&op))
            && let Ok(delete) = state.sign_op(&dev, 11, crate::membership::OpBody::DeleteDocument)
        {
            out.push(Message::Deleted {
                doc,
                index: 1,
                stamp: crate::membership::OpStamp::sign(&relay, &doc, 1, &delete.hash(), 11),
                op: delete,
            });
        }
        out.push(Message::InviteRedeem { doc, op });
    }
    out.push(Message::InviteFetch {
        doc,
        invite: relay.device_id(),
    });
    out.push(Message::InviteRedeemable {
        doc,
        invite: relay.device_id(),
    });
    out.push(Message::InviteFind {
        invite: relay.device_id(),
        proof: relay.sign(crate::domain::INVITE_FIND, dev.device_id().as_bytes()),
    });
    out.push(Message::InviteDocs {
        invite: relay.device_id(),
        docs: vec![doc],
    });
    out.push(Message::Presence {
        doc,
        from: Some(dev.device_id()),
        blob: Bytes(vec![1, 2, 3]),
    });
    out.push(Message::AccessLogRequest { doc });
    let log = crate::wire::AccessLog {
        doc,
        at: 12,
        since: 0,
        stored: crate::wire::StoredStats {
            envelopes: 1,
            bytes: 300,
            positions: 2,
            ops: 1,
            created_at: Some(1),
        },
        entries: vec![crate::wire::AccessEntry {
            device: dev.device_id(),
            kind: crate::wire::AccessKind::Fetch,
            hour: 0,
            count: 3,
            last_at: 11,
        }],
    };
    out.push(Message::AccessLog {
        doc,
        log: crate::wire::SignedAccessLog::sign(&relay, &log),
    });
    out.push(Message::error(
        ErrorCode::Gap,
        RetryClass::RetryLater,
        Some(doc),
        "missing predecessor",
    ));
    out
}
