//! The webhook and the sync return against the real servers, with notify-handler in-process and
//! the test playing mockpay: every rejection path with its status and stored reason, a genuine
//! notification stored once and forwarded to its order's shard, and the customer's return.

mod support;

use lapin::types::FieldTable;

use notify_handler::configuration::Cli;
use notify_handler::startup::Application;
use paygate::broker::envelope::Envelope;
use paygate::domain::{Currency, Money};
use paygate::messages::orders::{OrderWork, QueryReason};
use paygate::providers::adapter::trade_no;
use paygate::providers::mockpay::notification::signed_headers;
use paygate::providers::mockpay::signing::Secret;
use paygate::runtime::entrypoint::Service;
use paygate::store::notifications;
use paygate::store::payments::{self, NewPayment};
use paygate_test_support::{TestDb, TestVhost};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SECRET: &str = "webhook-test-secret";
const MERCHANT: &str = "paygate";
const WITHIN: Duration = Duration::from_secs(20);

struct Harness {
    base: String,
    db: TestDb,
    vhost: TestVhost,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Started with these extra command-line arguments.
    async fn start_with(extra: &[&str]) -> Self {
        let db = TestDb::new().await;
        let vhost = TestVhost::new().await;
        let merchant = format!("PAYGATE_PROVIDER_MOCKPAY_MERCHANT={MERCHANT}");
        let secret = format!("PAYGATE_PROVIDER_MOCKPAY_SECRET={SECRET}");
        let args = [
            "notify-handler",
            "--database-url",
            &db.url,
            "--amqp-url",
            &vhost.amqp_url,
            "--http-addr",
            "127.0.0.1:0",
            "--order-shards",
            "2",
            "--providers",
            "mockpay",
            // notify-handler never calls mockpay; its settings are every service's.
            "--provider-setting",
            "PAYGATE_PROVIDER_MOCKPAY_URL=http://127.0.0.1:9",
            "--provider-setting",
            &merchant,
            "--provider-setting",
            &secret,
            "--notify-body-limit-bytes",
            "2048",
        ];
        let cli =
            <Cli as clap::Parser>::try_parse_from(args.iter().chain(extra)).expect("a valid configuration");
        let app = Application::build(cli.config).await.expect("notify-handler starts");
        let base = format!("http://{}", app.local_addr());
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move { app.run_until_stopped(token).await });
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let harness = Self { base, db, vhost, stop, task, http };
        // Ready: the forwarding connection is up once /readyz says the broker is.
        paygate_test_support::eventually("notify-handler ready", WITHIN, || async {
            harness.http.get(format!("{}/readyz", harness.base)).send().await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        harness
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }

    async fn payment(&self, amount_minor: i64, return_url: Option<&str>) -> Uuid {
        let id = Uuid::now_v7();
        let new = NewPayment {
            capture_mode: Default::default(),
            id,
            merchant_id: "m-1".parse().unwrap(),
            merchant_order_no: format!("o-{id}"),
            provider: "mockpay".parse().unwrap(),
            pay_method: "qr".parse().unwrap(),
            order_type: "retail".into(),
            amount: Money::from_minor(amount_minor, Currency::CNY).unwrap(),
            subject: "test".into(),
            return_url: return_url.map(str::to_owned),
            expires_at: None,
            metadata: json!({}),
            request_fingerprint: "fp".into(),
            reply_to: None,
            correlation_id: None,
            auth_code: None,
            payer: None,
        };
        let mut conn = self.db.pool.acquire().await.unwrap();
        payments::create(&mut conn, &new, None).await.unwrap();
        id
    }

    async fn post(&self, path: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body.to_owned());
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.expect("the webhook answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Posts `body` signed as mockpay would, to the payment's webhook.
    async fn notify(&self, trade: &str, body: &str) -> (u16, String) {
        let headers = signed(body, chrono::Utc::now());
        self.post(&format!("/notify/mockpay/{trade}"), &headers, body).await
    }

    async fn rows(&self) -> Vec<notifications::Row> {
        let mut conn = self.db.pool.acquire().await.unwrap();
        notifications::all(&mut conn).await.unwrap()
    }
}

/// One refused request: what it is, path, headers, body, the status and the stored reason prefix.
type Case = (&'static str, String, Vec<(&'static str, String)>, String, u16, &'static str);

fn signed(body: &str, at: chrono::DateTime<chrono::Utc>) -> Vec<(&'static str, String)> {
    signed_headers(&Secret::new(SECRET), body.as_bytes(), at, &Uuid::new_v4().simple().to_string())
}

fn body(id: &str, trade: &str, amount: i64) -> String {
    json!({
        "notificationId": id, "eventType": "PAYMENT.SUCCEEDED", "merchantId": MERCHANT, "orderId": trade,
        "transactionId": "2000000000000000001", "amount": amount, "currency": "CNY",
        "occurredAt": "2026-01-01T00:00:05.123Z"
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_kept_with_its_status_and_reason_and_counted() {
    let h = Harness::start().await;
    let payment = h.payment(1234, None).await;
    let trade = trade_no(payment);
    let good = body("ntf_1", &trade, 1234);
    let now = chrono::Utc::now();
    let path = format!("/notify/mockpay/{trade}");

    let mut forged = signed(&good, now);
    forged[3].1 = "0".repeat(64);
    let mut no_nonce = signed(&good, now);
    no_nonce.remove(2);
    let mut text_plain = signed(&good, now);
    text_plain[0].1 = "text/plain".into();
    let tampered = good.replace("1234", "1");
    let float_amount = good.replace("1234", "12.34");
    let unknown_payment = trade_no(Uuid::now_v7());
    let refund_body = good
        .replace("PAYMENT.SUCCEEDED", "REFUND.SUCCEEDED")
        .replace("\"amount\"", &format!("\"refundId\":\"{}\",\"amount\"", trade_no(Uuid::now_v7())));
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(4096));

    // (what, path, headers, body, status, stored reason prefix)
    let cases: Vec<Case> = vec![
        (
            "unknown provider",
            format!("/notify/nopay/{trade}"),
            signed(&good, now),
            good.clone(),
            404,
            "unknown_provider",
        ),
        ("too large", path.clone(), signed(&big, now), big.clone(), 413, "body_too_large"),
        ("content type", path.clone(), text_plain, good.clone(), 415, "unsupported_media_type"),
        ("missing header", path.clone(), no_nonce, good.clone(), 401, "missing_header: X-Mockpay-Nonce"),
        ("forged signature", path.clone(), forged, good.clone(), 401, "bad_signature"),
        ("tampered body", path.clone(), signed(&good, now), tampered.clone(), 401, "bad_signature"),
        (
            "stale",
            path.clone(),
            signed(&good, now - chrono::Duration::seconds(900)),
            good.clone(),
            401,
            "stale_timestamp",
        ),
        (
            "malformed",
            path.clone(),
            signed(&float_amount, now),
            float_amount.clone(),
            400,
            "malformed_body: amount",
        ),
        (
            "path mismatch",
            format!("/notify/mockpay/{unknown_payment}"),
            signed(&good, now),
            good.clone(),
            400,
            "path_mismatch: orderId",
        ),
        (
            "not our trade no",
            "/notify/mockpay/ord-1001".into(),
            signed(&body("ntf_2", "ord-1001", 5), now),
            body("ntf_2", "ord-1001", 5),
            404,
            "unknown_order",
        ),
        (
            "unknown order",
            format!("/notify/mockpay/{unknown_payment}"),
            signed(&body("ntf_3", &unknown_payment, 5), now),
            body("ntf_3", &unknown_payment, 5),
            404,
            "unknown_order",
        ),
        (
            "unknown refund",
            path.clone(),
            signed(&refund_body, now),
            refund_body.clone(),
            404,
            "unknown_refund",
        ),
    ];
    for (i, (what, path, headers, body, status, reason)) in cases.iter().enumerate() {
        let (got, answer) = h.post(path, headers, body).await;
        assert_eq!(got, *status, "{what}: {answer}");
        if *reason != "unknown_provider" {
            // mockpay's failure envelope, naming the reason.
            let answer: Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(answer["returnCode"], "9000", "{what}");
        }
        let rows = h.rows().await;
        assert_eq!(rows.len(), i + 1, "{what}: one row per refused request");
        let row = rows.last().unwrap();
        assert_eq!(row.status, "rejected", "{what}");
        let stored = row.reason.as_deref().unwrap();
        assert!(stored.starts_with(reason), "{what}: stored reason {stored:?}");
        assert!(row.provider_notification_id.starts_with("rejected:"), "{what}: no claimed id is trusted");
        assert!(row.processed_at.is_some());
    }
    let rows = h.rows().await;
    // Linked to the payment where the URL named one; the claimed number kept where it did not.
    assert_eq!(rows[4].payment_id, Some(payment));
    assert_eq!(rows[10].payment_id, None);
    assert_eq!(rows[10].merchant_trade_no.as_deref(), Some(unknown_payment.as_str()));
    assert!(rows[4].headers["x-mockpay-signature"].is_string(), "the raw headers are kept as evidence");
    assert!(!rows.iter().any(|r| r.body.contains(SECRET) || r.headers.to_string().contains(SECRET)));

    // The same forged request again is kept once.
    let (got, _) = h.post(&cases[4].1, &cases[4].2, &cases[4].3).await;
    assert_eq!(got, 401);
    assert_eq!(h.rows().await.len(), cases.len());

    let metrics = h.http.get(format!("{}/metrics", h.base)).send().await.unwrap().text().await.unwrap();
    for line in [
        r#"paygate_notifications_rejected_total{provider="mockpay",reason="bad_signature"} 3"#,
        r#"paygate_notifications_rejected_total{provider="unknown",reason="unknown_provider"} 1"#,
        r#"paygate_notifications_rejected_total{provider="mockpay",reason="stale_timestamp"} 1"#,
        r#"paygate_notifications_rejected_total{provider="mockpay",reason="unknown_order"} 2"#,
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    h.stop().await;
}

/// Collects `order.*` messages from every shard queue until `count` have arrived.
async fn shard_messages(h: &Harness, count: usize) -> Vec<Envelope<Value>> {
    support::shard_messages(&h.vhost.amqp_url, 2, count, WITHIN).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_notification_is_stored_once_forwarded_to_its_shard_and_acknowledged() {
    let h = Harness::start().await;
    let payment = h.payment(1234, None).await;
    let trade = trade_no(payment);
    let good = body("ntf_genuine", &trade, 1234);
    let (status, answer) = h.notify(&trade, &good).await;
    assert_eq!((status, answer.as_str()), (200, r#"{"returnCode":"0000"}"#));
    // A retry of the same notification (fresh signature, same body): acknowledged, one row, and
    // forwarded again while undecided (the first forward may be the one that failed).
    let (status, _) = h.notify(&trade, &good).await;
    assert_eq!(status, 200);
    let rows = h.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].status.as_str(), rows[0].payment_id), ("received", Some(payment)));
    assert_eq!(rows[0].provider_notification_id, "ntf_genuine");
    assert_eq!(rows[0].body, good, "the raw body is kept byte for byte");
    let messages = shard_messages(&h, 2).await;
    for m in &messages {
        assert_eq!(m.message_type, "order.notification");
        assert_eq!(m.order_key, payment.to_string());
        let work: OrderWork = m.decode_payload().unwrap();
        assert_eq!(work, OrderWork::Notification { payment_id: payment, notification_id: rows[0].id });
    }
    // Once decided, a duplicate is acknowledged without being forwarded.
    let mut conn = h.db.pool.acquire().await.unwrap();
    notifications::decide(&mut conn, rows[0].id, notifications::Status::Ignored, Some("test")).await.unwrap();
    let (status, _) = h.notify(&trade, &good).await;
    assert_eq!(status, 200);
    let metrics = h.http.get(format!("{}/metrics", h.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"paygate_notifications_received_total{provider="mockpay",outcome="duplicate"} 2"#),
        "{metrics}"
    );
    h.stop().await;
}

/// A notification stored but not forwarded (its order's shard queue is gone: the publish is
/// unroutable) is answered 503 so that the provider retries, stays `received`, and is counted in
/// `paygate_notification_forward_failures_total`, the signal of `PaygateNotificationForwardFailures`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_that_cannot_be_forwarded_is_answered_503_and_counted() {
    let h = Harness::start().await;
    let payment = h.payment(700, None).await;
    let trade = trade_no(payment);
    let conn =
        lapin::Connection::connect(&h.vhost.amqp_url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    for shard in 0..2 {
        channel
            .queue_delete(
                format!("paygate.orders.shard.{shard}").as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
    }
    let (status, _) = h.notify(&trade, &body("ntf_unforwarded", &trade, 700)).await;
    assert_eq!(status, 503, "the provider is told to retry");
    let rows = h.rows().await;
    assert_eq!(rows.len(), 1, "stored before the forward");
    assert_eq!(rows[0].status, "received");
    let metrics = h.http.get(format!("{}/metrics", h.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"paygate_notification_forward_failures_total{provider="mockpay"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"paygate_notifications_received_total{provider="mockpay",outcome="unavailable"} 1"#),
        "{metrics}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_return_sends_the_customer_on_with_paygates_status_and_asks_for_a_query() {
    let h = Harness::start().await;
    let with_url = h.payment(500, Some("https://shop.example/back?x=1")).await;
    let without = h.payment(500, None).await;
    let trade = trade_no(with_url);
    let url = format!(
        "{}/return/mockpay/{trade}?orderId={trade}&transactionId=2000000000000000001&status=SUCCEEDED",
        h.base
    );
    let response = h.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    // The customer's claim (SUCCEEDED) is not believed: the status is paygate's.
    assert_eq!(
        location,
        format!("https://shop.example/back?x=1&merchant_order_no=o-{with_url}&status=created")
    );
    let messages = shard_messages(&h, 1).await;
    let work: OrderWork = messages[0].decode_payload().unwrap();
    assert_eq!(
        work,
        OrderWork::Query { payment_id: with_url, refund_id: None, reason: QueryReason::CustomerReturned }
    );

    let form = h
        .http
        .post(format!("{}/return/mockpay/{}", h.base, trade_no(without)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("orderId={}", trade_no(without)))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains(": created"));

    let mismatch =
        h.http.get(format!("{}/return/mockpay/{trade}?orderId=other", h.base)).send().await.unwrap();
    assert_eq!(mismatch.status(), 400);
    let unknown =
        h.http.get(format!("{}/return/mockpay/{}", h.base, trade_no(Uuid::now_v7()))).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let provider = h.http.get(format!("{}/return/nopay/{trade}", h.base)).send().await.unwrap();
    assert_eq!(provider.status(), 404);
    // Nothing in the inbox: a return is not a notification.
    assert!(h.rows().await.is_empty());
    h.stop().await;
}

/// How many messages wait on the order shards (nobody consumes them in these tests).
async fn shard_depth(h: &Harness) -> u32 {
    let conn =
        lapin::Connection::connect(&h.vhost.amqp_url, lapin::ConnectionProperties::default()).await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut depth = 0;
    for shard in 0..2 {
        let options = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        let queue = channel
            .queue_declare(
                format!("paygate.orders.shard.{shard}").as_str().into(),
                options,
                FieldTable::default(),
            )
            .await
            .unwrap();
        depth += queue.message_count();
    }
    let _ = conn.close(200, "counted".into()).await;
    depth
}

async fn get_return(h: &Harness, payment: Uuid) -> reqwest::Response {
    let trade = trade_no(payment);
    h.http.get(format!("{}/return/mockpay/{trade}?orderId={trade}", h.base)).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_return_asks_for_at_most_one_query_per_order_within_the_interval() {
    let h = Harness::start().await;
    let (a, b) = (h.payment(500, None).await, h.payment(700, None).await);
    for _ in 0..5 {
        assert_eq!(get_return(&h, a).await.status(), 200, "the customer still sees the status");
    }
    // Each forward is confirmed before the answer: what was published is on the shards now.
    assert_eq!(shard_depth(&h).await, 1, "five returns of one order asked for one query");
    assert_eq!(get_return(&h, b).await.status(), 200);
    assert_eq!(shard_depth(&h).await, 2, "another order asks for its own");
    let metrics = h.http.get(format!("{}/metrics", h.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"paygate_returns_total{outcome="query_asked"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"paygate_returns_total{outcome="query_recent"} 4"#), "{metrics}");
    // Once the interval has passed, a return asks again.
    sqlx::query("UPDATE return_queries SET asked_at = asked_at - interval '1 minute' WHERE payment_id = $1")
        .bind(a)
        .execute(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(get_return(&h, a).await.status(), 200);
    assert_eq!(shard_depth(&h).await, 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_rate_on_the_return_gets_a_429_that_says_so() {
    let h = Harness::start_with(&["--return-rate-per-minute", "3"]).await;
    let payment = h.payment(500, Some("https://shop.example/back")).await;
    for _ in 0..3 {
        assert_eq!(get_return(&h, payment).await.status(), 303);
    }
    let refused = get_return(&h, payment).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let message = refused.text().await.unwrap();
    assert!(message.contains("at most 3 times a minute"), "{message}");
    // A POST counts against the same budget.
    let form = h
        .http
        .post(format!("{}/return/mockpay/{}", h.base, trade_no(payment)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    let metrics = h.http.get(format!("{}/metrics", h.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"paygate_returns_total{outcome="rate_limited"} 2"#), "{metrics}");
    h.stop().await;
}
