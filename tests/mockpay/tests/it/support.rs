//! Shared test helpers: a mockpay per test, a webhook receiver, and polling with a deadline.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use mockpay::testkit::{RawAnswer, SignedClient};
use mockpay::{AdminClient, Config, FaultSettings, MockPay, MockPayHandle, Settings};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MERCHANT: &str = "m1";
pub const SECRET: &str = "secret1";

/// Settings that keep tests fast: short refund delay and notification retries.
pub fn fast_settings() -> Settings {
    Settings {
        refund_delay_ms: 50,
        notify_retry_ms: vec![30, 60, 120],
        notify_timeout_ms: 2_000,
        timeout_hold_ms: 10_000,
        ..Settings::default()
    }
}

pub struct Env {
    pub mp: MockPayHandle,
    pub client: SignedClient,
    pub admin: AdminClient,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(fast_settings(), FaultSettings::default()).await
    }

    pub async fn start_with(settings: Settings, faults: FaultSettings) -> Env {
        let config =
            Config::default().with_merchant(MERCHANT, SECRET).with_settings(settings).with_faults(faults);
        let mp = MockPay::start(config).await.expect("mockpay starts");
        let client = SignedClient::new(mp.base_url(), MERCHANT, SECRET);
        let admin = mp.admin();
        Env { mp, client, admin }
    }

    /// A client that gives up after `ms`.
    pub fn impatient_client(&self, ms: u64) -> SignedClient {
        SignedClient::with_timeout(self.mp.base_url(), MERCHANT, SECRET, Duration::from_millis(ms))
    }

    pub async fn pay(&self, body: &Value) -> RawAnswer {
        self.client.post("/v1/payments", body).await.expect("pay answered")
    }

    pub async fn query(&self, order_id: &str) -> RawAnswer {
        self.client.get(&format!("/v1/payments/{order_id}")).await.expect("query answered")
    }

    pub async fn refund(&self, order_id: &str, refund_id: &str, amount: i64) -> RawAnswer {
        let body = json!({"orderId": order_id, "refundId": refund_id, "amount": amount});
        self.client.post("/v1/refunds", &body).await.expect("refund answered")
    }

    pub async fn refund_query(&self, refund_id: &str) -> RawAnswer {
        self.client.get(&format!("/v1/refunds/{refund_id}")).await.expect("refund query answered")
    }

    /// Waits until the payment's status is `status`.
    pub async fn payment_status_becomes(&self, order_id: &str, status: &str) {
        eventually(&format!("{order_id} becomes {status}"), || async {
            let a = self.query(order_id).await;
            (a.info()["status"] == status).then_some(())
        })
        .await
    }

    /// Waits until the refund's status is `status`.
    pub async fn refund_status_becomes(&self, refund_id: &str, status: &str) {
        eventually(&format!("refund {refund_id} becomes {status}"), || async {
            let a = self.refund_query(refund_id).await;
            (a.info()["status"] == status).then_some(())
        })
        .await
    }

    /// A paid `direct` payment.
    pub async fn paid_order(&self, amount: i64, notify_url: Option<&str>) -> String {
        let order_id = order_id();
        let mut body = pay_body(&order_id, amount, "direct");
        if let Some(u) = notify_url {
            body["notifyUrl"] = json!(u);
        }
        let a = self.pay(&body).await;
        assert_eq!(a.code(), "0000", "{:?}", a.body);
        assert_eq!(a.info()["status"], "SUCCEEDED");
        order_id
    }
}

/// A fresh order id.
pub fn order_id() -> String {
    format!("ord-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh refund id.
pub fn refund_id() -> String {
    format!("ref-{}", uuid::Uuid::new_v4().simple())
}

pub fn pay_body(order_id: &str, amount: i64, method: &str) -> Value {
    json!({
        "orderId": order_id,
        "amount": amount,
        "currency": "JPY",
        "description": "coffee beans",
        "payMethod": method,
    })
}

/// Polls `check` every 10 ms until it returns Some, or panics after 10 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A notification as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub body: String,
    pub json: Value,
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Answer HTTP 500 to this many deliveries before acknowledging.
    fail_first: u32,
    /// Never acknowledge.
    never_ack: bool,
}

/// A webhook receiver on 127.0.0.1:0.
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut s = state.lock().unwrap();
    s.received.push(Received {
        timestamp: h("x-mockpay-timestamp"),
        nonce: h("x-mockpay-nonce"),
        signature: h("x-mockpay-signature"),
        json: serde_json::from_str(&body).unwrap_or(Value::Null),
        body,
    });
    if s.never_ack {
        return (StatusCode::OK, r#"{"returnCode":"9000"}"#.into());
    }
    if s.fail_first > 0 {
        s.fail_first -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "busy".into());
    }
    (StatusCode::OK, r#"{"returnCode":"0000"}"#.into())
}

impl Receiver {
    pub async fn start() -> Receiver {
        Receiver::start_with(0, false).await
    }

    pub async fn start_with(fail_first: u32, never_ack: bool) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState { fail_first, never_ack, ..ReceiverState::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let router = Router::new().route("/notify", post(receive)).with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver { url, state, task }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Deliveries about `order_id`, in arrival order.
    pub fn for_order(&self, order_id: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.json["orderId"] == order_id).collect()
    }

    /// Waits until `n` deliveries about `order_id` have arrived.
    pub async fn wait_for(&self, order_id: &str, n: usize) -> Vec<Received> {
        eventually(&format!("{n} notifications for {order_id}"), || async {
            let got = self.for_order(order_id);
            (got.len() >= n).then_some(got)
        })
        .await
    }
}
