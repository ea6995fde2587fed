//! Checks the hex test vectors published in docs/protocol.md against the
//! implementation, so the spec and the code cannot drift apart.
#![allow(clippy::unwrap_used)]

use starling_protocol::wire::{AckEntry, Acks};
use starling_protocol::{
    DeviceKey, DocId, Envelope, EnvelopeHash, EnvelopeHeader, Epoch, EpochKey,
};

const SPEC: &str = include_str!("../../../docs/protocol.md");

/// The hex in the fenced block opened by "```hex <name>".
fn vector(name: &str) -> Vec<u8> {
    let start = format!("```hex {name}\n");
    let i = SPEC
        .find(&start)
        .unwrap_or_else(|| panic!("vector {name} missing from docs/protocol.md"))
        + start.len();
    let j = i + SPEC[i..].find("```").unwrap();
    let text: String = SPEC[i..j]
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    hex::decode(text).unwrap()
}

fn arr<const N: usize>(name: &str) -> [u8; N] {
    vector(name).try_into().unwrap()
}

/// The fixed inputs of the envelope vector.
pub fn vector_envelope() -> Envelope {
    let device = DeviceKey::from_seed(arr("device-seed"));
    let header = EnvelopeHeader::changes(
        DocId::from_bytes(arr("doc-id")),
        Epoch(0),
        device.device_id(),
        1,
        EnvelopeHash::ZERO,
    );
    let payload = vector("payload");
    Envelope::seal_with_nonce(
        header,
        &payload,
        &EpochKey::from_bytes(arr("epoch-key")),
        &device,
        arr("nonce"),
    )
    .unwrap()
}

#[test]
fn device_id_vector() {
    let device = DeviceKey::from_seed(arr("device-seed"));
    assert_eq!(device.device_id().as_bytes().to_vec(), vector("device-id"));
}

#[test]
fn envelope_vector() {
    let env = vector_envelope();
    assert_eq!(hex::encode(env.as_bytes()), hex::encode(vector("envelope")));
    assert_eq!(env.hash().as_bytes().to_vec(), vector("envelope-hash"));
    let parsed = Envelope::from_bytes(&vector("envelope")).unwrap();
    let opened = parsed
        .open(&EpochKey::from_bytes(arr("epoch-key")))
        .unwrap();
    assert_eq!(opened.payload(), &vector("payload")[..]);
}

/// The fixed inputs of the ack vector: the envelope vector acked at doc
/// seq 1, and two more envelopes of its author.
fn vector_acks() -> Acks {
    let device = DeviceKey::from_seed(arr("device-seed"));
    let doc = DocId::from_bytes(arr("doc-id"));
    let entry = |author_seq, hash, doc_seq| AckEntry {
        doc,
        author: device.device_id(),
        author_seq,
        hash,
        doc_seq,
    };
    let entries = vec![
        entry(1, vector_envelope().hash(), 1),
        entry(2, EnvelopeHash::from_bytes([0x11; 32]), 2),
        entry(3, EnvelopeHash::from_bytes([0x22; 32]), 5),
    ];
    Acks::sign(&DeviceKey::from_seed(arr("relay-seed")), entries)
}

#[test]
fn ack_vector() {
    let acks = vector_acks();
    let relay = DeviceKey::from_seed(arr("relay-seed")).device_id();
    let entries: Vec<u8> = acks.entries.iter().flat_map(AckEntry::to_bytes).collect();
    assert_eq!(hex::encode(entries), hex::encode(vector("ack-entries")));
    assert_eq!(acks.root().to_vec(), vector("ack-root"));
    assert_eq!(acks.signature.0.to_vec(), vector("ack-signature"));
    assert!(acks.verify(&relay));
    let receipt = acks.receipt(0).unwrap();
    let path: Vec<u8> = receipt.path.iter().flat_map(|h| h.0).collect();
    assert_eq!(hex::encode(path), hex::encode(vector("ack-receipt-0-path")));
    assert!(receipt.verify(&relay));
}

#[test]
#[ignore = "prints the vectors for docs/protocol.md"]
fn print_vectors() {
    let device = DeviceKey::from_seed(arr("device-seed"));
    println!("device-id {}", hex::encode(device.device_id().as_bytes()));
    let env = vector_envelope();
    println!("envelope {}", hex::encode(env.as_bytes()));
    println!("envelope-hash {}", hex::encode(env.hash().as_bytes()));
    let acks = vector_acks();
    for e in &acks.entries {
        println!("ack-entry {}", hex::encode(e.to_bytes()));
    }
    println!("ack-root {}", hex::encode(acks.root()));
    println!("ack-signature {}", hex::encode(acks.signature.0));
    for h in &acks.receipt(0).unwrap().path {
        println!("ack-receipt-0-path {}", hex::encode(h.0));
    }
}
