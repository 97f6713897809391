//! Batches: the dispatcher applies the work waiting on a shard several orders to a transaction
//! (`SHARD_BATCH`; ingest likewise with `COMMAND_BATCH`), and every order must end exactly as it
//! would have alone: its provider asked to pay once, its history the clean run of its kind, its event
//! published. The payments are created, and their dispatches queued on the shards, before any
//! dispatcher runs, so that the dispatcher finds them waiting, as under load.
//!
//! - `b-NN` with NN divisible by 3: `qr` pays, which wait for the customer; their follow-up
//!   query is scheduled in the batch's transaction (the work takes the transaction on the way).
//! - the others: `direct` pays, which succeed at once; their steps and events are written for
//!   the whole batch in one statement.

use paygate_e2e::{System, SystemOptions};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);
const ORDERS: usize = 24;

fn order(n: usize) -> (String, &'static str) {
    (format!("b-{n:02}"), if n.is_multiple_of(3) { "qr" } else { "direct" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_waiting_on_the_shards_is_applied_in_batches_and_each_order_ends_as_it_would_alone() {
    let mut system = System::with(SystemOptions { dispatchers: 0, ..Default::default() }).await;
    for n in 0..ORDERS {
        let (order_no, method) = order(n);
        system.pay(&order_no, "3.00", method).await;
    }
    let published = "SELECT count(*) FROM outbox
                      WHERE published_at IS NOT NULL AND envelope->>'message_type' = 'order.dispatch_pay'";
    paygate_test_support::eventually("every dispatch on its shard", WITHIN, || async {
        sqlx::query_scalar::<_, i64>(published).fetch_one(&system.db.pool).await.unwrap() == ORDERS as i64
    })
    .await;
    system.add_dispatcher(&[]).await;

    for n in 0..ORDERS {
        let (order_no, method) = order(n);
        let (event, states, charges) = match method {
            "qr" => ("payment.action_required", vec!["created", "pending", "action_required"], 0),
            _ => ("payment.succeeded", vec!["created", "pending", "succeeded"], 1),
        };
        system.wait_for(&order_no, event, WITHIN).await;
        let payment = system.payment(&order_no).await.unwrap();
        let history: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
        assert_eq!(history, states, "{order_no}");
        let truth = system.truth(payment.id).await;
        assert_eq!(truth.charges, charges, "{order_no}: charges at mockpay");
        // A `qr` payment's follow-up query may already have run (the first tier is 1 s): only
        // queries may join the one pay.
        let operations: Vec<String> =
            sqlx::query_scalar("SELECT operation FROM provider_exchanges WHERE payment_id = $1")
                .bind(payment.id)
                .fetch_all(&system.db.pool)
                .await
                .unwrap();
        let pays = operations.iter().filter(|o| *o == "pay").count();
        assert_eq!(pays, 1, "{order_no}: the provider was asked to pay once: {operations:?}");
        let others: Vec<&String> = operations.iter().filter(|o| *o != "pay").collect();
        let allowed = if method == "qr" { others.iter().all(|o| *o == "query") } else { others.is_empty() };
        assert!(allowed, "{order_no}: nothing but a follow-up query beside the pay: {operations:?}");
        let events = system.upstream.order_events(&order_no);
        assert_eq!(events.iter().filter(|e| e.kind == event).count(), 1, "{order_no}: one {event}");
    }
    // Several orders' work committed in one transaction (xmin is the transaction that wrote a row).
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM state_transitions WHERE event = 'submitted'",
    )
    .fetch_one(&system.db.pool)
    .await
    .unwrap();
    assert!(
        transactions < ORDERS as i64,
        "{ORDERS} orders dispatched in {transactions} transactions: no batch"
    );
    system.stop().await;
}
