//! The scans against a real PostgreSQL: what is due gets exactly one message per due time (even
//! with two schedulers at once), what is final, not due or too young is left alone, expired
//! unpaid payments get a close, and `next_check_at` moves by the provider's schedule.

use compensation_scheduler::scan::{Counts, Scan, Scanner};
use compensation_scheduler::schedule::StuckSchedule;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate_test_support::TestDb;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn migrated() -> TestDb {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    db
}

fn scanner(db: &TestDb, batch_size: u32) -> Scanner {
    let topology = Topology::new(TopologyConfig::default()).expect("topology");
    Scanner::new(db.pool.clone(), Arc::new(topology), Arc::new(StuckSchedule::default()), batch_size)
}

/// A payment row as the scheduler sees it. `age`, `due_in` and `expires_in` are SQL intervals
/// relative to now (`next_check_at` defaults to the creation time when `due_in` is None).
async fn payment(
    db: &TestDb,
    state: &str,
    age: &str,
    due_in: Option<&str>,
    expires_in: Option<&str>,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor,
                               currency, state, subject, request_fingerprint, created_at, expires_at)
         VALUES ($1, 'm-1', $1::text, 'mockpay', 'qr', 'retail', 100, 'CNY', $2, 's', 'fp',
                 now() - $3::interval, now() + $4::interval)",
    )
    .bind(id)
    .bind(state)
    .bind(age)
    .bind(expires_in)
    .execute(&db.pool)
    .await
    .expect("insert a payment");
    if let Some(due_in) = due_in {
        sqlx::query("UPDATE payments SET next_check_at = now() + $2::interval WHERE id = $1")
            .bind(id)
            .bind(due_in)
            .execute(&db.pool)
            .await
            .expect("set next_check_at");
    }
    id
}

/// The payloads in the outbox, in order.
async fn outbox(db: &TestDb) -> Vec<Value> {
    sqlx::query_scalar("SELECT envelope->'payload' FROM outbox ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn schedule_of(db: &TestDb, id: Uuid) -> (i32, f64) {
    sqlx::query_as(
        "SELECT stuck_checks, EXTRACT(EPOCH FROM next_check_at - now())::float8 FROM payments WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_at_once_enqueue_each_due_order_exactly_once() {
    let db = migrated().await;
    let mut due = BTreeSet::new();
    for i in 0..300 {
        let state = ["pending", "action_required", "unknown"][i % 3];
        due.insert(payment(&db, state, "1 hour", Some("-1 minute"), None).await);
    }
    for _ in 0..30 {
        payment(&db, "pending", "1 hour", Some("10 minutes"), None).await;
        payment(&db, "succeeded", "1 hour", Some("-1 minute"), None).await;
    }
    // Small batches, so that the two interleave over many transactions.
    let (a, b) = (scanner(&db, 7), scanner(&db, 7));
    let stop = CancellationToken::new();
    let (ca, cb) = tokio::join!(a.drain(Scan::StuckPayments, &stop), b.drain(Scan::StuckPayments, &stop));
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert_eq!(ca.payment_queries + cb.payment_queries, 300, "{ca:?} {cb:?}");
    let messages = outbox(&db).await;
    assert_eq!(messages.len(), 300);
    let ids: BTreeSet<Uuid> =
        messages.iter().map(|m| m["payment_id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, due, "each due payment exactly once, and nothing else");
    assert!(messages.iter().all(|m| m["op"] == "query" && m["reason"] == "stuck"));
    // Nothing is due any more: a third pass finds nothing.
    assert_eq!(a.scan_all(&stop).await.unwrap(), Counts::default());
}

#[tokio::test]
async fn final_not_due_and_young_orders_are_left_alone_and_the_due_move_by_the_schedule() {
    let db = migrated().await;
    let stuck = payment(&db, "unknown", "1 hour", Some("-1 second"), None).await;
    let young = payment(&db, "pending", "10 seconds", None, None).await;
    let not_due = payment(&db, "pending", "1 hour", Some("1 hour"), None).await;
    let paid = payment(&db, "succeeded", "1 hour", Some("-1 hour"), None).await;
    let created = payment(&db, "created", "1 hour", None, None).await;

    let counts = scanner(&db, 100).scan_all(&CancellationToken::new()).await.unwrap();
    assert_eq!(counts, Counts { payment_queries: 1, deferred: 1, ..Counts::default() });
    let messages = outbox(&db).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["payment_id"], stuck.to_string());

    // The stuck one waits the second tier (5m) now; the young one waits until it is 1m old.
    let (checks, wait) = schedule_of(&db, stuck).await;
    assert_eq!(checks, 1);
    assert!((295.0..=301.0).contains(&wait), "next check in {wait} s");
    let (checks, wait) = schedule_of(&db, young).await;
    assert_eq!(checks, 0);
    assert!((45.0..=51.0).contains(&wait), "next check in {wait} s");
    for untouched in [not_due, paid, created] {
        assert_eq!(schedule_of(&db, untouched).await.0, 0);
    }
}

#[tokio::test]
async fn a_new_payment_is_never_invisible_to_the_stuck_scan() {
    let db = migrated().await;
    let id = payment(&db, "pending", "0 seconds", None, None).await;
    let next: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM next_check_at - created_at)::float8 FROM payments WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(next, Some(0.0), "next_check_at defaults to the creation time");
}

#[tokio::test]
async fn expired_unpaid_payments_get_one_close_per_due_time() {
    let db = migrated().await;
    let created = payment(&db, "created", "1 hour", None, Some("-1 second")).await;
    let waiting = payment(&db, "action_required", "1 hour", Some("1 hour"), Some("-5 minutes")).await;
    let _paid = payment(&db, "succeeded", "1 hour", None, Some("-1 minute")).await;
    let _later = payment(&db, "action_required", "1 hour", Some("1 hour"), Some("1 hour")).await;

    let s = scanner(&db, 100);
    let counts = s.drain(Scan::Expired, &CancellationToken::new()).await.unwrap();
    assert_eq!(counts.expiry_closes, 2);
    let closed: BTreeSet<String> = outbox(&db)
        .await
        .iter()
        .map(|m| {
            assert_eq!((m["op"].as_str(), m["reason"].as_str()), (Some("close"), Some("expired")));
            m["payment_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(closed, [created.to_string(), waiting.to_string()].into());
    // Asked once: the next poll does not ask again before the provider's wait.
    assert_eq!(s.scan_all(&CancellationToken::new()).await.unwrap(), Counts::default());
    let (checks, wait) = schedule_of(&db, created).await;
    assert_eq!(checks, 1);
    assert!(wait > 250.0, "the stuck scan stays away while the close is under way ({wait} s)");
}

#[tokio::test]
async fn stuck_refunds_are_queried_on_their_payments_shard() {
    let db = migrated().await;
    let payment_id = payment(&db, "succeeded", "1 hour", None, None).await;
    let refund_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, merchant_id, refund_no, amount_minor, currency, state,
                              requested_by, request_fingerprint, created_at, next_check_at)
         VALUES ($1, $2, 'm-1', 'r-1', 50, 'CNY', 'processing', 'alice', 'fp', now() - interval '1 hour',
                 now() - interval '1 second')",
    )
    .bind(refund_id)
    .bind(payment_id)
    .execute(&db.pool)
    .await
    .unwrap();
    let counts = scanner(&db, 100).scan_all(&CancellationToken::new()).await.unwrap();
    assert_eq!(counts.refund_queries, 1);
    let envelope: Value =
        sqlx::query_scalar("SELECT envelope FROM outbox").fetch_one(&db.pool).await.unwrap();
    assert_eq!(envelope["order_key"], payment_id.to_string());
    assert_eq!(envelope["payload"]["refund_id"], refund_id.to_string());
    assert_eq!(envelope["payload"]["reason"], "stuck");
}

/// Makes every non-final payment and refund due again now.
async fn due_again(db: &TestDb) {
    sqlx::query("UPDATE payments SET next_check_at = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE refunds SET next_check_at = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
}

/// The dispatcher handled these messages (its inbox holds them).
async fn handled(db: &TestDb, message_ids: &[Uuid]) {
    sqlx::query("INSERT INTO processed_messages (consumer, message_id) SELECT $1, UNNEST($2::uuid[])")
        .bind(paygate::messages::orders::ORDER_WORK_CONSUMER)
        .bind(message_ids)
        .execute(&db.pool)
        .await
        .unwrap();
}

async fn outbox_ids(db: &TestDb) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT message_id FROM outbox ORDER BY id").fetch_all(&db.pool).await.unwrap()
}

#[tokio::test]
async fn an_order_whose_stuck_query_waits_unhandled_gets_no_second_one_until_it_is_handled() {
    let db = migrated().await;
    let stuck = payment(&db, "unknown", "1 hour", Some("-1 minute"), None).await;
    let paid = payment(&db, "succeeded", "1 hour", None, None).await;
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, merchant_id, refund_no, amount_minor, currency, state,
                              requested_by, request_fingerprint, created_at, next_check_at)
         VALUES ($1, $2, 'm-1', 'r-1', 50, 'CNY', 'processing', 'alice', 'fp', now() - interval '1 hour',
                 now() - interval '1 second')",
    )
    .bind(Uuid::now_v7())
    .bind(paid)
    .execute(&db.pool)
    .await
    .unwrap();
    let scanner = scanner(&db, 100);
    let stop = CancellationToken::new();

    let first = scanner.scan_all(&stop).await.unwrap();
    assert_eq!((first.payment_queries, first.refund_queries), (1, 1), "{first:?}");
    // Due again while both queries still wait on the shard (the dispatchers are behind).
    for _ in 0..3 {
        due_again(&db).await;
        let again = scanner.scan_all(&stop).await.unwrap();
        assert_eq!(
            again,
            Counts { unanswered: 2, ..Counts::default() },
            "no second query while the first waits unhandled"
        );
    }
    assert_eq!(outbox_ids(&db).await.len(), 2);
    // Moved on by the tier it was on, its count of queries unchanged.
    let (checks, wait) = schedule_of(&db, stuck).await;
    assert_eq!(checks, 1);
    assert!((295.0..=301.0).contains(&wait), "next look in {wait} s");

    // Once the dispatcher has handled them, the next due time sends the next queries.
    handled(&db, &outbox_ids(&db).await).await;
    due_again(&db).await;
    let next = scanner.scan_all(&stop).await.unwrap();
    assert_eq!((next.payment_queries, next.refund_queries, next.unanswered), (1, 1, 0), "{next:?}");
    assert_eq!(schedule_of(&db, stuck).await.0, 2);
}

#[tokio::test]
async fn a_stuck_query_unhandled_past_the_resend_bound_is_sent_again() {
    let db = migrated().await;
    payment(&db, "pending", "1 hour", Some("-1 minute"), None).await;
    let scanner = scanner(&db, 100).resending_after(std::time::Duration::from_secs(60));
    let stop = CancellationToken::new();
    assert_eq!(scanner.scan_all(&stop).await.unwrap().payment_queries, 1);
    due_again(&db).await;
    assert_eq!(scanner.scan_all(&stop).await.unwrap().unanswered, 1);
    // Dead-lettered, say: it will never be handled. Past the bound, the order is asked again.
    sqlx::query("UPDATE payments SET stuck_query_sent_at = now() - interval '61 seconds'")
        .execute(&db.pool)
        .await
        .unwrap();
    due_again(&db).await;
    let again = scanner.scan_all(&stop).await.unwrap();
    assert_eq!((again.payment_queries, again.unanswered), (1, 0), "{again:?}");
    assert_eq!(outbox_ids(&db).await.len(), 2);
}

#[tokio::test]
async fn the_expiry_scan_can_use_its_partial_index() {
    let db = migrated().await;
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM payments
          WHERE state IN ('created', 'pending', 'action_required', 'unknown') AND expires_at <= now()
          ORDER BY expires_at LIMIT 100",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(plan.join("\n").contains("payments_expiry_scan"), "{}", plan.join("\n"));
}

/// An authorised (manual-capture) payment authorised `authorized_ago` ago.
async fn authorised(db: &TestDb, authorized_ago: &str) -> Uuid {
    let id = payment(db, "created", "8 days", None, None).await;
    sqlx::query(
        "UPDATE payments SET capture_mode = 'manual', state = 'authorized', authorized_at = now() - $2::interval
          WHERE id = $1",
    )
    .bind(id)
    .bind(authorized_ago)
    .execute(&db.pool)
    .await
    .expect("authorise the payment");
    id
}

#[tokio::test]
async fn authorisations_past_their_expiry_get_one_void_per_due_time() {
    let db = migrated().await;
    let old = authorised(&db, "7 days 1 minute").await;
    let young = authorised(&db, "6 days").await;
    let expiry = StuckSchedule::parse("7d,1h;stripe=1d").expect("an expiry schedule");
    let s = scanner(&db, 100).with_authorization_expiry(Arc::new(expiry));
    let counts = s.drain(Scan::AuthorizationExpired, &CancellationToken::new()).await.unwrap();
    assert_eq!((counts.authorization_voids, counts.deferred), (1, 1), "{counts:?}");
    let sent = outbox(&db).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0]["op"].as_str(), sent[0]["reason"].as_str(), sent[0]["payment_id"].as_str()),
        (Some("void"), Some("expired"), Some(old.to_string().as_str()))
    );
    // Asked once: nothing more until the next tier, and the young one waits for its expiry.
    assert_eq!(s.scan_all(&CancellationToken::new()).await.unwrap(), Counts::default());
    let next: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM expiry_close_at - authorized_at)::float8 FROM payments WHERE id = $1",
    )
    .bind(young)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!((next - 7.0 * 86_400.0).abs() < 1.0, "the young one is looked at at its expiry ({next} s)");
    // A voided one is never looked at again.
    sqlx::query(
        "UPDATE payments SET state = 'voided', expiry_close_at = now() - interval '1 second' WHERE id = $1",
    )
    .bind(old)
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(s.scan_all(&CancellationToken::new()).await.unwrap(), Counts::default());
}

#[tokio::test]
async fn a_capture_or_void_that_may_have_been_sent_is_queried_when_stuck() {
    let db = migrated().await;
    let capturing = payment(&db, "created", "1 hour", Some("-1 second"), None).await;
    let voiding = payment(&db, "created", "1 hour", Some("-1 second"), None).await;
    let authorised = payment(&db, "created", "1 hour", Some("-1 second"), None).await;
    for (id, state) in [(capturing, "capturing"), (voiding, "voiding"), (authorised, "authorized")] {
        sqlx::query("UPDATE payments SET capture_mode = 'manual', state = $2 WHERE id = $1")
            .bind(id)
            .bind(state)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let counts = scanner(&db, 100).drain(Scan::StuckPayments, &CancellationToken::new()).await.unwrap();
    assert_eq!(counts.payment_queries, 2, "{counts:?}");
    let asked: BTreeSet<String> =
        outbox(&db).await.iter().map(|m| m["payment_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(asked, [capturing.to_string(), voiding.to_string()].into(), "an authorisation is not stuck");

    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM payments
          WHERE state IN ('pending', 'action_required', 'unknown', 'capturing', 'voiding') AND next_check_at <= now()
          ORDER BY next_check_at LIMIT 100",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(plan.join("\n").contains("payments_stuck_scan"), "{}", plan.join("\n"));
}
