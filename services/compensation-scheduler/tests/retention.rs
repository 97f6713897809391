//! Retention against a real PostgreSQL: published outbox rows, inbox rows and succeeded merchant
//! callbacks (with their attempts) older than their retention are pruned, in batches; unpublished
//! rows and pending or exhausted callbacks, however old, and recent rows stay; two
//! pruners at once delete each row once; and a retention setting out of range names its variable
//! and the rule.

use clap::Parser;
use compensation_scheduler::configuration::Cli;
use compensation_scheduler::retention::{BATCH, Pruned, Retention};
use paygate_test_support::TestDb;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DAY: Duration = Duration::from_secs(86_400);

async fn migrated() -> TestDb {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    db
}

/// Adds `n` outbox rows created `age` ago, published then too (`published`) or not at all.
async fn outbox_rows(db: &TestDb, n: i64, age: &str, published: bool) {
    sqlx::query(
        "INSERT INTO outbox (message_id, exchange, routing_key, envelope, created_at, published_at)
         SELECT gen_random_uuid(), 'paygate.events', 'payment.succeeded.retail', '{}'::jsonb,
                now() - $2::interval, CASE WHEN $3 THEN now() - $2::interval END
           FROM generate_series(1, $1)",
    )
    .bind(n)
    .bind(age)
    .bind(published)
    .execute(&db.pool)
    .await
    .expect("insert outbox rows");
}

/// Adds `n` inbox rows processed `age` ago.
async fn inbox_rows(db: &TestDb, n: i64, age: &str) {
    sqlx::query(
        "INSERT INTO processed_messages (consumer, message_id, processed_at)
         SELECT 'ingest', gen_random_uuid(), now() - $2::interval FROM generate_series(1, $1)",
    )
    .bind(n)
    .bind(age)
    .execute(&db.pool)
    .await
    .expect("insert inbox rows");
}

/// Adds `n` callback deliveries in `state`, finished `age` ago, each with one attempt.
async fn callback_rows(db: &TestDb, n: i64, state: &str, age: &str) {
    sqlx::query(
        "INSERT INTO callback_endpoints (id, merchant_id, url, secret)
         VALUES ('cbe_000000000000000000000001', 'm-1', 'http://127.0.0.1:9/cb', 'whsec_' || repeat('0', 64))
         ON CONFLICT DO NOTHING",
    )
    .execute(&db.pool)
    .await
    .expect("insert an endpoint");
    sqlx::query(
        "WITH d AS (
             INSERT INTO callback_deliveries (endpoint_id, message_id, event_id, kind, payment_id, sequence, body,
                                              state, next_attempt_at, finished_at)
             SELECT 'cbe_000000000000000000000001', gen_random_uuid(), gen_random_uuid(), 'payment.succeeded',
                    gen_random_uuid(), 1, '{}', $2, CASE WHEN $2 = 'pending' THEN now() END,
                    CASE WHEN $2 <> 'pending' THEN now() - $3::interval END
               FROM generate_series(1, $1)
             RETURNING id)
         INSERT INTO callback_attempts (delivery_id, attempt, started_at, latency_ms, status)
         SELECT id, 1, now() - $3::interval, 5, 200 FROM d",
    )
    .bind(n)
    .bind(state)
    .bind(age)
    .execute(&db.pool)
    .await
    .expect("insert callback deliveries");
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&db.pool).await.expect(sql)
}

fn week() -> Retention {
    Retention { outbox: 7 * DAY, inbox: 7 * DAY, callbacks: 30 * DAY, interval: Duration::from_secs(3600) }
}

#[tokio::test]
async fn what_is_past_its_retention_goes_and_nothing_else() {
    let db = migrated().await;
    // More old published rows than one batch holds, so that pruning takes several.
    let old_published = BATCH + 7;
    outbox_rows(&db, old_published, "8 days", true).await;
    outbox_rows(&db, 3, "30 days", false).await; // never published: still to send
    outbox_rows(&db, 4, "6 days", true).await; // published, within the week
    inbox_rows(&db, 11, "8 days").await;
    inbox_rows(&db, 5, "1 day").await;
    callback_rows(&db, 6, "succeeded", "31 days").await;
    callback_rows(&db, 2, "succeeded", "29 days").await;
    callback_rows(&db, 3, "exhausted", "90 days").await; // waits for an operator
    callback_rows(&db, 1, "pending", "90 days").await; // still owed

    let pruned = week().prune(&db.pool, &CancellationToken::new()).await.expect("prune");

    assert_eq!(pruned, Pruned { outbox: u64::try_from(old_published).unwrap(), inbox: 11, callbacks: 6 });
    assert_eq!(count(&db, "SELECT count(*) FROM callback_deliveries WHERE state = 'exhausted'").await, 3);
    assert_eq!(count(&db, "SELECT count(*) FROM callback_deliveries WHERE state = 'pending'").await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM callback_deliveries").await, 6);
    assert_eq!(count(&db, "SELECT count(*) FROM callback_attempts").await, 6, "the attempts went with them");
    assert_eq!(count(&db, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await, 3);
    assert_eq!(count(&db, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").await, 4);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE published_at < now() - interval '7 days'").await,
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM processed_messages").await, 5);
    // A second run finds nothing more.
    let again = week().prune(&db.pool, &CancellationToken::new()).await.expect("prune again");
    assert_eq!(again, Pruned::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pruners_at_once_delete_each_row_once() {
    let db = migrated().await;
    let old = 3 * BATCH;
    outbox_rows(&db, old, "9 days", true).await;
    inbox_rows(&db, old, "9 days").await;
    let stop = CancellationToken::new();
    let (first, second) = (week(), week());
    let (a, b) = tokio::join!(first.prune(&db.pool, &stop), second.prune(&db.pool, &stop));
    let (a, b) = (a.expect("pruner a"), b.expect("pruner b"));
    let expected = u64::try_from(old).unwrap();
    assert_eq!(a.outbox + b.outbox, expected, "{a:?} {b:?}");
    assert_eq!(a.inbox + b.inbox, expected, "{a:?} {b:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM outbox").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM processed_messages").await, 0);
}

#[test]
fn retention_settings_name_their_variable_and_range() {
    let parse = |args: &[&str]| Cli::try_parse_from([&["compensation-scheduler"], args].concat());
    let ok = parse(&[]).expect("defaults");
    assert_eq!(ok.config.retention(), week());

    let short = parse(&["--inbox-retention", "12h"]).unwrap_err().to_string();
    assert!(short.contains("INBOX_RETENTION") && short.contains("from 1d to 3650d"), "{short}");
    let unitless = parse(&["--outbox-retention", "7"]).unwrap_err().to_string();
    assert!(unitless.contains("OUTBOX_RETENTION") && unitless.contains("unit"), "{unitless}");
    let callbacks = parse(&["--callback-retention", "1h"]).unwrap_err().to_string();
    assert!(
        callbacks.contains("CALLBACK_RETENTION") && callbacks.contains("from 1d to 3650d"),
        "{callbacks}"
    );
    let long = parse(&["--retention-interval", "2d"]).unwrap_err().to_string();
    assert!(long.contains("RETENTION_INTERVAL") && long.contains("from 1s to 1d"), "{long}");
    let chosen =
        parse(&["--outbox-retention", "30d", "--inbox-retention", "14d", "--retention-interval", "10m"])
            .expect("chosen settings");
    assert_eq!(
        chosen.config.retention(),
        Retention {
            outbox: 30 * DAY,
            inbox: 14 * DAY,
            callbacks: 30 * DAY,
            interval: Duration::from_secs(600)
        }
    );
}
