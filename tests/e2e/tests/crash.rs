//! Crash tests: a provider-dispatcher process is stopped at a named fault point and killed with
//! SIGKILL exactly there, a fresh dispatcher takes over, and the order must still end exactly as a
//! clean run ends it: the provider's truth (money taken once, refunded once), a history without a
//! transition recorded twice, and the final event delivered to upstream (at least once, every
//! copy with the same event id).
//!
//! The two points (`paygate::fault_points`):
//! - `dispatcher.after_provider_call`: the provider has been called (it may have moved money), the
//!   effect is not committed. The redelivered message calls again under the same idempotency key.
//! - `consumer.after_commit`: the effect is committed, the delivery not acknowledged. The
//!   redelivered message is recognised as processed and nothing is called again.
//!
//! Each case runs a control order through the surviving dispatcher afterwards, and the crashed
//! order's history must read exactly like the control's.

use paygate::providers::adapter::trade_no;
use paygate::store::history::HistoryRow;
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::eventually;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(60);

const AFTER_PROVIDER_CALL: &str = "dispatcher.after_provider_call";
const AFTER_COMMIT: &str = "consumer.after_commit";
/// `consumer.after_commit`, in a transaction that applied several deliveries.
const AFTER_BATCH_COMMIT: &str = "consumer.after_batch_commit";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_killed_after_the_provider_call_charges_once() {
    crashed_pay(AFTER_PROVIDER_CALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_killed_between_commit_and_ack_is_applied_once() {
    crashed_pay(AFTER_COMMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_after_a_provider_call_charges_each_order_once() {
    crashed_batch(AFTER_PROVIDER_CALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_between_commit_and_ack_is_applied_once() {
    crashed_batch(AFTER_BATCH_COMMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_killed_after_the_provider_call_refunds_once() {
    crashed_refund(AFTER_PROVIDER_CALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_killed_between_commit_and_ack_is_applied_once() {
    crashed_refund(AFTER_COMMIT).await;
}

/// A system of real processes; refunds complete at mockpay at once (no query round).
/// The crash tests' system: services as processes (so that they can be killed), one dispatcher,
/// and refunds that finish in mockpay's answer.
fn options() -> SystemOptions {
    SystemOptions {
        processes: true,
        dispatchers: 1,
        mockpay: mockpay::Settings {
            refund_delay_ms: 0,
            timeout_hold_ms: 5_000,
            ..mockpay::Settings::default()
        },
        ..SystemOptions::default()
    }
}

async fn system(dispatcher_env: Vec<(String, String)>) -> System {
    System::with(SystemOptions { dispatcher_env, ..options() }).await
}

fn armed(point: &str) -> Vec<(String, String)> {
    vec![("FAILPOINTS".into(), format!("{point}=return"))]
}

/// A direct pay; the one dispatcher stops at `point` on its first pass and is killed there.
async fn crashed_pay(point: &str) {
    let mut system = system(armed(point)).await;
    system.pay("o-crash", "12.34", "direct").await;
    let line = wait_for_fault(&system, 0, point).await;
    assert!(line.contains("order.dispatch_pay"), "the point was reached handling the pay: {line}");
    system.kill_dispatcher(0).await;
    system.options.dispatcher_env.clear(); // the fresh dispatcher runs without the fault point
    system.add_dispatcher(&[]).await;

    let payment = system.payment_in("o-crash", "succeeded", WITHIN).await;
    let truth = system.truth(payment.id).await;
    assert_eq!(truth.status, "SUCCEEDED");
    assert_eq!(truth.charges, 1, "money was taken exactly once");
    assert_eq!(truth.amount, 1234);
    assert_eq!(payment.provider_txn_id.as_deref(), Some(truth.transaction_id.as_str()));
    // Before the commit the redelivery calls again (same key); after it, it must not call at all.
    let calls = provider_calls(&system, payment.id, "pay").await;
    assert_eq!(calls, if point == AFTER_PROVIDER_CALL { 2 } else { 1 }, "pay requests sent");
    system.upstream.wait_for("o-crash", "payment.succeeded", WITHIN).await;

    // The control: the same pay on the surviving dispatcher, without a crash.
    system.pay("o-clean", "12.34", "direct").await;
    let clean = system.payment_in("o-clean", "succeeded", WITHIN).await;
    system.upstream.wait_for("o-clean", "payment.succeeded", WITHIN).await;
    let history = system.history(payment.id).await;
    assert_history_is_clean(&history);
    assert_eq!(states(&history), states(&system.history(clean.id).await), "the same story as a clean run");
    assert_eq!(states(&history), [("payment", "created"), ("payment", "pending"), ("payment", "succeeded")]);
    assert_events_consistent(&system, "o-crash");
    system.stop().await;
}

/// Direct pays waiting on the shard when a dispatcher armed at `point` starts, so that it takes
/// them in batches (`SHARD_BATCH`); it stops at `point` inside a batch and is killed there. A
/// fresh dispatcher finishes them: each charged once, each history clean, each event delivered.
///
/// One shard, one handler at a time: the first delivery may come alone (the others still on
/// their way), and while it is handled the others arrive and wait; the provider-call point is
/// armed from its second pass on, which is in the preparation of those. Whether answers are then
/// applied together depends on when they come back, so the commit point is the batch's own
/// (`consumer.after_batch_commit`), armed at its first pass.
async fn crashed_batch(point: &str) {
    let mut system = System::with(SystemOptions { dispatchers: 0, order_shards: 1, ..options() }).await;
    // More than one batch (SHARD_BATCH is set to 8 below): whether the first delivery comes
    // alone or with others, the second pass is in a batch.
    const ORDERS: usize = 12;
    let orders: Vec<String> = (0..ORDERS).map(|n| format!("o-batch-{n}")).collect();
    for order in &orders {
        system.pay(order, "12.34", "direct").await;
    }
    let published = "SELECT count(*) FROM outbox
                      WHERE published_at IS NOT NULL AND envelope->>'message_type' = 'order.dispatch_pay'";
    eventually("every dispatch waiting on its shard", WITHIN, || async {
        sqlx::query_scalar::<_, i64>(published).fetch_one(&system.db.pool).await.unwrap() == ORDERS as i64
    })
    .await;
    let actions = if point == AFTER_BATCH_COMMIT { "return" } else { "1*off->return" };
    let armed_env = [
        ("FAILPOINTS".to_owned(), format!("{point}={actions}")),
        ("SHARD_CONCURRENCY".to_owned(), "1".to_owned()),
        ("SHARD_BATCH".to_owned(), "8".to_owned()),
    ];
    let env: Vec<(&str, &str)> = armed_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let crashing = system.add_dispatcher(&env).await;
    let line = wait_for_fault(&system, crashing, point).await;
    assert!(line.contains("handle_batch"), "the point was reached in a batch: {line}");
    system.kill_dispatcher(crashing).await;
    system.add_dispatcher(&[]).await;

    for order in &orders {
        let payment = system.payment_in(order, "succeeded", WITHIN).await;
        let truth = system.truth(payment.id).await;
        assert_eq!(truth.charges, 1, "{order}: money was taken exactly once");
        assert_eq!(payment.provider_txn_id.as_deref(), Some(truth.transaction_id.as_str()));
        assert!(provider_calls(&system, payment.id, "pay").await <= 2, "{order}: at most one call again");
        system.upstream.wait_for(order, "payment.succeeded", WITHIN).await;
        let history = system.history(payment.id).await;
        assert_history_is_clean(&history);
        assert_eq!(
            states(&history),
            [("payment", "created"), ("payment", "pending"), ("payment", "succeeded")]
        );
        assert_events_consistent(&system, order);
    }
    system.stop().await;
}

/// A direct pay on a clean dispatcher, then a refund on a dispatcher armed at `point`, killed
/// there; a third dispatcher finishes the refund.
async fn crashed_refund(point: &str) {
    let mut system = system(Vec::new()).await;
    system.pay("o-crash", "20.00", "direct").await;
    let payment = system.payment_in("o-crash", "succeeded", WITHIN).await;
    system.upstream.wait_for("o-crash", "payment.succeeded", WITHIN).await;
    system.stop_dispatcher(0).await;
    let armed_env = armed(point);
    let env: Vec<(&str, &str)> = armed_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let crashing = system.add_dispatcher(&env).await;

    system.refund("o-crash", "r-crash", "5.00", "alice").await;
    let line = wait_for_fault(&system, crashing, point).await;
    assert!(line.contains("order.dispatch_refund"), "the point was reached handling the refund: {line}");
    system.kill_dispatcher(crashing).await;
    system.add_dispatcher(&[]).await;

    let event = system.upstream.wait_for("o-crash", "refund.succeeded", WITHIN).await;
    let refund_id = event.refund.as_ref().expect("a refund event names the refund").refund_id;
    let after = system.payment_in("o-crash", "partially_refunded", WITHIN).await;
    assert_eq!(after.id, payment.id);
    assert_eq!(after.refunded.minor_units(), 500, "refunded once in our books");
    let truth = system.truth(payment.id).await;
    assert_eq!(truth.charges, 1);
    assert_eq!(truth.refunded_amount, 500, "refunded exactly once at the provider");
    assert_eq!(truth.refunds.len(), 1, "one refund at the provider: {:?}", truth.refunds);
    assert_eq!(truth.refunds[0].refund_id, trade_no(refund_id));
    assert_eq!(truth.refunds[0].status, "SUCCEEDED");
    let calls = provider_calls(&system, payment.id, "refund").await;
    assert_eq!(calls, if point == AFTER_PROVIDER_CALL { 2 } else { 1 }, "refund requests sent");
    system.upstream.wait_for("o-crash", "payment.partially_refunded", WITHIN).await;

    // The control: the same pay and refund on the surviving dispatcher, without a crash.
    system.pay("o-clean", "20.00", "direct").await;
    let clean = system.payment_in("o-clean", "succeeded", WITHIN).await;
    system.refund("o-clean", "r-clean", "5.00", "alice").await;
    system.payment_in("o-clean", "partially_refunded", WITHIN).await;
    system.upstream.wait_for("o-clean", "refund.succeeded", WITHIN).await;
    system.upstream.wait_for("o-clean", "payment.partially_refunded", WITHIN).await;
    let history = system.history(payment.id).await;
    assert_history_is_clean(&history);
    assert_eq!(states(&history), states(&system.history(clean.id).await), "the same story as a clean run");
    assert_events_consistent(&system, "o-crash");
    system.stop().await;
}

/// Waits until dispatcher `i` logs that it holds at fault point `point`; returns the log line.
async fn wait_for_fault(system: &System, i: usize, point: &str) -> String {
    let mut found = None;
    eventually(&format!("dispatcher {i} to reach {point}"), WITHIN, || {
        found = system.dispatcher_process(i).output().into_iter().find(|line| is_fault_line(line, point));
        let reached = found.is_some();
        async move { reached }
    })
    .await;
    found.expect("found")
}

fn is_fault_line(line: &str, point: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { return false };
    let fields = &v["fields"];
    fields["fault_point"] == point
        && fields["message"].as_str().is_some_and(|m| m.starts_with("fault point reached"))
}

/// How many requests of `operation` the exchange log holds for the payment.
async fn provider_calls(system: &System, payment_id: Uuid, operation: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = $2")
        .bind(payment_id)
        .bind(operation)
        .fetch_one(&system.db.pool)
        .await
        .expect("count the exchanges")
}

/// The (entity, state) sequence of a history.
fn states(history: &[HistoryRow]) -> Vec<(&str, &str)> {
    history.iter().map(|h| (h.entity.as_str(), h.to_state.as_str())).collect()
}

/// Per entity (the payment, each refund), versions are 0, 1, 2, … in the order recorded: no
/// transition twice, none missing.
fn assert_history_is_clean(history: &[HistoryRow]) {
    let mut versions: BTreeMap<Option<Uuid>, Vec<i64>> = BTreeMap::new();
    for row in history {
        versions.entry(row.refund_id).or_default().push(row.version);
    }
    for (entity, versions) in versions {
        let expected: Vec<i64> = (0..versions.len() as i64).collect();
        assert_eq!(versions, expected, "versions of {entity:?} in {history:#?}");
    }
}

/// Every event upstream received for the order: each kind came with one event id only (copies
/// are redeliveries of the same event, never a second transition).
fn assert_events_consistent(system: &System, merchant_order_no: &str) {
    let mut ids: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
    for event in system.upstream.order_events(merchant_order_no) {
        ids.entry(event.kind).or_default().insert(event.event_id);
    }
    for (kind, ids) in &ids {
        assert_eq!(ids.len(), 1, "{kind} for {merchant_order_no} carries one event id: {ids:?}");
    }
}

/// The attempt is committed before the request leaves (issue: "provider calls outside the
/// transaction"). A direct pay is charged, then the record of the call fails to commit once, and
/// upstream closes the order before the pay's retry comes back. Before, the payment was still
/// `created`, and the close closed it alone while mockpay had charged the customer; now it is
/// `pending` (it may have been sent), so the close asks mockpay, and paygate agrees with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_after_a_charge_whose_record_failed_asks_the_provider() {
    let env = vec![("FAILPOINTS".to_owned(), "dispatcher.exchange_log_fails=1*return".to_owned())];
    let system = system(env).await;
    system.pay("o-log-fails", "12.34", "direct").await;
    wait_for_fault(&system, 0, "dispatcher.exchange_log_fails").await;
    let payload =
        serde_json::json!({"merchant_id": paygate_e2e::system::MERCHANT, "merchant_order_no": "o-log-fails"});
    system.upstream.command("command.close", "o-log-fails", payload).await;

    let payment = system.payment_in("o-log-fails", "succeeded", WITHIN).await;
    let truth = system.truth(payment.id).await;
    assert_eq!(truth.status, "SUCCEEDED");
    assert_eq!(truth.charges, 1, "charged once");
    let events = system.upstream.order_events("o-log-fails");
    assert!(
        !events.iter().any(|e| e.kind == "payment.closed"),
        "never told upstream it was closed: {events:?}"
    );
    system.stop().await;
}

/// A pay sent again that the provider refuses is not the first one's outcome. The first request
/// charges the customer but its answer is lost and its exchange record fails, so the dispatch is
/// retried and the pay sent again (the same trade number); mockpay refuses the repeat with `1106`
/// (a signature or clock error). The payment goes to UNKNOWN and a query finds it paid. Before,
/// the refusal marked it failed while the customer had paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_of_a_repeated_pay_is_not_the_first_ones_outcome() {
    let mut system = System::with(SystemOptions { dispatchers: 0, ..options() }).await;
    system.pay("o-repeat-refused", "12.34", "direct").await;
    let payment = system.payment_in("o-repeat-refused", "created", WITHIN).await;
    let admin = system.mockpay.admin();
    let trade = trade_no(payment.id);
    admin.script_fault(&trade, mockpay::Operation::Pay, mockpay::Fault::LostResponse, 1).await.unwrap();
    admin.script_fault(&trade, mockpay::Operation::Pay, mockpay::Fault::HeaderError, 1).await.unwrap();
    system.add_dispatcher(&[("FAILPOINTS", "dispatcher.exchange_log_fails=1*return")]).await;

    system.payment_in("o-repeat-refused", "succeeded", WITHIN).await;
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.status.as_str(), truth.charges), ("SUCCEEDED", 1), "charged once");
    assert!(admin.pending_script().await.unwrap().is_empty(), "the pay was sent again and refused");
    let states: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(
        states,
        ["created", "pending", "unknown", "succeeded"],
        "{}",
        system.story("o-repeat-refused").await
    );
    let events = system.upstream.order_events("o-repeat-refused");
    assert!(!events.iter().any(|e| e.kind == "payment.failed"), "never told upstream it failed: {events:?}");
    system.stop().await;
}
