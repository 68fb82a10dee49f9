//! The benchmark's consortium: groups of members with several members
//! per role, on one genesis with its auditor and validators.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use waybill_core::crypto::PublicKey;
use waybill_core::genesis::{
    ChainId, ConsensusParams, Genesis, Governance, MemberSpec, Role, ValidatorSpec,
};

use super::error::{internal, Result};
use crate::consortium::{Party, Roster};
use crate::error::{parse, KitError};

/// The benchmark's consortium: one or more groups of members with several
/// members per role, an auditor and one or more validators.
#[derive(Debug, Clone)]
pub struct BenchConsortium {
    /// The genesis.
    pub genesis: Genesis,
    chain_id: ChainId,
    producers: Vec<Party>,
    processors: Vec<Party>,
    carriers: Vec<Party>,
    retailers: Vec<Party>,
    payers: Vec<Party>,
    /// The first validator (with [`BenchConsortium::new`], the only one, which
    /// proposes every block).
    pub validator: Party,
    /// Every validator, in genesis order (`validator` is the first).
    validators: Vec<Party>,
    /// An auditor and the one admin (signs audit bundles and governance
    /// entries; the workloads record nothing with it).
    auditor: Party,
    by_key: BTreeMap<PublicKey, (Party, Role)>,
}

impl BenchConsortium {
    /// 12 producers, 4 processors, 3 carriers, 6 retailers, 2 payers and
    /// one validator; each producer and processor owns a GS1 company
    /// prefix.
    pub fn new() -> Result<Self> {
        Self::groups(1, 1)?
            .pop()
            .ok_or_else(|| internal("no consortium group"))
    }

    /// One chain whose genesis holds `groups` disjoint groups of members
    /// (each as many as [`BenchConsortium::new`]: 12 producers, 4 processors, 3
    /// carriers, 6 retailers, 2 payers) and `validators` validators, all
    /// with fixed keys. Returns one `BenchConsortium` per group: the same genesis
    /// and validators, but only that group's members as parties, so a
    /// [`Workload`] over one group never touches another group's members,
    /// nonces, lots or shipments (give each group its own seed: free lot
    /// and shipment ids carry it). `groups(1, 1)` is [`BenchConsortium::new`].
    ///
    /// [`Workload`]: super::Workload
    pub fn groups(groups: usize, validators: usize) -> Result<Vec<Self>> {
        const SIZES: [(&str, Role, &str, usize); 5] = [
            ("Producer", Role::Producer, "CO", 12),
            ("Processor", Role::Processor, "CO", 4),
            ("Carrier", Role::Carrier, "PA", 3),
            ("Retailer", Role::Retailer, "DE", 6),
            ("Payer", Role::Payer, "CO", 2),
        ];
        let per_group: usize = SIZES.iter().map(|s| s.3).sum();
        if groups == 0 || validators == 0 || groups * per_group > 199 || validators > 56 {
            return Err(KitError::Workload(
                "a benchmark consortium has 1 to 7 groups and 1 to 56 validators".into(),
            ));
        }
        // Member keys are seeds 1, 2, ... in group, then role order (one
        // group: exactly the keys and names `new` always had); validator
        // keys are seeds 200, 201, ...
        let mut seed = 0u8;
        let mut index = [0usize; 5];
        let mut members = Vec::new();
        let mut parties: Vec<[Vec<Party>; 5]> = Vec::new();
        for _ in 0..groups {
            let mut group: [Vec<Party>; 5] = Default::default();
            for (r, (label, role, country, n)) in SIZES.iter().enumerate() {
                for _ in 0..*n {
                    seed += 1;
                    let p = Party::new(&format!("{label} {}", index[r]), seed, &[*role]);
                    index[r] += 1;
                    // Producers and processors mint GTINs and SSCCs
                    // under a GS1 company prefix of their own (`77` and
                    // the key's seed: seven digits, none starting
                    // another); carriers, retailers and payers own none.
                    let gs1_company_prefixes = match role {
                        Role::Producer | Role::Processor => {
                            vec![parse("GS1 company prefix", &format!("77{seed:05}"))?]
                        }
                        _ => Vec::new(),
                    };
                    members.push(MemberSpec {
                        name: p.name.clone(),
                        public_key: p.pk,
                        roles: vec![*role],
                        country: Some(parse("country", country)?),
                        gs1_company_prefixes,
                    });
                    group[r].push(p);
                }
            }
            parties.push(group);
        }
        // The auditor is the consortium's one admin too (it signs
        // governance entries, which the network benchmark can make).
        let auditor = Party::new("Auditor", 250, &[Role::Auditor, Role::Admin]);
        members.push(MemberSpec {
            name: auditor.name.clone(),
            public_key: auditor.pk,
            roles: vec![Role::Auditor, Role::Admin],
            country: Some(parse("country", "DE")?),
            gs1_company_prefixes: Vec::new(),
        });
        let vparties: Vec<Party> = (0..validators)
            .map(|i| {
                let name = if i == 0 {
                    "Validator One".to_string()
                } else {
                    format!("Validator {}", i + 1)
                };
                Party::new(&name, 200 + i as u8, &[])
            })
            .collect();
        let genesis = Genesis {
            chain_name: "waybill-bench".into(),
            members,
            validators: vparties
                .iter()
                .map(|v| ValidatorSpec {
                    name: v.name.clone(),
                    public_key: v.pk,
                    power: 1,
                    p2p: Vec::new(),
                })
                .collect(),
            consensus: ConsensusParams::default(),
            governance: Governance::default(),
            yields: Vec::new(),
        };
        genesis
            .validate()
            .map_err(|e| KitError::Workload(format!("the benchmark genesis is invalid: {e}")))?;
        let chain_id = genesis.chain_id();
        let validator = vparties
            .first()
            .cloned()
            .ok_or_else(|| internal("no validator"))?;
        parties
            .into_iter()
            .map(|[producers, processors, carriers, retailers, payers]| {
                let mut by_key = BTreeMap::new();
                for (ps, (_, role, _, _)) in
                    [&producers, &processors, &carriers, &retailers, &payers]
                        .into_iter()
                        .zip(SIZES.iter())
                {
                    for p in ps {
                        by_key.insert(p.pk, (p.clone(), *role));
                    }
                }
                Ok(BenchConsortium {
                    genesis: genesis.clone(),
                    chain_id,
                    producers,
                    processors,
                    carriers,
                    retailers,
                    payers,
                    validator: validator.clone(),
                    validators: vparties.clone(),
                    auditor: auditor.clone(),
                    by_key,
                })
            })
            .collect()
    }

    /// The auditor's signing key.
    pub fn auditor_key(&self) -> &SigningKey {
        &self.auditor.key
    }

    /// The admin's signing key (the auditor's): alone it is the quorum.
    pub fn admin_key(&self) -> &SigningKey {
        &self.auditor.key
    }

    /// The validators' signing keys, in genesis order.
    pub fn validator_keys(&self) -> Vec<SigningKey> {
        self.validators.iter().map(|v| v.key.clone()).collect()
    }

    /// The signing key of one of this group's members.
    pub fn member_key(&self, pk: &PublicKey) -> Option<&SigningKey> {
        self.by_key.get(pk).map(|(p, _)| &p.key)
    }

    /// The chain id.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }
}

impl Roster for BenchConsortium {
    fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    fn producers(&self) -> &[Party] {
        &self.producers
    }
    fn processors(&self) -> &[Party] {
        &self.processors
    }
    fn carriers(&self) -> &[Party] {
        &self.carriers
    }
    fn retailers(&self) -> &[Party] {
        &self.retailers
    }
    fn payers(&self) -> &[Party] {
        &self.payers
    }
    fn validator(&self) -> &Party {
        &self.validator
    }
    fn member(&self, pk: &PublicKey) -> Option<(&Party, Role)> {
        self.by_key.get(pk).map(|(p, r)| (p, *r))
    }
}
