//! Recording a production: a new lot, made from nothing or by consuming
//! (part of) lots the author holds, within the declared yield, under
//! the author's own GS1 keys (see `keys`).

use super::ctx::Ctx;
use super::error::RuleError;
use super::keys::{Parties, PRODUCTION_PARTIES};
use super::quantity;
use crate::codes::Decimal3;
use crate::entry::{Produce, ProduceV2, Quantity};
use crate::genesis::find_yield_rule;
use crate::gs1::LotId;
use crate::state::{Changes, LotState, View};

impl<V: View> Ctx<'_, V> {
    /// Applies a [`Produce`] body.
    pub(super) fn produce(&self, p: &Produce, changes: &mut Changes) -> Result<(), RuleError> {
        if self.view.lot(&p.lot).is_some() {
            return Err(RuleError::LotExists(p.lot.clone()));
        }
        self.check_produced_keys(p)?;
        self.check_places(
            &[("origin", Some(&p.origin))],
            &Parties::default(),
            PRODUCTION_PARTIES,
        )?;
        let mut consumed = Vec::with_capacity(p.inputs.len());
        for input in &p.inputs {
            let Some(mut lot) = self.lot(changes, &input.lot)? else {
                continue;
            };
            let held = self.held_by_author(&input.lot, &lot)?;
            if held < input.quantity {
                return Err(RuleError::InsufficientQuantity {
                    lot: input.lot.clone(),
                    have: held,
                    want: input.quantity,
                });
            }
            lot.take_held(self.view, self.author, input.quantity);
            lot.consumed = lot
                .consumed
                .checked_add(input.quantity)
                .unwrap_or(Decimal3::MAX);
            consumed.push((
                Quantity {
                    value: input.quantity,
                    unit: lot.unit,
                },
                input.lot.clone(),
            ));
            changes.lots.insert(input.lot.clone(), lot);
        }
        self.check_yield(p, &consumed)?;
        let mut lot = LotState::new(*self.author, p.quantity.unit, p.quantity.value, self.id);
        lot.inputs = p
            .inputs
            .iter()
            .map(|i| (i.lot.clone(), i.quantity))
            .collect();
        changes.lots.insert(p.lot.clone(), lot);
        Ok(())
    }

    /// Applies a [`ProduceV2`] body: plots and regulatory facts are
    /// checked with the entry's shape; the production is a [`Produce`].
    pub(super) fn produce_v2(&self, p: &ProduceV2, changes: &mut Changes) -> Result<(), RuleError> {
        self.produce(&p.produce, changes)?;
        self.check_places(
            &[("tlc_source", p.kdes.tlc_source.as_ref())],
            &Parties::default(),
            PRODUCTION_PARTIES,
        )
    }

    /// Refuses a transformation whose yield (output over consumed inputs,
    /// in the output's unit) is outside the genesis rule for the author
    /// and the product, when there is one. (Inputs outside a trail's
    /// scope are not in `consumed`; a trail does not judge yields then.)
    fn check_yield(&self, p: &Produce, consumed: &[(Quantity, LotId)]) -> Result<(), RuleError> {
        if p.inputs.is_empty() || consumed.len() != p.inputs.len() {
            return Ok(());
        }
        let yields = self.view.yields();
        if yields.is_empty() {
            return Ok(());
        }
        let gtin = p.product.gtin.map(|g| g.to_string());
        let names: Vec<&str> = gtin
            .iter()
            .map(String::as_str)
            .chain(p.product.id.as_deref())
            .collect();
        let rule = find_yield_rule(yields, &self.author_spec.name, &names);
        let Some(rule) = rule else {
            return Ok(());
        };
        let mut total: u128 = 0;
        for (q, lot) in consumed {
            if !quantity::comparable(q.unit, p.quantity.unit) {
                return Err(RuleError::Yield(format!(
                    "the yield of {} is bounded ({} to {}), but input {lot} is counted in {} and the output in {}, which do not convert",
                    p.lot,
                    rule.min,
                    rule.max,
                    q.unit.code(),
                    p.quantity.unit.code()
                )));
            }
            // In the base unit (thousandths of a gram or millilitre), so
            // no conversion rounds.
            total += quantity::base_milli(*q);
        }
        if total == 0 {
            return Ok(());
        }
        let out = quantity::base_milli(p.quantity);
        let total_in_output_unit = total
            / quantity::base_milli(Quantity {
                value: Decimal3::from_milli(1),
                unit: p.quantity.unit,
            });
        let (min, max) = (u128::from(rule.min.milli()), u128::from(rule.max.milli()));
        // out / total within [min, max] / 1000, in integers.
        if out * 1000 < min * total || out * 1000 > max * total {
            let per_mille = out * 1000 / total;
            return Err(RuleError::Yield(format!(
                "lot {} would yield {}.{:03} of its inputs ({} {} from {} {}), outside the declared range {} to {} for {}; check the quantities",
                p.lot,
                per_mille / 1000,
                per_mille % 1000,
                p.quantity.value,
                p.quantity.unit.code(),
                Decimal3::from_milli(u64::try_from(total_in_output_unit).unwrap_or(u64::MAX)),
                p.quantity.unit.code(),
                rule.min,
                rule.max,
                match (&rule.member, &rule.product) {
                    (Some(m), Some(x)) => format!("`{m}` making {x}"),
                    (None, Some(x)) => x.clone(),
                    (Some(m), None) => format!("`{m}`"),
                    (None, None) => "this chain".into(),
                }
            )));
        }
        Ok(())
    }
}
