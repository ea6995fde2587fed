#![allow(clippy::unwrap_used)]

use super::*;
use crate::testing::sample_messages;

#[test]
fn every_message_round_trips() {
    let samples = sample_messages();
    assert_eq!(samples.len(), 22);
    for m in samples {
        let bytes = encode(&m).unwrap();
        assert_eq!(decode(&bytes).unwrap(), m);
    }
}

#[test]
fn version_and_size_are_checked() {
    let m = Message::Welcome { server_time: 1 };
    let mut out = Vec::new();
    ciborium::into_writer(&FrameRef { v: 99, m: &m }, &mut out).unwrap();
    assert_eq!(decode(&out).unwrap_err(), WireError::Version(99));
    assert!(matches!(
        decode(&vec![0u8; MAX_FRAME + 1]).unwrap_err(),
        WireError::TooLarge(_)
    ));
    assert!(decode(&[]).is_err());
    assert!(decode(&[0xff, 0x00, 0x13]).is_err());
}

#[test]
fn limits_are_enforced_on_decode() {
    let doc = crate::DocId::from_bytes([0; 16]);
    let m = Message::Unsubscribe {
        docs: vec![doc; MAX_DOCS_PER_MESSAGE + 1],
    };
    assert_eq!(encode(&m).unwrap_err(), WireError::Limit("docs"));
    let mut out = Vec::new();
    ciborium::into_writer(
        &FrameRef {
            v: WIRE_VERSION,
            m: &m,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(decode(&out).unwrap_err(), WireError::Limit("docs"));
}

#[test]
fn every_truncation_fails_cleanly() {
    for m in sample_messages() {
        let bytes = encode(&m).unwrap();
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err());
        }
    }
}

#[test]
fn presence_round_trip_and_counter() {
    use crate::testing::SeededRng;
    let k = crate::EpochKey::from_bytes([1; 32]);
    let doc = crate::DocId::from_bytes([2; 16]);
    let from = crate::DeviceKey::from_seed([3; 32]).device_id();
    let blob = presence::seal(
        &k,
        &doc,
        crate::Epoch(0),
        &from,
        42,
        b"area:work",
        &mut SeededRng::new(1),
    )
    .unwrap();
    assert_eq!(
        presence::open(&k, &doc, crate::Epoch(0), &from, &blob.0).unwrap(),
        (42, b"area:work".to_vec())
    );
    let other = crate::DeviceKey::from_seed([4; 32]).device_id();
    assert!(presence::open(&k, &doc, crate::Epoch(0), &other, &blob.0).is_err());
}

#[test]
fn acks_verify_against_the_relay_only() {
    let relay = crate::DeviceKey::from_seed([9; 32]);
    let m = sample_messages();
    let ack = m
        .iter()
        .find_map(|m| {
            if let Message::Acks(a) = m {
                Some(a.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert!(ack.verify(&crate::DeviceKey::from_seed([2; 32]).device_id()));
    assert!(!ack.verify(&relay.device_id()));
    let receipt = ack.receipt(0).unwrap();
    assert!(receipt.verify(&crate::DeviceKey::from_seed([2; 32]).device_id()));
    let mut forged = ack;
    forged.entries[0].doc_seq += 1;
    assert!(!forged.verify(&crate::DeviceKey::from_seed([2; 32]).device_id()));
}
