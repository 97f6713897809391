//! Merchant callbacks through the whole system: a payment paid and refunded through ingest, the
//! dispatcher and mockpay; compensation-scheduler consumes the events exchange like any upstream
//! and POSTs the events the merchant's endpoint asked for, signed, with the same `event_id` and
//! `sequence` the events exchange carried.

use compensation_scheduler::callbacks::signature;
use paygate::store::callbacks::{self, NewEndpoint};
use paygate_e2e::system::MERCHANT;
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::eventually_some;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

/// What the merchant's endpoint received: (Paygate-Signature, body).
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn merchant_endpoint() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let signature = headers[signature::HEADER].to_str().unwrap().to_owned();
                store.lock().unwrap().push((signature, body.to_vec()));
                "stored"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_and_refunded_payment_is_called_back_signed_with_the_events_it_asked_for() {
    let system = System::with(SystemOptions {
        schedulers: 1,
        scheduler_config: vec![
            ("CALLBACK_SCHEDULE".into(), "200ms".into()),
            ("CALLBACK_POLL_INTERVAL".into(), "100ms".into()),
        ],
        ..SystemOptions::default()
    })
    .await;
    let (url, received) = merchant_endpoint().await;
    let new = NewEndpoint {
        merchant_id: MERCHANT.into(),
        url,
        order_types: vec!["retail".into()],
        event_kinds: vec!["payment.succeeded".into(), "refund.succeeded".into()],
    };
    let mut conn = system.db.pool.acquire().await.unwrap();
    let endpoint = callbacks::add(&mut conn, &new).await.unwrap();

    system.pay("cb-1", "12.34", "direct").await;
    let paid = system.upstream.wait_for("cb-1", "payment.succeeded", WITHIN).await;
    system.refund("cb-1", "cb-1-r1", "2.00", "alice").await;
    let refunded = system.upstream.wait_for("cb-1", "refund.succeeded", WITHIN).await;

    let got = eventually_some("both callbacks", WITHIN, || {
        let got = received.lock().unwrap().clone();
        async move { (got.len() >= 2).then_some(got) }
    })
    .await;
    let mut bodies = Vec::new();
    for (header, body) in &got {
        assert!(
            signature::verify(&endpoint.secret, header, body),
            "signed with the endpoint's secret: {header}"
        );
        bodies.push(serde_json::from_slice::<Value>(body).unwrap());
    }
    bodies.sort_by_key(|b| b["sequence"].as_i64());
    let kinds: Vec<&str> = bodies.iter().map(|b| b["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["payment.succeeded", "refund.succeeded"],
        "only what it asked for (no payment.pending)"
    );
    assert_eq!(bodies[0]["event_id"], paid.event_id.to_string());
    assert_eq!(bodies[0]["sequence"], paid.sequence);
    assert_eq!(bodies[1]["event_id"], refunded.event_id.to_string());
    assert_eq!(bodies[1]["sequence"], refunded.sequence);
    assert_eq!(bodies[0]["merchant_order_no"], "cb-1");
    assert_eq!(bodies[1]["refund"]["refund_no"], "cb-1-r1");
    let others: Vec<String> = system
        .upstream
        .order_events("cb-1")
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k != "payment.succeeded" && k != "refund.succeeded")
        .collect();
    assert!(!others.is_empty(), "the events exchange had more than the endpoint wanted");
    let owed: i64 = sqlx::query_scalar("SELECT count(*) FROM callback_deliveries")
        .fetch_one(&system.db.pool)
        .await
        .unwrap();
    assert_eq!(owed, 2, "none of {others:?} is owed to the endpoint");
}
