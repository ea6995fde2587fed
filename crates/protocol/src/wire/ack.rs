//! Signed acknowledgements and the authentication transcript.

use serde::{Deserialize, Serialize};

use crate::domain;
use crate::envelope::EnvelopeHash;
use crate::ids::{DeviceId, DocId};
use crate::keys::{DeviceKey, Signature};

/// The relay's signed receipt for an envelope: proof it accepted the write
/// at `doc_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The document.
    pub doc: DocId,
    /// The envelope's author.
    pub author: DeviceId,
    /// The envelope's author sequence number.
    pub author_seq: u64,
    /// The envelope's hash.
    pub hash: EnvelopeHash,
    /// Position the relay assigned in the document's log.
    pub doc_seq: u64,
    /// Relay signature over `"starling ack v1" || doc || author || author_seq || hash || doc_seq`.
    pub signature: Signature,
}

fn ack_bytes(
    doc: &DocId,
    author: &DeviceId,
    author_seq: u64,
    hash: &EnvelopeHash,
    doc_seq: u64,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(104);
    v.extend_from_slice(doc.as_bytes());
    v.extend_from_slice(author.as_bytes());
    v.extend_from_slice(&author_seq.to_be_bytes());
    v.extend_from_slice(hash.as_bytes());
    v.extend_from_slice(&doc_seq.to_be_bytes());
    v
}

impl Ack {
    /// Builds and signs an ack with the relay's key.
    pub fn sign(
        relay: &DeviceKey,
        doc: DocId,
        author: DeviceId,
        author_seq: u64,
        hash: EnvelopeHash,
        doc_seq: u64,
    ) -> Self {
        let signature = relay.sign(
            domain::ACK_SIG,
            &ack_bytes(&doc, &author, author_seq, &hash, doc_seq),
        );
        Self {
            doc,
            author,
            author_seq,
            hash,
            doc_seq,
            signature,
        }
    }

    /// Checks the signature against the relay's id.
    pub fn verify(&self, relay: &DeviceId) -> bool {
        let msg = ack_bytes(
            &self.doc,
            &self.author,
            self.author_seq,
            &self.hash,
            self.doc_seq,
        );
        self.signature.verify(relay, domain::ACK_SIG, &msg)
    }
}

/// The bytes a device signs (after `"starling auth v1"`) to authenticate:
/// `nonce || len(origin):u16be || origin || timestamp:u64be || relay id || device id`.
pub fn auth_message(
    nonce: &[u8; 32],
    origin: &str,
    timestamp: u64,
    relay: &DeviceId,
    device: &DeviceId,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + 2 + origin.len() + 8 + 64);
    v.extend_from_slice(nonce);
    v.extend_from_slice(&(origin.len().min(u16::MAX as usize) as u16).to_be_bytes());
    v.extend_from_slice(origin.as_bytes());
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(relay.as_bytes());
    v.extend_from_slice(device.as_bytes());
    v
}
