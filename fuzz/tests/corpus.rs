//! The seed corpora: what is in `corpus/` is exactly what our generator
//! makes (and regression inputs named `regress-*`), every seed is a valid encoding its decoder accepts, and every
//! file runs through its target without breaking an invariant.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::{PolkaCertificate, ValidatorProof};
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use waybill_consensus::{ProposalPart, WaybillCodec, WaybillCtx};
use waybill_core::block::{Block, CommitCertificate};
use waybill_core::bundle::Bundle;
use waybill_core::entry::SignedEntry;
use waybill_core::genesis::Genesis;
use waybill_fuzz::corpus::seeds;
use waybill_fuzz::fixture::fixture;
use waybill_fuzz::TARGETS;
use zeroize::Zeroizing;

#[test]
fn the_corpus_on_disk_is_what_the_generator_makes() {
    let made = seeds().unwrap();
    let on_disk = support::corpus();
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    for (target, _) in TARGETS {
        let want = made
            .get(target)
            .unwrap_or_else(|| panic!("no seeds for {target}"));
        // Regression inputs kept from findings are the only other files.
        let have: BTreeMap<String, Vec<u8>> = on_disk
            .get(*target)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, _)| !name.starts_with("regress-"))
            .collect();
        assert_eq!(
            names(&have),
            names(want),
            "corpus/{target} differs from the generator's seeds; run `cargo run -p waybill-fuzz --bin make-corpus`"
        );
        for (name, bytes) in want {
            assert!(
                have.get(name) == Some(bytes),
                "corpus/{target}/{name} differs from the generator's; run `cargo run -p waybill-fuzz --bin make-corpus`"
            );
        }
        assert!(
            (1..=64).contains(&want.len()),
            "{target}: {} seeds",
            want.len()
        );
        assert!(
            want.values().all(|b| b.len() <= 64 * 1024),
            "{target}: a seed over 64 KiB"
        );
    }
    assert_eq!(
        made.len(),
        TARGETS.len(),
        "seeds for a target that does not exist"
    );
}

#[test]
fn every_corpus_file_runs_through_its_target() {
    let corpus = support::corpus();
    for (target, run) in TARGETS {
        for (name, bytes) in corpus.get(*target).into_iter().flatten() {
            let caught = std::panic::catch_unwind(|| run(bytes));
            assert!(caught.is_ok(), "corpus/{target}/{name} broke an invariant");
        }
    }
}

#[test]
fn every_seed_is_accepted_by_its_decoder() {
    let s = seeds().unwrap();
    let f = fixture();
    for (name, b) in &s["entry"] {
        let e = SignedEntry::from_canonical_bytes(b).unwrap_or_else(|e| panic!("{name}: {e}"));
        e.verify_signatures().unwrap();
    }
    for (name, b) in &s["entry_json"] {
        let e: SignedEntry = serde_json::from_slice(b).unwrap_or_else(|e| panic!("{name}: {e}"));
        waybill_core::rules::check_shape(&e).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, b) in &s["batch_json"] {
        let v: Vec<SignedEntry> =
            serde_json::from_slice(b).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!v.is_empty());
    }
    for (name, b) in &s["gossip_batch"] {
        let parts = waybill_net::wire::decode_batch(b, 64 * 1024).unwrap();
        for p in parts {
            SignedEntry::from_canonical_bytes(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    for (name, b) in &s["block"] {
        let block = Block::from_canonical_bytes(b).unwrap_or_else(|e| panic!("{name}: {e}"));
        block.check_entries(&block.entry_ids()).unwrap();
    }
    for (name, b) in &s["certificate"] {
        let c: CommitCertificate = if name.ends_with(".json") {
            serde_json::from_slice(b).unwrap()
        } else {
            waybill_core::codec::decode::<_, 1024>("certificate", b).unwrap()
        };
        let verdict = c.verify(&f.genesis, &f.block.header);
        assert_eq!(
            verdict.is_ok(),
            name.starts_with("fixture"),
            "{name}: {verdict:?}"
        );
    }
    for (name, b) in &s["bundle"] {
        let (bundle, _) =
            Bundle::verify_file(b, &f.genesis, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            bundle.body.certificates_required,
            name.starts_with("certified")
        );
    }
    for (name, b) in &s["trail_json"] {
        let t: waybill_core::trail::Trail = serde_json::from_slice(b).unwrap();
        let policy = waybill_core::trail::Policy {
            require_certificates: name.starts_with("certified"),
        };
        waybill_core::trail::verify(&f.genesis, &t, policy)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let (payment, _) = waybill_fuzz::sealed_fixture();
    for (name, b) in &s["terms_json"] {
        let o: waybill_core::terms::Openings = serde_json::from_slice(b).unwrap();
        let opened = o.verify(&payment.payment_id, &payment.terms);
        assert_eq!(
            opened.is_ok(),
            name.starts_with("opens"),
            "{name}: {opened:?}"
        );
    }
    let (index, _) = waybill_fuzz::index_fixture();
    for (name, b) in &s["key_proof"] {
        let p: waybill_core::index::KeyProof = serde_json::from_slice(b).unwrap();
        let touched = p
            .verify(&index.root())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(touched.count == 0, name.starts_with("absent"), "{name}");
    }
    for (name, b) in &s["genesis"] {
        Genesis::from_toml(std::str::from_utf8(b).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, b) in &s["key_file"] {
        let text = std::str::from_utf8(b).unwrap();
        let read = waybill_keys::from_pem(text, || Ok(Zeroizing::new("fuzz".to_owned())));
        assert_eq!(
            read.is_ok(),
            !name.starts_with("public"),
            "{name}: {read:?}"
        );
    }
    for (name, b) in &s["geojson"] {
        let plots = waybill_core::geo::plots_from_geojson(std::str::from_utf8(b).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!plots.is_empty(), "{name}");
    }
    for (name, b) in &s["http_path"] {
        let text = std::str::from_utf8(b).unwrap();
        let parsed = if name.starts_with("lot-") {
            text.parse::<waybill_core::gs1::LotId>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else if name.starts_with("entry-") {
            text.parse::<waybill_core::crypto::Hash32>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            text.parse::<waybill_core::crypto::PublicKey>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, b) in &s["consensus"] {
        let (&tag, msg) = b.split_first().unwrap();
        let back = match tag {
            0 => reencode::<SignedConsensusMsg<WaybillCtx>>(msg),
            1 => reencode::<ProposalPart>(msg),
            2 => reencode::<LivenessMsg<WaybillCtx>>(msg),
            3 => reencode::<StreamMessage<ProposalPart>>(msg),
            4 => reencode::<ValidatorProof<WaybillCtx>>(msg),
            5 => reencode::<Status<WaybillCtx>>(msg),
            6 => reencode::<Request<WaybillCtx>>(msg),
            7 => reencode::<Response<WaybillCtx>>(msg),
            8 => reencode::<ProposedValue<WaybillCtx>>(msg),
            9 => reencode::<PolkaCertificate<WaybillCtx>>(msg),
            t => panic!("{name}: tag {t}"),
        };
        assert_eq!(back.as_deref(), Ok(msg), "{name}");
    }
}

/// Decodes and encodes again with the consensus codec.
fn reencode<M>(msg: &[u8]) -> Result<Vec<u8>, String>
where
    WaybillCodec: Codec<M>,
{
    let v: M = Codec::<M>::decode(&WaybillCodec, Bytes::copy_from_slice(msg))
        .map_err(|e| e.to_string())?;
    Codec::<M>::encode(&WaybillCodec, &v)
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}
