//! Carrying out what the session decided about one received frame.

use std::collections::BTreeSet;

use rand_core::OsRng;
use starling_protocol::envelope::EnvelopeKind;
use starling_protocol::session::{Output, SessionEvent, Tampering};
use starling_protocol::wire::Message;
use zeroize::Zeroizing;

use super::{ClientEvent, Erasure, Run};
use crate::changes::decode_batch;
use crate::client::now_ms;
use crate::client::{is_live_link_of, is_recovery_of};
use crate::error::{ClientError, Result};
use crate::persist;
use crate::store::rows;
use starling_protocol::RelayAddr;
use starling_protocol::membership::{InviteStatus, OpBody};
use starling_protocol::person::RECOVERY_EXPIRES;
use starling_protocol::{DeviceId, DocId};

impl Run<'_> {
    /// Carry out a session output: store what arrived, report events, and
    /// return the messages to send.
    ///
    /// Everything the frames behind `out` produced (every applied batch,
    /// every quarantined payload, and the final sync state of every
    /// document they touched, encoded once) is written in one transaction:
    /// a crash leaves either all of it or none, and the next sync resumes
    /// from the matching cursor.
    pub(super) fn handle(
        &mut self,
        out: Output,
        relay: &RelayAddr,
        on_event: &mut impl FnMut(ClientEvent),
    ) -> Result<Vec<Message>> {
        let mut sends = out.send;
        let mut touched = BTreeSet::new();
        let mut chunks: Vec<(String, Vec<u8>)> = Vec::new();
        // What each applied envelope carried: (doc, author, seq, clock),
        // and snapshots' folds of what they cover.
        let mut coverage: Vec<(String, String, u64, Vec<u8>)> = Vec::new();
        let mut folds: Vec<(String, String, u64, Vec<u8>)> = Vec::new();
        let mut quarantined: Vec<(String, String, u64, String, Vec<u8>)> = Vec::new();
        let mut synced = Vec::new();
        let mut erase: Vec<(starling_protocol::DocId, Erasure)> = Vec::new();
        let mut events = Vec::new();
        let now = now_ms();
        // Journals found through a device link or recovery code, and the
        // links answered.
        let mut joined: Vec<String> = Vec::new();
        let mut answered: Vec<String> = Vec::new();
        let mut upkeep = BTreeSet::new();
        for event in out.events {
            match event {
                SessionEvent::Connected => {
                    self.pin_presented(relay)?;
                    for (secret, _) in self.finding.values() {
                        sends.extend(self.session.find_invites(secret).send);
                    }
                    for doc in &self.logs_wanted {
                        if !self.logs.contains_key(doc) {
                            sends.extend(self.session.request_access_log(*doc).send);
                        }
                    }
                    events.push(ClientEvent::Connected {
                        relay: relay.to_string(),
                    })
                }
                SessionEvent::AuthFailed(reason) => {
                    return Err(ClientError::Refused {
                        relay: relay.to_string(),
                        reason,
                    });
                }
                SessionEvent::Apply {
                    doc,
                    author,
                    seq,
                    kind,
                    payload,
                } => {
                    touched.insert(doc);
                    let doc_hex = doc.to_string();
                    let checked = match &kind {
                        EnvelopeKind::Changes => {
                            decode_batch(&payload, &author).map_err(|e| e.to_string())
                        }
                        EnvelopeKind::Snapshot { covers } => self
                            .client
                            .check_snapshot(&doc_hex, &payload, covers)
                            .and_then(|()| {
                                self.client
                                    .snapshot_folds(&doc_hex, author, seq, covers, &payload)
                                    .map_err(|e| e.to_string())
                            })
                            .map(|f| {
                                folds.extend(f);
                                vec![payload.clone()]
                            })
                            .map_err(|why| format!("a snapshot by {author} was refused: {why}")),
                    };
                    match checked {
                        Ok(changes) => {
                            if matches!(kind, EnvelopeKind::Changes) {
                                let clock = crate::compact::clock_of(&changes);
                                coverage.push((
                                    doc_hex.clone(),
                                    author.to_string(),
                                    seq,
                                    crate::compact::encode_clock(&clock),
                                ));
                            }
                            let messages = crate::changes::messages(&changes);
                            chunks.extend(changes.into_iter().map(|c| (doc.to_string(), c)));
                            self.report.pulled += 1;
                            events.push(ClientEvent::Changed {
                                doc,
                                author,
                                messages,
                            });
                        }
                        Err(reason) => {
                            tracing::warn!(doc = %doc, author = %author, seq, %reason, "quarantined a payload");
                            quarantined.push((
                                doc.to_string(),
                                author.to_string(),
                                seq,
                                reason.clone(),
                                payload,
                            ));
                            self.report.quarantined += 1;
                            if matches!(kind, EnvelopeKind::Snapshot { .. }) {
                                // A writer's snapshot that misstates the
                                // history: someone tampered with it.
                                self.report.tampering += 1;
                                events.push(ClientEvent::Tampering {
                                    doc: Some(doc),
                                    what: reason.clone(),
                                });
                            }
                            events.push(ClientEvent::Quarantined { doc, reason });
                        }
                    }
                }
                SessionEvent::Acked { doc, .. } => {
                    self.report.pushed += 1;
                    touched.insert(doc);
                    // Progress: whatever the relay deferred went through.
                    if self.failed.get(&doc).is_some_and(|f| !f.1) {
                        self.failed.remove(&doc);
                        self.deferred_at.remove(&doc);
                    }
                }
                SessionEvent::MembershipChanged { doc } => {
                    touched.insert(doc);
                    if self.caught_up.contains(&doc) {
                        upkeep.insert(doc);
                    }
                    events.push(ClientEvent::MembersChanged { doc });
                }
                SessionEvent::MembershipChangeDropped { doc, reason } => {
                    touched.insert(doc);
                    events.push(ClientEvent::MembershipChangeDropped { doc, reason });
                }
                SessionEvent::RotationNeeded { doc } => {
                    sends.extend(self.session.rotate(now, doc, &mut OsRng)?.send);
                    touched.insert(doc);
                }
                SessionEvent::Removed { doc } => {
                    touched.insert(doc);
                    events.push(ClientEvent::Removed { doc });
                }
                SessionEvent::AccessLog { doc, log, signed } => {
                    self.logs.insert(doc, (log, signed));
                }
                SessionEvent::Deleted { doc, by } => erase.push((doc, Erasure::Deleted { by })),
                SessionEvent::Left { doc } => erase.push((doc, Erasure::Left)),
                SessionEvent::InviteDocs { invite, docs } => {
                    let Some((secret, kind)) = self.finding.remove(&invite) else {
                        continue;
                    };
                    for doc in &docs {
                        if !self.docs.contains(doc) {
                            sends.extend(self.session.join_device(*doc, &secret).send);
                            self.docs.push(*doc);
                            joined.push(doc.to_string());
                            touched.insert(*doc);
                        }
                    }
                    answered.push(invite.to_string());
                    self.report.found.push((kind, docs.len()));
                    self.report.docs = self.docs.len();
                    events.push(ClientEvent::DeviceJoining {
                        kind,
                        journals: docs.len(),
                    });
                }
                SessionEvent::CaughtUp { doc } => {
                    upkeep.insert(doc);
                    if let Some(me) = &self.announce {
                        sends.extend(self.session.send_presence(doc, me, &mut OsRng)?.send);
                    }
                    self.caught_up.insert(doc);
                    touched.insert(doc);
                    synced.push(doc.to_string());
                    events.push(ClientEvent::CaughtUp { doc });
                }
                SessionEvent::Waiting { doc, .. } => {
                    touched.insert(doc);
                }
                SessionEvent::Tampering {
                    doc: None,
                    what: Tampering::WrongRelay,
                } => {
                    // The handshake did not check out: nothing was sent,
                    // nothing is pinned, and waiting will not help.
                    return Err(ClientError::Refused {
                        relay: relay.to_string(),
                        reason: "it answered as another relay: the origin it signs, or its key, \
                                 is not the one this device expects"
                            .into(),
                    });
                }
                SessionEvent::Tampering { doc, what } => {
                    self.report.tampering += 1;
                    if let Some(doc) = doc {
                        touched.insert(doc);
                    }
                    events.push(ClientEvent::Tampering {
                        doc,
                        what: describe(&what),
                    });
                }
                SessionEvent::Presence { doc, from, data } => {
                    // Answer a newcomer once, so both sides know who is here.
                    if let Some(me) = &self.announce
                        && self.greeted.insert((doc, from))
                    {
                        sends.extend(self.session.send_presence(doc, me, &mut OsRng)?.send);
                    }
                    events.push(ClientEvent::Presence { doc, from, data });
                }
                SessionEvent::RelayError {
                    doc,
                    retry,
                    message,
                    ..
                } => {
                    // A document the relay will not serve us (an invite no longer
                    // valid, membership withdrawn) is finished, with its reason.
                    // A document the relay asked us to retry later (busy, rate
                    // limited) is finished for this run too: a one-off sync
                    // reports it instead of waiting for its timeout.
                    // A refusal over a quota is answered with a snapshot
                    // (see `compact`), not reported.
                    let compacting = doc.is_some_and(|d| self.session.compaction_wanted(&d));
                    if let Some(doc) = doc.filter(|_| !compacting) {
                        use starling_protocol::wire::RetryClass;
                        let permanent = !matches!(retry, RetryClass::RetryLater);
                        if permanent || self.announce.is_none() {
                            self.failed.insert(doc, (message.clone(), permanent));
                            if !permanent {
                                self.deferred_at.insert(doc, std::time::Instant::now());
                            }
                        }
                    }
                    events.push(ClientEvent::RelayError { doc, message });
                }
                _ => {}
            }
        }
        let learned = self.learn_person(&touched);
        let recovery_before = self.recovery;
        for doc in upkeep {
            if let Some(more) = self.upkeep_recovery(doc, now) {
                sends.extend(more);
                touched.insert(doc);
            }
        }
        let recovery = (self.recovery != recovery_before)
            .then_some(self.recovery)
            .flatten();
        let states: Vec<(String, Zeroizing<Vec<u8>>)> = touched
            .iter()
            .filter_map(|doc| {
                Some((
                    doc.to_string(),
                    persist::encode(&self.session.persisted(doc)?),
                ))
            })
            .collect();
        // What is erased is named now, while its row is there.
        let titles: Vec<String> = erase
            .iter()
            .map(|(doc, _)| {
                let key = doc.to_string();
                self.client
                    .store
                    .docs()
                    .ok()
                    .and_then(|rows| rows.into_iter().find(|r| r.doc == key))
                    .map(|r| r.title)
                    .unwrap_or_default()
            })
            .collect();
        if !(states.is_empty()
            && chunks.is_empty()
            && quarantined.is_empty()
            && synced.is_empty()
            && erase.is_empty()
            && answered.is_empty())
        {
            self.client.store.write(|tx| {
                for doc in &joined {
                    rows::put_doc(tx, doc, &relay.to_string(), "", now as i64)?;
                }
                for invite in &answered {
                    rows::remove_device_join(tx, invite)?;
                }
                if let Some(person) = learned {
                    rows::set_person(tx, Some(&person.to_string()))?;
                }
                if let Some(recovery) = recovery {
                    rows::set_recovery(tx, Some(&recovery.to_string()))?;
                }
                for (doc, bytes) in &chunks {
                    rows::add_chunk(tx, doc, bytes)?;
                }
                for (doc, author, seq, clock) in &coverage {
                    rows::record_coverage(tx, doc, author, *seq, clock)?;
                }
                for (doc, author, seq, clock) in &folds {
                    rows::fold_coverage(tx, doc, author, *seq, clock)?;
                }
                for (doc, author, seq, reason, payload) in &quarantined {
                    rows::quarantine(tx, doc, author, *seq, reason, payload, now as i64)?;
                }
                for (doc, state) in &states {
                    rows::put_sync_state(tx, doc, state)?;
                }
                for doc in &synced {
                    rows::synced(tx, doc, now as i64)?;
                }
                // Last, so nothing above writes any of it back.
                for (doc, _) in &erase {
                    rows::erase(tx, &doc.to_string())?;
                }
                Ok(())
            })?;
        }
        if !erase.is_empty() {
            // Its bytes leave the file and its log too.
            self.client.store.reclaim()?;
        }
        for ((doc, why), title) in erase.into_iter().zip(titles) {
            self.erased.insert(doc);
            self.caught_up.remove(&doc);
            self.failed.remove(&doc);
            events.push(ClientEvent::Erased { doc, title, why });
        }
        // Report only what is durable.
        for event in events {
            on_event(event);
        }
        Ok(sends)
    }
}

fn describe(what: &Tampering) -> String {
    match what {
        Tampering::BadSignature => "an envelope's signature failed".into(),
        Tampering::NotAWriter(d) => format!("device {d} wrote without write access"),
        Tampering::Fork { author, seq } => format!(
            "two different envelopes for {author} #{seq}: the relay or the author forked history"
        ),
        Tampering::Undecryptable(d) => format!("an envelope from {d} did not decrypt"),
        Tampering::BadAck => "the relay's acknowledgement signature failed".into(),
        Tampering::BadMembership(why) => format!("the membership log failed verification: {why}"),
        Tampering::WrongRelay => "the relay is not the one this journal uses".into(),
        Tampering::BadPresence(d) => format!("presence from {d} failed to open"),
        other => format!("{other:?}"),
    }
}

impl Run<'_> {
    /// A device that joined its person through a link or a recovery code
    /// learns who the person is from the first journal that lists it.
    fn learn_person(&mut self, touched: &BTreeSet<DocId>) -> Option<DeviceId> {
        if self.person_known {
            return None;
        }
        let me = self.session.device_id();
        let person = touched.iter().find_map(|doc| {
            let p = self.session.membership(doc)?.person_of(&me)?;
            (p != me).then_some(p)
        })?;
        self.session.set_person(Some(person));
        self.person_known = true;
        Some(person)
    }

    /// Keeps the person's recovery code registered in `doc` (a journal
    /// created or joined since, or one the person's other device made): the
    /// device invite is added where it is missing. When the code this
    /// device knows is spent or replaced, it takes up the newest one the
    /// person registered. Returns what to send, if anything changed.
    fn upkeep_recovery(&mut self, doc: DocId, now: u64) -> Option<Vec<Message>> {
        let me = self.session.device_id();
        let person = self.session.person();
        let m = self.session.membership(&doc)?;
        if m.role(&me).is_none() || m.is_deleted() {
            return None;
        }
        let spent = match self.recovery {
            None => true,
            Some(r) => m
                .invites()
                .get(&r)
                .is_some_and(|inv| inv.status != InviteStatus::Live),
        };
        if spent {
            let newest = self.session.persisted(&doc).and_then(|p| {
                p.ops
                    .iter()
                    .filter_map(|op| match &op.content().body {
                        OpBody::CreateInvite { invite, .. } => m
                            .invites()
                            .get(invite)
                            .filter(|inv| {
                                inv.status == InviteStatus::Live && is_recovery_of(inv, &person)
                            })
                            .map(|_| (op.content().at, *invite)),
                        _ => None,
                    })
                    .max()
                    .map(|(_, invite)| invite)
            });
            if newest.is_some() {
                self.recovery = newest;
            }
        }
        // The person's expired links go: each live one is wrapped for by
        // every rotation.
        let expired: Vec<_> = m
            .invites()
            .iter()
            .filter(|(_, inv)| is_live_link_of(inv, &person) && inv.expires_at < now)
            .map(|(id, _)| *id)
            .collect();
        let register = self.recovery.filter(|r| !m.invites().contains_key(r));
        let mut sends = Vec::new();
        for invite in expired {
            if let Ok(out) = self.session.revoke_invite(now, doc, invite) {
                sends.extend(out.send);
            }
        }
        if let Some(recovery) = register
            && let Ok(out) =
                self.session
                    .create_device_invite(now, doc, recovery, RECOVERY_EXPIRES, &mut OsRng)
        {
            sends.extend(out.send);
        }
        (!sends.is_empty()).then_some(sends)
    }
}
