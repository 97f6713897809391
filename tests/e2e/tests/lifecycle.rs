//! The money path end to end, against mockpay and the real servers: every state machine path a
//! payment and its refunds take, published as upstream commands and observed as upstream events,
//! with the provider's own truth checked at the end (exactly one charge, never more refunded than
//! paid).

use paygate_e2e::System;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_payment_succeeds_with_one_charge() {
    let system = System::start().await;
    system.pay("o-direct", "12.34", "direct").await;
    let event = system.upstream.wait_for("o-direct", "payment.succeeded", WITHIN).await;
    assert_eq!(event.amount.minor_units(), 1234);
    assert!(event.provider_txn_id.is_some(), "the provider's transaction id travels with the event");
    let payment = system.payment("o-direct").await.unwrap();
    let truth = system.truth(payment.id).await;
    assert_eq!(truth.charges, 1);
    let history: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(history, ["created", "pending", "succeeded"]);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_fails_with_the_providers_reason() {
    let system = System::start().await;
    // The trade number is only known once ingest created the payment: decline every charge.
    system
        .mockpay
        .admin()
        .set_faults(&mockpay::FaultSettings { decline_ppm: 1_000_000, ..Default::default() })
        .await
        .unwrap();
    system.pay("o-decline", "5.00", "direct").await;
    let event = system.upstream.wait_for("o-decline", "payment.failed", WITHIN).await;
    let reason = event.reason.expect("a failure says why");
    assert!(reason.contains("declined_insufficient_funds"), "{reason}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_payment_waits_for_the_customer_and_a_query_finds_it_paid() {
    let system = System::start().await;
    system.pay("o-qr", "8.00", "qr").await;
    let waiting = system.upstream.wait_for("o-qr", "payment.action_required", WITHIN).await;
    let action = serde_json::to_value(waiting.action.expect("the customer's action")).unwrap();
    assert!(action["qr_code"].as_str().unwrap().starts_with("mockpay://pay/"), "{action}");
    let payment = system.payment("o-qr").await.unwrap();
    // The customer pays; no notification URL is configured, so the follow-up query finds it.
    system.mockpay.admin().pay(&paygate::providers::adapter::trade_no(payment.id)).await.unwrap();
    system.upstream.wait_for("o-qr", "payment.succeeded", WITHIN).await;
    assert_eq!(system.truth(payment.id).await.charges, 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_unknown_then_the_query_finds_the_one_charge() {
    let system = System::start().await;
    // Every first pay request's answer is lost after the charge was taken.
    system
        .mockpay
        .admin()
        .set_faults(&mockpay::FaultSettings { lost_response_ppm: 1_000_000, ..Default::default() })
        .await
        .unwrap();
    system.pay("o-lost", "20.00", "direct").await;
    system.upstream.wait_for("o-lost", "payment.unknown", WITHIN).await;
    system.mockpay.admin().set_faults(&mockpay::FaultSettings::default()).await.unwrap();
    system.upstream.wait_for("o-lost", "payment.succeeded", WITHIN).await;
    let payment = system.payment("o-lost").await.unwrap();
    assert_eq!(system.truth(payment.id).await.charges, 1, "never charged twice");
    let states: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(states, ["created", "pending", "unknown", "succeeded"]);
    system.stop().await;
}
