//! Request authentication: signature, timestamp window, nonce reuse, merchants.

use crate::support::{Env, MERCHANT, SECRET, order_id, pay_body};
use mockpay::testkit::{SignedClient, Tweak, sign_request};

#[tokio::test]
async fn a_correctly_signed_request_is_accepted() {
    let env = Env::start().await;
    let a = env.query("no-such-order").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.code(), "1150", "authenticated, then not found: {:?}", a.body);
}

#[tokio::test]
async fn a_wrong_signature_is_401_1106() {
    let env = Env::start().await;
    let tweak = Tweak { signature: Some("00".repeat(32)), ..Tweak::default() };
    let a = env.client.send("GET", "/v1/payments/x", Vec::new(), tweak).await.unwrap();
    assert_eq!(a.status, 401);
    assert_eq!(a.code(), "1106");
    assert!(a.body["returnMessage"].as_str().unwrap().contains("Signature"), "{:?}", a.body);

    let wrong_secret = SignedClient::new(env.mp.base_url(), MERCHANT, "not-the-secret");
    let a = wrong_secret.get("/v1/payments/x").await.unwrap();
    assert_eq!((a.status, a.code()), (401, "1106"));
}

#[tokio::test]
async fn the_signature_covers_the_body_and_the_query() {
    let env = Env::start().await;
    let order = order_id();
    let body = pay_body(&order, 100, "direct").to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    // Signed for another body.
    let sig = sign_request(SECRET, "POST", "/v1/payments", &ts, "n-body", b"{}");
    let tweak =
        Tweak { timestamp: Some(ts.parse().unwrap()), nonce: Some("n-body".into()), signature: Some(sig) };
    let a = env.client.send("POST", "/v1/payments", body.into_bytes(), tweak).await.unwrap();
    assert_eq!((a.status, a.code()), (401, "1106"));
    // Signed without the query string.
    let sig = sign_request(SECRET, "GET", "/v1/payments/x", &ts, "n-query", b"");
    let tweak =
        Tweak { timestamp: Some(ts.parse().unwrap()), nonce: Some("n-query".into()), signature: Some(sig) };
    let a = env.client.send("GET", "/v1/payments/x?verbose=1", Vec::new(), tweak).await.unwrap();
    assert_eq!((a.status, a.code()), (401, "1106"));
    // The query string is part of the signed path and is accepted when signed.
    let a = env.client.get("/v1/payments/x?verbose=1").await.unwrap();
    assert_eq!((a.status, a.code()), (200, "1150"));
}

#[tokio::test]
async fn a_timestamp_outside_300_seconds_is_refused() {
    let env = Env::start().await;
    let now = chrono::Utc::now().timestamp();
    for ts in [now - 301, now + 301] {
        let tweak = Tweak { timestamp: Some(ts), ..Tweak::default() };
        let a = env.client.send("GET", "/v1/payments/x", Vec::new(), tweak).await.unwrap();
        assert_eq!((a.status, a.code()), (401, "1106"), "timestamp {ts}");
    }
    let tweak = Tweak { timestamp: Some(now - 250), ..Tweak::default() };
    let a = env.client.send("GET", "/v1/payments/x", Vec::new(), tweak).await.unwrap();
    assert_eq!(a.code(), "1150", "within the window");
}

#[tokio::test]
async fn a_reused_nonce_is_refused() {
    let env = Env::start().await;
    let tweak = Tweak { nonce: Some("once-only".into()), ..Tweak::default() };
    let a = env.client.send("GET", "/v1/payments/x", Vec::new(), tweak.clone()).await.unwrap();
    assert_eq!(a.code(), "1150");
    let a = env.client.send("GET", "/v1/payments/x", Vec::new(), tweak).await.unwrap();
    assert_eq!((a.status, a.code()), (401, "1106"));
    assert!(a.body["returnMessage"].as_str().unwrap().contains("already used"));
}

#[tokio::test]
async fn unknown_merchants_and_missing_headers_are_refused() {
    let env = Env::start().await;
    let stranger = SignedClient::new(env.mp.base_url(), "m-unknown", SECRET);
    let a = stranger.get("/v1/payments/x").await.unwrap();
    assert_eq!((a.status, a.code()), (401, "1106"));

    let raw =
        reqwest::Client::new().get(format!("{}/v1/payments/x", env.mp.base_url())).send().await.unwrap();
    assert_eq!(raw.status().as_u16(), 401);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["returnCode"], "1106");

    // A merchant added through the admin API can sign at once.
    env.admin.add_merchant("m2", "secret2").await.unwrap();
    let m2 = SignedClient::new(env.mp.base_url(), "m2", "secret2");
    assert_eq!(m2.get("/v1/payments/x").await.unwrap().code(), "1150");
}

#[tokio::test]
async fn merchants_do_not_see_each_others_orders() {
    let env = Env::start().await;
    env.admin.add_merchant("m2", "secret2").await.unwrap();
    let order = env.paid_order(500, None).await;
    let m2 = SignedClient::new(env.mp.base_url(), "m2", "secret2");
    assert_eq!(m2.get(&format!("/v1/payments/{order}")).await.unwrap().code(), "1150");
}
