//! The targets, and the checks they share.

mod consensus;
mod files;
mod ledger;
mod log;
mod private;

pub use consensus::consensus;
pub(crate) use consensus::tag as consensus_tag;
pub(crate) use files::PASSPHRASE;
pub use files::{bundle, genesis, geojson, http_path, key_file, trail_json};
pub use ledger::{batch_json, block, certificate, entry, entry_json, gossip_batch};
pub use log::checkpoint;
pub use private::{index_fixture, key_proof, sealed_fixture, terms_json};

use std::fmt::Debug;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{broken, ensure};

/// The random source of batch verification: fixed, so a run is
/// reproducible (the verdict does not depend on it, except with
/// negligible probability).
fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(27)
}

/// `value` written as JSON reads back as itself.
fn json_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(target: &str, value: &T) {
    let json = match serde_json::to_vec(value) {
        Ok(j) => j,
        Err(e) => broken(
            target,
            format_args!("a decoded value cannot be written as JSON: {e}"),
        ),
    };
    match serde_json::from_slice::<T>(&json) {
        Ok(back) => ensure!(
            target,
            &back == value,
            "JSON round trip changed the value: {value:?} became {back:?}"
        ),
        Err(e) => broken(
            target,
            format_args!("a decoded value written as JSON does not read back: {e}"),
        ),
    }
}
