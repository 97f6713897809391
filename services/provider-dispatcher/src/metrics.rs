//! provider-dispatcher's own metrics, beside the broker's (`BrokerMetrics`):
//! - `paygate_provider_calls_total{provider, operation, outcome}`: every provider call, by how
//!   it ended (`ok`, `declined`, `error`, `timeout`, `transport_error`);
//! - `paygate_provider_call_duration_seconds{provider, operation}`: their latency;
//! - `paygate_attention_raised_total{kind}`: orders put in front of a person (an UNKNOWN payment
//!   after the last retry tier, a contradicting or mismatching answer). Alert on any increase;
//!   `payctl attention list` shows the items.
//! - `paygate_notifications_decided_total{provider, outcome}`: provider notifications checked
//!   and confirmed (`applied`, `ignored`, `flagged`: it contradicts its order, and a
//!   `notification_mismatch` is raised for a person);
//! - `paygate_provider_calls_in_flight{provider}`, `paygate_provider_circuit_open{provider}` and
//!   `paygate_provider_calls_held_total{provider, reason}`: each provider's bulkhead (`bulkhead`):
//!   its calls out now, whether its breaker is open, and work held on the retry ladder without
//!   a call (`full`, `open`);
//! - `paygate_dispatcher_shards_consumed`: the order shards this instance consumes now (its
//!   leases, `shard_leases`); across the instances they add up to `ORDER_SHARDS`.

use crate::bulkhead::BulkheadMetrics;
use paygate::providers::Exchange;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub provider: &'static str,
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub provider: &'static str,
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    pub provider: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttentionLabels {
    pub kind: String,
}

fn call_histogram() -> Histogram {
    // 250 µs .. ~16 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 17))
}

/// Cheap to clone: clones share the series.
#[derive(Clone)]
pub struct DispatcherMetrics {
    pub calls: Family<CallLabels, Counter>,
    pub call_duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub attention: Family<AttentionLabels, Counter>,
    pub notifications: Family<NotificationLabels, Counter>,
    pub shards_consumed: Gauge,
    pub bulkheads: BulkheadMetrics,
}

impl Default for DispatcherMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            call_duration: Family::new_with_constructor(call_histogram),
            attention: Family::default(),
            notifications: Family::default(),
            shards_consumed: Gauge::default(),
            bulkheads: BulkheadMetrics::default(),
        }
    }
}

impl DispatcherMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "provider_calls",
            "Provider calls, by provider, operation and outcome",
            m.calls.clone(),
        );
        registry.register(
            "provider_call_duration_seconds",
            "Provider call latency, by provider and operation",
            m.call_duration.clone(),
        );
        registry.register(
            "attention_raised",
            "Orders put on the needs-attention list, by kind",
            m.attention.clone(),
        );
        registry.register(
            "notifications_decided",
            "Provider notifications checked against their order, by provider and outcome (applied, ignored, flagged)",
            m.notifications.clone(),
        );
        registry.register(
            "dispatcher_shards_consumed",
            "Order shards this instance consumes now (held under its leases)",
            m.shards_consumed.clone(),
        );
        registry.register(
            "provider_calls_in_flight",
            "Provider calls out now from this instance, by provider (bounded by PROVIDER_MAX_IN_FLIGHT)",
            m.bulkheads.in_flight.clone(),
        );
        registry.register(
            "provider_circuit_open",
            "1 while a provider's circuit breaker is open or trying one call, by provider",
            m.bulkheads.open.clone(),
        );
        registry.register(
            "provider_calls_held",
            "Order work held on the retry ladder without calling its provider, by provider and reason (full, open)",
            m.bulkheads.held.clone(),
        );
        m
    }

    pub fn notification(&self, provider: &'static str, outcome: &'static str) {
        self.notifications.get_or_create(&NotificationLabels { provider, outcome }).inc();
    }

    /// Counts one provider call from its exchange record.
    pub fn call(&self, exchange: &Exchange) {
        let (provider, operation) = (exchange.provider, exchange.operation);
        self.calls
            .get_or_create(&CallLabels { provider, operation, outcome: exchange.outcome.as_str() })
            .inc();
        let seconds =
            std::time::Duration::from_micros(u64::try_from(exchange.latency_us).unwrap_or(0)).as_secs_f64();
        self.call_duration.get_or_create(&OperationLabels { provider, operation }).observe(seconds);
    }

    pub fn attention(&self, kind: &str) {
        self.attention.get_or_create(&AttentionLabels { kind: kind.to_owned() }).inc();
    }
}
