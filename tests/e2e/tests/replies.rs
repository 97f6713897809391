//! What upstream hears about its orders, as docs/messages.md promises it ("Replies" and
//! "Sequence"): every event of a payment reaches the `reply_to` and correlation id of the command
//! that created it, whichever message decided it; every event of an order is numbered, one by one
//! from 1; and every command that names a `reply_to` is answered there.

use paygate::broker::envelope::Envelope;
use paygate::messages::events::OrderEvent;
use paygate_e2e::System;
use paygate_e2e::system::{MERCHANT, pay_command};
use serde_json::{Value, json};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

/// A `pay` command for `order` asking for replies on the upstream's reply queue, correlated `correlation`.
fn pay_asking(system: &System, order: &str, method: &str, correlation: &str) -> Envelope<Value> {
    Envelope::new("command.pay", format!("{MERCHANT}:{order}"), pay_command(order, "8.00", method))
        .with_reply_to(system.upstream.reply_queue())
        .with_correlation_id(correlation)
}

fn event_of(envelope: &Envelope<Value>) -> OrderEvent {
    serde_json::from_value(envelope.payload.clone()).expect("an order event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_payment_paid_later_is_told_on_the_pay_commands_reply_queue_with_its_correlation_id() {
    let system = System::start().await;
    system.upstream.send(pay_asking(&system, "o-qr-reply", "qr", "req-qr-1")).await;
    system.wait_for("o-qr-reply", "payment.action_required", WITHIN).await;
    let payment = system.payment("o-qr-reply").await.unwrap();
    // The customer pays; the dispatcher's follow-up query (a message of its own) finds it paid.
    system.mockpay.admin().pay(&paygate::providers::adapter::trade_no(payment.id)).await.unwrap();
    let reply = system
        .upstream
        .wait_for_reply("payment.succeeded", WITHIN, |e| event_of(e).merchant_order_no == "o-qr-reply")
        .await;
    assert_eq!(
        reply.correlation_id.as_deref(),
        Some("req-qr-1"),
        "the reply carries the pay command's correlation id"
    );
    let published = system
        .upstream
        .wait_for_message("payment.succeeded", WITHIN, |p| p["merchant_order_no"] == "o-qr-reply")
        .await;
    assert_eq!(published.correlation_id.as_deref(), Some("req-qr-1"), "so does the events exchange's copy");
    assert_eq!(event_of(&reply).event_id, event_of(&published).event_id);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_whose_answer_was_lost_is_told_on_the_reply_queue_when_the_query_finds_it() {
    let system = System::start().await;
    let faults = mockpay::FaultSettings { lost_response_ppm: 1_000_000, ..Default::default() };
    system.mockpay.admin().set_faults(&faults).await.unwrap();
    system.upstream.send(pay_asking(&system, "o-lost-reply", "direct", "req-lost-1")).await;
    system.wait_for("o-lost-reply", "payment.unknown", WITHIN).await;
    system.mockpay.admin().set_faults(&mockpay::FaultSettings::default()).await.unwrap();
    let reply = system
        .upstream
        .wait_for_reply("payment.succeeded", WITHIN, |e| event_of(e).merchant_order_no == "o-lost-reply")
        .await;
    assert_eq!(reply.correlation_id.as_deref(), Some("req-lost-1"));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_decided_by_a_later_query_is_told_on_the_refund_commands_reply_queue() {
    let system = System::start().await;
    system.pay("o-refund-reply", "8.00", "direct").await;
    system.wait_for("o-refund-reply", "payment.succeeded", WITHIN).await;
    let refund = Envelope::new(
        "command.refund",
        format!("{MERCHANT}:o-refund-reply"),
        json!({"merchant_id": MERCHANT, "refund_no": "r-reply", "merchant_order_no": "o-refund-reply",
               "amount": "3.00", "currency": "CNY", "requested_by": "alice"}),
    )
    .with_reply_to(system.upstream.reply_queue())
    .with_correlation_id("req-refund-1");
    system.upstream.send(refund).await;
    // mockpay answers the refund "processing"; the dispatcher's follow-up query finds it done.
    let reply = system
        .upstream
        .wait_for_reply("refund.succeeded", WITHIN, |e| event_of(e).merchant_order_no == "o-refund-reply")
        .await;
    assert_eq!(reply.correlation_id.as_deref(), Some("req-refund-1"));
    let published = system
        .upstream
        .wait_for_message("refund.succeeded", WITHIN, |p| p["merchant_order_no"] == "o-refund-reply")
        .await;
    assert_eq!(published.correlation_id.as_deref(), Some("req-refund-1"));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_an_order_is_numbered_one_by_one_from_one_in_the_order_it_was_written() {
    let system = System::start().await;
    let order = "o-sequence";
    system.upstream.send(pay_asking(&system, order, "direct", "req-seq-1")).await;
    system.wait_for(order, "payment.succeeded", WITHIN).await;
    // The same pay again: answered with the current state, an event of its own.
    system.upstream.send(pay_asking(&system, order, "direct", "req-seq-2")).await;
    system.refund(order, "r-seq-1", "3.00", "alice").await;
    system.wait_for(order, "payment.partially_refunded", WITHIN).await;
    let (events, last) = paygate_test_support::eventually_some("every event, numbered", WITHIN, || async {
        let last = system.payment(order).await.unwrap().event_sequence;
        let events = system.upstream.order_events(order);
        let succeeded = events.iter().filter(|e| e.kind == "payment.succeeded").count();
        // Both the success and the answer to the repeated pay (the same event, numbered again).
        (succeeded == 2 && events.len() as i64 == last).then_some((events, last))
    })
    .await;
    let mut by_number = events.clone();
    by_number.sort_by_key(|e| e.sequence);
    let numbers: Vec<i64> = by_number.iter().map(|e| e.sequence).collect();
    assert_eq!(numbers, (1..=last).collect::<Vec<_>>(), "gap-free from 1, each once");
    let kinds: Vec<&str> = by_number.iter().map(|e| e.kind.as_str()).collect();
    let at =
        |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or_else(|| panic!("{kind} in {kinds:?}"));
    assert!(at("refund.processing") < at("refund.succeeded"), "{kinds:?}");
    assert!(at("payment.succeeded") < at("refund.succeeded"), "{kinds:?}");
    assert!(at("refund.succeeded") < at("payment.partially_refunded"), "{kinds:?}");
    // The reply queue's copies carry the same numbers as the exchange's.
    let replies = system.upstream.replies();
    for reply in replies
        .iter()
        .filter(|r| r.message_type.starts_with("payment.") || r.message_type.starts_with("refund."))
    {
        let event = event_of(reply);
        let published = events.iter().find(|e| e.event_id == event.event_id && e.sequence == event.sequence);
        assert!(
            published.is_some(),
            "reply {} #{} is on the events exchange too",
            event.kind,
            event.sequence
        );
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_of_a_paid_order_is_answered_on_its_reply_queue_with_the_current_state() {
    let system = System::start().await;
    system.pay("o-close-paid", "8.00", "direct").await;
    system.wait_for("o-close-paid", "payment.succeeded", WITHIN).await;
    let close = Envelope::new(
        "command.close",
        format!("{MERCHANT}:o-close-paid"),
        json!({"merchant_id": MERCHANT, "merchant_order_no": "o-close-paid"}),
    )
    .with_reply_to(system.upstream.reply_queue())
    .with_correlation_id("req-close-1");
    system.upstream.send(close).await;
    let answer = paygate_test_support::eventually_some("an answer to the close", WITHIN, || async {
        system.upstream.replies().into_iter().find(|r| r.correlation_id.as_deref() == Some("req-close-1"))
    })
    .await;
    assert_eq!(answer.message_type, "payment.succeeded", "the close is answered with the order's state");
    assert_eq!(event_of(&answer).state, "succeeded");
    system.stop().await;
}
