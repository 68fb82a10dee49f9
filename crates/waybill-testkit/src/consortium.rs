//! The test consortium: deterministic keys, parties with names and roles,
//! and a genesis with one member per role, three admins, a brand that
//! owns a GS1 company prefix, validators and an outsider. The producer and
//! the processor own prefixes too, for the GTINs and SSCCs they mint
//! ([`PRODUCER_PREFIX`], [`PROCESSOR_PREFIX`]); the carrier, distributor
//! and retailer own none.
//!
//! [`Consortium::new`] is the consortium most tests use (four validators
//! with powers 40/30/20/10); [`Consortium::builder`] changes its chain name,
//! puts one validator in their place (whose single signature certifies a
//! block) or sets consensus parameters. The members, their keys and their
//! names are the same in every variant.

use ed25519_dalek::SigningKey;
use waybill_core::crypto::{self, PublicKey};
use waybill_core::genesis::{
    ChainId, ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};

/// A fixed base time (2023-11-14T22:13:20Z), so every entry is reproducible.
pub const T0: i64 = 1_700_000_000_000;

/// The GS1 company prefix owned by [`Consortium::brand`].
pub const BRAND_PREFIX: &str = "9506000";
/// The GS1 company prefix owned by [`Consortium::producer`].
pub const PRODUCER_PREFIX: &str = "7701234";
/// The GS1 company prefix owned by [`Consortium::processor`].
pub const PROCESSOR_PREFIX: &str = "4012345";
/// A valid GTIN carrying [`BRAND_PREFIX`].
pub const BRAND_GTIN: &str = "09506000134352";
/// A valid GTIN that does not carry [`BRAND_PREFIX`].
pub const FOREIGN_GTIN: &str = "00000096385074";

/// The signing key with 32 bytes of `seed`.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// One party: a member, a validator or an outsider.
#[derive(Debug, Clone)]
pub struct Party {
    /// Its name in genesis.
    pub name: String,
    /// Its signing key ([`key`] of its seed).
    pub key: SigningKey,
    /// Its public key.
    pub pk: PublicKey,
    /// Its roles (none for validators).
    pub roles: Vec<Role>,
}

impl Party {
    /// A party whose key is [`key`]`(seed)`.
    pub fn new(name: &str, seed: u8, roles: &[Role]) -> Self {
        let key = key(seed);
        let pk = crypto::public_key(&key);
        Party {
            name: name.to_owned(),
            key,
            pk,
            roles: roles.to_vec(),
        }
    }

    /// This party's genesis member entry, in `country` (ISO 3166 alpha-2).
    pub fn spec(&self, country: &str) -> MemberSpec {
        MemberSpec {
            name: self.name.clone(),
            public_key: self.pk,
            roles: self.roles.clone(),
            country: Some(country.parse().expect("a country code")),
            gs1_company_prefixes: Vec::new(),
        }
    }
}

/// The members of a consortium by role, as a workload draws on them.
///
/// [`Consortium`] has one party per role; the benchmark's
/// [`crate::workload::BenchConsortium`] has many.
pub trait Roster {
    /// The genesis these parties are members of.
    fn genesis(&self) -> &Genesis;
    /// Members that produce raw lots.
    fn producers(&self) -> &[Party];
    /// Members that process lots into new lots.
    fn processors(&self) -> &[Party];
    /// Members that carry shipments.
    fn carriers(&self) -> &[Party];
    /// Members that receive goods at the end.
    fn retailers(&self) -> &[Party];
    /// Members that pay.
    fn payers(&self) -> &[Party];
    /// The validator that proposes and certifies blocks.
    fn validator(&self) -> &Party;
    /// The member with this key and its role, if it is one of these parties.
    fn member(&self, pk: &PublicKey) -> Option<(&Party, Role)>;
}

/// Which validators a [`Consortium`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validators {
    /// `validator-1`..`validator-4` (seeds 101..104) with power 40, 30,
    /// 20, 10 (total 100; more than 66 needed), with p2p addresses.
    #[default]
    Weighted,
    /// One validator, `Validator One` (seed 100, power 1), whose signature
    /// alone certifies a block.
    Single,
}

/// Options for a [`Consortium`].
#[derive(Debug, Clone)]
pub struct ConsortiumBuilder {
    chain_name: String,
    validators: Validators,
    consensus: ConsensusParams,
}

impl Default for ConsortiumBuilder {
    fn default() -> Self {
        ConsortiumBuilder {
            chain_name: "waybill-test-consortium".into(),
            validators: Validators::Weighted,
            consensus: ConsensusParams::default(),
        }
    }
}

impl ConsortiumBuilder {
    /// Another chain name (hence another chain id).
    pub fn chain_name(mut self, name: &str) -> Self {
        self.chain_name = name.to_owned();
        self
    }

    /// Other validators.
    pub fn validators(mut self, v: Validators) -> Self {
        self.validators = v;
        self
    }

    /// One validator ([`Validators::Single`]).
    pub fn single_validator(self) -> Self {
        self.validators(Validators::Single)
    }

    /// Another `max_block_entries`.
    pub fn max_block_entries(mut self, n: u32) -> Self {
        self.consensus.max_block_entries = n;
        self
    }

    /// The consortium; its genesis is checked.
    pub fn build(self) -> Consortium {
        use Role::*;
        let producer = Party::new("Finca La Esperanza", 1, &[Producer]);
        let processor = Party::new("Rösterei Hamburg", 2, &[Processor]);
        let carrier = Party::new("Atlantic Freight", 3, &[Carrier]);
        let distributor = Party::new("Nordic Distribution", 4, &[Distributor]);
        let retailer = Party::new("Corner Café Shop", 5, &[Retailer]);
        let payer = Party::new("Banco de Pagos", 6, &[Payer]);
        let auditor = Party::new("Clear Audit", 7, &[Auditor]);
        let admins = [
            Party::new("Consortium Admin A", 8, &[Admin]),
            Party::new("Consortium Admin B", 9, &[Admin]),
            Party::new("Consortium Admin C", 10, &[Admin]),
        ];
        let brand = Party::new("Brand Foods", 11, &[Producer]);
        let (validators, p2p) = match self.validators {
            Validators::Weighted => (
                vec![
                    (Party::new("validator-1", 101, &[]), 40),
                    (Party::new("validator-2", 102, &[]), 30),
                    (Party::new("validator-3", 103, &[]), 20),
                    (Party::new("validator-4", 104, &[]), 10),
                ],
                true,
            ),
            Validators::Single => (vec![(Party::new("Validator One", 100, &[]), 1)], false),
        };
        let outsider = Party::new("Outsider Ltd", 99, &[Producer]);

        let owning = |p: &Party, country: &str, prefix: &str| MemberSpec {
            gs1_company_prefixes: vec![prefix.parse().expect("a GS1 prefix")],
            ..p.spec(country)
        };
        let mut members = vec![
            owning(&producer, "CO", PRODUCER_PREFIX),
            owning(&processor, "DE", PROCESSOR_PREFIX),
            carrier.spec("PA"),
            distributor.spec("SE"),
            retailer.spec("DE"),
            payer.spec("ES"),
            auditor.spec("CH"),
        ];
        members.extend(admins.iter().map(|a| a.spec("BE")));
        members.push(owning(&brand, "NL", BRAND_PREFIX));
        let genesis = Genesis {
            chain_name: self.chain_name,
            members,
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, (v, power))| ValidatorSpec {
                    name: v.name.clone(),
                    public_key: v.pk,
                    power: *power,
                    p2p: if p2p {
                        vec![format!("/ip4/127.0.0.1/tcp/{}", 26656 + i)]
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
            consensus: self.consensus,
            governance: Governance::default(),
            yields: Vec::new(),
        };
        genesis.validate().expect("the test genesis is valid");
        Consortium {
            chain_id: genesis.chain_id(),
            genesis,
            producer,
            processor,
            carrier,
            distributor,
            retailer,
            payer,
            auditor,
            admins,
            brand,
            validator: validators[0].0.clone(),
            validators,
            outsider,
        }
    }
}

/// A deterministic test consortium: one member per role, three admins, a
/// brand, validators, and an outsider that is not a member. The
/// producer, the processor and the brand own GS1 company prefixes.
#[derive(Debug, Clone)]
pub struct Consortium {
    /// The genesis.
    pub genesis: Genesis,
    /// Its chain id.
    pub chain_id: ChainId,
    /// Role `producer` (`Finca La Esperanza`, CO), with GS1 company prefix
    /// [`PRODUCER_PREFIX`].
    pub producer: Party,
    /// Role `processor`, with GS1 company prefix [`PROCESSOR_PREFIX`].
    pub processor: Party,
    /// Role `carrier`.
    pub carrier: Party,
    /// Role `distributor`.
    pub distributor: Party,
    /// Role `retailer`.
    pub retailer: Party,
    /// Role `payer`.
    pub payer: Party,
    /// Role `auditor`.
    pub auditor: Party,
    /// Three members with role `admin`.
    pub admins: [Party; 3],
    /// A producer with GS1 company prefix [`BRAND_PREFIX`].
    pub brand: Party,
    /// The validators and their voting power.
    pub validators: Vec<(Party, u64)>,
    /// The first validator (the proposer in single-proposer tests).
    pub validator: Party,
    /// A key that is in neither the members nor the validators.
    pub outsider: Party,
}

impl Default for Consortium {
    fn default() -> Self {
        Self::new()
    }
}

impl Consortium {
    /// The consortium most tests use: chain `waybill-test-consortium`,
    /// four weighted validators.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// The same members under another chain name (hence another chain id).
    pub fn named(chain_name: &str) -> Self {
        Self::builder().chain_name(chain_name).build()
    }

    /// Options, starting from [`Consortium::new`]'s.
    pub fn builder() -> ConsortiumBuilder {
        ConsortiumBuilder::default()
    }

    /// Its chain id.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// Every member (not validators, not the outsider), in genesis order.
    pub fn members(&self) -> Vec<&Party> {
        let mut v = vec![
            &self.producer,
            &self.processor,
            &self.carrier,
            &self.distributor,
            &self.retailer,
            &self.payer,
            &self.auditor,
        ];
        v.extend(self.admins.iter());
        v.push(&self.brand);
        v
    }

    /// The members that hold goods in a workload.
    pub fn handlers(&self) -> [&Party; 4] {
        [
            &self.producer,
            &self.processor,
            &self.carrier,
            &self.retailer,
        ]
    }

    /// The member with this key.
    pub fn party(&self, pk: &PublicKey) -> &Party {
        self.members()
            .into_iter()
            .find(|p| &p.pk == pk)
            .expect("a member of the test consortium")
    }
}

impl Roster for Consortium {
    fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    fn producers(&self) -> &[Party] {
        std::slice::from_ref(&self.producer)
    }
    fn processors(&self) -> &[Party] {
        std::slice::from_ref(&self.processor)
    }
    fn carriers(&self) -> &[Party] {
        std::slice::from_ref(&self.carrier)
    }
    fn retailers(&self) -> &[Party] {
        std::slice::from_ref(&self.retailer)
    }
    fn payers(&self) -> &[Party] {
        std::slice::from_ref(&self.payer)
    }
    fn validator(&self) -> &Party {
        &self.validator
    }
    fn member(&self, pk: &PublicKey) -> Option<(&Party, Role)> {
        self.members()
            .into_iter()
            .find(|p| &p.pk == pk)
            .and_then(|p| p.roles.first().map(|r| (p, *r)))
    }
}
