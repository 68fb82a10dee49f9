//! The workload: one group of entries per node, generated and signed
//! before anything is measured. Each group has members of its own, so no
//! two groups make the same lot or shipment id ([`check_disjoint`] proves
//! it). Carrier take-overs and hand-overs that race with the consignee's
//! own entry are left out ([`racing_handovers`]), and the entries after
//! them signed again with their new nonces ([`Resigner`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, Entry, EntryId, SignedEntry};
use waybill_core::gs1::ShipmentId;
use waybill_core::rules;

use super::types::{Options, Shares, NODES};
use crate::workload::{kind_label, Consortium, Mix, Workload};

/// One node's entries, in submission order.
pub(super) struct Group {
    /// Each entry's JSON (what `waybill record` writes, compact).
    pub(super) json: Vec<Vec<u8>>,
    /// Each entry's id.
    pub(super) ids: Vec<EntryId>,
    /// Each entry's (author, nonce).
    pub(super) keys: Vec<(PublicKey, u64)>,
    /// The lots, shipments and payments its entries make.
    made: Vec<String>,
    /// Racing carrier take-overs and hand-overs left out of the workload.
    pub(super) left_out: usize,
    /// Its entries per kind ([`kind_label`]).
    pub(super) kinds: BTreeMap<&'static str, usize>,
}

/// Signs a group's entries again where leaving out racing hand-overs
/// moved their nonces down, and points entries that name another entry
/// by id (a correction, a recall's lift) at its new id. Lots and
/// shipments keep their ids: free ids carry the group's seed, and GTINs
/// and SSCCs lie under the GS1 company prefixes of the group's own
/// members ([`BenchConsortium`]), so no two groups make the same one
/// ([`check_disjoint`] proves it).
///
/// [`BenchConsortium`]: crate::workload::Consortium
struct Resigner {
    /// Every entry's id in the workload and in the group (re-signed
    /// entries get new ids).
    ids: HashMap<EntryId, EntryId>,
}

impl Resigner {
    /// The group's id of an earlier entry.
    fn entry_id(&self, id: &EntryId) -> Result<EntryId> {
        self.ids
            .get(id)
            .copied()
            .ok_or_else(|| anyhow!("internal: entry {} named before it was made", id.short()))
    }

    /// The entry with nonce `nonce` and the new ids of the entries it
    /// names, signed again (by its
    /// author and by each co-signer, whose keys `c` has) if it changed.
    fn entry(&mut self, e: SignedEntry, nonce: u64, c: &Consortium) -> Result<SignedEntry> {
        let old_id = e.id();
        let mut entry: Entry = e.entry.clone();
        entry.nonce = nonce;
        match &mut entry.body {
            Body::RecallLift(l) => l.recall = self.entry_id(&l.recall)?,
            Body::Correction(x) => {
                x.target = self.entry_id(&x.target)?;
                for id in &mut x.corrective {
                    *id = self.entry_id(id)?;
                }
            }
            Body::Membership(_) | Body::Governance(_) => {
                bail!("internal: the workload made a membership change")
            }
            _ => {}
        }
        if entry == e.entry {
            self.ids.insert(old_id, old_id);
            return Ok(e);
        }
        let key = c
            .member_key(&entry.author)
            .ok_or_else(|| anyhow!("internal: an author outside the group"))?;
        let mut signed = entry.sign(key);
        for cosig in &e.cosignatures {
            let key = c
                .member_key(&cosig.signer)
                .ok_or_else(|| anyhow!("internal: a co-signer outside the group"))?;
            signed.cosign(key);
        }
        self.ids.insert(old_id, signed.id());
        Ok(signed)
    }
}

/// Indexes of carrier hand-overs that race with a later entry of the
/// shipment's consignee: the carrier's receipt (its take-over from the
/// sender) and any carrier-to-carrier `Handover` after it. A carrier's
/// receipt (stage `WithCarrier`) and the consignee's later receipt or
/// rejection are each valid on a `Dispatched` shipment, and a `Handover`
/// and the consignee's entry each on a `WithCarrier` one, so a proposer
/// that has the consignee's entry but not (yet) the carriers' (gossip
/// does not keep one sender's order across paths, and a node that misses
/// one entry of an author refuses the author's next nonces) may put the
/// consignee's in a block, which makes the carriers' entries invalid and
/// orphans every later entry of theirs (the mempools drop them; the
/// carrier's node then refuses its next nonces). Nothing depends on the
/// take-over and hand-overs (a carrier cannot ship lots in transit, and
/// the workload's readings come from the consignee), so
/// these entries are left out together; a shipment whose consignee has
/// no entry in the stream keeps them.
fn racing_handovers(entries: &[SignedEntry]) -> HashSet<usize> {
    let mut consignee: HashMap<&ShipmentId, PublicKey> = HashMap::new();
    let mut carried: HashMap<&ShipmentId, Vec<usize>> = HashMap::new();
    let mut out = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let shipment = match &e.entry.body {
            Body::Dispatch(d) => {
                consignee.insert(&d.shipment, d.consignee);
                continue;
            }
            Body::DispatchV2(d) => {
                consignee.insert(&d.shipment, d.consignee);
                continue;
            }
            Body::Handover(h) => {
                if let Some(v) = carried.get_mut(&h.shipment) {
                    v.push(i);
                }
                continue;
            }
            Body::Receive(r) => &r.shipment,
            Body::ReceiveV2(r) => &r.shipment,
            Body::Reject(r) => &r.shipment,
            _ => continue,
        };
        let by_consignee = consignee.get(shipment) == Some(&e.entry.author);
        if by_consignee {
            if let Some(v) = carried.remove(shipment) {
                out.extend(v);
            }
        } else if matches!(e.entry.body, Body::Receive(_) | Body::ReceiveV2(_)) {
            carried.insert(shipment, vec![i]);
        }
    }
    out
}

fn make_group(c: &Consortium, seed: u64, n: usize, mix: Mix) -> Result<Group> {
    let mut w = Workload::new(c, seed).with_mix(mix);
    // Generate until `n` entries are left after the racing hand-overs.
    let mut raw = w.take(n + n / 8 + 8)?;
    let mut racing = racing_handovers(&raw);
    while raw.len() - racing.len() < n {
        raw.extend(w.take(n / 8 + 8)?);
        racing = racing_handovers(&raw);
    }
    let mut r = Resigner {
        ids: HashMap::new(),
    };
    let mut g = Group {
        json: Vec::with_capacity(n),
        ids: Vec::with_capacity(n),
        keys: Vec::with_capacity(n),
        made: Vec::new(),
        left_out: 0,
        kinds: BTreeMap::new(),
    };
    // Later nonces of an author with left-out entries move down.
    let mut skipped: HashMap<PublicKey, u64> = HashMap::new();
    let mut state = waybill_core::state::State::genesis(&c.genesis);
    for (i, e) in raw.into_iter().enumerate() {
        if g.json.len() == n {
            break;
        }
        if racing.contains(&i) {
            *skipped.entry(e.entry.author).or_insert(0) += 1;
            g.left_out += 1;
            continue;
        }
        let nonce = e.entry.nonce - skipped.get(&e.entry.author).copied().unwrap_or(0);
        let e = r.entry(e, nonce, c)?;
        // The stream stays a valid chain in this order (signatures are
        // ours, so only the rules are checked).
        let id = e.id();
        // Time is the ledger's to judge; this only checks the order.
        let at = rules::At::new(1, i64::MAX);
        let changes =
            rules::apply_verified(&state, &e, id, at, rules::Mode::Ledger).map_err(|err| {
                anyhow!("internal: the network workload made an invalid entry: {err}")
            })?;
        state.commit(changes);
        match &e.entry.body {
            Body::Produce(p) => g.made.push(format!("lot {}", p.lot)),
            Body::ProduceV2(p) => g.made.push(format!("lot {}", p.produce.lot)),
            Body::Dispatch(d) => g.made.push(format!("shipment {}", d.shipment)),
            Body::DispatchV2(d) => g.made.push(format!("shipment {}", d.shipment)),
            Body::SealedPayment(p) => g.made.push(format!("payment {}", p.payment_id)),
            _ => {}
        }
        *g.kinds.entry(kind_label(&e.entry.body)).or_default() += 1;
        g.json
            .push(serde_json::to_vec(&e).context("encoding an entry as JSON")?);
        g.ids.push(id);
        g.keys.push((e.entry.author, e.entry.nonce));
    }
    Ok(g)
}

/// Checks that no two entries of different groups make the same lot,
/// shipment or payment (the groups' own prefixes and seeds should
/// guarantee it; this proves it).
fn check_disjoint(groups: &[Group]) -> Result<()> {
    let mut made: HashSet<&str> = HashSet::new();
    for g in groups {
        for w in &g.made {
            if !made.insert(w) {
                bail!("internal: two workload entries both make {w}");
            }
        }
    }
    Ok(())
}

/// The generated entries, one group per node.
pub(super) struct GeneratedWorkload {
    /// One consortium per group (the same genesis and validators).
    pub(super) consortia: Vec<Consortium>,
    pub(super) groups: Vec<Group>,
    /// Time to generate and sign them (s).
    pub(super) generate_s: f64,
    /// Mean JSON bytes per entry.
    pub(super) mean_json_bytes: f64,
}

/// The entries, signed before anything is measured.
pub(super) fn generate_workload(opts: &Options, shares: Shares) -> Result<GeneratedWorkload> {
    let per_node = shares.per_node;
    let t = Instant::now();
    eprintln!(
        "network: generating {} entries in {NODES} groups...",
        per_node * NODES
    );
    let consortia = Consortium::groups(NODES, NODES)?;
    let groups: Vec<Group> = std::thread::scope(|s| {
        let handles: Vec<_> = consortia
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let seed = opts.seed.wrapping_mul(100).wrapping_add(k as u64);
                let mix = opts.mix;
                s.spawn(move || make_group(c, seed, per_node, mix))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a workload thread panicked"))
                    .and_then(|r| r)
            })
            .collect::<Result<Vec<_>>>()
    })?;
    check_disjoint(&groups)?;
    let generate_s = t.elapsed().as_secs_f64();
    let total_json: usize = groups.iter().flat_map(|g| &g.json).map(Vec::len).sum();
    Ok(GeneratedWorkload {
        consortia,
        groups,
        generate_s,
        mean_json_bytes: total_json as f64 / (per_node * NODES) as f64,
    })
}
