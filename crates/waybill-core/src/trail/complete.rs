//! Whether a trail left anything out: what it shows of each key of the
//! completeness index ([`crate::index`]) against the values a certified
//! index root proves.
//!
//! The keys a trail must be complete for follow from the trail itself,
//! each step guarded by the one before:
//!
//! - the lot and its ancestors (each production entry names its inputs,
//!   and touches its own lot, whose proof guards it);
//! - every shipment dispatched with one of those lots (the dispatch
//!   touches the lot);
//! - every payment for one of those shipments (it names the shipment);
//! - the consortium's membership (who could sign what, when).
//!
//! A node that drops an entry touching any of them (a later dispatch, a
//! recall of an ancestor, a correction, a payment) cannot make the
//! trail's running hash of that key agree with the certified one.

use std::collections::{BTreeMap, BTreeSet};

use crate::crypto::Hash32;
use crate::entry::Body;
use crate::gs1::LotId;
use crate::index::{self, IndexKey, KeyProof, Touched};
use crate::rules::Effects;

use super::{Trail, TrailError, TrailReport};

/// What a trail shows of the completeness index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completeness {
    /// The keys a complete trail is proven complete for.
    pub required: BTreeSet<IndexKey>,
    /// For each key an item touches (its author's aside), the items that
    /// touch it, as the index folds them.
    pub shown: BTreeMap<IndexKey, Touched>,
}

impl Completeness {
    /// Works out what `trail` (whose items touched `effects`, and whose
    /// lot and ancestors are `scope`) shows and must prove.
    pub(crate) fn of(trail: &Trail, effects: &[Effects], scope: &BTreeSet<LotId>) -> Completeness {
        let mut shown: BTreeMap<IndexKey, Touched> = BTreeMap::new();
        for (item, fx) in trail.items.iter().zip(effects) {
            for key in index::keys_touched(&item.entry.entry.author, fx) {
                if matches!(key, IndexKey::Author(_)) {
                    // A trail shows an author's entries about the lot,
                    // not all of them.
                    continue;
                }
                let t = shown.entry(key).or_default();
                *t = t.with(&fx.id);
            }
        }
        let mut required: BTreeSet<IndexKey> = scope.iter().cloned().map(IndexKey::Lot).collect();
        let in_scope = |fx: &Effects| fx.lots.iter().any(|l| scope.contains(l));
        let mut shipments = BTreeSet::new();
        for (item, fx) in trail.items.iter().zip(effects) {
            if in_scope(fx)
                && matches!(
                    item.entry.entry.body,
                    Body::Dispatch(_) | Body::DispatchV2(_)
                )
            {
                shipments.extend(fx.shipments.iter().cloned());
            }
        }
        for (item, fx) in trail.items.iter().zip(effects) {
            if let (Body::SealedPayment(_), Some(p)) = (&item.entry.entry.body, fx.payment) {
                if fx.shipments.iter().any(|s| shipments.contains(s)) {
                    required.insert(IndexKey::Payment(p));
                }
            }
        }
        required.extend(shipments.into_iter().map(IndexKey::Shipment));
        required.insert(IndexKey::Council);
        Completeness { required, shown }
    }
}

/// Checks that a verified trail (`report`) leaves nothing out: each of
/// its required keys has a proof under `root` (the completeness index
/// root certified in the checkpoint of the trail's height, `height`), and
/// the trail shows exactly the entries that proof counts. Returns how
/// many keys were proven.
pub fn check_complete(
    report: &TrailReport,
    proofs: Option<&[KeyProof]>,
    root: &Hash32,
    height: u64,
) -> Result<usize, TrailError> {
    let fail = |why: String| Err(TrailError::Incomplete(why));
    let Some(proofs) = proofs else {
        return fail(
            "the node gave no completeness proofs, so entries about the lot may have been left out"
                .into(),
        );
    };
    let by_key: BTreeMap<&IndexKey, &KeyProof> = proofs.iter().map(|p| (&p.key, p)).collect();
    let c = &report.completeness;
    for key in &c.required {
        let Some(proof) = by_key.get(key) else {
            return fail(format!("the node gave no completeness proof for {key}"));
        };
        let certified = proof
            .verify(root)
            .map_err(|e| TrailError::Incomplete(e.to_string()))?;
        let shown = c.shown.get(key).copied().unwrap_or_default();
        if shown == certified {
            continue;
        }
        let (n, m) = (certified.count, shown.count);
        return fail(if m < n {
            let missing = n - m;
            format!(
                "{missing} {} touching {key} {} missing: the index certified at height {height} counts {n}, the trail shows {m}",
                if missing == 1 { "entry" } else { "entries" },
                if missing == 1 { "is" } else { "are" },
            )
        } else if m > n {
            format!(
                "the trail shows {m} entries touching {key}, more than the {n} the index certified at height {height} counts"
            )
        } else {
            format!(
                "the {m} entries touching {key} are not the ones the index certified at height {height} holds (one was changed, swapped for another or moved)"
            )
        });
    }
    Ok(c.required.len())
}
