//! One order's messages are applied in the order they were sent, through the faults that take a
//! message out of its place (docs/architecture.md, "What serialises an order"):
//!
//! - a message sent down the retry ladder (its provider's breaker is open) is not overtaken by
//!   the order's later messages: they wait behind it in the order's retry line;
//! - a database whose connections are killed in the middle of the work holds each message where
//!   it is, rather than sending it down the ladder behind newer ones.
//!
//! Upstream sends each order a direct pay (charged at once) and then a close. Without any fault
//! the pay is applied first and the close finds the payment paid: every order ends `succeeded`,
//! charged once, and upstream never hears `payment.closed`. A close that overtook its pay would
//! close the payment before it was sent instead.

use paygate_e2e::system::{MERCHANT, metric};
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::eventually;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

async fn close(system: &System, order_no: &str) {
    let payload = serde_json::json!({"merchant_id": MERCHANT, "merchant_order_no": order_no});
    system.upstream.command("command.close", order_no, payload).await;
}

/// The order ended as it would have without the fault: paid once, never closed.
async fn ended_paid(system: &System, order_no: &str) {
    let succeeded =
        paygate_test_support::eventually_some(&format!("{order_no} to be succeeded"), WITHIN, || async {
            system.payment(order_no).await.filter(|p| p.state.as_str() == "succeeded").map(Ok).or_else(|| {
                // An order that ended otherwise will not come round: say how it ended at once.
                let ended = system.upstream.order_events(order_no).iter().any(|e| e.kind == "payment.closed");
                ended.then_some(Err(()))
            })
        })
        .await;
    let Ok(payment) = succeeded else {
        panic!("{order_no} was closed, not paid:\n{}", system.story(order_no).await);
    };
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.status.as_str(), truth.charges), ("SUCCEEDED", 1), "{order_no}: charged once");
    let events = system.upstream.order_events(order_no);
    assert!(
        !events.iter().any(|e| e.kind == "payment.closed"),
        "{order_no}: upstream was told it was closed: {events:?}\n{}",
        system.story(order_no).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_sent_after_a_pay_held_by_an_open_breaker_waits_for_the_pay() {
    let system = System::with(SystemOptions {
        dispatcher_config: vec![
            ("PROVIDER_BREAKER_FAILURES".into(), "1".into()),
            ("PROVIDER_BREAKER_OPEN_FOR".into(), "4s".into()),
        ],
        ..Default::default()
    })
    .await;
    // One failed call opens mockpay's breaker.
    let all_fail = mockpay::FaultSettings { http500_ppm: mockpay::PPM, ..Default::default() };
    system.mockpay.admin().set_faults(&all_fail).await.unwrap();
    system.pay("o-breaks", "1.00", "direct").await;
    eventually("mockpay's breaker open", WITHIN, || async {
        metric(&system.dispatcher_metrics(0).await, r#"paygate_provider_circuit_open{provider="mockpay"}"#)
            == 1
    })
    .await;
    system.mockpay.admin().set_faults(&mockpay::FaultSettings::default()).await.unwrap();

    // The pay is held on the ladder with the breaker open; its close is sent while it waits.
    let held = |text: &str| metric(text, "paygate_provider_calls_held_total");
    let before = held(&system.dispatcher_metrics(0).await);
    system.pay("o-held", "2.00", "direct").await;
    eventually("the pay held by the breaker", WITHIN, || async {
        held(&system.dispatcher_metrics(0).await) > before
    })
    .await;
    let payment = system.payment("o-held").await.unwrap();
    assert_eq!(payment.state.as_str(), "created", "held before it was sent");
    close(&system, "o-held").await;

    ended_paid(&system, "o-held").await;
    let history: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(history, ["created", "pending", "succeeded"], "{}", system.story("o-held").await);
    // The close, which waited behind the pay, comes back, is applied, and empties the line.
    eventually("the order's retry line empty again", WITHIN, || async {
        let mut conn = system.db.pool.acquire().await.unwrap();
        paygate::store::retry_line::of_payment(&mut conn, payment.id).await.unwrap().is_empty()
    })
    .await;
    ended_paid(&system, "o-held").await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_held_by_an_open_breaker_longer_than_the_whole_ladder_is_still_sent_and_its_close_waits() {
    // The ladder is 1+2+3+5 = 11 s; the breaker stays open 15 s. A held message spends no retry,
    // so neither the pay nor the close behind it runs out of retries while the breaker is open.
    let system = System::with(SystemOptions {
        dispatcher_config: vec![
            ("PROVIDER_BREAKER_FAILURES".into(), "1".into()),
            ("PROVIDER_BREAKER_OPEN_FOR".into(), "15s".into()),
        ],
        ..Default::default()
    })
    .await;
    let all_fail = mockpay::FaultSettings { http500_ppm: mockpay::PPM, ..Default::default() };
    system.mockpay.admin().set_faults(&all_fail).await.unwrap();
    system.pay("o-breaks-long", "1.00", "direct").await;
    eventually("mockpay's breaker open", WITHIN, || async {
        metric(&system.dispatcher_metrics(0).await, r#"paygate_provider_circuit_open{provider="mockpay"}"#)
            == 1
    })
    .await;
    system.mockpay.admin().set_faults(&mockpay::FaultSettings::default()).await.unwrap();
    let held = |text: &str| metric(text, "paygate_provider_calls_held_total");
    let held_before = held(&system.dispatcher_metrics(0).await);
    system.pay("o-held-long", "2.00", "direct").await;
    close(&system, "o-held-long").await;

    ended_paid(&system, "o-held-long").await;
    // A hold waits about as long as the breaker stays open (the 5 s tier here), not the ladder's
    // shortest tier again and again: about 3 holds for the new pay and 5 for the first one's
    // retries, where holding on the 1 s tier made some 30.
    let holds = held(&system.dispatcher_metrics(0).await) - held_before;
    assert!(holds <= 12, "{holds} holds while the breaker was open 15 s: held messages churned");
    let payment = system.payment("o-held-long").await.unwrap();
    let history: Vec<String> = system.history(payment.id).await.into_iter().map(|h| h.to_state).collect();
    assert_eq!(history, ["created", "pending", "succeeded"], "{}", system.story("o-held-long").await);
    eventually("the order's retry line empty again", WITHIN, || async {
        let mut conn = system.db.pool.acquire().await.unwrap();
        paygate::store::retry_line::of_payment(&mut conn, payment.id).await.unwrap().is_empty()
    })
    .await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_behind_a_dead_lettered_one_follow_it_to_the_dead_letter_queue_at_once() {
    // An order whose line is headed by a dead-lettered message (one that ran out of retries,
    // marked so by the dispatcher's dead_lettering): its later messages must not overtake it,
    // and must not wait on the ladder for a message that will not come back by itself.
    let system = System::start().await;
    system.pay("o-dead", "1.00", "qr").await;
    let payment = system.payment_in("o-dead", "action_required", WITHIN).await;
    let head = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO order_retry_line (payment_id, message_id, message_type, dead_lettered_at)
         VALUES ($1, $2, 'order.query', now())",
    )
    .bind(payment.id)
    .bind(head)
    .execute(&system.db.pool)
    .await
    .unwrap();
    let dead_lettered =
        || async { metric(&system.dispatcher_metrics(0).await, "paygate_messages_dead_lettered_total") };
    let before = dead_lettered().await;
    close(&system, "o-dead").await;
    eventually("the close dead-lettered behind the dead head", WITHIN, || async {
        dead_lettered().await > before
    })
    .await;
    let text = system.dispatcher_metrics(0).await;
    assert!(text.contains(r#"reason="rejected""#), "dead-lettered as a rejection, at once:\n{text}");
    let payment = system.payment("o-dead").await.unwrap();
    assert_eq!(
        payment.state.as_str(),
        "action_required",
        "the close did not overtake: {}",
        system.story("o-dead").await
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_database_connections_amid_pays_and_closes_leaves_every_order_as_without_the_fault() {
    // At least this many orders, and more (up to the most) until the dispatcher has met a killed
    // connection: its transactions are short, so a few dozen orders can fall between two kills.
    const ORDERS: usize = 30;
    const MOST_ORDERS: usize = 600;
    let system = System::start().await;
    let met_by_dispatcher = || async {
        metric(&system.dispatcher_metrics(0).await, "paygate_consumer_database_unavailable_total") > 0
    };
    // A killer ends every other session of the test's database every 25 ms, until every order
    // has ended or the fault's window is over. The window is bounded so that the test proves
    // convergence once the fault stops: on a loaded machine a transaction can take longer than
    // 25 ms, and unbounded killing then lets nothing commit (CI saw that with two builds beside it).
    const FAULT_WINDOW: Duration = Duration::from_secs(10);
    let killed = Arc::new(AtomicU64::new(0));
    let stop = tokio_util::sync::CancellationToken::new();
    let killer = {
        let (url, killed, stop) = (system.db.url.clone(), killed.clone(), stop.clone());
        tokio::spawn(async move {
            use sqlx::Connection;
            let until = tokio::time::Instant::now() + FAULT_WINDOW;
            let kill = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid()
                          AND backend_type = 'client backend'";
            while !stop.is_cancelled() && tokio::time::Instant::now() < until {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await
                    && let Ok(n) = sqlx::query_scalar::<_, i64>(kill).fetch_one(&mut conn).await
                {
                    killed.fetch_add(n.unsigned_abs(), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut orders: Vec<String> = Vec::new();
    while orders.len() < MOST_ORDERS {
        // Looked at every ten orders once there are enough.
        if orders.len() >= ORDERS && orders.len().is_multiple_of(10) && met_by_dispatcher().await {
            break;
        }
        let order_no = format!("k-{:03}", orders.len());
        system.pay(&order_no, "3.00", "direct").await;
        close(&system, &order_no).await;
        orders.push(order_no);
    }
    eventually("every order ended (paid or closed)", WITHIN, || async {
        orders.iter().all(|o| {
            system
                .upstream
                .order_events(o)
                .iter()
                .any(|e| e.kind == "payment.succeeded" || e.kind == "payment.closed")
        })
    })
    .await;
    stop.cancel();
    killer.await.unwrap();

    for order_no in &orders {
        ended_paid(&system, order_no).await;
    }
    // The fault was met: sessions were killed, and the dispatcher found its database gone.
    assert!(killed.load(Ordering::Relaxed) > 0, "connections were killed");
    assert!(met_by_dispatcher().await, "the dispatcher met the killed connections ({} orders)", orders.len());
    system.stop().await;
}
