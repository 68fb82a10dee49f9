//! Golden-hash fixtures for the canonical formats.
//!
//! A FAILING FIXTURE MEANS THE CANONICAL FORMAT CHANGED: entry ids, block
//! hashes, chain ids and every signature over them would change with it, so
//! old entries would no longer verify and nodes would disagree. That must be
//! a deliberate, versioned decision (a new `ENTRY_VERSION` / body variant,
//! a migration note), never a side effect. Do not just paste the new hashes.
//!
//! Everything here is built from literal values, without the shared test
//! helpers, so a change to those helpers cannot move a fixture.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use waybill_core::block::{self, Block, Header};
use waybill_core::codes::{Decimal3, Incoterm, UnitCode};
use waybill_core::crypto::{self, Hash32, PublicKey};
use waybill_core::entry::{
    Body, Customs, Dispatch, DocRef, Entry, GeoPoint, Input, Location, MembershipChange, Payment,
    PaymentMethod, PaymentStatus, Produce, Product, Quantity, Settlement, SignedEntry,
    ENTRY_VERSION,
};
use waybill_core::genesis::{
    ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};
use waybill_core::gs1::LotId;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn pk(seed: u8) -> PublicKey {
    crypto::public_key(&key(seed))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Hash32::digest(bytes).to_hex()
}

const CHAIN_SEED: &[u8] = b"waybill fixture chain";
const T: i64 = 1_717_171_717_171;

fn fixture_genesis() -> Genesis {
    let member = |name: &str, seed: u8, roles: &[Role], country: &str| MemberSpec {
        name: name.into(),
        public_key: pk(seed),
        roles: roles.to_vec(),
        country: Some(country.parse().unwrap()),
        gs1_company_prefixes: Vec::new(),
    };
    let mut farm = member("Finca La Esperanza", 1, &[Role::Producer], "CO");
    farm.gs1_company_prefixes = vec!["7701234".parse().unwrap()];
    Genesis {
        chain_name: "waybill-fixture".into(),
        members: vec![
            farm,
            member("Rösterei Hamburg", 2, &[Role::Processor, Role::Payer], "DE"),
            member("Atlantic Freight", 3, &[Role::Carrier], "PA"),
            member("Clear Audit", 7, &[Role::Auditor], "CH"),
            member("Admin A", 8, &[Role::Admin], "BE"),
            member("Admin B", 9, &[Role::Admin], "BE"),
        ],
        validators: vec![
            ValidatorSpec {
                name: "validator-1".into(),
                public_key: pk(101),
                power: 10,
                p2p: vec!["/ip4/10.0.0.1/tcp/26656".into()],
            },
            ValidatorSpec {
                name: "validator-2".into(),
                public_key: pk(102),
                power: 20,
                p2p: Vec::new(),
            },
        ],
        consensus: ConsensusParams {
            timeout_propose_ms: 3000,
            timeout_prevote_ms: 1000,
            timeout_precommit_ms: 1000,
            max_block_entries: 5000,
        },
        governance: Governance {
            admin_threshold: Some(2),
        },
        yields: Vec::new(),
    }
}

/// The same genesis as a human would write it.
const FIXTURE_GENESIS_TOML: &str = r#"
chain_name = "waybill-fixture"

[[members]]
name = "Finca La Esperanza"
public_key = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
roles = ["producer"]
country = "CO"
gs1_company_prefixes = ["7701234"]

[[members]]
name = "Rösterei Hamburg"
public_key = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
roles = ["processor", "payer"]
country = "DE"

[[members]]
name = "Atlantic Freight"
public_key = "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
roles = ["carrier"]
country = "PA"

[[members]]
name = "Clear Audit"
public_key = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
roles = ["auditor"]
country = "CH"

[[members]]
name = "Admin A"
public_key = "1398f62c6d1a457c51ba6a4b5f3dbd2f69fca93216218dc8997e416bd17d93ca"
roles = ["admin"]
country = "BE"

[[members]]
name = "Admin B"
public_key = "fd1724385aa0c75b64fb78cd602fa1d991fdebf76b13c58ed702eac835e9f618"
roles = ["admin"]
country = "BE"

[[validators]]
name = "validator-1"
public_key = "d62f016a1efd1e4fdf793eb42cd84471e1ba9f0cf04d1287b5cc71f616287cb8"
power = 10
p2p = ["/ip4/10.0.0.1/tcp/26656"]

[[validators]]
name = "validator-2"
public_key = "34b4d9043156cb6dcf0beb0a2949b7559c940d2bcb6dbe8c53a9b30278e3a746"
power = 20

[consensus]
timeout_propose_ms = 3000
timeout_prevote_ms = 1000
timeout_precommit_ms = 1000
max_block_entries = 5000

[governance]
admin_threshold = 2
"#;

fn fixture_chain_id() -> Hash32 {
    Hash32::digest(CHAIN_SEED)
}

fn doc(label: &str, body: &[u8]) -> DocRef {
    DocRef {
        sha256: Hash32::digest(body),
        media_type: "application/pdf".into(),
        uri: Some(format!("https://docs.example/{label}.pdf")),
        label: Some(label.into()),
    }
}

/// A production with every optional field filled in.
fn fixture_produce_entry() -> Entry {
    let gtin = "07701234000011".parse().unwrap();
    Entry {
        version: ENTRY_VERSION,
        chain_id: fixture_chain_id(),
        author: pk(1),
        nonce: 7,
        recorded_at_ms: T,
        body: Body::Produce(Produce {
            lot: LotId::batch("07701234000011".parse().unwrap(), "H2024-07").unwrap(),
            product: Product {
                gtin: Some(gtin),
                id: Some("green-arabica-excelso".into()),
                description: "Green arabica coffee, Excelso EP, 70 kg bags".into(),
            },
            quantity: Quantity {
                value: "4200.5".parse().unwrap(),
                unit: UnitCode::Kgm,
            },
            origin: Location {
                gln: Some("7701234000004".parse().unwrap()),
                country: Some("CO".parse().unwrap()),
                name: Some("Pitalito, Huila".into()),
                geo: Some(GeoPoint {
                    lat_micro: 1_853_000,
                    lon_micro: -76_051_000,
                }),
            },
            produced_at_ms: T - 86_400_000,
            certificates: vec![doc("rainforest-alliance", b"RA certificate 2024")],
            documents: vec![DocRef {
                sha256: Hash32([0xab; 32]),
                media_type: "text/csv".into(),
                uri: None,
                label: None,
            }],
            inputs: vec![Input {
                lot: LotId::free("CHERRY-2024-07-A").unwrap(),
                quantity: Decimal3::from_milli(21_000_250),
            }],
        }),
    }
}

fn fixture_dispatch_entry() -> SignedEntry {
    Entry {
        version: ENTRY_VERSION,
        chain_id: fixture_chain_id(),
        author: pk(1),
        nonce: 8,
        recorded_at_ms: T + 1000,
        body: Body::Dispatch(Dispatch {
            shipment: "(00)106141411234567897".parse().unwrap(),
            lots: vec![LotId::batch("07701234000011".parse().unwrap(), "H2024-07").unwrap()],
            consignee: pk(2),
            carrier: Some(pk(3)),
            from: Location {
                gln: None,
                country: Some("CO".parse().unwrap()),
                name: Some("Port of Buenaventura".into()),
                geo: None,
            },
            to: Location {
                gln: None,
                country: Some("DE".parse().unwrap()),
                name: Some("Hamburg".into()),
                geo: None,
            },
            documents: vec![doc("bill-of-lading", b"B/L 123")],
        }),
    }
    .sign(&key(1))
}

fn fixture_payment_entry() -> SignedEntry {
    Entry {
        version: ENTRY_VERSION,
        chain_id: fixture_chain_id(),
        author: pk(2),
        nonce: 1,
        recorded_at_ms: T + 2000,
        body: Body::Payment(Payment {
            payment_id: "eb6305c9-1f7f-49de-aed0-16487c27b42d".parse().unwrap(),
            payer: pk(2),
            payee: pk(1),
            amount_minor: 1_850_000,
            currency: "EUR".parse().unwrap(),
            settlement: Some(Settlement {
                amount_minor: 2_003_550,
                currency: "USD".parse().unwrap(),
                fx_rate: "1.083".parse().unwrap(),
            }),
            incoterm: Incoterm::Ddp,
            shipments: vec!["(00)106141411234567897".parse().unwrap()],
            customs: Some(Customs {
                hs_codes: vec!["0901.11".parse().unwrap()],
                declaration_sha256: Some(Hash32::digest(b"salt||declaration")),
            }),
            method: PaymentMethod::SwiftTransfer,
            status: PaymentStatus::Settled,
        }),
    }
    .sign(&key(2))
}

fn fixture_membership_entry() -> SignedEntry {
    let mut e = Entry {
        version: ENTRY_VERSION,
        chain_id: fixture_chain_id(),
        author: pk(8),
        nonce: 1,
        recorded_at_ms: T + 3000,
        body: Body::Membership(MembershipChange::Add(MemberSpec {
            name: "Corner Café".into(),
            public_key: pk(5),
            roles: vec![Role::Retailer, Role::Payer],
            country: Some("DE".parse().unwrap()),
            gs1_company_prefixes: vec!["4012345".parse().unwrap()],
        })),
    }
    .sign(&key(8));
    e.cosign(&key(9));
    e
}

fn fixture_header() -> Header {
    Header {
        chain_id: fixture_chain_id(),
        height: 42,
        prev_hash: Hash32::digest(b"block 41"),
        time_ms: T + 60_000,
        proposer: pk(101),
        entries_root: block::entries_root(&[
            fixture_produce_entry().sign(&key(1)).id(),
            fixture_dispatch_entry().id(),
        ]),
        entry_count: 2,
    }
}

// ---------------------------------------------------------------------------

#[test]
fn fixture_keys_are_the_expected_ones() {
    // If this fails, ed25519 key derivation changed, not our format.
    assert_eq!(
        pk(1).to_hex(),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
}

#[test]
fn entry_canonical_bytes() {
    let e = fixture_produce_entry();
    assert_eq!(
        sha256_hex(&e.canonical_bytes()),
        "3ed985799dc5b570e87548c7667262abcbadcbe200c1b4b368d64773b463894c"
    );
}

#[test]
fn signed_entry_ids() {
    let produce = fixture_produce_entry().sign(&key(1));
    assert_eq!(
        produce.id().to_hex(),
        "8c79f6eb8c6a584ca2d3d1c6e29ed7b28a545973427cdbd0be7a4be294092c3b"
    );
    assert_eq!(
        fixture_dispatch_entry().id().to_hex(),
        "6143202058eaadb0fc6e4616930f78314e7ebf4040693e958049f0c3f4f28fd4"
    );
    assert_eq!(
        fixture_payment_entry().id().to_hex(),
        "da76a38f7dad8e0c72b1a72556dc25963806ccaee6558a4f48591e6d3a3d0e0a"
    );
    assert_eq!(
        fixture_membership_entry().id().to_hex(),
        "81dd28147f16f992612ba327435e1f89b5084c10cda332e8dc8915dff545b25e"
    );
    // The id is the SHA-256 of the signed entry's canonical bytes.
    assert_eq!(produce.id(), Hash32::digest(&produce.canonical_bytes()));
}

#[test]
fn header_hash() {
    let h = fixture_header();
    assert_eq!(
        h.entries_root.to_hex(),
        "962d6a063bef5f0bacb1abffe37862be5993ac6abbcaa09d4859eb390799a529"
    );
    assert_eq!(
        sha256_hex(&h.canonical_bytes()),
        "b19bdcddc0f3b3477dd6c5849dca0069c850e08901db77548a383f2d1cc17dfb"
    );
    assert_eq!(
        h.hash().to_hex(),
        "3f57efc5f2e02a5e2f600e1938c3847d90d15e3e1d3e955a0d56c18ff77f0e59"
    );
}

#[test]
fn block_and_vote_bytes() {
    let header = fixture_header();
    let b = Block {
        header: header.clone(),
        entries: vec![
            fixture_produce_entry().sign(&key(1)),
            fixture_dispatch_entry(),
        ],
    };
    b.check_entries(&b.entry_ids()).unwrap();
    assert_eq!(
        sha256_hex(&b.canonical_bytes()),
        "eb99d467c5da54ec3bba4794f0a6745e56e6188a12744729955319410a054cf0"
    );
    let vote = block::precommit_bytes(
        &header.chain_id,
        header.height,
        3,
        &header.hash(),
        &header.proposer,
    );
    assert_eq!(
        sha256_hex(&vote),
        "3ab678b57d58e1bd2bf335880b7925be4a5a09709fe2e9e66d571a05171dd4ae"
    );
}

#[test]
fn genesis_chain_id() {
    let g = fixture_genesis();
    g.validate().unwrap();
    assert_eq!(
        sha256_hex(&g.canonical_bytes()),
        "c0bdd73fd271cc5b8b4a89e56f891836c5f0d4d3f42b88fa9bcbc114fae6f4c9"
    );
    assert_eq!(
        g.chain_id().to_hex(),
        "3949928ee780717a2e07748e67f24a6062cec5c340ea4089d25142964cfdb95a"
    );
}

#[test]
fn genesis_toml_gives_the_same_chain_id() {
    let parsed = Genesis::from_toml(FIXTURE_GENESIS_TOML).unwrap();
    assert_eq!(parsed, fixture_genesis());
    assert_eq!(parsed.chain_id(), fixture_genesis().chain_id());
    // The TOML the code writes reads back to the same genesis.
    let again = Genesis::from_toml(&parsed.to_toml()).unwrap();
    assert_eq!(again.chain_id(), parsed.chain_id());
}

/// The example genesis shipped in `genesis/`. Comments and layout do not
/// count towards the chain id; any value does.
#[test]
fn example_genesis_file_chain_id() {
    let text = include_str!("../../../genesis/example-consortium.toml");
    let g = Genesis::from_toml(text).unwrap();
    assert_eq!(g.chain_name, "andes-to-europe-coffee");
    assert_eq!(
        sha256_hex(&g.canonical_bytes()),
        "9c8c8df32abe72da100857de02b05c210a7fe9e08faff976afa21ca28dc6c372"
    );
    assert_eq!(
        g.chain_id().to_hex(),
        "8d5596d2132cfb4ba8594682fdc06137c2857f7efec8f19bf08032f4fb300d9b"
    );
    // Comments do not count.
    let without_comments: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        Genesis::from_toml(&without_comments).unwrap().chain_id(),
        g.chain_id()
    );
}

#[test]
fn genesis_caps_block_entries() {
    use waybill_core::genesis::{GenesisError, MAX_BLOCK_ENTRIES};
    let mut g = fixture_genesis();
    g.consensus.max_block_entries = MAX_BLOCK_ENTRIES;
    g.validate().unwrap();
    g.consensus.max_block_entries = MAX_BLOCK_ENTRIES + 1;
    assert!(matches!(
        g.validate(),
        Err(GenesisError::TooManyBlockEntries(n)) if n == MAX_BLOCK_ENTRIES + 1
    ));
}

// ---------------------------------------------------------------------------
// The entry kinds of issue 25: one entry of each, with every optional field
// filled in, pinned by the hash of its unsigned canonical bytes and by its
// id (the hash of the signed entry). Each body's variant index is pinned
// too: new kinds are appended to `Body`, never inserted.

mod later_kinds {
    use super::*;
    use waybill_core::entry::PlotFacts;
    use waybill_core::entry::{
        Corrected, Correction, DispatchV2, Handover, Kdes, LossCause, ProduceV2, Readings, Recall,
        RecallClass, RecallLift, ReceiveV2, ReceivedLot, ReferenceDocument, ReferenceDocumentType,
        ShippedLot, Shortfall,
    };
    use waybill_core::geo::{Geometry, Plot};
    use waybill_core::sensor::{Measure, Range, Reading, Series};
    use waybill_core::transport::{Transport, Vessel};

    fn green_lot() -> LotId {
        LotId::batch("07701234000011".parse().unwrap(), "H2024-07").unwrap()
    }

    fn green_shipment() -> waybill_core::gs1::ShipmentId {
        "(00)106141411234567897".parse().unwrap()
    }

    fn entry(author: u8, nonce: u64, at: i64, body: Body) -> Entry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: fixture_chain_id(),
            author: pk(author),
            nonce,
            recorded_at_ms: T + at,
            body,
        }
    }

    fn place(name: &str, country: &str) -> Location {
        Location {
            gln: None,
            country: Some(country.parse().unwrap()),
            name: Some(name.into()),
            geo: None,
        }
    }

    fn point(lat_micro: i32, lon_micro: i32) -> GeoPoint {
        GeoPoint {
            lat_micro,
            lon_micro,
        }
    }

    /// A sea leg: bill of lading, one container and its seal, the vessel
    /// and voyage, departure and arrival.
    fn sea_leg() -> Transport {
        Transport {
            bill_of_lading: Some("MEDUBU123456".into()),
            containers: vec!["CSQU3054383".parse().unwrap()],
            seals: vec!["ML-4471123".into()],
            vessel: Some(Vessel {
                imo: "IMO 9074729".parse().unwrap(),
                name: Some("MSC Atlantic".into()),
                voyage: Some("FA428R".into()),
            }),
            departed_at_ms: Some(T - 20 * 86_400_000),
            arrived_at_ms: Some(T - 86_400_000),
        }
    }

    fn kdes(kind: ReferenceDocumentType, number: &str) -> Kdes {
        Kdes {
            reference_document: Some(ReferenceDocument {
                kind,
                number: number.into(),
            }),
            tlc_source: Some(Location {
                gln: Some("7701234000004".parse().unwrap()),
                country: Some("CO".parse().unwrap()),
                name: Some("Beneficio La Esperanza".into()),
                geo: Some(point(1_853_000, -76_051_000)),
            }),
        }
    }

    pub(super) fn produce_v2() -> SignedEntry {
        let Body::Produce(produce) = fixture_produce_entry().body else {
            unreachable!()
        };
        entry(
            1,
            9,
            4000,
            Body::ProduceV2(ProduceV2 {
                produce,
                plots: Some(PlotFacts {
                    plots: vec![
                        Plot {
                            id: Some("El Mirador".into()),
                            geometry: Geometry::Point(point(1_853_123, -76_051_456)),
                            area_ha: "3.25".parse().unwrap(),
                            country: Some("CO".parse().unwrap()),
                        },
                        Plot {
                            id: None,
                            geometry: Geometry::Polygon(vec![
                                point(1_850_000, -76_050_000),
                                point(1_850_000, -76_045_000),
                                point(1_855_000, -76_045_000),
                                point(1_855_000, -76_050_000),
                                point(1_850_000, -76_050_000),
                            ]),
                            area_ha: "30.9".parse().unwrap(),
                            country: None,
                        },
                    ],
                    harvest_start_ms: T - 90 * 86_400_000,
                    harvest_end_ms: T - 30 * 86_400_000,
                    deforestation_free: true,
                    due_diligence_ref: Some("EUDR-DDS-2024-000123".into()),
                }),
                kdes: kdes(ReferenceDocumentType::WorkOrder, "WO-7781"),
            }),
        )
        .sign(&key(1))
    }

    pub(super) fn dispatch_v2() -> SignedEntry {
        entry(
            1,
            10,
            5000,
            Body::DispatchV2(DispatchV2 {
                shipment: green_shipment(),
                lots: vec![
                    ShippedLot {
                        lot: green_lot(),
                        quantity: Some(Quantity {
                            value: "2.1".parse().unwrap(),
                            unit: UnitCode::Tne,
                        }),
                    },
                    ShippedLot {
                        lot: LotId::free("GREEN-2024-08").unwrap(),
                        quantity: None,
                    },
                ],
                consignee: pk(2),
                carrier: Some(pk(3)),
                from: place("Port of Buenaventura", "CO"),
                to: place("Hamburg", "DE"),
                documents: vec![doc("bill-of-lading", b"B/L MEDUBU123456")],
                transport: sea_leg(),
                kdes: kdes(ReferenceDocumentType::BillOfLading, "MEDUBU123456"),
            }),
        )
        .sign(&key(1))
    }

    pub(super) fn receive_v2() -> SignedEntry {
        entry(
            2,
            2,
            6000,
            Body::ReceiveV2(ReceiveV2 {
                shipment: green_shipment(),
                at: Location {
                    gln: Some("4012345000009".parse().unwrap()),
                    ..place("Rösterei Hamburg", "DE")
                },
                documents: vec![doc("delivery-note", b"DN 2024-0815")],
                lots: vec![ReceivedLot {
                    lot: green_lot(),
                    received: Quantity {
                        value: "2030".parse().unwrap(),
                        unit: UnitCode::Kgm,
                    },
                    shortfall: Some(Shortfall {
                        quantity: Quantity {
                            value: "70".parse().unwrap(),
                            unit: UnitCode::Kgm,
                        },
                        cause: LossCause::Damage,
                        note: Some("one bag torn".into()),
                    }),
                }],
                transport: Transport {
                    arrived_at_ms: Some(T + 5500),
                    ..Transport::default()
                },
                kdes: kdes(ReferenceDocumentType::AdvanceShippingNotice, "ASN-99"),
            }),
        )
        .sign(&key(2))
    }

    pub(super) fn handover() -> SignedEntry {
        let mut e = entry(
            3,
            4,
            7000,
            Body::Handover(Handover {
                shipment: green_shipment(),
                to: pk(4),
                at: place("Port of Cartagena", "CO"),
                transport: sea_leg(),
                documents: vec![doc("transshipment-note", b"TS 17")],
            }),
        )
        .sign(&key(3));
        e.cosign(&key(4));
        e
    }

    pub(super) fn readings() -> SignedEntry {
        entry(
            3,
            5,
            8000,
            Body::Readings(Readings {
                shipment: green_shipment(),
                series: vec![
                    Series {
                        device: "LOGGER-0001".into(),
                        measure: Measure::Temperature,
                        unit: "CEL".into(),
                        range: Some(Range {
                            min_milli: 2_000,
                            max_milli: 8_000,
                        }),
                        start_ms: T - 86_400_000,
                        readings: vec![
                            Reading {
                                offset_ms: 0,
                                value_milli: 4_000,
                            },
                            Reading {
                                offset_ms: 900_000,
                                value_milli: 9_500,
                            },
                            Reading {
                                offset_ms: 1_800_000,
                                value_milli: -1_250,
                            },
                        ],
                    },
                    Series {
                        device: "LOGGER-0001".into(),
                        measure: Measure::RelativeHumidity,
                        unit: "P1".into(),
                        range: None,
                        start_ms: T - 86_400_000,
                        readings: vec![Reading {
                            offset_ms: 0,
                            value_milli: 65_000,
                        }],
                    },
                ],
            }),
        )
        .sign(&key(3))
    }

    pub(super) fn recall() -> SignedEntry {
        entry(
            1,
            11,
            9000,
            Body::Recall(Recall {
                lots: vec![green_lot(), LotId::free("GREEN-2024-08").unwrap()],
                class: RecallClass::Recall,
                reason: "ochratoxin A above the EU limit".into(),
                scope: "all bags of harvest 2024-07".into(),
                documents: vec![doc("lab-report", b"lab report 2024-117")],
            }),
        )
        .sign(&key(1))
    }

    pub(super) fn recall_lift() -> SignedEntry {
        let mut e = entry(
            8,
            2,
            10_000,
            Body::RecallLift(RecallLift {
                recall: recall().id(),
                lots: vec![green_lot()],
                reason: "second laboratory: sample mixed up".into(),
            }),
        )
        .sign(&key(8));
        e.cosign(&key(9));
        e
    }

    pub(super) fn correction() -> SignedEntry {
        entry(
            1,
            12,
            11_000,
            Body::Correction(Correction {
                target: dispatch_v2().id(),
                corrected: Corrected::Shipment(green_shipment()),
                reason: "wrong consignee".into(),
                corrective: vec![Hash32::digest(b"the right dispatch")],
            }),
        )
        .sign(&key(1))
    }

    /// A correction of the roaster's receipt (its quantities were keyed
    /// in wrong), the last variant of `Corrected`.
    pub(super) fn receipt_correction() -> SignedEntry {
        entry(
            2,
            3,
            12_000,
            Body::Correction(Correction {
                target: receive_v2().id(),
                corrected: Corrected::Receipt(green_shipment()),
                reason: "2100 kg arrived, not 2030 kg".into(),
                corrective: Vec::new(),
            }),
        )
        .sign(&key(2))
    }

    /// A correction of the carrier's readings (another container's
    /// logger), the variant after `Receipt`.
    pub(super) fn readings_correction() -> SignedEntry {
        entry(
            3,
            6,
            13_000,
            Body::Correction(Correction {
                target: readings().id(),
                corrected: Corrected::Readings(green_shipment()),
                reason: "the logger of another container".into(),
                corrective: Vec::new(),
            }),
        )
        .sign(&key(3))
    }

    /// Every fixture, with its body's variant index in `Body`.
    pub(super) fn all() -> Vec<(&'static str, u32, SignedEntry)> {
        vec![
            ("produce v2", 6, produce_v2()),
            ("dispatch v2", 7, dispatch_v2()),
            ("receive v2", 8, receive_v2()),
            ("handover", 9, handover()),
            ("readings", 10, readings()),
            ("recall", 11, recall()),
            ("recall lift", 12, recall_lift()),
            ("correction", 13, correction()),
            ("receipt correction", 13, receipt_correction()),
            ("readings correction", 13, readings_correction()),
        ]
    }

    /// The five things a correction can correct, in variant order.
    pub(super) fn corrected_variants() -> Vec<Corrected> {
        vec![
            Corrected::Lot(green_lot()),
            Corrected::Shipment(green_shipment()),
            Corrected::Payment("eb6305c9-1f7f-49de-aed0-16487c27b42d".parse().unwrap()),
            Corrected::Receipt(green_shipment()),
            Corrected::Readings(green_shipment()),
        ]
    }
}

#[test]
fn later_kinds_signatures_verify_and_bytes_round_trip() {
    for (name, _, e) in later_kinds::all() {
        e.verify_signatures()
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let bytes = e.canonical_bytes();
        let back = SignedEntry::from_canonical_bytes(&bytes).unwrap();
        assert_eq!(back, e, "{name}");
        // And through JSON, as the CLI and the API carry entries.
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedEntry>(&json).unwrap(),
            e,
            "{name}"
        );
    }
}

#[test]
fn later_kinds_are_appended_to_body() {
    for (name, index, e) in later_kinds::all() {
        let body = waybill_core::codec::encode(&e.entry.body);
        assert_eq!(body[..4], index.to_be_bytes(), "{name}");
    }
    let tags: Vec<[u8; 4]> = later_kinds::corrected_variants()
        .iter()
        .map(|c| waybill_core::codec::encode(c)[..4].try_into().unwrap())
        .collect();
    assert_eq!(
        tags,
        vec![
            [0, 0, 0, 0],
            [0, 0, 0, 1],
            [0, 0, 0, 2],
            [0, 0, 0, 3],
            [0, 0, 0, 4]
        ]
    );
}

#[test]
fn later_kinds_canonical_bytes() {
    let pinned = [
        (
            "produce v2",
            "0762145703921bfda16e15ff0ac878175337f8628e63887651e26b5c6aa37519",
            "020678bacae33c28b85a23795ffadc93215ccacff0b6c936a7f8f612b8805665",
        ),
        (
            "dispatch v2",
            "cb6c51f51c43e60ab46863be695ab85d967585bfe60ee08509d6927478385384",
            "3988c1564226dca85ecc91da3ff77425413b17654ff2aea17730d305cf79751e",
        ),
        (
            "receive v2",
            "b39eadc5e69f7a03926c88a37cf91aee149676a55b75097314747cc62a253cb3",
            "bab9368f72aed6bce1459340c878f1b964e4f0680c3096b531f0b0a5e5d52acd",
        ),
        (
            "handover",
            "18203eda4adbd503446b140def68cdf4581b9dac48890f04a8a9e86fd877bd7e",
            "9947c30786b161029f7bf29d5495bb0e745e994cf10cc2317e4cfd299377a2de",
        ),
        (
            "readings",
            "938e685e46be71ae63330cff25472878a66fa06d93e1f76b6e76d6dc9be6a9b9",
            "9beaab2bdabe665507b896b2021d886ba34d4b3ca636208e26e445f29d3959a5",
        ),
        (
            "recall",
            "934a27c57b4910dbdabc1f2a83a9ea7fef455c52394b1a40813c8eb17d351df1",
            "271f23002bde2f05f0a3fca10691eee6ccf1da4c129bd64d190c41b520011cd8",
        ),
        (
            "recall lift",
            "b85ef0ff3d862c8fa91f00fbfdfb65966b3b1163a3161ce755d96e13dd633690",
            "7f18ac8b4c0d2fe2ec6545f02be378bd4d94b927958bc319b248da52e561b5ee",
        ),
        (
            "correction",
            "97ae15810a5cab35f07a04c07d82beaafc7f815b2979a8e413e553a71f183dd2",
            "4adaaa2f34280635a5324177f6d0a292f3e2d670ebce28f061002251b1fdd9d9",
        ),
        (
            "receipt correction",
            "45345da92020c791c31fd5d91f8bebd2359eecb2180d355469fc87e3e4d5f742",
            "48387b5fa38a935ba81db62e209e62856955d25c118f49982c7550eb1742df88",
        ),
        (
            "readings correction",
            "d8b4d48b213f330c693589e02a30c1a3ae493f032498fbeb68c3d464e48f077c",
            "142e545704af936a771bd4813c7b9dc62d8afcdb42708b8d602d2d3cce5c8f4a",
        ),
    ];
    assert_pinned(later_kinds::all(), &pinned);
}

/// Governance entries (issue 26): the body after `Correction`, each
/// change a variant of its own.
mod governance_kinds {
    use super::*;
    use waybill_core::governance::{Compromise, GovernanceChange as G, GovernanceEntry};

    fn admin_entry(nonce: u64, at: i64, effective_height: u64, change: G) -> SignedEntry {
        let e = Entry {
            version: ENTRY_VERSION,
            chain_id: fixture_chain_id(),
            author: pk(4),
            nonce,
            recorded_at_ms: T + at,
            body: Body::Governance(GovernanceEntry {
                effective_height,
                change,
            }),
        };
        let mut s = e.sign(&key(4));
        s.cosign(&key(5));
        s
    }

    /// Every fixture, with its change's variant index in
    /// `GovernanceChange`.
    pub(super) fn all() -> Vec<(&'static str, u32, SignedEntry)> {
        vec![
            (
                "add member",
                0,
                admin_entry(
                    3,
                    20_000,
                    120,
                    G::AddMember(MemberSpec {
                        name: "Exportadora del Sur".into(),
                        public_key: pk(30),
                        roles: vec![Role::Producer, Role::Payer],
                        country: Some("CO".parse().unwrap()),
                        gs1_company_prefixes: vec!["7709876".parse().unwrap()],
                    }),
                ),
            ),
            (
                "revoke key",
                4,
                admin_entry(
                    4,
                    21_000,
                    130,
                    G::RevokeKey {
                        public_key: pk(3),
                        compromised_since: Some(Compromise::Time(T - 86_400_000)),
                        replacement: Some(pk(31)),
                    },
                ),
            ),
            (
                "set admin threshold",
                5,
                admin_entry(5, 22_000, 131, G::SetAdminThreshold { threshold: Some(2) }),
            ),
            (
                "transfer prefix",
                7,
                admin_entry(
                    6,
                    23_000,
                    140,
                    G::TransferPrefix {
                        prefix: "7701234".parse().unwrap(),
                        to: pk(2),
                    },
                ),
            ),
            (
                "add validator",
                8,
                admin_entry(
                    7,
                    24_000,
                    150,
                    G::AddValidator(ValidatorSpec {
                        name: "validator-sg".into(),
                        public_key: pk(32),
                        power: 25,
                        p2p: vec!["/dns4/sg.example/tcp/26656".into()],
                    }),
                ),
            ),
            (
                "rotate validator key",
                11,
                admin_entry(
                    8,
                    25_000,
                    151,
                    G::RotateValidatorKey {
                        old: pk(10),
                        new: pk(33),
                    },
                ),
            ),
            (
                "bind node key",
                12,
                admin_entry(
                    9,
                    26_000,
                    160,
                    G::BindNodeKey {
                        member: pk(30),
                        node_key: pk(34),
                    },
                ),
            ),
            (
                "unbind node key",
                13,
                admin_entry(10, 27_000, 170, G::UnbindNodeKey { node_key: pk(34) }),
            ),
        ]
    }
}

#[test]
fn governance_is_appended_to_body_and_its_changes_keep_their_places() {
    for (name, change_index, e) in governance_kinds::all() {
        e.verify_signatures()
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let body = waybill_core::codec::encode(&e.entry.body);
        assert_eq!(body[..4], 14u32.to_be_bytes(), "{name}: Body::Governance");
        // After the effective height (8 bytes), the change's tag.
        assert_eq!(body[12..16], change_index.to_be_bytes(), "{name}");
        let bytes = e.canonical_bytes();
        assert_eq!(
            SignedEntry::from_canonical_bytes(&bytes).unwrap(),
            e,
            "{name}"
        );
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedEntry>(&json).unwrap(),
            e,
            "{name}"
        );
    }
}

#[test]
fn governance_canonical_bytes() {
    let pinned = [
        (
            "add member",
            "00229453046fad3dd566d60eb71438068d2c803698e6b9d9925b1e69b5bbe3aa",
            "0f343f3d1f96cf1c87ee8f0f97b0946048b09c2fa27807da858e017568082aa0",
        ),
        (
            "revoke key",
            "91f5e45248cc3985c87aa0dadb5baec9a2ca7cab5a5925ac701dc1e3afa44d4d",
            "c71e1f540e7b38b9c87b30c07792d4dd96a454184e924b6c358bc80e11e83820",
        ),
        (
            "set admin threshold",
            "047bc09fddbd3d210f40aa1e5b8d0730f2da5e0f8d329a7b42e67fa28530ecbb",
            "f599315045088ff8effb8d7aa8180c28f163a2938e6250129b34ef748574a707",
        ),
        (
            "transfer prefix",
            "f063f3e137c09ab6de4cb279b120337edc13c083f02a74203a879a367339551f",
            "464a5d5df278575f7f1e098a1d2cbe63fd35f88d01ec5e5be764ebfa9b206724",
        ),
        (
            "add validator",
            "0b4bf0b5d768566e477e91d1a53eec75c92cbbc1bb6cb5670b66373453261c7a",
            "c72172e52fe0d7f836c2b2a5544976897365fde7223aa2bb99293aff4ead530e",
        ),
        (
            "rotate validator key",
            "b519b2983b76e045a4d3946c94091510c7c6b98e53203c29094baba044ed1db4",
            "97fcdd390e94b622c126a02f247b6017d04f863f105035160c1f9b3bda31a368",
        ),
        (
            "bind node key",
            "cbe96afc8954726d968d21bf9676a62e4325f1da383b6dc8815c0b726febcc8e",
            "14a050a8875c6b6a8bf6c61847dcf48df16e6ca3036ace09bf81a1132c5a2d68",
        ),
        (
            "unbind node key",
            "d1a6966cf641b9fb1b88436eee99bbba00e2582f4960e3ac6955a29b42b6e890",
            "1dac425e48ce9fd21b616e64a9a3e0a1d11168a4ec8685bf32e0cefccd260a80",
        ),
    ];
    assert_pinned(governance_kinds::all(), &pinned);
}

/// Checks each fixture's name, the SHA-256 of its unsigned entry's
/// canonical bytes and its entry id against `pinned`, in order.
fn assert_pinned(fixtures: Vec<(&'static str, u32, SignedEntry)>, pinned: &[(&str, &str, &str)]) {
    assert_eq!(fixtures.len(), pinned.len());
    for ((name, _, e), (want_name, want_bytes, want_id)) in fixtures.into_iter().zip(pinned) {
        assert_eq!(name, *want_name);
        assert_eq!(
            sha256_hex(&e.entry.canonical_bytes()),
            *want_bytes,
            "{name}: canonical bytes of the unsigned entry"
        );
        assert_eq!(e.id().to_hex(), *want_id, "{name}: entry id");
    }
}

/// Sealed payments (issue 28): the bodies after `Governance`, with the
/// commitments of fixed salts.
mod sealed_kinds {
    use super::*;
    use waybill_core::terms::{self, PaymentConfirmation, SealedPayment, Terms};

    pub(super) fn uetr() -> waybill_core::codes::Uetr {
        "eb6305c9-1f7f-49de-aed0-16487c27b42d".parse().unwrap()
    }

    /// EUR 18,500.00 settled as USD 20,035.50 at 1.083, DDP, by SWIFT,
    /// HS 0901.11, a declaration digest and an invoice number.
    pub(super) fn terms() -> Terms {
        Terms {
            amount_minor: 1_850_000,
            currency: "EUR".parse().unwrap(),
            settlement: Some(Settlement {
                amount_minor: 2_003_550,
                currency: "USD".parse().unwrap(),
                fx_rate: "1.083".parse().unwrap(),
            }),
            incoterm: Incoterm::Ddp,
            method: PaymentMethod::SwiftTransfer,
            hs_codes: vec!["0901.11".parse().unwrap()],
            customs_declaration: Some(Hash32::digest(b"declaration")),
            invoice: Some("INV-2026-0042".into()),
        }
    }

    /// Salts 0x01.., 0x02.., … in field order.
    pub(super) fn sealed() -> (SealedPayment, terms::Openings) {
        let mut n = 0u8;
        let (commitments, openings) = terms()
            .seal(uetr(), || {
                n += 1;
                [n; 32]
            })
            .unwrap();
        (
            SealedPayment {
                payment_id: uetr(),
                payer: pk(2),
                payee: pk(1),
                shipments: vec!["(00)106141411234567897".parse().unwrap()],
                status: PaymentStatus::Settled,
                terms: commitments,
            },
            openings,
        )
    }

    pub(super) fn payment() -> SignedEntry {
        Entry {
            version: ENTRY_VERSION,
            chain_id: fixture_chain_id(),
            author: pk(2),
            nonce: 2,
            recorded_at_ms: T + 9000,
            body: Body::SealedPayment(sealed().0),
        }
        .sign(&key(2))
    }

    pub(super) fn confirmation() -> SignedEntry {
        let (p, _) = sealed();
        Entry {
            version: ENTRY_VERSION,
            chain_id: fixture_chain_id(),
            author: pk(1),
            nonce: 3,
            recorded_at_ms: T + 9500,
            body: Body::PaymentConfirmation(PaymentConfirmation {
                payment_id: p.payment_id,
                terms: terms::digest(&p.payment_id, &p.terms),
            }),
        }
        .sign(&key(1))
    }

    pub(super) fn all() -> Vec<(&'static str, u32, SignedEntry)> {
        vec![
            ("sealed payment", 15, payment()),
            ("payment confirmation", 16, confirmation()),
        ]
    }
}

#[test]
fn sealed_payments_are_appended_to_body_and_round_trip() {
    for (name, index, e) in sealed_kinds::all() {
        e.verify_signatures()
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        waybill_core::rules::check_shape(&e).unwrap_or_else(|err| panic!("{name}: {err}"));
        let body = waybill_core::codec::encode(&e.entry.body);
        assert_eq!(body[..4], index.to_be_bytes(), "{name}");
        let bytes = e.canonical_bytes();
        assert_eq!(
            SignedEntry::from_canonical_bytes(&bytes).unwrap(),
            e,
            "{name}"
        );
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            serde_json::from_str::<SignedEntry>(&json).unwrap(),
            e,
            "{name}"
        );
    }
    // The terms file opens the commitments, through its JSON form too.
    let (p, openings) = sealed_kinds::sealed();
    let text = serde_json::to_string_pretty(&openings).unwrap();
    let back: waybill_core::terms::Openings = serde_json::from_str(&text).unwrap();
    assert_eq!(
        back.verify(&p.payment_id, &p.terms).unwrap(),
        sealed_kinds::terms()
    );
}

#[test]
fn sealed_payment_canonical_bytes_and_commitments() {
    let (p, _) = sealed_kinds::sealed();
    // The amount's commitment: SHA-256 of the domain tag, the UETR's 16
    // bytes, `amount`, a zero byte, 32 bytes of 0x01 and `1850000`.
    assert_eq!(
        p.terms[0].commitment.to_hex(),
        "64f41b1b4442cd2adfea5c4c1029a88987df07413fcdbddedc5117a51f297f0d",
        "the commitment to the amount"
    );
    assert_eq!(
        waybill_core::terms::digest(&p.payment_id, &p.terms).to_hex(),
        "3cc0bcb2133f8a36078726875a9fc54dde0f40b0d6a768152bf715986e458adb",
        "the digest a confirmation signs"
    );
    let pinned = [
        (
            "sealed payment",
            "b1a4e16ef39bfe24557c5d55338b18ca8d916e10796b4be2b73b0255322eaa7f",
            "2f64686a43273be419c9f9248e0b69419f850747175faa93dbeef1caa01149d8",
        ),
        (
            "payment confirmation",
            "e2915f946e3cf2c8e804e9f5138908df2b34df8432a57676da5b3ed77a9804e0",
            "b17bc41bda65603d438ac2004d009637187af8fcc61c509d3f6a589339a4c4dc",
        ),
    ];
    assert_pinned(sealed_kinds::all(), &pinned);
}
