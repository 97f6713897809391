//! Merchant callbacks against real servers: the compensation-scheduler application on a fresh
//! database and vhost, events published to the events exchange as the dispatcher publishes them,
//! and a merchant's HTTP server that answers as each test scripts it and records every request.
//!
//! Covered: a delivery carries the event as its body and a valid signature (checked here with
//! an HMAC of our own and with the docs' Python snippet); a failing endpoint is retried on the
//! schedule until a 2xx, every attempt recorded; an exhausted delivery is listed and re-sent; the
//! event-kind, order-type and merchant filters; one event message owed once; a restart loses
//! nothing; an unreachable endpoint's attempts say why; a redirect is not followed; two pollers
//! never send one delivery twice.

use clap::Parser;
use compensation_scheduler::callbacks::CallbackMetrics;
use compensation_scheduler::callbacks::schedule::CallbackSchedule;
use compensation_scheduler::callbacks::sender::Sender;
use compensation_scheduler::configuration::Cli;
use compensation_scheduler::startup::Application;
use hmac::{Hmac, KeyInit, Mac};
use lapin::options::BasicPublishOptions;
use lapin::{Channel, Connection, ConnectionProperties};
use paygate::broker::envelope::Envelope;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::runtime::entrypoint::Service;
use paygate::store::callbacks::{self as store, AddedEndpoint, NewEndpoint};
use paygate_test_support::{TestDb, TestVhost, eventually, eventually_some};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The merchant: answers each path's requests with its script (the last status repeats).

#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    at: Instant,
}

#[derive(Default)]
struct MerchantState {
    scripts: HashMap<String, Vec<u16>>,
    received: Vec<Received>,
    delay: Duration,
}

#[derive(Clone)]
struct Merchant {
    addr: SocketAddr,
    state: Arc<Mutex<MerchantState>>,
}

impl Merchant {
    async fn start() -> Self {
        use axum::extract::{Path, State};
        let state = Arc::new(Mutex::new(MerchantState::default()));
        async fn answer(
            State(state): State<Arc<Mutex<MerchantState>>>,
            Path(path): Path<String>,
            headers: axum::http::HeaderMap,
            body: axum::body::Bytes,
        ) -> (axum::http::StatusCode, [(axum::http::HeaderName, &'static str); 1], String) {
            let (status, n, delay) = {
                let mut s = state.lock().unwrap();
                let n = s.received.iter().filter(|r| r.path == path).count();
                let script = s.scripts.get(&path).cloned().unwrap_or_else(|| vec![200]);
                let status = script.get(n).or(script.last()).copied().unwrap_or(200);
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                s.received.push(Received {
                    path: path.clone(),
                    headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                });
                (status, n, s.delay)
            };
            tokio::time::sleep(delay).await;
            // Every answer names a Location, which only a 3xx makes a redirect.
            let location = [(axum::http::header::LOCATION, "/followed")];
            (axum::http::StatusCode::from_u16(status).unwrap(), location, format!("answer {n} from {path}"))
        }
        let app = axum::Router::new().route("/{path}", axum::routing::post(answer)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    fn script(&self, path: &str, statuses: &[u16]) {
        self.state.lock().unwrap().scripts.insert(path.to_owned(), statuses.to_vec());
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.state.lock().unwrap().received.iter().filter(|r| r.path == path).cloned().collect()
    }

    async fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        eventually_some(&format!("{count} request(s) at /{path}"), WITHIN, || {
            let got = self.received(path);
            async move { (got.len() >= count).then_some(got) }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// The system: the scheduler application, and a publisher of events.

struct System {
    db: TestDb,
    vhost: TestVhost,
    topology: Topology,
    channel: Channel,
    _conn: Connection,
    merchant: Merchant,
    schedule: String,
    app: Option<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
}

impl System {
    async fn start(schedule: &str) -> Self {
        let db = TestDb::new().await;
        let vhost = TestVhost::new().await;
        let topology = Topology::new(TopologyConfig::default()).unwrap();
        let conn = Connection::connect(&vhost.amqp_url, ConnectionProperties::default()).await.unwrap();
        let channel = conn.create_channel().await.unwrap();
        topology.declare(&channel).await.unwrap();
        let merchant = Merchant::start().await;
        let mut system = Self {
            db,
            vhost,
            topology,
            channel,
            _conn: conn,
            merchant,
            schedule: schedule.to_owned(),
            app: None,
        };
        system.start_app().await;
        system
    }

    async fn start_app(&mut self) {
        let args = [
            "compensation-scheduler",
            "--database-url",
            &self.db.url,
            "--amqp-url",
            &self.vhost.amqp_url,
            "--http-addr",
            "127.0.0.1:0",
            "--shutdown-grace",
            "1",
            "--providers",
            "mockpay",
            "--provider-setting",
            "PAYGATE_PROVIDER_MOCKPAY_URL=http://127.0.0.1:9",
            "--provider-setting",
            "PAYGATE_PROVIDER_MOCKPAY_MERCHANT=paygate",
            "--provider-setting",
            "PAYGATE_PROVIDER_MOCKPAY_SECRET=callbacks-test-secret",
            "--callback-schedule",
            &self.schedule,
            "--callback-poll-interval",
            "100ms",
            "--callback-timeout",
            "2s",
        ];
        let cli = Cli::try_parse_from(args).expect("config");
        let app = Application::build(cli.config).await.expect("the scheduler starts");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        self.app = Some((shutdown, task));
    }

    async fn stop_app(&mut self) {
        if let Some((shutdown, task)) = self.app.take() {
            shutdown.cancel();
            task.await.unwrap().unwrap();
        }
    }

    /// Registers an endpoint at the merchant's `path`, as `payctl callback add` does.
    async fn endpoint(
        &self,
        merchant_id: &str,
        path: &str,
        events: &[&str],
        order_types: &[&str],
    ) -> AddedEndpoint {
        let new = NewEndpoint {
            merchant_id: merchant_id.to_owned(),
            url: self.merchant.url(path),
            order_types: order_types.iter().map(|s| (*s).to_owned()).collect(),
            event_kinds: events.iter().map(|s| (*s).to_owned()).collect(),
        };
        new.check().unwrap();
        let mut conn = self.db.pool.acquire().await.unwrap();
        store::add(&mut conn, &new).await.unwrap()
    }

    /// Publishes `envelope` to the events exchange as the dispatcher's relay does.
    async fn publish(&self, envelope: &Envelope<Value>) {
        let payload = &envelope.payload;
        let key =
            format!("{}.{}", payload["kind"].as_str().unwrap(), payload["order_type"].as_str().unwrap());
        self.channel
            .basic_publish(
                self.topology.events_exchange().as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                &envelope.to_json().unwrap(),
                envelope.amqp_properties().unwrap(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// (state, attempts) of every delivery to `endpoint`, by sequence.
    async fn deliveries(&self, endpoint: &str) -> Vec<(i64, String, String, i32)> {
        sqlx::query_as(
            "SELECT id, kind, state, attempts FROM callback_deliveries WHERE endpoint_id = $1 ORDER BY id",
        )
        .bind(endpoint)
        .fetch_all(&self.db.pool)
        .await
        .unwrap()
    }

    async fn wait_for_state(&self, delivery: i64, state: &str) {
        let pool = self.db.pool.clone();
        eventually(&format!("delivery {delivery} {state}"), WITHIN, || {
            let pool = pool.clone();
            async move {
                let now: String = sqlx::query_scalar("SELECT state FROM callback_deliveries WHERE id = $1")
                    .bind(delivery)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                now == state
            }
        })
        .await;
    }

    /// The one delivery to `endpoint`, once it exists.
    async fn only_delivery(&self, endpoint: &str) -> i64 {
        eventually_some("a delivery owed", WITHIN, || async {
            self.deliveries(endpoint).await.first().map(|d| d.0)
        })
        .await
    }
}

impl Drop for System {
    fn drop(&mut self) {
        if let Some((shutdown, _)) = &self.app {
            shutdown.cancel();
        }
    }
}

/// An order event as the dispatcher publishes it (docs/messages.md, "Events").
fn event(merchant: &str, payment: Uuid, kind: &str, order_type: &str, sequence: i64) -> Envelope<Value> {
    let state = kind.split('.').nth(1).unwrap();
    let payload = json!({
        "event_id": Uuid::new_v5(&payment, format!("{kind}:{sequence}").as_bytes()),
        "sequence": sequence,
        "kind": kind,
        "payment_id": payment,
        "merchant_id": merchant,
        "merchant_order_no": format!("order-{payment}"),
        "order_type": order_type,
        "provider": "mockpay",
        "state": if kind.starts_with("payment.") { state } else { "succeeded" },
        "amount": {"amount_minor": 1234, "currency": "CNY"},
        "refunded": {"amount_minor": 0, "currency": "CNY"},
        "occurred_at": "2026-12-07T08:15:31.200Z"
    });
    Envelope::new(kind, payment.to_string(), payload)
}

/// The HMAC a receiver computes, written here from the docs' description (not the sender's code).
fn expected_signature(secret: &str, header: &str, body: &[u8]) -> (i64, String, String) {
    let parts: HashMap<&str, &str> = header.split(',').filter_map(|p| p.split_once('=')).collect();
    let t: i64 = parts["t"].parse().unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    (t, parts["v1"].to_owned(), hex::encode(mac.finalize().into_bytes()))
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_carries_the_event_signed_and_one_event_message_is_owed_once() {
    let system = System::start("1s").await;
    let added = system.endpoint("m-1", "shop", &[], &[]).await;
    let payment = Uuid::now_v7();
    let succeeded = event("m-1", payment, "payment.succeeded", "retail", 2);
    system.publish(&succeeded).await;

    let got = system.merchant.wait_for("shop", 1).await;
    let request = &got[0];
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, succeeded.payload, "the body is the event's payload");
    let h = &request.headers;
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["paygate-event-id"], succeeded.payload["event_id"].as_str().unwrap());
    assert_eq!(h["paygate-event-kind"], "payment.succeeded");
    assert_eq!(h["paygate-delivery-attempt"], "1");
    let (t, v1, expected) = expected_signature(&added.secret, &h["paygate-signature"], &request.body);
    assert_eq!(v1, expected, "v1 is the HMAC-SHA256 of t.body with the endpoint's secret");
    assert!((chrono::Utc::now().timestamp() - t).abs() < 60, "t is the attempt's time: {t}");
    let (_, _, other) = expected_signature("whsec_not_the_secret", &h["paygate-signature"], &request.body);
    assert_ne!(v1, other);

    let delivery = system.only_delivery(&added.endpoint.id).await;
    system.wait_for_state(delivery, "succeeded").await;
    let mut conn = system.db.pool.acquire().await.unwrap();
    let attempts = store::attempts(&mut conn, delivery).await.unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].status, Some(200));
    assert_eq!(attempts[0].response_excerpt.as_deref(), Some("answer 0 from shop"));
    assert_eq!(attempts[0].error, None);

    // The same message again (a relay's republish), then the order's next event: the copy is
    // owed nothing (the next event, on the same order key, is handled after it).
    system.publish(&succeeded).await;
    let next = event("m-1", payment, "refund.succeeded", "retail", 3);
    system.publish(&next).await;
    system.merchant.wait_for("shop", 2).await;
    let owed = system.deliveries(&added.endpoint.id).await;
    assert_eq!(owed.len(), 2, "one delivery per event message: {owed:?}");
    assert_eq!(system.merchant.received("shop").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_retried_on_the_schedule_until_a_2xx_and_every_attempt_is_recorded() {
    let system = System::start("1s,2s").await;
    system.merchant.script("flaky", &[500, 503, 200]);
    let added = system.endpoint("m-1", "flaky", &[], &[]).await;
    system.publish(&event("m-1", Uuid::now_v7(), "payment.succeeded", "retail", 1)).await;

    let got = system.merchant.wait_for("flaky", 3).await;
    let gaps = [got[1].at - got[0].at, got[2].at - got[1].at];
    assert!(gaps[0] >= Duration::from_secs(1), "the first wait is 1s: {gaps:?}");
    assert!(gaps[1] >= Duration::from_secs(2), "the second wait is 2s: {gaps:?}");
    assert!(gaps[1] < Duration::from_secs(10), "not much later either: {gaps:?}");
    for (i, request) in got.iter().enumerate() {
        assert_eq!(request.headers["paygate-delivery-attempt"], (i + 1).to_string());
        let (_, v1, expected) =
            expected_signature(&added.secret, &request.headers["paygate-signature"], &request.body);
        assert_eq!(v1, expected, "attempt {} is signed", i + 1);
        assert_eq!(request.body, got[0].body, "the same bytes on every attempt");
    }

    let delivery = system.only_delivery(&added.endpoint.id).await;
    system.wait_for_state(delivery, "succeeded").await;
    let mut conn = system.db.pool.acquire().await.unwrap();
    let attempts = store::attempts(&mut conn, delivery).await.unwrap();
    let statuses: Vec<Option<i32>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
    assert_eq!(attempts[0].response_excerpt.as_deref(), Some("answer 0 from flaky"));
    assert!(attempts[0].error.as_deref().unwrap().contains("500"), "{:?}", attempts[0]);
    assert_eq!(attempts[2].error, None);
    assert!(attempts.iter().all(|a| a.latency_ms >= 0 && a.latency_ms < 2_000), "{attempts:?}");
    let gap = attempts[2].started_at - attempts[1].started_at;
    assert!(gap >= chrono::Duration::seconds(2), "recorded per the schedule: {gap}");
    assert_eq!(system.merchant.received("flaky").len(), 3, "nothing after the 2xx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_delivery_is_listed_and_resent() {
    let system = System::start("200ms,200ms").await;
    system.merchant.script("down", &[500, 502, 500, 200]);
    let added = system.endpoint("m-1", "down", &[], &[]).await;
    system.publish(&event("m-1", Uuid::now_v7(), "payment.succeeded", "retail", 1)).await;

    let delivery = system.only_delivery(&added.endpoint.id).await;
    system.wait_for_state(delivery, "exhausted").await;
    assert_eq!(system.merchant.received("down").len(), 3, "the first attempt and one per wait");
    let mut conn = system.db.pool.acquire().await.unwrap();
    let failed = store::exhausted(&mut conn, Some("m-1"), 10).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!((failed[0].id, failed[0].attempts, failed[0].last_status), (delivery, 3, Some(500)));
    assert!(store::exhausted(&mut conn, Some("m-2"), 10).await.unwrap().is_empty(), "per merchant");

    store::resend(&mut conn, delivery).await.unwrap().unwrap();
    system.wait_for_state(delivery, "succeeded").await;
    let got = system.merchant.received("down");
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].headers["paygate-delivery-attempt"], "4");
    assert!(store::exhausted(&mut conn, None, 10).await.unwrap().is_empty());
    let again = store::resend(&mut conn, delivery).await.unwrap().expect_err("succeeded");
    assert!(again.to_string().contains("only an exhausted delivery is re-sent"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_kind_order_type_and_merchant_filters_choose_the_endpoints() {
    let system = System::start("1s").await;
    let every = system.endpoint("m-1", "every", &[], &[]).await;
    let paid = system.endpoint("m-1", "paid", &["payment.succeeded"], &[]).await;
    let retail_refunds = system.endpoint("m-1", "retail-refunds", &["refund.succeeded"], &["retail"]).await;
    let other = system.endpoint("m-2", "other", &[], &[]).await;
    let removed = system.endpoint("m-1", "removed", &[], &[]).await;
    let mut conn = system.db.pool.acquire().await.unwrap();
    store::remove(&mut conn, &removed.endpoint.id).await.unwrap().unwrap();

    for (merchant, kind, order_type) in [
        ("m-1", "payment.pending", "retail"),
        ("m-1", "payment.succeeded", "retail"),
        ("m-1", "refund.succeeded", "subscription"),
        ("m-1", "refund.succeeded", "retail"),
        ("m-2", "payment.succeeded", "retail"),
    ] {
        system.publish(&event(merchant, Uuid::now_v7(), kind, order_type, 1)).await;
    }
    system.merchant.wait_for("every", 4).await;
    system.merchant.wait_for("other", 1).await;
    // Every event is owed to all its endpoints in one transaction: what "every" got is decided for all.
    let kinds = |rows: Vec<(i64, String, String, i32)>| rows.into_iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(kinds(system.deliveries(&paid.endpoint.id).await), ["payment.succeeded"]);
    assert_eq!(kinds(system.deliveries(&retail_refunds.endpoint.id).await), ["refund.succeeded"]);
    assert_eq!(kinds(system.deliveries(&other.endpoint.id).await), ["payment.succeeded"]);
    assert_eq!(kinds(system.deliveries(&every.endpoint.id).await).len(), 4);
    assert!(system.deliveries(&removed.endpoint.id).await.is_empty(), "a removed endpoint is owed nothing");
    let retail_refund = system.merchant.wait_for("retail-refunds", 1).await;
    let body: Value = serde_json::from_slice(&retail_refund[0].body).unwrap();
    assert_eq!(body["order_type"], "retail");
    system.merchant.wait_for("paid", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_python_snippet_verifies_a_real_delivery() {
    let system = System::start("1s").await;
    let added = system.endpoint("m-1", "py", &[], &[]).await;
    system.publish(&event("m-1", Uuid::now_v7(), "payment.succeeded", "retail", 1)).await;
    let request = system.merchant.wait_for("py", 1).await.remove(0);

    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/callbacks.md")).unwrap();
    let section = docs.split("## Verifying the signature").nth(1).expect("the docs' section");
    let snippet =
        section.split("```python\n").nth(1).and_then(|s| s.split("```").next()).expect("a python block");
    let dir = std::env::temp_dir().join(format!("paygate-callbacks-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("body"), &request.body).unwrap();
    let harness = format!(
        "{snippet}\nimport sys\nsecret, header = sys.argv[1], sys.argv[2]\nbody = open(sys.argv[3], 'rb').read()\n\
         t = int(header.split(',')[0][2:])\n\
         print(verify_paygate_signature(secret, header, body),\n\
               verify_paygate_signature(secret, header, body + b' '),\n\
               verify_paygate_signature('whsec_' + '0' * 64, header, body),\n\
               verify_paygate_signature(secret, header, body, now=t + 301))\n"
    );
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(&harness)
        .arg(&added.secret)
        .arg(&request.headers["paygate-signature"])
        .arg(dir.join("body"))
        .output()
        .await
        .expect("python3 runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout.trim(),
        "True False False False",
        "valid; another body, secret, or an old timestamp is not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_nothing() {
    let mut system = System::start("2s").await;
    system.merchant.script("later", &[500, 200]);
    let added = system.endpoint("m-1", "later", &[], &[]).await;
    system.publish(&event("m-1", Uuid::now_v7(), "payment.succeeded", "retail", 1)).await;
    let delivery = system.only_delivery(&added.endpoint.id).await;
    let pool = system.db.pool.clone();
    eventually("the first attempt recorded", WITHIN, || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM callback_attempts WHERE delivery_id = $1")
                .bind(delivery)
                .fetch_one(&pool)
                .await
                .unwrap();
            n == 1
        }
    })
    .await;
    system.stop_app().await;
    system.start_app().await;
    system.wait_for_state(delivery, "succeeded").await;
    assert_eq!(system.merchant.received("later").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_recorded_with_why() {
    let system = System::start("200ms").await;
    let mut conn = system.db.pool.acquire().await.unwrap();
    let mut ids = Vec::new();
    for url in ["http://127.0.0.1:1/refused", "https://127.0.0.1:1/tls"] {
        let new = NewEndpoint {
            merchant_id: "m-1".into(),
            url: url.into(),
            order_types: vec![],
            event_kinds: vec![],
        };
        ids.push(store::add(&mut conn, &new).await.unwrap().endpoint.id);
    }
    system.publish(&event("m-1", Uuid::now_v7(), "payment.succeeded", "retail", 1)).await;
    let mut errors = Vec::new();
    for id in &ids {
        let delivery = system.only_delivery(id).await;
        system.wait_for_state(delivery, "exhausted").await;
        let attempts = store::attempts(&mut conn, delivery).await.unwrap();
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        assert!(attempts.iter().all(|a| a.status.is_none()), "no answer: {attempts:?}");
        errors.push(attempts[0].error.clone().unwrap());
    }
    assert!(errors[0].starts_with("could not connect"), "{}", errors[0]);
    // https is spoken over TLS: the port refuses the connection before any handshake.
    assert!(errors[1].starts_with("could not connect"), "{}", errors[1]);
    assert!(!errors[1].contains("scheme is not http"), "the sender speaks TLS: {}", errors[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let system = System::start("200ms").await;
    system.merchant.script("moved", &[302]);
    let added = system.endpoint("m-1", "moved", &[], &[]).await;
    system.publish(&event("m-1", Uuid::now_v7(), "payment.succeeded", "retail", 1)).await;
    let delivery = system.only_delivery(&added.endpoint.id).await;
    system.wait_for_state(delivery, "exhausted").await;
    let mut conn = system.db.pool.acquire().await.unwrap();
    let attempts = store::attempts(&mut conn, delivery).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [Some(302), Some(302)]);
    let error = attempts[0].error.as_deref().unwrap();
    assert!(error.contains("redirect to /followed not followed"), "{error}");
    assert!(system.merchant.received("followed").is_empty(), "the redirect's target got nothing");
    assert_eq!(system.merchant.received("moved").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pollers_never_send_one_delivery_twice() {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.unwrap();
    let merchant = Merchant::start().await;
    merchant.state.lock().unwrap().delay = Duration::from_millis(50);
    let new = NewEndpoint {
        merchant_id: "m-1".into(),
        url: merchant.url("busy"),
        order_types: vec![],
        event_kinds: vec![],
    };
    let mut conn = db.pool.acquire().await.unwrap();
    let endpoint = store::add(&mut conn, &new).await.unwrap().endpoint;
    const DELIVERIES: i64 = 60;
    sqlx::query(
        "INSERT INTO callback_deliveries (endpoint_id, message_id, event_id, kind, payment_id, sequence, body,
                                          next_attempt_at)
         SELECT $1, gen_random_uuid(), gen_random_uuid(), 'payment.succeeded', gen_random_uuid(), n, '{}', now()
           FROM generate_series(1, $2) AS n",
    )
    .bind(&endpoint.id)
    .bind(DELIVERIES)
    .execute(&db.pool)
    .await
    .unwrap();

    let stop = CancellationToken::new();
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let sender = Sender::new(
            db.pool.clone(),
            Arc::new(CallbackSchedule::parse("1s").unwrap()),
            Duration::from_secs(5),
            Duration::from_millis(100),
            8,
            CallbackMetrics::default(),
        )
        .unwrap();
        let (s, stop) = (sender.clone(), stop.clone());
        tasks.push(tokio::spawn(async move { s.run(&stop).await }));
        senders.push(sender);
    }
    let pool = db.pool.clone();
    eventually("every delivery succeeded", WITHIN, || {
        let pool = pool.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM callback_deliveries WHERE state = 'succeeded'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            n == DELIVERIES
        }
    })
    .await;
    stop.cancel();
    for task in tasks {
        task.await.unwrap();
    }

    let received = merchant.received("busy");
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in &received {
        *per_delivery.entry(r.headers["paygate-delivery-id"].clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_delivery.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(received.len(), usize::try_from(DELIVERIES).unwrap());
    let attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM callback_attempts").fetch_one(&db.pool).await.unwrap();
    assert_eq!(attempts, DELIVERIES, "one attempt each");
    let sent_by: Vec<u64> = senders
        .iter()
        .map(|s| {
            s.metrics
                .attempts
                .get_or_create(&compensation_scheduler::callbacks::OutcomeLabels { outcome: "success" })
                .get()
        })
        .collect();
    assert!(sent_by.iter().all(|n| *n > 0), "both pollers sent some, so they did compete: {sent_by:?}");
}
