//! Prometheus metrics (OpenMetrics text exposition at `GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use waybill_core::rules::RuleError;

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `waybill_submissions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubmissionLabels {
    /// `accepted` or `rejected`.
    pub outcome: &'static str,
    /// Why it was rejected (`none` when accepted): a rule's name,
    /// `duplicate`, `mempool_full`, `bad_json`, `too_large`, ...
    pub reason: &'static str,
}

/// A step of deciding a height, for [`Metrics::block_steps`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// `build`, `check`, `checkpoint` or `commit`.
    pub step: &'static str,
}

/// The buckets of a step's seconds: 0.5 ms to about 16 s, doubling.
fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Labels of `waybill_http_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template, e.g. `/v1/entries/{id}` (`unmatched` for none).
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The response status code.
    pub status: u16,
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Committed height.
    pub height: Gauge,
    /// Blocks committed by this process.
    pub blocks_committed: Counter,
    /// Entries finalized by this process.
    pub entries_finalized: Counter,
    /// Entries waiting in the mempool.
    pub mempool_entries: Gauge,
    /// Bytes waiting in the mempool.
    pub mempool_bytes: Gauge,
    /// Mempool entries dropped when re-checked after a commit.
    pub mempool_dropped: Counter,
    /// Mempool entries the rules were run on again after a commit.
    pub mempool_rechecked: Counter,
    /// Entries offered to this node, by outcome and reason.
    pub submissions: Family<SubmissionLabels, Counter>,
    /// Accepted entries not handed to gossip because its queue was full.
    pub gossip_queue_full: Counter,
    /// Gossiped entries that arrived after their nonce was committed,
    /// dropped before their signatures were verified.
    pub gossip_settled: Counter,
    /// Connected gossip peers.
    pub peers: Gauge,
    /// Seconds since the node started.
    pub uptime_seconds: Gauge,
    /// HTTP requests by route, method and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Seconds each step of a height took on this node: `build` (a
    /// proposal from the mempool), `check` (a block's rules and its
    /// completeness index update), `checkpoint` (what a precommit
    /// cosigns; a check of this node's own proposal within it) and
    /// `commit` (written and installed, waiting for the ledger's lock
    /// included).
    pub block_steps: Family<StepLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `waybill_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("waybill");
        let m = Metrics {
            registry: Registry::default(),
            height: Gauge::default(),
            blocks_committed: Counter::default(),
            entries_finalized: Counter::default(),
            mempool_entries: Gauge::default(),
            mempool_bytes: Gauge::default(),
            mempool_dropped: Counter::default(),
            mempool_rechecked: Counter::default(),
            submissions: Family::default(),
            gossip_queue_full: Counter::default(),
            gossip_settled: Counter::default(),
            peers: Gauge::default(),
            uptime_seconds: Gauge::default(),
            http_requests: Family::default(),
            block_steps: Family::new_with_constructor(step_histogram),
        };
        registry.register("height", "Committed block height", m.height.clone());
        registry.register(
            "blocks_committed",
            "Blocks committed since the node started",
            m.blocks_committed.clone(),
        );
        registry.register(
            "entries_finalized",
            "Entries finalized since the node started",
            m.entries_finalized.clone(),
        );
        registry.register(
            "mempool_entries",
            "Entries waiting in the mempool",
            m.mempool_entries.clone(),
        );
        registry.register(
            "mempool_bytes",
            "Bytes (canonical encoding) waiting in the mempool",
            m.mempool_bytes.clone(),
        );
        registry.register(
            "mempool_dropped",
            "Mempool entries dropped because they no longer passed the rules after a commit",
            m.mempool_dropped.clone(),
        );
        registry.register(
            "mempool_rechecked",
            "Mempool entries checked against the rules again after a commit (the others read \
             nothing the block changed)",
            m.mempool_rechecked.clone(),
        );
        registry.register(
            "gossip_settled_entries",
            "Gossiped entries that arrived after this node committed their nonce, dropped unverified",
            m.gossip_settled.clone(),
        );
        registry.register(
            "submissions",
            "Entries offered to this node, by outcome and reason",
            m.submissions.clone(),
        );
        registry.register(
            "gossip_queue_full",
            "Accepted entries not passed to gossip because its queue was full",
            m.gossip_queue_full.clone(),
        );
        registry.register("gossip_peers", "Connected gossip peers", m.peers.clone());
        registry.register(
            "uptime_seconds",
            "Seconds since the node started",
            m.uptime_seconds.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            m.http_requests.clone(),
        );
        registry.register(
            "block_step_seconds",
            "Seconds each step of a height took on this node: build (a proposal), check (a \
             block's rules and index update), checkpoint (what a precommit cosigns), commit \
             (written and installed)",
            m.block_steps.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one offered entry.
    pub fn submission(&self, outcome: &'static str, reason: &'static str) {
        self.submissions
            .get_or_create(&SubmissionLabels { outcome, reason })
            .inc();
    }

    /// Times one run of a height's `step`, from now until the guard is
    /// dropped (on every way out of the step, errors included).
    pub fn step(&self, step: &'static str) -> StepTimer<'_> {
        StepTimer {
            family: &self.block_steps,
            step,
            start: std::time::Instant::now(),
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// A step being timed (see [`Metrics::step`]). It holds no lock while
/// the step runs, so steps may nest.
pub struct StepTimer<'a> {
    family: &'a Family<StepLabels, Histogram, fn() -> Histogram>,
    step: &'static str,
    start: std::time::Instant,
}

impl Drop for StepTimer<'_> {
    fn drop(&mut self) {
        self.family
            .get_or_create(&StepLabels { step: self.step })
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// Sets a gauge from an unsigned count.
pub fn set(gauge: &Gauge, v: impl TryInto<i64>) {
    gauge.set(v.try_into().unwrap_or(i64::MAX));
}

/// A short, stable name for a rule error, for metric labels.
pub fn rule_reason(e: &RuleError) -> &'static str {
    match e {
        RuleError::UnsupportedVersion { .. } => "unsupported_version",
        RuleError::WrongChain { .. } => "wrong_chain",
        RuleError::TooLarge(_) => "too_large",
        RuleError::BadField(_) => "bad_field",
        RuleError::Signature(_) => "bad_signature",
        RuleError::UnknownAuthor(_) => "unknown_author",
        RuleError::NotYetMember { .. } => "not_yet_member",
        RuleError::NodeKeySigned { .. } => "node_key_signed",
        RuleError::AuthorRemoved { .. } => "author_removed",
        RuleError::MissingRole { .. } => "missing_role",
        RuleError::NonceReplayed { .. } => "nonce_replayed",
        RuleError::NonceGap { .. } => "nonce_gap",
        RuleError::LotExists(_) => "lot_exists",
        RuleError::ForeignGtin { .. } => "foreign_gtin",
        RuleError::ForeignSscc { .. } => "foreign_sscc",
        RuleError::ForeignGln { .. } => "foreign_gln",
        RuleError::UnknownLot(_) => "unknown_lot",
        RuleError::DuplicateLot(_) => "duplicate_lot",
        RuleError::NotCustodian { .. } => "not_custodian",
        RuleError::LotInTransit { .. } => "lot_in_transit",
        RuleError::LotConsumed(_) => "lot_consumed",
        RuleError::InsufficientQuantity { .. } => "insufficient_quantity",
        RuleError::ShipmentExists(_) => "shipment_exists",
        RuleError::UnknownShipment(_) => "unknown_shipment",
        RuleError::BadCounterparty { .. } => "bad_counterparty",
        RuleError::ShipmentClosed { .. } => "shipment_closed",
        RuleError::NotConsignee { .. } => "not_consignee",
        RuleError::PayerNotAuthor => "payer_not_author",
        RuleError::PaymentExists(_) => "payment_exists",
        RuleError::PlainPayment => "plain_payment",
        RuleError::Terms(_) => "payment_terms",
        RuleError::UnknownPayment(_) => "unknown_payment",
        RuleError::Confirmation { .. } => "confirmation",
        RuleError::AdminQuorum { .. } => "admin_quorum",
        RuleError::CosignerNotAdmin(_) => "cosigner_not_admin",
        RuleError::UnexpectedCosignatures => "unexpected_cosignatures",
        RuleError::Membership(_) => "membership",
        RuleError::Governance(_) => "governance",
        RuleError::FromTheFuture { .. } => "from_the_future",
        RuleError::LotVoided { .. } => "lot_voided",
        RuleError::Quantity(_) => "quantity",
        RuleError::Yield(_) => "yield",
        RuleError::Handover(_) => "handover",
        RuleError::Recall(_) => "recall",
        RuleError::Correction(_) => "correction",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric() {
        let m = Metrics::new();
        set(&m.height, 7u64);
        m.submission("rejected", "nonce_replayed");
        m.http_requests
            .get_or_create(&HttpLabels {
                route: "/v1/status".into(),
                method: "GET".into(),
                status: 200,
            })
            .inc();
        let text = m.encode().unwrap();
        assert!(text.contains("waybill_height 7\n"), "{text}");
        assert!(
            text.contains(
                "waybill_submissions_total{outcome=\"rejected\",reason=\"nonce_replayed\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "waybill_http_requests_total{route=\"/v1/status\",method=\"GET\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
