//! Entries, blocks, certificates and gossip batches.

use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Response};
use malachitebft_sync::ValueResponse;
use waybill_consensus::{to_engine_certificate, to_ledger_certificate, WaybillCodec, WaybillCtx};
use waybill_core::block::{self, Block, BlockBytes, CommitCertificate};
use waybill_core::codec::{self, MAX_BLOCK_BYTES, MAX_ENTRY_BYTES};
use waybill_core::crypto::{BatchVerifier, Hash32};
use waybill_core::entry::{self, EncodedEntry, EntryId, SignedEntry};
use waybill_core::rules;
use waybill_net::wire;

use super::{json_round_trip, rng};
use crate::fixture::fixture;
use crate::{broken, ensure};

/// Most entries in one `POST /v1/entries/batch` (the node's
/// `api::MAX_BATCH_ENTRIES`, not linked here for one constant).
const MAX_API_BATCH: usize = 1000;

/// Largest commit certificate decoded from canonical bytes here: room for
/// ten thousand signatures (the consensus codec's item limit).
const MAX_CERTIFICATE_BYTES: usize = 1024 * 1024;

/// `SignedEntry::from_canonical_bytes`, as gossip and the block decoder
/// read entries. The codec promises a canonical encoding: whatever it
/// accepts re-encodes to exactly the input.
pub fn entry(data: &[u8]) {
    const T: &str = "entry";
    let Ok(e) = SignedEntry::from_canonical_bytes(data) else {
        return;
    };
    ensure!(
        T,
        e.canonical_bytes() == data,
        "an accepted entry re-encodes to other bytes"
    );
    let parts = e.encoded();
    ensure!(
        T,
        parts.id == Hash32::digest(data) && parts.id == e.id(),
        "the entry id is not the hash of its bytes"
    );
    ensure!(
        T,
        parts.len == data.len() && parts.message == e.entry.canonical_bytes(),
        "the encoded parts do not match the entry"
    );
    ensure!(
        T,
        data.starts_with(&parts.message),
        "the signed message is not a prefix of the entry's bytes"
    );
    let encoded = EncodedEntry::new(e.clone());
    ensure!(
        T,
        encoded.bytes() == data && encoded.message() == parts.message,
        "EncodedEntry disagrees with the entry's encoding"
    );
    check_entries(T, std::slice::from_ref(&encoded));
    json_round_trip(T, &e);
}

/// A signed entry from JSON, as `POST /v1/entries` and `waybill append`
/// read it.
pub fn entry_json(data: &[u8]) {
    const T: &str = "entry_json";
    let Ok(e) = serde_json::from_slice::<SignedEntry>(data) else {
        return;
    };
    let encoded = EncodedEntry::new(e);
    check_json_entry(T, &encoded);
    check_entries(T, std::slice::from_ref(&encoded));
    json_round_trip(T, encoded.entry());
}

/// A JSON array of signed entries, as `POST /v1/entries/batch` reads it.
pub fn batch_json(data: &[u8]) {
    const T: &str = "batch_json";
    let Ok(entries) = serde_json::from_slice::<Vec<SignedEntry>>(data) else {
        return;
    };
    if entries.is_empty() || entries.len() > MAX_API_BATCH {
        return;
    }
    let encoded: Vec<EncodedEntry> = entries.into_iter().map(EncodedEntry::new).collect();
    for e in &encoded {
        check_json_entry(T, e);
    }
    check_entries(T, &encoded);
}

/// An entry read from JSON travels on as its canonical bytes (gossip,
/// blocks): they must decode to the same entry, or a node would accept
/// from a client what its peers refuse.
fn check_json_entry(target: &str, e: &EncodedEntry) {
    if e.len() > MAX_ENTRY_BYTES {
        // Refused by the size rule (checked in `check_entries`).
        return;
    }
    match SignedEntry::from_canonical_bytes(e.bytes()) {
        Ok(back) => ensure!(
            target,
            &back == e.entry(),
            "an entry read from JSON decodes from its canonical bytes as another"
        ),
        Err(err) => broken(
            target,
            format_args!("an entry read from JSON has no valid canonical encoding: {err}"),
        ),
    }
}

/// What a node checks of submitted or gossiped entries before any state:
/// the stateless rules, then every signature in one batch whose verdict
/// on each entry must be the one-at-a-time verdict. When the batch fails,
/// `settle_each` gives each entry its single verdict by construction;
/// when it passes, each entry must pass on its own too (the batch must
/// accept nothing single verification refuses), which is checked.
fn check_entries(target: &str, entries: &[EncodedEntry]) {
    for e in entries {
        let sized = rules::check_shape_sized(e.entry(), e.len());
        ensure!(
            target,
            sized == rules::check_shape(e.entry()),
            "the shape rules disagree on the entry's size"
        );
    }
    let mut batch = BatchVerifier::new();
    let mut verdicts = entry::queue_each(entries, &mut batch);
    let ok = batch.verify(rng()).is_ok();
    entry::settle_each(entries, &mut verdicts, ok);
    ensure!(
        target,
        verdicts.len() == entries.len(),
        "{} verdicts for {} entries",
        verdicts.len(),
        entries.len()
    );
    if ok {
        for (e, verdict) in entries.iter().zip(&verdicts) {
            let single = e.entry().verify_signatures();
            ensure!(
                target,
                verdict == &single,
                "batch verdict {verdict:?} differs from single verification's {single:?}"
            );
        }
    }
}

/// `BlockBytes::decode`, as a proposal part's or a synced block's bytes
/// are read, and the node's checks of a block short of the ledger's state.
pub fn block(data: &[u8]) {
    const T: &str = "block";
    let plain = Block::from_canonical_bytes(data);
    match BlockBytes::decode::<MAX_BLOCK_BYTES>(data.to_vec()) {
        Ok(b) => {
            ensure!(
                T,
                plain.as_ref() == Ok(b.block()),
                "the piecewise block decoder disagrees with the plain one: {plain:?}"
            );
            ensure!(T, b.bytes() == data, "BlockBytes does not keep its bytes");
            check_block(T, &b);
        }
        Err(e) => ensure!(
            T,
            plain.is_err(),
            "the piecewise block decoder refuses ({e}) what the plain one accepts"
        ),
    }
}

/// What holds of a decoded block and what the node checks of it before
/// its rules run against the state: the link to the block before, the
/// header against the entries, each entry's stateless rules, and the
/// signatures in one batch.
pub(super) fn check_block(target: &str, b: &BlockBytes) {
    let f = fixture();
    let block = b.block();
    ensure!(
        target,
        block.canonical_bytes() == b.bytes(),
        "an accepted block re-encodes to other bytes"
    );
    ensure!(
        target,
        b.entries().len() == block.entries.len(),
        "a decoded block has {} entries and {} encoded parts",
        block.entries.len(),
        b.entries().len()
    );
    for (i, (e, parts)) in block.entries.iter().zip(b.entries()).enumerate() {
        ensure!(
            target,
            &e.encoded() == parts,
            "the decoded parts of entry {i} differ from its encoding"
        );
    }
    let again = BlockBytes::encode(block.clone());
    ensure!(
        target,
        again.bytes() == b.bytes() && again.entries() == b.entries(),
        "encoding a decoded block gives other bytes or parts"
    );
    let _ = block.header.hash();
    let _ = block::check_link(&f.chain_id, None, &block.header);
    let _ = block::check_link(&f.chain_id, Some(&f.block.header), &block.header);
    let ids: Vec<EntryId> = b.entries().iter().map(|p| p.id).collect();
    let _ = block.check_entries(&ids);
    for (e, parts) in block.entries.iter().zip(b.entries()) {
        let _ = rules::check_shape_sized(e, parts.len);
    }
    let pairs: Vec<(&SignedEntry, &[u8])> = block
        .entries
        .iter()
        .zip(b.entries())
        .map(|(e, p)| (e, p.message.as_slice()))
        .collect();
    // `verify_batch_over` falls back to one-at-a-time verification when
    // the batch fails, so its refusals are single verification's; what it
    // accepts must pass alone too.
    let verdict = entry::verify_batch_over(&pairs, rng());
    if verdict.is_ok() {
        for (i, e) in block.entries.iter().enumerate() {
            let single = e.verify_signatures();
            ensure!(
                target,
                single.is_ok(),
                "entry {i} passes in a batch but not alone: {single:?}"
            );
        }
    }
}

/// A commit certificate, as JSON (trails, bundles, the HTTP API) and as
/// canonical bytes (the store's form), verified against the fixed chain's
/// block 1, and carried through the consensus engine's form and back.
pub fn certificate(data: &[u8]) {
    const T: &str = "certificate";
    if let Ok(c) = codec::decode::<CommitCertificate, MAX_CERTIFICATE_BYTES>("certificate", data) {
        ensure!(
            T,
            codec::encode(&c) == data,
            "an accepted certificate re-encodes to other bytes"
        );
        check_certificate(T, &c);
        json_round_trip(T, &c);
    }
    if let Ok(c) = serde_json::from_slice::<CommitCertificate>(data) {
        let bytes = codec::encode(&c);
        if bytes.len() <= MAX_CERTIFICATE_BYTES {
            match codec::decode::<CommitCertificate, MAX_CERTIFICATE_BYTES>("certificate", &bytes) {
                Ok(back) => ensure!(
                    T,
                    back == c,
                    "a certificate read from JSON decodes from its bytes as another"
                ),
                Err(e) => broken(
                    T,
                    format_args!("a certificate read from JSON has no canonical encoding: {e}"),
                ),
            }
        }
        check_certificate(T, &c);
        json_round_trip(T, &c);
    }
}

fn check_certificate(target: &str, c: &CommitCertificate) {
    let f = fixture();
    let header = &f.block.header;
    let verdict = c.verify(&f.genesis, header);
    let with = c.verify_with(&f.genesis.validators, header);
    ensure!(
        target,
        verdict == with,
        "verify and verify_with disagree: {verdict:?} and {with:?}"
    );
    let sorted = c
        .signatures
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.validator < b.validator));
    if let Ok(power) = verdict {
        let total: u64 = f.genesis.validators.iter().map(|v| v.power).sum();
        ensure!(
            target,
            u128::from(power) * 3 > u128::from(total) * 2,
            "a certificate with {power} of {total} voting power verifies"
        );
        ensure!(
            target,
            sorted,
            "a certificate whose signatures are not sorted and distinct verifies"
        );
    }
    // Served to a syncing peer in the engine's form, on the wire, and
    // read back by it.
    let engine = to_engine_certificate(c, &[]);
    let response = Response::<WaybillCtx>::ValueResponse(ValueResponse::new(
        engine.height,
        vec![RawDecidedValue::new(Bytes::new(), engine)],
    ));
    let wire = match Codec::<Response<WaybillCtx>>::encode(&WaybillCodec, &response) {
        Ok(w) => w,
        Err(e) => broken(
            target,
            format_args!("a certificate cannot be encoded as a sync response: {e}"),
        ),
    };
    let read: Result<Response<WaybillCtx>, _> = Codec::decode(&WaybillCodec, wire);
    let Ok(Response::ValueResponse(read)) = read else {
        // More signatures than the codec's item limit: refused, as
        // the engine would refuse it.
        ensure!(
            target,
            c.signatures.len() > 10_000,
            "a sync response carrying a certificate does not decode: {:?}",
            read.err()
        );
        return;
    };
    let Some(value) = read.values.first() else {
        broken(target, format_args!("a sync response lost its value"));
    };
    let back = to_ledger_certificate(&value.certificate.trim_vote_extensions());
    if sorted {
        ensure!(
            target,
            &back == c,
            "a certificate changed on its way through sync: {c:?} became {back:?}"
        );
    }
}

/// `waybill_net::wire::decode_batch`, and each entry in the batch as the
/// gossip layer checks it: canonical decode, chain, stateless rules, and
/// all signatures in one batch.
pub fn gossip_batch(data: &[u8]) {
    const T: &str = "gossip_batch";
    if data.len() > waybill_net::MAX_MESSAGE_BYTES {
        return;
    }
    let Ok(parts) = wire::decode_batch(data, MAX_ENTRY_BYTES) else {
        return;
    };
    ensure!(
        T,
        wire::encode_batch(&parts) == data,
        "an accepted batch re-encodes to other bytes"
    );
    ensure!(
        T,
        !parts.is_empty()
            && parts.len() <= wire::MAX_BATCH_ENTRIES
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= MAX_ENTRY_BYTES),
        "a batch outside the format's bounds was accepted"
    );
    let mut decoded = Vec::with_capacity(parts.len());
    for part in parts {
        let Ok(e) = SignedEntry::from_canonical_bytes(part) else {
            continue;
        };
        ensure!(
            T,
            e.canonical_bytes() == part,
            "an accepted entry re-encodes to other bytes"
        );
        decoded.push(EncodedEntry::new(e));
    }
    check_entries(T, &decoded);
}
