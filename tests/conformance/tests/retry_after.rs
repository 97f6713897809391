//! A provider's `Retry-After` is honoured through the whole system: stripesim answers a pay with
//! 429 rate limit and `Retry-After: 3`, and the dispatcher sends nothing more to Stripe for that
//! long (its breaker opens for the wait; the work waits on the retry ladder), then pays. The
//! ladder's first tier is 1 s, so a dispatcher that ignored the header would have called again
//! after about a second.

use chrono::{DateTime, Utc};
use conformance::Provider;
use conformance::harness::Harness;
use conformance::stripe::Stripe;
use simkit::{FaultSettings, PPM};
use std::time::Duration;

const RETRY_AFTER_SECS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_provider_is_not_called_again_before_its_retry_after() {
    let stripe = Stripe::start().await.expect("stripesim starts");
    let admin = stripe.admin();
    let mut settings = admin.settings().await.unwrap();
    settings.rate_limit_retry_after_secs = RETRY_AFTER_SECS;
    admin.set_settings(&settings).await.unwrap();
    // Every call is rate limited until the first 429 has been seen.
    admin.set_faults(&FaultSettings { in_process_ppm: PPM, ..FaultSettings::default() }).await.unwrap();

    let h = Harness::start(&stripe, |o| o.retry_tiers = "1s,2s,5s,10s".into()).await;
    h.pay("ra-1", 1_000, stripe.waiting_method()).await;
    let payment = paygate_test_support::eventually_some(
        "a 429 in the exchange log",
        Duration::from_secs(30),
        || async {
            let payment = h.payment("ra-1").await;
            let limited: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND response_status = 429",
            )
            .bind(payment.id)
            .fetch_one(&h.system.db.pool)
            .await
            .unwrap();
            (limited > 0).then_some(payment)
        },
    )
    .await;
    admin.set_faults(&FaultSettings::default()).await.unwrap();
    h.event("ra-1", "payment.action_required").await;

    let calls: Vec<(DateTime<Utc>, Option<i32>)> = sqlx::query_as(
        "SELECT started_at, response_status FROM provider_exchanges
         WHERE payment_id = $1 AND provider = 'stripe' ORDER BY started_at",
    )
    .bind(payment.id)
    .fetch_all(&h.system.db.pool)
    .await
    .unwrap();
    let answered = calls.iter().position(|(_, status)| *status == Some(200)).expect("a call answered 200");
    assert!(answered > 0, "{calls:?}");
    let (limited_at, _) = calls[answered - 1];
    assert_eq!(calls[answered - 1].1, Some(429), "{calls:?}");
    let waited = (calls[answered].0 - limited_at).to_std().unwrap();
    assert!(
        waited >= Duration::from_secs(RETRY_AFTER_SECS),
        "called again {waited:?} after a 429 asking for {RETRY_AFTER_SECS} s: {calls:?}"
    );
    h.stop().await;
    stripe.stop().await;
}
