//! Fuzz targets for every decoder that reads other parties' bytes.
//!
//! Each target is a `pub fn NAME(data: &[u8])` that decodes `data` the
//! way the node or the CLI does with bytes from outside, and then checks
//! what must hold of whatever it accepted:
//!
//! | target | decoder | foreign bytes from |
//! | --- | --- | --- |
//! | [`entry`] | `SignedEntry::from_canonical_bytes` | gossip, blocks |
//! | [`entry_json`] | `SignedEntry` from JSON | `POST /v1/entries`, entry files |
//! | [`batch_json`] | `Vec<SignedEntry>` from JSON | `POST /v1/entries/batch` |
//! | [`block`] | `BlockBytes::decode` | proposals, synced blocks |
//! | [`certificate`] | `CommitCertificate` (JSON and canonical) | trails, bundles, the HTTP API |
//! | [`gossip_batch`] | `waybill_net::wire::decode_batch` | gossip |
//! | [`consensus`] | `WaybillCodec` (every message type) | consensus peers |
//! | [`bundle`] | `Bundle::verify_file` | audit bundles |
//! | [`genesis`] | `Genesis::from_toml` | genesis files |
//! | [`key_file`] | `waybill_keys::from_pem` | key files |
//! | [`geojson`] | `geo::plots_from_geojson` | producers' plot files |
//! | [`http_path`] | lot ids, entry ids, keys from text | the HTTP API's paths |
//! | [`trail_json`] | `Trail` from JSON, then `trail::verify` | a node's answer to the CLI |
//! | [`checkpoint`] | `checkpoint::verify`, `open_note`, `join` | a node's checkpoint note, note files |
//! | [`terms_json`] | `Openings` from JSON, then `Openings::verify` | terms files, `PUT /v1/payments/{uetr}/terms` |
//! | [`key_proof`] | `KeyProof` from JSON, then `KeyProof::verify` | completeness proofs in trails and bundles |
//!
//! Bad input must get an error. A target panics only when an invariant
//! is broken (a decoder accepted bytes it must refuse, or a value does
//! not survive a round trip): the fuzzer counts that as a crash, and so
//! do the tests in `tests/`. [`TARGETS`] lists them all by name.
//!
//! The seeds in `corpus/` are made by [`corpus::seeds`] (`cargo run -p
//! waybill-fuzz --bin make-corpus`) from the test kit's consortium, which
//! is also the fixed genesis the targets verify against ([`fixture`]).

#![forbid(unsafe_code)]

pub mod corpus;
pub mod fixture;
mod targets;

pub use targets::{
    batch_json, block, bundle, certificate, checkpoint, consensus, entry, entry_json, genesis,
    geojson, gossip_batch, http_path, key_file, key_proof, terms_json, trail_json,
};
pub use targets::{index_fixture, sealed_fixture};

/// A fuzz target.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder and AFL binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("entry", entry),
    ("entry_json", entry_json),
    ("batch_json", batch_json),
    ("block", block),
    ("certificate", certificate),
    ("gossip_batch", gossip_batch),
    ("consensus", consensus),
    ("bundle", bundle),
    ("genesis", genesis),
    ("key_file", key_file),
    ("geojson", geojson),
    ("http_path", http_path),
    ("trail_json", trail_json),
    ("checkpoint", checkpoint),
    ("terms_json", terms_json),
    ("key_proof", key_proof),
];

/// Reports a broken invariant: a decoder accepted what it must refuse, or
/// a value did not survive a round trip. Never reached on bad input
/// alone (that gets an error from the decoder). A fuzz target has no other
/// way to report it than to stop: the fuzzer records the input as a
/// crash, and a test fails.
#[cold]
#[track_caller]
#[allow(clippy::panic)]
pub(crate) fn broken(target: &str, what: std::fmt::Arguments<'_>) -> ! {
    panic!("fuzz target `{target}`: invariant broken: {what}")
}

/// Checks an invariant of `target`, reporting it broken with the message
/// if it does not hold.
macro_rules! ensure {
    ($target:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            $crate::broken($target, format_args!($($msg)+))
        }
    };
}
pub(crate) use ensure;
