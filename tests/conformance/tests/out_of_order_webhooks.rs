//! Stripe's webhooks arrive in no guaranteed order: through the whole system, a decline's event
//! delivered after the later success's never moves the payment backwards. stripesim holds each
//! event back until the order's next one has been tried (its `notification_reorder` fault), so
//! `payment_intent.succeeded` reaches notify-handler before the older
//! `payment_intent.payment_failed`. The dispatcher confirms every event by asking Stripe, which
//! says succeeded both times.

use conformance::Provider;
use conformance::harness::Harness;
use conformance::stripe::Stripe;
use simkit::{FaultSettings, PPM};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_event_arriving_after_a_newer_one_never_moves_the_payment_backwards() {
    let stripe = Stripe::start().await.expect("stripesim starts");
    let admin = stripe.admin();
    admin
        .set_faults(&FaultSettings { notification_reorder_ppm: PPM, ..FaultSettings::default() })
        .await
        .unwrap();
    let h = Harness::start(&stripe, |_| {}).await;
    h.pay("ooo-1", 1_000, stripe.waiting_method()).await;
    h.event("ooo-1", "payment.action_required").await;
    let trade_no = h.trade_no("ooo-1").await;
    // The customer's bank declines the first card; the second card pays.
    let declined = admin.pay(&trade_no, "pm_card_chargeDeclined").await;
    assert!(declined.is_err(), "the first card is declined");
    admin.pay(&trade_no, "pm_card_visa").await.expect("the second card pays");
    h.event("ooo-1", "payment.succeeded").await;

    let payment = h.payment("ooo-1").await;
    let received: Vec<(String, String)> = paygate_test_support::eventually_some(
        "both events stored and decided",
        Duration::from_secs(30),
        || async {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT body::jsonb->>'type', status FROM notifications
                 WHERE payment_id = $1 ORDER BY received_at, id",
            )
            .bind(payment.id)
            .fetch_all(&h.system.db.pool)
            .await
            .unwrap();
            (rows.len() >= 2 && rows.iter().all(|(_, status)| status != "received")).then_some(rows)
        },
    )
    .await;
    let kinds: Vec<&str> = received.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds[..2],
        ["payment_intent.succeeded", "payment_intent.payment_failed"],
        "the older event arrived last: {received:?}"
    );
    assert_eq!(h.payment("ooo-1").await.state.as_str(), "succeeded");
    let states = h.states("ooo-1").await;
    assert_eq!(states.last().map(String::as_str), Some("succeeded"), "{states:?}");
    assert!(!states.iter().any(|s| s == "failed"), "never failed on the way: {states:?}");
    let events: Vec<String> = h.events("ooo-1").into_iter().map(|e| e.kind).collect();
    assert!(!events.iter().any(|k| k == "payment.failed"), "upstream never told failed: {events:?}");
    h.stop().await;
    stripe.stop().await;
}
