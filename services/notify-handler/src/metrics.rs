//! notify-handler's metrics:
//! - `paygate_notifications_received_total{provider, outcome}`: every webhook call, by outcome
//!   (`stored`, `duplicate`, `rejected`, `unavailable`: the database or broker was down and the
//!   provider was told to retry);
//! - `paygate_notifications_rejected_total{provider, reason}`: refused notifications, by reason
//!   token (`bad_signature`, `stale_timestamp`, `malformed_body`, `unknown_order`, …). Alert on
//!   any increase of `bad_signature`: someone is forging;
//! - `paygate_notification_forward_failures_total{provider}`: notifications stored whose forward
//!   to their order's shard failed (broker down, unroutable, no confirm in time); they are among
//!   the `unavailable` ones (alert `PaygateNotificationForwardFailures`);
//! - `paygate_notification_duration_seconds{provider}`: from the request to the answer;
//! - `paygate_returns_total{outcome}`: the customer's returns that asked for a query
//!   (`query_asked`), that did not because a query was asked for within
//!   `RETURN_QUERY_INTERVAL` (`query_recent`), and that were refused with 429 (`rate_limited`).
//!
//! The provider label is the configured provider's name, or `unknown`, so junk paths cannot grow
//! the series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub provider: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub provider: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: &'static str,
}

fn histogram() -> Histogram {
    // 250 µs .. ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Cheap to clone: clones share the series.
#[derive(Clone)]
pub struct NotifyMetrics {
    pub received: Family<OutcomeLabels, Counter>,
    pub rejected: Family<ReasonLabels, Counter>,
    pub forward_failures: Family<ProviderLabels, Counter>,
    pub duration: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    pub returns: Family<ReturnLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReturnLabels {
    pub outcome: &'static str,
}

impl Default for NotifyMetrics {
    fn default() -> Self {
        Self {
            received: Family::default(),
            rejected: Family::default(),
            forward_failures: Family::default(),
            duration: Family::new_with_constructor(histogram),
            returns: Family::default(),
        }
    }
}

impl NotifyMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "notifications_received",
            "Provider notifications received, by provider and outcome (stored, duplicate, rejected, unavailable)",
            m.received.clone(),
        );
        registry.register(
            "notifications_rejected",
            "Provider notifications refused, by provider and reason",
            m.rejected.clone(),
        );
        registry.register(
            "notification_forward_failures",
            "Stored provider notifications whose forward to their order's shard failed (the provider was told to retry), by provider",
            m.forward_failures.clone(),
        );
        registry.register(
            "notification_duration_seconds",
            "Time from a notification's arrival to its answer, by provider",
            m.duration.clone(),
        );
        registry.register(
            "returns",
            "Customer returns, by outcome (query_asked, query_recent, rate_limited)",
            m.returns.clone(),
        );
        m
    }

    pub fn outcome(&self, provider: &'static str, outcome: &'static str, took: Duration) {
        self.received.get_or_create(&OutcomeLabels { provider, outcome }).inc();
        self.duration.get_or_create(&ProviderLabels { provider }).observe(took.as_secs_f64());
    }

    pub fn forward_failed(&self, provider: &'static str) {
        self.forward_failures.get_or_create(&ProviderLabels { provider }).inc();
    }

    pub fn returned(&self, outcome: &'static str) {
        self.returns.get_or_create(&ReturnLabels { outcome }).inc();
    }

    pub fn rejected(&self, provider: &'static str, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabels { provider, reason }).inc();
    }
}
