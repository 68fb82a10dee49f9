//! The seed corpora: valid encodings made by our own code from the test
//! kit's consortium ([`crate::fixture`]), a handful to a few dozen small
//! files per target. `cargo run -p waybill-fuzz --bin make-corpus` writes
//! them to `fuzz/corpus/<target>/`; a test checks that the files there are
//! exactly these.
//!
//! The consensus seeds are written field by field in the codec's wire
//! format (the engine's message types are built only by decoding): a
//! test checks that each decodes and re-encodes to the same bytes.

use std::collections::BTreeMap;

use ed25519_dalek::Signer as _;
use malachitebft_app_channel::app::types::core::ValidatorProof;
use pkcs8::der::Decode;
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncodePrivateKey, LineEnding, PrivateKeyInfo};
use waybill_consensus::{PeerId, WaybillCtx};
use waybill_core::block::{
    precommit_bytes, proposal_bytes, vote_bytes, Block, CommitCertificate, Header, VoteKind,
};
use waybill_core::bundle::{BundleBody, BUNDLE_FORMAT, BUNDLE_VERSION};
use waybill_core::checkpoint;
use waybill_core::codec;
use waybill_core::crypto::{self, Domain, Hash32, PublicKey};
use waybill_core::entry::{Body, LossCause, RecallClass, SignedEntry};
use waybill_core::genesis::{Genesis, Role, YieldRule};
use waybill_core::geo::{self, Geometry, Plot};
use waybill_core::governance::GovernanceChange;
use waybill_core::gs1::{Gtin, LotId};
use waybill_core::merkle;
use waybill_core::rules::{self, At};
use waybill_core::state::State;
use waybill_core::trail::{Trail, TrailItem, TRAIL_VERSION};
use waybill_net::wire;
use waybill_testkit::certs::commit_certificate;
use waybill_testkit::consortium::BRAND_GTIN;
use waybill_testkit::entries::{
    correct_receipt, cosigned, dispatch, dispatch_v2, governance, handover, kg, pay, produce,
    produce_v2, recall, recall_lift, receive, receive_v2, received, reject, remove_member,
    set_roles, signed,
};
use waybill_testkit::ids::{lot, uetr};
use waybill_testkit::workload::{workload_mix, Mix};
use waybill_testkit::{ConsortiumBuilder, Party, T0};

use crate::fixture::{fixture, Fixture};
use crate::targets::consensus_tag as tag;
use crate::targets::PASSPHRASE;

/// Why seeds could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A seed did not come out as intended (a change in the code the
    /// seeds are made with).
    #[error("cannot make the seed {what}: {reason}")]
    Seed {
        /// Which seed.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
}

fn seed_error(what: &'static str) -> impl Fn(String) -> CorpusError {
    move |reason| CorpusError::Seed { what, reason }
}

/// Seeds by target name, then file name.
pub type Seeds = BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>;

/// Every target's seeds.
pub fn seeds() -> Result<Seeds, CorpusError> {
    let f = fixture();
    let entries = sample_entries(f);
    let chain = story_chain(f)?;
    let mut s = Seeds::new();
    let mut add = |target: &'static str, name: String, bytes: Vec<u8>| {
        s.entry(target).or_default().insert(name, bytes);
    };

    for (i, e) in entries.iter().enumerate() {
        let kind = e.entry.body.kind().replace(' ', "-");
        add("entry", format!("{i:02}-{kind}.bin"), e.canonical_bytes());
        add("entry_json", format!("{i:02}-{kind}.json"), pretty(e));
    }
    // Up to six entries: a gossip batch's cost is mostly verifying its
    // signatures (one at a time once the batch fails, as most mutants'
    // do), and with all nineteen AFL managed 550 executions a second.
    for (name, n) in [("one", 1), ("three", 3), ("six", 6)] {
        let batch: Vec<SignedEntry> = entries.iter().take(n).cloned().collect();
        add("batch_json", format!("{name}.json"), compact(&batch));
        add(
            "gossip_batch",
            format!("{name}.bin"),
            wire::encode_entries(&batch),
        );
    }

    add("block", "fixture-1.bin".into(), f.block.canonical_bytes());
    let empty = Block::seal(
        f.chain_id,
        Some(&f.block.header),
        T0 + 120_000,
        f.consortium.validators[1].0.pk,
        Vec::new(),
    );
    add("block", "empty-2.bin".into(), empty.canonical_bytes());
    for (b, _) in &chain {
        add(
            "block",
            format!("story-{}.bin", b.header.height),
            b.canonical_bytes(),
        );
    }

    let weak = commit_certificate(&f.consortium, &f.block.header, &[3]);
    for (name, c) in [("fixture", &f.certificate), ("weak", &weak)] {
        add("certificate", format!("{name}.bin"), codec::encode(c));
        add("certificate", format!("{name}.json"), compact(c));
    }

    for (name, certified) in [("certified", true), ("uncertified", false)] {
        let trail = story_trail(f, &chain, certified)?;
        add("trail_json", format!("{name}.json"), compact(&trail));
        let text = story_bundle(f, trail, certified);
        add("bundle", format!("{name}.json"), text.into_bytes());
    }

    for (name, g) in genesis_samples(f)? {
        add("genesis", format!("{name}.toml"), g.to_toml().into_bytes());
    }

    for (name, text) in key_files(f)? {
        add("key_file", format!("{name}.pem"), text.into_bytes());
    }

    for (name, text) in http_paths(f)? {
        add("http_path", format!("{name}.txt"), text.into_bytes());
    }

    for (name, text) in geojson_files(f) {
        add("geojson", format!("{name}.geojson"), text.into_bytes());
    }

    for (name, bytes) in consensus_messages(f)? {
        add("consensus", format!("{name}.bin"), bytes);
    }

    for (name, bytes) in checkpoint_notes(f)? {
        add("checkpoint", format!("{name}.txt"), bytes);
    }

    let (_, openings) = crate::sealed_fixture();
    add("terms_json", "opens.json".into(), pretty(openings));
    let mut some = openings.clone();
    some.fields.truncate(2);
    add("terms_json", "partial.json".into(), compact(&some));

    let (index, keys) = crate::index_fixture();
    for (i, k) in keys.iter().enumerate() {
        add(
            "key_proof",
            format!("key-{i}.json"),
            compact(&index.prove(k)),
        );
    }
    let absent = waybill_core::index::IndexKey::Lot(waybill_testkit::ids::lot("NEVER"));
    add(
        "key_proof",
        "absent.json".into(),
        compact(&index.prove(&absent)),
    );
    Ok(s)
}

fn pretty<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(v).unwrap_or_default();
    text.push(b'\n');
    text
}

fn compact<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Entries of every kind the fixture block holds and more: governance,
/// membership, recalls, handovers and a co-signed entry.
fn sample_entries(f: &Fixture) -> Vec<SignedEntry> {
    let c = &f.consortium;
    let id = f.chain_id;
    let mut v = f.block.entries.clone();
    v.push(cosigned(
        signed(
            id,
            &c.admins[0],
            1,
            set_roles(&c.retailer.pk, &[Role::Retailer]),
        ),
        &[&c.admins[1]],
    ));
    v.push(signed(
        id,
        &c.admins[1],
        1,
        governance(
            10,
            GovernanceChange::RemoveMember {
                public_key: c.brand.pk,
            },
        ),
    ));
    v.push(signed(id, &c.admins[2], 1, remove_member(&c.outsider.pk)));
    v.push(signed(
        id,
        &c.brand,
        1,
        recall(&["BRAND-LOT-1"], RecallClass::Withdrawal, "undeclared nuts"),
    ));
    v.push(signed(
        id,
        &c.carrier,
        1,
        handover("S-FUZZ-1", &c.retailer.pk),
    ));
    v.push(signed(id, &c.producer, 1, produce("FUZZ-LOT-1", "12.5")));
    v.push(signed(id, &c.producer, 2, produce_v2("FUZZ-LOT-2", "40")));
    v.push(signed(
        id,
        &c.producer,
        3,
        dispatch_v2(
            "S-FUZZ-2",
            &[("FUZZ-LOT-2", Some(kg("15")))],
            &c.processor.pk,
            Some(&c.carrier.pk),
        ),
    ));
    v.push(signed(
        id,
        &c.processor,
        1,
        receive_v2(
            "S-FUZZ-2",
            &[received(
                "FUZZ-LOT-2",
                kg("14.5"),
                Some((kg("0.5"), LossCause::Spoilage)),
            )],
        ),
    ));
    v.push(signed(id, &c.retailer, 1, reject("S-FUZZ-3", "wet sacks")));
    let target = f.block.entries.first().map(|e| e.id()).unwrap_or_default();
    v.push(signed(
        id,
        &c.processor,
        2,
        correct_receipt(target, "S-FUZZ-2", "miscounted"),
    ));
    v.push(signed(
        id,
        &c.brand,
        2,
        recall_lift(target, &["BRAND-LOT-1"], "tests were clean"),
    ));
    v.push(signed(
        id,
        &c.payer,
        1,
        pay(uetr(7), &c.payer.pk, &c.producer.pk, 125_000, &["S-FUZZ-2"]),
    ));
    v
}

/// Four blocks of one lot's story: produced, dispatched with a carrier,
/// taken over by the carrier, received by the processor. Each block with
/// a certificate from the first three validators.
fn story_chain(f: &Fixture) -> Result<Vec<(Block, CommitCertificate)>, CorpusError> {
    let c = &f.consortium;
    let id = f.chain_id;
    let steps: [(&Party, Body); 4] = [
        (&c.producer, produce(STORY_LOT, "600")),
        (
            &c.producer,
            dispatch(
                STORY_SHIPMENT,
                &[STORY_LOT],
                &c.processor.pk,
                Some(&c.carrier.pk),
            ),
        ),
        (&c.carrier, receive(STORY_SHIPMENT)),
        (&c.processor, receive(STORY_SHIPMENT)),
    ];
    let mut state = State::genesis(&f.genesis);
    let mut nonces: BTreeMap<PublicKey, u64> = BTreeMap::new();
    let mut out: Vec<(Block, CommitCertificate)> = Vec::new();
    for (height, (who, body)) in (1u64..).zip(steps) {
        let nonce = nonces.entry(who.pk).or_insert(0);
        *nonce += 1;
        let e = signed(id, who, *nonce, body);
        let time_ms = T0 + 60_000 * i64::try_from(height).unwrap_or(0);
        let applied =
            rules::apply_block(&state, std::slice::from_ref(&e), At::new(height, time_ms))
                .map_err(|(_, err)| seed_error("story block")(err.to_string()))?;
        state.commit(applied.changes);
        let prev = out.last().map(|(b, _)| &b.header);
        let proposer = &c.validators[(height as usize) % c.validators.len()].0;
        let block = Block::seal(id, prev, time_ms, proposer.pk, vec![e]);
        let cert = commit_certificate(c, &block.header, &[0, 1, 2]);
        out.push((block, cert));
    }
    Ok(out)
}

const STORY_LOT: &str = "FUZZ-STORY-LOT";
const STORY_SHIPMENT: &str = "S-FUZZ-STORY";

/// The story's trail, as a node serves it, with or without the blocks'
/// certificates.
fn story_trail(
    f: &Fixture,
    chain: &[(Block, CommitCertificate)],
    certified: bool,
) -> Result<Trail, CorpusError> {
    let mut items = Vec::new();
    for (b, cert) in chain {
        let leaves: Vec<[u8; 32]> = b.entry_ids().iter().map(|h| h.0).collect();
        for (index, e) in b.entries.iter().enumerate() {
            let proof = merkle::inclusion_proof(&leaves, index)
                .ok_or_else(|| seed_error("trail")("no inclusion proof".into()))?;
            items.push(TrailItem {
                entry: e.clone(),
                index: u32::try_from(index).unwrap_or(u32::MAX),
                header: b.header.clone(),
                proof: proof.into_iter().map(Hash32).collect(),
                certificate: certified.then(|| cert.clone()),
            });
        }
    }
    Ok(Trail {
        version: TRAIL_VERSION,
        chain_id: f.chain_id,
        lot: lot(STORY_LOT),
        tip_height: chain.last().map_or(0, |(b, _)| b.header.height),
        items,
        complete: None,
    })
}

/// A trail as a bundle signed by the auditor, in its canonical file text.
fn story_bundle(f: &Fixture, trail: Trail, certified: bool) -> String {
    let c = &f.consortium;
    let body = BundleBody {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        chain_name: f.genesis.chain_name.clone(),
        chain_id: f.chain_id,
        exported_at_ms: T0 + 3_600_000,
        exporter: c.auditor.pk,
        certificates_required: certified,
        trail,
    };
    body.sign(&c.auditor.key).to_file_text()
}

/// The fixed genesis, a one-validator one, and one with yield rules and
/// an admin threshold.
/// Checkpoint notes of the fixture's block 1 (its entries as the whole
/// log): cosigned by three validators (a quorum), by one, with a line of
/// a key that is not a validator's; and the bare body.
fn checkpoint_notes(f: &Fixture) -> Result<Vec<(&'static str, Vec<u8>)>, CorpusError> {
    let bad = seed_error("checkpoint");
    let mut log = checkpoint::MemoryLog::new();
    for e in &f.block.entries {
        log.push(&e.id());
    }
    let cp = checkpoint::Checkpoint {
        origin: checkpoint::origin(&f.chain_id),
        size: log.size(),
        root: log.root(log.size()).map_err(|e| bad(e.to_string()))?,
        height: 1,
        block: f.block.header.hash(),
        index: waybill_core::crypto::Hash32::digest(b"the index"),
    };
    let time = u64::try_from((T0 + 60_000) / 1000).map_err(|e| bad(e.to_string()))?;
    let line = |key: &ed25519_dalek::SigningKey| {
        checkpoint::cosign(&cp, &f.chain_id, key, time).map_err(|e| bad(e.to_string()))
    };
    let v = &f.consortium.validators;
    let three = [line(&v[0].0.key)?, line(&v[1].0.key)?, line(&v[2].0.key)?];
    let mut with_outsider = vec![line(&v[0].0.key)?];
    with_outsider.push(line(&f.consortium.auditor.key)?);
    let note = |lines: &[checkpoint::NoteLine]| {
        checkpoint::note(&cp, lines).map_err(|e| bad(e.to_string()))
    };
    Ok(vec![
        ("quorum", note(&three)?),
        ("one", note(&three[..1])?),
        ("outsider", note(&with_outsider)?),
        ("body", cp.body()),
    ])
}

fn genesis_samples(f: &Fixture) -> Result<Vec<(&'static str, Genesis)>, CorpusError> {
    let single = ConsortiumBuilder::default()
        .single_validator()
        .chain_name("fuzz-single")
        .build()
        .genesis;
    let mut rich = f.genesis.clone();
    rich.chain_name = "fuzz-rich".into();
    rich.governance.admin_threshold = Some(2);
    let decimal = |s: &str| {
        s.parse()
            .map_err(|e: waybill_core::IdError| seed_error("genesis")(e.to_string()))
    };
    rich.yields.push(YieldRule {
        member: Some(f.consortium.processor.name.clone()),
        product: None,
        min: decimal("0.780")?,
        max: decimal("0.900")?,
    });
    for g in [&single, &rich] {
        g.validate()
            .map_err(|e| seed_error("genesis")(e.to_string()))?;
    }
    Ok(vec![
        ("consortium", f.genesis.clone()),
        ("single", single),
        ("rich", rich),
    ])
}

/// Plain keys, keys encrypted with cheap PBKDF2 and scrypt parameters
/// (fixed salt and IV, passphrase [`PASSPHRASE`]), one with costlier
/// PBKDF2 (parsed only), and a public key.
fn key_files(f: &Fixture) -> Result<Vec<(&'static str, String)>, CorpusError> {
    let err = seed_error("key file");
    let c = &f.consortium;
    let plain = |p: &Party| {
        waybill_keys::to_pem(&p.key, None)
            .map(|pem| pem.to_string())
            .map_err(|e| err(e.to_string()))
    };
    let encrypted = |p: &Party, params: pbes2::Parameters<'_>| -> Result<String, CorpusError> {
        let keypair = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: p.key.to_bytes(),
            public_key: None,
        };
        let der = keypair.to_pkcs8_der().map_err(|e| err(e.to_string()))?;
        let info = PrivateKeyInfo::from_der(der.as_bytes()).map_err(|e| err(e.to_string()))?;
        let enc = info
            .encrypt_with_params(params, PASSPHRASE)
            .map_err(|e| err(e.to_string()))?;
        enc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| err(e.to_string()))
    };
    let (salt, iv) = ([7u8; 16], [9u8; 16]);
    let pbkdf2 = |rounds: u32| {
        pbes2::Parameters::pbkdf2_sha256_aes256cbc(rounds, &salt, &iv)
            .map_err(|e| err(e.to_string()))
    };
    let scrypt_params =
        pkcs8::pkcs5::scrypt::Params::new(1, 8, 1, 32).map_err(|e| err(e.to_string()))?;
    let scrypt = pbes2::Parameters::scrypt_aes256cbc(scrypt_params, &salt, &iv)
        .map_err(|e| err(e.to_string()))?;
    let public = waybill_keys::public_key_pem(&c.auditor.key.verifying_key());
    Ok(vec![
        ("plain-producer", plain(&c.producer)?),
        ("plain-validator", plain(&c.validator)?),
        ("pbkdf2-cheap", encrypted(&c.auditor, pbkdf2(2)?)?),
        ("scrypt-cheap", encrypted(&c.carrier, scrypt)?),
        ("pbkdf2-costly", encrypted(&c.payer, pbkdf2(2048)?)?),
        ("public", public),
    ])
}

/// Plots of the test kit's generated productions (points and polygons)
/// as GeoJSON text: one plot at a time, and all of them.
fn geojson_files(f: &Fixture) -> Vec<(String, String)> {
    let plots: Vec<Plot> = workload_mix(&f.consortium, GEOJSON_SEED, 40, Mix::Consortium)
        .into_iter()
        .filter_map(|e| match e.entry.body {
            Body::ProduceV2(p) => p.plots,
            _ => None,
        })
        .flat_map(|facts| facts.plots)
        .collect();
    let points = plots
        .iter()
        .filter(|p| matches!(p.geometry, Geometry::Point(_)))
        .take(2);
    let polygons = plots
        .iter()
        .filter(|p| matches!(p.geometry, Geometry::Polygon(_)))
        .take(3);
    let mut out: Vec<(String, String)> = points
        .chain(polygons)
        .enumerate()
        .map(|(i, p)| {
            let kind = match p.geometry {
                Geometry::Point(_) => "point",
                _ => "polygon",
            };
            (
                format!("{i}-{kind}"),
                geo::plots_to_geojson_text(std::slice::from_ref(p)),
            )
        })
        .collect();
    out.push(("all".into(), geo::plots_to_geojson_text(&plots)));
    out
}

/// The HTTP API's path segments: lot ids in each form the node reads
/// (free ids, GS1 element strings with a batch or a serial, escaped
/// brackets, Digital Link URIs with and without a host), an entry id and
/// a member key.
fn http_paths(f: &Fixture) -> Result<Vec<(&'static str, String)>, CorpusError> {
    let err = seed_error("http path");
    let gtin: Gtin = BRAND_GTIN
        .parse()
        .map_err(|e: waybill_core::IdError| err(e.to_string()))?;
    let batch = LotId::batch(gtin, "LOT(7)/A").map_err(|e| err(e.to_string()))?;
    let serial = LotId::serial(gtin, "SER-0042").map_err(|e| err(e.to_string()))?;
    let link = batch
        .digital_link()
        .ok_or_else(|| err("no Digital Link for a GS1 lot".into()))?;
    let path = serial
        .digital_link()
        .and_then(|l| l.split_once("id.gs1.org/").map(|(_, p)| p.to_owned()))
        .ok_or_else(|| err("no Digital Link for a GS1 serial".into()))?;
    let id = f.block.entries.first().map(|e| e.id()).unwrap_or_default();
    Ok(vec![
        ("lot-free", STORY_LOT.to_owned()),
        ("lot-batch", batch.as_str().to_owned()),
        ("lot-serial", serial.as_str().to_owned()),
        ("lot-digital-link", link),
        ("lot-path", path),
        ("entry-id", id.to_hex()),
        ("member-key", f.consortium.producer.pk.to_hex()),
    ])
}

/// Seed of the workload whose productions give the GeoJSON seeds.
const GEOJSON_SEED: u64 = 5;

/// Consensus messages in `WaybillCodec`'s wire format, each after its
/// [`tag`] byte, signed by the fixture's validators.
fn consensus_messages(f: &Fixture) -> Result<Vec<(&'static str, Vec<u8>)>, CorpusError> {
    let c = &f.consortium;
    let id = &f.chain_id;
    let block = f.block.canonical_bytes();
    let hash = f.block.header.hash();
    let height = f.block.header.height;
    let v: Vec<&Party> = c.validators.iter().map(|(p, _)| p).collect();
    let proposer = v.first().copied().unwrap_or(&c.validator);

    let vote = |w: &mut Wire, who: &Party, kind: VoteKind, value: Option<&Hash32>| {
        let bytes = vote_bytes(id, kind, height, 0, value, &who.pk);
        w.u8(match kind {
            VoteKind::Prevote => 1,
            VoteKind::Precommit => 2,
        });
        w.u64(height);
        w.i64(0);
        w.nil_or_hash(value);
        w.raw(&who.pk.0);
        w.u8(0);
        w.raw(&crypto::sign(&who.key, Domain::Vote, &bytes).0);
    };
    let part = |w: &mut Wire| {
        w.u64(height);
        w.i64(0);
        w.i64(-1);
        w.raw(&proposer.pk.0);
        w.bytes(&block);
        let msg = codec::encode(&(id, height, 0i64, -1i64, proposer.pk, hash));
        w.raw(&crypto::sign(&proposer.key, Domain::ProposalPart, &msg).0);
    };
    let polka = |w: &mut Wire| {
        w.u64(height);
        w.i64(0);
        w.raw(&hash.0);
        w.u32(3);
        for who in v.iter().take(3) {
            w.raw(&who.pk.0);
            let bytes = vote_bytes(id, VoteKind::Prevote, height, 0, Some(&hash), &who.pk);
            w.raw(&crypto::sign(&who.key, Domain::Vote, &bytes).0);
        }
    };
    let commit = |w: &mut Wire, header: &Header| {
        w.u64(header.height);
        w.i64(0);
        w.raw(&header.hash().0);
        w.u32(3);
        for who in v.iter().take(3) {
            w.raw(&who.pk.0);
            let bytes = precommit_bytes(id, header.height, 0, &header.hash(), &who.pk);
            w.raw(&crypto::sign(&who.key, Domain::Vote, &bytes).0);
            w.u8(0);
        }
    };
    let peer = |p: &Party| -> Result<Vec<u8>, CorpusError> {
        let text =
            waybill_consensus::peer_id(&p.pk).map_err(|e| seed_error("peer id")(e.to_string()))?;
        let id: PeerId = text
            .parse()
            .map_err(|e| seed_error("peer id")(format!("{e}")))?;
        Ok(id.to_bytes())
    };

    let mut out = Vec::new();
    let mut msg = |name: &'static str, t: u8, write: &dyn Fn(&mut Wire)| {
        let mut w = Wire(vec![t]);
        write(&mut w);
        out.push((name, w.0));
    };
    msg("vote-precommit", tag::CONSENSUS_MSG, &|w| {
        w.u8(1);
        vote(w, proposer, VoteKind::Precommit, Some(&hash));
    });
    msg("vote-prevote-nil", tag::CONSENSUS_MSG, &|w| {
        w.u8(1);
        vote(
            w,
            v.get(1).copied().unwrap_or(proposer),
            VoteKind::Prevote,
            None,
        );
    });
    msg("proposal", tag::CONSENSUS_MSG, &|w| {
        w.u8(2);
        w.u64(height);
        w.i64(0);
        w.raw(&hash.0);
        w.i64(-1);
        w.raw(&proposer.pk.0);
        let bytes = proposal_bytes(id, height, 0, -1, &hash, &proposer.pk);
        w.raw(&crypto::sign(&proposer.key, Domain::Proposal, &bytes).0);
    });
    msg("proposal-part", tag::PROPOSAL_PART, &|w| part(w));
    msg("liveness-vote", tag::LIVENESS_MSG, &|w| {
        w.u8(1);
        vote(w, proposer, VoteKind::Prevote, Some(&hash));
    });
    msg("liveness-polka", tag::LIVENESS_MSG, &|w| {
        w.u8(2);
        polka(w);
    });
    msg("liveness-skip-round", tag::LIVENESS_MSG, &|w| {
        w.u8(3);
        w.u64(height);
        w.i64(0);
        w.u8(1);
        w.u32(2);
        for (who, kind, value) in [
            (proposer, VoteKind::Prevote, Some(&hash)),
            (
                v.get(1).copied().unwrap_or(proposer),
                VoteKind::Precommit,
                None,
            ),
        ] {
            w.u8(match kind {
                VoteKind::Prevote => 1,
                VoteKind::Precommit => 2,
            });
            w.nil_or_hash(value);
            w.raw(&who.pk.0);
            let bytes = vote_bytes(id, kind, height, 0, value, &who.pk);
            w.raw(&crypto::sign(&who.key, Domain::Vote, &bytes).0);
        }
    });
    msg("stream-data", tag::STREAM_MSG, &|w| {
        w.bytes(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        w.u64(0);
        w.u8(1);
        part(w);
    });
    msg("stream-fin", tag::STREAM_MSG, &|w| {
        w.bytes(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        w.u64(1);
        w.u8(2);
    });
    let proposer_peer = peer(proposer)?;
    msg("validator-proof", tag::VALIDATOR_PROOF, &|w| {
        w.bytes(&proposer.pk.0);
        w.bytes(&proposer_peer);
        let preimage = ValidatorProof::<WaybillCtx>::signing_bytes(&proposer.pk.0, &proposer_peer);
        w.raw(&proposer.key.sign(&preimage).to_bytes());
    });
    msg("sync-status", tag::SYNC_STATUS, &|w| {
        w.bytes(&proposer_peer);
        w.u64(4);
        w.u64(1);
    });
    msg("sync-request", tag::SYNC_REQUEST, &|w| {
        w.u8(1);
        w.u64(1);
        w.u64(2);
    });
    msg("sync-response", tag::SYNC_RESPONSE, &|w| {
        w.u8(1);
        w.u64(height);
        w.u32(1);
        w.bytes(&block);
        commit(w, &f.block.header);
    });
    msg("proposed-value", tag::PROPOSED_VALUE, &|w| {
        w.u64(height);
        w.i64(0);
        w.i64(-1);
        w.raw(&proposer.pk.0);
        w.raw(&hash.0);
        w.u8(1);
    });
    msg("polka-certificate", tag::POLKA_CERTIFICATE, &|w| polka(w));
    Ok(out)
}

/// `WaybillCodec`'s primitives: big-endian integers, byte strings after
/// a u32 length, fixed-size keys, hashes and signatures as they are.
struct Wire(Vec<u8>);

impl Wire {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn raw(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.raw(v);
    }
    fn nil_or_hash(&mut self, v: Option<&Hash32>) {
        match v {
            None => self.u8(0),
            Some(h) => {
                self.u8(1);
                self.raw(&h.0);
            }
        }
    }
}
