//! ingest against real PostgreSQL and RabbitMQ: commands published to the commands exchange, and
//! what comes out of it: payment and refund rows, work on the order shards, `command.rejected`
//! events (and replies), dead letters, metrics. Each test runs the real application on a fresh
//! database and vhost (`support`), and waits by polling, never by sleeping.

#[path = "commands/support.rs"]
mod support;

use paygate::broker::envelope::Envelope;
use serde_json::{Value, json};
use support::{Ingest, REPLIES, Seen};

fn pay(order_no: &str) -> Value {
    json!({
        "merchant_id": "m-1", "merchant_order_no": order_no, "amount": "12.34", "currency": "CNY",
        "provider": "mockpay", "pay_method": "qr", "order_type": "retail", "subject": "Coffee",
        "metadata": {"table": 7}
    })
}

fn command(message_type: &str, payload: Value) -> Envelope<Value> {
    let key = format!(
        "{}:{}",
        payload["merchant_id"].as_str().unwrap_or("m"),
        payload["merchant_order_no"].as_str().or(payload["refund_no"].as_str()).unwrap_or("x")
    );
    Envelope::new(message_type, key, payload).with_correlation_id(format!("req-{}", uuid::Uuid::now_v7()))
}

fn field(seen: &Seen) -> &str {
    seen.envelope.payload["field"].as_str().unwrap_or_default()
}

fn message(seen: &Seen) -> &str {
    seen.envelope.payload["message"].as_str().unwrap_or_default()
}

/// Pays `order_no` through ingest, waits for its dispatch, and marks it succeeded as the
/// dispatcher would once the provider confirms (ingest itself never does). Returns its id.
async fn paid(app: &Ingest, order_no: &str, amount: &str) -> uuid::Uuid {
    let mut payload = pay(order_no);
    payload["amount"] = json!(amount);
    app.publish(&command("command.pay", payload)).await;
    let id: uuid::Uuid =
        paygate_test_support::eventually_some("the payment row", support::WITHIN, || async {
            sqlx::query_scalar("SELECT id FROM payments WHERE merchant_order_no = $1")
                .bind(order_no)
                .fetch_optional(&app.db.pool)
                .await
                .unwrap()
        })
        .await;
    let expected = json!(id);
    app.wait_for("the dispatch", "order.dispatch_pay", |s| s.envelope.payload["payment_id"] == expected)
        .await;
    sqlx::query("UPDATE payments SET state = 'succeeded' WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn a_pay_creates_the_payment_and_dispatches_it() {
    let app = Ingest::start().await;
    let cmd = command("command.pay", pay("o-1"));
    app.publish(&cmd).await;
    let work = app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;

    let (id, state, amount, currency, pay_method, fingerprint): (
        uuid::Uuid,
        String,
        i64,
        String,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT id, state, amount_minor, currency::text, pay_method, request_fingerprint FROM payments \
             WHERE merchant_id = 'm-1' AND merchant_order_no = 'o-1'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (state.as_str(), amount, currency.as_str(), pay_method.as_str()),
        ("created", 1234, "CNY", "qr")
    );
    assert!(fingerprint.starts_with("sha256:"), "{fingerprint}");
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(work.envelope.payload, json!({"op": "dispatch_pay", "payment_id": id}));
    assert_eq!(work.envelope.order_key, id.to_string(), "work is keyed on the payment id");
    assert_eq!(work.envelope.correlation_id, cmd.correlation_id);
    // The creation is in the history, caused by the command.
    let cause: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT cause_message_id FROM state_transitions WHERE payment_id = $1 AND version = 0",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(cause, Some(cmd.message_id));
    app.stop().await;
}

#[tokio::test]
async fn the_same_pay_again_makes_one_payment_and_a_report() {
    let app = Ingest::start().await;
    app.publish(&command("command.pay", pay("o-1"))).await;
    app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;
    // The same parameters in another order, in a new message asking for a reply.
    let mut again = pay("o-1");
    let metadata = again.as_object_mut().unwrap().remove("metadata").unwrap();
    again["metadata"] = metadata;
    let again = command("command.pay", again).with_reply_to(REPLIES);
    app.publish(&again).await;
    let report = app.wait_for("order.report", "order.report", |_| true).await;

    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM payments").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(
        report.envelope.payload,
        json!({"op": "report", "payment_id": id, "refund_id": null, "reply_to": REPLIES,
               "correlation_id": again.correlation_id})
    );
    let dispatches = app.orders().iter().filter(|s| s.envelope.message_type == "order.dispatch_pay").count();
    assert_eq!(dispatches, 1, "never dispatched twice");
    app.stop().await;
}

#[tokio::test]
async fn a_barcode_pay_is_stored_with_its_code_which_travels_nowhere_else() {
    let app = Ingest::start().await;
    let code = "281234567890123456";
    let mut payload = pay("o-bar");
    payload["provider"] = json!("alipay");
    payload["pay_method"] = json!("barcode");
    payload["auth_code"] = json!(code);
    app.publish(&command("command.pay", payload.clone())).await;
    let dispatch = app.wait_for("the dispatch", "order.dispatch_pay", |_| true).await;
    assert!(!dispatch.envelope.payload.to_string().contains(code));
    let (method, stored): (String, Option<String>) =
        sqlx::query_as("SELECT pay_method, auth_code FROM payments WHERE merchant_order_no = 'o-bar'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((method.as_str(), stored.as_deref()), ("barcode", Some(code)), "for the dispatcher");
    let elsewhere: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM outbox WHERE envelope::text LIKE '%' || $1 || '%')
              + (SELECT count(*) FROM payments WHERE request_fingerprint LIKE '%' || $1 || '%'
                                                  OR metadata::text LIKE '%' || $1 || '%')",
    )
    .bind(code)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(elsewhere, 0, "the code is in its column only");
    // The same command again is a repeat, also with a new scan of the customer's code.
    let mut rescanned = payload.clone();
    rescanned["auth_code"] = json!("289999999999999999");
    let repeat = command("command.pay", rescanned);
    app.publish(&repeat).await;
    app.wait_for("the repeat's report", "order.report", |_| true).await;
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn each_providers_pay_terms_are_applied_at_the_door_naming_the_field() {
    let app = Ingest::start().await;
    let with = |order_no: &str, fields: Value| {
        let mut payload = pay(order_no);
        for (k, v) in fields.as_object().unwrap() {
            payload[k] = v.clone();
        }
        command("command.pay", payload)
    };
    let cases = [
        (
            with("o-1", json!({"pay_method": "barcode", "auth_code": "281234567890123456"})),
            "pay_method: mockpay takes redirect, form, qr, client_secret or direct, not barcode",
        ),
        (
            with(
                "o-2",
                json!({"provider": "alipay", "pay_method": "barcode", "auth_code": "134567890123456789"}),
            ),
            "auth_code: must be an Alipay payment code: 16 to 24 digits starting with 25 to 30 (got 18 digits starting with 13)",
        ),
        (
            with("o-3", json!({"provider": "alipay", "pay_method": "barcode"})),
            "auth_code: is required for pay_method barcode: the customer's payment code, as the till scanned it",
        ),
        (
            with("o-4", json!({"provider": "wechatpay", "pay_method": "client_secret"})),
            "payer.openid: is required for a client_secret (JSAPI / mini-program) payment through WeChat Pay: the payer's openid under the merchant's app id",
        ),
        (
            with(
                "o-5",
                json!({"provider": "wechatpay", "pay_method": "redirect", "payer": {"client_ip": "203.0.113"}}),
            ),
            r#"payer.client_ip: must be the payer's IP address, IPv4 (203.0.113.7) or IPv6 (2001:db8::7) (got "203.0.113")"#,
        ),
    ];
    for (cmd, expected) in &cases {
        app.publish(cmd).await;
        let rejected = app.rejection_of(cmd).await;
        assert_eq!(message(&rejected), *expected);
        assert!(!rejected.envelope.payload.to_string().contains("1234567890123456"), "no code echoed");
    }
    let h5 = with(
        "o-6",
        json!({"provider": "wechatpay", "pay_method": "redirect", "payer": {"client_ip": "203.0.113.7"}}),
    );
    app.publish(&h5).await;
    app.wait_for("the H5 dispatch", "order.dispatch_pay", |_| true).await;
    let payer: Value = sqlx::query_scalar("SELECT payer FROM payments WHERE merchant_order_no = 'o-6'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(payer, json!({"client_ip": "203.0.113.7"}));
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 1, "only the H5 payment");
    app.stop().await;
}

#[tokio::test]
async fn a_conflicting_pay_is_rejected_naming_merchant_order_no() {
    let app = Ingest::start().await;
    app.publish(&command("command.pay", pay("o-1"))).await;
    app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;
    let mut other = pay("o-1");
    other["amount"] = json!("99.00");
    let conflicting = command("command.pay", other);
    app.publish(&conflicting).await;

    let rejected = app.rejection_of(&conflicting).await;
    assert_eq!(field(&rejected), "merchant_order_no");
    assert_eq!(
        message(&rejected),
        "merchant_order_no: idempotency conflict: already used for a payment with different parameters"
    );
    assert_eq!(rejected.routing_key, "command.rejected.pay");
    assert_eq!(rejected.envelope.payload["merchant_id"], "m-1");
    assert_eq!(rejected.envelope.payload["merchant_order_no"], "o-1");
    assert_eq!(rejected.envelope.correlation_id, conflicting.correlation_id);
    let amount: i64 =
        sqlx::query_scalar("SELECT amount_minor FROM payments").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(amount, 1234, "the first payment is untouched");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_amount_is_rejected_naming_amount_and_the_reply_queue_gets_it_too() {
    let app = Ingest::start().await;
    let mut payload = pay("o-1");
    payload["amount"] = json!("12.345");
    let cmd = command("command.pay", payload).with_reply_to(REPLIES);
    app.publish(&cmd).await;

    let rejected = app.rejection_of(&cmd).await;
    assert_eq!(message(&rejected), "amount: CNY allows at most 2 decimal places (got 3)");
    let id = cmd.message_id.to_string();
    let reply = app
        .wait_for("the reply", "command.rejected", |s| {
            s.queue == REPLIES && s.envelope.payload["command_message_id"] == id.as_str()
        })
        .await;
    assert_eq!(
        reply.envelope.payload["event_id"], rejected.envelope.payload["event_id"],
        "one event, one id"
    );
    assert_eq!(reply.envelope.correlation_id, cmd.correlation_id);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_schema_version_it_does_not_read_is_rejected_naming_schema_version() {
    let app = Ingest::start().await;
    let cmd = command("command.pay", pay("o-v99")).with_schema_version(99).with_reply_to(REPLIES);
    app.publish(&cmd).await;
    let rejected = app.rejection_of(&cmd).await;
    assert_eq!(field(&rejected), "schema_version");
    assert_eq!(
        message(&rejected),
        "schema_version: must be 1, the only version of the commands this paygate reads (got 99)"
    );
    let id = cmd.message_id.to_string();
    app.wait_for("the reply", "command.rejected", |s| {
        s.queue == REPLIES && s.envelope.payload["command_message_id"] == id.as_str()
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0, "not read as version 1");
    app.stop().await;
}

#[tokio::test]
async fn an_expires_at_in_the_past_is_rejected_at_ingest_naming_the_field() {
    let app = Ingest::start().await;
    let mut payload = pay("o-expired");
    payload["expires_at"] = json!("2020-01-01T00:00:00Z");
    let cmd = command("command.pay", payload);
    app.publish(&cmd).await;
    let rejected = app.rejection_of(&cmd).await;
    assert_eq!(field(&rejected), "expires_at");
    assert!(
        message(&rejected).starts_with(
            "expires_at: must be in the future: the customer needs time to pay (got 2020-01-01T00:00:00Z, now is "
        ),
        "{}",
        message(&rejected)
    );
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0, "it never reaches the provider");
    // One in the future is taken.
    let mut payload = pay("o-later");
    payload["expires_at"] = json!((chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339());
    app.publish(&command("command.pay", payload)).await;
    app.wait_for("the dispatch", "order.dispatch_pay", |_| true).await;
    app.stop().await;
}

#[tokio::test]
async fn a_command_whose_content_type_is_not_json_is_rejected_naming_content_type() {
    let app = Ingest::start().await;
    let cmd = command("command.pay", pay("o-text"));
    let message_ = cmd.to_amqp().unwrap();
    let properties = message_.properties.with_content_type("text/plain".into());
    app.publish_raw("pay", message_.body, properties).await;
    let rejected = app.rejection_of(&cmd).await;
    assert_eq!(field(&rejected), "content_type");
    assert_eq!(
        message(&rejected),
        "content_type: must be application/json: the body is a JSON envelope (got \"text/plain\")"
    );
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
    // JSON with parameters is JSON.
    let cmd = command("command.pay", pay("o-json"));
    let message_ = cmd.to_amqp().unwrap();
    let properties = message_.properties.with_content_type("application/json; charset=utf-8".into());
    app.publish_raw("pay", message_.body, properties).await;
    app.wait_for("the dispatch", "order.dispatch_pay", |_| true).await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_provider_is_rejected() {
    let app = Ingest::start().await;
    let mut payload = pay("o-1");
    payload["provider"] = json!("stripe");
    let cmd = command("command.pay", payload);
    app.publish(&cmd).await;
    let rejected = app.rejection_of(&cmd).await;
    assert_eq!(message(&rejected), r#"provider: must be one of mockpay, alipay, wechatpay (got "stripe")"#);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn payloads_that_are_not_objects_or_have_unknown_fields_are_rejected() {
    let app = Ingest::start().await;
    let not_object = command("command.close", json!(["m-1", "o-1"]));
    let mut misspelt = pay("o-1");
    misspelt["amonut"] = json!("1");
    let misspelt = command("command.pay", misspelt);
    let unknown_type = command("command.settle", json!({"merchant_id": "m-1"}));
    for cmd in [&not_object, &misspelt, &unknown_type] {
        app.publish(cmd).await;
    }
    assert_eq!(
        message(&app.rejection_of(&not_object).await),
        "payload: must be a JSON object (got an array)"
    );
    let rejected = app.rejection_of(&misspelt).await;
    assert_eq!(field(&rejected), "amonut");
    assert!(message(&rejected).starts_with("amonut: is not a known field"), "{}", message(&rejected));
    let rejected = app.rejection_of(&unknown_type).await;
    assert_eq!(field(&rejected), "message_type");
    assert_eq!(
        rejected.routing_key, "command.rejected.unknown",
        "one routing key for every type that is not a command"
    );
    assert_eq!(rejected.envelope.payload["command"], "command.settle", "the payload names what was sent");
    app.stop().await;
}

#[tokio::test]
async fn an_envelope_that_does_not_parse_is_dead_lettered_with_the_reason() {
    let app = Ingest::start().await;
    let props = lapin::BasicProperties::default().with_content_type("application/json".into());
    app.publish_raw("pay", b"{not json".to_vec(), props).await;
    let dead = app.wait_for("the dead letter", "unparseable", |_| true).await;
    assert_eq!(dead.queue, app.topology.dlq(&app.topology.ingest_queue()));
    assert!(app.seen().iter().all(|s| s.envelope.message_type != "command.rejected"), "nothing to answer");
    app.stop().await;
}

#[tokio::test]
async fn refunds_are_checked_against_the_payment() {
    let app = Ingest::start().await;
    let refund = |refund_no: &str, order_no: &str, amount: &str| {
        command(
            "command.refund",
            json!({"merchant_id": "m-1", "refund_no": refund_no, "merchant_order_no": order_no,
                   "amount": amount, "currency": "CNY", "requested_by": "alice"}),
        )
    };

    // No such payment.
    let missing = refund("r-0", "o-404", "1.00");
    app.publish(&missing).await;
    assert_eq!(
        message(&app.rejection_of(&missing).await),
        "merchant_order_no: no payment with this number for merchant m-1"
    );

    // Not paid yet.
    app.publish(&command("command.pay", pay("o-unpaid"))).await;
    app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;
    let unpaid = refund("r-1", "o-unpaid", "1.00");
    app.publish(&unpaid).await;
    let rejected = app.rejection_of(&unpaid).await;
    assert_eq!(
        message(&rejected),
        "merchant_order_no: the payment is created; only a succeeded or partially_refunded payment can be refunded"
    );

    // Paid 12.34, of which 2.00 already refunded and 10.00 in flight: 0.34 left.
    let id = paid(&app, "o-paid", "12.34").await;
    sqlx::query("UPDATE payments SET refunded_minor = 200, refund_in_flight_minor = 1000 WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let too_much = refund("r-2", "o-paid", "0.35");
    app.publish(&too_much).await;
    assert_eq!(
        message(&app.rejection_of(&too_much).await),
        "amount: refund of 0.35 CNY exceeds the refundable 0.34 CNY"
    );
    let mut usd = refund("r-3", "o-paid", "0.10");
    usd.payload["currency"] = json!("USD");
    app.publish(&usd).await;
    assert_eq!(
        message(&app.rejection_of(&usd).await),
        "currency: must be the payment's currency CNY (got USD)"
    );

    // What is left can be refunded: pre-committed, then dispatched.
    let fits = refund("r-4", "o-paid", "0.34");
    app.publish(&fits).await;
    let work = app.wait_for("order.dispatch_refund", "order.dispatch_refund", |_| true).await;
    let (refund_id, state, amount): (uuid::Uuid, String, i64) =
        sqlx::query_as("SELECT id, state, amount_minor FROM refunds WHERE refund_no = 'r-4'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), amount), ("requested", 34));
    assert_eq!(
        work.envelope.payload,
        json!({"op": "dispatch_refund", "payment_id": id, "refund_id": refund_id})
    );
    assert_eq!(work.envelope.order_key, id.to_string());
    // Ingest reserved nothing: the balance is the dispatcher's.
    let in_flight: i64 = sqlx::query_scalar("SELECT refund_in_flight_minor FROM payments WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(in_flight, 1000);

    // The same refund again: a report of it, even though nothing is refundable any more once
    // the dispatcher reserved it; another amount under the same number: a conflict.
    sqlx::query("UPDATE payments SET refund_in_flight_minor = 1034 WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    app.publish(&refund("r-4", "o-paid", "0.34")).await;
    let report = app.wait_for("order.report", "order.report", |_| true).await;
    assert_eq!(report.envelope.payload["refund_id"], json!(refund_id));
    let conflict = refund("r-4", "o-paid", "0.30");
    app.publish(&conflict).await;
    assert_eq!(field(&app.rejection_of(&conflict).await), "refund_no");
    assert_eq!(app.count("SELECT count(*) FROM refunds").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn refund_decisions_need_a_refund_awaiting_approval_and_four_eyes() {
    let app = Ingest::start().await;
    let id = paid(&app, "o-1", "100.00").await;
    app.publish(&command(
        "command.refund",
        json!({"merchant_id": "m-1", "refund_no": "r-1", "merchant_order_no": "o-1",
               "amount": "60.00", "currency": "CNY", "requested_by": "alice"}),
    ))
    .await;
    app.wait_for("order.dispatch_refund", "order.dispatch_refund", |_| true).await;
    let decision = |kind: &str, approver: &str| {
        command(
            kind,
            json!({"merchant_id": "m-1", "refund_no": "r-1", "approver": approver, "reason": "checked"}),
        )
    };

    // Still `requested`: nothing to decide.
    let early = decision("command.approve_refund", "bob");
    app.publish(&early).await;
    assert_eq!(
        message(&app.rejection_of(&early).await),
        "refund_no: the refund is requested; only a refund awaiting_approval can be approved"
    );

    // What the dispatcher does when policy asks for approval.
    sqlx::query("UPDATE refunds SET state = 'awaiting_approval' WHERE refund_no = 'r-1'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let own = decision("command.approve_refund", "alice").with_reply_to(REPLIES);
    app.publish(&own).await;
    assert_eq!(
        message(&app.rejection_of(&own).await),
        "approver: must not be the person who requested the refund"
    );
    let unknown = command(
        "command.reject_refund",
        json!({"merchant_id": "m-1", "refund_no": "r-9", "approver": "bob", "reason": "no"}),
    );
    app.publish(&unknown).await;
    assert_eq!(
        message(&app.rejection_of(&unknown).await),
        "refund_no: no refund with this number for merchant m-1"
    );

    app.publish(&decision("command.approve_refund", "bob")).await;
    let work = app.wait_for("order.decide_refund", "order.decide_refund", |_| true).await;
    let refund_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM refunds").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(
        work.envelope.payload,
        json!({"op": "decide_refund", "payment_id": id, "refund_id": refund_id, "approve": true,
               "approver": "bob", "reason": "checked"})
    );
    let state: String =
        sqlx::query_scalar("SELECT state FROM refunds").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(state, "awaiting_approval", "ingest never moves a refund");
    app.stop().await;
}

#[tokio::test]
async fn four_eyes_compares_normalised_operator_identities() {
    let app = Ingest::start().await;
    paid(&app, "o-1", "100.00").await;
    // A requester's identity is stored normalised: " Alice " is alice.
    app.publish(&command(
        "command.refund",
        json!({"merchant_id": "m-1", "refund_no": "r-1", "merchant_order_no": "o-1",
               "amount": "60.00", "currency": "CNY", "requested_by": " Alice "}),
    ))
    .await;
    app.wait_for("order.dispatch_refund", "order.dispatch_refund", |_| true).await;
    let requested_by: String =
        sqlx::query_scalar("SELECT requested_by FROM refunds").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(requested_by, "alice");
    sqlx::query("UPDATE refunds SET state = 'awaiting_approval' WHERE refund_no = 'r-1'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let decision = |approver: &str| {
        command(
            "command.approve_refund",
            json!({"merchant_id": "m-1", "refund_no": "r-1", "approver": approver, "reason": "checked"}),
        )
    };
    // The requester under another spelling is still the requester.
    for spelling in ["Alice", "alice ", "ALICE"] {
        let own = decision(spelling);
        app.publish(&own).await;
        assert_eq!(
            message(&app.rejection_of(&own).await),
            "approver: must not be the person who requested the refund",
            "{spelling:?}"
        );
    }
    // Something that is not an identity is refused as such, naming the field and the rule.
    let odd = decision("al ice");
    app.publish(&odd).await;
    assert_eq!(
        message(&app.rejection_of(&odd).await),
        "approver: must be an operator identity: 1 to 64 characters of a-z 0-9 . _ - @ (case and \
         surrounding spaces are ignored) (got a space at position 3)"
    );
    // Another person approves, recorded normalised.
    app.publish(&decision(" Bob")).await;
    let work = app.wait_for("order.decide_refund", "order.decide_refund", |_| true).await;
    assert_eq!(work.envelope.payload["approver"], json!("bob"));
    app.stop().await;
}

#[tokio::test]
async fn close_and_query_need_the_payment_and_route_work() {
    let app = Ingest::start().await;
    let missing = command("command.close", json!({"merchant_id": "m-1", "merchant_order_no": "o-404"}));
    app.publish(&missing).await;
    assert_eq!(field(&app.rejection_of(&missing).await), "merchant_order_no");

    app.publish(&command("command.pay", pay("o-1"))).await;
    app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;
    app.publish(&command("command.close", json!({"merchant_id": "m-1", "merchant_order_no": "o-1"}))).await;
    let close = app.wait_for("order.close", "order.close", |_| true).await;
    assert_eq!(close.envelope.payload["reason"], "requested");

    let no_refund = command(
        "command.query",
        json!({"merchant_id": "m-1", "merchant_order_no": "o-1", "refund_no": "r-404"}),
    );
    app.publish(&no_refund).await;
    assert_eq!(
        message(&app.rejection_of(&no_refund).await),
        "refund_no: no refund with this number for payment o-1 of merchant m-1"
    );
    let query = command("command.query", json!({"merchant_id": "m-1", "merchant_order_no": "o-1"}))
        .with_reply_to(REPLIES);
    app.publish(&query).await;
    let report = app.wait_for("order.report", "order.report", |_| true).await;
    assert_eq!(report.envelope.payload["reply_to"], REPLIES);
    assert_eq!(report.envelope.payload["correlation_id"], json!(query.correlation_id));
    let state: String =
        sqlx::query_scalar("SELECT state FROM payments").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(state, "created", "ingest never moves a payment");
    app.stop().await;
}

#[tokio::test]
async fn commands_are_counted_by_type_and_outcome() {
    let app = Ingest::start().await;
    app.publish(&command("command.pay", pay("o-1"))).await;
    app.wait_for("order.dispatch_pay", "order.dispatch_pay", |_| true).await;
    app.publish(&command("command.pay", pay("o-1"))).await;
    app.wait_for("order.report", "order.report", |_| true).await;
    let bad = command("command.pay", json!({}));
    app.publish(&bad).await;
    app.rejection_of(&bad).await;

    let url = format!("http://{}/metrics", app.addr);
    let body = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for outcome in ["accepted", "duplicate", "rejected"] {
        let line = format!(r#"paygate_ingest_commands_total{{command="command.pay",outcome="{outcome}"}} 1"#);
        assert!(body.contains(&line), "{line} missing from:\n{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn commands_waiting_together_are_applied_in_batches_with_the_same_answers() {
    let mut waiting: Vec<Envelope<Value>> =
        (0..25).map(|n| command("command.pay", pay(&format!("o-{n}")))).collect();
    // The same command twice more (a repeat), and once with other parameters (a conflict).
    waiting.push(command("command.pay", pay("o-3")));
    waiting.push(command("command.pay", pay("o-3")));
    let mut conflicting = pay("o-4");
    conflicting["amount"] = json!("99.00");
    let conflict = command("command.pay", conflicting.clone());
    waiting.push(conflict.clone());
    // A conflict under another order key: it can land in the same batch as o-5's first command.
    conflicting["merchant_order_no"] = json!("o-5");
    let same_batch_conflict = Envelope::new("command.pay", "another-key", conflicting);
    waiting.insert(6, same_batch_conflict.clone());
    let o5_first = waiting[5].clone();
    let mut elsewhere = pay("o-99");
    elsewhere["provider"] = json!("nopay");
    let unknown_provider = command("command.pay", elsewhere);
    waiting.push(unknown_provider.clone());
    let app = Ingest::start_after(&waiting).await;

    paygate_test_support::eventually("the two repeats reported", support::WITHIN, || async {
        app.orders().iter().filter(|s| s.envelope.message_type == "order.report").count() == 2
    })
    .await;
    assert_eq!(field(&app.rejection_of(&conflict).await), "merchant_order_no");
    assert_eq!(field(&app.rejection_of(&unknown_provider).await), "provider");
    // o-5's first command and the conflicting one under another order key may be applied by
    // batches running side by side: whichever commits first creates the payment, and the other
    // is rejected naming merchant_order_no. Exactly one of them is.
    let rejected = |cmd: &Envelope<Value>| {
        let id = cmd.message_id.to_string();
        app.seen().into_iter().find(|s| {
            s.queue == "test.events"
                && s.envelope.message_type == "command.rejected"
                && s.envelope.payload["command_message_id"] == id.as_str()
        })
    };
    paygate_test_support::eventually("one of o-5's two commands rejected", support::WITHIN, || {
        let any = rejected(&o5_first).is_some() || rejected(&same_batch_conflict).is_some();
        async move { any }
    })
    .await;
    let (loser, winner_is_first) = match (rejected(&o5_first), rejected(&same_batch_conflict)) {
        (None, Some(loser)) => (loser, true),
        (Some(loser), None) => (loser, false),
        (a, b) => panic!("exactly one of o-5's commands is rejected: {a:?} {b:?}"),
    };
    assert_eq!(field(&loser), "merchant_order_no");
    paygate_test_support::eventually("25 dispatches", support::WITHIN, || async {
        app.orders().iter().filter(|s| s.envelope.message_type == "order.dispatch_pay").count() == 25
    })
    .await;

    assert_eq!(app.count("SELECT count(*) FROM payments").await, 25);
    let o5_as_won = if winner_is_first {
        app.count("SELECT count(*) FROM payments WHERE merchant_order_no = 'o-5' AND amount_minor = 1234")
            .await
    } else {
        app.count("SELECT count(*) FROM payments WHERE merchant_order_no = 'o-5' AND amount_minor = 9900")
            .await
    };
    assert_eq!(o5_as_won, 1, "o-5 holds the parameters of the command that won");
    assert_eq!(app.count("SELECT count(*) FROM state_transitions WHERE event = 'created'").await, 25);
    assert_eq!(
        app.count("SELECT count(DISTINCT payment_id) FROM state_transitions WHERE event = 'created'").await,
        25,
        "one first history row per payment"
    );
    let dispatched: std::collections::HashSet<String> = app
        .orders()
        .iter()
        .filter(|s| s.envelope.message_type == "order.dispatch_pay")
        .map(|s| s.envelope.payload["payment_id"].to_string())
        .collect();
    assert_eq!(dispatched.len(), 25, "one dispatch per payment");
    assert_eq!(app.count("SELECT count(*) FROM processed_messages").await, waiting.len() as i64);
    // Batches: several payments were created by one transaction (xmin is the inserting one).
    let transactions = app.count("SELECT count(DISTINCT xmin::text) FROM payments").await;
    assert!(transactions < 25, "payments created in {transactions} transactions: no batch");
    app.stop().await;
}

#[tokio::test]
async fn captures_voids_and_refunds_of_authorisations_are_checked_at_the_door() {
    let app = Ingest::start().await;
    let manual = |order_no: &str, provider: &str| {
        let mut payload = pay(order_no);
        payload["provider"] = json!(provider);
        payload["capture"] = json!("manual");
        command("command.pay", payload)
    };
    let capture = |order_no: &str, amount: &str, currency: &str| {
        command(
            "command.capture",
            json!({"merchant_id": "m-1", "merchant_order_no": order_no, "amount": amount, "currency": currency}),
        )
    };
    let void = |order_no: &str| {
        command("command.void", json!({"merchant_id": "m-1", "merchant_order_no": order_no}))
    };
    let set = |sql: &'static str, order_no: &'static str| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query(sql).bind(order_no).execute(&pool).await.unwrap();
        }
    };

    // A provider that takes the money when the customer pays cannot authorise only.
    let alipay = manual("o-ali", "alipay");
    app.publish(&alipay).await;
    assert_eq!(
        message(&app.rejection_of(&alipay).await),
        "capture: manual needs a provider that authorises a payment and captures it later; alipay takes the \
         money when the customer pays (got capture manual with provider alipay)"
    );

    // mockpay authorises: the payment is created with its capture mode, and authorised as the
    // dispatcher would record it once the provider answers.
    app.publish(&manual("o-auth", "mockpay")).await;
    app.wait_for("the dispatch", "order.dispatch_pay", |_| true).await;
    let mode: String =
        sqlx::query_scalar("SELECT capture_mode FROM payments WHERE merchant_order_no = 'o-auth'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(mode, "manual");
    set("UPDATE payments SET state = 'authorized' WHERE merchant_order_no = $1", "o-auth").await;

    // Nothing authorised is refundable.
    let refund = command(
        "command.refund",
        json!({"merchant_id": "m-1", "refund_no": "r-auth", "merchant_order_no": "o-auth",
               "amount": "1.00", "currency": "CNY", "requested_by": "alice"}),
    );
    app.publish(&refund).await;
    assert_eq!(
        message(&app.rejection_of(&refund).await),
        "merchant_order_no: the payment is authorized: its money is only authorised, not captured; refunds \
         apply to what was captured: capture it (then refund) or void it"
    );

    // A capture above the authorised amount, or in another currency, is refused.
    let too_much = capture("o-auth", "12.35", "CNY");
    app.publish(&too_much).await;
    assert_eq!(
        message(&app.rejection_of(&too_much).await),
        "amount: a capture of 12.35 CNY exceeds the authorised 12.34 CNY"
    );
    let usd = capture("o-auth", "1.00", "USD");
    app.publish(&usd).await;
    assert_eq!(field(&app.rejection_of(&usd).await), "currency");

    // A payment made with automatic capture has nothing to capture or void.
    paid(&app, "o-auto", "12.34").await;
    let auto = capture("o-auto", "1.00", "CNY");
    app.publish(&auto).await;
    let rejected = app.rejection_of(&auto).await;
    assert_eq!(field(&rejected), "merchant_order_no");
    assert!(message(&rejected).contains("capture automatic"), "{}", message(&rejected));
    let auto_void = void("o-auto");
    app.publish(&auto_void).await;
    assert_eq!(field(&app.rejection_of(&auto_void).await), "merchant_order_no");

    // Part of the authorisation: routed to the order's shard with the amount.
    app.publish(&capture("o-auth", "10.00", "CNY")).await;
    let work = app.wait_for("order.capture", "order.capture", |_| true).await;
    assert_eq!(work.envelope.payload["op"], "capture");
    assert_eq!(work.envelope.payload["amount"], json!({"amount_minor": 1000, "currency": "CNY"}));

    // Once the dispatcher committed it, the same capture is a repeat, another amount a conflict.
    set(
        "UPDATE payments SET state = 'capturing', capture_requested_minor = 1000 WHERE merchant_order_no = $1",
        "o-auth",
    )
    .await;
    app.publish(&capture("o-auth", "10.00", "CNY")).await;
    app.wait_for("order.report", "order.report", |_| true).await;
    let other = capture("o-auth", "12.34", "CNY");
    app.publish(&other).await;
    let rejected = app.rejection_of(&other).await;
    assert_eq!(
        message(&rejected),
        "amount: idempotency conflict: the payment was captured for 10.00 CNY already (a payment is captured once)"
    );
    let late_void = void("o-auth");
    app.publish(&late_void).await;
    assert!(
        message(&app.rejection_of(&late_void).await)
            .starts_with("merchant_order_no: the payment is capturing")
    );

    // A void of another authorisation is routed with its reason.
    app.publish(&manual("o-void", "mockpay")).await;
    paygate_test_support::eventually("the second payment", support::WITHIN, || async {
        app.count("SELECT count(*) FROM payments WHERE merchant_order_no = 'o-void'").await == 1
    })
    .await;
    set("UPDATE payments SET state = 'authorized' WHERE merchant_order_no = $1", "o-void").await;
    app.publish(&void("o-void")).await;
    let work = app.wait_for("order.void", "order.void", |_| true).await;
    assert_eq!(work.envelope.payload["reason"], "requested");
    assert_eq!(app.count("SELECT count(*) FROM refunds").await, 0);
    app.stop().await;
}
