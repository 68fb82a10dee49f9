//! Planned stories: deep trails (three levels of processing, then many
//! custody hops) whose entries are woven through the random traffic.

use std::collections::VecDeque;

use rand_core::RngCore;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, Dispatch, Location, SignedEntry};
use waybill_core::gs1::{LotId, ShipmentId};

use super::error::{internal, Result};
use super::generator::Workload;
use crate::consortium::{Party, Roster};
use crate::error::parse;
use crate::ids::try_uetr_from_bits;
use crate::sealed;
use crate::signer::{receive_body, try_produce_body};

/// A planned story: who records what, in order. Its lots and shipments
/// are reserved, so the random traffic around it cannot disturb it.
pub struct Story {
    steps: VecDeque<(Party, Body)>,
    /// The lot whose trail the story builds.
    pub lot: LotId,
}

impl Story {
    /// Entries still to record.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether every entry is recorded.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl<R: Roster + ?Sized> Workload<'_, R> {
    /// Plans a deep story: eight raw lots, processed over three levels of
    /// inputs (8 → 4 → 2 → 1) by three processors, each level shipped to
    /// the next processor, then `hops` custody hops of the final lot
    /// between carriers and retailers, every fourth one paid for.
    pub fn plan_story(&mut self, hops: usize) -> Result<Story> {
        let c = self.c;
        let mut steps = VecDeque::new();
        let (producers, payers) = (c.producers(), c.payers());
        let processors: Vec<Party> = c.processors().iter().take(3).cloned().collect();
        if processors.len() < 3 || producers.is_empty() || payers.is_empty() {
            return Err(internal(
                "the story needs 3 processors, producers and a payer",
            ));
        }
        let mut level: Vec<(LotId, u64)> = Vec::new();
        for i in 0..8 {
            let milli = 10_000 + 1_000 * i as u64;
            let who = producers[i % producers.len()].clone();
            let lot = self.fresh_lot(&who.pk)?;
            steps.push_back((who, try_produce_body(&lot, milli, &[])?));
            level.push((lot, milli));
        }
        let mut holders: Vec<Party> = (0..8)
            .map(|i| producers[i % producers.len()].clone())
            .collect();
        for next in &processors {
            // Ship every lot of this level to the next processor.
            for (i, (lot, _)) in level.iter().enumerate() {
                // Each lot of a level is shipped by the member that made it.
                let from = holders[i].clone();
                let shipment = self.fresh_shipment(&[from.pk])?;
                self.reserved_shipments.insert(shipment.clone());
                steps.push_back((from, plain_dispatch(&shipment, vec![lot.clone()], next.pk)));
                steps.push_back((next.clone(), receive_body(&shipment)));
            }
            // Process pairs of them into the next level.
            let mut made = Vec::new();
            for pair in level.chunks(2) {
                let lot = self.fresh_lot(&next.pk)?;
                let milli: u64 = pair.iter().map(|(_, q)| q / 2).sum();
                steps.push_back((next.clone(), try_produce_body(&lot, milli, pair)?));
                made.push((lot, milli));
            }
            holders = vec![next.clone(); made.len()];
            level = made;
        }
        let (lot, _) = level
            .first()
            .cloned()
            .ok_or_else(|| internal("the story made no final lot"))?;
        let path: Vec<Party> = c
            .carriers()
            .iter()
            .zip(c.retailers())
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        if path.is_empty() && hops > 0 {
            return Err(internal("the story's hops need carriers and retailers"));
        }
        let mut holder = processors[2].clone();
        for hop in 0..hops {
            let to = path[hop % path.len()].clone();
            let to = if to.pk == holder.pk {
                path[(hop + 1) % path.len()].clone()
            } else {
                to
            };
            // The final lot was made by the last processor.
            let shipment = self.fresh_shipment(&[holder.pk, processors[2].pk])?;
            self.reserved_shipments.insert(shipment.clone());
            steps.push_back((
                holder.clone(),
                plain_dispatch(&shipment, vec![lot.clone()], to.pk),
            ));
            steps.push_back((to.clone(), receive_body(&shipment)));
            if hop % 4 == 3 {
                let payment = self.story_payment(&shipment, to.pk)?;
                steps.push_back((payers[0].clone(), payment));
            }
            holder = to;
        }
        for (_, body) in &steps {
            if let Body::Produce(p) = body {
                self.reserved_lots.insert(p.lot.clone());
            }
        }
        Ok(Story { steps, lot })
    }

    fn story_payment(&mut self, shipment: &ShipmentId, payee: PublicKey) -> Result<Body> {
        let bits = (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64());
        let payer = self
            .c
            .payers()
            .first()
            .ok_or_else(|| internal("the story needs a payer"))?
            .pk;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let terms = sealed::fob(125_000, parse("currency", "USD")?);
        let (p, _) = sealed::seal(
            try_uetr_from_bits(bits)?,
            &payer,
            &payee,
            vec![shipment.clone()],
            &terms,
            seed,
        )
        .map_err(|e| internal(e.to_string()))?;
        Ok(Body::SealedPayment(p))
    }

    /// Records the story's next step, if any.
    pub fn next_story_entry(&mut self, story: &mut Story) -> Result<Option<SignedEntry>> {
        let Some((who, body)) = story.steps.pop_front() else {
            return Ok(None);
        };
        let e = self.sign(&who, body);
        self.apply(&e)?;
        Ok(Some(e))
    }

    /// `n` entries of random traffic with the entries of `stories` spread
    /// evenly through them (taking turns), then whatever is left of them.
    pub fn take_with_stories(
        &mut self,
        n: usize,
        stories: &mut [Story],
    ) -> Result<Vec<SignedEntry>> {
        let total: usize = stories.iter().map(Story::len).sum();
        let every = (n / (total + 1)).max(1);
        let mut out = Vec::with_capacity(n + total);
        let mut turn = 0usize;
        let mut next_story = |w: &mut Self, stories: &mut [Story]| -> Result<Option<SignedEntry>> {
            for _ in 0..stories.len() {
                turn = (turn + 1) % stories.len();
                if let Some(e) = w.next_story_entry(&mut stories[turn])? {
                    return Ok(Some(e));
                }
            }
            Ok(None)
        };
        for i in 0..n {
            let e = if i % every == every / 2 {
                match next_story(self, stories)? {
                    Some(e) => e,
                    None => self.next_entry()?,
                }
            } else {
                self.next_entry()?
            };
            out.push(e);
        }
        while let Some(e) = next_story(self, stories)? {
            out.push(e);
        }
        Ok(out)
    }
}

/// A story's dispatch: no carrier, no places.
fn plain_dispatch(shipment: &ShipmentId, lots: Vec<LotId>, consignee: PublicKey) -> Body {
    Body::Dispatch(Dispatch {
        shipment: shipment.clone(),
        lots,
        consignee,
        carrier: None,
        from: Location::default(),
        to: Location::default(),
        documents: Vec::new(),
    })
}
