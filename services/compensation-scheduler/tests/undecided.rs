//! The sweep of undecided notifications against a real PostgreSQL: a `received` row past the
//! age is forwarded under the notification's own message id; a young or decided row is left
//! alone; a swept row waits (doubling) before it is forwarded again, and then its outbox row is
//! published again rather than duplicated; the backlog gauges say how many and how old.

use compensation_scheduler::metrics::SchedulerMetrics;
use compensation_scheduler::undecided::Sweep;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::messages::orders::notification_message_id;
use paygate_test_support::TestDb;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn migrated() -> TestDb {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    db
}

fn sweep(db: &TestDb, age: Duration) -> Sweep {
    let topology = Topology::new(TopologyConfig::default()).expect("topology");
    Sweep { pool: db.pool.clone(), topology: Arc::new(topology), age, interval: age, batch_size: 2 }
}

/// A closed payment, and a notification about it stored `age` ago (an SQL interval) with
/// `status`, as notify-handler stores it. Returns the notification's id.
async fn notification(db: &TestDb, age: &str, status: &str) -> i64 {
    let payment = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor,
                               currency, state, subject, request_fingerprint)
         VALUES ($1, 'm-1', $1::text, 'mockpay', 'qr', 'retail', 100, 'CNY', 'closed', 's', 'fp')",
    )
    .bind(payment)
    .execute(&db.pool)
    .await
    .expect("insert a payment");
    let decided = status != "received";
    sqlx::query_scalar(
        "INSERT INTO notifications (provider, provider_notification_id, payment_id, merchant_trade_no, body,
                                    received_at, status, reason, processed_at)
         VALUES ('mockpay', $1::text, $1, $1::text, '{}', now() - $2::interval, $3,
                 CASE WHEN $4 THEN 'test' END, CASE WHEN $4 THEN now() END)
         RETURNING id",
    )
    .bind(payment)
    .bind(age)
    .bind(status)
    .bind(decided)
    .fetch_one(&db.pool)
    .await
    .expect("insert a notification")
}

/// The outbox: (message id, notification id, published).
async fn outbox(db: &TestDb) -> Vec<(Uuid, i64, bool)> {
    sqlx::query_as(
        "SELECT message_id, (envelope->'payload'->>'notification_id')::bigint, published_at IS NOT NULL
           FROM outbox ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecided_notifications_past_the_age_are_forwarded_under_their_own_message_id() {
    let db = migrated().await;
    let old = notification(&db, "10 minutes", "received").await;
    let older = notification(&db, "20 minutes", "received").await;
    let _young = notification(&db, "1 minute", "received").await;
    let _decided = notification(&db, "30 minutes", "applied").await;
    let sweep = sweep(&db, Duration::from_secs(300));
    let stop = CancellationToken::new();
    // Two batches of two (the batch size): the two due rows, oldest first.
    assert_eq!(sweep.sweep(&stop).await.unwrap(), 2);
    let sent = outbox(&db).await;
    assert_eq!(
        sent,
        [(notification_message_id(older), older, false), (notification_message_id(old), old, false)]
    );
    let routing: (String, bool) = sqlx::query_as(
        "SELECT envelope->>'message_type', envelope->>'order_key' = routing_key FROM outbox LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(routing, ("order.notification".to_owned(), true), "to the order's shard");

    // Swept: not again until its wait (twice the age) has passed.
    assert_eq!(sweep.sweep(&stop).await.unwrap(), 0);
    let (sweeps, wait): (i32, f64) = sqlx::query_as(
        "SELECT sweeps, EXTRACT(EPOCH FROM next_sweep_at - now())::float8 FROM notifications WHERE id = $1",
    )
    .bind(old)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(sweeps, 1);
    assert!((590.0..=600.0).contains(&wait), "{wait}");

    // Published, then due again: the same outbox row is published again, not a second one.
    sqlx::query("UPDATE outbox SET published_at = now()").execute(&db.pool).await.unwrap();
    sqlx::query("UPDATE notifications SET next_sweep_at = now() WHERE id = $1")
        .bind(old)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(sweep.sweep(&stop).await.unwrap(), 1);
    assert_eq!(
        outbox(&db).await,
        [(notification_message_id(older), older, true), (notification_message_id(old), old, false)]
    );
    assert_eq!(sweep.wait(2), Duration::from_secs(1200), "the next wait doubles again");
    assert_eq!(sweep.wait(12), Duration::from_secs(3600), "capped at an hour");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_gauges_count_the_undecided_and_the_oldest_age() {
    let db = migrated().await;
    let mut registry = prometheus_client::registry::Registry::with_prefix("paygate");
    let metrics = SchedulerMetrics::new(&mut registry);
    notification(&db, "1 minute", "received").await;
    notification(&db, "1 hour", "received").await;
    notification(&db, "2 hours", "ignored").await;
    let sweep = sweep(&db, Duration::from_secs(86_400));
    assert_eq!(sweep.run_once(&metrics, None, &CancellationToken::new()).await.unwrap(), 0);
    assert_eq!(metrics.undecided_notifications.get(), 2);
    let oldest = metrics.oldest_undecided_notification_age.get();
    assert!((3600.0..3700.0).contains(&oldest), "{oldest}");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("paygate_scheduler_undecided_notifications 2"), "{text}");
    assert!(text.contains("paygate_scheduler_oldest_undecided_notification_age_seconds 36"), "{text}");
}
