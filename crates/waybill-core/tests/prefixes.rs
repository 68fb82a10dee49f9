//! GS1 company prefixes are owned (issue 26, item 5): genesis gives each
//! prefix to one member, no prefix equal to or starting another.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::*;
use waybill_core::genesis::{prefix_conflict, Genesis, GenesisError, MemberSpec, Role};
use waybill_core::gs1::CompanyPrefix;

/// A prefix no member of the test consortium owns.
const NOBODYS_PREFIX: &str = "9600000";

fn prefix(s: &str) -> CompanyPrefix {
    s.parse().unwrap()
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
