//! Files from other parties: audit bundles, genesis files, key files.

use std::cell::Cell;

use pkcs8::der::Decode;
use pkcs8::pkcs5::pbes2::Kdf;
use pkcs8::EncryptedPrivateKeyInfo;
use waybill_core::bundle::Bundle;
use waybill_core::codec::{self, MAX_ENTRY_BYTES};
use waybill_core::crypto::{Hash32, PublicKey};
use waybill_core::genesis::Genesis;
use waybill_core::geo;
use waybill_core::gs1::LotId;
use waybill_core::state::State;
use waybill_core::trail::{self, Policy, Trail};
use waybill_keys::KeyError;
use zeroize::Zeroizing;

use super::json_round_trip;
use crate::fixture::fixture;
use crate::{broken, ensure};

/// `Bundle::verify_file` against the fixed genesis, as `waybill
/// verify-bundle` reads a bundle, with and without certificates demanded;
/// and the trail of any bundle that parses, verified whatever its
/// signature (an auditor can sign any trail).
pub fn bundle(data: &[u8]) {
    const T: &str = "bundle";
    let f = fixture();
    let verdict = Bundle::verify_file(data, &f.genesis, false);
    let strict = Bundle::verify_file(data, &f.genesis, true);
    match &verdict {
        Ok((b, report)) => {
            ensure!(
                T,
                b.to_file_text().as_bytes() == data,
                "a bundle verified that is not its canonical text"
            );
            ensure!(
                T,
                strict.is_ok() == b.body.certificates_required,
                "demanding certificates gave {:?} on a bundle that {} them",
                strict.as_ref().err(),
                if b.body.certificates_required {
                    "requires"
                } else {
                    "does not require"
                }
            );
            let again = trail::verify(
                &f.genesis,
                &b.body.trail,
                Policy {
                    require_certificates: b.body.certificates_required,
                },
            );
            ensure!(
                T,
                again.as_ref() == Ok(report),
                "the bundle's report differs from its trail's"
            );
        }
        Err(_) => ensure!(
            T,
            strict.is_err(),
            "a bundle refused without demanding certificates verifies when they are demanded"
        ),
    }
    let Ok(b) = serde_json::from_slice::<Bundle>(data) else {
        return;
    };
    json_round_trip(T, &b);
    for require_certificates in [false, true] {
        let _ = trail::verify(
            &f.genesis,
            &b.body.trail,
            Policy {
                require_certificates,
            },
        );
    }
}

/// A trail as JSON, as `waybill lookup --node` reads a node's answer to
/// `GET /v1/lots/{lot}/trail` before verifying it offline against the
/// fixed genesis, with and without certificates demanded.
pub fn trail_json(data: &[u8]) {
    const T: &str = "trail_json";
    let Ok(t) = serde_json::from_slice::<Trail>(data) else {
        return;
    };
    json_round_trip(T, &t);
    let f = fixture();
    let strict = trail::verify(
        &f.genesis,
        &t,
        Policy {
            require_certificates: true,
        },
    );
    let lax = trail::verify(
        &f.genesis,
        &t,
        Policy {
            require_certificates: false,
        },
    );
    if let Ok(report) = &strict {
        ensure!(
            T,
            lax.is_ok(),
            "a trail verifies with certificates demanded but not without: {:?}",
            lax.as_ref().err()
        );
        ensure!(
            T,
            report.entries == t.items.len() && report.uncertified_blocks == 0,
            "a trail verified with certificates demanded reports {} entries of {} and {} uncertified blocks",
            report.entries,
            t.items.len(),
            report.uncertified_blocks
        );
    }
    if let Ok(report) = &lax {
        ensure!(
            T,
            report.entries == t.items.len() && report.lot == t.lot,
            "a verified trail's report does not match it"
        );
    }
}

/// `Genesis::from_toml` on UTF-8 text, as the CLI and the node read a
/// genesis file.
pub fn genesis(data: &[u8]) {
    const T: &str = "genesis";
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(g) = Genesis::from_toml(text) else {
        return;
    };
    ensure!(
        T,
        g.validate().is_ok(),
        "a genesis read from TOML does not validate"
    );
    match Genesis::from_toml(&g.to_toml()) {
        Ok(back) => ensure!(T, back == g, "TOML round trip changed the genesis"),
        Err(e) => broken(
            T,
            format_args!("a valid genesis written as TOML does not read back: {e}"),
        ),
    }
    match Genesis::from_canonical_bytes(&g.canonical_bytes()) {
        Ok(back) => ensure!(
            T,
            back == g && back.chain_id() == g.chain_id(),
            "a genesis changed through its canonical bytes"
        ),
        Err(e) => broken(
            T,
            format_args!("a valid genesis's canonical bytes do not decode: {e}"),
        ),
    }
    let _ = State::genesis(&g);
}

/// `waybill_core::geo::plots_from_geojson` on UTF-8 text, as `waybill
/// record produce --plots FILE` reads a producer's plots (a file from a
/// mapping tool or a supplier; the parser is our own). Every plot read
/// passes `check_plot`, and the plots written as GeoJSON text read back
/// as themselves. (Not through `plots_to_geojson`'s `serde_json::Value`,
/// which by its documented limitation drops a coordinate's trailing
/// zeros; nothing but tests uses it.)
pub fn geojson(data: &[u8]) {
    const T: &str = "geojson";
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plots) = geo::plots_from_geojson(text) else {
        return;
    };
    for (i, p) in plots.iter().enumerate() {
        let check = geo::check_plot("plot", p);
        ensure!(
            T,
            check.is_ok(),
            "plot {i} read from GeoJSON fails check_plot: {check:?}"
        );
    }
    let compact = geo::plots_to_geojson_text(&plots);
    match geo::plots_from_geojson(&compact) {
        Ok(back) => ensure!(T, back == plots, "plots changed through GeoJSON text"),
        Err(e) => broken(
            T,
            format_args!("plots written as GeoJSON text do not read back: {e}"),
        ),
    }
}

/// The path segments of the HTTP API, as the node parses them once axum
/// has percent-decoded them: a lot id (`/v1/lots/{lot}/trail` and
/// `/forward`, GS1 element strings and Digital Link URIs included), an
/// entry id (`/v1/entries/{id}`) and a member key
/// (`/v1/members/{key}/next-nonce`). Whatever parses is in canonical form
/// afterwards: its text parses back to the same value, and it survives
/// JSON and the canonical codec.
pub fn http_path(data: &[u8]) {
    const T: &str = "http_path";
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lot) = text.parse::<LotId>() {
        match lot.as_str().parse::<LotId>() {
            Ok(again) => ensure!(
                T,
                again == lot,
                "lot id {lot:?} parses from its own text as {again:?}"
            ),
            Err(e) => broken(
                T,
                format_args!("lot id {lot:?} does not parse from its own text: {e}"),
            ),
        }
        json_round_trip(T, &lot);
        match codec::decode::<LotId, MAX_ENTRY_BYTES>("lot", &codec::encode(&lot)) {
            Ok(back) => ensure!(T, back == lot, "lot id {lot:?} changed through its bytes"),
            Err(e) => broken(
                T,
                format_args!("lot id {lot:?} does not decode from its bytes: {e}"),
            ),
        }
    }
    if let Ok(id) = text.parse::<Hash32>() {
        ensure!(
            T,
            id.to_hex().parse::<Hash32>() == Ok(id),
            "an entry id does not parse from its hex"
        );
    }
    if let Ok(key) = text.parse::<PublicKey>() {
        ensure!(
            T,
            key.to_hex().parse::<PublicKey>() == Ok(key),
            "a key does not parse from its hex"
        );
    }
}

/// The passphrase of the encrypted seeds.
pub const PASSPHRASE: &str = "fuzz";

/// Highest key derivation cost at which the target decrypts: PBKDF2
/// rounds, or scrypt's memory in bytes over 128 (N·r·p). The real limits
/// (10 million rounds, 256 MiB) would make one execution take seconds.
const CHEAP_KDF: u64 = 64;

/// `waybill_keys::from_pem` on UTF-8 text, as the CLI and the node read
/// a key file: without a passphrase (plain keys, and encrypted ones up to
/// the passphrase prompt, which comes after every check of the key
/// derivation's parameters), with an empty one, and with the seeds'
/// passphrase when the key derivation is cheap enough to run (see
/// [`CHEAP_KDF`]; costlier ones are parsed up to the derivation only).
pub fn key_file(data: &[u8]) {
    const T: &str = "key_file";
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let asked = Cell::new(false);
    let plain = waybill_keys::from_pem(text, || {
        asked.set(true);
        Err(KeyError::PassphraseRequired)
    });
    if asked.get() {
        ensure!(
            T,
            matches!(plain, Err(KeyError::PassphraseRequired)),
            "a key read on after the passphrase was refused: {plain:?}"
        );
        let empty = waybill_keys::from_pem(text, || Ok(Zeroizing::new(String::new())));
        ensure!(
            T,
            matches!(empty, Err(KeyError::PassphraseRequired)),
            "an empty passphrase gave {empty:?}"
        );
        if kdf_cost(text).is_some_and(|c| c <= CHEAP_KDF) {
            if let Ok(key) =
                waybill_keys::from_pem(text, || Ok(Zeroizing::new(PASSPHRASE.to_owned())))
            {
                check_key(T, &key);
            }
        }
    } else if let Ok(key) = &plain {
        check_key(T, key);
    }
}

/// A key read from a file writes out and reads back as itself.
fn check_key(target: &str, key: &ed25519_dalek::SigningKey) {
    let pem = match waybill_keys::to_pem(key, None) {
        Ok(p) => p,
        Err(e) => broken(target, format_args!("a key read cannot be written: {e}")),
    };
    match waybill_keys::from_pem(&pem, || Err(KeyError::PassphraseRequired)) {
        Ok(back) => ensure!(
            target,
            back.to_bytes() == key.to_bytes(),
            "a key changed through its PEM file"
        ),
        Err(e) => broken(
            target,
            format_args!("a key written as PEM does not read back: {e}"),
        ),
    }
}

/// The cost of the key derivation of the first PEM block, if it is an
/// encrypted key with PBKDF2 or scrypt (see [`CHEAP_KDF`]).
fn kdf_cost(text: &str) -> Option<u64> {
    const BEGIN: &str = "-----BEGIN ";
    let start = text.find(BEGIN)?;
    let rest = text.get(start + BEGIN.len()..)?;
    let label = rest.get(..rest.find("-----")?)?;
    let end_line = format!("-----END {label}-----");
    let end = start + text.get(start..)?.find(&end_line)? + end_line.len();
    let (_, der) = pkcs8::der::pem::decode_vec(text.get(start..end)?.as_bytes()).ok()?;
    let info = EncryptedPrivateKeyInfo::from_der(&der).ok()?;
    match &info.encryption_algorithm.pbes2()?.kdf {
        Kdf::Pbkdf2(p) => Some(u64::from(p.iteration_count)),
        Kdf::Scrypt(p) => Some(
            p.cost_parameter
                .saturating_mul(u64::from(p.block_size))
                .saturating_mul(u64::from(p.parallelization)),
        ),
        _ => None,
    }
}
