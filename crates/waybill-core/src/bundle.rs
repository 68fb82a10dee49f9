//! Audit bundles: a trail in one JSON file, signed by the exporting
//! auditor, that verifies offline with only the genesis file.
//!
//! The file must be byte for byte the canonical JSON rendering of its
//! content, so changing any byte (even white space) fails verification.

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Certified};
use crate::codec;
use crate::crypto::{self, Domain, Hash32, PublicKey, Signature};
use crate::genesis::{Genesis, Role};
use crate::trail::{self, Policy, Trail, TrailError, TrailReport};

/// The `format` field of every bundle.
pub const BUNDLE_FORMAT: &str = "waybill-audit-bundle";
/// The bundle version this code writes and reads.
pub const BUNDLE_VERSION: u16 = 1;
/// Largest bundle file accepted (256 MiB).
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024 * 1024;

/// What the auditor signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleBody {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// [`BUNDLE_VERSION`].
    pub version: u16,
    /// The chain's name (informative; the chain id is what counts).
    pub chain_name: String,
    /// The chain id.
    pub chain_id: Hash32,
    /// When it was exported (the exporter's clock).
    pub exported_at_ms: i64,
    /// The exporting auditor's key.
    pub exporter: PublicKey,
    /// Whether the verifier must find a commit certificate on every block.
    /// Set by the exporter from where the trail came from; a bundle from a
    /// consensus network always sets it, and the verifier can demand it.
    pub certificates_required: bool,
    /// The trail.
    pub trail: Trail,
}

/// A signed bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The content.
    pub body: BundleBody,
    /// The exporter's signature over `Domain::Bundle || canonical(body)`.
    pub signature: Signature,
    /// The trail's place in the ledger's log (a bundle exported from a
    /// node has it; one from a local ledger, whose blocks no validators
    /// cosigned, does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<BundleLog>,
}

/// Where a bundle's entries stand in the ledger's log of every entry (see
/// [`crate::checkpoint`]): the checkpoint of the trail's tip height, a
/// C2SP note cosigned by that height's validators, and each trail item's
/// leaf in the log with the proof that it is there. It is outside the
/// auditor's signature: the validators' cosignatures authenticate it. A
/// later checkpoint's consistency proof from it shows that the ledger
/// still holds every entry of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleLog {
    /// The checkpoint note, as text.
    pub checkpoint: String,
    /// One per trail item, in the trail's order.
    pub leaves: Vec<LogLeaf>,
}

/// A trail item's place in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLeaf {
    /// Its leaf number (its position among every entry committed).
    pub leaf: u64,
    /// The RFC 6962 proof that the entry is that leaf of the checkpoint's
    /// tree.
    pub proof: Vec<Hash32>,
}

/// Why a bundle does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Too big.
    #[error("the bundle is {0} bytes, more than the limit of {MAX_BUNDLE_BYTES}")]
    TooLarge(usize),
    /// Not JSON of the right shape.
    #[error("the bundle is not a valid bundle file: {0}")]
    Json(String),
    /// Not canonical.
    #[error("the bundle file was altered after export: byte {0} differs from the signed content's canonical form")]
    NotCanonical(usize),
    /// Wrong format or version.
    #[error("not a Waybill audit bundle (format `{format}`, version {version})")]
    Format {
        /// Found format.
        format: String,
        /// Found version.
        version: u16,
    },
    /// Wrong chain.
    #[error("the bundle is for chain {got}, but the genesis given is chain {expected}")]
    WrongChain {
        /// Expected.
        expected: String,
        /// Found.
        got: String,
    },
    /// The signature fails.
    #[error("the auditor's signature on the bundle does not verify: its content was changed after it was signed")]
    BadSignature,
    /// The exporter is not an auditor.
    #[error("the bundle was signed by {0}, which is not an active member with the auditor role")]
    NotAuditor(String),
    /// The trail inside fails.
    #[error("the trail in the bundle does not verify: {0}")]
    Trail(#[from] TrailError),
    /// The verifier demanded certificates the bundle does not promise.
    #[error("the bundle comes from a ledger without consensus certificates, and certificates were required")]
    CertificatesMissing,
    /// Its place in the ledger's log does not hold.
    #[error("the bundle's checkpoint of the ledger's log does not hold: {0}")]
    Log(String),
}

impl BundleBody {
    /// Signs the body.
    pub fn sign(self, key: &SigningKey) -> Bundle {
        let signature = crypto::sign(key, Domain::Bundle, &codec::encode(&self));
        Bundle {
            body: self,
            signature,
            log: None,
        }
    }
}

impl Bundle {
    /// The canonical file text.
    pub fn to_file_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Verifies a bundle file offline: canonical text, format, chain,
    /// signature, the exporter's auditor role, and the whole trail.
    /// `require_certificates` makes certificates mandatory whatever the
    /// bundle says.
    pub fn verify_file(
        text: &[u8],
        genesis: &Genesis,
        require_certificates: bool,
    ) -> Result<(Bundle, TrailReport), BundleError> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(text.len()));
        }
        let bundle: Bundle =
            serde_json::from_slice(text).map_err(|e| BundleError::Json(e.to_string()))?;
        let canonical = bundle.to_file_text();
        if canonical.as_bytes() != text {
            let at = canonical
                .bytes()
                .zip(text.iter())
                .position(|(a, b)| a != *b)
                .unwrap_or(canonical.len().min(text.len()));
            return Err(BundleError::NotCanonical(at));
        }
        let b = &bundle.body;
        if b.format != BUNDLE_FORMAT || b.version != BUNDLE_VERSION {
            return Err(BundleError::Format {
                format: b.format.clone(),
                version: b.version,
            });
        }
        let chain_id = genesis.chain_id();
        for got in [b.chain_id, b.trail.chain_id] {
            if got != chain_id {
                return Err(BundleError::WrongChain {
                    expected: chain_id.to_hex(),
                    got: got.to_hex(),
                });
            }
        }
        b.exporter
            .verify(Domain::Bundle, &codec::encode(b), &bundle.signature)
            .map_err(|_| BundleError::BadSignature)?;
        if require_certificates && !b.certificates_required {
            return Err(BundleError::CertificatesMissing);
        }
        let report = trail::verify(
            genesis,
            &b.trail,
            Policy {
                require_certificates: b.certificates_required,
            },
        )?;
        match report.final_members.get(&b.exporter) {
            Some((_, roles)) if roles.contains(&Role::Auditor) => {}
            Some((name, _)) => return Err(BundleError::NotAuditor(format!("`{name}`"))),
            None => return Err(BundleError::NotAuditor(b.exporter.short())),
        }
        if let Some(log) = &bundle.log {
            log.verify(&b.trail, &report)?;
        }
        Ok((bundle, report))
    }
}

impl BundleLog {
    /// Checks that every item of `trail` (verified, with `report`) is in
    /// the log at the checkpoint, which the validators of the trail's tip
    /// height cosigned, and that the trail is proven complete under that
    /// checkpoint's index root; returns the certified checkpoint.
    pub fn verify(&self, trail: &Trail, report: &TrailReport) -> Result<Certified, BundleError> {
        let fail = |why: String| BundleError::Log(why);
        let certified = checkpoint::verify(
            self.checkpoint.as_bytes(),
            &trail.chain_id,
            &report.validators,
        )
        .map_err(|e| fail(e.to_string()))?;
        let cp = &certified.checkpoint;
        if cp.height != trail.tip_height {
            return Err(fail(format!(
                "it is of height {}, not the trail's tip {}",
                cp.height, trail.tip_height
            )));
        }
        if self.leaves.len() != trail.items.len() {
            return Err(fail(format!(
                "it places {} entries, but the trail has {}",
                self.leaves.len(),
                trail.items.len()
            )));
        }
        let mut last: Option<u64> = None;
        for (i, (item, at)) in trail.items.iter().zip(&self.leaves).enumerate() {
            let id = item.entry.id();
            let what = || format!("entry #{} ({})", i + 1, id.short());
            if last.is_some_and(|l| l >= at.leaf) {
                return Err(fail(format!("{} is placed out of chain order", what())));
            }
            last = Some(at.leaf);
            if item.header.height == cp.height && item.header.hash() != cp.block {
                return Err(fail(format!(
                    "{} is in another block {} than the checkpoint's",
                    what(),
                    item.header.height
                )));
            }
            checkpoint::check_inclusion(cp, at.leaf, &id, &at.proof).map_err(|e| {
                fail(format!(
                    "{} is not leaf {} of the log: {e}",
                    what(),
                    at.leaf
                ))
            })?;
        }
        // And that the trail left nothing out, as of that checkpoint.
        trail::check_complete(report, trail.complete.as_deref(), &cp.index, cp.height)
            .map_err(|e| fail(e.to_string()))?;
        Ok(certified)
    }
}
