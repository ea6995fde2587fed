//! Sign-off: client and worker sign a reading's canonical digest.
//!
//! The digest covers what a reading says (date, mode, instrument, every
//! score of every perspective, every area note), bound to the journal and the
//! reading. Each signer stores their ed25519 signature over it together with
//! the document heads they signed at. A reading is *signed off* while both
//! signatures match its current digest; a change after that marks it
//! *amended after sign-off*, and the view names the fields that changed,
//! found by comparing with the journal as it was at the signers' heads. A
//! change after only one side signed makes that signature *outdated*,
//! named the same way: a signature is never dropped without a word.

use std::collections::{BTreeMap, HashMap};

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjId, ObjType, ScalarValue};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{JournalError, Result};
use crate::fields::Snapshot;
use crate::ids::{DeviceId, ReadingId};
use crate::journal::{Journal, Message, ensure_map};
use crate::model::MemberRole;
use crate::view::ReadingView;

/// Domain separation for reading digests.
const DIGEST_DOMAIN: &[u8] = b"starling reading digest v1\0";
/// Domain separation for sign-off signatures.
const SIGN_DOMAIN: &[u8] = b"starling reading signoff v1\0";

/// Where a reading stands with its signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignOff {
    /// Nobody has signed what the reading says now.
    Unsigned,
    /// One side signed what the reading says now; the other has not.
    Partial {
        /// Who signed.
        signed_by: Vec<DeviceId>,
    },
    /// Client and worker both signed what the reading says now.
    SignedOff {
        /// The client's device.
        client: DeviceId,
        /// The worker's device.
        worker: DeviceId,
    },
    /// One side signed an earlier version; the reading changed since, so
    /// no signature covers what it says now (the signers sign again).
    Outdated {
        /// Who signed the earlier version.
        signed_by: Vec<DeviceId>,
        /// Fields that differ from what the latest of them signed.
        changed: Vec<String>,
    },
    /// Signed off by both, then changed.
    Amended {
        /// The client's device.
        client: DeviceId,
        /// The worker's device.
        worker: DeviceId,
        /// Fields that differ from what was signed, e.g. `work.agreed`.
        changed: Vec<String>,
    },
}

struct Signed {
    device: DeviceId,
    role: MemberRole,
    digest: [u8; 32],
    heads: Vec<ChangeHash>,
    /// When the signer says they signed (ms).
    at: i64,
}

/// What a reading says, field by field, in a canonical order.
pub(crate) fn canonical_fields(reading: &ReadingView) -> BTreeMap<String, String> {
    let opt = |v: Option<String>, conflicted: bool| {
        if conflicted {
            "<conflict>".to_owned()
        } else {
            v.unwrap_or_default()
        }
    };
    let mut out = BTreeMap::new();
    out.insert(
        "date".into(),
        opt(
            reading.date.value.map(|d| d.to_string()),
            reading.date.is_conflicted(),
        ),
    );
    out.insert(
        "mode".into(),
        opt(
            reading.mode.value.map(|m| m.to_string()),
            reading.mode.is_conflicted(),
        ),
    );
    out.insert("instrument".into(), reading.instrument.clone());
    for area in &reading.areas {
        for (p, score) in [
            ("client", &area.client),
            ("worker", &area.worker),
            ("agreed", &area.agreed),
        ] {
            let value = opt(
                score.value.map(|v| v.to_string()),
                !score.conflict.is_empty(),
            );
            out.insert(format!("{}.{p}", area.area), value);
        }
        out.insert(format!("{}.note", area.area), area.note.clone());
    }
    out
}

fn digest(journal_id: &str, reading: &ReadingView) -> [u8; 32] {
    let fields = serde_json::to_vec(&canonical_fields(reading)).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(DIGEST_DOMAIN);
    hasher.update(journal_id.as_bytes());
    hasher.update([0]);
    hasher.update(reading.id.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(&fields);
    hasher.finalize().into()
}

fn signed_message(digest: &[u8; 32]) -> Vec<u8> {
    [SIGN_DOMAIN, digest.as_slice()].concat()
}

impl Journal {
    /// Sign what `reading` says now with this device's key.
    ///
    /// The key must be this journal's device, a member with the client or
    /// worker perspective, and the reading may have no open conflicts.
    pub fn sign_off(&mut self, reading: &ReadingId, key: &SigningKey) -> Result<()> {
        let device = DeviceId::from(&key.verifying_key());
        if device != self.device {
            return Err(JournalError::NotAllowed(
                "sign with this device's own key".into(),
            ));
        }
        let me = self.person(device);
        let role = self
            .members()
            .into_iter()
            .find(|m| self.person(m.device) == me)
            .map(|m| m.role);
        if !matches!(role, Some(MemberRole::Client | MemberRole::Worker)) {
            return Err(JournalError::NotAllowed(
                "only the journal's client or worker can sign off a reading".into(),
            ));
        }
        let obj = self.item("readings", "reading", reading.as_str())?;
        let view = self
            .reading_view_unsigned(reading)
            .ok_or_else(|| JournalError::NotFound {
                kind: "reading",
                id: reading.to_string(),
            })?;
        let conflicted = view.areas.iter().any(|a| {
            !(a.client.conflict.is_empty()
                && a.worker.conflict.is_empty()
                && a.agreed.conflict.is_empty())
        }) || view.date.is_conflicted()
            || view.mode.is_conflicted();
        if conflicted {
            return Err(JournalError::NotAllowed(
                "resolve this reading's conflicts before signing it off".into(),
            ));
        }
        let digest = digest(&self.journal_id(), &view);
        let signature = key.sign(&signed_message(&digest));
        let heads: Vec<String> = self.heads().iter().map(|h| h.to_string()).collect();
        let (me, now) = (self.device, self.now());
        let date = view.date.value.map(|d| d.to_string()).unwrap_or_default();
        let role_word = role.map(|r| r.as_str()).unwrap_or_default();
        let message = Message::new(format!("{role_word} signed off reading {date}"))
            .reading(reading.as_str());
        self.edit(message, |tx| {
            let signoffs = ensure_map(tx, &obj, "signoffs")?;
            let entry = tx.put_object(&signoffs, me.to_string(), ObjType::Map)?;
            tx.put(
                &entry,
                "signature",
                ScalarValue::Bytes(signature.to_bytes().to_vec()),
            )?;
            tx.put(&entry, "digest", ScalarValue::Bytes(digest.to_vec()))?;
            tx.put(&entry, "heads", heads.join(","))?;
            tx.put(&entry, "at", ScalarValue::Timestamp(now))?;
            Ok(())
        })
    }

    /// The sign-off state of a reading, from its verified signatures.
    ///
    /// `snap` holds the reading's object `obj` and everything below it.
    pub(crate) fn signoff_status(
        &self,
        snap: &Snapshot,
        obj: &ObjId,
        reading: &ReadingView,
        journal_id: &str,
        roles: &HashMap<DeviceId, MemberRole>,
    ) -> SignOff {
        let signed = valid_signatures(snap, obj, roles);
        if signed.is_empty() {
            return SignOff::Unsigned;
        }
        let current = digest(journal_id, reading);
        let now_by = |role| {
            signed
                .iter()
                .find(|s| s.role == role && s.digest == current)
        };
        if let (Some(c), Some(w)) = (now_by(MemberRole::Client), now_by(MemberRole::Worker)) {
            return SignOff::SignedOff {
                client: c.device,
                worker: w.device,
            };
        }
        let pair = signed
            .iter()
            .filter(|c| c.role == MemberRole::Client)
            .find_map(|c| {
                signed
                    .iter()
                    .find(|w| w.role == MemberRole::Worker && w.digest == c.digest)
                    .map(|w| (c, w))
            });
        if let Some((c, w)) = pair {
            return SignOff::Amended {
                client: c.device,
                worker: w.device,
                changed: self.changed_since(reading, &w.heads),
            };
        }
        let signed_by: Vec<DeviceId> = signed
            .iter()
            .filter(|s| s.digest == current)
            .map(|s| s.device)
            .collect();
        if !signed_by.is_empty() {
            return SignOff::Partial { signed_by };
        }
        // Every signature is of an earlier version: say so, and what
        // changed since the latest of them.
        let latest = signed.iter().max_by_key(|s| s.at);
        SignOff::Outdated {
            signed_by: signed.iter().map(|s| s.device).collect(),
            changed: latest.map_or_else(Vec::new, |s| self.changed_since(reading, &s.heads)),
        }
    }
}

/// The signatures on a reading that verify, by members who may sign.
fn valid_signatures(
    snap: &Snapshot,
    reading: &ObjId,
    roles: &HashMap<DeviceId, MemberRole>,
) -> Vec<Signed> {
    let Some(obj) = snap
        .map(reading)
        .get("signoffs")
        .and_then(|e| e.object(ObjType::Map))
    else {
        return Vec::new();
    };
    {
        let mut out = Vec::new();
        for (key, entry) in snap.map(obj) {
            let (Ok(device), Some(entry_obj)) =
                (key.parse::<DeviceId>(), entry.object(ObjType::Map))
            else {
                continue;
            };
            let Some(role) = roles.get(&device).copied() else {
                continue;
            };
            let fields = snap.map(entry_obj);
            let field = |k: &str| fields.get(k).filter(|e| e.author() == Some(device));
            let digest: Option<[u8; 32]> = field("digest").and_then(|e| e.bytes()?.try_into().ok());
            let signature = field("signature").and_then(|e| Signature::from_slice(e.bytes()?).ok());
            let (Some(digest), Some(signature), Some(key)) =
                (digest, signature, device.verifying_key())
            else {
                continue;
            };
            if key.verify(&signed_message(&digest), &signature).is_err() {
                continue;
            }
            let heads = field("heads")
                .and_then(|e| e.str())
                .map(|s| s.split(',').filter_map(|h| h.parse().ok()).collect())
                .unwrap_or_default();
            let at = field("at").and_then(|e| e.timestamp()).unwrap_or(0);
            out.push(Signed {
                device,
                role,
                digest,
                heads,
                at,
            });
        }
        out.sort_by_key(|s| s.device);
        out
    }
}

impl Journal {
    fn changed_since(&self, reading: &ReadingView, heads: &[ChangeHash]) -> Vec<String> {
        let then = self
            .at(heads)
            .ok()
            .and_then(|j| j.reading_view_unsigned(&reading.id));
        let Some(then) = then else {
            return vec!["(the signed version is not available on this device)".into()];
        };
        let (before, after) = (canonical_fields(&then), canonical_fields(reading));
        after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect()
    }
}
