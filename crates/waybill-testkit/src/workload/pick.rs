//! Random choices (numbers, members, held lots) and fresh numbers and
//! ids for the generator.

use rand_core::RngCore;
use waybill_core::crypto::PublicKey;
use waybill_core::gs1::{LotId, ShipmentId};

use super::bag::Bag;
use super::error::{internal, Result};
use super::generator::Workload;
use crate::consortium::{Party, Roster};
use crate::error::{parse, KitError};
use crate::ids::{try_gtin, try_sscc_shipment};

/// The members that may hold goods: producers, processors, carriers and
/// retailers, in that order.
pub(super) fn handlers<R: Roster + ?Sized>(c: &R) -> impl Iterator<Item = &Party> {
    c.producers()
        .iter()
        .chain(c.processors())
        .chain(c.carriers())
        .chain(c.retailers())
}

/// The member of `c` with key `pk`.
pub(super) fn party_of<'r, R: Roster + ?Sized>(c: &'r R, pk: &PublicKey) -> Result<&'r Party> {
    c.member(pk)
        .map(|(p, _)| p)
        .ok_or_else(|| internal(format!("{} is not a member", pk.short())))
}

impl<R: Roster + ?Sized> Workload<'_, R> {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n.max(1)
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(super) fn pick<'a>(&mut self, items: &'a [Party]) -> Result<&'a Party> {
        let i = self.below(items.len() as u64) as usize;
        items
            .get(i)
            .ok_or_else(|| internal("pick from an empty group"))
    }

    /// A random lot held by `who`.
    pub(super) fn pick_held(&mut self, who: &PublicKey) -> Result<LotId> {
        let n = self.held.get(who).map_or(0, Bag::len);
        let i = self.below(n as u64) as usize;
        self.held
            .get(who)
            .and_then(|b| b.get(i))
            .cloned()
            .ok_or_else(|| internal("pick from an empty set"))
    }

    pub(super) fn fresh_lot(&mut self) -> Result<LotId> {
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(3) {
                LotId::batch(try_gtin(n)?, &format!("B{n}")).map_err(|e| KitError::Invalid {
                    what: "batch lot id",
                    text: format!("B{n}"),
                    why: e.to_string(),
                })?
            } else {
                parse("lot", &format!("{}L{n}", self.prefix))?
            };
            if !self.state.lots.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    pub(super) fn fresh_shipment(&mut self) -> Result<ShipmentId> {
        loop {
            self.counter += 1;
            let n = self.counter;
            let id = if n.is_multiple_of(5) {
                try_sscc_shipment(self.rng.next_u64())?
            } else {
                parse("shipment", &format!("{}S{n}", self.prefix))?
            };
            if !self.state.shipments.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    pub(super) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }
}
