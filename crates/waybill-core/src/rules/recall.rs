//! Recalls and market withdrawals: recorded by the lots' producer, a
//! member with the regulator or quality role, or with an admin quorum's
//! signatures; lifted by their author (or an admin quorum).

use super::ctx::{name_of, Ctx};
use super::error::RuleError;
use crate::entry::{Recall, RecallLift};
use crate::genesis::Role;
use crate::state::{same_member, Changes, RecallMark, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Recall`] body: each lot is marked.
    pub(super) fn recall(&self, r: &Recall, changes: &mut Changes) -> Result<(), RuleError> {
        self.cosigners_are_admins()?;
        let authority = self.author_spec.has(Role::Regulator)
            || self.author_spec.has(Role::Quality)
            || self.admin_quorum();
        for id in &r.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            if !authority && !same_member(self.view, &lot.producer, self.author) {
                let (signed, need, _) = self.admin_signatures();
                return Err(RuleError::Recall(format!(
                    "`{}` may not recall lot {id}: a {} is recorded by the lot's producer `{}`, a member with the regulator or quality role, or with an admin quorum ({need} admin signatures; it has {signed})",
                    self.author_spec.name,
                    r.class.as_str(),
                    name_of(self.view, &lot.producer)
                )));
            }
            if let Some(by) = lot.voided_by {
                return Err(RuleError::LotVoided {
                    lot: id.clone(),
                    correction: by.short(),
                });
            }
            lot.recalls.push(RecallMark {
                recall: self.id,
                author: *self.author,
                class: r.class,
                lifted: false,
            });
            changes.lots.insert(id.clone(), lot);
        }
        Ok(())
    }

    /// Applies a [`RecallLift`] body: the recall's mark on each lot is
    /// lifted.
    pub(super) fn recall_lift(
        &self,
        l: &RecallLift,
        changes: &mut Changes,
    ) -> Result<(), RuleError> {
        self.cosigners_are_admins()?;
        let quorum = self.admin_quorum();
        for id in &l.lots {
            let Some(mut lot) = self.lot(changes, id)? else {
                continue;
            };
            let Some(mark) = lot
                .recalls
                .iter_mut()
                .find(|m| m.recall == l.recall && !m.lifted)
            else {
                return Err(RuleError::Recall(format!(
                    "lot {id} carries no open recall {}; name the recall entry and the lots it named",
                    l.recall.short()
                )));
            };
            if !quorum && !same_member(self.view, &mark.author, self.author) {
                return Err(RuleError::Recall(format!(
                    "`{}` may not lift recall {}: only its author `{}` (or an admin quorum) can",
                    self.author_spec.name,
                    l.recall.short(),
                    name_of(self.view, &mark.author)
                )));
            }
            mark.lifted = true;
            changes.lots.insert(id.clone(), lot);
        }
        Ok(())
    }

    /// Refuses a co-signer that is not an active admin (on entries whose
    /// co-signatures are an admin quorum's).
    pub(super) fn cosigners_are_admins(&self) -> Result<(), RuleError> {
        let admins = self.view.active_admins();
        match self
            .entry
            .cosignatures
            .iter()
            .find(|c| !admins.contains(&c.signer))
        {
            Some(c) => Err(RuleError::CosignerNotAdmin(c.signer)),
            None => Ok(()),
        }
    }
}
