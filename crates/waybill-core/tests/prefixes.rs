//! GS1 company prefixes are owned (issue 26, item 5): genesis gives each
//! prefix to one member, and the rules hold every GTIN, SSCC and GLN an
//! entry brings in to the prefixes of those who may use it (see
//! `waybill_core::rules` module `keys`).
//!
//! The test consortium's producer owns `PRODUCER_PREFIX`, its processor
//! `PROCESSOR_PREFIX` and its brand `BRAND_PREFIX`; the carrier,
//! distributor and retailer own none. Every refusal goes through
//! `Ledger::refuse`, which checks that the state is unchanged.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::entry::{Body, Location};
use waybill_core::genesis::{prefix_conflict, Genesis, GenesisError, MemberSpec, Role};
use waybill_core::gs1::{CompanyPrefix, Gln, LotId, ShipmentId, Sscc};
use waybill_core::rules::RuleError;
use waybill_core::trail::{self, Policy};

/// A prefix no member of the test consortium owns.
const NOBODYS_PREFIX: &str = "9600000";

fn prefix(s: &str) -> CompanyPrefix {
    s.parse().unwrap()
}

fn setup() -> (Consortium, Ledger) {
    let c = Consortium::new();
    let l = Ledger::new(&c.genesis);
    (c, l)
}

/// A place known by its GLN only.
fn at(gln: Gln) -> Location {
    Location {
        gln: Some(gln),
        ..Location::default()
    }
}

/// The lot `(01){gtin under prefix}(10){batch}`.
fn gs1_lot(prefix: &str, batch: &str) -> LotId {
    LotId::batch(gtin_under(prefix, 1), batch).unwrap()
}

/// A production of `lot` (10 kg) from nothing.
fn produce_lot(lot: &LotId) -> Body {
    let mut p = produce_body("X", "10");
    p.lot = lot.clone();
    Body::Produce(p)
}

/// A dispatch of `lots` under shipment `id`.
fn dispatch_as(
    id: &ShipmentId,
    lots: &[&str],
    consignee: &Party,
    carrier: Option<&Party>,
) -> waybill_core::entry::Dispatch {
    let mut d = dispatch_body("PLACEHOLDER", lots, &consignee.pk, carrier.map(|p| &p.pk));
    d.shipment = id.clone();
    d
}

/// The genesis with `who`'s prefixes taken away.
fn without_prefixes(genesis: &Genesis, who: &Party) -> Genesis {
    let mut g = genesis.clone();
    for m in &mut g.members {
        if m.public_key == who.pk {
            m.gs1_company_prefixes.clear();
        }
    }
    g.validate().unwrap();
    g
}

// ---------------------------------------------------------------------------
// Genesis: a prefix belongs to one member

fn member(name: &str, seed: u8, prefixes: &[&str]) -> MemberSpec {
    MemberSpec {
        gs1_company_prefixes: prefixes.iter().map(|p| prefix(p)).collect(),
        ..Party::new(name, seed, &[Role::Producer]).spec("CO")
    }
}

/// The test genesis with `members` in place of its brand.
fn genesis_with(members: Vec<MemberSpec>) -> Genesis {
    let c = Consortium::new();
    let mut g = c.genesis.clone();
    g.members.retain(|m| m.public_key != c.brand.pk);
    g.members.extend(members);
    g
}

fn overlap(g: &Genesis) -> GenesisError {
    let err = g.validate().unwrap_err();
    assert!(matches!(err, GenesisError::PrefixOverlap { .. }), "{err:?}");
    err
}

#[test]
fn genesis_refuses_a_prefix_two_members_share() {
    let g = genesis_with(vec![
        member("Andes Coop", 60, &["7709998"]),
        member("Huila Traders", 61, &["7709998"]),
    ]);
    let err = overlap(&g);
    assert_eq!(
        err,
        GenesisError::PrefixOverlap {
            first: "Andes Coop".into(),
            first_prefix: prefix("7709998"),
            second: "Huila Traders".into(),
            second_prefix: prefix("7709998"),
        }
    );
    assert_mentions(
        &err,
        &["Andes Coop", "Huila Traders", "7709998", "one member"],
    );
}

#[test]
fn genesis_refuses_a_prefix_that_extends_another_members() {
    // Either way round.
    for (a, b) in [("7709998", "77099981"), ("77099981", "7709998")] {
        let g = genesis_with(vec![
            member("Andes Coop", 60, &["4000001", a]),
            member("Huila Traders", 61, &[b]),
        ]);
        let err = overlap(&g);
        assert_mentions(&err, &["Andes Coop", "Huila Traders", a, b, "starts"]);
    }
    // A longer prefix inside one of the test consortium's own.
    let g = genesis_with(vec![member(
        "Processor's Subsidiary",
        60,
        &[&format!("{PROCESSOR_PREFIX}5")],
    )]);
    assert_mentions(&overlap(&g), &["Rösterei Hamburg", PROCESSOR_PREFIX]);
}

#[test]
fn genesis_refuses_overlapping_prefixes_of_one_member() {
    let g = genesis_with(vec![member("Andes Coop", 60, &["7709998", "77099981"])]);
    let err = overlap(&g);
    assert_mentions(
        &err,
        &["Andes Coop", "7709998", "77099981", "list only 7709998"],
    );
    let g = genesis_with(vec![member("Andes Coop", 60, &["77099981", "7709998"])]);
    assert_mentions(&overlap(&g), &["list only 7709998"]);
    let g = genesis_with(vec![member("Andes Coop", 60, &["7709998", "7709998"])]);
    assert_mentions(&overlap(&g), &["Andes Coop", "7709998", "twice"]);
}

#[test]
fn genesis_accepts_disjoint_prefixes() {
    let g = genesis_with(vec![
        // Two prefixes of one member, and its neighbours' ...
        member("Andes Coop", 60, &["7709998", "7709997"]),
        // ... digits, not numbers (0770999 is not 770999), and a longer
        // prefix beside, not inside, the coop's.
        member("Huila Traders", 61, &["7709999", "0770999", "77099960"]),
        // The shortest and the longest prefixes GS1 assigns.
        member("Four-digit Co", 62, &["5012"]),
        member("Twelve-digit Co", 63, &["501312345678"]),
    ]);
    g.validate().unwrap();
    // And the TOML a consortium writes by hand says the same.
    Genesis::from_toml(&g.to_toml()).unwrap();
}

#[test]
fn genesis_toml_with_overlapping_prefixes_is_refused() {
    let g = genesis_with(vec![
        member("Andes Coop", 60, &["7709998"]),
        member("Huila Traders", 61, &["77099981"]),
    ]);
    // `to_toml` writes what it is given; reading it back validates.
    let err = Genesis::from_toml(&g.to_toml()).unwrap_err();
    assert_mentions(&err, &["Andes Coop", "Huila Traders", "77099981"]);
}

#[test]
fn prefix_conflict_names_the_owner_and_its_prefix() {
    let c = Consortium::new();
    let members = &c.genesis.members;
    let (owner, p) = prefix_conflict(members, &prefix("95060001")).unwrap();
    assert_eq!(
        (owner.name.as_str(), p.as_str()),
        ("Brand Foods", BRAND_PREFIX)
    );
    let (owner, _) = prefix_conflict(members, &prefix("7701")).unwrap();
    assert_eq!(owner.name, c.producer.name);
    assert!(prefix_conflict(members, &prefix(NOBODYS_PREFIX)).is_none());
    // Over any member table, e.g. the records of a state.
    let state = waybill_core::state::State::genesis(&c.genesis);
    let (owner, _) = prefix_conflict(
        state.members.values().map(|r| &r.spec),
        &prefix(PROCESSOR_PREFIX),
    )
    .unwrap();
    assert_eq!(owner.name, c.processor.name);
}

// ---------------------------------------------------------------------------
// GTINs

#[test]
fn a_gtin_under_another_members_prefix_is_refused() {
    let (c, mut l) = setup();
    // The producer tries the brand's GTIN, in the lot id and as product.
    let brands = gs1_lot(BRAND_PREFIX, "B1");
    let err = l.refuse(&l.sign(&c.producer, produce_lot(&brands)));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");
    let gtin = gtin_under(BRAND_PREFIX, 1);
    assert_mentions(
        &err,
        &[
            gtin.as_str(),
            &c.producer.name,
            PRODUCER_PREFIX,
            BRAND_PREFIX,
            &c.brand.name,
        ],
    );
    let mut p = produce_body("FREE-1", "10");
    p.product.gtin = Some(gtin);
    let err = l.refuse(&l.sign(&c.producer, Body::Produce(p)));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");
    // A GTIN under no member's prefix is nobody's to mint either.
    let err = l.refuse(&l.sign(&c.producer, produce_lot(&gs1_lot(NOBODYS_PREFIX, "B1"))));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");
    assert!(!err.to_string().contains("but under"), "{err}");
    // Its own goes in; so does the brand's, for the brand.
    l.record(&c.producer, produce_lot(&gs1_lot(PRODUCER_PREFIX, "B1")));
    l.record(&c.brand, produce_lot(&brands));
    // A production v2 is judged the same.
    let mut v2 = produce_v2_body("X", "10");
    v2.produce.lot = gs1_lot(BRAND_PREFIX, "B2");
    let err = l.refuse(&l.sign(&c.processor, Body::ProduceV2(v2)));
    assert_mentions(&err, &[&c.processor.name, PROCESSOR_PREFIX, &c.brand.name]);
}

#[test]
fn a_member_without_a_prefix_records_free_ids_only() {
    let c = Consortium::new();
    let mut l = Ledger::new(&without_prefixes(&c.genesis, &c.producer));
    // Not even the GTIN under the prefix it had, and no GTIN as product.
    let own_before = gs1_lot(PRODUCER_PREFIX, "B1");
    let err = l.refuse(&l.sign(&c.producer, produce_lot(&own_before)));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");
    assert_mentions(&err, &[&c.producer.name, "it has none", "free lot ids"]);
    let mut p = produce_body("FREE-1", "10");
    p.product.gtin = Some(gtin_under(PRODUCER_PREFIX, 1));
    let err = l.refuse(&l.sign(&c.producer, Body::Produce(p)));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");
    // Nor an SSCC as a lot id.
    let sscc = sscc_under(PRODUCER_PREFIX, 5);
    let pallet = LotId::from(sscc.sscc().unwrap());
    let err = l.refuse(&l.sign(&c.producer, produce_lot(&pallet)));
    assert!(
        matches!(
            err,
            RuleError::ForeignSscc {
                usage: "lot id",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &[sscc.sscc().unwrap().as_str(), "it has none", "free lot id"],
    );
    // A free id is fine.
    l.record(&c.producer, produce("FREE-1", "10"));
}

#[test]
fn an_sscc_lot_id_is_its_producers_own() {
    let (c, mut l) = setup();
    let own = LotId::from(sscc_under(PRODUCER_PREFIX, 1).sscc().unwrap());
    let brands: Sscc = sscc_under(BRAND_PREFIX, 1).sscc().unwrap();
    let err = l.refuse(&l.sign(&c.producer, produce_lot(&LotId::from(brands))));
    assert!(matches!(err, RuleError::ForeignSscc { .. }), "{err:?}");
    assert_mentions(
        &err,
        &[
            brands.as_str(),
            &c.producer.name,
            PRODUCER_PREFIX,
            &c.brand.name,
        ],
    );
    l.record(&c.producer, produce_lot(&own));
}

// ---------------------------------------------------------------------------
// SSCCs as shipment ids

#[test]
fn a_sender_labels_its_shipment_with_its_own_sscc() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    let own = sscc_under(PRODUCER_PREFIX, 1);
    l.record(
        &c.producer,
        Body::Dispatch(dispatch_as(
            &own,
            &["GREEN-1"],
            &c.processor,
            Some(&c.carrier),
        )),
    );
    assert!(l.state.shipments.contains_key(&own));
}

#[test]
fn a_trader_ships_the_producers_goods_under_the_producers_sscc() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.distributor.pk, None),
    );
    l.record(&c.distributor, receive("S-1"));
    // The distributor owns no prefix; the goods are the producer's.
    let strangers = [
        (sscc_under(PROCESSOR_PREFIX, 2), Some(PROCESSOR_PREFIX)),
        (sscc_under(BRAND_PREFIX, 2), Some(BRAND_PREFIX)),
        (sscc_under(NOBODYS_PREFIX, 2), None),
    ];
    for (id, owner) in &strangers {
        let err = l.refuse(&l.sign(
            &c.distributor,
            Body::Dispatch(dispatch_as(id, &["GREEN-1"], &c.retailer, None)),
        ));
        assert!(
            matches!(
                err,
                RuleError::ForeignSscc {
                    usage: "shipment id",
                    ..
                }
            ),
            "{err:?}"
        );
        let sscc = id.sscc().unwrap();
        assert_mentions(
            &err,
            &[
                sscc.as_str(),
                &c.distributor.name,
                "it has none",
                &c.producer.name,
                PRODUCER_PREFIX,
                "free shipment id",
            ],
        );
        assert_eq!(
            err.to_string().contains("but under"),
            owner.is_some(),
            "{err}"
        );
        if let Some(owner) = owner {
            assert_mentions(&err, &[owner]);
        }
    }
    // The same in a DispatchV2.
    let mut d = dispatch_v2_body("PLACEHOLDER", &[("GREEN-1", None)], &c.retailer.pk, None);
    d.shipment = strangers[1].0.clone();
    let err = l.refuse(&l.sign(&c.distributor, Body::DispatchV2(d.clone())));
    assert!(matches!(err, RuleError::ForeignSscc { .. }), "{err:?}");
    // The producer's pallet label goes.
    d.shipment = sscc_under(PRODUCER_PREFIX, 2);
    l.record(&c.distributor, Body::DispatchV2(d));
}

#[test]
fn a_shipment_of_several_producers_lots_may_carry_either_producers_sscc() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(&c.brand, produce("BISCUITS-1", "100"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.distributor.pk, None),
    );
    l.record(
        &c.brand,
        dispatch("S-2", &["BISCUITS-1"], &c.distributor.pk, None),
    );
    l.record(&c.distributor, receive("S-1"));
    l.record(&c.distributor, receive("S-2"));
    let lots = ["GREEN-1", "BISCUITS-1"];
    let err = l.refuse(&l.sign(
        &c.distributor,
        Body::Dispatch(dispatch_as(
            &sscc_under(PROCESSOR_PREFIX, 3),
            &lots,
            &c.retailer,
            None,
        )),
    ));
    assert_mentions(&err, &[&c.producer.name, &c.brand.name, &c.processor.name]);
    l.record(
        &c.distributor,
        Body::Dispatch(dispatch_as(
            &sscc_under(BRAND_PREFIX, 3),
            &lots,
            &c.retailer,
            None,
        )),
    );
}

// ---------------------------------------------------------------------------
// GLNs of places

#[test]
fn a_production_names_its_own_places_or_public_ones() {
    let (c, mut l) = setup();
    let mut p = produce_body("GREEN-1", "600");
    p.origin = at(gln_under(PROCESSOR_PREFIX, 1));
    let err = l.refuse(&l.sign(&c.producer, Body::Produce(p.clone())));
    assert!(
        matches!(
            err,
            RuleError::ForeignGln {
                place: "origin",
                ..
            }
        ),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &[
            gln_under(PROCESSOR_PREFIX, 1).as_str(),
            "origin",
            &c.processor.name,
            PROCESSOR_PREFIX,
        ],
    );
    // The key data elements' source is judged the same.
    let mut v2 = produce_v2_body("GREEN-1", "600");
    v2.kdes.tlc_source = Some(at(gln_under(BRAND_PREFIX, 1)));
    let err = l.refuse(&l.sign(&c.producer, Body::ProduceV2(v2.clone())));
    assert!(
        matches!(
            err,
            RuleError::ForeignGln {
                place: "tlc_source",
                ..
            }
        ),
        "{err:?}"
    );
    // Its own farm, or a place of nobody in the consortium.
    v2.kdes.tlc_source = Some(at(gln_under(PRODUCER_PREFIX, 1)));
    v2.produce.origin = at(gln_under(NOBODYS_PREFIX, 1));
    l.record(&c.producer, Body::ProduceV2(v2));
    p.lot = lot("GREEN-2");
    p.origin = at(gln_under(PRODUCER_PREFIX, 2));
    l.record(&c.producer, Body::Produce(p));
}

#[test]
fn a_dispatch_names_places_of_its_parties_or_public_ones() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    // To the brand's warehouse: the brand is no party to it.
    let mut d = dispatch_body("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.carrier.pk));
    d.from = at(gln_under(PRODUCER_PREFIX, 1));
    d.to = at(gln_under(BRAND_PREFIX, 1));
    let err = l.refuse(&l.sign(&c.producer, Body::Dispatch(d.clone())));
    assert!(
        matches!(err, RuleError::ForeignGln { place: "to", .. }),
        "{err:?}"
    );
    assert_mentions(
        &err,
        &[
            gln_under(BRAND_PREFIX, 1).as_str(),
            &c.brand.name,
            BRAND_PREFIX,
            "public",
        ],
    );
    // The sender's gate to the consignee's dock.
    d.to = at(gln_under(PROCESSOR_PREFIX, 1));
    l.record(&c.producer, Body::Dispatch(d));
}

#[test]
fn a_trader_names_the_producers_place_as_the_lot_codes_source() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.distributor.pk, None),
    );
    l.record(&c.distributor, receive("S-1"));
    let mut d = dispatch_v2_body("S-2", &[("GREEN-1", Some(kg("100")))], &c.retailer.pk, None);
    d.kdes.tlc_source = Some(at(gln_under(BRAND_PREFIX, 1)));
    let err = l.refuse(&l.sign(&c.distributor, Body::DispatchV2(d.clone())));
    assert!(
        matches!(
            err,
            RuleError::ForeignGln {
                place: "tlc_source",
                ..
            }
        ),
        "{err:?}"
    );
    d.kdes.tlc_source = Some(at(gln_under(PRODUCER_PREFIX, 1)));
    d.from = at(gln_under(NOBODYS_PREFIX, 1));
    d.to = at(gln_under(NOBODYS_PREFIX, 2));
    l.record(&c.distributor, Body::DispatchV2(d));
}

#[test]
fn a_receipt_names_a_place_of_the_shipments_parties_or_a_public_one() {
    let (c, mut l) = setup();
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.carrier.pk)),
    );
    // The carrier takes it over at the sender's gate.
    let mut r = receive_v2_body("S-1", &[]);
    r.at = at(gln_under(PRODUCER_PREFIX, 1));
    l.record(&c.carrier, Body::ReceiveV2(r.clone()));
    // The consignee cannot sign for it at the brand's dock...
    r.at = at(gln_under(BRAND_PREFIX, 1));
    let err = l.refuse(&l.sign(&c.processor, Body::ReceiveV2(r.clone())));
    assert!(
        matches!(err, RuleError::ForeignGln { place: "at", .. }),
        "{err:?}"
    );
    assert_mentions(&err, &[&c.brand.name, "sender, consignee or carriers"]);
    let mut r1 = match receive("S-1") {
        Body::Receive(r) => r,
        _ => unreachable!(),
    };
    r1.at = at(gln_under(BRAND_PREFIX, 1));
    let err = l.refuse(&l.sign(&c.processor, Body::Receive(r1)));
    assert!(matches!(err, RuleError::ForeignGln { .. }), "{err:?}");
    // ...but at its own.
    r.at = at(gln_under(PROCESSOR_PREFIX, 1));
    l.record(&c.processor, Body::ReceiveV2(r));
}

#[test]
fn a_handover_happens_at_a_public_port_or_a_partys_place() {
    let c = Consortium::new();
    let carrier2 = Party::new("Pacific Lines", 41, &[Role::Carrier]);
    let mut l = Ledger::new(&with_members(&c.genesis, &[&carrier2]));
    l.record(&c.producer, produce("GREEN-1", "600"));
    l.record(
        &c.producer,
        dispatch("S-1", &["GREEN-1"], &c.processor.pk, Some(&c.carrier.pk)),
    );
    l.record(&c.carrier, receive("S-1"));
    let mut h = match handover("S-1", &carrier2.pk) {
        Body::Handover(h) => h,
        _ => unreachable!(),
    };
    h.at = at(gln_under(BRAND_PREFIX, 7));
    let e = cosigned(l.sign(&c.carrier, Body::Handover(h.clone())), &[&carrier2]);
    let err = l.refuse(&e);
    assert!(
        matches!(err, RuleError::ForeignGln { place: "at", .. }),
        "{err:?}"
    );
    h.at = at(gln_under(NOBODYS_PREFIX, 7));
    let e = cosigned(l.sign(&c.carrier, Body::Handover(h)), &[&carrier2]);
    l.commit(&e);
}

/// An admin quorum's entry adding `spec`.
fn adding(c: &Consortium, l: &Ledger, spec: MemberSpec) -> waybill_core::entry::SignedEntry {
    cosigned(l.sign(&c.admins[0], add_member(spec)), &[&c.admins[1]])
}

#[test]
fn a_new_member_may_not_take_or_overlap_another_members_prefix() {
    let (c, mut l) = setup();
    // The producer's own prefix, one extending it, and one it extends.
    let longer = format!("{PRODUCER_PREFIX}5");
    let shorter = &PRODUCER_PREFIX[..5];
    for (seed, taken) in [(71, PRODUCER_PREFIX), (72, longer.as_str()), (73, shorter)] {
        let spec = member("Copycat Coffee", seed, &[NOBODYS_PREFIX, taken]);
        let err = l.refuse(&adding(&c, &l, spec));
        assert!(matches!(err, RuleError::Membership(_)), "{err:?}");
        assert_mentions(
            &err,
            &[
                taken,
                PRODUCER_PREFIX,
                "Finca La Esperanza",
                "Copycat Coffee",
            ],
        );
    }
    // A free prefix is given.
    let newcomer = Party::new("Exportadora Nueva", 74, &[Role::Producer]);
    let spec = MemberSpec {
        gs1_company_prefixes: vec![prefix(NOBODYS_PREFIX)],
        ..newcomer.spec("CO")
    };
    l.commit(&adding(&c, &l, spec));
    l.record(&newcomer, produce_lot(&gs1_lot(NOBODYS_PREFIX, "N1")));
    // And is then taken: the next member may not have it either.
    let err = l.refuse(&adding(
        &c,
        &l,
        member("Second Comer", 75, &[NOBODYS_PREFIX]),
    ));
    assert_mentions(&err, &[NOBODYS_PREFIX, "Exportadora Nueva"]);
}

#[test]
fn a_removed_members_prefix_stays_its_own() {
    let (c, mut l) = setup();
    let remove = cosigned(
        l.sign(&c.admins[0], remove_member(&c.producer.pk)),
        &[&c.admins[1]],
    );
    l.commit(&remove);
    let err = l.refuse(&adding(&c, &l, member("Heir", 76, &[PRODUCER_PREFIX])));
    assert_mentions(
        &err,
        &[PRODUCER_PREFIX, "Finca La Esperanza", "former member"],
    );
}

#[test]
fn a_new_member_may_not_list_overlapping_prefixes_of_its_own() {
    let (c, l) = setup();
    let longer = format!("{NOBODYS_PREFIX}1");
    for (seed, second) in [(77, NOBODYS_PREFIX), (78, longer.as_str())] {
        let spec = member("Doubled", seed, &[NOBODYS_PREFIX, second]);
        let err = l.refuse(&adding(&c, &l, spec));
        assert!(matches!(err, RuleError::Membership(_)), "{err:?}");
        assert_mentions(&err, &["Doubled", second]);
    }
}

#[test]
fn a_rotated_key_keeps_its_members_prefixes() {
    let (c, mut l) = setup();
    let new = Party::new("Finca La Esperanza", 70, &[Role::Producer]);
    let rotate = cosigned(
        l.sign(&c.admins[0], rotate_key(&c.producer.pk, &new.pk)),
        &[&c.admins[1]],
    );
    l.commit(&rotate);
    l.record(&new, produce_lot(&gs1_lot(PRODUCER_PREFIX, "B1")));
    let err = l.refuse(&l.sign(&new, produce_lot(&gs1_lot(BRAND_PREFIX, "B1"))));
    assert!(matches!(err, RuleError::ForeignGtin { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------
// Trails replay the same rules

const NO_CERTS: Policy = Policy {
    require_certificates: false,
};

#[test]
fn a_trail_whose_production_uses_a_foreign_gtin_fails_to_verify() {
    let c = Consortium::new();
    let v = c.validators[0].0.clone();
    let brands = gs1_lot(BRAND_PREFIX, "FAKE-1");
    let own = gs1_lot(PRODUCER_PREFIX, "REAL-1");
    let mut chain = Chain::new(&c.genesis);
    let real = chain.sign(&c.producer, produce_lot(&own));
    chain.push_block(&v, vec![real]);
    // A dishonest proposer lets the producer mint under the brand's prefix.
    let fake = chain.sign(&c.producer, produce_lot(&brands));
    chain.push_unchecked(&v, vec![fake], std::slice::from_ref(&brands), &[]);

    trail::verify(&c.genesis, &store_trail(&c, &chain, &own, None), NO_CERTS).unwrap();
    let err = trail::verify(
        &c.genesis,
        &store_trail(&c, &chain, &brands, None),
        NO_CERTS,
    )
    .unwrap_err();
    assert_mentions(
        &err,
        &[
            gtin_under(BRAND_PREFIX, 1).as_str(),
            &c.producer.name,
            &c.brand.name,
        ],
    );
}

#[test]
fn a_trail_does_not_judge_an_sscc_through_a_lot_it_does_not_show() {
    // The distributor ships the producer's and the brand's lots on the
    // brand's pallet label: the brand's lot is outside the trail of the
    // producer's, so that trail cannot tell whose label it is.
    let c = Consortium::new();
    let v = c.validators[0].0.clone();
    let mut chain = Chain::new(&c.genesis);
    let b1 = vec![
        chain.sign(&c.producer, produce("GREEN-1", "600")),
        chain.sign(&c.brand, produce("BISCUITS-1", "100")),
    ];
    chain.push_block(&v, b1);
    let b2 = vec![
        chain.sign(
            &c.producer,
            dispatch("S-1", &["GREEN-1"], &c.distributor.pk, None),
        ),
        chain.sign(
            &c.brand,
            dispatch("S-2", &["BISCUITS-1"], &c.distributor.pk, None),
        ),
    ];
    chain.push_block(&v, b2);
    let b3 = vec![
        chain.sign(&c.distributor, receive("S-1")),
        chain.sign(&c.distributor, receive("S-2")),
    ];
    chain.push_block(&v, b3);
    let label = sscc_under(BRAND_PREFIX, 9);
    let d = dispatch_as(&label, &["GREEN-1", "BISCUITS-1"], &c.retailer, None);
    let e = chain.sign(&c.distributor, Body::Dispatch(d));
    chain.push_block(&v, vec![e]);

    for lot_id in ["GREEN-1", "BISCUITS-1"] {
        let t = store_trail(&c, &chain, &lot(lot_id), None);
        trail::verify(&c.genesis, &t, NO_CERTS).unwrap();
    }
}

#[test]
fn a_trail_refuses_an_sscc_of_a_stranger_when_it_shows_every_lot() {
    let c = Consortium::new();
    let v = c.validators[0].0.clone();
    let mut chain = Chain::new(&c.genesis);
    let p = chain.sign(&c.producer, produce("GREEN-1", "600"));
    chain.push_block(&v, vec![p]);
    let label = sscc_under(BRAND_PREFIX, 9);
    let d = dispatch_as(&label, &["GREEN-1"], &c.processor, None);
    let e = chain.sign(&c.producer, Body::Dispatch(d));
    chain.push_unchecked(&v, vec![e], &[lot("GREEN-1")], std::slice::from_ref(&label));
    let err = trail::verify(
        &c.genesis,
        &store_trail(&c, &chain, &lot("GREEN-1"), None),
        NO_CERTS,
    )
    .unwrap_err();
    assert_mentions(&err, &[label.sscc().unwrap().as_str(), &c.brand.name]);
}
