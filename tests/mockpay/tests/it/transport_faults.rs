//! Transport faults: timeouts, HTTP 500, charged-but-response-lost, latency, in-flight
//! duplicates, and seeded rates.

use crate::support::{Env, fast_settings, order_id, pay_body, refund_id};
use mockpay::{Fault, FaultSettings, Latency, Operation};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_timeout_holds_the_request_and_processes_nothing() {
    let env = Env::start().await;
    let order = order_id();
    env.admin.script_fault(&order, Operation::Pay, Fault::Timeout, 1).await.unwrap();
    let impatient = env.impatient_client(300);
    let err = impatient.post("/v1/payments", &pay_body(&order, 100, "direct")).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(env.admin.payment(&order).await.unwrap().is_none(), "a timed-out pay is not processed");
    // The retry goes through and charges once.
    assert_eq!(env.pay(&pay_body(&order, 100, "direct")).await.code(), "0000");
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 1);
    assert_eq!(env.admin.stats().await.unwrap().requests["pay"]["timeout"], 1);
}

#[tokio::test]
async fn a_held_response_ends_with_a_dropped_connection() {
    let mut settings = fast_settings();
    settings.timeout_hold_ms = 100;
    let env = Env::start_with(settings, FaultSettings::default()).await;
    let order = order_id();
    env.admin.script_fault(&order, Operation::Query, Fault::Timeout, 1).await.unwrap();
    let err = env.client.get(&format!("/v1/payments/{order}")).await.unwrap_err();
    assert!(!err.is_timeout(), "the server dropped it before the client's 10 s: {err:?}");
}

#[tokio::test]
async fn an_http_500_answers_9000_and_processes_nothing() {
    let env = Env::start().await;
    let order = order_id();
    env.admin.script_fault(&order, Operation::Pay, Fault::Http500, 2).await.unwrap();
    for _ in 0..2 {
        let a = env.pay(&pay_body(&order, 100, "direct")).await;
        assert_eq!((a.status, a.code()), (500, "9000"));
    }
    assert!(env.admin.payment(&order).await.unwrap().is_none());
    assert_eq!(env.pay(&pay_body(&order, 100, "direct")).await.code(), "0000");
}

#[tokio::test]
async fn lost_response_charges_once_and_a_query_shows_succeeded() {
    let env = Env::start().await;
    let order = order_id();
    env.admin.script_fault(&order, Operation::Pay, Fault::LostResponse, 1).await.unwrap();
    let impatient = env.impatient_client(300);
    let body = pay_body(&order, 4200, "direct");
    assert!(impatient.post("/v1/payments", &body).await.is_err(), "the response is lost");
    let truth = env.admin.payment(&order).await.unwrap().unwrap();
    assert_eq!((truth.status.as_str(), truth.charges), ("SUCCEEDED", 1));
    let q = env.query(&order).await;
    assert_eq!((q.code(), q.info()["status"].as_str()), ("0000", Some("SUCCEEDED")));
    // A blind re-send is answered with the same transaction and takes no more money.
    let again = env.pay(&body).await;
    assert_eq!(again.info()["transactionId"], q.info()["transactionId"]);
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 1);
}

#[tokio::test]
async fn query_close_refund_and_refund_query_faults() {
    let env = Env::start().await;
    let order = env.paid_order(1000, None).await;
    env.admin.script_fault(&order, Operation::Query, Fault::Http500, 1).await.unwrap();
    assert_eq!(env.query(&order).await.code(), "9000");
    assert_eq!(env.query(&order).await.code(), "0000");

    env.admin.script_fault(&order, Operation::Refund, Fault::LostResponse, 1).await.unwrap();
    let rid = refund_id();
    let impatient = env.impatient_client(300);
    let body = serde_json::json!({"orderId": order, "refundId": rid, "amount": 100});
    assert!(impatient.post("/v1/refunds", &body).await.is_err());
    env.refund_status_becomes(&rid, "SUCCEEDED").await;

    env.admin.script_fault(&order, Operation::RefundQuery, Fault::Timeout, 1).await.unwrap();
    assert!(impatient.get(&format!("/v1/refunds/{rid}")).await.unwrap_err().is_timeout());
    assert_eq!(env.refund_query(&rid).await.code(), "0000");

    let waiting = order_id();
    env.pay(&pay_body(&waiting, 100, "qr")).await;
    env.admin.script_fault(&waiting, Operation::Close, Fault::LostResponse, 1).await.unwrap();
    assert!(impatient.post(&format!("/v1/payments/{waiting}/close"), &serde_json::json!({})).await.is_err());
    assert_eq!(env.query(&waiting).await.info()["status"], "CLOSED", "the close was committed");
    assert!(env.admin.pending_script().await.unwrap().is_empty());
}

#[tokio::test]
async fn latency_delays_answers() {
    let faults = FaultSettings {
        latency: Latency { fixed_ms: 150, ..Latency::default() },
        ..FaultSettings::default()
    };
    let env = Env::start_with(fast_settings(), faults).await;
    let started = Instant::now();
    assert_eq!(env.query("x").await.code(), "1150");
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_concurrent_duplicate_pay_is_1198() {
    let faults = FaultSettings {
        latency: Latency { fixed_ms: 300, ..Latency::default() },
        ..FaultSettings::default()
    };
    let env = Env::start_with(fast_settings(), faults).await;
    let order = order_id();
    let body = pay_body(&order, 100, "direct");
    let (a, b) = tokio::join!(env.pay(&body), env.pay(&body));
    let mut codes = [a.code().to_owned(), b.code().to_owned()];
    codes.sort();
    assert_eq!(codes, ["0000", "1198"]);
    assert_eq!(env.admin.payment(&order).await.unwrap().unwrap().charges, 1);
}

/// The outcome of 40 direct payments under a 50% decline rate and 20% HTTP 500 rate.
async fn outcomes(env: &Env, seed: u64) -> Vec<String> {
    env.admin.reset().await.unwrap();
    let faults =
        FaultSettings { seed, decline_ppm: 500_000, http500_ppm: 200_000, ..FaultSettings::default() };
    env.admin.set_faults(&faults).await.unwrap();
    let mut out = Vec::new();
    for i in 0..40 {
        out.push(env.pay(&pay_body(&format!("seeded-{i}"), 100, "direct")).await.code().to_owned());
    }
    out
}

#[tokio::test]
async fn rates_with_a_fixed_seed_are_reproducible() {
    let env = Env::start().await;
    let first = outcomes(&env, 42).await;
    let second = outcomes(&env, 42).await;
    assert_eq!(first, second);
    let count = |c: &str| first.iter().filter(|x| x.as_str() == c).count();
    assert!(count("1101") > 0 && count("0000") > 0 && count("9000") > 0, "{first:?}");
    assert_eq!(count("1101") + count("0000") + count("9000"), 40);
    let other = outcomes(&env, 43).await;
    assert_ne!(first, other, "another seed, other faults");
    // The statistics agree with what the client saw.
    let stats = env.admin.stats().await.unwrap();
    let seen = |c: &str| other.iter().filter(|x| x.as_str() == c).count() as u64;
    assert_eq!(stats.charges, seen("0000"));
    assert_eq!(stats.declines, seen("1101"));
    assert_eq!(stats.requests["pay"].get("http_500").copied().unwrap_or(0), seen("9000"));
}
