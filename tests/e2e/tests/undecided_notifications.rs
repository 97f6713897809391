//! Notifications stored and never forwarded are picked up again by the compensation scheduler's
//! sweep (issue 12, item 1): with notify-handler's broker down until the provider gives up, a
//! customer's payment after our close is stored `received` and forwarded by nobody else; the
//! sweep forwards it, the dispatcher confirms it by querying back, and the payment converges
//! (succeeded, flagged `paid_after_close`, refunded by the merchant's policy) without a person.
//!
//! And a notification whose query back got no answer down the whole ladder, dead-lettered and
//! left `received`, is swept too: the sweep's copy carries the notification's own message id, so
//! it is the dead-lettered message replayed (no inbox row; the head of its order's retry line)
//! and is applied, not sent after it to the dead-letter queue.
//!
//! The payments are closed on our side: no follow-up query and no stuck query looks at a closed
//! payment, so within the tests only a notification can find it paid.

use mockpay::{Fault, Operation, Settings};
use paygate::providers::adapter::trade_no;
use paygate_e2e::system::{MERCHANT, metric};
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::{eventually, eventually_some};
use std::time::Duration;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(30);

async fn ready(system: &System) -> bool {
    let url = format!("{}/readyz", system.notify_http().unwrap());
    reqwest::get(url).await.is_ok_and(|r| r.status() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_after_close_notification_never_forwarded_is_swept_and_the_payment_converges() {
    let system = System::with(SystemOptions {
        notify_handler: true,
        notify_handler_proxied: true,
        schedulers: 1,
        retry_tiers: "10m".into(),
        stuck_schedule: "10m".into(),
        scheduler_config: vec![
            // Past the provider's retries (notify-handler holds each for its 3 s confirm timeout).
            ("UNDECIDED_NOTIFICATION_AGE".into(), "15s".into()),
            ("UNDECIDED_NOTIFICATION_INTERVAL".into(), "200ms".into()),
        ],
        mockpay: Settings {
            refund_delay_ms: 50,
            timeout_hold_ms: 5_000,
            // The provider gives up after three refused deliveries (about 10 s).
            notify_retry_ms: vec![100, 200],
            ..Settings::default()
        },
        ..SystemOptions::default()
    })
    .await;
    {
        use paygate::domain::Currency;
        use paygate::store::policies::{self, Policy};
        let mut conn = system.db.pool.acquire().await.unwrap();
        let policy =
            Policy { auto_refund_paid_after_close: true, ..Policy::default_for(MERCHANT, Currency::CNY) };
        policies::set(&mut conn, &policy).await.unwrap();
    }
    system.pay("o-swept", "7.00", "qr").await;
    system.wait_for("o-swept", "payment.action_required", WITHIN).await;
    let id = system.payment("o-swept").await.unwrap().id;
    system.close_our_side(id).await;

    // notify-handler's broker is down: it stores the notification, cannot forward it, answers
    // 503, and the provider gives up.
    system.notify_broker_proxy.as_ref().unwrap().cut();
    eventually("notify-handler to see its broker gone", WITHIN, || async { !ready(&system).await }).await;
    system.mockpay.admin().pay(&trade_no(id)).await.unwrap();
    let truth = eventually_some("the provider to give up notifying", WITHIN, || async {
        let truth = system.truth(id).await;
        (truth.notifications.first()?.state == "FAILED").then_some(truth)
    })
    .await;
    assert!(truth.notifications[0].attempts.iter().all(|a| !a.acknowledged), "{truth:?}");
    let rows = system.notifications(id).await;
    assert_eq!((rows.len(), rows[0].status.as_str()), (1, "received"), "stored, never forwarded: {rows:?}");

    // The sweep forwards it (notify-handler's broker stays down: nobody else can).
    let refunded = system.wait_for("o-swept", "payment.refunded", WITHIN).await;
    assert_eq!(refunded.flags, ["paid_after_close"]);
    let payment = system.payment("o-swept").await.unwrap();
    assert!(payment.flags.contains(&"paid_after_close".to_owned()), "{:?}", payment.flags);
    let states: Vec<String> =
        system.history(id).await.into_iter().filter(|h| h.entity == "payment").map(|h| h.to_state).collect();
    assert_eq!(states, ["created", "pending", "action_required", "closed", "succeeded", "refunded"]);
    let mut conn = system.db.pool.acquire().await.unwrap();
    let refunds = paygate::store::refunds::of_payment(&mut conn, id).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].refund_no, format!("auto-{id}"));
    assert_eq!((refunds[0].requested_by.as_str(), refunds[0].amount.minor_units()), ("paygate", 700));
    let truth = system.truth(id).await;
    assert_eq!((truth.charges, truth.refunded_amount), (1, 700), "one charge, refunded once");
    // The payment's notification, and the refund's (notify-handler's broker is still down), were
    // each forwarded by the sweep under the notification's own message id, and applied.
    let rows = system.notifications(id).await;
    assert!(rows[0].body.contains("PAYMENT.SUCCEEDED"), "{rows:?}");
    assert!(rows.iter().all(|r| r.status == "applied"), "{rows:?}");
    let forwarded: Vec<Uuid> = sqlx::query_scalar(
        "SELECT message_id FROM outbox WHERE envelope->>'message_type' = 'order.notification' ORDER BY id",
    )
    .fetch_all(&system.db.pool)
    .await
    .unwrap();
    let ids: Vec<Uuid> =
        rows.iter().map(|r| paygate::messages::orders::notification_message_id(r.id)).collect();
    assert_eq!(forwarded, ids);
    eventually("the sweep's metrics to show it forwarded and the backlog empty", WITHIN, || async {
        let text = system.scheduler_metrics(0).await;
        metric(&text, "paygate_scheduler_enqueued_total{kind=\"notification\"}") >= 1
            && text.lines().any(|l| l == "paygate_scheduler_undecided_notifications 0")
            && text
                .lines()
                .any(|l| l.starts_with("paygate_scheduler_oldest_undecided_notification_age_seconds 0"))
    })
    .await;
    system.notify_broker_proxy.as_ref().unwrap().restore();
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_dead_lettered_for_want_of_an_answer_is_swept_and_applied() {
    let system = System::with(SystemOptions {
        notify_handler: true,
        schedulers: 1,
        // One retry: a query back that gets no answer twice is dead-lettered within about 1 s.
        retry_tiers: "1s".into(),
        stuck_schedule: "10m".into(),
        scheduler_config: vec![
            ("UNDECIDED_NOTIFICATION_AGE".into(), "6s".into()),
            ("UNDECIDED_NOTIFICATION_INTERVAL".into(), "200ms".into()),
        ],
        ..SystemOptions::default()
    })
    .await;
    system.pay("o-dead", "6.00", "qr").await;
    system.wait_for("o-dead", "payment.action_required", WITHIN).await;
    let id = system.payment("o-dead").await.unwrap().id;
    system.close_our_side(id).await;
    let admin = system.mockpay.admin();
    admin.script_fault(&trade_no(id), Operation::Query, Fault::Http500, 2).await.unwrap();
    admin.pay(&trade_no(id)).await.unwrap();
    // notify-handler stored and forwarded it; both queries back failed; the message is
    // dead-lettered and the row stays received.
    eventually("the notification's message to be dead-lettered", WITHIN, || async {
        system.dispatcher_metric(0, "paygate_messages_dead_lettered_total").await >= 1
    })
    .await;
    let rows = system.notifications(id).await;
    assert_eq!((rows.len(), rows[0].status.as_str()), (1, "received"), "{rows:?}");
    assert_eq!(system.payment("o-dead").await.unwrap().state.as_str(), "closed");

    // The sweep replays it; the provider answers now.
    let event = system.wait_for("o-dead", "payment.succeeded", WITHIN).await;
    assert_eq!(event.flags, ["paid_after_close"]);
    let rows = system.notifications(id).await;
    assert_eq!(rows[0].status, "applied", "{rows:?}");
    assert_eq!(system.truth(id).await.charges, 1);
    system.stop().await;
}
