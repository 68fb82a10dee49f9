//! The newer kinds' bodies in the consortium mix: productions with
//! plots, dispatches of parts of lots and with transport facts, receipts
//! with a shortfall or the arrival, and carrier hand-overs.

use waybill_core::codes::Decimal3;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{
    Body, DispatchV2, Handover, LossCause, Produce, ProduceV2, Quantity, ReceiveV2, ReceivedLot,
    ReferenceDocumentType, ShippedLot, Shortfall, SignedEntry,
};
use waybill_core::gs1::{LotId, ShipmentId};

use super::error::{internal, Result};
use super::facts;
use super::generator::Workload;
use super::mix::{PARTIAL_PERCENT, RECEIVE_V2_PERCENT, SHORTFALL_PERCENT, WHOLE_V2_PERCENT};
use super::pick::party_of;
use crate::consortium::{Party, Roster, T0};
use crate::signer::dispatch_body;

/// The [`Produce`] in a body made by [`try_produce_body`].
///
/// [`try_produce_body`]: crate::signer::try_produce_body
pub(super) fn produce_of(body: Body) -> Result<Produce> {
    match body {
        Body::Produce(p) => Ok(p),
        other => Err(internal(format!(
            "a {} body is not a production",
            other.kind()
        ))),
    }
}

impl<R: Roster + ?Sized> Workload<'_, R> {
    /// A raw production's body with its plot and key data elements.
    pub(super) fn with_plots(&mut self, body: Body) -> Result<Body> {
        let n = self.next_serial();
        let area_milli_ha = 500 + self.below(12_000);
        let dds = self.chance(60);
        let plots = facts::plot_facts(n, area_milli_ha, dds)?;
        let tlc_source = if self.chance(50) {
            Some(facts::place(2, true)?)
        } else {
            None
        };
        Ok(Body::ProduceV2(ProduceV2 {
            produce: produce_of(body)?,
            plots: Some(plots),
            kdes: waybill_core::entry::Kdes {
                reference_document: None,
                tlc_source,
            },
        }))
    }

    /// A dispatch of `lots` by `who`: part of some lots, whole lots in a
    /// `DispatchV2`, or the first `Dispatch` (see [`Mix::Consortium`]).
    ///
    /// [`Mix::Consortium`]: super::Mix::Consortium
    pub(super) fn consortium_dispatch(
        &mut self,
        who: &Party,
        id: &ShipmentId,
        lots: &[LotId],
        consignee: &Party,
        carrier: Option<PublicKey>,
    ) -> Result<Body> {
        let style = self.below(100);
        if style >= PARTIAL_PERCENT + WHOLE_V2_PERCENT {
            return Ok(dispatch_body(id, lots, &consignee.pk, carrier.as_ref()));
        }
        let mut parts = Vec::with_capacity(lots.len());
        for (i, lot) in lots.iter().enumerate() {
            let mut quantity = None;
            if style < PARTIAL_PERCENT && (i == 0 || self.chance(50)) {
                let l = self
                    .state
                    .lots
                    .get(lot)
                    .ok_or_else(|| internal(format!("held lot {lot} unknown")))?;
                let held = l.held_by(&self.state, &who.pk).milli();
                if held >= 2 {
                    let unit = l.unit;
                    quantity = Some(Quantity {
                        value: Decimal3::from_milli(1 + self.below(held - 1)),
                        unit,
                    });
                }
            }
            parts.push(ShippedLot {
                lot: lot.clone(),
                quantity,
            });
        }
        self.dispatch_v2(id, parts, consignee, carrier)
    }

    /// A `DispatchV2` body: places, and transport facts when a carrier
    /// carries it (a sea leg more often than not).
    pub(super) fn dispatch_v2(
        &mut self,
        id: &ShipmentId,
        lots: Vec<ShippedLot>,
        consignee: &Party,
        carrier: Option<PublicKey>,
    ) -> Result<Body> {
        let n = self.next_serial();
        let gln = self.chance(50);
        let from = facts::place(n % 3, gln)?;
        let to = facts::place(3 + n % 3, gln)?;
        let departed = T0 - 10 * facts::DAY_MS + (n % 240) as i64 * facts::HOUR_MS;
        let (transport, kdes) = match carrier {
            Some(_) => {
                let containers = 1 + self.below(2);
                let sea = self.chance(60);
                (
                    facts::departing(n, containers, sea, departed)?,
                    facts::kdes(ReferenceDocumentType::BillOfLading, n, None),
                )
            }
            None => (
                waybill_core::transport::Transport {
                    departed_at_ms: Some(departed),
                    ..Default::default()
                },
                facts::kdes(ReferenceDocumentType::AdvanceShippingNotice, n, None),
            ),
        };
        Ok(Body::DispatchV2(DispatchV2 {
            shipment: id.clone(),
            lots,
            consignee: consignee.pk,
            carrier,
            from,
            to,
            documents: Vec::new(),
            transport,
            kdes,
        }))
    }

    /// A consignee's `ReceiveV2` of shipment `id` (with a shortfall, or
    /// whole with the arrival), or `None` for the first `Receive`.
    pub(super) fn consortium_receipt(&mut self, id: &ShipmentId) -> Result<Option<Body>> {
        let style = self.below(100);
        if style >= SHORTFALL_PERCENT + RECEIVE_V2_PERCENT {
            return Ok(None);
        }
        let n = self.next_serial();
        let mut lots = Vec::new();
        if style < SHORTFALL_PERCENT {
            let in_it = self
                .state
                .shipments
                .get(id)
                .ok_or_else(|| internal(format!("shipment {id} unknown")))?
                .lots
                .clone();
            // A lot of which at least 0.002 is in the shipment, from a
            // random one on.
            let start = self.below(in_it.len() as u64) as usize;
            let part = (0..in_it.len())
                .filter_map(|k| in_it.get((start + k) % in_it.len()))
                .find_map(|l| {
                    let x = self.state.lots.get(l)?;
                    let h = x.in_shipment(id)?;
                    (h.quantity.milli() >= 2).then(|| (l.clone(), h.quantity.milli(), x.unit))
                });
            if let Some((lot, shipped, unit)) = part {
                let short = 1 + self.below((shipped / 20).max(1));
                let (cause, note) = match self.below(20) {
                    0..=9 => (LossCause::Shortage, None),
                    10..=15 => (LossCause::Damage, Some("bags torn in the container")),
                    16..=18 => (LossCause::Spoilage, Some("wet bags: condensation")),
                    _ => (LossCause::Theft, None),
                };
                lots.push(ReceivedLot {
                    lot,
                    received: Quantity {
                        value: Decimal3::from_milli(shipped - short),
                        unit,
                    },
                    shortfall: Some(Shortfall {
                        quantity: Quantity {
                            value: Decimal3::from_milli(short),
                            unit,
                        },
                        cause,
                        note: note.map(str::to_owned),
                    }),
                });
            }
        }
        Ok(Some(Body::ReceiveV2(ReceiveV2 {
            shipment: id.clone(),
            at: facts::place(3 + n % 3, false)?,
            documents: Vec::new(),
            lots,
            transport: facts::arriving(n, T0 - facts::DAY_MS + (n % 24) as i64 * facts::HOUR_MS),
            kdes: Default::default(),
        })))
    }

    /// The carrier `current` hands shipment `id` over to another carrier,
    /// who co-signs.
    pub(super) fn handover(&mut self, id: &ShipmentId, current: &PublicKey) -> Result<SignedEntry> {
        let c = self.c;
        let carriers = c.carriers();
        let others: Vec<&Party> = carriers.iter().filter(|p| &p.pk != current).collect();
        if others.is_empty() {
            return Err(internal("a hand-over needs a second carrier"));
        }
        let next = others[self.below(others.len() as u64) as usize];
        let who = party_of(c, current)?;
        let n = self.next_serial();
        let departed = T0 - 5 * facts::DAY_MS + (n % 48) as i64 * facts::HOUR_MS;
        let body = Body::Handover(Handover {
            shipment: id.clone(),
            to: next.pk,
            at: facts::place(n % 2, true)?,
            transport: facts::departing(n, 1, true, departed)?,
            documents: Vec::new(),
        });
        let mut e = self.sign(who, body);
        e.cosign(&next.key);
        self.handed_over.insert(id.clone());
        Ok(e)
    }
}
