//! The genesis file: the chain's name, members, validators and parameters.
//!
//! Humans edit it as TOML. The chain id is the SHA-256 of its canonical
//! encoding (under the genesis domain tag), so every signature, which
//! commits to the chain id, is worthless on any other chain.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::codes::{Country, Decimal3};
use crate::crypto::{Domain, Hash32, PublicKey};
use crate::gs1::CompanyPrefix;

/// A chain id: the hash of the genesis.
pub type ChainId = Hash32;

/// What a member may record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Produces lots from nothing recorded (farms, mines, fisheries).
    Producer,
    /// Makes lots from input lots (roasters, mills, factories).
    Processor,
    /// Carries shipments.
    Carrier,
    /// Holds and redistributes goods.
    Distributor,
    /// Sells to consumers.
    Retailer,
    /// Records payments.
    Payer,
    /// Exports signed audit bundles.
    Auditor,
    /// Changes the membership, with a quorum of admins.
    Admin,
    /// A food-safety authority: may recall any lot.
    Regulator,
    /// A quality-assurance body: may recall or withdraw any lot.
    Quality,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 10] = [
        Role::Producer,
        Role::Processor,
        Role::Carrier,
        Role::Distributor,
        Role::Retailer,
        Role::Payer,
        Role::Auditor,
        Role::Admin,
        Role::Regulator,
        Role::Quality,
    ];

    /// The role's name as written in genesis.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Processor => "processor",
            Role::Carrier => "carrier",
            Role::Distributor => "distributor",
            Role::Retailer => "retailer",
            Role::Payer => "payer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Regulator => "regulator",
            Role::Quality => "quality",
        }
    }

    /// Whether the role handles goods (may hold custody).
    pub fn handles_goods(self) -> bool {
        matches!(
            self,
            Role::Producer | Role::Processor | Role::Carrier | Role::Distributor | Role::Retailer
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role `{s}`; roles are {}",
                    Role::ALL.map(|r| r.as_str()).join(", ")
                )
            })
    }
}

/// A member organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// Organisation name.
    pub name: String,
    /// Its signing key.
    pub public_key: PublicKey,
    /// What it may record.
    pub roles: Vec<Role>,
    /// Where it is registered.
    #[serde(default)]
    pub country: Option<Country>,
    /// GS1 company prefixes it owns. A prefix belongs to one member (no
    /// two prefixes of a chain overlap, see [`prefix_conflict`]); the
    /// GTINs and SSCCs a member mints must lie under its own prefixes, so
    /// a member without one records free ids only (the rules, module
    /// `rules::keys`, tell what each entry may name).
    #[serde(default)]
    pub gs1_company_prefixes: Vec<CompanyPrefix>,
}

impl MemberSpec {
    /// Whether the member has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The member and prefix among `members` that `candidate` would clash
/// with: the same prefix, or one that starts the other (`7709998` and
/// `77099981`), since every key under the longer one is under both. A
/// prefix belongs to at most one member, so genesis refuses any such pair
/// ([`Genesis::validate`]), a member's own included; assigning a prefix
/// later must ask the same question of the member table then (pass the
/// members that still own their prefixes).
pub fn prefix_conflict<'a>(
    members: impl IntoIterator<Item = &'a MemberSpec>,
    candidate: &CompanyPrefix,
) -> Option<(&'a MemberSpec, &'a CompanyPrefix)> {
    members.into_iter().find_map(|m| {
        m.gs1_company_prefixes
            .iter()
            .find(|p| p.overlaps(candidate))
            .map(|p| (m, p))
    })
}

/// Why two prefixes of a genesis may not both stand.
fn prefix_overlap_text(
    first: &str,
    first_prefix: &CompanyPrefix,
    second: &str,
    second_prefix: &CompanyPrefix,
) -> String {
    const RULE: &str =
        "a GS1 company prefix belongs to one member, and no prefix may start another";
    if first != second {
        return if first_prefix == second_prefix {
            format!("members `{first}` and `{second}` both list GS1 company prefix {first_prefix}; {RULE}")
        } else {
            format!(
                "GS1 company prefix {second_prefix} of `{second}` overlaps prefix {first_prefix} of `{first}` \
                 (one starts the other, so keys under the longer one would belong to both); {RULE}"
            )
        };
    }
    if first_prefix == second_prefix {
        return format!(
            "member `{first}` lists GS1 company prefix {first_prefix} twice; list it once"
        );
    }
    let shorter = if first_prefix.as_str().len() <= second_prefix.as_str().len() {
        first_prefix
    } else {
        second_prefix
    };
    format!(
        "member `{first}` lists GS1 company prefixes {first_prefix} and {second_prefix}, and one starts \
         the other; list only {shorter}, which holds every key of both"
    )
}

/// A consensus validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSpec {
    /// Who runs it, for people.
    pub name: String,
    /// Its consensus signing key.
    pub public_key: PublicKey,
    /// Voting power (> 0).
    pub power: u64,
    /// libp2p addresses where it listens, as hints for peers.
    #[serde(default)]
    pub p2p: Vec<String>,
}

/// Consensus timeouts and block limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParams {
    /// Propose timeout (ms).
    #[serde(default = "default_propose_ms")]
    pub timeout_propose_ms: u64,
    /// Prevote timeout (ms).
    #[serde(default = "default_vote_ms")]
    pub timeout_prevote_ms: u64,
    /// Precommit timeout (ms).
    #[serde(default = "default_vote_ms")]
    pub timeout_precommit_ms: u64,
    /// Most entries in one block.
    #[serde(default = "default_max_entries")]
    pub max_block_entries: u32,
}

fn default_propose_ms() -> u64 {
    1000
}
fn default_vote_ms() -> u64 {
    500
}
fn default_max_entries() -> u32 {
    10_000
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            timeout_propose_ms: default_propose_ms(),
            timeout_prevote_ms: default_vote_ms(),
            timeout_precommit_ms: default_vote_ms(),
            max_block_entries: default_max_entries(),
        }
    }
}

/// Membership governance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Governance {
    /// Admin signatures a membership change needs. Unset: more than half
    /// of the admins at the time.
    #[serde(default)]
    pub admin_threshold: Option<u32>,
}

/// The genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain's name, for people.
    pub chain_name: String,
    /// Members at the start.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    /// The validator set.
    #[serde(default)]
    pub validators: Vec<ValidatorSpec>,
    /// Consensus parameters.
    #[serde(default)]
    pub consensus: ConsensusParams,
    /// Governance parameters.
    #[serde(default)]
    pub governance: Governance,
    /// Mass-balance rules for transformations. Encoded only when there are
    /// any, so a genesis without them keeps the chain id it always had
    /// (see [`Genesis::from_canonical_bytes`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yields: Vec<YieldRule>,
}

/// A mass-balance rule: a transformation's yield (what it produces over
/// what it consumes, both in the output's unit) must lie within
/// `min..=max`. The most specific rule applies: one naming the member and
/// the product, then the product, then the member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YieldRule {
    /// The member (by name) it binds; unset: every member.
    #[serde(default)]
    pub member: Option<String>,
    /// The output product (its GTIN or free product id); unset: every
    /// product.
    #[serde(default)]
    pub product: Option<String>,
    /// The lowest yield allowed, e.g. `0.78` for green to roasted coffee.
    pub min: Decimal3,
    /// The highest.
    pub max: Decimal3,
}

/// The yield rule among `rules` for a transformation by the member named
/// `member` producing a product known by `product` (its GTIN and free
/// id): the most specific one (member and product, then product, then
/// member).
pub fn find_yield_rule<'a>(
    rules: &'a [YieldRule],
    member: &str,
    product: &[&str],
) -> Option<&'a YieldRule> {
    let for_product = |r: &&YieldRule| r.product.as_deref().is_some_and(|p| product.contains(&p));
    let for_member = |r: &&YieldRule| r.member.as_deref() == Some(member);
    rules
        .iter()
        .find(|r| for_member(r) && for_product(r))
        .or_else(|| rules.iter().find(|r| r.member.is_none() && for_product(r)))
        .or_else(|| rules.iter().find(|r| for_member(r) && r.product.is_none()))
}

/// A genesis as encoded before it could carry yield rules: what
/// [`Genesis::from_canonical_bytes`] reads when there are none.
#[derive(Serialize, Deserialize)]
struct GenesisWithoutYields {
    chain_name: String,
    members: Vec<MemberSpec>,
    validators: Vec<ValidatorSpec>,
    consensus: ConsensusParams,
    governance: Governance,
}

/// A genesis with yield rules, as encoded.
#[derive(Serialize, Deserialize)]
struct GenesisWithYields {
    chain_name: String,
    members: Vec<MemberSpec>,
    validators: Vec<ValidatorSpec>,
    consensus: ConsensusParams,
    governance: Governance,
    yields: Vec<YieldRule>,
}

/// Why a genesis is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Not valid TOML or wrong shape.
    #[error("the genesis file is not valid: {0}")]
    Parse(String),
    /// Empty chain name.
    #[error("chain_name must not be empty")]
    EmptyChainName,
    /// No members.
    #[error("the genesis has no members; add at least one [[members]] entry")]
    NoMembers,
    /// A member without a name.
    #[error("member #{0} has an empty name")]
    EmptyMemberName(usize),
    /// Two members share a key.
    #[error("members `{first}` and `{second}` have the same public key {key}; every member needs its own key")]
    DuplicateMemberKey {
        /// First member.
        first: String,
        /// Second member.
        second: String,
        /// The key.
        key: PublicKey,
    },
    /// Two members share a name.
    #[error("two members are named `{0}`; names must be unique")]
    DuplicateMemberName(String),
    /// A member without roles.
    #[error("member `{0}` has no roles; give it at least one of producer, processor, carrier, distributor, retailer, payer, auditor, admin")]
    NoRoles(String),
    /// A role listed twice.
    #[error("member `{0}` lists role `{1}` twice")]
    DuplicateRole(String, Role),
    /// A key that is not a curve point.
    #[error("the public key of `{0}` is not a valid ed25519 key")]
    BadKey(String),
    /// No validators.
    #[error("the validator set is empty; add at least one [[validators]] entry")]
    NoValidators,
    /// Two validators share a key.
    #[error("validators `{0}` and `{1}` have the same public key")]
    DuplicateValidatorKey(String, String),
    /// A validator without power.
    #[error("validator `{0}` has voting power 0; power must be at least 1")]
    ZeroPower(String),
    /// Total power overflows.
    #[error("total voting power overflows")]
    PowerOverflow,
    /// The admin threshold cannot be met.
    #[error("governance.admin_threshold is {threshold} but there are {admins} admins; it must be between 1 and the number of admins")]
    BadAdminThreshold {
        /// Threshold.
        threshold: u32,
        /// Admins.
        admins: usize,
    },
    /// Bad consensus parameters.
    #[error("consensus parameter {0} must be more than zero")]
    BadConsensusParam(&'static str),
    /// A free text that is empty, too long or holds control characters
    /// (names and addresses are at most
    /// [`crate::transport::MAX_TEXT_CHARS`] characters).
    #[error("{field} {problem}")]
    BadText {
        /// Which field, for people (`members[2].name`).
        field: String,
        /// What is wrong, as the end of a sentence.
        problem: String,
    },
    /// A validator lists more p2p addresses than [`MAX_P2P_ADDRESSES`].
    #[error("validator `{0}` lists more than {MAX_P2P_ADDRESSES} p2p addresses")]
    TooManyAddresses(String),
    /// A yield rule that cannot be met or names no member.
    #[error("yields #{index}: {problem}")]
    BadYield {
        /// Which rule (from 1).
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// Two GS1 company prefixes overlap (see [`prefix_conflict`]).
    #[error("{}", prefix_overlap_text(.first, .first_prefix, .second, .second_prefix))]
    PrefixOverlap {
        /// The member listed first.
        first: String,
        /// Its prefix.
        first_prefix: CompanyPrefix,
        /// The member whose prefix clashes with it (may be the same).
        second: String,
        /// That prefix.
        second_prefix: CompanyPrefix,
    },
    /// `max_block_entries` above [`MAX_BLOCK_ENTRIES`].
    #[error("max_block_entries is {0}; at most {MAX_BLOCK_ENTRIES} are allowed")]
    TooManyBlockEntries(u32),
}

/// The most entries a genesis may allow in one block (2^20). Stores pack an
/// entry's index in its block into 24 bits, and a block this large is far
/// beyond what one consensus message carries anyway.
pub const MAX_BLOCK_ENTRIES: u32 = 1 << 20;

/// Most p2p addresses a validator lists in genesis.
pub const MAX_P2P_ADDRESSES: usize = 16;

impl Genesis {
    /// Parses and validates a TOML genesis.
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let g: Genesis = toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks everything a genesis must satisfy.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_name.trim().is_empty() {
            return Err(GenesisError::EmptyChainName);
        }
        if self.members.is_empty() {
            return Err(GenesisError::NoMembers);
        }
        let mut names = BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            if m.name.trim().is_empty() {
                return Err(GenesisError::EmptyMemberName(i + 1));
            }
            if !names.insert(m.name.as_str()) {
                return Err(GenesisError::DuplicateMemberName(m.name.clone()));
            }
            if let Some(first) = self.members[..i]
                .iter()
                .find(|o| o.public_key == m.public_key)
            {
                return Err(GenesisError::DuplicateMemberKey {
                    first: first.name.clone(),
                    second: m.name.clone(),
                    key: m.public_key,
                });
            }
            if m.public_key.check_registrable().is_err() {
                return Err(GenesisError::BadKey(m.name.clone()));
            }
            if m.roles.is_empty() {
                return Err(GenesisError::NoRoles(m.name.clone()));
            }
            let mut seen = BTreeSet::new();
            for r in &m.roles {
                if !seen.insert(*r) {
                    return Err(GenesisError::DuplicateRole(m.name.clone(), *r));
                }
            }
        }
        self.validate_prefixes()?;
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut total: u64 = 0;
        for (i, v) in self.validators.iter().enumerate() {
            if let Some(first) = self.validators[..i]
                .iter()
                .find(|o| o.public_key == v.public_key)
            {
                return Err(GenesisError::DuplicateValidatorKey(
                    first.name.clone(),
                    v.name.clone(),
                ));
            }
            if v.public_key.check_registrable().is_err() {
                return Err(GenesisError::BadKey(v.name.clone()));
            }
            if v.power == 0 {
                return Err(GenesisError::ZeroPower(v.name.clone()));
            }
            total = total
                .checked_add(v.power)
                .ok_or(GenesisError::PowerOverflow)?;
        }
        if let Some(t) = self.governance.admin_threshold {
            let admins = self.members.iter().filter(|m| m.has(Role::Admin)).count();
            if t == 0 || t as usize > admins {
                return Err(GenesisError::BadAdminThreshold {
                    threshold: t,
                    admins,
                });
            }
        }
        let c = &self.consensus;
        for (name, v) in [
            ("timeout_propose_ms", c.timeout_propose_ms),
            ("timeout_prevote_ms", c.timeout_prevote_ms),
            ("timeout_precommit_ms", c.timeout_precommit_ms),
            ("max_block_entries", u64::from(c.max_block_entries)),
        ] {
            if v == 0 {
                return Err(GenesisError::BadConsensusParam(name));
            }
        }
        if c.max_block_entries > MAX_BLOCK_ENTRIES {
            return Err(GenesisError::TooManyBlockEntries(c.max_block_entries));
        }
        self.validate_texts()?;
        self.validate_yields()
    }

    /// Refuses two prefixes that overlap, of two members or of one.
    fn validate_prefixes(&self) -> Result<(), GenesisError> {
        for (i, m) in self.members.iter().enumerate() {
            for (j, p) in m.gs1_company_prefixes.iter().enumerate() {
                // Earlier members' prefixes, then this member's earlier ones.
                let clash = prefix_conflict(&self.members[..i], p).or_else(|| {
                    m.gs1_company_prefixes[..j]
                        .iter()
                        .find(|q| q.overlaps(p))
                        .map(|q| (m, q))
                });
                if let Some((first, first_prefix)) = clash {
                    return Err(GenesisError::PrefixOverlap {
                        first: first.name.clone(),
                        first_prefix: first_prefix.clone(),
                        second: m.name.clone(),
                        second_prefix: p.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every name and address is a bounded text without control
    /// characters. Beyond being sane, the bound keeps the TOML writer
    /// within its limits: it counts runs of quotes in a byte, so a text
    /// with 256 quotes in a row was written wrongly (found by fuzzing).
    fn validate_texts(&self) -> Result<(), GenesisError> {
        let check = |field: String, text: &str| match crate::transport::text_fault(text) {
            Some(problem) => Err(GenesisError::BadText { field, problem }),
            None => Ok(()),
        };
        check("chain_name".into(), &self.chain_name)?;
        for (i, m) in self.members.iter().enumerate() {
            check(format!("members[{}].name", i + 1), &m.name)?;
        }
        for (i, v) in self.validators.iter().enumerate() {
            check(format!("validators[{}].name", i + 1), &v.name)?;
            if v.p2p.len() > MAX_P2P_ADDRESSES {
                return Err(GenesisError::TooManyAddresses(v.name.clone()));
            }
            for (k, a) in v.p2p.iter().enumerate() {
                check(format!("validators[{}].p2p[{}]", i + 1, k + 1), a)?;
            }
        }
        for (i, r) in self.yields.iter().enumerate() {
            if let Some(m) = &r.member {
                check(format!("yields[{}].member", i + 1), m)?;
            }
            if let Some(p) = &r.product {
                check(format!("yields[{}].product", i + 1), p)?;
            }
        }
        Ok(())
    }

    fn validate_yields(&self) -> Result<(), GenesisError> {
        let mut seen = BTreeSet::new();
        for (i, r) in self.yields.iter().enumerate() {
            let bad = |problem: String| GenesisError::BadYield {
                index: i + 1,
                problem,
            };
            if r.max.is_zero() || r.min > r.max {
                return Err(bad(format!(
                    "min {} and max {} must satisfy min <= max and max > 0",
                    r.min, r.max
                )));
            }
            if let Some(m) = &r.member {
                if !self.members.iter().any(|s| &s.name == m) {
                    return Err(bad(format!(
                        "names member `{m}`, which genesis does not have"
                    )));
                }
            }
            if r.member.is_none() && r.product.is_none() {
                return Err(bad("names neither a member nor a product".into()));
            }
            if !seen.insert((r.member.as_deref(), r.product.as_deref())) {
                return Err(bad("repeats an earlier rule's member and product".into()));
            }
        }
        Ok(())
    }

    /// Canonical bytes. Without yield rules, exactly the bytes of a genesis
    /// from before they existed (the field is not written), so old chain
    /// ids stay; with them, the rules follow the other fields.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Reads [`Genesis::canonical_bytes`] back (as a store keeps it).
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, codec::CodecError> {
        let g = match codec::decode_trusted::<GenesisWithoutYields>("genesis", bytes) {
            Ok(old) => Genesis {
                chain_name: old.chain_name,
                members: old.members,
                validators: old.validators,
                consensus: old.consensus,
                governance: old.governance,
                yields: Vec::new(),
            },
            Err(_) => {
                let new: GenesisWithYields = codec::decode_trusted("genesis", bytes)?;
                Genesis {
                    chain_name: new.chain_name,
                    members: new.members,
                    validators: new.validators,
                    consensus: new.consensus,
                    governance: new.governance,
                    yields: new.yields,
                }
            }
        };
        if g.canonical_bytes() != bytes {
            return Err(codec::CodecError::NotCanonical { what: "genesis" });
        }
        Ok(g)
    }

    /// The chain id.
    pub fn chain_id(&self) -> ChainId {
        Hash32::digest_in(Domain::Genesis, &self.canonical_bytes())
    }

    /// The member with this key in genesis.
    pub fn member(&self, key: &PublicKey) -> Option<&MemberSpec> {
        self.members.iter().find(|m| &m.public_key == key)
    }

    /// Total voting power.
    pub fn total_power(&self) -> u64 {
        self.validators
            .iter()
            .map(|v| v.power)
            .fold(0u64, u64::saturating_add)
    }
}
