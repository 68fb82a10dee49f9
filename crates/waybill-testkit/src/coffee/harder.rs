//! The coffee journey as it really goes (`waybill demo` tells it): the
//! farm's plots on the production, a split shipment (540 of the 600 kg;
//! the rest stays at the cooperative), a transshipment in Rotterdam from
//! the ocean carrier to a feeder line, a cold-chain excursion on the
//! feeder leg, a receipt 10 kg short (a bag torn in transshipment), the
//! roast, a dispatch to the wrong distribution centre corrected before
//! anyone took it over, the right dispatch and receipt, and at the end
//! the cooperative's recall of the green lot, which the shopper's lookup
//! of the roasted lot shows first.

use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::entry::{
    Body, Corrected, Correction, DispatchV2, GeoPoint, Handover, Kdes, LossCause, PlotFacts,
    ProduceV2, Quantity, Readings, Recall, RecallClass, ReceiveV2, ReceivedLot, ReferenceDocument,
    ReferenceDocumentType, ShippedLot, Shortfall,
};
use waybill_core::geo::{Geometry, Plot};
use waybill_core::gs1::ShipmentId;
use waybill_core::sensor::{Measure, Range, Series};
use waybill_core::transport::{Transport, Vessel};

use super::{at, doc, step, Ids, Step, Story, Teller, DAY};
use crate::error::{parse, KitError};
use crate::ids::try_with_check_digit;

/// The misdirected road shipment's SSCC without its check digit.
pub const WRONG_ROAD_SSCC: &str = "04061234000000003";

/// The harder story's steps, by position in its [`Story::steps`].
pub mod harder_step {
    /// The cooperative produces 600 kg of green coffee on two plots.
    pub const PRODUCE_GREEN: usize = 0;
    /// It dispatches 540 kg by sea; 60 kg stay.
    pub const DISPATCH_SEA: usize = 1;
    /// The ocean carrier takes the container over at Buenaventura.
    pub const CARRIER_RECEIVES: usize = 2;
    /// It hands the container over to the feeder line at Rotterdam.
    pub const TRANSSHIPMENT: usize = 3;
    /// The feeder line's logger readings, with an excursion.
    pub const READINGS: usize = 4;
    /// The roaster receives 530 kg; 10 kg are short (damage).
    pub const ROASTER_RECEIVES: usize = 5;
    /// The roaster pays the cooperative, its terms sealed.
    pub const PAYMENT: usize = 6;
    /// The cooperative confirms the payment.
    pub const PAYMENT_CONFIRMED: usize = 7;
    /// It roasts the 530 kg into 440 kg.
    pub const ROAST: usize = 8;
    /// It dispatches the roasted lot to the wrong distribution centre.
    pub const WRONG_DISPATCH: usize = 9;
    /// It corrects that dispatch before anyone took it over.
    pub const CORRECTION: usize = 10;
    /// It dispatches the roasted lot to the right one.
    pub const DISPATCH_ROAD: usize = 11;
    /// The retailer receives it.
    pub const RETAILER_RECEIVES: usize = 12;
    /// The cooperative recalls the green lot.
    pub const RECALL: usize = 13;
    /// How many steps there are.
    pub const COUNT: usize = 14;
}

/// The ids the harder story adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarderIds {
    /// The misdirected road shipment.
    pub wrong_road: ShipmentId,
}

/// The error for a whole-lot step the harder story builds on but cannot
/// use.
fn not_told(step: usize, why: &str) -> KitError {
    KitError::Invalid {
        what: "coffee story step",
        text: step.to_string(),
        why: format!("the whole-lot story's step {step} {why}"),
    }
}

fn kg(s: &str) -> Result<Quantity, KitError> {
    Ok(Quantity {
        value: parse::<Decimal3>("quantity", s)?,
        unit: UnitCode::Kgm,
    })
}

fn point(lat_micro: i32, lon_micro: i32) -> GeoPoint {
    GeoPoint {
        lat_micro,
        lon_micro,
    }
}

impl Story {
    /// The journey as it really goes (see the module documentation); the
    /// whole-lot steps of [`Story::tell`] are its skeleton.
    pub fn tell_harder(t: &Teller<'_>) -> Result<(Story, HarderIds), KitError> {
        let mut base = Story::tell(t)?;
        let t0 = t.t0_ms;
        let pk = |stem: &str| -> Result<_, KitError> {
            super::member(stem)?;
            (t.key_of)(stem).ok_or_else(|| KitError::NoMember(stem.to_string()))
        };
        let Ids {
            green,
            roasted,
            sea,
            road,
            ..
        } = base.ids.clone();
        let wrong_road: ShipmentId = parse(
            "shipment",
            &format!("(00){}", try_with_check_digit(WRONG_ROAD_SSCC)?),
        )?;
        let take = |i: usize| {
            base.steps
                .get(i)
                .cloned()
                .ok_or_else(|| not_told(i, "is missing"))
        };
        let produce = match take(step::PRODUCE_GREEN)?.body {
            Body::Produce(p) => p,
            _ => return Err(not_told(step::PRODUCE_GREEN, "is not a production")),
        };
        let mut roast = match take(step::ROAST)?.body {
            Body::Produce(p) => p,
            _ => return Err(not_told(step::ROAST, "is not a production")),
        };
        roast.quantity = kg("440")?;
        for i in &mut roast.inputs {
            i.quantity = parse("quantity", "530")?;
        }
        let ocean = Transport {
            bill_of_lading: Some("AOL-BUN-RTM-0912".into()),
            containers: vec![parse("container", "CSQU3054383")?],
            seals: vec!["AOL-SEAL-778812".into()],
            vessel: Some(Vessel {
                imo: parse("IMO number", "9074729")?,
                name: Some("Atlantic Condor".into()),
                voyage: Some("0912E".into()),
            }),
            departed_at_ms: Some(t0 - 25 * DAY + 6 * 3_600_000),
            arrived_at_ms: None,
        };
        let feeder = Transport {
            bill_of_lading: Some("NFL-RTM-HAM-3321".into()),
            containers: vec![parse("container", "CSQU3054383")?],
            seals: vec!["AOL-SEAL-778812".into()],
            vessel: Some(Vessel {
                imo: parse("IMO number", "9176187")?,
                name: Some("Elbe Feeder".into()),
                voyage: Some("F-3321".into()),
            }),
            departed_at_ms: Some(t0 - 10 * DAY),
            arrived_at_ms: Some(t0 - 9 * DAY),
        };
        let hour = 3_600_000;
        let logger: Vec<(i64, i32)> = [
            18_500, 19_000, 21_000, 27_500, 31_500, 26_000, 22_000, 19_500,
        ]
        .iter()
        .enumerate()
        .map(|(i, v)| (t0 - 10 * DAY + i64::try_from(i).unwrap_or(0) * 3 * hour, *v))
        .collect();
        let series = Series::from_points(
            "TL-44 logger 00417",
            Measure::Temperature,
            "CEL",
            Some(Range {
                min_milli: 5_000,
                max_milli: 25_000,
            }),
            &logger,
        )
        .map_err(|e| KitError::Invalid {
            what: "sensor series",
            text: "logger".into(),
            why: e.to_string(),
        })?;
        let kdes = |kind, number: &str| Kdes {
            reference_document: Some(ReferenceDocument {
                kind,
                number: number.into(),
            }),
            tlc_source: None,
        };
        let road_dispatch = |shipment: &ShipmentId, to: &str| -> Result<Body, KitError> {
            Ok(Body::DispatchV2(DispatchV2 {
                shipment: shipment.clone(),
                lots: vec![ShippedLot {
                    lot: roasted.clone(),
                    quantity: None,
                }],
                consignee: pk("retailer")?,
                carrier: None,
                from: at("Hamburg roastery", "DE")?,
                to: at(to, "DE")?,
                documents: vec![],
                transport: Transport::default(),
                kdes: kdes(ReferenceDocumentType::AdvanceShippingNotice, "ASN-HH-4471"),
            }))
        };
        let steps = vec![
            Step::new(
                "cooperative",
                t0 - 30 * DAY,
                Body::ProduceV2(ProduceV2 {
                    plots: Some(PlotFacts {
                        plots: vec![
                            Plot {
                                id: Some("La Esperanza lote 3".into()),
                                geometry: Geometry::Polygon(vec![
                                    point(1_853_000, -76_051_000),
                                    point(1_853_000, -76_048_000),
                                    point(1_850_500, -76_048_000),
                                    point(1_850_500, -76_051_000),
                                    point(1_853_000, -76_051_000),
                                ]),
                                area_ha: parse("area", "9.2")?,
                                country: Some(parse("country", "CO")?),
                            },
                            Plot {
                                id: Some("La Esperanza lote 5".into()),
                                geometry: Geometry::Point(point(1_849_212, -76_046_871)),
                                area_ha: parse("area", "2.5")?,
                                country: Some(parse("country", "CO")?),
                            },
                        ],
                        harvest_start_ms: t0 - 60 * DAY,
                        harvest_end_ms: t0 - 35 * DAY,
                        deforestation_free: true,
                        due_diligence_ref: Some("26CO0042KX7QZ1".into()),
                    }),
                    kdes: Kdes {
                        reference_document: None,
                        tlc_source: Some(produce.origin.clone()),
                    },
                    produce,
                }),
                format!(
                    "The cooperative records 600 kg of green coffee as lot {green}, grown on two plots (a 9.2 ha polygon and a 2.5 ha point), declared deforestation-free"
                ),
            ),
            Step::new(
                "cooperative",
                t0 - 25 * DAY,
                Body::DispatchV2(DispatchV2 {
                    shipment: sea.clone(),
                    lots: vec![ShippedLot {
                        lot: green.clone(),
                        quantity: Some(kg("540")?),
                    }],
                    consignee: pk("roaster")?,
                    carrier: Some(pk("carrier")?),
                    from: at("Port of Buenaventura", "CO")?,
                    to: at("Port of Hamburg", "DE")?,
                    documents: vec![doc("bill of lading AOL-BUN-RTM-0912", "bl", "application/pdf")],
                    transport: ocean.clone(),
                    kdes: kdes(ReferenceDocumentType::BillOfLading, "AOL-BUN-RTM-0912"),
                }),
                format!("It ships 540 kg of it by sea to the roaster (shipment {sea}, container CSQU3054383); 60 kg stay at the cooperative"),
            ),
            Step::new(
                "carrier",
                t0 - 25 * DAY + hour,
                take(step::CARRIER_RECEIVES)?.body,
                "The ocean carrier takes the container over at Buenaventura",
            ),
            Step {
                cosigners: vec!["feeder"],
                ..Step::new(
                    "carrier",
                    t0 - 11 * DAY,
                    Body::Handover(Handover {
                        shipment: sea.clone(),
                        to: pk("feeder")?,
                        at: at("Port of Rotterdam", "NL")?,
                        transport: feeder,
                        documents: vec![],
                    }),
                    "At Rotterdam it hands the container to the feeder line, which co-signs the handover",
                )
            },
            Step::new(
                "feeder",
                t0 - 9 * DAY,
                Body::Readings(Readings {
                    shipment: sea.clone(),
                    series: vec![series],
                }),
                "The feeder line records the container's temperature log: 31.5 °C at its peak, above the 25 °C allowed",
            ),
            Step::new(
                "roaster",
                t0 - 8 * DAY,
                Body::ReceiveV2(ReceiveV2 {
                    shipment: sea.clone(),
                    at: at("Hamburg roastery", "DE")?,
                    documents: vec![],
                    lots: vec![ReceivedLot {
                        lot: green.clone(),
                        received: kg("530")?,
                        shortfall: Some(Shortfall {
                            quantity: kg("10")?,
                            cause: LossCause::Damage,
                            note: Some("one bag torn in transshipment at Rotterdam".into()),
                        }),
                    }],
                    transport: Transport::default(),
                    kdes: Kdes::default(),
                }),
                "The roaster receives 530 kg in Hamburg; 10 kg are short (a bag torn at Rotterdam)",
            ),
            take(step::PAYMENT)?,
            take(step::PAYMENT_CONFIRMED)?,
            Step::new(
                "roaster",
                t0 - 5 * DAY,
                Body::Produce(roast),
                format!("It roasts the 530 kg into 440 kg of lot {roasted}"),
            ),
            Step::new(
                "roaster",
                t0 - 4 * DAY,
                road_dispatch(&wrong_road, "Frischmarkt DC Kassel")?,
                format!("It dispatches the roasted lot to the wrong distribution centre (shipment {wrong_road})"),
            ),
            Step {
                corrects: Some(harder_step::WRONG_DISPATCH),
                ..Step::new(
                    "roaster",
                    t0 - 4 * DAY + hour,
                    Body::Correction(Correction {
                        target: Default::default(),
                        corrected: Corrected::Shipment(wrong_road.clone()),
                        reason: "sent to the Kassel DC by mistake; the order is for Hannover".into(),
                        corrective: vec![],
                    }),
                    "Before anyone took it over, it declares that dispatch erroneous",
                )
            },
            Step::new(
                "roaster",
                t0 - 3 * DAY,
                road_dispatch(&road, "Frischmarkt DC Hannover")?,
                format!("It dispatches the roasted lot to the right one (shipment {road})"),
            ),
            take(step::RETAILER_RECEIVES)?,
            Step::new(
                "cooperative",
                t0 - DAY,
                Body::Recall(Recall {
                    lots: vec![green.clone()],
                    class: RecallClass::Recall,
                    reason: "ochratoxin A above the EU limit in the retained sample".into(),
                    scope: "the whole green lot and everything roasted from it".into(),
                    documents: vec![doc("lab report LAB-2611-889", "lab", "application/pdf")],
                }),
                format!("The cooperative recalls the green lot {green}: its retained sample fails the ochratoxin A limit"),
            ),
        ];
        base.steps = steps;
        Ok((base, HarderIds { wrong_road }))
    }
}
