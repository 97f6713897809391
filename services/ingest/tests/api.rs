//! The upstream HTTP API against real PostgreSQL and RabbitMQ: the real ingest application on a
//! fresh database and vhost (no dispatcher: what a write does is seen on the order shards, as for
//! an AMQP command; tests/e2e's http_api.rs runs it against mockpay). Signed requests, the auth
//! failures, every endpoint's validation, idempotency, the 202 path, the rate limit, the
//! reconciled days, and one code path with the AMQP commands.

// Shared with tests/commands.rs, which uses the parts this file does not.
#[path = "api/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "commands/support.rs"]
mod support;

use client::{Client, Signing};
use paygate::broker::envelope::Envelope;
use reqwest::Method;
use serde_json::{Value, json};
use support::Ingest;

/// A create waits this long for the provider (none runs here): the 202 path.
const WAIT: &[&str] = &["--api-create-wait-ms", "200"];

fn pay(order_no: &str) -> Value {
    json!({
        "merchant_order_no": order_no, "amount": "12.34", "currency": "CNY", "provider": "mockpay",
        "pay_method": "qr", "order_type": "retail", "subject": "Coffee", "metadata": {"table": 7}
    })
}

async fn start() -> (Ingest, Client) {
    let app = Ingest::start_with(&[], WAIT).await;
    let client = Client::for_merchant(&app.db.pool, app.api_addr, "m-1").await;
    (app, client)
}

/// Marks a payment succeeded, as the dispatcher would once the provider confirms.
async fn succeeded(app: &Ingest, order_no: &str) {
    sqlx::query("UPDATE payments SET state = 'succeeded' WHERE merchant_order_no = $1")
        .bind(order_no)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_create_pre_commits_the_payment_dispatches_it_and_answers_202_with_a_url_to_poll() {
    let (app, api) = start().await;
    let answer = api.post("/v1/payments", &pay("o-1")).await;
    assert_eq!((answer.status, answer.code()), (202, "accepted"), "{answer:?}");
    let data = &answer.body["data"];
    assert_eq!(data["state"], "created");
    assert_eq!(data["amount"], "12.34");
    assert_eq!(data["currency"], "CNY");
    assert_eq!(data["action"], Value::Null);
    assert_eq!(data["poll_url"], "/v1/payments/o-1");
    let id = data["payment_id"].clone();
    // The same dispatch an AMQP pay command makes, keyed on the payment.
    let work = app
        .wait_for("order.dispatch_pay", "order.dispatch_pay", |s| s.envelope.payload["payment_id"] == id)
        .await;
    assert_eq!(work.envelope.order_key, id.as_str().unwrap());
    // The work carries the request's id, which the answer gives back.
    assert_eq!(work.envelope.correlation_id.as_deref(), answer.header("request-id"));
    assert!(answer.header("request-id").unwrap().starts_with("http-"));
    let (merchant, fingerprint): (String, String) =
        sqlx::query_as("SELECT merchant_id, request_fingerprint FROM payments")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(merchant, "m-1", "the key's merchant");
    assert!(fingerprint.starts_with("sha256:"));

    let read = api.get("/v1/payments/o-1").await;
    assert_eq!((read.status, read.code()), (200, "ok"), "{read:?}");
    assert_eq!(read.body["data"]["payment_id"], id);
    // Counted with the AMQP commands.
    let metrics = reqwest::get(format!("http://{}/metrics", app.addr)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"paygate_ingest_commands_total{command="command.pay",outcome="accepted"} 1"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_command_over_http_and_over_amqp_is_one_payment() {
    let (app, api) = start().await;
    let mut amqp = pay("o-1");
    amqp["merchant_id"] = json!("m-1");
    app.publish(&Envelope::new("command.pay", "m-1:o-1", amqp)).await;
    app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;

    // The same parameters over HTTP: a repeat of the same payment, the same fingerprint.
    let again = api.post("/v1/payments", &pay("o-1")).await;
    assert_eq!((again.status, again.code()), (200, "ok"), "{again:?}");
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    // Other parameters: the AMQP contract's idempotency conflict, naming the field.
    let mut other = pay("o-1");
    other["amount"] = json!("99.00");
    let conflict = api.post("/v1/payments", &other).await;
    assert_eq!(
        (conflict.status, conflict.code(), conflict.field()),
        (409, "idempotency_conflict", "merchant_order_no")
    );
    assert!(conflict.message().contains("different parameters"), "{conflict:?}");
    app.stop().await;
}

#[tokio::test]
async fn requests_not_signed_right_are_refused_naming_the_header() {
    let (app, api) = start().await;
    let body = Some(pay("o-1").to_string().into_bytes());
    let refused = |signing: Signing| {
        let (api, body) = (api.clone(), body.clone());
        async move { api.send(Method::POST, "/v1/payments", body, &signing).await }
    };

    let missing = refused(Signing { without: Some("Paygate-Signature"), ..Signing::default() }).await;
    assert_eq!(
        (missing.status, missing.code(), missing.field()),
        (401, "unauthenticated", "Paygate-Signature")
    );
    assert!(missing.header("www-authenticate").is_some());

    let bad = refused(Signing { secret: Some("pgsk_not_the_secret".into()), ..Signing::default() }).await;
    assert_eq!((bad.status, bad.field()), (401, "Paygate-Signature"), "{bad:?}");

    let old = refused(Signing { clock_offset: -301, ..Signing::default() }).await;
    assert_eq!((old.status, old.field()), (401, "Paygate-Timestamp"), "{old:?}");
    assert!(old.message().contains("within 300 s") && old.message().contains("old"), "{old:?}");
    let ahead = refused(Signing { clock_offset: 400, ..Signing::default() }).await;
    assert_eq!((ahead.status, ahead.field()), (401, "Paygate-Timestamp"), "{ahead:?}");

    let nonce = "replayed-nonce-0001".to_owned();
    let first = refused(Signing { nonce: Some(nonce.clone()), ..Signing::default() }).await;
    assert_eq!(first.status, 202, "{first:?}");
    let replay = refused(Signing { nonce: Some(nonce), ..Signing::default() }).await;
    assert_eq!((replay.status, replay.field()), (401, "Paygate-Nonce"), "{replay:?}");
    assert!(replay.message().contains("replayed"), "{replay:?}");

    let unknown = Client { key_id: "pgk_000000000000000000000000".into(), ..api.clone() };
    let answer = unknown.get("/v1/payments/o-1").await;
    assert_eq!((answer.status, answer.field()), (401, "Paygate-Key"), "{answer:?}");

    // Revoked: refused from then on.
    let mut conn = app.db.pool.acquire().await.unwrap();
    paygate::store::api_keys::revoke(&mut conn, &api.key_id, chrono::Utc::now()).await.unwrap();
    let revoked = api.get("/v1/payments/o-1").await;
    assert_eq!((revoked.status, revoked.field()), (401, "Paygate-Key"), "{revoked:?}");
    assert!(revoked.message().contains("revoked"), "{revoked:?}");
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1, "only the one signed right");
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_key_works_and_the_old_one_stops_when_its_overlap_ends() {
    let (app, api) = start().await;
    let mut conn = app.db.pool.acquire().await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let new = paygate::store::api_keys::rotate(&mut conn, &api.key_id, later).await.unwrap().unwrap();
    assert_eq!(new.key.rotated_from.as_deref(), Some(api.key_id.as_str()));
    let rotated = Client { key_id: new.key.id.clone(), secret: new.secret.clone(), ..api.clone() };
    assert_eq!(rotated.post("/v1/payments", &pay("o-1")).await.status, 202);
    assert_eq!(api.get("/v1/payments/o-1").await.status, 200, "the old key still works during the overlap");
    paygate::store::api_keys::revoke(&mut conn, &api.key_id, chrono::Utc::now()).await.unwrap();
    assert_eq!(api.get("/v1/payments/o-1").await.status, 401);
    assert_eq!(rotated.get("/v1/payments/o-1").await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn another_merchants_orders_are_not_found() {
    let (app, api) = start().await;
    let other = Client::for_merchant(&app.db.pool, app.api_addr, "m-2").await;
    assert_eq!(api.post("/v1/payments", &pay("o-1")).await.status, 202);
    succeeded(&app, "o-1").await;
    let refund = json!({"refund_no": "r-1", "merchant_order_no": "o-1", "amount": "1.00", "currency": "CNY", "requested_by": "alice"});
    assert_eq!(api.post("/v1/refunds", &refund).await.status, 202);

    let read = other.get("/v1/payments/o-1").await;
    assert_eq!((read.status, read.code(), read.field()), (404, "not_found", "merchant_order_no"), "{read:?}");
    let close = other.post("/v1/payments/o-1/close", &json!({})).await;
    assert_eq!((close.status, close.code()), (404, "not_found"), "{close:?}");
    let mut theirs = refund.clone();
    theirs["refund_no"] = json!("r-2");
    let refunded = other.post("/v1/refunds", &theirs).await;
    assert_eq!((refunded.status, refunded.code(), refunded.field()), (404, "not_found", "merchant_order_no"));
    let refund_read = other.get("/v1/refunds/r-1").await;
    assert_eq!((refund_read.status, refund_read.field()), (404, "refund_no"));
    let decision = other.post("/v1/refunds/r-1/approve", &json!({"approver": "bob"})).await;
    assert_eq!((decision.status, decision.code()), (404, "not_found"), "{decision:?}");
    // Acting for another merchant in the body is refused too.
    let mut posing = pay("o-9");
    posing["merchant_id"] = json!("m-1");
    let posed = other.post("/v1/payments", &posing).await;
    assert_eq!((posed.status, posed.field()), (422, "merchant_id"), "{posed:?}");
    assert_eq!(app.count("SELECT count(*) FROM refunds").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn every_endpoint_names_the_field_and_the_rule() {
    let (app, api) = start().await;
    let with = |k: &str, v: Value| {
        let mut p = pay("o-1");
        p[k] = v;
        p
    };
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/v1/payments", with("amount", json!("0")), "amount", "greater than zero"),
        ("/v1/payments", with("amount", json!("1.234")), "amount", "decimal places"),
        ("/v1/payments", with("provider", json!("stripe")), "provider", "must be one of"),
        ("/v1/payments", with("merchant_order_no", json!("a b")), "merchant_order_no", "characters"),
        ("/v1/payments", with("expires_at", json!("2001-01-01T00:00:00Z")), "expires_at", "future"),
        ("/v1/payments", with("surprise", json!(1)), "surprise", ""),
        (
            "/v1/refunds",
            json!({"refund_no": "r-1", "merchant_order_no": "o-1", "amount": "1", "currency": "XXX1", "requested_by": "a"}),
            "currency",
            "",
        ),
        (
            "/v1/refunds",
            json!({"refund_no": "r-1", "merchant_order_no": "o-1", "amount": "1", "currency": "CNY"}),
            "requested_by",
            "",
        ),
        ("/v1/refunds/r-1/reject", json!({"approver": "bob"}), "reason", "required to reject"),
        ("/v1/refunds/r-1/approve", json!({}), "approver", ""),
        (
            "/v1/payments/o-1/close",
            json!({"merchant_order_no": "o-2"}),
            "merchant_order_no",
            "same as in the path",
        ),
    ];
    for (path, body, field, rule) in cases {
        let answer = api.post(path, &body).await;
        assert_eq!(
            (answer.status, answer.code(), answer.field()),
            (422, "invalid_field", field),
            "{path} {body}: {answer:?}"
        );
        assert!(answer.body["rule"].as_str().unwrap().contains(rule), "{path}: {answer:?}");
        assert_eq!(answer.message(), format!("{field}: {}", answer.body["rule"].as_str().unwrap()));
    }
    let reads = [
        ("/v1/payments/a%20b", "merchant_order_no"),
        ("/v1/payments/%FF", "merchant_order_no"),
        ("/v1/refunds/a%20b", "refund_no"),
        ("/v1/bills/mockpay/2026-13-01", "day"),
        ("/v1/settlements/Mock%20Pay/2026-01-01", "provider"),
    ];
    for (path, field) in reads {
        let answer = api.get(path).await;
        assert_eq!(
            (answer.status, answer.code(), answer.field()),
            (422, "invalid_field", field),
            "{path}: {answer:?}"
        );
    }
    let not_json =
        api.send(Method::POST, "/v1/payments", Some(b"{not json".to_vec()), &Signing::default()).await;
    assert_eq!((not_json.status, not_json.code(), not_json.field()), (400, "malformed_request", "body"));
    let not_object = api.post("/v1/refunds", &json!([1])).await;
    assert_eq!((not_object.status, not_object.field()), (400, "body"));
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_safe_and_refuses_another_body() {
    let (app, api) = start().await;
    let key = [("idempotency-key", "create-o-1")];
    let first = api.post_with("/v1/payments", &pay("o-1"), &key).await;
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = api.post_with("/v1/payments", &pay("o-1"), &key).await;
    assert_eq!(second.status, 202, "the first answer again: {second:?}");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE envelope->>'message_type' = 'order.dispatch_pay'").await,
        1
    );

    let other = api.post_with("/v1/payments", &pay("o-2"), &key).await;
    assert_eq!(
        (other.status, other.code(), other.field()),
        (409, "idempotency_conflict", "Idempotency-Key"),
        "{other:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1, "nothing done for the other body");
    // A body refused before anything ran does not take its key: corrected, it goes through.
    let bad = [("idempotency-key", "fixed-later")];
    let refused = api.post_with("/v1/payments", &json!({"amount": "1"}), &bad).await;
    assert_eq!(refused.status, 422);
    assert_eq!(api.post_with("/v1/payments", &pay("o-5"), &bad).await.status, 202);
    // A key is per merchant.
    let other_merchant = Client::for_merchant(&app.db.pool, app.api_addr, "m-2").await;
    assert_eq!(other_merchant.post_with("/v1/payments", &pay("o-2"), &key).await.status, 202);
    let bad_key = api.post_with("/v1/payments", &pay("o-3"), &[("idempotency-key", "")]).await;
    assert_eq!((bad_key.status, bad_key.field()), (422, "Idempotency-Key"));
    // A key is kept for a day, then forgotten: it may be used again.
    sqlx::query("UPDATE api_idempotency SET created_at = now() - interval '25 hours' WHERE idempotency_key = 'create-o-1'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let mut conn = app.db.pool.acquire().await.unwrap();
    assert_eq!(ingest::api::idempotency::forget_old(&mut conn).await.unwrap(), 2, "m-1's and m-2's");
    assert_eq!(api.post_with("/v1/payments", &pay("o-2"), &key).await.status, 202);
    app.stop().await;
}

#[tokio::test]
async fn a_refund_is_pre_committed_and_read_back_and_a_close_is_routed() {
    let (app, api) = start().await;
    assert_eq!(api.post("/v1/payments", &pay("o-1")).await.status, 202);
    let early = json!({"refund_no": "r-1", "merchant_order_no": "o-1", "amount": "2.00", "currency": "CNY", "requested_by": "alice", "reason": "broken cup"});
    let not_yet = api.post("/v1/refunds", &early).await;
    assert_eq!(
        (not_yet.status, not_yet.code(), not_yet.field()),
        (409, "wrong_state", "merchant_order_no"),
        "{not_yet:?}"
    );
    succeeded(&app, "o-1").await;

    let too_much = api.post("/v1/refunds", &json!({"refund_no": "r-9", "merchant_order_no": "o-1", "amount": "20.00", "currency": "CNY", "requested_by": "alice"})).await;
    assert_eq!(
        (too_much.status, too_much.code(), too_much.field()),
        (422, "invalid_field", "amount"),
        "{too_much:?}"
    );
    let refund = api.post("/v1/refunds", &early).await;
    assert_eq!((refund.status, refund.code()), (202, "accepted"), "{refund:?}");
    assert_eq!(refund.body["data"]["state"], "requested");
    assert_eq!(refund.body["data"]["poll_url"], "/v1/refunds/r-1");
    let id = refund.body["data"]["refund_id"].clone();
    app.wait_for("order.dispatch_refund", "order.dispatch_refund", |s| s.envelope.payload["refund_id"] == id)
        .await;
    let read = api.get("/v1/refunds/r-1").await;
    assert_eq!((read.status, read.body["data"]["amount"].as_str()), (200, Some("2.00")), "{read:?}");
    assert_eq!(read.body["data"]["reason"], "broken cup");

    // Decisions: only on a refund awaiting approval, and not by its requester.
    let approve = api.post("/v1/refunds/r-1/approve", &json!({"approver": "bob"})).await;
    assert_eq!(
        (approve.status, approve.code(), approve.field()),
        (409, "wrong_state", "refund_no"),
        "{approve:?}"
    );
    sqlx::query("UPDATE refunds SET state = 'awaiting_approval' WHERE refund_no = 'r-1'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let own = api.post("/v1/refunds/r-1/approve", &json!({"approver": "Alice "})).await;
    assert_eq!((own.status, own.field()), (422, "approver"), "{own:?}");
    let approved = api.post("/v1/refunds/r-1/approve", &json!({"approver": "bob"})).await;
    assert_eq!((approved.status, approved.code()), (202, "accepted"), "{approved:?}");
    app.wait_for("order.decide_refund", "order.decide_refund", |s| s.envelope.payload["approve"] == true)
        .await;

    let close = api.post("/v1/payments/o-1/close", &json!({})).await;
    assert_eq!((close.status, close.code()), (202, "accepted"), "{close:?}");
    app.wait_for("order.close", "order.close", |s| s.envelope.payload["reason"] == "requested").await;
    app.stop().await;
}

#[tokio::test]
async fn a_key_past_its_rate_gets_429_with_retry_after() {
    let app = Ingest::start_with(&[], &["--api-rate-per-second", "1", "--api-rate-burst", "2"]).await;
    let api = Client::for_merchant(&app.db.pool, app.api_addr, "m-1").await;
    let other = Client::for_merchant(&app.db.pool, app.api_addr, "m-1").await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..4 {
        let answer = api.get("/v1/payments/o-1").await;
        statuses.push(answer.status);
        if answer.status == 429 {
            limited = Some(answer);
        }
    }
    assert_eq!(&statuses[..2], &[404, 404], "{statuses:?}");
    let limited = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert_eq!(limited.code(), "rate_limited");
    let retry_after: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(other.get("/v1/payments/o-1").await.status, 404, "another key has its own budget");
    app.stop().await;
}

#[tokio::test]
async fn a_client_past_the_cashiers_rate_gets_429_and_a_proxys_header_separates_clients() {
    let limit = ["--cashier-rate-per-second", "1", "--cashier-rate-burst", "2"];
    let app = Ingest::start_with(&[], &limit).await;
    let http = reqwest::Client::new();
    let css = format!("http://{}/cashier/assets/cashier.css", app.api_addr);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(http.get(&css).send().await.unwrap().status().as_u16());
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "no 429 in {statuses:?}");
    // Without a named header a forged X-Forwarded-For buys nothing: the peer is the key.
    let forged = http.get(&css).header("x-forwarded-for", "203.0.113.1").send().await.unwrap();
    assert_eq!(forged.status(), 429, "a forged address got a budget of its own");
    // A page in the customer's language, with Retry-After; the status the page polls in JSON.
    // (Sent until limited: a second's pause on a loaded machine gives the budget one request.)
    let limited = |request: reqwest::RequestBuilder| async move {
        for _ in 0..5 {
            let answer = request.try_clone().unwrap().send().await.unwrap();
            if answer.status() == 429 {
                return answer;
            }
        }
        panic!("never limited");
    };
    let page = limited(http.get(&css).header("accept-language", "zh-CN")).await;
    let retry_after: u64 = page.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(page.text().await.unwrap().contains("请求过于频繁"));
    let status = limited(http.get(format!("http://{}/cashier/t/status", app.api_addr))).await;
    assert_eq!(status.json::<Value>().await.unwrap()["error"], "rate_limited");
    // The API's own routes are not the cashier's budget.
    assert_eq!(http.get(format!("http://{}/openapi.json", app.api_addr)).send().await.unwrap().status(), 200);
    app.stop().await;

    let behind_proxy = [
        "--cashier-rate-per-second",
        "1",
        "--cashier-rate-burst",
        "1",
        "--cashier-client-address-header",
        "X-Forwarded-For",
    ];
    let app = Ingest::start_with(&[], &behind_proxy).await;
    let css = format!("http://{}/cashier/assets/cashier.css", app.api_addr);
    let from = |client: &'static str| http.get(&css).header("x-forwarded-for", format!("10.9.9.9, {client}"));
    assert_eq!(from("198.51.100.1").send().await.unwrap().status(), 200);
    assert_eq!(from("198.51.100.1").send().await.unwrap().status(), 429, "the same client, past its burst");
    assert_eq!(from("198.51.100.2").send().await.unwrap().status(), 200, "another client behind the proxy");
    app.stop().await;
}

#[tokio::test]
async fn the_cashier_shows_the_merchants_name_once_set_and_its_id_before() {
    let (app, api) = start().await;
    {
        let mut conn = app.db.pool.acquire().await.unwrap();
        paygate::store::cashier::set_methods(&mut conn, "m-1", "mockpay", &["qr".to_owned()]).await.unwrap();
    }
    let body = json!({
        "merchant_order_no": "o-named", "amount": "12.34", "currency": "CNY", "order_type": "retail",
        "subject": "Tea", "cashier": true
    });
    let answer = api.post("/v1/payments", &body).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let url = answer.body["data"]["cashier_url"].as_str().unwrap().to_owned();
    let page = || async { reqwest::get(&url).await.unwrap().text().await.unwrap() };
    let merchant = |html: &str| {
        let at = html.find(r#"<dd id="merchant">"#).expect("the merchant's line") + 18;
        html[at..at + html[at..].find("</dd>").unwrap()].to_owned()
    };
    assert_eq!(merchant(&page().await), "m-1");
    let name = paygate::domain::MerchantName::parse("Tea <House> 茶馆").unwrap();
    {
        let mut conn = app.db.pool.acquire().await.unwrap();
        paygate::store::cashier::set_name(&mut conn, "m-1", Some(&name)).await.unwrap();
    }
    assert_eq!(merchant(&page().await), "Tea &lt;House&gt; 茶馆", "the name, escaped");
    app.stop().await;
}

#[tokio::test]
async fn a_reconciled_day_shows_the_merchants_own_lines() {
    let (app, api) = start().await;
    let other = Client::for_merchant(&app.db.pool, app.api_addr, "m-2").await;
    assert_eq!(api.post("/v1/payments", &pay("o-1")).await.status, 202);
    assert_eq!(other.post("/v1/payments", &pay("o-2")).await.status, 202);
    let batch: i64 = sqlx::query_scalar(
        "INSERT INTO recon_batches (provider, day, kind, state, window_days, download_complete)
         VALUES ('mockpay', '2026-12-01', 'trade', 'matched', 1, true) RETURNING id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO recon_lines (batch_id, line_no, kind, trade_no, payment_id, provider_txn_id, amount_minor,
                                  fee_minor, currency, status, succeeded, completed_at)
         SELECT $1, row_number() OVER (ORDER BY merchant_order_no), 'payment', id::text, id, 'txn-' || merchant_order_no,
                amount_minor, 7, 'CNY', 'SUCCESS', true, now()
         FROM payments",
    )
    .bind(batch)
    .execute(&app.db.pool)
    .await
    .unwrap();

    let day = api.get("/v1/bills/mockpay/2026-12-01").await;
    assert_eq!((day.status, day.code()), (200, "ok"), "{day:?}");
    let lines = day.body["data"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "only m-1's: {day:?}");
    assert_eq!(lines[0]["merchant_order_no"], "o-1");
    assert_eq!((lines[0]["amount"].as_str(), lines[0]["fee"].as_str()), (Some("12.34"), Some("0.07")));
    assert_eq!(day.body["data"]["totals"]["CNY"]["amount"], "12.34");
    assert_eq!(day.body["data"]["batch"]["state"], "matched");

    let none = api.get("/v1/settlements/mockpay/2026-12-01").await;
    assert_eq!((none.status, none.code(), none.field()), (404, "not_found", "day"), "{none:?}");
    let elsewhere = api.get("/v1/bills/mockpay/2026-12-02").await;
    assert_eq!(elsewhere.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_served_unsigned_and_other_paths_answer_in_shape() {
    let (app, api) = start().await;
    let served: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{}/openapi.json", app.api_addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, serde_json::to_value(ingest::api::document()).unwrap());
    assert!(served["paths"]["/v1/payments"]["post"].is_object());
    // A path that is no route answers in the API's shape too.
    let nowhere = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{}/v2/x", app.api_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    let body: Value = nowhere.json().await.unwrap();
    assert_eq!((body["code"].as_str(), body["field"].as_str()), (Some("not_found"), Some("path")));
    // A path with another method: refused in the same shape (once signed: auth comes first).
    let wrong = api.send(Method::DELETE, "/v1/payments/o-1", None, &Signing::default()).await;
    assert_eq!(
        (wrong.status, wrong.code(), wrong.field()),
        (405, "method_not_allowed", "method"),
        "{wrong:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_authorised_payment_is_captured_or_voided_over_http() {
    let (app, api) = start().await;
    for order in ["o-cap", "o-void"] {
        let mut manual = pay(order);
        manual["capture"] = json!("manual");
        let created = api.post("/v1/payments", &manual).await;
        assert_eq!(created.status, 202, "{created:?}");
    }
    let capture = json!({"amount": "10.00", "currency": "CNY"});
    let early = api.post("/v1/payments/o-cap/capture", &capture).await;
    assert_eq!(
        (early.status, early.code(), early.field()),
        (409, "wrong_state", "merchant_order_no"),
        "{early:?}"
    );
    let early = api.post("/v1/payments/o-void/void", &json!({})).await;
    assert_eq!(
        (early.status, early.code(), early.field()),
        (409, "wrong_state", "merchant_order_no"),
        "{early:?}"
    );
    // As the dispatcher would once the provider authorised them.
    sqlx::query("UPDATE payments SET state = 'authorized' WHERE merchant_order_no IN ('o-cap', 'o-void')")
        .execute(&app.db.pool)
        .await
        .unwrap();

    let too_much =
        api.post("/v1/payments/o-cap/capture", &json!({"amount": "20.00", "currency": "CNY"})).await;
    assert_eq!(
        (too_much.status, too_much.code(), too_much.field()),
        (422, "invalid_field", "amount"),
        "{too_much:?}"
    );
    let other_path = api
        .post(
            "/v1/payments/o-cap/capture",
            &json!({"merchant_order_no": "o-void", "amount": "1.00", "currency": "CNY"}),
        )
        .await;
    assert_eq!((other_path.status, other_path.field()), (422, "merchant_order_no"), "{other_path:?}");
    let no_amount = api.post("/v1/payments/o-cap/capture", &json!({"currency": "CNY"})).await;
    assert_eq!((no_amount.status, no_amount.field()), (422, "amount"), "{no_amount:?}");

    let other = Client::for_merchant(&app.db.pool, app.api_addr, "m-2").await;
    let theirs = other.post("/v1/payments/o-cap/capture", &capture).await;
    assert_eq!((theirs.status, theirs.code()), (404, "not_found"), "{theirs:?}");
    let theirs = other.post("/v1/payments/o-void/void", &json!({})).await;
    assert_eq!((theirs.status, theirs.code()), (404, "not_found"), "{theirs:?}");

    let captured = api.post("/v1/payments/o-cap/capture", &capture).await;
    assert_eq!((captured.status, captured.code()), (202, "accepted"), "{captured:?}");
    assert_eq!(captured.body["data"]["poll_url"], "/v1/payments/o-cap");
    let id = captured.body["data"]["payment_id"].clone();
    app.wait_for("order.capture", "order.capture", |s| s.envelope.payload["payment_id"] == id).await;

    let voided = api.post("/v1/payments/o-void/void", &json!({})).await;
    assert_eq!((voided.status, voided.code()), (202, "accepted"), "{voided:?}");
    let id = voided.body["data"]["payment_id"].clone();
    app.wait_for("order.void", "order.void", |s| s.envelope.payload["payment_id"] == id).await;
    app.stop().await;
}
