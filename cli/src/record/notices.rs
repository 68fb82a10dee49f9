//! Notices about earlier records: `record recall`, `record recall-lift`
//! and `record correct`.

use anyhow::Result;
use clap::{ArgGroup, Args};
use waybill_core::codes::Uetr;
use waybill_core::entry::{Body, Corrected, Correction, EntryId, Recall, RecallClass, RecallLift};
use waybill_core::gs1::{LotId, ShipmentId};

use super::args::{doc_refs, serde_name};
use super::{entry_file, finish, Common};

// ---------------------------------------------------------------------------
// recall

/// `record recall`.
#[derive(Args, Debug)]
#[command(after_long_help = RECALL_EXAMPLE)]
pub struct RecallArgs {
    /// A lot recalled, e.g. `--lot "(01)07709998000018(10)LOT1"`. Every lot
    /// made from it shows the recall too. Repeat for each lot.
    #[arg(long = "lot", required = true, value_name = "LOT")]
    lots: Vec<LotId>,
    /// recall (the product may harm: take it back from everyone, consumers
    /// too) or withdrawal (take it off the market: a quality or labelling
    /// problem), e.g. `--class recall`.
    #[arg(long, value_parser = serde_name::<RecallClass>)]
    class: RecallClass,
    /// Why, for people, e.g. `--reason "ochratoxin A above the EU limit"`.
    #[arg(long)]
    reason: String,
    /// What it covers, for people, e.g. `--scope "all packs best before 2027-03"`.
    #[arg(long)]
    scope: String,
    /// A notice, lab report, …, FILE[:LABEL], e.g. `--document lab.pdf:"lab
    /// report"`. Repeat for each.
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
    #[command(flatten)]
    common: Common,
}

const RECALL_EXAMPLE: &str = "\
Example:
  waybill record recall -g genesis.toml -k coop.pem --data-dir ledger \\
      --lot '(01)07709998000018(10)LOT1' --class recall \\
      --reason 'ochratoxin A above the EU limit' --scope 'the whole lot' \\
      --document lab.pdf:'lab report' -o recall.json
Recorded by the lots' producer, or a member with the regulator or quality role.
Anyone else needs an admin quorum's co-signatures (`waybill cosign`).";

/// Records a recall.
pub fn recall(a: &RecallArgs) -> Result<()> {
    finish(&a.common, |_| {
        Ok(Body::Recall(Recall {
            lots: a.lots.clone(),
            class: a.class,
            reason: a.reason.clone(),
            scope: a.scope.clone(),
            documents: doc_refs(&a.common, "--document", &a.documents)?,
        }))
    })?;
    eprintln!(
        "note: a {} is valid from the lots' producer or a regulator or quality member; if you are none of these, have an admin quorum co-sign it first: waybill cosign {} -k ADMIN.pem -g {}",
        a.class.as_str(),
        entry_file(&a.common),
        a.common.genesis.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// recall-lift

/// `record recall-lift`.
#[derive(Args, Debug)]
#[command(after_long_help = RECALL_LIFT_EXAMPLE)]
pub struct RecallLiftArgs {
    /// The recall entry's id (64 hex digits; `waybill verify RECALL.json -g
    /// genesis.toml --json` prints it as entry_id), e.g. `--recall 3f1c…`.
    #[arg(long, value_name = "ENTRY_ID")]
    recall: EntryId,
    /// A lot the recall named, lifted now, e.g. `--lot
    /// "(01)07709998000018(10)LOT1"`. Repeat for each.
    #[arg(long = "lot", required = true, value_name = "LOT")]
    lots: Vec<LotId>,
    /// Why, for people, e.g. `--reason "retest within limits"`.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    common: Common,
}

const RECALL_LIFT_EXAMPLE: &str = "\
Example:
  waybill record recall-lift -g genesis.toml -k coop.pem --data-dir ledger \\
      --recall $(waybill verify recall.json -g genesis.toml --json | jq -r .entry_id) \\
      --lot '(01)07709998000018(10)LOT1' --reason 'retest within limits' -o lift.json
Recorded by the recall's author; anyone else needs an admin quorum's
co-signatures (`waybill cosign`).";

/// Records the lifting of a recall.
pub fn recall_lift(a: &RecallLiftArgs) -> Result<()> {
    finish(&a.common, |_| {
        Ok(Body::RecallLift(RecallLift {
            recall: a.recall,
            lots: a.lots.clone(),
            reason: a.reason.clone(),
        }))
    })?;
    eprintln!(
        "note: a recall is lifted by its author; if you are not, have an admin quorum co-sign this first: waybill cosign {} -k ADMIN.pem -g {}",
        entry_file(&a.common),
        a.common.genesis.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// correct

/// `record correct`.
#[derive(Args, Debug)]
#[command(
    after_long_help = CORRECT_EXAMPLE,
    group(ArgGroup::new("corrected").required(true).args(["lot", "shipment", "receipt", "readings", "payment"]))
)]
pub struct CorrectArgs {
    /// The erroneous entry's id (64 hex digits; `waybill verify ENTRY.json
    /// -g genesis.toml --json` prints it as entry_id). It stays in the
    /// chain, struck through.
    #[arg(long, value_name = "ENTRY_ID")]
    entry: EntryId,
    /// The entry produced this lot wrongly: the lot is voided and its
    /// inputs return to you, e.g. `--lot "(01)07709998000018(10)LOT2"`.
    #[arg(long)]
    lot: Option<LotId>,
    /// The entry dispatched this shipment wrongly (before anyone took it
    /// over): it is cancelled and its lots return to the sender, e.g.
    /// `--shipment "(00)077099980000000018"`.
    #[arg(long)]
    shipment: Option<ShipmentId>,
    /// The entry is the latest custody step of this shipment, recorded
    /// wrongly: its first carrier's take-over, a handover between
    /// carriers, or the consignee's receipt (a wrong quantity or
    /// shortfall, say). The parts go back in transit with whoever held
    /// them before, what it recorded as lost is restored, and the step
    /// can be recorded again. Only the latest step, and only while the
    /// goods have not moved on (the consignee still holds what it
    /// received), e.g. `--receipt "(00)077099980000000018"`.
    #[arg(long, value_name = "SHIPMENT")]
    receipt: Option<ShipmentId>,
    /// The entry recorded readings on this shipment wrongly (another
    /// container's logger, a wrong range): they are struck and the
    /// excursions they counted are taken off the shipment's lots, e.g.
    /// `--readings "(00)077099980000000018"`.
    #[arg(long, value_name = "SHIPMENT")]
    readings: Option<ShipmentId>,
    /// The entry recorded this payment (its UETR) wrongly: it is struck
    /// out, e.g. `--payment 7f4e0b5c-2a61-4c1e-9d3b-5a8e2f1c6b09`.
    #[arg(long, value_name = "UETR")]
    payment: Option<Uetr>,
    /// Why, for people, e.g. `--reason "quantity typed as 6000 instead of 600"`.
    #[arg(long)]
    reason: String,
    /// An entry recording what should have been recorded (its id). Repeat
    /// for each.
    #[arg(long = "corrective", value_name = "ENTRY_ID")]
    corrective: Vec<EntryId>,
    #[command(flatten)]
    common: Common,
}

const CORRECT_EXAMPLE: &str = "\
Example: a lot recorded as 6000 kg instead of 600 kg, recorded again and the
first production declared erroneous:
  waybill record correct -g genesis.toml -k coop.pem --data-dir ledger \\
      --entry <id of the wrong produce entry> --lot '(01)07709998000018(10)LOT2' \\
      --reason 'quantity typed as 6000 instead of 600' \\
      --corrective <id of the new produce entry> -o correct.json
A receipt of 480 kg that should have been 500 kg, declared erroneous by the
consignee, then recorded again:
  waybill record correct -g genesis.toml -k roaster.pem --data-dir ledger \\
      --entry <id of the wrong receive entry> --receipt '(00)077099980000000018' \\
      --reason '500 kg arrived, not 480 kg' -o correct-receipt.json
  waybill record receive -g genesis.toml -k roaster.pem --data-dir ledger \\
      --shipment '(00)077099980000000018' -o receive.json
A take-over or a handover is corrected the same way, by the carrier that
recorded it (for a handover, the carrier that handed the shipment over).
Recorded by the erroneous entry's author; anyone else needs an admin quorum's
co-signatures (`waybill cosign`).";

/// Records a correction.
pub fn correct(a: &CorrectArgs) -> Result<()> {
    finish(&a.common, |_| {
        let corrected = if let Some(l) = &a.lot {
            Corrected::Lot(l.clone())
        } else if let Some(s) = &a.shipment {
            Corrected::Shipment(s.clone())
        } else if let Some(s) = &a.receipt {
            Corrected::Receipt(s.clone())
        } else if let Some(s) = &a.readings {
            Corrected::Readings(s.clone())
        } else if let Some(p) = &a.payment {
            Corrected::Payment(*p)
        } else {
            anyhow::bail!(
                "give --lot, --shipment, --receipt, --readings or --payment: what the erroneous entry recorded"
            )
        };
        Ok(Body::Correction(Correction {
            target: a.entry,
            corrected,
            reason: a.reason.clone(),
            corrective: a.corrective.clone(),
        }))
    })?;
    eprintln!(
        "note: an entry is declared erroneous by its author; if you are not, have an admin quorum co-sign this first: waybill cosign {} -k ADMIN.pem -g {}",
        entry_file(&a.common),
        a.common.genesis.display()
    );
    Ok(())
}
