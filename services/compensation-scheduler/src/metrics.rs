//! The scheduler's own metrics:
//! - `paygate_scheduler_enqueued_total{kind}`: work put in the outbox, by kind (`payment_query`,
//!   `refund_query`, `expiry_close`, `authorization_void`: an authorisation past its provider's
//!   expiry voided, `notification`: an undecided notification forwarded again by the sweep,
//!   `undecided`);
//! - `paygate_scheduler_deferred_total`: due rows moved to their provider's threshold, nothing sent;
//! - `paygate_scheduler_scan_errors_total`: polls that failed (nothing of the failed batch committed);
//! - `paygate_scheduler_oldest_open_payment_age_seconds`: the age of the oldest payment that is not
//!   final (docs/architecture.md decision 13), 0 when there is none;
//! - `paygate_scheduler_undecided_notifications`: notifications stored and not yet decided
//!   (`received`), measured after each sweep; alert when it stays above 0 for long;
//! - `paygate_scheduler_oldest_undecided_notification_age_seconds`: the age of the oldest of
//!   them, 0 when there is none;
//! - `paygate_retention_pruned_total{table}`: rows pruned past their retention (`outbox`,
//!   `processed_messages`, `callback_deliveries`; see `retention`);
//! - `paygate_scheduler_stuck_schedule_span_seconds`: how long the longest stuck schedule takes
//!   to go through all its tiers once (`StuckSchedule::span`); a payment not final past it has
//!   been queried at every tier (alert `PaygateStuckPaymentPastSchedule`);
//! - the backlogs only the database knows (`backlogs`, measured every 30 s):
//!   `paygate_outbox_unpublished` and `paygate_outbox_oldest_unpublished_age_seconds` (relay
//!   lag), `paygate_attention_open` and `paygate_attention_oldest_open_age_seconds` (the
//!   needs-attention list), `paygate_recon_discrepancies_open` and
//!   `paygate_recon_oldest_open_discrepancy_age_seconds`, `paygate_callbacks_exhausted` and
//!   `paygate_callbacks_oldest_overdue_seconds` (merchant callbacks); each age 0 when there is none.
//!
//! The broker's metrics (the outbox relay's) are [`BrokerMetrics`](paygate::broker::BrokerMetrics)'.

use crate::scan::Counts;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

/// Cheap to clone: clones share the series.
#[derive(Clone, Default)]
pub struct SchedulerMetrics {
    pub enqueued: Family<KindLabels, Counter>,
    pub deferred: Counter,
    pub scan_errors: Counter,
    pub oldest_open_payment_age: Gauge<f64, AtomicU64>,
    pub undecided_notifications: Gauge,
    pub oldest_undecided_notification_age: Gauge<f64, AtomicU64>,
    pub pruned: Family<TableLabels, Counter>,
    pub stuck_schedule_span: Gauge<f64, AtomicU64>,
    pub outbox_unpublished: Gauge,
    pub oldest_unpublished_age: Gauge<f64, AtomicU64>,
    pub attention_open: Gauge,
    pub oldest_attention_age: Gauge<f64, AtomicU64>,
    pub discrepancies_open: Gauge,
    pub oldest_discrepancy_age: Gauge<f64, AtomicU64>,
    pub callbacks_exhausted: Gauge,
    pub oldest_overdue_callback: Gauge<f64, AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: &'static str,
}

impl SchedulerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "scheduler_enqueued",
            "Work the compensation scheduler enqueued, by kind (payment_query, refund_query, expiry_close, authorization_void, notification)",
            m.enqueued.clone(),
        );
        registry.register(
            "scheduler_deferred",
            "Due orders younger than their provider's stuck threshold, moved to it without a query",
            m.deferred.clone(),
        );
        registry.register("scheduler_scan_errors", "Scheduler polls that failed", m.scan_errors.clone());
        registry.register(
            "scheduler_oldest_open_payment_age_seconds",
            "Age of the oldest payment that is not final (created, pending, action_required, unknown)",
            m.oldest_open_payment_age.clone(),
        );
        registry.register(
            "scheduler_undecided_notifications",
            "Provider notifications stored and not yet decided (status received)",
            m.undecided_notifications.clone(),
        );
        registry.register(
            "scheduler_oldest_undecided_notification_age_seconds",
            "Age of the oldest provider notification not yet decided (status received)",
            m.oldest_undecided_notification_age.clone(),
        );
        registry.register("retention_pruned", "Rows pruned past their retention, by table", m.pruned.clone());
        registry.register(
            "scheduler_stuck_schedule_span_seconds",
            "Time the longest stuck schedule (STUCK_SCHEDULE) takes to go through all its tiers once",
            m.stuck_schedule_span.clone(),
        );
        registry.register(
            "outbox_unpublished",
            "Outbox rows not yet published (all services' relays)",
            m.outbox_unpublished.clone(),
        );
        registry.register(
            "outbox_oldest_unpublished_age_seconds",
            "Time since the oldest unpublished outbox row was enqueued, 0 when there is none",
            m.oldest_unpublished_age.clone(),
        );
        registry.register(
            "attention_open",
            "Open items on the needs-attention list",
            m.attention_open.clone(),
        );
        registry.register(
            "attention_oldest_open_age_seconds",
            "Age of the oldest open needs-attention item, 0 when there is none",
            m.oldest_attention_age.clone(),
        );
        registry.register(
            "recon_discrepancies_open",
            "Reconciliation discrepancies open (not auto-resolved nor resolved by a person)",
            m.discrepancies_open.clone(),
        );
        registry.register(
            "recon_oldest_open_discrepancy_age_seconds",
            "Age of the oldest open reconciliation discrepancy, 0 when there is none",
            m.oldest_discrepancy_age.clone(),
        );
        registry.register(
            "callbacks_exhausted",
            "Merchant callback deliveries that used up their schedule and wait for an operator (payctl callback failed)",
            m.callbacks_exhausted.clone(),
        );
        registry.register(
            "callbacks_oldest_overdue_seconds",
            "How far the oldest pending merchant callback is past its due time, 0 when none is",
            m.oldest_overdue_callback.clone(),
        );
        m
    }

    /// Counts what one pruning run deleted.
    pub fn pruned(&self, p: &crate::retention::Pruned) {
        self.pruned.get_or_create(&TableLabels { table: "outbox" }).inc_by(p.outbox);
        self.pruned.get_or_create(&TableLabels { table: "processed_messages" }).inc_by(p.inbox);
        self.pruned.get_or_create(&TableLabels { table: "callback_deliveries" }).inc_by(p.callbacks);
    }

    /// Counts what one poll did.
    pub fn count(&self, c: &Counts) {
        for (kind, n) in [
            ("payment_query", c.payment_queries),
            ("refund_query", c.refund_queries),
            ("expiry_close", c.expiry_closes),
            ("authorization_void", c.authorization_voids),
        ] {
            self.enqueued.get_or_create(&KindLabels { kind }).inc_by(n);
        }
        self.deferred.inc_by(c.deferred);
    }

    /// Counts the undecided notifications one sweep forwarded again.
    pub fn notifications_forwarded(&self, n: u64) {
        self.enqueued.get_or_create(&KindLabels { kind: "notification" }).inc_by(n);
    }

    /// The undecided notifications' gauges.
    pub fn undecided_notifications(&self, backlog: crate::undecided::Backlog) {
        self.undecided_notifications.set(i64::try_from(backlog.count).unwrap_or(i64::MAX));
        self.oldest_undecided_notification_age.set(backlog.oldest.map_or(0.0, |a| a.as_secs_f64()));
    }

    /// The backlogs' gauges (`backlogs`).
    pub fn backlogs(&self, b: &crate::backlogs::Backlogs) {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let age = |a: Option<Duration>| a.map_or(0.0, |a| a.as_secs_f64());
        self.outbox_unpublished.set(count(b.outbox.count));
        self.oldest_unpublished_age.set(age(b.outbox.oldest));
        self.attention_open.set(count(b.attention.count));
        self.oldest_attention_age.set(age(b.attention.oldest));
        self.discrepancies_open.set(count(b.discrepancies.count));
        self.oldest_discrepancy_age.set(age(b.discrepancies.oldest));
        self.callbacks_exhausted.set(count(b.callbacks_exhausted.count));
        self.oldest_overdue_callback.set(age(b.callbacks_overdue.oldest));
    }

    pub fn stuck_schedule_span(&self, span: Duration) {
        self.stuck_schedule_span.set(span.as_secs_f64());
    }

    pub fn oldest_open_payment(&self, age: Option<Duration>) {
        self.oldest_open_payment_age.set(age.map_or(0.0, |a| a.as_secs_f64()));
    }
}
