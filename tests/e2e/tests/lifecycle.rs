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
    let event = system.wait_for("o-direct", "payment.succeeded", WITHIN).await;
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
    let event = system.wait_for("o-decline", "payment.failed", WITHIN).await;
    let reason = event.reason.expect("a failure says why");
    assert!(reason.contains("declined_insufficient_funds"), "{reason}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_payment_waits_for_the_customer_and_a_query_finds_it_paid() {
    let system = System::start().await;
    system.pay("o-qr", "8.00", "qr").await;
    let waiting = system.wait_for("o-qr", "payment.action_required", WITHIN).await;
    let action = serde_json::to_value(waiting.action.expect("the customer's action")).unwrap();
    assert!(action["qr_code"].as_str().unwrap().starts_with("mockpay://pay/"), "{action}");
    let payment = system.payment("o-qr").await.unwrap();
    // The customer pays; no notification URL is configured, so the follow-up query finds it.
    system.mockpay.admin().pay(&paygate::providers::adapter::trade_no(payment.id)).await.unwrap();
    system.wait_for("o-qr", "payment.succeeded", WITHIN).await;
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
    system.wait_for("o-lost", "payment.unknown", WITHIN).await;
    system.mockpay.admin().set_faults(&mockpay::FaultSettings::default()).await.unwrap();
    system.wait_for("o-lost", "payment.succeeded", WITHIN).await;
    let payment = system.payment("o-lost").await.unwrap();
    assert_eq!(system.truth(payment.id).await.charges, 1, "never charged twice");
    let states: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(states, ["created", "pending", "unknown", "succeeded"]);
    system.stop().await;
}

async fn paid(system: &System, order: &str, amount: &str) -> paygate::store::payments::Payment {
    system.pay(order, amount, "direct").await;
    system.wait_for(order, "payment.succeeded", WITHIN).await;
    system.payment(order).await.unwrap()
}

fn refund_events(system: &System, order: &str, kind: &str) -> Vec<paygate::messages::events::OrderEvent> {
    system.upstream.order_events(order).into_iter().filter(|e| e.kind == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_then_full_refunds_move_the_payment_to_refunded() {
    let system = System::start().await;
    let payment = paid(&system, "o-refunds", "10.00").await;
    system.refund("o-refunds", "r-1", "3.00", "alice").await;
    system.wait_for("o-refunds", "payment.partially_refunded", WITHIN).await;
    system.refund("o-refunds", "r-2", "7.00", "alice").await;
    let refunded = system.wait_for("o-refunds", "payment.refunded", WITHIN).await;
    assert_eq!(refunded.refunded.minor_units(), 1000);
    let succeeded = refund_events(&system, "o-refunds", "refund.succeeded");
    let numbers: std::collections::BTreeSet<String> =
        succeeded.iter().map(|e| e.refund.as_ref().unwrap().refund_no.clone()).collect();
    assert_eq!(numbers, ["r-1".to_owned(), "r-2".to_owned()].into());
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.charges, truth.refunded_amount), (1, 1000));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_above_the_threshold_waits_for_a_second_person() {
    let system = System::start().await;
    {
        use paygate::domain::{Currency, Money};
        use paygate::store::policies::{self, Policy};
        let mut conn = system.db.pool.acquire().await.unwrap();
        let policy = Policy {
            refund_approval_over: Some(Money::from_minor(500, Currency::CNY).unwrap()),
            ..Policy::default_for(paygate_e2e::system::MERCHANT, Currency::CNY)
        };
        policies::set(&mut conn, &policy).await.unwrap();
    }
    let payment = paid(&system, "o-approve", "30.00").await;
    async fn decide(system: &System, no: &str, approve: bool, by: &str) {
        let payload = serde_json::json!({
            "merchant_id": paygate_e2e::system::MERCHANT, "refund_no": no, "approver": by, "reason": "checked"
        });
        let kind = if approve { "command.approve_refund" } else { "command.reject_refund" };
        system.upstream.command(kind, "o-approve", payload).await;
    }
    // Small refunds go straight through; large ones wait.
    system.refund("o-approve", "r-small", "5.00", "alice").await;
    system.refund("o-approve", "r-big", "10.00", "alice").await;
    system.refund("o-approve", "r-denied", "6.00", "alice").await;
    paygate_test_support::eventually("two refunds awaiting approval", WITHIN, || async {
        refund_events(&system, "o-approve", "refund.awaiting_approval").len() == 2
    })
    .await;
    // The requester cannot approve their own refund: ingest refuses, naming the rule.
    decide(&system, "r-big", true, "alice").await;
    let rejected = system
        .upstream
        .wait_for_message("command.rejected", WITHIN, |p| p["command"] == "command.approve_refund")
        .await;
    assert_eq!(rejected.payload["field"], "approver", "{}", rejected.payload);
    decide(&system, "r-big", true, "bob").await;
    decide(&system, "r-denied", false, "bob").await;
    system.wait_for("o-approve", "refund.rejected", WITHIN).await;
    paygate_test_support::eventually("both approved-or-small refunds to succeed", WITHIN, || async {
        refund_events(&system, "o-approve", "refund.succeeded").len() == 2
    })
    .await;
    let payment_now = system.payment("o-approve").await.unwrap();
    assert_eq!(payment_now.refunded.minor_units(), 1500);
    assert_eq!(payment_now.refund_in_flight.minor_units(), 0, "the rejected refund's amount was released");
    assert_eq!(system.truth(payment.id).await.refunded_amount, 1500);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_split_below_the_threshold_still_wait_for_a_second_person() {
    let system = System::start().await;
    {
        use paygate::domain::{Currency, Money};
        use paygate::store::policies::{self, Policy};
        let mut conn = system.db.pool.acquire().await.unwrap();
        let policy = Policy {
            refund_approval_over: Some(Money::from_minor(500, Currency::CNY).unwrap()),
            ..Policy::default_for(paygate_e2e::system::MERCHANT, Currency::CNY)
        };
        policies::set(&mut conn, &policy).await.unwrap();
    }
    paid(&system, "o-split", "30.00").await;
    // Five refunds at the threshold: the first brings the payment's refunds to it; every other
    // one would take them over it (succeeded + in flight + this one), so each waits.
    for i in 1..=5 {
        system.refund("o-split", &format!("r-split-{i}"), "5.00", "alice").await;
    }
    paygate_test_support::eventually("four refunds awaiting approval", WITHIN, || async {
        refund_events(&system, "o-split", "refund.awaiting_approval").len() == 4
    })
    .await;
    system.wait_for("o-split", "refund.succeeded", WITHIN).await;
    let payment = system.payment("o-split").await.unwrap();
    assert_eq!(payment.refunded.minor_units(), 500, "only the first went through");
    assert_eq!(payment.refund_in_flight.minor_units(), 2000, "the others wait, reserved");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_before_payment_closes_and_close_after_payment_keeps_the_payment() {
    let system = System::start().await;
    async fn close(system: &System, order: &str) {
        let payload =
            serde_json::json!({"merchant_id": paygate_e2e::system::MERCHANT, "merchant_order_no": order});
        system.upstream.command("command.close", order, payload).await;
    }
    // Unpaid: closed at the provider.
    system.pay("o-close", "3.00", "qr").await;
    system.wait_for("o-close", "payment.action_required", WITHIN).await;
    close(&system, "o-close").await;
    system.wait_for("o-close", "payment.closed", WITHIN).await;
    let p = system.payment("o-close").await.unwrap();
    assert_eq!(system.truth(p.id).await.status, "CLOSED");

    // Paid at the provider before our close arrives: the close finds it paid, nothing is closed.
    system.pay("o-late", "4.00", "qr").await;
    system.wait_for("o-late", "payment.action_required", WITHIN).await;
    let p = system.payment("o-late").await.unwrap();
    system.mockpay.admin().pay(&paygate::providers::adapter::trade_no(p.id)).await.unwrap();
    close(&system, "o-late").await;
    system.wait_for("o-late", "payment.succeeded", WITHIN).await;
    assert_eq!(system.payment("o-late").await.unwrap().state.as_str(), "succeeded");
    assert_eq!(system.truth(p.id).await.charges, 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_command_reports_the_same_payment_and_a_conflicting_one_is_rejected() {
    let system = System::start().await;
    let payment = paid(&system, "o-dup", "9.99").await;
    let first = system.wait_for("o-dup", "payment.succeeded", WITHIN).await;
    system.pay("o-dup", "9.99", "direct").await;
    paygate_test_support::eventually("the repeat to be answered with the current state", WITHIN, || async {
        system.upstream.order_events("o-dup").iter().filter(|e| e.kind == "payment.succeeded").count() >= 2
    })
    .await;
    let again: Vec<_> = refund_events(&system, "o-dup", "payment.succeeded");
    assert!(again.iter().all(|e| e.event_id == first.event_id), "a re-emitted state keeps its event id");
    system.pay("o-dup", "1.00", "direct").await;
    let rejected = system
        .upstream
        .wait_for_message("command.rejected", WITHIN, |p| p["merchant_order_no"] == "o-dup")
        .await;
    assert_eq!(rejected.payload["field"], "merchant_order_no", "{}", rejected.payload);
    assert_eq!(system.truth(payment.id).await.charges, 1);
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM payments").fetch_one(&system.db.pool).await.unwrap();
    assert_eq!(count, 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_refunds_never_exceed_what_was_captured() {
    let system = System::start().await;
    let payment = paid(&system, "o-many", "10.00").await;
    // Twenty refunds of 0.70 race for 10.00: at most fourteen fit.
    let sends = (0..20).map(|i| {
        let no = format!("r-{i:02}");
        let system = &system;
        async move { system.refund("o-many", &no, "0.70", "alice").await }
    });
    futures_util::future::join_all(sends).await;
    paygate_test_support::eventually("every refund to be final", Duration::from_secs(60), || async {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM refunds WHERE state NOT IN ('succeeded', 'failed', 'rejected')",
        )
        .fetch_one(&system.db.pool)
        .await
        .unwrap();
        let all: i64 =
            sqlx::query_scalar("SELECT count(*) FROM refunds").fetch_one(&system.db.pool).await.unwrap();
        open == 0 && all + rejected_by_ingest(&system) == 20
    })
    .await;
    let succeeded: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds WHERE state = 'succeeded'")
        .fetch_one(&system.db.pool)
        .await
        .unwrap();
    assert_eq!(succeeded, 14, "exactly as many as fit");
    let p = system.payment("o-many").await.unwrap();
    assert_eq!((p.refunded.minor_units(), p.refund_in_flight.minor_units()), (980, 0));
    let truth = system.truth(payment.id).await;
    assert_eq!(truth.refunded_amount, 980, "the provider refunded exactly what we recorded");
    system.stop().await;
}

/// Refund commands ingest refused before creating a refund (its unlocked pre-check).
fn rejected_by_ingest(system: &System) -> i64 {
    let n = system
        .upstream
        .events()
        .into_iter()
        .filter(|e| e.message_type == "command.rejected" && e.payload["command"] == "command.refund")
        .count();
    i64::try_from(n).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asynchronous_refund_is_followed_until_it_succeeds() {
    let options = paygate_e2e::SystemOptions {
        mockpay: mockpay::Settings { refund_delay_ms: 300, timeout_hold_ms: 5_000, ..Default::default() },
        ..Default::default()
    };
    let system = System::with(options).await;
    let payment = paid(&system, "o-async", "2.00").await;
    system.refund("o-async", "r-async", "2.00", "alice").await;
    system.wait_for("o-async", "refund.processing", WITHIN).await;
    system.wait_for("o-async", "refund.succeeded", WITHIN).await;
    system.wait_for("o-async", "payment.refunded", WITHIN).await;
    assert_eq!(system.truth(payment.id).await.refunded_amount, 200);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_request_that_never_arrived_is_closed_once_the_query_proves_it() {
    let system = System::start().await;
    // Requests are held and dropped unprocessed: the outcome is unknown, and nothing was charged.
    let faults = mockpay::FaultSettings { timeout_ppm: 1_000_000, ..Default::default() };
    system.mockpay.admin().set_faults(&faults).await.unwrap();
    system.pay("o-timeout", "1.00", "direct").await;
    system.wait_for("o-timeout", "payment.unknown", WITHIN).await;
    system.mockpay.admin().set_faults(&mockpay::FaultSettings::default()).await.unwrap();
    let closed = system.wait_for("o-timeout", "payment.closed", WITHIN).await;
    assert!(closed.reason.unwrap().contains("never received"));
    let p = system.payment("o-timeout").await.unwrap();
    let trade_no = paygate::providers::adapter::trade_no(p.id);
    assert!(
        system.mockpay.admin().payment(&trade_no).await.unwrap().is_none(),
        "never charged, never re-sent"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_whose_answer_was_lost_is_queried_not_resent() {
    let system = System::start().await;
    let payment = paid(&system, "o-refund-lost", "5.00").await;
    let trade_no = paygate::providers::adapter::trade_no(payment.id);
    let admin = system.mockpay.admin();
    admin.script_fault(&trade_no, mockpay::Operation::Refund, mockpay::Fault::LostResponse, 1).await.unwrap();
    system.refund("o-refund-lost", "r-lost", "5.00", "alice").await;
    system.wait_for("o-refund-lost", "refund.unknown", WITHIN).await;
    system.wait_for("o-refund-lost", "refund.succeeded", WITHIN).await;
    system.wait_for("o-refund-lost", "payment.refunded", WITHIN).await;
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.refunds.len(), truth.refunded_amount), (1, 500), "one refund at the provider");

    // And one whose request never arrived is sent again under the same refund number.
    let payment = paid(&system, "o-refund-timeout", "5.00").await;
    let trade_no = paygate::providers::adapter::trade_no(payment.id);
    admin.script_fault(&trade_no, mockpay::Operation::Refund, mockpay::Fault::Timeout, 1).await.unwrap();
    system.refund("o-refund-timeout", "r-timeout", "2.00", "alice").await;
    system.wait_for("o-refund-timeout", "refund.unknown", WITHIN).await;
    system.wait_for("o-refund-timeout", "payment.partially_refunded", WITHIN).await;
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.refunds.len(), truth.refunded_amount), (1, 200));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_the_provider_did_not_process_is_sent_again_and_completes() {
    let system = System::start().await;
    let payment = paid(&system, "o-refund-1145", "5.00").await;
    let trade_no = paygate::providers::adapter::trade_no(payment.id);
    let admin = system.mockpay.admin();
    // The refund call is answered 1145 (not processed, try later); the query then finds no such
    // refund. It must not stay `submitted` with its amount reserved: not processed → unknown,
    // and no record → sent again under the same refund number, which completes it.
    admin.script_fault(&trade_no, mockpay::Operation::Refund, mockpay::Fault::InProcess, 1).await.unwrap();
    system.refund("o-refund-1145", "r-1145", "2.00", "alice").await;
    system.wait_for("o-refund-1145", "refund.unknown", WITHIN).await;
    system.wait_for("o-refund-1145", "refund.succeeded", WITHIN).await;
    let payment = system.payment("o-refund-1145").await.unwrap();
    assert_eq!((payment.refunded.minor_units(), payment.refund_in_flight.minor_units()), (200, 0));
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.refunds.len(), truth.refunded_amount), (1, 200), "one refund at the provider");
    // Every step of it is in the refund's history.
    let events = system.refund_events(payment.id).await;
    assert_eq!(events[..4], ["created", "submitted", "not_processed", "submitted"], "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("provider_succeeded"), "{events:?}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_the_provider_never_processes_ends_on_the_needs_attention_list() {
    let system = System::start().await;
    let payment = paid(&system, "o-refund-busy", "5.00").await;
    let trade_no = paygate::providers::adapter::trade_no(payment.id);
    // Every refund call is answered 1145: sent again after each "no record", it climbs the
    // retry ladder (it does not start it over) and ends in front of a person, still reserved.
    let admin = system.mockpay.admin();
    admin.script_fault(&trade_no, mockpay::Operation::Refund, mockpay::Fault::InProcess, 1000).await.unwrap();
    system.refund("o-refund-busy", "r-busy", "2.00", "alice").await;
    let item =
        paygate_test_support::eventually_some("the refund on the needs-attention list", WITHIN, || async {
            let mut conn = system.db.pool.acquire().await.unwrap();
            let open = paygate::store::attention::open(&mut conn, 10).await.unwrap();
            open.into_iter().find(|i| i.payment_id == Some(payment.id))
        })
        .await;
    assert_eq!(item.kind, "unresolved_after_last_retry");
    let payment = system.payment("o-refund-busy").await.unwrap();
    assert_eq!(payment.refund_in_flight.minor_units(), 200, "still reserved: never guessed");
    let mut conn = system.db.pool.acquire().await.unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM refunds WHERE payment_id = $1")
        .bind(payment.id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_ne!(state, "succeeded");
    // It got there by the not-processed road, not by sitting `submitted`: each 1145 moved it to
    // `unknown`, and each "no record" sent it again.
    let events = system.refund_events(payment.id).await;
    let not_processed = events.iter().filter(|e| *e == "not_processed").count();
    assert!(not_processed >= 2, "not processed, then sent again and not processed again: {events:?}");
    let refund_calls: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = 'refund'",
    )
    .bind(payment.id)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert!(refund_calls >= 2, "sent again under the same refund number: {refund_calls} refund calls");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_still_unknown_after_the_last_tier_needs_a_person() {
    let system = System::start().await;
    // Nothing answers: the pay and every follow-up query time out.
    let faults = mockpay::FaultSettings { timeout_ppm: 1_000_000, ..Default::default() };
    system.mockpay.admin().set_faults(&faults).await.unwrap();
    system.pay("o-stuck", "1.00", "direct").await;
    system.wait_for("o-stuck", "payment.unknown", WITHIN).await;
    let payment = system.payment("o-stuck").await.unwrap();
    let item =
        paygate_test_support::eventually_some("the order on the needs-attention list", WITHIN, || async {
            let mut conn = system.db.pool.acquire().await.unwrap();
            let open = paygate::store::attention::open(&mut conn, 10).await.unwrap();
            open.into_iter().find(|i| i.payment_id == Some(payment.id))
        })
        .await;
    assert_eq!(item.kind, "unresolved_after_last_retry");
    let queries = item.detail["queries"].as_u64().unwrap();
    assert_eq!(queries, 4, "one query per tier of the ladder (1s,2s,3s,5s)");
    let metrics = system.dispatcher_metrics(0).await;
    assert!(
        metrics.contains(r#"paygate_attention_raised_total{kind="unresolved_after_last_retry"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"paygate_provider_calls_total{provider="mockpay",operation="query",outcome="timeout"} 4"#
        ),
        "{metrics}"
    );
    assert_eq!(system.payment("o-stuck").await.unwrap().state.as_str(), "unknown", "never guessed");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_found_by_a_query_says_why() {
    let system = System::start().await;
    system.pay("o-qr-decline", "6.00", "qr").await;
    system.wait_for("o-qr-decline", "payment.action_required", WITHIN).await;
    let p = system.payment("o-qr-decline").await.unwrap();
    let trade_no = paygate::providers::adapter::trade_no(p.id);
    system.mockpay.admin().decline(&trade_no, Some("1102")).await.unwrap();
    let failed = system.wait_for("o-qr-decline", "payment.failed", WITHIN).await;
    let reason = failed.reason.expect("a failure says why");
    assert!(reason.contains("declined_account_suspended (1102"), "{reason}");
    system.stop().await;
}

/// One "no such trade" soon after a pay whose answer was lost does not close the payment: the
/// provider's records may lag behind its charges. mockpay charges the direct pay but its answer
/// is lost, then answers the first query `1150`; the not-found comes within mockpay's minimum age
/// (`PAYGATE_PROVIDER_MOCKPAY_NOT_FOUND_FINAL_AFTER`, 10 s here), so it is asked again, and the payment is found
/// paid. Before, the single not-found closed a payment whose customer had paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_found_soon_after_a_lost_pay_answer_does_not_close_the_payment() {
    let mut system = System::with(paygate_e2e::SystemOptions {
        dispatchers: 0,
        dispatcher_config: vec![("PAYGATE_PROVIDER_MOCKPAY_NOT_FOUND_FINAL_AFTER".into(), "10s".into())],
        ..Default::default()
    })
    .await;
    system.pay("o-lagging", "7.00", "direct").await;
    let payment = system.payment_in("o-lagging", "created", WITHIN).await;
    let admin = system.mockpay.admin();
    let trade = paygate::providers::adapter::trade_no(payment.id);
    admin.script_fault(&trade, mockpay::Operation::Pay, mockpay::Fault::LostResponse, 1).await.unwrap();
    admin.script_fault(&trade, mockpay::Operation::Query, mockpay::Fault::NotFound, 1).await.unwrap();
    system.add_dispatcher(&[]).await;

    system.wait_for("o-lagging", "payment.succeeded", WITHIN).await;
    assert!(admin.pending_script().await.unwrap().is_empty(), "the lagging not-found was met");
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.status.as_str(), truth.charges), ("SUCCEEDED", 1));
    let events = system.upstream.order_events("o-lagging");
    assert!(
        !events.iter().any(|e| e.kind == "payment.closed"),
        "never told upstream it was closed: {events:?}"
    );
    system.stop().await;
}
