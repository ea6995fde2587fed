//! Sealing, verifying and opening envelopes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{CryptoRngCore, SeedableRng};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::codec;
use super::{Envelope, EnvelopeError, EnvelopeHash, EnvelopeHeader, MAX_PAYLOAD};
use crate::domain;
use crate::ids::DeviceId;
use crate::keys::{DeviceKey, EpochKey};

/// Derives the per-envelope subkey and key commitment from the epoch key and
/// nonce: HKDF-SHA256(salt = nonce, ikm = epoch key), expanded with two
/// distinct info strings.
fn derive(key: &EpochKey, nonce: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let hk = Hkdf::<Sha256>::new(Some(nonce), key.as_bytes());
    let mut sub = Zeroizing::new([0u8; 32]);
    let mut commit = [0u8; 32];
    // 32-byte outputs are far below HKDF-SHA256's 8160-byte limit.
    let _ = hk.expand(domain::ENVELOPE_KEY, sub.as_mut());
    let _ = hk.expand(domain::ENVELOPE_COMMIT, &mut commit);
    (sub, commit)
}

impl Envelope {
    /// Encrypts `payload` under `epoch_key` and signs the result with
    /// `author`, drawing the nonce from `rng`.
    pub fn seal(
        header: EnvelopeHeader,
        payload: &[u8],
        epoch_key: &EpochKey,
        author: &DeviceKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Envelope, EnvelopeError> {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        Self::seal_with_nonce(header, payload, epoch_key, author, nonce)
    }

    /// Like [`Envelope::seal`] with an explicit nonce; for test vectors. A
    /// nonce must never repeat under one epoch key.
    pub fn seal_with_nonce(
        header: EnvelopeHeader,
        payload: &[u8],
        epoch_key: &EpochKey,
        author: &DeviceKey,
        nonce: [u8; 24],
    ) -> Result<Envelope, EnvelopeError> {
        if author.device_id() != header.author {
            return Err(EnvelopeError::WrongAuthor);
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(EnvelopeError::TooLarge("payload"));
        }
        codec::check_header(&header)?;
        let mut bytes = Vec::with_capacity(payload.len() + 300);
        codec::encode_header(&header, &mut bytes)?;
        let header_len = bytes.len();
        let (sub, commit) = derive(epoch_key, &nonce);
        let cipher = XChaCha20Poly1305::new(sub.as_ref().into());
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: payload,
                    aad: &bytes,
                },
            )
            .map_err(|_| EnvelopeError::TooLarge("payload"))?;
        bytes.extend_from_slice(&commit);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&(ct.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&ct);
        let sig = author.sign(domain::ENVELOPE_SIG, &bytes);
        bytes.extend_from_slice(&sig.0);
        Ok(Envelope::new(header, bytes.into(), header_len))
    }

    /// Verifies the author's signature. The relay needs nothing more; a
    /// member goes on to [`VerifiedEnvelope::open`].
    pub fn verify(self) -> Result<VerifiedEnvelope, EnvelopeError> {
        let author = self
            .header
            .author
            .validated()
            .ok_or(EnvelopeError::BadSignature)?;
        self.verify_with(&author)
    }

    /// Like [`Envelope::verify`], with the author's id as already known (from
    /// the membership log), which saves decoding its key again. Fails with
    /// [`EnvelopeError::WrongAuthor`] if `author` is not the header's.
    pub fn verify_with(mut self, author: &DeviceId) -> Result<VerifiedEnvelope, EnvelopeError> {
        if *author != self.header.author {
            return Err(EnvelopeError::WrongAuthor);
        }
        if self
            .signature()
            .verify(author, domain::ENVELOPE_SIG, self.signed_bytes())
        {
            self.header.author = *author;
            Ok(VerifiedEnvelope { env: self })
        } else {
            Err(EnvelopeError::BadSignature)
        }
    }

    /// Verifies, checks the key commitment, and decrypts, in that order.
    pub fn open(self, epoch_key: &EpochKey) -> Result<OpenedEnvelope, EnvelopeError> {
        self.verify()?.open(epoch_key)
    }
}

/// An envelope whose author signature has been checked. Its header can be
/// trusted to come from `header().author`; whether that author may write is
/// for the membership log to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEnvelope {
    env: Envelope,
}

impl VerifiedEnvelope {
    /// Wraps an envelope this process sealed itself.
    pub(crate) fn own(env: Envelope) -> Self {
        Self { env }
    }

    /// The verified header.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.env.header
    }

    /// The envelope (to store or forward).
    pub fn envelope(&self) -> &Envelope {
        &self.env
    }

    /// Gives back the envelope.
    pub fn into_envelope(self) -> Envelope {
        self.env
    }

    /// The envelope's hash.
    pub fn hash(&self) -> EnvelopeHash {
        self.env.hash()
    }

    /// Checks the key commitment, then decrypts with the header as
    /// associated data.
    pub fn open(self, epoch_key: &EpochKey) -> Result<OpenedEnvelope, EnvelopeError> {
        let (sub, commit) = derive(epoch_key, self.env.nonce());
        if commit.as_slice() != self.env.commitment() {
            return Err(EnvelopeError::BadCommitment);
        }
        let cipher = XChaCha20Poly1305::new(sub.as_ref().into());
        let payload = cipher
            .decrypt(
                XNonce::from_slice(self.env.nonce()),
                Payload {
                    msg: self.env.ciphertext(),
                    aad: self.env.header_bytes(),
                },
            )
            .map_err(|_| EnvelopeError::Decrypt)?;
        Ok(OpenedEnvelope {
            verified: self,
            payload,
        })
    }
}

/// A verified, decrypted envelope: the only way to reach a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedEnvelope {
    verified: VerifiedEnvelope,
    payload: Vec<u8>,
}

impl OpenedEnvelope {
    /// The verified header.
    pub fn header(&self) -> &EnvelopeHeader {
        self.verified.header()
    }

    /// The plaintext payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The verified envelope it came from.
    pub fn verified(&self) -> &VerifiedEnvelope {
        &self.verified
    }

    /// Splits into the verified envelope and the payload.
    pub fn into_parts(self) -> (VerifiedEnvelope, Vec<u8>) {
        (self.verified, self.payload)
    }
}

/// Verifies many envelopes' signatures at once with ed25519 batch
/// verification, falling back to one-by-one checks (to say which failed)
/// only when the batch fails.
pub fn verify_batch(envelopes: Vec<Envelope>) -> Vec<Result<VerifiedEnvelope, EnvelopeError>> {
    verify_batch_with(envelopes, &[])
}

/// Like [`verify_batch`], with some authors' ids as already known (from a
/// membership log, or the device a connection authenticated as): the key in
/// the header of an envelope by one of them is not decoded and checked
/// again.
///
/// The batch equation is the cofactored one of single verification
/// ([`crate::Signature::verify`]), with random weights: a batch passes
/// exactly when every signature in it would pass alone (except with
/// probability 2^-128), so no envelope's verdict depends on its company.
pub fn verify_batch_with(
    envelopes: Vec<Envelope>,
    known: &[DeviceId],
) -> Vec<Result<VerifiedEnvelope, EnvelopeError>> {
    let author = |e: &Envelope| {
        known
            .iter()
            .find(|k| **k == e.header.author)
            .and_then(DeviceId::validated)
            .or_else(|| e.header.author.validated())
    };
    let one = |e: Envelope| match author(&e) {
        Some(a) => e.verify_with(&a),
        None => Err(EnvelopeError::BadSignature),
    };
    if envelopes.len() < 2 {
        return envelopes.into_iter().map(one).collect();
    }
    let authors: Option<Vec<DeviceId>> = envelopes.iter().map(author).collect();
    let Some(authors) = authors else {
        return envelopes.into_iter().map(one).collect();
    };
    let mut batch = ed25519_zebra::batch::Verifier::new();
    let mut message = Vec::new();
    for (e, a) in envelopes.iter().zip(&authors) {
        message.clear();
        message.extend_from_slice(domain::ENVELOPE_SIG);
        message.extend_from_slice(e.signed_bytes());
        let sig = ed25519_zebra::Signature::from_bytes(&e.signature().0);
        let key = ed25519_zebra::VerificationKeyBytes::from(*a.as_bytes());
        batch.queue((key, sig, &message[..]));
    }
    // The weights come from a generator seeded once per batch, not from a
    // system call per signature.
    let verdict = match rand_chacha::ChaCha12Rng::from_rng(rand_core::OsRng) {
        Ok(rng) => batch.verify(rng),
        Err(_) => batch.verify(rand_core::OsRng),
    };
    if verdict.is_ok() {
        envelopes
            .into_iter()
            .zip(authors)
            .map(|(mut env, author)| {
                env.header.author = author;
                Ok(VerifiedEnvelope { env })
            })
            .collect()
    } else {
        envelopes
            .into_iter()
            .zip(authors)
            .map(|(e, a)| e.verify_with(&a))
            .collect()
    }
}
