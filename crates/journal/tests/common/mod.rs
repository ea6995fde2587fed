//! Shared set-up: a client, a worker and a supporter with real ed25519 keys.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::SigningKey;
use recovery_journal::{DeviceId, Instrument, Journal, MemberRole, Mode, ReadingId};

/// The Recovery Star's area ids, in order.
pub const AREAS: [&str; 10] = [
    "mental_health",
    "self_care",
    "living_skills",
    "social_networks",
    "work",
    "relationships",
    "addictive_behaviour",
    "responsibilities",
    "identity_self_esteem",
    "trust_hope",
];

pub struct Person {
    pub key: SigningKey,
    pub device: DeviceId,
}

pub fn person(seed: u8) -> Person {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let device = DeviceId::from(&key.verifying_key());
    Person { key, device }
}

pub struct Pair {
    pub client: Journal,
    pub worker: Journal,
    pub reading: ReadingId,
    pub client_id: Person,
    pub worker_id: Person,
}

/// The client creates a journal, adds the worker and a reading; the worker
/// takes a copy. From here on the two edit offline.
pub fn pair() -> Pair {
    let client_id = person(1);
    let worker_id = person(2);
    let mut client = Journal::create(client_id.device, "Sam").unwrap();
    client.set_time(1_700_000_000);
    client
        .set_member(worker_id.device, "Alex", MemberRole::Worker)
        .unwrap();
    let reading = client
        .new_reading(
            "2026-11-23".parse().unwrap(),
            Mode::Joint,
            &Instrument::recovery_star(),
        )
        .unwrap();
    let mut worker = Journal::load(&client.save(), worker_id.device).unwrap();
    worker.set_time(1_700_000_100);
    Pair {
        client,
        worker,
        reading,
        client_id,
        worker_id,
    }
}

/// Merge `b` into a fork of `a`, the way another device would receive it.
pub fn merged(a: &Journal, b: &Journal) -> Journal {
    let mut left = a.fork(a.device());
    let mut right = b.fork(b.device());
    left.merge(&mut right).unwrap();
    left
}
