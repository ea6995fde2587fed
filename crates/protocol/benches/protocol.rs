//! Envelope sealing and opening, and membership chain verification.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use starling_protocol::membership::{MembershipOp, MembershipState, OpBody, Role};
use starling_protocol::testing::SeededRng;
use starling_protocol::{
    DeviceKey, DocId, Envelope, EnvelopeHash, EnvelopeHeader, Epoch, EpochKey,
};

fn envelopes(c: &mut Criterion) {
    let dev = DeviceKey::from_seed([1; 32]);
    let key = EpochKey::from_bytes([2; 32]);
    let doc = DocId::from_bytes([3; 16]);
    let payload = vec![0x5a; 300];
    let header = EnvelopeHeader::changes(
        doc,
        Epoch(0),
        dev.device_id(),
        7,
        EnvelopeHash::from_bytes([4; 32]),
    );
    let mut rng = SeededRng::new(1);
    c.bench_function("seal 300 B envelope", |b| {
        b.iter(|| Envelope::seal(header.clone(), black_box(&payload), &key, &dev, &mut rng))
    });
    let env = Envelope::seal(header.clone(), &payload, &key, &dev, &mut rng).expect("seal");
    let bytes = env.as_bytes().to_vec();
    c.bench_function("parse+verify+open 300 B envelope", |b| {
        b.iter(|| Envelope::from_bytes(black_box(&bytes)).and_then(|e| e.open(&key)))
    });
    let author = dev.device_id();
    c.bench_function("parse+verify+open 300 B envelope, author known", |b| {
        b.iter(|| {
            Envelope::from_bytes(black_box(&bytes)).and_then(|e| e.verify_with(&author)?.open(&key))
        })
    });
    c.bench_function("ed25519 verify, ZIP-215 (baseline)", |b| {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let vk = ed25519_zebra::VerificationKey::try_from(sk.verifying_key().to_bytes())
            .expect("valid key");
        let msg = vec![0u8; 450];
        let sig = ed25519_zebra::Signature::from_bytes(
            &ed25519_dalek::Signer::sign(&sk, &msg).to_bytes(),
        );
        b.iter(|| vk.verify(&sig, black_box(&msg)))
    });
    c.bench_function("parse device id (decompress)", |b| {
        let bytes = *dev.device_id().as_bytes();
        b.iter(|| starling_protocol::DeviceId::from_bytes(black_box(bytes)))
    });
    c.bench_function("parse+verify 300 B envelope", |b| {
        b.iter(|| Envelope::from_bytes(black_box(&bytes)).and_then(|e| e.verify()))
    });
    // As they arrive: parsed from bytes, the header's key not yet decoded.
    let batch: Vec<Envelope> = (0..32)
        .map(|_| Envelope::from_bytes(&bytes).expect("parse"))
        .collect();
    c.bench_function("verify_batch 32 envelopes", |b| {
        b.iter(|| starling_protocol::envelope::verify_batch(black_box(batch.clone())))
    });
    // A member's envelopes: the id from the membership log has its key.
    c.bench_function("verify_batch 32 envelopes, author known", |b| {
        b.iter(|| {
            starling_protocol::envelope::verify_batch_with(black_box(batch.clone()), &[author])
        })
    });
}

fn chain(n: usize) -> (DocId, Vec<MembershipOp>) {
    let mut rng = SeededRng::new(2);
    let doc = DocId::random(&mut rng);
    let owner = DeviceKey::generate(&mut rng);
    let mut ops = vec![MembershipState::genesis(doc, &owner, "client", None, 0).expect("genesis")];
    let mut state = MembershipState::verify_chain(doc, &ops).expect("chain");
    let mut key = EpochKey::generate(&mut rng);
    let mut devices = Vec::new();
    while ops.len() < n {
        let i = ops.len() as u64;
        let op = match i % 5 {
            4 => {
                let next = EpochKey::generate(&mut rng);
                let op = state
                    .rotate(&owner, i, &key, &next, &mut rng)
                    .expect("rotate");
                key = next;
                op
            }
            3 if !devices.is_empty() => {
                let d = devices.remove(0);
                state
                    .sign_op(&owner, i, OpBody::RemoveMember { device: d })
                    .expect("remove")
            }
            _ => {
                let d = DeviceKey::generate(&mut rng).device_id();
                devices.push(d);
                let body = OpBody::AddMember {
                    device: d,
                    role: Role::Editor,
                    perspective: "worker".into(),
                };
                state.sign_op(&owner, i, body).expect("add")
            }
        };
        state.apply(&op).expect("apply");
        ops.push(op);
    }
    (doc, ops)
}

fn membership(c: &mut Criterion) {
    let (doc, ops) = chain(50);
    c.bench_function("verify 50-op membership chain", |b| {
        b.iter(|| MembershipState::verify_chain(doc, black_box(&ops)))
    });
}

criterion_group!(benches, envelopes, membership);
criterion_main!(benches);
