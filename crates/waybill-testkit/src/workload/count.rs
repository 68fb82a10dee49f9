//! Entry kinds by name, and how many of each a run made.

use std::collections::BTreeMap;

use waybill_core::entry::{Body, SignedEntry};

/// A name for each body, telling the versions apart: `produce`,
/// `produce_v2`, `dispatch`, `dispatch_v2`, `receive`, `receive_v2`,
/// `reject`, `payment`, `membership`, `handover`, `readings`, `recall`,
/// `recall_lift`, `correction`, `governance`, `sealed_payment`,
/// `payment_confirmation`.
pub fn kind_label(body: &Body) -> &'static str {
    match body {
        Body::Produce(_) => "produce",
        Body::Dispatch(_) => "dispatch",
        Body::Receive(_) => "receive",
        Body::Reject(_) => "reject",
        Body::Payment(_) => "payment",
        Body::Membership(_) => "membership",
        Body::ProduceV2(_) => "produce_v2",
        Body::DispatchV2(_) => "dispatch_v2",
        Body::ReceiveV2(_) => "receive_v2",
        Body::Handover(_) => "handover",
        Body::Readings(_) => "readings",
        Body::Recall(_) => "recall",
        Body::RecallLift(_) => "recall_lift",
        Body::Correction(_) => "correction",
        Body::Governance(_) => "governance",
        Body::SealedPayment(_) => "sealed_payment",
        Body::PaymentConfirmation(_) => "payment_confirmation",
    }
}

/// How many of `entries` there are of each kind ([`kind_label`]).
pub fn count_kinds<'a>(
    entries: impl IntoIterator<Item = &'a SignedEntry>,
) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for e in entries {
        *counts.entry(kind_label(&e.entry.body)).or_default() += 1;
    }
    counts
}
