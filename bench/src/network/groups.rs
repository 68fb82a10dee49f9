//! The workload: one group of entries per node, generated and signed
//! before anything is measured. Each group's GTIN-batch lots and SSCC
//! shipments are renamed so no two groups make the same id ([`Renamer`],
//! proved by [`check_disjoint`]), and carrier hand-overs that race with
//! the consignee's own entry are left out ([`racing_handovers`]).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::{Body, Entry, EntryId, SignedEntry};
use waybill_core::gs1::{gs1_check_digit, LotId, LotKind, ShipmentId};
use waybill_core::rules;

use super::types::{Options, Shares, NODES};
use crate::workload::{Consortium, Workload};

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
    /// Racing carrier hand-overs left out of the workload.
    pub(super) left_out: usize,
}

fn sscc(group: usize, n: u64) -> Result<ShipmentId> {
    let body = format!("0950600{group}{:09}", n % 1_000_000_000);
    let check = gs1_check_digit(&body).ok_or_else(|| anyhow!("SSCC {body}: not digits"))?;
    format!("(00){body}{check}")
        .parse()
        .map_err(|e| anyhow!("SSCC {body}: {e}"))
}

/// Makes a group's GTIN-batch lots and SSCC shipments distinct from every
/// other group's (the workload's free ids already carry the group's seed;
/// its batch lots and SSCCs do not), and signs changed entries again.
struct Renamer {
    group: usize,
    lots: HashMap<LotId, LotId>,
    shipments: HashMap<ShipmentId, ShipmentId>,
    next_sscc: u64,
}

impl Renamer {
    fn new_lot(&mut self, l: &LotId) -> Result<LotId> {
        let LotKind::Batch { gtin, lot } = l.kind() else {
            return Ok(l.clone());
        };
        let new = LotId::batch(gtin, &format!("{lot}G{}", self.group))
            .map_err(|e| anyhow!("renaming lot {l}: {e}"))?;
        self.lots.insert(l.clone(), new.clone());
        Ok(new)
    }

    fn lot(&self, l: &LotId) -> Result<LotId> {
        match l.kind() {
            LotKind::Batch { .. } => self
                .lots
                .get(l)
                .cloned()
                .ok_or_else(|| anyhow!("internal: lot {l} used before it was made")),
            _ => Ok(l.clone()),
        }
    }

    fn new_shipment(&mut self, s: &ShipmentId) -> Result<ShipmentId> {
        if s.sscc().is_none() {
            return Ok(s.clone());
        }
        self.next_sscc += 1;
        let new = sscc(self.group, self.next_sscc)?;
        self.shipments.insert(s.clone(), new.clone());
        Ok(new)
    }

    fn shipment(&self, s: &ShipmentId) -> Result<ShipmentId> {
        match s.sscc() {
            Some(_) => self
                .shipments
                .get(s)
                .cloned()
                .ok_or_else(|| anyhow!("internal: shipment {s} used before it was made")),
            None => Ok(s.clone()),
        }
    }

    /// The entry with renamed ids and nonce `nonce`, signed again if it
    /// changed.
    fn entry(&mut self, e: SignedEntry, nonce: u64, key: &SigningKey) -> Result<SignedEntry> {
        if !e.cosignatures.is_empty() {
            bail!("internal: the workload made a co-signed entry");
        }
        let mut entry: Entry = e.entry.clone();
        entry.nonce = nonce;
        match &mut entry.body {
            Body::Produce(p) => {
                p.lot = self.new_lot(&p.lot)?;
                for i in &mut p.inputs {
                    i.lot = self.lot(&i.lot)?;
                }
            }
            Body::Dispatch(d) => {
                d.shipment = self.new_shipment(&d.shipment)?;
                for l in &mut d.lots {
                    *l = self.lot(l)?;
                }
            }
            Body::Receive(r) => r.shipment = self.shipment(&r.shipment)?,
            Body::Reject(r) => r.shipment = self.shipment(&r.shipment)?,
            Body::Payment(p) => {
                for s in &mut p.shipments {
                    *s = self.shipment(s)?;
                }
            }
            Body::Membership(_) => bail!("internal: the workload made a membership change"),
            other => bail!(
                "internal: the network scenario cannot rename the ids of a {} entry",
                other.kind()
            ),
        }
        if entry == e.entry {
            return Ok(e);
        }
        Ok(entry.sign(key))
    }
}

/// Indexes of carrier hand-overs that race with a later entry of the
/// shipment's consignee. A carrier's receipt (stage `WithCarrier`) and the
/// consignee's later receipt or rejection are each valid on a `Dispatched`
/// shipment, so a proposer that has the consignee's entry but not (yet)
/// the carrier's (gossip does not keep one sender's order across paths,
/// and a node that misses one entry of an author refuses the author's
/// next nonces) may put the consignee's in a block, which makes the
/// carrier's entry invalid and orphans every later entry of the carrier
/// (the mempools drop them; the carrier's node then refuses its next
/// nonces). Nothing depends on the hand-over (a carrier cannot ship lots
/// in transit), so these entries are left out.
fn racing_handovers(entries: &[SignedEntry]) -> HashSet<usize> {
    let mut consignee: HashMap<&ShipmentId, PublicKey> = HashMap::new();
    let mut handover: HashMap<&ShipmentId, usize> = HashMap::new();
    let mut out = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let shipment = match &e.entry.body {
            Body::Dispatch(d) => {
                consignee.insert(&d.shipment, d.consignee);
                continue;
            }
            Body::Receive(r) => &r.shipment,
            Body::Reject(r) => &r.shipment,
            _ => continue,
        };
        let by_consignee = consignee.get(shipment) == Some(&e.entry.author);
        if by_consignee {
            if let Some(c) = handover.remove(shipment) {
                out.insert(c);
            }
        } else if matches!(e.entry.body, Body::Receive(_)) {
            handover.insert(shipment, i);
        }
    }
    out
}

fn make_group(c: &Consortium, group: usize, seed: u64, n: usize) -> Result<Group> {
    let mut w = Workload::new(c, seed);
    // Generate until `n` entries are left after the racing hand-overs.
    let mut raw = w.take(n + n / 8 + 8)?;
    let mut racing = racing_handovers(&raw);
    while raw.len() - racing.len() < n {
        raw.extend(w.take(n / 8 + 8)?);
        racing = racing_handovers(&raw);
    }
    let mut r = Renamer {
        group,
        lots: HashMap::new(),
        shipments: HashMap::new(),
        next_sscc: 0,
    };
    let mut g = Group {
        json: Vec::with_capacity(n),
        ids: Vec::with_capacity(n),
        keys: Vec::with_capacity(n),
        made: Vec::new(),
        left_out: 0,
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
        let key = c
            .member_key(&e.entry.author)
            .ok_or_else(|| anyhow!("internal: an author outside the group"))?;
        let nonce = e.entry.nonce - skipped.get(&e.entry.author).copied().unwrap_or(0);
        let e = r.entry(e, nonce, key)?;
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
            Body::Dispatch(d) => g.made.push(format!("shipment {}", d.shipment)),
            Body::Payment(p) => g.made.push(format!("payment {}", p.payment_id)),
            _ => {}
        }
        g.json
            .push(serde_json::to_vec(&e).context("encoding an entry as JSON")?);
        g.ids.push(id);
        g.keys.push((e.entry.author, e.entry.nonce));
    }
    Ok(g)
}

/// Checks that no two entries of different groups make the same lot,
/// shipment or payment (renaming should guarantee it; this proves it).
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
                s.spawn(move || make_group(c, k, seed, per_node))
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
