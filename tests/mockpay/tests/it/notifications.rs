//! Notifications: signature, acknowledgement and retries, and the notification faults.

use crate::support::{Env, Receiver, SECRET, fast_settings, order_id, pay_body, refund_id};
use mockpay::testkit::verify_notification;
use mockpay::{Fault, FaultSettings, Operation};
use serde_json::json;

async fn waiting_order(env: &Env, rx: &Receiver) -> String {
    let order = order_id();
    let mut body = pay_body(&order, 1800, "redirect");
    body["notifyUrl"] = json!(rx.url);
    assert_eq!(env.pay(&body).await.info()["status"], "WAITING");
    order
}

#[tokio::test]
async fn paying_a_waiting_payment_sends_a_signed_notification() {
    let env = Env::start().await;
    let rx = Receiver::start().await;
    let order = waiting_order(&env, &rx).await;
    assert!(rx.for_order(&order).is_empty(), "nothing before the customer pays");
    assert_eq!(env.admin.pay(&order).await.unwrap().return_code, "0000");
    let got = rx.wait_for(&order, 1).await;
    let n = &got[0];
    assert!(verify_notification(SECRET, &n.timestamp, &n.nonce, n.body.as_bytes(), &n.signature));
    assert!(!verify_notification("other", &n.timestamp, &n.nonce, n.body.as_bytes(), &n.signature));
    assert!((chrono::Utc::now().timestamp() - n.timestamp.parse::<i64>().unwrap()).abs() < 60);
    let txn = env.query(&order).await.info()["transactionId"].clone();
    assert_eq!(n.json["eventType"], "PAYMENT.SUCCEEDED");
    assert_eq!(n.json["merchantId"], "m1");
    assert_eq!(n.json["orderId"], order);
    assert_eq!(n.json["transactionId"], txn);
    assert_eq!(n.json["amount"], 1800);
    assert_eq!(n.json["currency"], "JPY");
    assert!(n.json["notificationId"].as_str().unwrap().starts_with("ntf_"));
    assert!(n.json.get("refundId").is_none());

    let truth = env.admin.payment(&order).await.unwrap().unwrap();
    let t = &truth.notifications[0];
    assert_eq!(t.state, "DELIVERED");
    assert_eq!(t.attempts.len(), 1);
    assert_eq!(t.attempts[0].http_status, Some(200));
    assert_eq!(t.attempts[0].response_body.as_deref(), Some(r#"{"returnCode":"0000"}"#));
    assert_eq!(t.body, n.body);
}

#[tokio::test]
async fn close_expiry_and_refunds_are_notified() {
    let env = Env::start().await;
    let rx = Receiver::start().await;
    let closed = waiting_order(&env, &rx).await;
    env.client.post(&format!("/v1/payments/{closed}/close"), &json!({})).await.unwrap();
    assert_eq!(rx.wait_for(&closed, 1).await[0].json["eventType"], "PAYMENT.CLOSED");

    let expired = waiting_order(&env, &rx).await;
    env.admin.expire(&expired).await.unwrap();
    assert_eq!(rx.wait_for(&expired, 1).await[0].json["eventType"], "PAYMENT.EXPIRED");

    let paid = env.paid_order(900, Some(&rx.url)).await;
    let rid = refund_id();
    env.refund(&paid, &rid, 250).await;
    let got = rx.wait_for(&paid, 2).await;
    assert_eq!(got[0].json["eventType"], "PAYMENT.SUCCEEDED");
    assert_eq!(got[1].json["eventType"], "REFUND.SUCCEEDED");
    assert_eq!(got[1].json["refundId"], rid);
    assert_eq!(got[1].json["amount"], 250);
}

#[tokio::test]
async fn an_unacknowledged_notification_is_retried_until_acknowledged() {
    let env = Env::start().await;
    let rx = Receiver::start_with(2, false).await;
    let order = waiting_order(&env, &rx).await;
    env.admin.pay(&order).await.unwrap();
    let got = rx.wait_for(&order, 3).await;
    let ids: Vec<_> = got.iter().map(|n| n.json["notificationId"].clone()).collect();
    assert!(ids.iter().all(|i| i == &ids[0]), "one notificationId across retries");
    assert!(got.iter().all(|n| n.body == got[0].body), "the same body on every attempt");
    assert_ne!(got[0].nonce, got[1].nonce, "a fresh nonce per attempt");
    let t = crate::support::eventually("delivered", || async {
        let truth = env.admin.payment(&order).await.unwrap().unwrap();
        (truth.notifications[0].state == "DELIVERED").then_some(truth)
    })
    .await;
    let statuses: Vec<_> = t.notifications[0].attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(200)]);
    assert_eq!(env.admin.stats().await.unwrap().notifications.delivered, 1);
}

#[tokio::test]
async fn a_notification_never_acknowledged_is_given_up() {
    let env = Env::start().await;
    let rx = Receiver::start_with(0, true).await;
    let order = waiting_order(&env, &rx).await;
    env.admin.pay(&order).await.unwrap();
    let attempts = fast_settings().notify_retry_ms.len() + 1;
    crate::support::eventually("given up", || async {
        let truth = env.admin.payment(&order).await.unwrap().unwrap();
        (truth.notifications[0].state == "FAILED").then_some(())
    })
    .await;
    assert_eq!(rx.for_order(&order).len(), attempts);
    let stats = env.admin.stats().await.unwrap();
    assert_eq!((stats.notifications.failed, stats.notifications.attempts), (1, attempts as u64));
}

#[tokio::test]
async fn a_dropped_notification_is_never_sent() {
    let env = Env::start().await;
    let rx = Receiver::start().await;
    let order = waiting_order(&env, &rx).await;
    env.admin.script_fault(&order, Operation::Notify, Fault::DropNotification, 1).await.unwrap();
    env.admin.pay(&order).await.unwrap();
    // The refund's notification comes after the dropped one; once it is in, the first is lost.
    env.refund(&order, &refund_id(), 100).await;
    let got = rx.wait_for(&order, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["eventType"], "REFUND.SUCCEEDED");
    let truth = env.admin.payment(&order).await.unwrap().unwrap();
    assert_eq!(truth.notifications[0].state, "DROPPED");
    assert!(truth.notifications[0].attempts.is_empty());
}

#[tokio::test]
async fn a_duplicated_notification_arrives_twice_with_the_same_id() {
    let env = Env::start().await;
    let rx = Receiver::start().await;
    let order = waiting_order(&env, &rx).await;
    env.admin.script_fault(&order, Operation::Notify, Fault::DuplicateNotification, 1).await.unwrap();
    env.admin.pay(&order).await.unwrap();
    let got = rx.wait_for(&order, 2).await;
    assert_eq!(got[0].json["notificationId"], got[1].json["notificationId"]);
    assert_eq!(got[0].body, got[1].body);
}

#[tokio::test]
async fn a_delayed_notification_is_overtaken_by_a_later_one() {
    let env = Env::start().await;
    let rx = Receiver::start().await;
    let order = waiting_order(&env, &rx).await;
    env.admin.script_fault(&order, Operation::Notify, Fault::DelayNotificationMs(1_000), 1).await.unwrap();
    env.admin.pay(&order).await.unwrap();
    let rid = refund_id();
    env.refund(&order, &rid, 100).await;
    let got = rx.wait_for(&order, 2).await;
    let events: Vec<_> = got.iter().map(|n| n.json["eventType"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["REFUND.SUCCEEDED", "PAYMENT.SUCCEEDED"]);
}

#[tokio::test]
async fn the_reorder_rate_lets_the_next_notification_overtake() {
    let faults = FaultSettings { notification_reorder_ppm: mockpay::PPM, ..FaultSettings::default() };
    let env = Env::start_with(fast_settings(), faults).await;
    let rx = Receiver::start().await;
    let order = env.paid_order(500, Some(&rx.url)).await;
    let truth = env.admin.payment(&order).await.unwrap().unwrap();
    assert_eq!(truth.notifications[0].state, "HELD");
    env.refund(&order, &refund_id(), 100).await;
    let got = rx.wait_for(&order, 2).await;
    let events: Vec<_> = got.iter().map(|n| n.json["eventType"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["REFUND.SUCCEEDED", "PAYMENT.SUCCEEDED"]);
}
