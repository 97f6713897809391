//! The admin API: statistics, reset, auto-pay, script validation.

use crate::support::{Env, fast_settings, order_id, pay_body, refund_id};
use mockpay::{Fault, Operation, ScriptEntry};
use serde_json::json;

#[tokio::test]
async fn stats_count_requests_money_and_notifications() {
    let env = Env::start().await;
    let order = env.paid_order(1000, None).await;
    env.refund(&order, &refund_id(), 100).await;
    env.query("nope").await;
    let stats = env.admin.stats().await.unwrap();
    assert_eq!(stats.requests["pay"]["0000"], 1);
    assert_eq!(stats.requests["refund"]["0000"], 1);
    assert_eq!(stats.requests["query"]["1150"], 1);
    assert_eq!(stats.charges, 1);
    assert_eq!(stats.refunds.created, 1);
}

#[tokio::test]
async fn reset_forgets_payments_but_keeps_merchants() {
    let env = Env::start().await;
    env.admin.add_merchant("m9", "s9").await.unwrap();
    let order = env.paid_order(1000, None).await;
    env.admin.script_fault("later", Operation::Pay, Fault::Timeout, 1).await.unwrap();
    env.admin.reset().await.unwrap();
    assert!(env.admin.payment(&order).await.unwrap().is_none());
    assert_eq!(env.query(&order).await.code(), "1150");
    assert!(env.admin.pending_script().await.unwrap().is_empty());
    assert_eq!(env.admin.stats().await.unwrap().charges, 0);
    let m9 = mockpay::testkit::SignedClient::new(env.mp.base_url(), "m9", "s9");
    assert_eq!(m9.get("/v1/payments/x").await.unwrap().code(), "1150");
}

#[tokio::test]
async fn auto_pay_pays_waiting_payments() {
    let env = Env::start().await;
    env.admin
        .set_settings(&mockpay::Settings { auto_pay_after_ms: Some(50), ..fast_settings() })
        .await
        .unwrap();
    let order = order_id();
    assert_eq!(env.pay(&pay_body(&order, 100, "qr")).await.info()["status"], "WAITING");
    env.payment_status_becomes(&order, "SUCCEEDED").await;
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 1);
}

#[tokio::test]
async fn nonsensical_scripts_and_fault_rates_are_refused() {
    let env = Env::start().await;
    let err = env.admin.script(ScriptEntry::new("o", Operation::Query, Fault::Decline)).await.unwrap_err();
    assert!(err.to_string().contains("1110"), "{err}");
    let err =
        env.admin.script(ScriptEntry::new("o", Operation::Pay, Fault::DropNotification)).await.unwrap_err();
    assert!(err.to_string().contains("1110"), "{err}");
    let bad = mockpay::FaultSettings { timeout_ppm: 1_000_001, ..Default::default() };
    assert!(env.admin.set_faults(&bad).await.is_err());
    // Raw JSON, as the README documents it.
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(format!("{}/admin/script", env.mp.base_url()))
        .json(&json!({"orderId": "o", "operation": "notify", "fault": {"delay_notification_ms": 250}, "times": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["returnCode"], "0000", "{r}");
    let pending = env.admin.pending_script().await.unwrap();
    assert_eq!(pending[0].fault, Fault::DelayNotificationMs(250));
    assert_eq!(pending[0].times, 2);
}

#[tokio::test]
async fn shutdown_is_prompt_even_with_held_requests() {
    let env = Env::start().await;
    let order = order_id();
    env.admin.script_fault(&order, Operation::Pay, Fault::Timeout, 1).await.unwrap();
    let client = env.client.clone();
    let body = pay_body(&order, 100, "direct");
    let held = tokio::spawn(async move { client.post("/v1/payments", &body).await });
    crate::support::eventually("the request is held", || async {
        let stats = env.admin.stats().await.unwrap();
        stats.requests.get("pay").and_then(|m| m.get("timeout")).map(|_| ())
    })
    .await;
    let started = std::time::Instant::now();
    env.mp.shutdown().await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(held.await.unwrap().is_err(), "the held request is dropped, not answered");
}
