//! Reading automerge maps defensively.
//!
//! Everything in a journal came, at some point, from another device. These
//! helpers read a map once, note which keys hold concurrent values, and turn
//! each value into the type the schema expects, or into a flag saying why it
//! could not be.

use std::collections::HashMap;

use automerge::{ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde::Serialize;

use crate::ids::DeviceId;

/// One key of a map as read: its winning value and whether others compete.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub value: Value<'static>,
    /// The op (or object) id of the winning value; carries its actor.
    pub id: ObjId,
    /// Whether concurrent values exist for this key.
    pub conflict: bool,
}

impl Entry {
    pub fn author(&self) -> Option<DeviceId> {
        author_of(&self.id)
    }

    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.as_str()),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Int(i) => Some(*i),
                ScalarValue::Uint(u) => i64::try_from(*u).ok(),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    pub fn bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Boolean(b) => Some(*b),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Bytes(b) => Some(b.as_slice()),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    pub fn timestamp(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Timestamp(t) | ScalarValue::Int(t) => Some(*t),
                _ => None,
            },
            Value::Object(_) => None,
        }
    }

    /// The object id if the value is an object of type `ty`.
    pub fn object(&self, ty: ObjType) -> Option<&ObjId> {
        match &self.value {
            Value::Object(t) if *t == ty => Some(&self.id),
            _ => None,
        }
    }
}

/// The keys of one map, as read. Maps in a journal are small (a handful of
/// keys), so a vector beats hashing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields(Vec<(String, Entry)>);

impl Fields {
    /// The entry under `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a String, &'a Entry);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Entry)>,
        fn(&'a (String, Entry)) -> (&'a String, &'a Entry),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, e)| (k, e))
    }
}

impl IntoIterator for Fields {
    type Item = (String, Entry);
    type IntoIter = std::vec::IntoIter<(String, Entry)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The device behind an op id, if its actor has the Starling shape.
pub(crate) fn author_of(id: &ObjId) -> Option<DeviceId> {
    match id {
        ObjId::Id(_, actor, _) => DeviceId::of_actor(actor),
        ObjId::Root => None,
    }
}

/// All keys of a map in one pass. A missing or non-map object reads as empty.
pub(crate) fn read_map<R: ReadDoc>(doc: &R, obj: &ObjId) -> Fields {
    Fields(
        doc.map_range(obj, ..)
            .map(|item| {
                let entry = Entry {
                    value: item.value.clone().into_value(),
                    id: item.id(),
                    conflict: item.conflict,
                };
                (item.key.into_owned(), entry)
            })
            .collect(),
    )
}

/// A child map of `obj` under `key`, if there is one.
pub(crate) fn child_map<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

/// One of several concurrent values of a field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Candidate {
    /// The value as text (a score, a date, an owner...).
    pub value: String,
    /// The device that wrote it, if its actor has the Starling shape.
    pub author: Option<DeviceId>,
    /// When it was written (unix seconds, as the author's clock said).
    pub time: i64,
}

/// Every concurrent value of `obj[key]`, with author and time, in a stable order.
pub(crate) fn candidates(doc: &automerge::Automerge, obj: &ObjId, key: &str) -> Vec<Candidate> {
    let Ok(all) = doc.get_all(obj, key) else {
        return Vec::new();
    };
    all.into_iter()
        .map(|(value, id)| Candidate {
            value: render(&value),
            author: author_of(&id),
            time: change_time(doc, &id).unwrap_or(0),
        })
        .collect()
}

fn change_time(doc: &automerge::Automerge, id: &ObjId) -> Option<i64> {
    let hash: ChangeHash = doc.hash_for_opid(id)?;
    doc.get_change_meta_by_hash(&hash).map(|m| m.timestamp)
}

/// A value as a person would read it.
pub(crate) fn render(value: &Value<'_>) -> String {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => i.to_string(),
            ScalarValue::Uint(u) => u.to_string(),
            ScalarValue::Boolean(b) => b.to_string(),
            ScalarValue::Null => "null".into(),
            other => format!("{other}"),
        },
        Value::Object(t) => format!("<{t:?}>"),
    }
}

/// Whether an item is live, deleted, or deleted while someone edited it.
pub(crate) enum Deletion {
    Live,
    Deleted,
    /// Deleted on one device while edited on another: kept. Each candidate
    /// says `deleted` or `edited`, with its author.
    Raced(Vec<Candidate>),
}

/// Every delete also writes `touched`; more concurrent touches than deletes
/// means someone edited while someone else deleted.
pub(crate) fn deletion(doc: &automerge::Automerge, obj: &ObjId, fields: &Fields) -> Deletion {
    let deleted = fields
        .get("deleted")
        .is_some_and(|e| e.bool() == Some(true) || e.conflict);
    if !deleted {
        return Deletion::Live;
    }
    if !fields.get("touched").is_some_and(|e| e.conflict) {
        return Deletion::Deleted;
    }
    let mut touches = candidates(doc, obj, "touched");
    let deleters: Vec<_> = candidates(doc, obj, "deleted")
        .into_iter()
        .filter(|c| c.value == "true")
        .map(|c| c.author)
        .collect();
    if touches.len() <= deleters.len() {
        return Deletion::Deleted;
    }
    for touch in &mut touches {
        touch.value = if deleters.contains(&touch.author) {
            "deleted"
        } else {
            "edited"
        }
        .to_owned();
    }
    Deletion::Raced(touches)
}

/// Every map and text of a document, read in one sequential pass.
///
/// Automerge's columnar store makes each `map_range` a seek; a view touches
/// tens of thousands of values, so it reads the whole document once instead.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    maps: HashMap<ObjId, Fields>,
    texts: HashMap<ObjId, String>,
}

impl Snapshot {
    /// The whole document.
    pub fn of(doc: &automerge::Automerge) -> Self {
        Snapshot::of_subtree(doc, &automerge::ROOT)
    }

    /// An object and everything below it.
    pub fn of_subtree(doc: &automerge::Automerge, obj: &ObjId) -> Self {
        let mut snap = Snapshot::default();
        // Items arrive object by object: fill one object's fields, then file them.
        let mut current: Option<(std::sync::Arc<ObjId>, Fields)> = None;
        for item in doc.iter_at(obj, None) {
            match item.item {
                automerge::iter::DocItem::Map(m) => {
                    let entry = Entry {
                        value: m.value.clone().into_value(),
                        id: m.id(),
                        conflict: m.conflict,
                    };
                    match &mut current {
                        Some((obj, fields))
                            if std::sync::Arc::ptr_eq(obj, &item.obj) || **obj == *item.obj =>
                        {
                            fields.0.push((m.key.into_owned(), entry));
                        }
                        _ => {
                            if let Some((obj, fields)) = current.take() {
                                snap.maps.insert((*obj).clone(), fields);
                            }
                            current =
                                Some((item.obj.clone(), Fields(vec![(m.key.into_owned(), entry)])));
                        }
                    }
                }
                automerge::iter::DocItem::Text(span) => {
                    snap.texts
                        .entry((*item.obj).clone())
                        .or_default()
                        .push_str(span.as_str());
                }
                automerge::iter::DocItem::List(_) => {}
            }
        }
        if let Some((obj, fields)) = current {
            snap.maps.insert((*obj).clone(), fields);
        }
        snap
    }

    /// The keys of a map; empty for anything that is not a map.
    pub fn map(&self, obj: &ObjId) -> &Fields {
        static EMPTY: Fields = Fields(Vec::new());
        self.maps.get(obj).unwrap_or(&EMPTY)
    }

    /// The text of a Text entry, or "" for anything else.
    pub fn text(&self, entry: Option<&Entry>) -> String {
        entry
            .and_then(|e| e.object(ObjType::Text))
            .and_then(|id| self.texts.get(id).cloned())
            .unwrap_or_default()
    }
}
