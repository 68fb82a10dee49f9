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
