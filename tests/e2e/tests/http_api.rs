//! The upstream HTTP API end to end, against mockpay: a create answered with the customer's
//! action, the customer paying, a refund asked for over HTTP and followed to its end by polling
//! its URL. (services/ingest/tests/api.rs covers auth, validation, idempotency and the rest
//! without a provider.)

use paygate_e2e::System;
use serde_json::{Value, json};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

struct Api {
    base: String,
    key_id: String,
    secret: String,
    http: reqwest::Client,
}

impl Api {
    async fn new(system: &System) -> Self {
        let mut conn = system.db.pool.acquire().await.unwrap();
        let created = paygate::store::api_keys::create(&mut conn, paygate_e2e::system::MERCHANT, "e2e", None)
            .await
            .unwrap();
        Api {
            base: system.ingest_api(),
            key_id: created.key.id,
            secret: created.secret,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let now = chrono::Utc::now().timestamp();
        let headers = ingest::api::signature::headers(
            &self.key_id,
            &self.secret,
            method.as_str(),
            path,
            now,
            &nonce,
            &bytes,
        );
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if !bytes.is_empty() {
            request = request.header("content-type", "application/json").body(bytes);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// GETs `path` until `data.state` is `state`.
    async fn until_state(&self, path: &str, state: &str) -> Value {
        paygate_test_support::eventually_some(&format!("{path} to be {state}"), WITHIN, || async {
            let (status, body) = self.get(path).await;
            (status == 200 && body["data"]["state"] == state).then_some(body)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answers_with_the_customers_action_and_a_refund_is_followed_to_its_end() {
    let system = System::start().await;
    let api = Api::new(&system).await;
    let pay = json!({
        "merchant_order_no": "o-http", "amount": "8.00", "currency": "CNY", "provider": "mockpay",
        "pay_method": "qr", "order_type": "retail", "subject": "e2e order"
    });
    let (status, created) = api.post("/v1/payments", &pay).await;
    assert_eq!((status, created["code"].as_str()), (201, Some("created")), "{created}");
    let action = &created["data"]["action"];
    assert!(action["qr_code"].as_str().unwrap_or_default().starts_with("mockpay://pay/"), "{created}");
    assert_eq!(created["data"]["state"], "action_required");

    let payment = system.payment("o-http").await.unwrap();
    system.mockpay.admin().pay(&paygate::providers::adapter::trade_no(payment.id)).await.unwrap();
    api.until_state("/v1/payments/o-http", "succeeded").await;

    let refund = json!({
        "refund_no": "r-http", "merchant_order_no": "o-http", "amount": "3.00", "currency": "CNY",
        "requested_by": "alice", "reason": "e2e"
    });
    let (status, asked) = api.post("/v1/refunds", &refund).await;
    assert_eq!(status, 202, "{asked}");
    let poll = asked["data"]["poll_url"].as_str().unwrap().to_owned();
    let done = api.until_state(&poll, "succeeded").await;
    assert_eq!(done["data"]["amount"], "3.00");
    let (_, paid) = api.get("/v1/payments/o-http").await;
    assert_eq!(
        (paid["data"]["state"].as_str(), paid["data"]["refunded"].as_str()),
        (Some("partially_refunded"), Some("3.00"))
    );
    assert_eq!(system.truth(payment.id).await.charges, 1);
    system.stop().await;
}

/// Many creates waiting at once (their answers are read together, `api/provider_wait.rs`): each
/// gets its own payment's action, none another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_waiting_together_each_get_their_own_payments_action() {
    let system = System::start().await;
    let api = std::sync::Arc::new(Api::new(&system).await);
    let creates = (0..24).map(|n| {
        let api = api.clone();
        tokio::spawn(async move {
            let pay = json!({
                "merchant_order_no": format!("o-many-{n:02}"), "amount": format!("{}.00", n + 1),
                "currency": "CNY", "provider": "mockpay", "pay_method": "qr", "order_type": "retail",
                "subject": "together"
            });
            (n, api.post("/v1/payments", &pay).await)
        })
    });
    for create in futures_util::future::join_all(creates).await {
        let (n, (status, created)) = create.unwrap();
        assert_eq!((status, created["code"].as_str()), (201, Some("created")), "o-many-{n:02}: {created}");
        let data = &created["data"];
        assert_eq!(data["merchant_order_no"], format!("o-many-{n:02}"), "{created}");
        assert_eq!(data["amount"], format!("{}.00", n + 1), "{created}");
        let payment = system.payment(&format!("o-many-{n:02}")).await.unwrap();
        let stored = serde_json::to_value(payment.customer_action.expect("an action")).unwrap();
        assert_eq!(data["action"], stored, "o-many-{n:02}: its own payment's action");
        assert_eq!(data["payment_id"], payment.id.to_string());
    }
    system.stop().await;
}
