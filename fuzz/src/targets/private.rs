//! What keeps payments private and lookups complete: a payment's terms
//! file and a completeness proof, as the CLI and the node read them from
//! others.

use std::sync::OnceLock;

use waybill_core::crypto::Hash32;
use waybill_core::index::{IndexKey, KeyProof, MemoryIndex};
use waybill_core::terms::{self, Openings, SealedPayment};

use crate::ensure;
use crate::targets::json_round_trip;

/// The sealed payment the fuzzed terms files are checked against, and
/// its openings (the `terms_json` seeds).
pub fn sealed_fixture() -> &'static (SealedPayment, Openings) {
    static FIXTURE: OnceLock<(SealedPayment, Openings)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let c = waybill_testkit::Consortium::new();
        let terms = waybill_core::terms::Terms {
            invoice: Some("INV-27".into()),
            ..waybill_testkit::sealed::fob(125_000, waybill_testkit::ids::currency("USD"))
        };
        waybill_testkit::entries::sealed_with(
            waybill_testkit::ids::uetr(27),
            &c.payer.pk,
            &c.producer.pk,
            &["S-1"],
            &terms,
        )
    })
}

/// A terms file (`waybill record confirm-payment`, `waybill terms
/// verify|get`, the node's `PUT …/terms`), opened against the fixed
/// payment: whatever opens it commits, field by field, to exactly the
/// payment's commitments, and its terms seal again to them with its own
/// salts; it reads back from JSON as itself.
pub fn terms_json(data: &[u8]) {
    const T: &str = "terms_json";
    let Ok(openings) = serde_json::from_slice::<Openings>(data) else {
        return;
    };
    json_round_trip(T, &openings);
    let (payment, _) = sealed_fixture();
    let Ok(terms) = openings.verify(&payment.payment_id, &payment.terms) else {
        return;
    };
    ensure!(
        T,
        openings.fields.len() == payment.terms.len(),
        "terms with {} openings opened {} commitments",
        openings.fields.len(),
        payment.terms.len()
    );
    let mut salts = openings.fields.iter().map(|o| o.salt.0 .0);
    let resealed = terms.seal(payment.payment_id, || salts.next().unwrap_or([0; 32]));
    ensure!(
        T,
        matches!(&resealed, Ok((s, _)) if *s == payment.terms),
        "opened terms do not seal again to the payment's commitments: {resealed:?}"
    );
    ensure!(
        T,
        terms::digest(&payment.payment_id, &payment.terms)
            == terms::digest(&openings.payment_id, &payment.terms),
        "terms of another payment opened this one"
    );
}

/// The index the fuzzed completeness proofs are checked against: a few
/// keys touched over two heights (the `key_proof` seeds prove them).
pub fn index_fixture() -> &'static (MemoryIndex, Vec<IndexKey>) {
    static FIXTURE: OnceLock<(MemoryIndex, Vec<IndexKey>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys: Vec<IndexKey> = vec![
            IndexKey::Lot(waybill_testkit::ids::lot("LOT-1")),
            IndexKey::Lot(waybill_testkit::ids::lot("LOT-2")),
            IndexKey::Shipment(waybill_testkit::ids::ship("S-1")),
            IndexKey::Payment(waybill_testkit::ids::uetr(1)),
            IndexKey::Council,
        ];
        let ids: Vec<Hash32> = (0u8..5).map(|i| Hash32([i; 32])).collect();
        let mut index = MemoryIndex::new();
        for (height, span) in [(1u64, 0..3), (2, 2..5)] {
            let touches: Vec<(&IndexKey, &Hash32)> = span.map(|i| (&keys[i], &ids[i])).collect();
            let built = index
                .update(height, touches)
                .and_then(|update| index.install(update));
            if let Err(e) = built {
                crate::broken("key_proof", format_args!("the fixture's index: {e}"));
            }
        }
        (index, keys)
    })
}

/// A completeness proof (in a trail from a node, or an audit bundle),
/// checked against the fixed index's root: whatever verifies proves the
/// value the index holds for its key, and reads back from JSON as
/// itself.
pub fn key_proof(data: &[u8]) {
    const T: &str = "key_proof";
    let Ok(proof) = serde_json::from_slice::<KeyProof>(data) else {
        return;
    };
    json_round_trip(T, &proof);
    let (index, _) = index_fixture();
    if let Ok(touched) = proof.verify(&index.root()) {
        let held = index.prove(&proof.key).touched.unwrap_or_default();
        ensure!(
            T,
            touched == held,
            "a proof of {} verified to {touched:?}, but the index holds {held:?}",
            proof.key
        );
    }
}
