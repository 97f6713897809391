//! The compensation scheduler in a whole system, against mockpay and the real servers: a payment
//! stranded without a follow-up is found and settled by a stuck query; an expired unpaid payment
//! is closed; a payment paid at the last moment before its expiry close wins (one charge) and is
//! flagged; and two schedulers at once close each expired payment exactly once.

use paygate::providers::adapter::trade_no;
use paygate_e2e::system::{MERCHANT, pay_command};
use paygate_e2e::{System, SystemOptions};
use std::time::Duration;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(30);

/// A QR payment (it waits for the customer) that expires `secs` from now.
async fn qr_expiring(system: &System, order: &str, secs: i64) {
    let mut payload = pay_command(order, "9.00", "qr");
    let expires = chrono::Utc::now() + chrono::Duration::seconds(secs);
    payload["expires_at"] = serde_json::json!(expires.to_rfc3339());
    system.upstream.command("command.pay", order, payload).await;
}

/// How many times we called the provider's `operation` for the payment.
async fn calls(system: &System, payment_id: Uuid, operation: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = $2")
        .bind(payment_id)
        .bind(operation)
        .fetch_one(&system.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_stranded_after_its_follow_ups_is_found_by_a_stuck_query() {
    // One retry tier: the dispatcher's follow-up ladder ends after one query, 3 s after the pay
    // request (time enough to break queries first). The scheduler's threshold is 5 s, then 1 s.
    let options = SystemOptions {
        retry_tiers: "3s".into(),
        schedulers: 1,
        stuck_schedule: "5s,1s".into(),
        ..SystemOptions::default()
    };
    let system = System::with(options).await;
    let admin = system.mockpay.admin();
    // The pay request's answer is lost (the charge was taken): UNKNOWN.
    admin
        .set_faults(&mockpay::FaultSettings { lost_response_ppm: 1_000_000, ..Default::default() })
        .await
        .unwrap();
    system.pay("o-stranded", "15.00", "direct").await;
    system.wait_for("o-stranded", "payment.unknown", WITHIN).await;
    // Every query fails too, so the ladder's one follow-up learns nothing and gives up.
    admin.set_faults(&mockpay::FaultSettings { http500_ppm: 1_000_000, ..Default::default() }).await.unwrap();
    let payment = system.payment("o-stranded").await.unwrap();
    paygate_test_support::eventually("the ladder to give up and raise it", WITHIN, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM attention WHERE payment_id = $1 AND kind = 'unresolved_after_last_retry'",
        )
        .bind(payment.id)
        .fetch_one(&system.db.pool)
        .await
        .unwrap()
            == 1
    })
    .await;
    // The provider answers again; nothing but the scheduler is left to ask.
    admin.set_faults(&mockpay::FaultSettings::default()).await.unwrap();
    system.wait_for("o-stranded", "payment.succeeded", WITHIN).await;
    let history = system.history(payment.id).await;
    let settled = history.iter().find(|h| h.to_state == "succeeded").unwrap();
    let reason: Option<String> =
        sqlx::query_scalar("SELECT envelope->'payload'->>'reason' FROM outbox WHERE message_id = $1")
            .bind(settled.cause_message_id)
            .fetch_one(&system.db.pool)
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("stuck"), "settled by the scheduler's query");
    assert_eq!(system.truth(payment.id).await.charges, 1, "never charged twice");
    assert!(
        system
            .scheduler_metrics(0)
            .await
            .contains("paygate_scheduler_enqueued_total{kind=\"payment_query\"}")
    );
    system.stop().await;
}

/// The dispatcher's ladder waits 10 minutes and the stuck threshold is a minute: within the test
/// only the expiry close looks at these payments.
fn expiry_only(schedulers: usize) -> SystemOptions {
    SystemOptions {
        retry_tiers: "10m".into(),
        schedulers,
        stuck_schedule: "1m".into(),
        ..SystemOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_unpaid_payment_is_closed() {
    let system = System::with(expiry_only(1)).await;
    qr_expiring(&system, "o-expires", 2).await;
    system.wait_for("o-expires", "payment.action_required", WITHIN).await;
    system.wait_for("o-expires", "payment.expired", WITHIN).await;
    let payment = system.payment("o-expires").await.unwrap();
    assert_eq!(calls(&system, payment.id, "close").await, 1);
    assert_eq!(system.truth(payment.id).await.charges, 0);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_paid_at_the_last_moment_wins_over_its_expiry() {
    let system = System::with(expiry_only(1)).await;
    qr_expiring(&system, "o-last-moment", 3).await;
    system.wait_for("o-last-moment", "payment.action_required", WITHIN).await;
    let payment = system.payment("o-last-moment").await.unwrap();
    // The customer pays just before the expiry; no notification, and the ladder is 10 min away:
    // the expiry close is the first to ask, and the provider answers "already paid".
    system.mockpay.admin().pay(&trade_no(payment.id)).await.unwrap();
    let event = system.wait_for("o-last-moment", "payment.succeeded", WITHIN).await;
    let payment = system.payment("o-last-moment").await.unwrap();
    assert_eq!(calls(&system, payment.id, "close").await, 1, "found by the expiry close");
    assert!(payment.flags.contains(&"paid_at_expiry".to_owned()), "{:?}", payment.flags);
    assert!(event.flags.contains(&"paid_at_expiry".to_owned()), "upstream hears it: {:?}", event.flags);
    let states: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(states, ["created", "pending", "action_required", "succeeded"], "never closed");
    assert_eq!(system.truth(payment.id).await.charges, 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_close_each_expired_payment_exactly_once() {
    let system = System::with(expiry_only(2)).await;
    let orders: Vec<String> = (0..8).map(|i| format!("o-two-{i}")).collect();
    for order in &orders {
        qr_expiring(&system, order, 2).await;
    }
    for order in &orders {
        system.wait_for(order, "payment.expired", WITHIN).await;
    }
    for order in &orders {
        let payment = system.payment(order).await.unwrap();
        assert_eq!(payment.merchant_id.as_str(), MERCHANT);
        assert_eq!(calls(&system, payment.id, "close").await, 1, "{order}: one close");
    }
    let closes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE envelope->'payload'->>'op' = 'close' AND envelope->'payload'->>'reason' = 'expired'",
    )
    .fetch_one(&system.db.pool)
    .await
    .unwrap();
    assert_eq!(closes, 8, "one expiry close enqueued per payment, by either scheduler");
    system.stop().await;
}
