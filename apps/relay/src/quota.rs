//! Per-document and per-device storage quotas.
//!
//! Usage counts the bytes of stored envelopes that are still kept: it grows
//! as envelopes are accepted and shrinks when a snapshot compacts what it
//! covers. A snapshot may use up to twice the quota, so a document at its
//! limit can always be compacted.

use std::collections::HashMap;

use starling_protocol::envelope::EnvelopeKind;
use starling_protocol::{DeviceId, DocId, Envelope};

use crate::config::Limits;
use crate::store::{Freed, Loaded};

/// Kept envelope bytes per document and per authoring device.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    docs: HashMap<DocId, u64>,
    devices: HashMap<DeviceId, u64>,
}

impl Usage {
    /// Usage as stored.
    pub fn from_loaded(loaded: &Loaded) -> Self {
        Usage {
            docs: loaded.docs.iter().map(|d| (d.doc, d.live_bytes)).collect(),
            devices: loaded.device_bytes.clone(),
        }
    }

    /// Why `env` would exceed a quota, if it would.
    pub fn refusal(&self, env: &Envelope, limits: &Limits) -> Option<&'static str> {
        let h = env.header_unverified();
        let len = env.as_bytes().len() as u64;
        let factor = match h.kind {
            EnvelopeKind::Snapshot { .. } => 2,
            _ => 1,
        };
        let doc = self.docs.get(&h.doc).copied().unwrap_or(0);
        let dev = self.devices.get(&h.author).copied().unwrap_or(0);
        if doc.saturating_add(len) > limits.max_doc_bytes.saturating_mul(factor) {
            Some("document quota exceeded")
        } else if dev.saturating_add(len) > limits.max_device_bytes.saturating_mul(factor) {
            Some("device quota exceeded")
        } else {
            None
        }
    }

    /// An envelope was accepted.
    pub fn add(&mut self, doc: DocId, author: DeviceId, len: u64) {
        *self.docs.entry(doc).or_default() += len;
        *self.devices.entry(author).or_default() += len;
    }

    /// Compaction dropped envelope bytes.
    pub fn free(&mut self, f: &Freed) {
        if let Some(u) = self.docs.get_mut(&f.doc) {
            *u = u.saturating_sub(f.bytes);
        }
        if let Some(u) = self.devices.get_mut(&f.author) {
            *u = u.saturating_sub(f.bytes);
        }
    }
}
