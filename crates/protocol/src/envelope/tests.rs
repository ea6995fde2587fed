#![allow(clippy::unwrap_used)]

use super::*;
use crate::testing::SeededRng;
use crate::{DeviceKey, EpochKey};

fn fixture() -> (DeviceKey, EpochKey, DocId) {
    (
        DeviceKey::from_seed([1; 32]),
        EpochKey::from_bytes([2; 32]),
        DocId::from_bytes([3; 16]),
    )
}

fn sealed(seq: u64, prev: EnvelopeHash, payload: &[u8]) -> Envelope {
    let (dk, ek, doc) = fixture();
    let h = EnvelopeHeader::changes(doc, Epoch(0), dk.device_id(), seq, prev);
    Envelope::seal(h, payload, &ek, &dk, &mut SeededRng::new(seq)).unwrap()
}

#[test]
fn seal_open_round_trip() {
    let (_, ek, _) = fixture();
    let env = sealed(1, EnvelopeHash::ZERO, b"hello");
    let parsed = Envelope::from_bytes(env.as_bytes()).unwrap();
    assert_eq!(parsed, env);
    let opened = parsed.open(&ek).unwrap();
    assert_eq!(opened.payload(), b"hello");
    assert_eq!(opened.header().seq, 1);
}

#[test]
fn wrong_key_fails_commitment() {
    let env = sealed(1, EnvelopeHash::ZERO, b"hello");
    let err = env.open(&EpochKey::from_bytes([9; 32])).unwrap_err();
    assert_eq!(err, EnvelopeError::BadCommitment);
}

#[test]
fn every_flipped_byte_fails() {
    let (_, ek, _) = fixture();
    let env = sealed(1, EnvelopeHash::ZERO, b"some payload bytes");
    for i in 0..env.as_bytes().len() {
        let mut b = env.as_bytes().to_vec();
        b[i] ^= 0x01;
        let r = Envelope::from_bytes(&b).and_then(|e| e.open(&ek));
        assert!(r.is_err(), "byte {i} flipped still opened");
    }
}

#[test]
fn wrong_author_key_refused() {
    let (_, ek, doc) = fixture();
    let other = DeviceKey::from_seed([5; 32]);
    let h = EnvelopeHeader::changes(
        doc,
        Epoch(0),
        DeviceKey::from_seed([1; 32]).device_id(),
        1,
        EnvelopeHash::ZERO,
    );
    let r = Envelope::seal(h, b"x", &ek, &other, &mut SeededRng::new(0));
    assert_eq!(r.unwrap_err(), EnvelopeError::WrongAuthor);
}

#[test]
fn snapshot_round_trip_and_limits() {
    let (dk, ek, doc) = fixture();
    let covers = vec![Cover {
        author: dk.device_id(),
        seq: 3,
        hash: EnvelopeHash::from_bytes([4; 32]),
    }];
    let h = EnvelopeHeader::snapshot(
        doc,
        Epoch(2),
        dk.device_id(),
        4,
        EnvelopeHash::from_bytes([4; 32]),
        covers,
    );
    let env = Envelope::seal(h.clone(), b"snap", &ek, &dk, &mut SeededRng::new(1)).unwrap();
    let back = Envelope::from_bytes(env.as_bytes())
        .unwrap()
        .open(&ek)
        .unwrap();
    assert_eq!(back.header(), &h);
    let too_big = vec![0u8; MAX_PAYLOAD + 1];
    let h = EnvelopeHeader::changes(doc, Epoch(0), dk.device_id(), 1, EnvelopeHash::ZERO);
    assert!(Envelope::seal(h, &too_big, &ek, &dk, &mut SeededRng::new(0)).is_err());
}

#[test]
fn truncations_are_errors() {
    let env = sealed(2, EnvelopeHash::from_bytes([8; 32]), b"abc");
    for n in 0..env.as_bytes().len() {
        assert!(Envelope::from_bytes(&env.as_bytes()[..n]).is_err());
    }
    let mut long = env.as_bytes().to_vec();
    long.push(0);
    assert_eq!(
        Envelope::from_bytes(&long).unwrap_err(),
        EnvelopeError::Trailing
    );
}

#[test]
fn batch_verification_flags_the_bad_one() {
    let good: Vec<Envelope> = (2..=5)
        .map(|s| sealed(s, EnvelopeHash::from_bytes([s as u8; 32]), b"p"))
        .collect();
    let all = verify_batch(good.clone());
    assert!(all.iter().all(Result::is_ok));
    let mut mixed = good;
    let mut b = mixed[2].as_bytes().to_vec();
    let last = b.len() - 1;
    b[last] ^= 1;
    if let Ok(e) = Envelope::from_bytes(&b) {
        mixed[2] = e;
    }
    let res = verify_batch(mixed);
    assert!(res[2].is_err());
    assert!(res[0].is_ok() && res[1].is_ok() && res[3].is_ok());
}

#[test]
fn batch_verification_with_a_known_author() {
    let author = DeviceKey::from_seed([1; 32]).device_id();
    let good: Vec<Envelope> = (2..=6)
        .map(|s| sealed(s, EnvelopeHash::from_bytes([s as u8; 32]), b"p"))
        .collect();
    for n in [1, 5] {
        let res = verify_batch_with(good[..n].to_vec(), &[author]);
        assert!(res.iter().all(Result::is_ok), "{n}");
    }
    // The known key is only used for its own envelopes; others still verify
    // (or fail) with the key in their header.
    let other = DeviceKey::from_seed([7; 32]).device_id();
    assert!(
        verify_batch_with(good.clone(), &[other])
            .iter()
            .all(Result::is_ok)
    );
    let mut b = good[1].as_bytes().to_vec();
    let last = b.len() - 1;
    b[last] ^= 1;
    let mut mixed = good;
    mixed[1] = Envelope::from_bytes(&b).unwrap();
    let res = verify_batch_with(mixed, &[author]);
    assert_eq!(res[1], Err(EnvelopeError::BadSignature));
    assert!(res[0].is_ok() && res[2].is_ok() && res[3].is_ok() && res[4].is_ok());
}

#[test]
fn hash_changes_with_content() {
    let a = sealed(1, EnvelopeHash::ZERO, b"a");
    let b = sealed(1, EnvelopeHash::ZERO, b"b");
    assert_ne!(a.hash(), b.hash());
}

/// `sealed`'s envelope re-signed by its author with a small-order point
/// added to the signature's `R`: valid by the cofactored equation, not by
/// the cofactorless one.
fn torsioned(seq: u64) -> Envelope {
    use curve25519_dalek::{constants, scalar::Scalar};
    use sha2::{Digest, Sha512};
    let (dk, _, _) = fixture();
    let env = sealed(seq, EnvelopeHash::ZERO, b"torsion");
    let signed = env.signed_bytes().to_vec();
    let msg = [crate::domain::ENVELOPE_SIG, &signed[..]].concat();
    let a = dk.signing_key().to_scalar();
    let r = Scalar::from_bytes_mod_order([seq as u8 + 11; 32]);
    let big_r = (constants::ED25519_BASEPOINT_POINT * r + constants::EIGHT_TORSION[1]).compress();
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(dk.device_id().as_bytes())
            .chain_update(&msg),
    );
    let s = r + k * a;
    let mut bytes = signed;
    bytes.extend_from_slice(big_r.as_bytes());
    bytes.extend_from_slice(s.as_bytes());
    Envelope::from_bytes(&bytes).unwrap()
}

#[test]
fn a_signature_gets_the_same_verdict_alone_and_in_any_batch() {
    // A writer can build such a signature on purpose. Were single and batch
    // verification to disagree on it (as cofactorless batch checks with
    // random weights do, 1 time in 8), the relay and the members could
    // disagree about an envelope: one stores it, another reports tampering.
    let odd = torsioned(9);
    let cofactorless =
        ed25519_dalek::VerifyingKey::from_bytes(odd.header_unverified().author.as_bytes())
            .unwrap()
            .verify_strict(
                &[crate::domain::ENVELOPE_SIG, odd.signed_bytes()].concat(),
                &ed25519_dalek::Signature::from_bytes(&odd.signature().0),
            );
    assert!(cofactorless.is_err(), "the torsion is really there");
    let alone = odd.clone().verify().is_ok();
    assert!(alone, "valid by the cofactored (ZIP-215) equation");
    let others: Vec<Envelope> = (2..=4)
        .map(|s| sealed(s, EnvelopeHash::from_bytes([s as u8; 32]), b"p"))
        .collect();
    for round in 0..64 {
        let mut batch = others.clone();
        batch.insert(round % 4, odd.clone());
        let res = verify_batch(batch);
        assert!(
            res.iter().all(Result::is_ok),
            "round {round}: the batch disagreed with the single check"
        );
    }
    // A torsioned signature by someone else still fails, alone and batched.
    let mut forged = odd.as_bytes().to_vec();
    let s_at = forged.len() - 32;
    forged[s_at] ^= 1;
    let forged = Envelope::from_bytes(&forged).unwrap();
    assert!(forged.clone().verify().is_err());
    let mut batch = others;
    batch.push(forged);
    assert!(verify_batch(batch)[3].is_err());
}

/// Encodings of small-order points: the eight torsion points, and the
/// non-canonical and "negative zero" encodings decoding also accepts.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
        .iter()
        .map(|p| p.compress().to_bytes())
        .collect();
    let p_plus = |low: u8| {
        // p + k for small k (y >= p, so non-canonical): 2^255 - 19 + k.
        let mut b = [0xff; 32];
        b[0] = low;
        b[31] = 0x7f;
        b
    };
    out.push(p_plus(0xed)); // y = p     (≡ 0: the points of order 4)
    out.push(p_plus(0xee)); // y = p + 1 (≡ 1: the identity)
    let mut neg_identity = [0; 32];
    neg_identity[0] = 1;
    neg_identity[31] = 0x80; // y = 1, x = "-0"
    out.push(neg_identity);
    let mut neg_minus_one = p_plus(0xec);
    neg_minus_one[31] = 0xff; // y = -1, x = "-0"
    out.push(neg_minus_one);
    out
}

#[test]
fn small_order_keys_are_never_identities() {
    // Under the cofactored equation a small-order key makes R = identity,
    // S = 0 a valid signature of every message: such keys must be refused
    // wherever a key becomes an identity.
    let mut decodable = 0;
    for bytes in small_order_encodings() {
        if curve25519_dalek::edwards::CompressedEdwardsY(bytes)
            .decompress()
            .is_some()
        {
            decodable += 1;
        }
        assert!(
            DeviceId::from_bytes(bytes).is_err(),
            "{}",
            hex::encode(bytes)
        );
        let via_text = hex::encode(bytes).parse::<DeviceId>();
        assert!(via_text.is_err());
    }
    assert!(decodable >= 10, "the encodings really decode: {decodable}");
}

#[test]
fn an_envelope_by_a_small_order_key_never_verifies() {
    // Author: the identity; signature: R = identity, S = 0, which the
    // cofactored equation alone would accept for any content.
    for bad in small_order_encodings() {
        let env = sealed(1, EnvelopeHash::ZERO, b"forged");
        let mut b = env.signed_bytes().to_vec();
        b[25..57].copy_from_slice(&bad);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        b.extend_from_slice(&identity);
        b.extend_from_slice(&[0; 32]);
        let Ok(forged) = Envelope::from_bytes(&b) else {
            continue;
        };
        assert_eq!(forged.clone().verify(), Err(EnvelopeError::BadSignature));
        let mut batch: Vec<Envelope> = (2..=4)
            .map(|s| sealed(s, EnvelopeHash::from_bytes([s as u8; 32]), b"p"))
            .collect();
        batch.push(forged);
        let res = verify_batch(batch);
        assert!(res[..3].iter().all(Result::is_ok));
        assert_eq!(res[3], Err(EnvelopeError::BadSignature));
    }
}
