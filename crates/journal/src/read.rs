//! Building a [`JournalView`] from the document, defensively.

use std::collections::HashMap;

use automerge::{Automerge, ObjId, ObjType};

use crate::fields::{Deletion, Entry, Fields, Snapshot, candidates, child_map, deletion, render};
use crate::ids::{DeviceId, GoalId, NoteId, ReadingId, StepId};
use crate::instrument::Instrument;
use crate::journal::Journal;
use crate::model::{Date, MemberRole, Perspective};
use crate::view::{
    AreaView, Conflict, Field, FieldPath, GoalView, ItemRef, NoteView, ReadingView, Score,
    ScoreFlag, StepView,
};

/// Collects conflicts and warnings while the view is built.
pub(crate) struct Reader<'a> {
    doc: &'a Automerge,
    snap: &'a Snapshot,
    roles: &'a HashMap<DeviceId, MemberRole>,
    instruments: &'a HashMap<String, Instrument>,
    pub conflicts: Vec<Conflict>,
    pub warnings: Vec<String>,
}

impl Journal {
    /// One reading, without its sign-off state (used to check sign-offs).
    pub(crate) fn reading_view_unsigned(&self, id: &ReadingId) -> Option<ReadingView> {
        let map = self.top("readings").ok()?;
        let obj = child_map(&self.doc, &map, id.as_str())?;
        let snap = Snapshot::of_subtree(&self.doc, &obj);
        let members = self.members();
        let roles = self.roles(&members);
        let instruments = self.instruments();
        let mut reader = Reader::new(&self.doc, &snap, &roles, &instruments);
        reader.reading(id.clone(), &obj)
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        doc: &'a Automerge,
        snap: &'a Snapshot,
        roles: &'a HashMap<DeviceId, MemberRole>,
        instruments: &'a HashMap<String, Instrument>,
    ) -> Self {
        Reader {
            doc,
            snap,
            roles,
            instruments,
            conflicts: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn reading(&mut self, id: ReadingId, obj: &ObjId) -> Option<ReadingView> {
        let snap = self.snap;
        let fields = snap.map(obj);
        let deleted_while_edited = self.deletion(fields, obj, || ItemRef::Reading(id.clone()))?;
        let rid = &id;
        let date = self.field(
            obj,
            fields,
            "date",
            || FieldPath::Reading(rid.clone(), "date"),
            |e| e.str()?.parse().ok(),
        );
        let mode = self.field(
            obj,
            fields,
            "mode",
            || FieldPath::Reading(rid.clone(), "mode"),
            |e| e.str()?.parse().ok(),
        );
        let review_date = self.field(
            obj,
            fields,
            "review_date",
            || FieldPath::Reading(rid.clone(), "review_date"),
            |e| e.str()?.parse().ok(),
        );
        let instrument_key = fields
            .get("instrument")
            .and_then(|e| e.str())
            .unwrap_or_default()
            .to_owned();
        let instruments = self.instruments;
        let Some(instrument) = instruments.get(&instrument_key) else {
            self.warnings.push(format!(
                "reading {id} uses an instrument this journal does not define"
            ));
            return None;
        };
        let scores = fields
            .get("scores")
            .and_then(|e| e.object(ObjType::Map))
            .map(|o| snap.map(o));
        let notes = fields
            .get("notes")
            .and_then(|e| e.object(ObjType::Map))
            .map(|o| snap.map(o));
        // Each rewrite's whole text, by area (see `set_area_note`).
        let said = fields
            .get("notes_said")
            .and_then(|e| e.object(ObjType::Map))
            .map(|o| (o, snap.map(o)));
        let areas = instrument
            .areas
            .iter()
            .map(|area| {
                let cell = scores
                    .as_ref()
                    .and_then(|s| s.get(&area.id))
                    .and_then(|e| e.object(ObjType::Map));
                let cell_fields = snap.map(cell.unwrap_or(&automerge::ROOT));
                let mut score =
                    |p: Perspective| self.score(instrument, cell, cell_fields, rid, &area.id, p);
                let (client, worker, agreed) = (
                    score(Perspective::Client),
                    score(Perspective::Worker),
                    score(Perspective::Agreed),
                );
                let gap = match (client.value, worker.value) {
                    (Some(c), Some(w)) if c != w => Some(c.abs_diff(w)),
                    _ => None,
                };
                // A note rewritten on two devices at once: each device's
                // whole text is a candidate; the merged characters are not
                // shown.
                let rewritten = said.and_then(|(obj, f)| {
                    f.get(&area.id).and_then(|e| self.rivals(obj, e, &area.id))
                });
                let note = match rewritten {
                    Some(candidates) => {
                        self.conflicts.push(Conflict {
                            path: FieldPath::AreaNote(rid.clone(), area.id.clone()),
                            candidates,
                        });
                        String::new()
                    }
                    None => snap.text(notes.and_then(|n| n.get(&area.id))),
                };
                AreaView {
                    area: area.id.clone(),
                    name: area.name.clone(),
                    stage: agreed
                        .value
                        .and_then(|v| instrument.stage(v))
                        .map(|s| s.name.clone()),
                    client,
                    worker,
                    agreed,
                    gap,
                    note,
                }
            })
            .collect();
        Some(ReadingView {
            id,
            date,
            mode,
            instrument: instrument_key,
            review_date,
            areas,
            signoff: crate::signoff::SignOff::Unsigned,
            deleted_while_edited,
        })
    }

    fn score(
        &mut self,
        instrument: &Instrument,
        cell: Option<&ObjId>,
        fields: &Fields,
        reading: &ReadingId,
        area: &str,
        perspective: Perspective,
    ) -> Score {
        let mut score = Score {
            value: None,
            author: None,
            conflict: Vec::new(),
            flags: Vec::new(),
        };
        let (Some(cell), Some(entry)) = (cell, fields.get(perspective.as_str())) else {
            return score;
        };
        if let Some(rivals) = self.rivals(cell, entry, perspective.as_str()) {
            score.conflict = rivals;
            self.conflicts.push(Conflict {
                path: FieldPath::Score(reading.clone(), area.to_owned(), perspective),
                candidates: score.conflict.clone(),
            });
            return score;
        }
        score.author = entry.author();
        match entry.int().map(|v| instrument.check_score(v)) {
            Some(Ok(v)) => score.value = Some(v),
            _ => score.flags.push(ScoreFlag::Invalid {
                raw: render(&entry.value),
            }),
        }
        let role = score.author.and_then(|a| self.roles.get(&a)).copied();
        let allowed = match (perspective.owner_role(), role) {
            (_, None) => false,
            (Some(owner), Some(role)) => owner == role,
            (None, Some(role)) => role != MemberRole::Supporter,
        };
        if !allowed {
            score.flags.push(ScoreFlag::NotTheirPerspective {
                author: score.author,
            });
        }
        score
    }

    /// Read a scalar field; concurrent values become a conflict, odd ones a warning.
    fn field<T>(
        &mut self,
        obj: &ObjId,
        fields: &Fields,
        key: &str,
        path: impl Fn() -> FieldPath,
        parse: impl Fn(&Entry) -> Option<T>,
    ) -> Field<T> {
        let Some(entry) = fields.get(key) else {
            return Field::empty();
        };
        if let Some(candidates) = self.rivals(obj, entry, key) {
            self.conflicts.push(Conflict {
                path: path(),
                candidates: candidates.clone(),
            });
            return Field {
                value: None,
                conflict: candidates,
            };
        }
        let value = parse(entry);
        if value.is_none() {
            self.warnings.push(format!(
                "{} holds an invalid value `{}`",
                path(),
                render(&entry.value)
            ));
        }
        Field {
            value,
            conflict: Vec::new(),
        }
    }

    /// The concurrent values of `obj[key]`, if they differ. Devices that
    /// concurrently wrote the same value agree: that is no conflict.
    fn rivals(
        &self,
        obj: &ObjId,
        entry: &Entry,
        key: &str,
    ) -> Option<Vec<crate::fields::Candidate>> {
        if !entry.conflict {
            return None;
        }
        let all = candidates(self.doc, obj, key);
        let disagree = all.iter().any(|c| c.value != all[0].value);
        disagree.then_some(all)
    }

    /// `None` if the item is deleted; `Some(flag)` if it is live, flagged when
    /// its delete raced an edit (the delete is then listed as a conflict).
    fn deletion(
        &mut self,
        fields: &Fields,
        obj: &ObjId,
        item: impl Fn() -> ItemRef,
    ) -> Option<bool> {
        match deletion(self.doc, obj, fields) {
            Deletion::Live => Some(false),
            Deletion::Deleted => None,
            Deletion::Raced(candidates) => {
                self.conflicts.push(Conflict {
                    path: FieldPath::Deleted(item()),
                    candidates,
                });
                Some(true)
            }
        }
    }

    pub(crate) fn goal(&mut self, id: GoalId, obj: &ObjId) -> Option<GoalView> {
        let snap = self.snap;
        let fields = snap.map(obj);
        let deleted_while_edited = self.deletion(fields, obj, || ItemRef::Goal(id.clone()))?;
        let gid = &id;
        let target = self.field(
            obj,
            fields,
            "target",
            || FieldPath::GoalTarget(gid.clone()),
            |e| u8::try_from(e.int()?).ok(),
        );
        let steps = fields
            .get("steps")
            .and_then(|e| e.object(ObjType::Map))
            .map(|s| self.steps(gid, s))
            .unwrap_or_default();
        let text = |k: &str| fields.get(k).and_then(|e| e.str()).unwrap_or_default();
        Some(GoalView {
            area: text("area").to_owned(),
            reading: ReadingId::from_key(text("reading")),
            title: snap.text(fields.get("title")),
            target,
            steps,
            deleted_while_edited,
            id,
        })
    }

    fn steps(&mut self, goal: &GoalId, map: &ObjId) -> Vec<StepView> {
        let mut out = Vec::new();
        let snap = self.snap;
        for (key, entry) in snap.map(map) {
            let Some(obj) = entry.object(ObjType::Map) else {
                continue;
            };
            let id = StepId::from_key(key);
            let fields = snap.map(obj);
            let Some(deleted_while_edited) =
                self.deletion(fields, obj, || ItemRef::Step(goal.clone(), id.clone()))
            else {
                continue;
            };
            let path = |k: &'static str| {
                let (g, s) = (goal.clone(), id.clone());
                move || FieldPath::Step(g.clone(), s.clone(), k)
            };
            let owner = self.field(obj, fields, "owner", path("owner"), |e| {
                e.str()?.parse().ok()
            });
            let due = self.field(obj, fields, "due", path("due"), |e| e.str()?.parse().ok());
            let done = self.field(obj, fields, "done", path("done"), |e| e.bool());
            let created = fields
                .get("created")
                .and_then(|e| e.timestamp())
                .unwrap_or(0);
            out.push((
                created,
                StepView {
                    text: snap.text(fields.get("text")),
                    owner,
                    due,
                    done,
                    deleted_while_edited,
                    id,
                },
            ));
        }
        out.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        out.into_iter().map(|(_, s)| s).collect()
    }

    pub(crate) fn note(&mut self, id: NoteId, obj: &ObjId) -> Option<NoteView> {
        let snap = self.snap;
        let fields = snap.map(obj);
        let deleted_while_edited = self.deletion(fields, obj, || ItemRef::Note(id.clone()))?;
        let nid = &id;
        let date: Field<Date> = self.field(
            obj,
            fields,
            "date",
            || FieldPath::NoteDate(nid.clone()),
            |e| e.str()?.parse().ok(),
        );
        // The author is whoever created the note, whatever the field claims.
        let author = fields.get("author").and_then(|e| {
            let claimed: Option<DeviceId> = e.str()?.parse().ok();
            (claimed == e.author()).then_some(claimed).flatten()
        });
        if author.is_none() {
            self.warnings
                .push(format!("note {id} does not name its real author"));
        }
        Some(NoteView {
            date,
            area: fields.get("area").and_then(|e| e.str()).map(str::to_owned),
            author,
            text: snap.text(fields.get("text")),
            deleted_while_edited,
            id,
        })
    }
}
