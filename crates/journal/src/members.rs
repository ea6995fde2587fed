//! Members: who may appear in a journal, under which name and perspective.
//!
//! Only the journal's owner (the device that made its genesis change) sets a
//! member's name and role. An entry written by anyone else is a self-claim:
//! it is ignored and flagged, never trusted.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use serde::Serialize;

use crate::error::{JournalError, Result};
use crate::fields::{author_of, child_map, read_map};
use crate::ids::DeviceId;
use crate::journal::{Journal, Message, clean_name};
use crate::model::{Date, MemberRole};

/// A member as the owner recorded them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Member {
    /// The member's device.
    pub device: DeviceId,
    /// Display name, as the owner typed it.
    pub name: String,
    /// Their perspective in this journal.
    pub role: MemberRole,
    /// When the owner removed them, if they did. A removed member stays
    /// listed, so the record says who wrote what and when they left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Date>,
}

impl Journal {
    /// The owner: the author of the journal's genesis change.
    ///
    /// `None` if no genesis claims an owner consistently (a forged or
    /// damaged document); views then trust no member entry.
    pub fn owner(&self) -> Option<DeviceId> {
        let mut owners = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .filter(|meta| meta.deps.is_empty())
            .filter_map(|meta| {
                let values = self.doc.get_all_at(ROOT, "owner", &[meta.hash]).ok()?;
                let (value, id) = values.into_iter().next()?;
                let claimed: DeviceId = value.into_string().ok()?.parse().ok()?;
                (author_of(&id) == Some(claimed)).then_some(claimed)
            })
            .collect::<Vec<_>>();
        owners.dedup();
        match owners.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Record `device` as a member named `name` with perspective `role`.
    ///
    /// Only the owner may do this; anyone else gets [`JournalError::NotAllowed`].
    pub fn set_member(&mut self, device: DeviceId, name: &str, role: MemberRole) -> Result<()> {
        if self
            .owner()
            .is_some_and(|o| self.person(o) != self.person(self.device))
        {
            return Err(JournalError::NotAllowed(
                "only the journal's owner sets members".into(),
            ));
        }
        let name = clean_name(name)?;
        let members = self.top("members")?;
        let key = device.to_string();
        let me = self.device;
        // People read this in history: by name, not by device id.
        let text = format!("set {name} as {role}");
        self.edit(Message::new(text), |tx| {
            let entry = match child_map(tx, &members, &key) {
                Some(obj) => obj,
                None => tx.put_object(&members, key.as_str(), ObjType::Map)?,
            };
            tx.put(&entry, "name", name.as_str())?;
            tx.put(&entry, "role", role.as_str())?;
            // Set again after a removal: a member again.
            if tx.get(&entry, "removed")?.is_some() {
                tx.delete(&entry, "removed")?;
            }
            crate::journal::touch(tx, &entry, me)
        })
    }

    /// Record that `device` was removed on `date` (owner only). The member
    /// stays listed with the date.
    pub fn remove_member(&mut self, device: DeviceId, date: Date) -> Result<()> {
        if self
            .owner()
            .is_some_and(|o| self.person(o) != self.person(self.device))
        {
            return Err(JournalError::NotAllowed(
                "only the journal's owner removes members".into(),
            ));
        }
        let member = self.member(device).ok_or_else(|| JournalError::NotFound {
            kind: "member",
            id: device.to_string(),
        })?;
        let members = self.top("members")?;
        let key = device.to_string();
        let me = self.device;
        let text = format!("removed {} ({})", member.name, device.short());
        self.edit(Message::new(text), |tx| {
            let Some(entry) = child_map(tx, &members, &key) else {
                return Ok(());
            };
            tx.put(&entry, "removed", date.to_string())?;
            crate::journal::touch(tx, &entry, me)
        })
    }

    /// Every member whose entry the owner wrote, sorted by device.
    pub fn members(&self) -> Vec<Member> {
        self.members_checked().0
    }

    /// Members, plus a warning for every entry that is not the owner's.
    pub(crate) fn members_checked(&self) -> (Vec<Member>, Vec<String>) {
        let owner = self.owner().map(|o| self.person(o));
        let mut warnings = Vec::new();
        if owner.is_none() {
            warnings.push(
                "journal has no consistent genesis owner; member entries are not trusted"
                    .to_owned(),
            );
        }
        let Ok(map) = self.top("members") else {
            return (Vec::new(), warnings);
        };
        let mut members = Vec::new();
        for (key, entry) in read_map(&self.doc, &map) {
            let Some(obj) = entry.object(ObjType::Map) else {
                warnings.push(format!("member entry {key} is not a map"));
                continue;
            };
            let fields = read_map(&self.doc, obj);
            let by_owner = |k: &str| {
                fields
                    .get(k)
                    .filter(|e| owner.is_some() && e.author().map(|a| self.person(a)) == owner)
            };
            let parsed = key.parse::<DeviceId>().ok().zip(
                by_owner("name")
                    .and_then(|e| e.str())
                    .zip(by_owner("role").and_then(|e| e.str()?.parse::<MemberRole>().ok())),
            );
            let removed = by_owner("removed")
                .and_then(|e| e.str())
                .and_then(|d| d.parse::<Date>().ok());
            match parsed {
                Some((device, (name, role))) => members.push(Member {
                    device,
                    name: name.to_owned(),
                    role,
                    removed,
                }),
                None => warnings.push(format!(
                    "member entry {} was not written by the owner and is ignored",
                    key.chars().take(8).collect::<String>()
                )),
            }
        }
        members.sort_by_key(|m| m.device);
        (members, warnings)
    }

    /// The member record of `device`, if the owner made one.
    pub fn member(&self, device: DeviceId) -> Option<Member> {
        self.members().into_iter().find(|m| m.device == device)
    }
}
