//! Prometheus metrics of the messaging layer.
//!
//! [`BrokerMetrics::new`] registers them in the service's registry; the consumer runtime and the
//! outbox relay update them. Queue depths come from RabbitMQ's own Prometheus plugin; these add
//! what only we know:
//!
//! - `paygate_messages_handled_total{consumer, queue, outcome}`: deliveries, by how they ended
//!   (`done`, `duplicate`, `retried`, `requeued`, `dead_lettered`);
//! - `paygate_messages_dead_lettered_total{consumer, queue, reason}`: dead-lettered by us, by
//!   `unparseable`, `rejected` (the handler said so), `permanent_error`, `retries_exhausted`;
//! - `paygate_message_retries_total{consumer, queue, tier}`: delayed retries scheduled, by tier;
//! - `paygate_message_handler_duration_seconds{consumer, queue}`: from delivery to ack;
//! - `paygate_consumer_batches_total{consumer, queue, outcome}`: deliveries applied together in
//!   one transaction, by how the batch ended (`committed`; `one_by_one`, the handler declined
//!   it; `failed`): the last two roll back and apply each message alone;
//! - `paygate_consumer_database_unavailable_total{consumer, queue}`: times a consumer found the
//!   database unreachable and held its message to try again;
//! - `paygate_outbox_published_total{exchange}` and `paygate_outbox_publish_failures_total`;
//! - `paygate_consumer_oldest_delivery_age_seconds{consumer, queue}`: how long ago each consumer
//!   took the oldest delivery it still holds ([`in_hand`](super::in_hand), a collector read at
//!   each scrape).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::in_hand::InHandAges;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandledLabels {
    pub consumer: String,
    pub queue: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLetterLabels {
    pub consumer: String,
    pub queue: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    pub consumer: String,
    pub queue: String,
    pub tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub consumer: String,
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExchangeLabels {
    pub exchange: String,
}

fn handler_histogram() -> Histogram {
    // 1 ms .. ~33 s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The messaging metrics. Cheap to clone: clones share the same series.
#[derive(Clone)]
pub struct BrokerMetrics {
    pub handled: Family<HandledLabels, Counter>,
    pub dead_lettered: Family<DeadLetterLabels, Counter>,
    pub retries: Family<RetryLabels, Counter>,
    pub handler_duration: Family<QueueLabels, Histogram, fn() -> Histogram>,
    pub database_unavailable: Family<QueueLabels, Counter>,
    pub batches: Family<HandledLabels, Counter>,
    pub outbox_published: Family<ExchangeLabels, Counter>,
    pub outbox_publish_failures: Counter,
    /// The deliveries each consumer session holds, for the oldest one's age.
    pub in_hand: InHandAges,
}

impl Default for BrokerMetrics {
    /// Metrics registered nowhere (tests, tools).
    fn default() -> Self {
        Self {
            handled: Family::default(),
            dead_lettered: Family::default(),
            retries: Family::default(),
            handler_duration: Family::new_with_constructor(handler_histogram),
            database_unavailable: Family::default(),
            batches: Family::default(),
            outbox_published: Family::default(),
            outbox_publish_failures: Counter::default(),
            in_hand: InHandAges::default(),
        }
    }
}

impl BrokerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("messages_handled", "Deliveries handled, by outcome", m.handled.clone());
        registry.register(
            "messages_dead_lettered",
            "Messages dead-lettered by a consumer, by reason",
            m.dead_lettered.clone(),
        );
        registry.register("message_retries", "Delayed retries scheduled, by tier", m.retries.clone());
        registry.register(
            "message_handler_duration_seconds",
            "Time from delivery to acknowledgement",
            m.handler_duration.clone(),
        );
        registry.register(
            "consumer_database_unavailable",
            "Times a consumer found the database unreachable and held its message to try again",
            m.database_unavailable.clone(),
        );
        registry.register(
            "consumer_batches",
            "Batches of deliveries applied in one transaction, by how they ended",
            m.batches.clone(),
        );
        registry.register(
            "outbox_published",
            "Outbox rows published and confirmed",
            m.outbox_published.clone(),
        );
        registry.register(
            "outbox_publish_failures",
            "Outbox publish attempts that failed (the rows stay unpublished and are tried again)",
            m.outbox_publish_failures.clone(),
        );
        registry.register_collector(Box::new(m.in_hand.clone()));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_encode() {
        // As services build it: the registry adds the `paygate_` prefix (once).
        let mut registry = Registry::with_prefix("paygate");
        let m = BrokerMetrics::new(&mut registry);
        let q = |outcome| HandledLabels { consumer: "c".into(), queue: "q".into(), outcome };
        m.handled.get_or_create(&q("done")).inc();
        m.handler_duration
            .get_or_create(&QueueLabels { consumer: "c".into(), queue: "q".into() })
            .observe(0.003);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(
            out.contains(r#"paygate_messages_handled_total{consumer="c",queue="q",outcome="done"} 1"#),
            "{out}"
        );
        assert!(out.contains("paygate_message_handler_duration_seconds_bucket"), "{out}");
        assert!(!out.contains("paygate_paygate_"), "the prefix is added once: {out}");
    }
}
