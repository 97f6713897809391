//! Retention against a real PostgreSQL: published outbox rows and inbox rows older than their
//! retention are pruned, in batches; unpublished rows, however old, and recent rows stay; two
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

async fn count(db: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&db.pool).await.expect(sql)
}

fn week() -> Retention {
    Retention { outbox: 7 * DAY, inbox: 7 * DAY, interval: Duration::from_secs(3600) }
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

    let pruned = week().prune(&db.pool, &CancellationToken::new()).await.expect("prune");

    assert_eq!(pruned, Pruned { outbox: u64::try_from(old_published).unwrap(), inbox: 11 });
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
    let long = parse(&["--retention-interval", "2d"]).unwrap_err().to_string();
    assert!(long.contains("RETENTION_INTERVAL") && long.contains("from 1s to 1d"), "{long}");
    let chosen =
        parse(&["--outbox-retention", "30d", "--inbox-retention", "14d", "--retention-interval", "10m"])
            .expect("chosen settings");
    assert_eq!(
        chosen.config.retention(),
        Retention { outbox: 30 * DAY, inbox: 14 * DAY, interval: Duration::from_secs(600) }
    );
}
