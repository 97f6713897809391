//! Provider notifications end to end: mockpay notifies notify-handler, which stores, forwards and
//! acknowledges; the dispatcher checks each claim against its order and confirms it by querying
//! back. Duplicates and reordering converge, a success after close becomes a payment flagged
//! `paid_after_close` (refunded when the merchant's policy says so), a tampered amount is
//! flagged and changes nothing, and the database or broker being down makes the webhook answer
//! non-2xx until a retry succeeds.
//!
//! The retry ladder is long here (30 s), so that within a test only notifications (not the
//! follow-up queries) can move an order that waits for its customer.

use mockpay::{Fault, Operation, Settings};
use paygate::providers::adapter::trade_no;
use paygate::providers::mockpay::notification::signed_headers;
use paygate::providers::mockpay::signing::Secret;
use paygate::store::notifications::Row;
use paygate_e2e::system::{MERCHANT, MOCKPAY_MERCHANT, MOCKPAY_SECRET};
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::{eventually, eventually_some};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(30);

fn options() -> SystemOptions {
    SystemOptions {
        notify_handler: true,
        retry_tiers: "30s,60s".into(),
        mockpay: Settings {
            refund_delay_ms: 50,
            timeout_hold_ms: 5_000,
            notify_retry_ms: vec![300, 600, 1_000, 2_000, 3_000, 5_000, 8_000],
            ..Settings::default()
        },
        ..SystemOptions::default()
    }
}

/// A QR payment waiting for its customer; returns its id and our trade number.
async fn waiting(system: &System, order: &str, amount: &str) -> (Uuid, String) {
    system.pay(order, amount, "qr").await;
    system.wait_for(order, "payment.action_required", WITHIN).await;
    let id = system.payment(order).await.unwrap().id;
    (id, trade_no(id))
}

/// Waits until the payment has `n` inbox rows, none undecided.
async fn decided(system: &System, payment_id: Uuid, n: usize) -> Vec<Row> {
    eventually_some(&format!("{n} decided notifications of {payment_id}"), WITHIN, || async {
        let rows = system.notifications(payment_id).await;
        (rows.len() == n && rows.iter().all(|r| r.status != "received")).then_some(rows)
    })
    .await
}

fn queries(exchanges: &[paygate::store::exchanges::ExchangeRow]) -> usize {
    exchanges.iter().filter(|x| x.operation == "query").count()
}

async fn exchanges(system: &System, payment_id: Uuid) -> Vec<paygate::store::exchanges::ExchangeRow> {
    let mut conn = system.db.pool.acquire().await.unwrap();
    paygate::store::exchanges::of_payment(&mut conn, payment_id).await.unwrap()
}

async fn open_attention(system: &System, kind: &str) -> Vec<paygate::store::attention::Item> {
    let mut conn = system.db.pool.acquire().await.unwrap();
    paygate::store::attention::open(&mut conn, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_confirmed_by_its_notification_and_a_duplicate_changes_nothing() {
    let system = System::with(options()).await;
    let (id, trade) = waiting(&system, "o-ntf", "8.00").await;
    let admin = system.mockpay.admin();
    admin.script_fault(&trade, Operation::Notify, Fault::DuplicateNotification, 1).await.unwrap();
    admin.pay(&trade).await.unwrap();
    system.wait_for("o-ntf", "payment.succeeded", WITHIN).await;
    let rows = decided(&system, id, 1).await;
    assert_eq!(rows[0].status, "applied", "{rows:?}");
    assert!(rows[0].body.contains("PAYMENT.SUCCEEDED"));
    // The claim was confirmed by asking mockpay, not taken at its word.
    assert_eq!(queries(&exchanges(&system, id).await), 1);
    // Both copies were acknowledged; the second found the row decided and changed nothing.
    eventually("both copies acknowledged", WITHIN, || async {
        let truth = system.truth(id).await;
        let n = &truth.notifications[0];
        (0..2).all(|copy| n.attempts.iter().any(|a| a.copy == copy && a.acknowledged))
    })
    .await;
    assert_eq!(system.notifications(id).await.len(), 1, "one inbox row for both copies");
    let states: Vec<String> = system.history(id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(states, ["created", "pending", "action_required", "succeeded"]);
    assert_eq!(system.truth(id).await.charges, 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refunds_notification_before_the_payments_converges() {
    // A short ladder: the delayed payment notification must not be what finds the payment paid.
    let system = System::with(SystemOptions { retry_tiers: "1s,2s,3s,5s".into(), ..options() }).await;
    let (id, trade) = waiting(&system, "o-reorder", "10.00").await;
    let admin = system.mockpay.admin();
    admin.script_fault(&trade, Operation::Notify, Fault::DelayNotificationMs(8_000), 1).await.unwrap();
    admin.pay(&trade).await.unwrap();
    // The follow-up query finds it paid; the refund's notification overtakes the payment's.
    system.wait_for("o-reorder", "payment.succeeded", WITHIN).await;
    system.refund("o-reorder", "r-1", "10.00", "alice").await;
    system.wait_for("o-reorder", "payment.refunded", WITHIN).await;
    let rows = decided(&system, id, 2).await;
    assert!(rows[0].body.contains("REFUND.SUCCEEDED"), "the refund's arrived first: {rows:?}");
    assert!(rows[1].body.contains("PAYMENT.SUCCEEDED"));
    let late = &rows[1];
    assert_eq!(late.status, "ignored", "{late:?}");
    assert!(late.reason.as_deref().unwrap().contains("payment is refunded"), "{late:?}");
    let truth = system.truth(id).await;
    assert_eq!((truth.charges, truth.refunded_amount), (1, 1000));
    let payment = system.payment("o-reorder").await.unwrap();
    assert_eq!(payment.refunded.minor_units(), 1000);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_after_close_becomes_succeeded_flagged_and_the_policy_refunds_it() {
    let system = System::with(options()).await;
    // Without the policy: succeeded, flagged, and a person is asked.
    let (a, trade_a) = waiting(&system, "o-late-a", "6.00").await;
    system.close_our_side(a).await;
    system.mockpay.admin().pay(&trade_a).await.unwrap();
    let event = system.wait_for("o-late-a", "payment.succeeded", WITHIN).await;
    assert_eq!(event.flags, ["paid_after_close"], "upstream hears it and decides");
    eventually("a person is asked", WITHIN, || async {
        !open_attention(&system, "paid_after_close").await.is_empty()
    })
    .await;
    assert_eq!(decided(&system, a, 1).await[0].status, "applied");

    // With the merchant's policy: refunded in full, by paygate.
    {
        use paygate::domain::Currency;
        use paygate::store::policies::{self, Policy};
        let mut conn = system.db.pool.acquire().await.unwrap();
        let policy =
            Policy { auto_refund_paid_after_close: true, ..Policy::default_for(MERCHANT, Currency::CNY) };
        policies::set(&mut conn, &policy).await.unwrap();
    }
    let (b, trade_b) = waiting(&system, "o-late-b", "7.00").await;
    system.close_our_side(b).await;
    system.mockpay.admin().pay(&trade_b).await.unwrap();
    let refunded = system.wait_for("o-late-b", "payment.refunded", WITHIN).await;
    assert_eq!(refunded.flags, ["paid_after_close"]);
    let mut conn = system.db.pool.acquire().await.unwrap();
    let refunds = paygate::store::refunds::of_payment(&mut conn, b).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].refund_no, format!("auto-{b}"));
    assert_eq!((refunds[0].requested_by.as_str(), refunds[0].amount.minor_units()), ("paygate", 700));
    let truth = system.truth(b).await;
    assert_eq!((truth.charges, truth.refunded_amount), (1, 700));
    let states: Vec<String> =
        system.history(b).await.into_iter().filter(|h| h.entity == "payment").map(|h| h.to_state).collect();
    assert_eq!(states, ["created", "pending", "action_required", "closed", "succeeded", "refunded"]);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_amount_is_flagged_and_the_order_is_not_touched() {
    let system = System::with(options()).await;
    let (id, trade) = waiting(&system, "o-tamper", "12.00").await;
    let base = system.notify_http().unwrap().to_owned();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = |amount: i64, merchant: &str| {
        json!({
            "notificationId": format!("ntf_tamper_{amount}_{merchant}"), "eventType": "PAYMENT.SUCCEEDED",
            "merchantId": merchant, "orderId": trade, "transactionId": "2000000000000000009",
            "amount": amount, "currency": "CNY", "occurredAt": "2026-01-01T00:00:05.123Z"
        })
        .to_string()
    };
    let post = |body: String, headers: Vec<(&'static str, String)>| {
        let mut request = http.post(format!("{base}/notify/mockpay/{trade}")).body(body);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let secret = Secret::new(MOCKPAY_SECRET);
    let now = chrono::Utc::now();
    // A genuine body whose amount was changed on the way: the signature no longer matches.
    let genuine = body(1200, MOCKPAY_MERCHANT);
    let headers = signed_headers(&secret, genuine.as_bytes(), now, "n-1");
    assert_eq!(post(genuine.replace("1200", "1"), headers).await, 401);
    // Validly signed, but the amount (or the merchant) is not the order's: a claim that is wrong.
    for wrong in [body(1, MOCKPAY_MERCHANT), body(1200, "someone-else")] {
        let headers = signed_headers(&secret, wrong.as_bytes(), now, &Uuid::new_v4().to_string());
        assert_eq!(post(wrong, headers).await, 200, "stored and acknowledged");
    }
    let rows = decided(&system, id, 3).await;
    assert_eq!(rows[0].status, "rejected");
    assert!(rows[0].reason.as_deref().unwrap().starts_with("bad_signature"));
    assert_eq!(rows[1].status, "flagged");
    assert!(rows[1].reason.as_deref().unwrap().starts_with("mismatch: amount"), "{:?}", rows[1].reason);
    assert_eq!(rows[2].status, "flagged");
    assert!(rows[2].reason.as_deref().unwrap().starts_with("mismatch: merchantId"), "{:?}", rows[2].reason);
    let items = open_attention(&system, "notification_mismatch").await;
    assert_eq!(items.len(), 1, "one open item for the order");
    assert_eq!(items[0].payment_id, Some(id));
    let payment = system.payment("o-tamper").await.unwrap();
    assert_eq!(payment.state.as_str(), "action_required", "the order was not touched");
    assert_eq!(queries(&exchanges(&system, id).await), 0, "nothing was even asked");
    let metrics = system.dispatcher_metrics(0).await;
    assert!(
        metrics.contains(r#"paygate_notifications_decided_total{provider="mockpay",outcome="flagged"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"paygate_attention_raised_total{kind="notification_mismatch"} 1"#),
        "{metrics}"
    );
    system.stop().await;
}

/// Waits until mockpay has been refused at least once for the payment's first notification.
async fn refused_once(system: &System, id: Uuid) -> mockpay::wire::admin::AttemptTruth {
    eventually_some("a refused delivery attempt", WITHIN, || async {
        let truth = system.truth(id).await;
        truth.notifications.first()?.attempts.iter().find(|a| !a.acknowledged).cloned()
    })
    .await
}

async fn ready(system: &System) -> bool {
    let url = format!("{}/readyz", system.notify_http().unwrap());
    reqwest::get(url).await.is_ok_and(|r| r.status() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_down_during_a_notification_is_a_non_2xx_and_the_retry_succeeds() {
    let system = System::with(SystemOptions { notify_handler_proxied: true, ..options() }).await;
    let (id, trade) = waiting(&system, "o-mq-down", "5.00").await;
    system.notify_broker_proxy.as_ref().unwrap().cut();
    eventually("notify-handler not ready", WITHIN, || async { !ready(&system).await }).await;
    system.mockpay.admin().pay(&trade).await.unwrap();
    let refused = refused_once(&system, id).await;
    assert_eq!(refused.http_status, Some(503), "{refused:?}");
    // Stored but not forwarded: nothing is acknowledged that is not durable in both.
    let rows = system.notifications(id).await;
    assert_eq!((rows.len(), rows[0].status.as_str()), (1, "received"));
    system.notify_broker_proxy.as_ref().unwrap().restore();
    system.wait_for("o-mq-down", "payment.succeeded", Duration::from_secs(60)).await;
    assert_eq!(decided(&system, id, 1).await[0].status, "applied");
    let truth = system.truth(id).await;
    assert_eq!(truth.notifications[0].state, "DELIVERED");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_down_during_a_notification_is_a_non_2xx_and_the_retry_succeeds() {
    let system = System::with(SystemOptions { notify_handler_proxied: true, ..options() }).await;
    let (id, trade) = waiting(&system, "o-pg-down", "5.00").await;
    system.notify_db_proxy.as_ref().unwrap().cut();
    system.mockpay.admin().pay(&trade).await.unwrap();
    let refused = refused_once(&system, id).await;
    assert_eq!(refused.http_status, Some(503), "{refused:?}");
    assert!(system.notifications(id).await.is_empty(), "nothing stored, nothing acknowledged");
    system.notify_db_proxy.as_ref().unwrap().restore();
    system.wait_for("o-pg-down", "payment.succeeded", Duration::from_secs(60)).await;
    assert_eq!(decided(&system, id, 1).await[0].status, "applied");
    assert_eq!(system.truth(id).await.notifications[0].state, "DELIVERED");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_while_the_order_is_being_dispatched_is_acknowledged_then_applied() {
    let system = System::with(options()).await;
    // The charge is taken but the pay answer is lost: the dispatcher holds the order until its
    // 1 s timeout, while mockpay's notification arrives.
    system
        .mockpay
        .admin()
        .set_faults(&mockpay::FaultSettings { lost_response_ppm: 1_000_000, ..Default::default() })
        .await
        .unwrap();
    system.pay("o-busy", "20.00", "direct").await;
    system.wait_for("o-busy", "payment.succeeded", WITHIN).await;
    let id = system.payment("o-busy").await.unwrap().id;
    let truth = system.truth(id).await;
    let first = &truth.notifications[0].attempts[0];
    assert!(first.acknowledged, "the webhook did not wait for the order's lock: {first:?}");
    assert_eq!(decided(&system, id, 1).await[0].status, "applied");
    let states: Vec<String> = system.history(id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(states, ["created", "pending", "unknown", "succeeded"]);
    assert_eq!(truth.charges, 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_a_verified_notification_is_enough_it_is_applied_without_a_query() {
    let options = SystemOptions {
        dispatcher_config: vec![("PAYGATE_PROVIDER_MOCKPAY_NOTIFICATION_POLICY".into(), "verified".into())],
        ..options()
    };
    let system = System::with(options).await;
    let (id, trade) = waiting(&system, "o-verified", "3.00").await;
    system.mockpay.admin().pay(&trade).await.unwrap();
    system.wait_for("o-verified", "payment.succeeded", WITHIN).await;
    assert_eq!(decided(&system, id, 1).await[0].status, "applied");
    assert_eq!(queries(&exchanges(&system, id).await), 0);
    let payment = system.payment("o-verified").await.unwrap();
    assert_eq!(payment.provider_txn_id, Some(system.truth(id).await.transaction_id));
    system.stop().await;
}
