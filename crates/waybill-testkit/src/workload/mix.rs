//! The consortium mix: which entries a workload makes, the shares of
//! the newer entry kinds, and the entries planned by earlier ones.

use waybill_core::entry::EntryId;
use waybill_core::gs1::{LotId, ShipmentId};

/// Which entries a [`Workload`] makes.
///
/// [`Workload`]: super::Workload
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mix {
    /// Only produce, dispatch, receive, reject and payment, exactly as the
    /// generator made them before the newer kinds: the same seed gives
    /// the same entries, byte for byte, as it always did. The default, for
    /// the tests whose models cover only these kinds.
    #[default]
    Classic,
    /// The classic traffic (the same shares of productions, dispatches,
    /// receipts, rejections and payments), with the newer kinds in the
    /// shares a consortium's traffic has them:
    ///
    /// - raw productions: 35% `ProduceV2` with a plot (a point up to 4 ha,
    ///   a polygon above), the harvest and a deforestation-free
    ///   declaration; processings: 20% `ProduceV2` with a work order;
    /// - dispatches: 30% `DispatchV2` shipping part of a lot, 40%
    ///   `DispatchV2` of whole lots, both with transport facts (bill of
    ///   lading, containers and seals, a vessel on sea legs) when a
    ///   carrier carries them, and 30% the first `Dispatch` (old clients:
    ///   old entries stay valid forever);
    /// - consignees' receipts: 5% `ReceiveV2` with a shortfall and its
    ///   cause, 20% `ReceiveV2` of everything with the arrival, the rest
    ///   the first `Receive` (carriers take over with `Receive`);
    /// - shipments a carrier has taken over: 21% of the times one comes
    ///   up for delivery, its carrier hands it over to a second carrier
    ///   (`Handover`, co-signed by the next carrier) instead, at most
    ///   once (so about 10% of shipments with a carrier);
    /// - deliveries: 12% get the consignee's `Readings` (24 hourly
    ///   temperatures from the data logger, 15% of them with an
    ///   excursion, 20% with the humidity too), so about 10% of
    ///   shipments;
    /// - every 1000th lot made (0.1%) is recalled (`Recall`, by its
    ///   producer, a few hundred entries later; one in five a market
    ///   withdrawal), and every third recall is lifted (`RecallLift`)
    ///   later;
    /// - every 200th dispatch (0.5%) is corrected by its sender right
    ///   after (`Correction` of the shipment, before anyone takes it
    ///   over), and its lots are dispatched again, to someone else.
    ///
    /// Readings, corrections and recalls are all by a member whose own
    /// earlier entries (or the shipment's existence) are all they depend
    /// on, so a network that reorders different authors' entries cannot
    /// invalidate them; a carrier's hand-over races with the consignee's
    /// receipt as the carrier's receipt does.
    ///
    /// The benchmark's mix (`waybill-bench --mix consortium`, its
    /// default).
    Consortium,
}

/// Percentage of raw productions that name their plot (`ProduceV2`).
pub(super) const PLOTS_PERCENT: u64 = 35;
/// Percentage of processings recorded with a work order (`ProduceV2`).
pub(super) const WORK_ORDER_PERCENT: u64 = 20;
/// Percentage of dispatches that ship part of a lot.
pub(super) const PARTIAL_PERCENT: u64 = 30;
/// Percentage of dispatches of whole lots as `DispatchV2` (the rest of
/// the whole-lot dispatches are the first `Dispatch`).
pub(super) const WHOLE_V2_PERCENT: u64 = 40;
/// Percentage of consignees' receipts with a shortfall.
pub(super) const SHORTFALL_PERCENT: u64 = 5;
/// Percentage of consignees' receipts as a whole `ReceiveV2`.
pub(super) const RECEIVE_V2_PERCENT: u64 = 20;
/// Percentage of the times a shipment with its carrier comes up for
/// delivery that the carrier hands it over instead.
pub(super) const HANDOVER_PERCENT: u64 = 21;
/// Percentage of deliveries followed by the consignee's readings.
pub(super) const READINGS_PERCENT: u64 = 12;
/// Percentage of readings with an excursion.
pub(super) const EXCURSION_PERCENT: u64 = 15;
/// Readings per series (hourly: a day).
pub(super) const READINGS_PER_SERIES: usize = 24;
/// Every this many lots made, one is recalled (at `RECALL_PHASE`).
pub(super) const RECALL_EVERY: u64 = 1_000;
pub(super) const RECALL_PHASE: u64 = 100;
/// Every this many recalls, one is lifted (the first, the fourth, ...).
pub(super) const LIFT_EVERY: u64 = 3;
/// Every this many dispatches, one is corrected (at `CORRECT_PHASE`).
pub(super) const CORRECT_EVERY: u64 = 200;
pub(super) const CORRECT_PHASE: u64 = 37;

/// An entry planned by an earlier one.
#[derive(Debug, Clone)]
pub(super) enum FollowUp {
    /// The consignee records the data logger's readings of a delivered
    /// shipment.
    Readings(ShipmentId),
    /// The sender corrects a dispatch nobody has taken over.
    Correct {
        dispatch: EntryId,
        shipment: ShipmentId,
    },
    /// The sender dispatches the lots of a corrected shipment again.
    Redispatch(ShipmentId),
    /// The lot's producer recalls it.
    Recall(LotId),
    /// The recall's author lifts it.
    Lift { recall: EntryId, lot: LotId },
}
