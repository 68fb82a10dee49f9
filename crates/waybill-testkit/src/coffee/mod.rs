//! The coffee story: one lot of Colombian green coffee, produced in Huila,
//! shipped by sea from Buenaventura to a roaster in Hamburg, paid for,
//! roasted, and shipped to a German retailer. [`Story::tell`] tells it in
//! nine whole-lot steps; [`Story::tell_harder`] (in `harder.rs`) tells
//! the same journey as it really goes: plots, a split shipment, a
//! transshipment, a cold-chain excursion, a shortfall, a correction and a
//! recall.
//!
//! Its members (file stems, names, roles, countries, GS1 prefixes), its
//! ids and its nine steps live here once; `waybill demo` records them on
//! four real nodes and the tests tell the same story (the cluster test on
//! real nodes, the CLI tests through `waybill record`). Nothing here
//! panics: a bad key or id is a [`KitError`].

use waybill_core::codes::{Decimal3, Uetr, UnitCode};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::entry::{
    Body, Dispatch, DocRef, GeoPoint, Input, Location, PaymentMethod, Produce, Product, Quantity,
    Receive, Settlement,
};
use waybill_core::genesis::{MemberSpec, Role};
use waybill_core::gs1::{Gtin, LotId, ShipmentId};
use waybill_core::terms::{Openings, Terms};

use crate::error::{parse, KitError};
use crate::ids::try_with_check_digit;
use crate::sealed;

mod harder;

pub use harder::{harder_step, HarderIds, WRONG_ROAD_SSCC};

/// The chain's name.
pub const CHAIN_NAME: &str = "andes-to-europe-coffee";

/// One member of the coffee consortium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// File stem of its key (`cooperative.pem`), and its name in the story.
    pub stem: &'static str,
    /// Its name in genesis (no commas: `--member` specs split on them).
    pub name: &'static str,
    /// Its roles.
    pub roles: &'static [Role],
    /// Its country (ISO 3166 alpha-2).
    pub country: &'static str,
    /// Its GS1 company prefix, if any.
    pub prefix: Option<&'static str>,
}

impl Member {
    /// Its genesis entry with key `pk`.
    pub fn spec(&self, pk: PublicKey) -> Result<MemberSpec, KitError> {
        Ok(MemberSpec {
            name: self.name.into(),
            public_key: pk,
            roles: self.roles.to_vec(),
            country: Some(parse("country", self.country)?),
            gs1_company_prefixes: match self.prefix {
                Some(p) => vec![parse("GS1 company prefix", p)?],
                None => Vec::new(),
            },
        })
    }

    /// Its roles as `waybill genesis init --member roles=...` takes them
    /// (`producer+payer`).
    pub fn roles_arg(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// The coffee consortium.
pub const MEMBERS: &[Member] = &[
    Member {
        stem: "cooperative",
        name: "Cooperativa Cafetera del Huila",
        roles: &[Role::Producer, Role::Payer],
        country: "CO",
        prefix: Some("7709998"),
    },
    Member {
        stem: "roaster",
        name: "Hanseatic Coffee Roasters GmbH",
        roles: &[Role::Processor, Role::Payer],
        country: "DE",
        prefix: Some("4061234"),
    },
    Member {
        stem: "carrier",
        name: "Atlantic Ocean Lines",
        roles: &[Role::Carrier],
        country: "DK",
        prefix: None,
    },
    Member {
        stem: "feeder",
        name: "Nordsee Feeder Lines",
        roles: &[Role::Carrier],
        country: "DE",
        prefix: None,
    },
    Member {
        stem: "retailer",
        name: "Frischmarkt Retail AG",
        roles: &[Role::Retailer, Role::Payer],
        country: "DE",
        prefix: None,
    },
    Member {
        stem: "bank",
        name: "Banco del Pacifico Trade Finance",
        roles: &[Role::Payer, Role::Admin],
        country: "CO",
        prefix: None,
    },
    Member {
        stem: "auditor",
        name: "Kessler Supply Chain Audit",
        roles: &[Role::Auditor, Role::Admin],
        country: "CH",
        prefix: None,
    },
];

/// The member with this file stem.
pub fn member(stem: &str) -> Result<&'static Member, KitError> {
    MEMBERS
        .iter()
        .find(|m| m.stem == stem)
        .ok_or_else(|| KitError::NoMember(stem.to_string()))
}

/// The green lot's GTIN-13 without its check digit (the cooperative's
/// prefix).
pub const GREEN_GTIN: &str = "770999800001";
/// The green lot's batch.
pub const GREEN_BATCH: &str = "HUILA-2611-07";
/// The roasted lot's GTIN-13 without its check digit (the roaster's
/// prefix).
pub const ROASTED_GTIN: &str = "406123400002";
/// The roasted lot's batch.
pub const ROASTED_BATCH: &str = "HH-R-4471";
/// The sea shipment's SSCC without its check digit.
pub const SEA_SSCC: &str = "07709998000000001";
/// The road shipment's SSCC without its check digit.
pub const ROAD_SSCC: &str = "04061234000000002";

/// The story's ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// The green coffee's GTIN.
    pub green_gtin: Gtin,
    /// The green lot (a GS1 batch).
    pub green: LotId,
    /// The roasted coffee's GTIN.
    pub roasted_gtin: Gtin,
    /// The roasted lot (a GS1 batch).
    pub roasted: LotId,
    /// The sea shipment (cooperative → roaster, by the carrier; an SSCC).
    pub sea: ShipmentId,
    /// The road shipment (roaster → retailer; an SSCC).
    pub road: ShipmentId,
}

impl Ids {
    /// The story's ids, the green lot with batch `green_batch`
    /// ([`GREEN_BATCH`] in the demo: another batch tells the same story
    /// about another lot).
    pub fn new(green_batch: &str) -> Result<Ids, KitError> {
        let green_gtin: Gtin = parse("GTIN", &try_with_check_digit(GREEN_GTIN)?)?;
        let roasted_gtin: Gtin = parse("GTIN", &try_with_check_digit(ROASTED_GTIN)?)?;
        let batch = |gtin: &Gtin, b: &str| {
            LotId::batch(*gtin, b).map_err(|e| KitError::Invalid {
                what: "batch",
                text: b.to_string(),
                why: e.to_string(),
            })
        };
        Ok(Ids {
            green: batch(&green_gtin, green_batch)?,
            roasted: batch(&roasted_gtin, ROASTED_BATCH)?,
            sea: parse(
                "shipment",
                &format!("(00){}", try_with_check_digit(SEA_SSCC)?),
            )?,
            road: parse(
                "shipment",
                &format!("(00){}", try_with_check_digit(ROAD_SSCC)?),
            )?,
            green_gtin,
            roasted_gtin,
        })
    }
}

/// One step of the story: who records what, when.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The author's file stem in [`MEMBERS`].
    pub who: &'static str,
    /// When it is recorded (ms since the Unix epoch).
    pub at_ms: i64,
    /// What is recorded.
    pub body: Body,
    /// The step in one sentence, as the demo prints it.
    pub what: String,
    /// Who co-signs it (file stems), e.g. the next carrier of a handover.
    pub cosigners: Vec<&'static str>,
    /// For a correction: the step whose entry it declares erroneous (its
    /// body's `target` is filled in with that entry's id when signed).
    pub corrects: Option<usize>,
}

impl Step {
    /// A step signed by its author alone.
    pub fn new(who: &'static str, at_ms: i64, body: Body, what: impl Into<String>) -> Step {
        Step {
            who,
            at_ms,
            body,
            what: what.into(),
            cosigners: Vec::new(),
            corrects: None,
        }
    }

    /// The body to sign, given the ids of the entries signed for the
    /// steps before it (a correction's target is filled in).
    pub fn body_after(&self, earlier: &[Hash32]) -> Result<Body, KitError> {
        let mut body = self.body.clone();
        if let (Some(i), Body::Correction(c)) = (self.corrects, &mut body) {
            c.target = *earlier.get(i).ok_or_else(|| KitError::Invalid {
                what: "story step",
                text: i.to_string(),
                why: "a correction must follow the step it corrects".into(),
            })?;
        }
        Ok(body)
    }
}

/// The steps, by position in [`Story::steps`].
pub mod step {
    /// The cooperative produces 600 kg of green coffee.
    pub const PRODUCE_GREEN: usize = 0;
    /// It dispatches the lot by sea to the roaster, with the carrier.
    pub const DISPATCH_SEA: usize = 1;
    /// The carrier takes the container over at Buenaventura.
    pub const CARRIER_RECEIVES: usize = 2;
    /// The roaster receives it in Hamburg.
    pub const ROASTER_RECEIVES: usize = 3;
    /// The roaster pays the cooperative, its terms sealed.
    pub const PAYMENT: usize = 4;
    /// The cooperative confirms the payment.
    pub const PAYMENT_CONFIRMED: usize = 5;
    /// The roaster roasts the green lot into the roasted lot.
    pub const ROAST: usize = 6;
    /// It ships the roasted lot to the retailer.
    pub const DISPATCH_ROAD: usize = 7;
    /// The retailer receives it.
    pub const RETAILER_RECEIVES: usize = 8;
    /// How many steps there are.
    pub const COUNT: usize = 9;
}

/// The told story: its ids and its steps in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// The ids it uses.
    pub ids: Ids,
    /// Its steps ([`step`] names them).
    pub steps: Vec<Step>,
    /// The openings of the payment's sealed terms, as the roaster and the
    /// cooperative keep them.
    pub terms: Openings,
}

/// What the story needs from its teller.
pub struct Teller<'a> {
    /// "Now": the retailer receives two days before, the cooperative
    /// produces thirty days before.
    pub t0_ms: i64,
    /// The green lot's batch ([`GREEN_BATCH`] in the demo).
    pub green_batch: &'a str,
    /// The roaster's payment's UETR.
    pub payment_id: Uetr,
    /// Where the payment terms' salts come from ([`crate::sealed::salts`]):
    /// random in the demo, fixed in tests.
    pub salt_seed: [u8; 32],
    /// The public key of the member with a file stem.
    pub key_of: &'a dyn Fn(&str) -> Option<PublicKey>,
}

const DAY: i64 = 86_400_000;

fn doc(label: &str, content: &str, media: &str) -> DocRef {
    DocRef {
        sha256: Hash32::digest(content.as_bytes()),
        media_type: media.into(),
        uri: None,
        label: Some(label.into()),
    }
}

fn at(name: &str, country: &str) -> Result<Location, KitError> {
    Ok(Location {
        country: Some(parse("country", country)?),
        name: Some(name.into()),
        ..Location::default()
    })
}

impl Story {
    /// The nine steps, from the farm to the shelf.
    pub fn tell(t: &Teller<'_>) -> Result<Story, KitError> {
        let ids = Ids::new(t.green_batch)?;
        let pk = |stem: &str| -> Result<PublicKey, KitError> {
            member(stem)?;
            (t.key_of)(stem).ok_or_else(|| KitError::NoMember(stem.to_string()))
        };
        let t0 = t.t0_ms;
        let kg = |s: &str| parse::<Decimal3>("quantity", s);
        let Ids {
            green_gtin,
            green,
            roasted_gtin,
            roasted,
            sea,
            road,
        } = ids.clone();
        // The payment's terms stay off the ledger: sealed here, opened
        // only to the parties and auditors (`terms`).
        let terms = Terms {
            amount_minor: 1_089_000,
            currency: parse("currency", "EUR")?,
            settlement: Some(Settlement {
                amount_minor: 1_200_000,
                currency: parse("currency", "USD")?,
                fx_rate: parse("FX rate", "1.101928")?,
            }),
            incoterm: parse("incoterm", "DDP")?,
            method: PaymentMethod::SwiftTransfer,
            hs_codes: vec![parse("HS code", "0901.11")?],
            customs_declaration: Some(Hash32::digest(b"salt||customs declaration")),
            invoice: Some("COOP-2026-0117".into()),
        };
        let (payment, terms) = sealed::seal(
            t.payment_id,
            &pk("roaster")?,
            &pk("cooperative")?,
            vec![sea.clone()],
            &terms,
            t.salt_seed,
        )?;
        let steps = vec![
            Step {
                who: "cooperative",
                at_ms: t0 - 30 * DAY,
                body: Body::Produce(Produce {
                    lot: green.clone(),
                    product: Product {
                        gtin: Some(green_gtin),
                        id: None,
                        description: "Green coffee, washed Arabica, Huila".into(),
                    },
                    quantity: Quantity {
                        value: kg("600")?,
                        unit: UnitCode::Kgm,
                    },
                    origin: Location {
                        gln: None,
                        country: Some(parse("country", "CO")?),
                        name: Some("Finca La Esperanza, Pitalito, Huila".into()),
                        geo: Some(GeoPoint {
                            lat_micro: 1_853_000,
                            lon_micro: -76_051_000,
                        }),
                    },
                    produced_at_ms: t0 - 30 * DAY,
                    certificates: vec![doc(
                        "Fairtrade certificate FLO-ID 4711",
                        "fairtrade",
                        "application/pdf",
                    )],
                    documents: vec![],
                    inputs: vec![],
                }),
                what: format!("The cooperative records 600 kg of green coffee as lot {green}"),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "cooperative",
                at_ms: t0 - 25 * DAY,
                body: Body::Dispatch(Dispatch {
                    shipment: sea.clone(),
                    lots: vec![green.clone()],
                    consignee: pk("roaster")?,
                    carrier: Some(pk("carrier")?),
                    from: at("Port of Buenaventura", "CO")?,
                    to: at("Port of Hamburg", "DE")?,
                    documents: vec![doc(
                        "bill of lading AOL-BUN-HAM-0912",
                        "bl",
                        "application/pdf",
                    )],
                }),
                what: format!(
                    "It dispatches the lot by sea to the roaster in Hamburg (shipment {sea})"
                ),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "carrier",
                at_ms: t0 - 25 * DAY + 3_600_000,
                body: Body::Receive(Receive {
                    shipment: sea.clone(),
                    at: at("Port of Buenaventura", "CO")?,
                    documents: vec![],
                }),
                what: "The ocean carrier takes the container over at Buenaventura".into(),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "roaster",
                at_ms: t0 - 8 * DAY,
                body: Body::Receive(Receive {
                    shipment: sea.clone(),
                    at: at("Hamburg roastery", "DE")?,
                    documents: vec![],
                }),
                what: "The roaster receives it in Hamburg".into(),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "roaster",
                at_ms: t0 - 7 * DAY,
                body: Body::SealedPayment(payment.clone()),
                what:
                    "The roaster pays the cooperative's invoice; the terms go on the ledger sealed"
                        .into(),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "cooperative",
                at_ms: t0 - 7 * DAY + 3_600_000,
                body: sealed::confirm(&payment),
                what: "The cooperative confirms it was paid what the sealed terms say".into(),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "roaster",
                at_ms: t0 - 5 * DAY,
                body: Body::Produce(Produce {
                    lot: roasted.clone(),
                    product: Product {
                        gtin: Some(roasted_gtin),
                        id: None,
                        description: "Roasted coffee beans, Huila single origin".into(),
                    },
                    quantity: Quantity {
                        value: kg("480")?,
                        unit: UnitCode::Kgm,
                    },
                    origin: at("Hamburg roastery", "DE")?,
                    produced_at_ms: t0 - 5 * DAY,
                    certificates: vec![],
                    documents: vec![],
                    inputs: vec![Input {
                        lot: green.clone(),
                        quantity: kg("600")?,
                    }],
                }),
                what: format!(
                    "It roasts all 600 kg into 480 kg of lot {roasted} (the green lot is consumed)"
                ),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "roaster",
                at_ms: t0 - 3 * DAY,
                body: Body::Dispatch(Dispatch {
                    shipment: road.clone(),
                    lots: vec![roasted.clone()],
                    consignee: pk("retailer")?,
                    carrier: None,
                    from: at("Hamburg roastery", "DE")?,
                    to: at("Frischmarkt DC Hannover", "DE")?,
                    documents: vec![],
                }),
                what: format!("It ships the roasted lot to the retailer (shipment {road})"),
                cosigners: Vec::new(),
                corrects: None,
            },
            Step {
                who: "retailer",
                at_ms: t0 - 2 * DAY,
                body: Body::Receive(Receive {
                    shipment: road.clone(),
                    at: at("Frischmarkt DC Hannover", "DE")?,
                    documents: vec![],
                }),
                what: "The retailer receives it".into(),
                cosigners: Vec::new(),
                corrects: None,
            },
        ];
        Ok(Story { ids, steps, terms })
    }
}
