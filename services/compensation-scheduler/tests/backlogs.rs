//! The backlogs the alerts read, against a real PostgreSQL (deploy/prometheus/alerts.yml): a poll
//! of the scheduler measures the outbox's unpublished rows and the oldest one's age, the open
//! needs-attention items and the open reconciliation discrepancies with the oldest one's age;
//! published, resolved and settled rows do not count; an outbox row enqueued again counts from
//! then, not from when it was first written; and the stuck schedule's span is a gauge too.

use compensation_scheduler::metrics::SchedulerMetrics;
use compensation_scheduler::runner::Scheduler;
use compensation_scheduler::scan::Scanner;
use compensation_scheduler::schedule::StuckSchedule;
use paygate::broker::envelope::Envelope;
use paygate::broker::outbox;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate_test_support::TestDb;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn migrated() -> TestDb {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    db
}

async fn exec(db: &TestDb, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A scheduler on `db` whose metrics are registered in a registry of their own.
fn scheduler(db: &TestDb) -> (Scheduler, SchedulerMetrics, Registry) {
    let mut registry = Registry::with_prefix("paygate");
    let metrics = SchedulerMetrics::new(&mut registry);
    let topology = Arc::new(Topology::new(TopologyConfig::default()).expect("topology"));
    let scanner = Scanner::new(db.pool.clone(), topology, Arc::new(StuckSchedule::default()), 100);
    (Scheduler::new(scanner, metrics.clone(), Duration::from_secs(1)), metrics, registry)
}

fn encoded(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_measures_the_outbox_attention_and_reconciliation_backlogs() {
    let db = migrated().await;
    // Outbox: two unpublished (10 minutes and 1 minute old), one published long ago.
    exec(
        &db,
        "INSERT INTO outbox (message_id, exchange, routing_key, envelope, created_at, published_at)
         VALUES (gen_random_uuid(), 'paygate.events', 'k', '{}', now() - interval '10 minutes', NULL),
                (gen_random_uuid(), 'paygate.events', 'k', '{}', now() - interval '1 minute', NULL),
                (gen_random_uuid(), 'paygate.events', 'k', '{}', now() - interval '3 days', now() - interval '3 days')",
    )
    .await;
    // Needs-attention: two open (2 hours and 5 minutes old), one resolved.
    exec(
        &db,
        "INSERT INTO attention (kind, created_at, resolved_at, resolved_by, resolution)
         VALUES ('unresolved_after_last_retry', now() - interval '2 hours', NULL, NULL, NULL),
                ('notification_mismatch', now() - interval '5 minutes', NULL, NULL, NULL),
                ('paid_after_close', now() - interval '9 days', now(), 'op', 'refunded')",
    )
    .await;
    // Reconciliation: one open for 2 days, one open for an hour, one resolved, one auto-resolved.
    exec(
        &db,
        "INSERT INTO recon_batches (provider, day, kind, state, window_days)
         VALUES ('mockpay', '2026-01-01', 'trade', 'discrepancies', 3)",
    )
    .await;
    exec(
        &db,
        "INSERT INTO recon_discrepancies (batch_id, kind, subject, detail, state, proof, resolution, resolved_by,
                                          resolved_at, created_at)
         SELECT id, k, s, 'd', st, CASE WHEN st = 'auto_resolved' THEN '{}'::jsonb END,
                CASE WHEN st <> 'open' THEN 'r' END, CASE WHEN st <> 'open' THEN 'op' END,
                CASE WHEN st <> 'open' THEN now() END, now() - age
           FROM recon_batches,
                (VALUES ('missing_locally', 'a', 'open', interval '2 days'),
                        ('amount_mismatch', 'b', 'open', interval '1 hour'),
                        ('fee_mismatch', 'c', 'resolved', interval '5 days'),
                        ('status_mismatch', 'd', 'auto_resolved', interval '6 days')) AS v(k, s, st, age)",
    )
    .await;

    let (scheduler, metrics, registry) = scheduler(&db);
    scheduler.poll(&CancellationToken::new()).await.expect("poll");

    assert_eq!(metrics.outbox_unpublished.get(), 2);
    let outbox_age = metrics.oldest_unpublished_age.get();
    assert!(
        (600.0..660.0).contains(&outbox_age),
        "the oldest unpublished row is 10 minutes old: {outbox_age}"
    );
    assert_eq!(metrics.attention_open.get(), 2);
    let attention_age = metrics.oldest_attention_age.get();
    assert!((7200.0..7260.0).contains(&attention_age), "{attention_age}");
    assert_eq!(metrics.discrepancies_open.get(), 2);
    let discrepancy_age = metrics.oldest_discrepancy_age.get();
    assert!((172_800.0..172_860.0).contains(&discrepancy_age), "{discrepancy_age}");

    let text = encoded(&registry);
    for line in [
        "paygate_outbox_unpublished 2",
        "paygate_outbox_oldest_unpublished_age_seconds 6",
        "paygate_attention_open 2",
        "paygate_attention_oldest_open_age_seconds 72",
        "paygate_recon_discrepancies_open 2",
        "paygate_recon_oldest_open_discrepancy_age_seconds 1728",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_measures_the_exhausted_and_overdue_merchant_callbacks() {
    let db = migrated().await;
    exec(
        &db,
        "INSERT INTO callback_endpoints (id, merchant_id, url, secret)
         VALUES ('cbe_000000000000000000000001', 'm-1', 'http://127.0.0.1:9/cb', 'whsec_' || repeat('0', 64))",
    )
    .await;
    // Two exhausted; pending: one overdue by 10 minutes (no sender took it), one due in the future
    // (a claimed one's lease), one succeeded.
    exec(
        &db,
        "INSERT INTO callback_deliveries (endpoint_id, message_id, event_id, kind, payment_id, sequence, body, state,
                                          next_attempt_at, finished_at)
         SELECT 'cbe_000000000000000000000001', gen_random_uuid(), gen_random_uuid(), 'payment.succeeded',
                gen_random_uuid(), 1, '{}', st, due, fin
           FROM (VALUES ('exhausted', NULL, now() - interval '1 hour'),
                        ('exhausted', NULL, now()),
                        ('pending', now() - interval '10 minutes', NULL),
                        ('pending', now() + interval '40 seconds', NULL),
                        ('succeeded', NULL, now())) AS v(st, due, fin)",
    )
    .await;
    let (scheduler, metrics, registry) = scheduler(&db);
    scheduler.poll(&CancellationToken::new()).await.expect("poll");
    assert_eq!(metrics.callbacks_exhausted.get(), 2);
    let overdue = metrics.oldest_overdue_callback.get();
    assert!((600.0..660.0).contains(&overdue), "10 minutes past due: {overdue}");
    let text = encoded(&registry);
    for line in ["paygate_callbacks_exhausted 2", "paygate_callbacks_oldest_overdue_seconds 6"] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    exec(&db, "UPDATE callback_deliveries SET next_attempt_at = now() + interval '1 minute' WHERE state = 'pending'")
        .await;
    // A new scheduler (a poll measures the backlogs every 30 s), whose gauge starts at 0.
    let (scheduler, metrics, _registry) = self::scheduler(&db);
    metrics.oldest_overdue_callback.set(99.0);
    scheduler.poll(&CancellationToken::new()).await.expect("poll");
    assert_eq!(metrics.oldest_overdue_callback.get(), 0.0, "none overdue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_backlogs_measure_zero() {
    let db = migrated().await;
    let (scheduler, metrics, _registry) = scheduler(&db);
    // Set from an earlier measurement: a poll over empty tables brings them back to 0.
    metrics.outbox_unpublished.set(7);
    metrics.oldest_unpublished_age.set(99.0);
    metrics.oldest_discrepancy_age.set(99.0);
    scheduler.poll(&CancellationToken::new()).await.expect("poll");
    assert_eq!(metrics.outbox_unpublished.get(), 0);
    assert_eq!(metrics.oldest_unpublished_age.get(), 0.0);
    assert_eq!(metrics.attention_open.get(), 0);
    assert_eq!(metrics.discrepancies_open.get(), 0);
    assert_eq!(metrics.oldest_discrepancy_age.get(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_row_enqueued_again_counts_from_then() {
    let db = migrated().await;
    let envelope = Envelope::new("order.notification", "order-1", serde_json::json!({}));
    let prepared = outbox::prepare("paygate.orders", "order-1", &envelope).expect("prepare");
    let mut conn = db.pool.acquire().await.expect("a connection");
    outbox::enqueue_again(&mut conn, std::slice::from_ref(&prepared)).await.expect("enqueue");
    // Published two days ago.
    exec(
        &db,
        "UPDATE outbox SET created_at = now() - interval '2 days', published_at = now() - interval '2 days'",
    )
    .await;
    outbox::enqueue_again(&mut conn, std::slice::from_ref(&prepared)).await.expect("enqueue again");
    drop(conn);
    let (scheduler, metrics, _registry) = scheduler(&db);
    scheduler.poll(&CancellationToken::new()).await.expect("poll");
    assert_eq!(metrics.outbox_unpublished.get(), 1, "the one row, to publish again");
    let age = metrics.oldest_unpublished_age.get();
    assert!(age < 60.0, "enqueued again just now, not two days ago: {age}");
}

#[test]
fn the_stuck_schedule_span_is_a_gauge() {
    let mut registry = Registry::with_prefix("paygate");
    let metrics = SchedulerMetrics::new(&mut registry);
    metrics.stuck_schedule_span(StuckSchedule::default().span());
    assert!(
        encoded(&registry).contains("paygate_scheduler_stuck_schedule_span_seconds 95760"),
        "{}",
        encoded(&registry)
    );
}
