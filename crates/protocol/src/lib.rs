//! # starling-protocol
//!
//! Everything two Starling devices and a relay must agree on, with no IO:
//! device identities and keys, end-to-end encrypted and signed
//! [envelopes](envelope), per-author [chain checking](chain) that catches a
//! relay dropping, replaying or forking history, the signed
//! [membership log](membership), [invite links](invite), the CBOR
//! [wire messages](wire), and the sans-IO state machines of the
//! [relay] and the [client session](session).
//!
//! The crate moves opaque payloads (automerge change bundles): it knows
//! nothing of what they contain. The wire format, key derivations and test
//! vectors are specified in `docs/protocol.md`; who can do what to whom in
//! `docs/threat-model.md`.
//!
//! Two modules exist only behind features, for tests, simulations and
//! benchmarks: `testing` (feature `testing`: a deterministic RNG and sample
//! messages) and `fuzzing` (feature `fuzzing`: the fuzz targets' entry
//! points). Production builds have neither.
//!
//! ## Where IO happens
//!
//! Nowhere here. Time (`now`, unix milliseconds) and randomness (a
//! [`rand_core::CryptoRngCore`]) are passed in; the state machines take
//! `handle_*(now, ..)` calls and return lists of actions (frames to send,
//! rows to store) for the relay and client applications to carry out.
//!
//! ## Typical workflow
//!
//! 1. The owner generates a [`DeviceKey`], a [`DocId`] and an [`EpochKey`],
//!    and signs a genesis [`membership::MembershipOp`].
//! 2. Edits are sealed into [`Envelope`]s with [`Envelope::seal`] and
//!    published through the relay.
//! 3. Receivers [`Envelope::verify`], check the author's position with a
//!    [`chain::ChainTracker`] and role with a [`membership::MembershipState`],
//!    then [`VerifiedEnvelope::open`] to reach the payload.
//!
//! The relay application wraps [`relay::RelayCore`]; the client wraps
//! [`session::ClientSession`], which does steps 2 and 3 itself and hands back
//! [`session::SessionEvent::Apply`] with verified, decrypted payloads.
#![deny(missing_docs)]

pub mod addr;
mod bytes;
pub mod chain;
pub mod domain;
pub mod envelope;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod ids;
pub mod invite;
mod keys;
pub mod membership;
pub mod person;
pub mod relay;
pub mod session;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod wire;

pub use addr::{AddrError, RelayAddr};

/// The wall clock, unix milliseconds (0 if the clock is before 1970): the
/// one the client, the relay and the CLI read. Nothing in this crate calls
/// it: the state machines take `now` from their caller.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
pub use bytes::{ByteArray, Bytes};
pub use envelope::{
    Cover, Envelope, EnvelopeError, EnvelopeHash, EnvelopeHeader, EnvelopeKind, OpenedEnvelope,
    VerifiedEnvelope,
};
pub use ids::{DeviceId, DocId, Epoch, IdError};
pub use keys::{DeviceKey, EpochKey, Signature};
