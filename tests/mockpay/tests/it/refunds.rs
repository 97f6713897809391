//! Refunds: asynchronous completion, limits, idempotency, and the scripted refund faults.

use crate::support::{Env, Receiver, order_id, pay_body, refund_id};
use mockpay::{Fault, Operation};
use serde_json::json;

#[tokio::test]
async fn a_refund_is_processing_then_succeeded() {
    let env = Env::start().await;
    let order = env.paid_order(1000, None).await;
    let rid = refund_id();
    let a = env.refund(&order, &rid, 400).await;
    assert_eq!(a.code(), "0000", "{:?}", a.body);
    assert_eq!(a.info()["status"], "PROCESSING");
    let rtxn = a.info()["refundTransactionId"].as_str().unwrap().to_owned();
    assert_eq!(rtxn.len(), 19);
    env.refund_status_becomes(&rid, "SUCCEEDED").await;
    let r = env.refund_query(&rid).await;
    assert_eq!(
        r.info(),
        &json!({"refundId": rid, "refundTransactionId": rtxn, "orderId": order, "amount": 400, "status": "SUCCEEDED"})
    );
    let q = env.query(&order).await;
    assert_eq!(q.info()["refundedAmount"], 400);
    assert_eq!(q.info()["refunds"], json!([{"refundId": rid, "amount": 400, "status": "SUCCEEDED"}]));
    assert_eq!(q.info()["status"], "SUCCEEDED", "a partially refunded payment stays SUCCEEDED");
}

#[tokio::test]
async fn over_refunds_are_1164_and_a_fully_refunded_payment_is_1165() {
    let env = Env::start().await;
    let order = env.paid_order(1000, None).await;
    assert_eq!(env.refund(&order, &refund_id(), 1001).await.code(), "1164");
    assert_eq!(env.refund(&order, &refund_id(), 600).await.code(), "0000");
    // PROCESSING refunds hold their amount.
    let a = env.refund(&order, &refund_id(), 401).await;
    assert_eq!(a.code(), "1164");
    assert!(a.body["returnMessage"].as_str().unwrap().contains("400"), "{:?}", a.body);
    assert_eq!(env.refund(&order, &refund_id(), 400).await.code(), "0000");
    assert_eq!(env.refund(&order, &refund_id(), 1).await.code(), "1165");
    let truth = env.admin.payment(&order).await.unwrap().unwrap();
    assert_eq!(truth.refundable_amount, 0);
}

#[tokio::test]
async fn refunds_are_idempotent_on_refund_id() {
    let env = Env::start().await;
    let order = env.paid_order(1000, None).await;
    let rid = refund_id();
    let first = env.refund(&order, &rid, 300).await;
    let again = env.refund(&order, &rid, 300).await;
    assert_eq!(again.code(), "0000");
    assert_eq!(first.info()["refundTransactionId"], again.info()["refundTransactionId"]);
    assert_eq!(env.refund(&order, &rid, 301).await.code(), "1172");
    let other = env.paid_order(1000, None).await;
    assert_eq!(env.refund(&other, &rid, 300).await.code(), "1172");
    let truth = env.admin.payment(&order).await.unwrap().unwrap();
    assert_eq!(truth.refunds.len(), 1);
    assert_eq!(truth.refundable_amount, 700);
}

#[tokio::test]
async fn refunds_of_unpaid_payments_are_refused() {
    let env = Env::start().await;
    assert_eq!(env.refund("nope", &refund_id(), 1).await.code(), "1150");
    let waiting = order_id();
    env.pay(&pay_body(&waiting, 100, "qr")).await;
    assert_eq!(env.refund(&waiting, &refund_id(), 1).await.code(), "1150");
    env.client.post(&format!("/v1/payments/{waiting}/close"), &json!({})).await.unwrap();
    assert_eq!(env.refund(&waiting, &refund_id(), 1).await.code(), "1180");
    assert_eq!(env.refund_query("no-such-refund").await.code(), "1150");
    let a = env.client.post("/v1/refunds", &json!({"orderId": waiting, "amount": 1})).await.unwrap();
    assert_eq!(a.code(), "1110");
    assert!(a.body["returnMessage"].as_str().unwrap().contains("refundId"));
}

#[tokio::test]
async fn processing_forever_stays_processing_until_the_admin_completes_it() {
    let env = Env::start().await;
    let order = env.paid_order(1000, None).await;
    env.admin.script_fault(&order, Operation::Refund, Fault::ProcessingForever, 1).await.unwrap();
    let stuck = refund_id();
    let normal = refund_id();
    assert_eq!(env.refund(&order, &stuck, 100).await.info()["status"], "PROCESSING");
    assert_eq!(env.refund(&order, &normal, 100).await.info()["status"], "PROCESSING");
    // The normal one, created later with the same delay, completes; the stuck one does not.
    env.refund_status_becomes(&normal, "SUCCEEDED").await;
    assert_eq!(env.refund_query(&stuck).await.info()["status"], "PROCESSING");
    let done = env.admin.complete_refund(&stuck, true).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    assert_eq!(env.query(&order).await.info()["refundedAmount"], 200);
}

#[tokio::test]
async fn refund_fail_ends_failed_notifies_and_releases_the_amount() {
    let env = Env::start().await;
    let rx = Receiver::start().await;
    let order = env.paid_order(1000, Some(&rx.url)).await;
    env.admin.script_fault(&order, Operation::Refund, Fault::RefundFail, 1).await.unwrap();
    let failed = refund_id();
    assert_eq!(env.refund(&order, &failed, 1000).await.code(), "0000");
    env.refund_status_becomes(&failed, "FAILED").await;
    let got = rx.wait_for(&order, 2).await;
    assert_eq!(got[1].json["eventType"], "REFUND.FAILED");
    assert_eq!(got[1].json["refundId"], failed);
    // The failed amount is refundable again.
    let retry = refund_id();
    assert_eq!(env.refund(&order, &retry, 1000).await.code(), "0000");
    env.refund_status_becomes(&retry, "SUCCEEDED").await;
    let q = env.query(&order).await;
    assert_eq!(q.info()["refundedAmount"], 1000);
}

#[tokio::test]
async fn a_zero_refund_delay_succeeds_at_once() {
    let env = Env::start().await;
    env.admin
        .set_settings(&mockpay::Settings { refund_delay_ms: 0, ..crate::support::fast_settings() })
        .await
        .unwrap();
    let order = env.paid_order(1000, None).await;
    assert_eq!(env.refund(&order, &refund_id(), 10).await.info()["status"], "SUCCEEDED");
}
