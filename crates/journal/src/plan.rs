//! Editing the action plan: goals per area, and the steps towards them.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT};

use crate::error::{JournalError, Result};
use crate::fields::{Deletion, child_map, deletion, read_map};
use crate::ids::{GoalId, ReadingId, StepId};
use crate::journal::{Journal, Message, clean_name, ensure_map, ensure_text, touch};
use crate::model::{Date, StepOwner};

impl Journal {
    /// Add a goal for `area`, set at `reading` (its plan), with an optional target score.
    pub fn add_goal(
        &mut self,
        reading: &ReadingId,
        area: &str,
        title: &str,
        target: Option<i64>,
    ) -> Result<GoalId> {
        let id = GoalId::random();
        self.add_goal_with_id(&id, reading, area, title, target)?;
        Ok(id)
    }

    pub(crate) fn add_goal_with_id(
        &mut self,
        id: &GoalId,
        reading: &ReadingId,
        area: &str,
        title: &str,
        target: Option<i64>,
    ) -> Result<()> {
        let instrument = self.goal_instrument(reading, area)?;
        let target = target.map(|t| instrument.check_score(t)).transpose()?;
        let title = clean_name(title)?;
        let goals = self.top("goals")?;
        let (me, now) = (self.device, self.now());
        let message = Message::new(format!("added goal on {area}: {title}"))
            .reading(reading.as_str())
            .area(area);
        self.edit(message, |tx| {
            let obj = tx.put_object(&goals, id.as_str(), ObjType::Map)?;
            tx.put(&obj, "area", area)?;
            tx.put(&obj, "reading", reading.as_str())?;
            let text = tx.put_object(&obj, "title", ObjType::Text)?;
            tx.update_text(&text, &title)?;
            if let Some(t) = target {
                tx.put(&obj, "target", i64::from(t))?;
            }
            tx.put(&obj, "created", automerge::ScalarValue::Timestamp(now))?;
            tx.put(&obj, "deleted", false)?;
            touch(tx, &obj, me)?;
            tx.put_object(&obj, "steps", ObjType::Map)?;
            Ok(())
        })
    }

    /// Retitle a goal; concurrent edits of the title merge by character.
    pub fn set_goal_title(&mut self, goal: &GoalId, title: &str) -> Result<()> {
        let title = clean_name(title)?;
        let obj = self.item("goals", "goal", goal.as_str())?;
        let me = self.device;
        self.edit(Message::new(format!("retitled goal: {title}")), |tx| {
            let text = ensure_text(tx, &obj, "title")?;
            tx.update_text(&text, &title)?;
            touch(tx, &obj, me)
        })
    }

    /// Set or clear a goal's target score.
    pub fn set_goal_target(&mut self, goal: &GoalId, target: Option<i64>) -> Result<()> {
        let obj = self.item("goals", "goal", goal.as_str())?;
        let fields = read_map(&self.doc, &obj);
        let reading = ReadingId::from_key(
            fields
                .get("reading")
                .and_then(|e| e.str())
                .unwrap_or_default(),
        );
        let area = fields.get("area").and_then(|e| e.str()).unwrap_or_default();
        let instrument = self.goal_instrument(&reading, area)?;
        let target = target.map(|t| instrument.check_score(t)).transpose()?;
        let me = self.device;
        let text = match target {
            Some(t) => format!("set goal target to {t}"),
            None => "cleared goal target".to_owned(),
        };
        self.edit(Message::new(text), |tx| {
            match target {
                Some(t) => tx.put(&obj, "target", i64::from(t))?,
                None => tx.delete(&obj, "target")?,
            }
            touch(tx, &obj, me)
        })
    }

    /// Delete a goal and its steps.
    pub fn delete_goal(&mut self, goal: &GoalId) -> Result<()> {
        let obj = self.item("goals", "goal", goal.as_str())?;
        self.mark_deleted(&obj, true, Message::new("deleted a goal"))
    }

    /// Undo a goal's delete, or keep a goal whose delete raced an edit.
    pub fn restore_goal(&mut self, goal: &GoalId) -> Result<()> {
        let obj = self.any_item("goals", "goal", goal.as_str())?;
        self.mark_deleted(&obj, false, Message::new("restored a goal"))
    }

    /// Add a step towards `goal`: what, who does it, by when.
    pub fn add_step(
        &mut self,
        goal: &GoalId,
        text: &str,
        owner: StepOwner,
        due: Option<Date>,
    ) -> Result<StepId> {
        let id = StepId::random();
        self.add_step_with_id(goal, &id, text, owner, due)?;
        Ok(id)
    }

    pub(crate) fn add_step_with_id(
        &mut self,
        goal: &GoalId,
        id: &StepId,
        text: &str,
        owner: StepOwner,
        due: Option<Date>,
    ) -> Result<()> {
        let text = clean_name(text)?;
        let goal_obj = self.item("goals", "goal", goal.as_str())?;
        let (me, now) = (self.device, self.now());
        let due_text = due.map(|d| format!(" by {d}")).unwrap_or_default();
        self.edit(
            Message::new(format!("added step for {owner}{due_text}: {text}")),
            |tx| {
                let steps = ensure_map(tx, &goal_obj, "steps")?;
                let obj = tx.put_object(&steps, id.as_str(), ObjType::Map)?;
                let t = tx.put_object(&obj, "text", ObjType::Text)?;
                tx.update_text(&t, &text)?;
                tx.put(&obj, "owner", owner.as_str())?;
                if let Some(d) = due {
                    tx.put(&obj, "due", d.to_string())?;
                }
                tx.put(&obj, "done", false)?;
                tx.put(&obj, "created", automerge::ScalarValue::Timestamp(now))?;
                tx.put(&obj, "deleted", false)?;
                touch(tx, &obj, me)?;
                touch(tx, &goal_obj, me)
            },
        )
    }

    /// Mark a step done or not done.
    pub fn set_step_done(&mut self, goal: &GoalId, step: &StepId, done: bool) -> Result<()> {
        let word = if done { "done" } else { "not done" };
        self.set_step_field(
            goal,
            step,
            "done",
            done.into(),
            format!("marked a step {word}"),
        )
    }

    /// Change who does a step.
    pub fn set_step_owner(&mut self, goal: &GoalId, step: &StepId, owner: StepOwner) -> Result<()> {
        self.set_step_field(
            goal,
            step,
            "owner",
            owner.as_str().into(),
            format!("gave a step to {owner}"),
        )
    }

    /// Change when a step is due.
    pub fn set_step_due(&mut self, goal: &GoalId, step: &StepId, due: Date) -> Result<()> {
        self.set_step_field(
            goal,
            step,
            "due",
            due.to_string().into(),
            format!("set a step due {due}"),
        )
    }

    /// Delete a step.
    pub fn delete_step(&mut self, goal: &GoalId, step: &StepId) -> Result<()> {
        let (_, obj) = self.step_obj(goal, step)?;
        self.mark_deleted(&obj, true, Message::new("deleted a step"))
    }

    /// Undo a step's delete.
    pub fn restore_step(&mut self, goal: &GoalId, step: &StepId) -> Result<()> {
        let goal_obj = self.item("goals", "goal", goal.as_str())?;
        let obj = self.step_in(&goal_obj, step)?;
        self.mark_deleted(&obj, false, Message::new("restored a step"))
    }

    fn set_step_field(
        &mut self,
        goal: &GoalId,
        step: &StepId,
        key: &str,
        value: automerge::ScalarValue,
        text: String,
    ) -> Result<()> {
        let (goal_obj, obj) = self.step_obj(goal, step)?;
        let me = self.device;
        self.edit(Message::new(text), |tx| {
            tx.put(&obj, key, value)?;
            touch(tx, &obj, me)?;
            touch(tx, &goal_obj, me)
        })
    }

    /// A step of a goal that is not deleted, with its goal.
    fn step_obj(&self, goal: &GoalId, step: &StepId) -> Result<(ObjId, ObjId)> {
        let goal_obj = self.item("goals", "goal", goal.as_str())?;
        let obj = self.step_in(&goal_obj, step)?;
        if matches!(
            deletion(&self.doc, &obj, &read_map(&self.doc, &obj)),
            Deletion::Deleted
        ) {
            return Err(step_not_found(step));
        }
        Ok((goal_obj, obj))
    }

    /// A step of `goal_obj`, deleted or not.
    fn step_in(&self, goal_obj: &ObjId, step: &StepId) -> Result<ObjId> {
        child_map(&self.doc, goal_obj, "steps")
            .and_then(|steps| child_map(&self.doc, &steps, step.as_str()))
            .ok_or_else(|| step_not_found(step))
    }

    /// The instrument a goal's area and target are checked against: its
    /// reading's, or, once that reading is deleted, any known one with the area.
    fn goal_instrument(&self, reading: &ReadingId, area: &str) -> Result<crate::Instrument> {
        match self.reading_ctx(reading) {
            Ok(ctx) => {
                ctx.instrument.area(area)?;
                Ok(ctx.instrument)
            }
            Err(JournalError::NotFound { .. }) => self
                .known_instruments()
                .into_iter()
                .find(|i| i.area(area).is_ok())
                .ok_or_else(|| JournalError::UnknownArea(area.to_owned())),
            Err(e) => Err(e),
        }
    }

    /// Keep or delete a step whose delete raced an edit.
    pub(crate) fn settle_step(&mut self, goal: &GoalId, step: &StepId, keep: bool) -> Result<()> {
        let goal_obj = self.any_item("goals", "goal", goal.as_str())?;
        let obj = self.step_in(&goal_obj, step)?;
        let word = if keep { "kept" } else { "deleted" };
        self.mark_deleted(&obj, !keep, Message::new(format!("{word} the step")))
    }

    /// An item whether deleted or not.
    pub(crate) fn any_item(
        &self,
        top: &'static str,
        kind: &'static str,
        id: &str,
    ) -> Result<ObjId> {
        let map = child_map(&self.doc, &ROOT, top)
            .ok_or_else(|| JournalError::NotAJournal(format!("`{top}` missing")))?;
        child_map(&self.doc, &map, id).ok_or_else(|| JournalError::NotFound {
            kind,
            id: id.to_owned(),
        })
    }
}

fn step_not_found(step: &StepId) -> JournalError {
    JournalError::NotFound {
        kind: "step",
        id: step.to_string(),
    }
}
