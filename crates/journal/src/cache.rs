//! The view cache: a journal's view, kept per item and refreshed by diff.
//!
//! A live session re-renders after every change it receives, and reading a
//! five-year journal from scratch touches tens of thousands of values. So the
//! view is kept per reading, goal and note, together with each item's
//! conflicts and warnings. When the heads move, automerge's diff names the
//! items that changed and only those are read again. A change to members,
//! instruments or the root, or a large diff, rebuilds everything.

use std::collections::{BTreeSet, HashMap};

use automerge::{ChangeHash, ObjId, ObjType, Prop, ReadDoc};

use crate::fields::Snapshot;
use crate::ids::{DeviceId, GoalId, NoteId, ReadingId};
use crate::instrument::Instrument;
use crate::journal::Journal;
use crate::members::Member;
use crate::model::MemberRole;
use crate::read::Reader;
use crate::view::{Conflict, GoalView, JournalView, NoteView, ReadingView};

/// The top-level maps whose items are cached one by one.
const ITEMS: [&str; 3] = ["readings", "goals", "notes"];
/// Past this many changed items, one full pass is cheaper than item reads.
const MAX_DIRTY: usize = 48;
/// Past this many new changes (a big merge), rebuild without looking.
const MAX_CHANGES: usize = 64;

/// One item's part of the view.
#[derive(Debug, Clone)]
struct Item<T> {
    view: Option<T>,
    conflicts: Vec<Conflict>,
    warnings: Vec<String>,
}

/// Everything the items are read against.
#[derive(Debug, Clone)]
struct Base {
    journal_id: String,
    owner: Option<DeviceId>,
    members: Vec<Member>,
    roles: HashMap<DeviceId, MemberRole>,
    instruments: HashMap<String, Instrument>,
    warnings: Vec<String>,
}

/// A view, item by item, as of `heads`.
#[derive(Debug, Clone)]
pub(crate) struct ViewCache {
    heads: Vec<ChangeHash>,
    base: Base,
    readings: HashMap<String, Item<ReadingView>>,
    goals: HashMap<String, Item<GoalView>>,
    notes: HashMap<String, Item<NoteView>>,
}

/// What a top-level map holds under a key.
enum Found {
    Map(ObjId),
    NotMap,
    Missing,
}

impl Journal {
    /// The whole journal as plain, validated data.
    pub fn view(&self) -> JournalView {
        let heads = self.doc.get_heads();
        let mut slot = self.cache.borrow_mut();
        let cache = match slot.take() {
            Some(cache) if cache.heads == heads => cache,
            Some(cache) => self
                .refresh(cache, &heads)
                .unwrap_or_else(|| self.rebuild(heads)),
            None => self.rebuild(heads),
        };
        let view = cache.assemble().with_persons(self.persons.clone());
        *slot = Some(cache);
        view
    }

    /// Every open conflict: concurrent values nobody has settled yet.
    pub fn conflicts(&self) -> Vec<Conflict> {
        self.view().conflicts
    }

    fn base(&self) -> Base {
        let (members, warnings) = self.members_checked();
        Base {
            journal_id: self.journal_id(),
            owner: self.owner(),
            roles: self.roles(&members),
            members,
            instruments: self.instruments(),
            warnings,
        }
    }

    fn rebuild(&self, heads: Vec<ChangeHash>) -> ViewCache {
        let snap = Snapshot::of(&self.doc);
        let mut cache = ViewCache {
            heads,
            base: self.base(),
            readings: HashMap::new(),
            goals: HashMap::new(),
            notes: HashMap::new(),
        };
        for top in ITEMS {
            let Ok(map) = self.top(top) else {
                cache
                    .base
                    .warnings
                    .push(format!("the journal's `{top}` map is missing"));
                continue;
            };
            for (key, entry) in snap.map(&map) {
                let found = match entry.object(ObjType::Map) {
                    Some(obj) => Found::Map(obj.clone()),
                    None => Found::NotMap,
                };
                cache.read_item(self, &snap, top, key, found);
            }
        }
        cache
    }

    /// Re-read only the items that the changes since the cached heads touch.
    ///
    /// Each new op names the object it edits; the object's path up to the
    /// root names the item. (Automerge's diff is not enough: a concurrent value
    /// that loses to the current one makes no patch, yet it belongs in the
    /// conflict's list of values.)
    fn refresh(&self, mut cache: ViewCache, heads: &[ChangeHash]) -> Option<ViewCache> {
        let changes = self.doc.get_changes(&cache.heads);
        if changes.len() > MAX_CHANGES {
            return None;
        }
        let mut dirty = BTreeSet::new();
        let mut seen = HashMap::new();
        for change in changes {
            for op in change.decode().operations {
                let obj = op.obj.to_string();
                let item = match seen.get(&obj) {
                    Some(item) => item,
                    None => {
                        let item = self.item_of(&obj)?;
                        seen.entry(obj.clone()).or_insert(item)
                    }
                };
                let key = match item {
                    ItemOf::Item(top, key) => (*top, key.clone()),
                    // An op on the map of readings (say) puts or deletes an item.
                    ItemOf::Top(top) => (*top, op_key(&op)?),
                };
                dirty.insert(key);
            }
            if dirty.len() > MAX_DIRTY {
                return None;
            }
        }
        for (top, key) in dirty {
            let map = self.top(top).ok()?;
            let found = match self.doc.get(&map, key.as_str()) {
                Ok(Some((automerge::Value::Object(ObjType::Map), obj))) => Found::Map(obj),
                Ok(Some(_)) => Found::NotMap,
                _ => Found::Missing,
            };
            let snap = match &found {
                Found::Map(obj) => Snapshot::of_subtree(&self.doc, obj),
                _ => Snapshot::default(),
            };
            cache.read_item(self, &snap, top, &key, found);
        }
        cache.heads = heads.to_vec();
        Some(cache)
    }

    /// Which item an object (`counter@actor`) lies in; `None` for the root,
    /// members, instruments, or anything unexpected.
    fn item_of(&self, obj: &str) -> Option<ItemOf> {
        let id = self.doc.import_obj(obj).ok()?;
        let path: Vec<_> = self.doc.parents(&id).ok()?.collect();
        let (_, Prop::Map(top)) = path.last().map(|p| (&p.obj, &p.prop))? else {
            return None;
        };
        let top = ITEMS.into_iter().find(|t| t == top)?;
        match path.len() {
            1 => Some(ItemOf::Top(top)),
            n => match &path[n - 2].prop {
                Prop::Map(key) => Some(ItemOf::Item(top, key.clone())),
                Prop::Seq(_) => None,
            },
        }
    }
}

/// Where an edited object sits.
enum ItemOf {
    /// It is the map of readings, goals or notes itself.
    Top(&'static str),
    /// It is inside this item.
    Item(&'static str, String),
}

/// The map key an op writes, from its serialized form.
fn op_key(op: &impl serde::Serialize) -> Option<String> {
    let value = serde_json::to_value(op).ok()?;
    value.get("key")?.as_str().map(str::to_owned)
}

impl ViewCache {
    fn read_item(
        &mut self,
        journal: &Journal,
        snap: &Snapshot,
        top: &str,
        key: &str,
        found: Found,
    ) {
        let obj = match found {
            Found::Map(obj) => obj,
            Found::Missing => {
                self.readings.remove(key);
                self.goals.remove(key);
                self.notes.remove(key);
                return;
            }
            Found::NotMap => {
                let warning = format!("{top} entry {key} is not a map and is ignored");
                let key = key.to_owned();
                match top {
                    "readings" => drop(self.readings.insert(key, Item::ignored(warning))),
                    "goals" => drop(self.goals.insert(key, Item::ignored(warning))),
                    _ => drop(self.notes.insert(key, Item::ignored(warning))),
                }
                return;
            }
        };
        let base = &self.base;
        let mut reader = Reader::new(&journal.doc, snap, &base.roles, &base.instruments);
        match top {
            "readings" => {
                let view = reader.reading(ReadingId::from_key(key), &obj).map(|mut r| {
                    r.signoff =
                        journal.signoff_status(snap, &obj, &r, &base.journal_id, &base.roles);
                    r
                });
                self.readings.insert(key.to_owned(), reader.finish(view));
            }
            "goals" => {
                let view = reader.goal(GoalId::from_key(key), &obj);
                self.goals.insert(key.to_owned(), reader.finish(view));
            }
            _ => {
                let view = reader.note(NoteId::from_key(key), &obj);
                self.notes.insert(key.to_owned(), reader.finish(view));
            }
        }
    }

    fn assemble(&self) -> JournalView {
        let mut conflicts = Vec::new();
        let mut warnings = self.base.warnings.clone();
        let mut collect = |conf: &[Conflict], warn: &[String]| {
            conflicts.extend_from_slice(conf);
            warnings.extend_from_slice(warn);
        };
        for item in self.readings.values() {
            collect(&item.conflicts, &item.warnings);
        }
        for item in self.goals.values() {
            collect(&item.conflicts, &item.warnings);
        }
        for item in self.notes.values() {
            collect(&item.conflicts, &item.warnings);
        }
        conflicts.sort_by(|a, b| a.path.cmp(&b.path));
        warnings.sort();

        let mut readings: Vec<ReadingView> = self
            .readings
            .values()
            .filter_map(|i| i.view.clone())
            .collect();
        readings.sort_by(|a, b| (a.sort_date(), &a.id).cmp(&(b.sort_date(), &b.id)));
        let order: HashMap<&ReadingId, usize> = readings
            .iter()
            .enumerate()
            .map(|(i, r)| (&r.id, i))
            .collect();
        let mut goals: Vec<GoalView> = self.goals.values().filter_map(|i| i.view.clone()).collect();
        goals.sort_by_key(|g| {
            (
                order.get(&g.reading).copied().unwrap_or(usize::MAX),
                g.id.clone(),
            )
        });
        let mut notes: Vec<NoteView> = self.notes.values().filter_map(|i| i.view.clone()).collect();
        notes.sort_by(|a, b| (a.date.value, &a.id).cmp(&(b.date.value, &b.id)));
        JournalView {
            journal_id: self.base.journal_id.clone(),
            owner: self.base.owner,
            members: self.base.members.clone(),
            readings,
            goals,
            notes,
            conflicts,
            warnings,
            persons: Default::default(),
        }
    }
}

impl<T> Item<T> {
    /// An entry that is not an item at all, kept only as a warning.
    fn ignored(warning: String) -> Self {
        Item {
            view: None,
            conflicts: Vec::new(),
            warnings: vec![warning],
        }
    }
}

impl Reader<'_> {
    /// Take what was collected for one item.
    fn finish<T>(&mut self, view: Option<T>) -> Item<T> {
        Item {
            view,
            conflicts: std::mem::take(&mut self.conflicts),
            warnings: std::mem::take(&mut self.warnings),
        }
    }
}
