//! The webhook for the real providers' notifications, against the real servers, with
//! notify-handler in-process configured for Alipay and WeChat Pay (throwaway keys from the SDK
//! vectors in tests/vectors) and the test playing each provider: a genuine notification is stored,
//! forwarded to its order's shard and acknowledged in the provider's own format (Alipay: the body
//! `success`; WeChat Pay: 204 and no body); a tampered one is refused in that format and kept as
//! rejected, and nothing is forwarded for it. Stripe, whose endpoint URL is fixed, posts to
//! `/notify/stripe` (no trade number in the path: the verified event names it).

mod support;

use notify_handler::configuration::Cli;
use notify_handler::startup::Application;
use paygate::broker::envelope::Envelope;
use paygate::domain::{Currency, Money};
use paygate::messages::orders::OrderWork;
use paygate::providers::adapter::trade_no;
use paygate::providers::alipay::signing::{AppPrivateKey, notification_check_string};
use paygate::providers::wechatpay::notification::{Envelope as WechatEnvelope, seal_resource};
use paygate::providers::wechatpay::signing::{ApiV3Key, MerchantKey, response_message};
use paygate::runtime::entrypoint::Service;
use paygate::store::notifications;
use paygate::store::payments::{self, NewPayment};
use paygate_test_support::{TestDb, TestVhost};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(20);
const ALIPAY_VECTORS: &str = include_str!("../../../tests/vectors/alipay/vectors.json");
/// A throwaway test-only webhook signing secret.
const STRIPE_SECRET: &str = "whsec_test_only_notify_handler";
const WECHAT_VECTORS: &str = include_str!("../../../tests/vectors/wechatpay/vectors.json");

fn vectors(text: &str) -> Value {
    serde_json::from_str(text).expect("the committed vectors parse")
}

fn text(v: &Value, path: &[&str]) -> String {
    path.iter().fold(v, |v, k| &v[*k]).as_str().unwrap_or_else(|| panic!("vectors: {path:?}")).to_owned()
}

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
        let (alipay, wechat) = (vectors(ALIPAY_VECTORS), vectors(WECHAT_VECTORS));
        let db = TestDb::new().await;
        let vhost = TestVhost::new().await;
        let settings = [
            format!("PAYGATE_PROVIDER_ALIPAY_APP_ID={}", text(&alipay, &["app_id"])),
            format!("PAYGATE_PROVIDER_ALIPAY_SELLER_ID={}", text(&alipay, &["seller_id"])),
            format!(
                "PAYGATE_PROVIDER_ALIPAY_APP_PRIVATE_KEY={}",
                text(&alipay, &["keys", "app", "private_pkcs8_pem"])
            ),
            format!(
                "PAYGATE_PROVIDER_ALIPAY_ALIPAY_PUBLIC_KEY={}",
                text(&alipay, &["keys", "alipay", "public_spki_pem"])
            ),
            format!("PAYGATE_PROVIDER_WECHATPAY_MCHID={}", text(&wechat, &["mchid"])),
            format!("PAYGATE_PROVIDER_WECHATPAY_APPID={}", text(&wechat, &["appid"])),
            format!(
                "PAYGATE_PROVIDER_WECHATPAY_MERCHANT_SERIAL={}",
                text(&wechat, &["merchant", "serial_no"])
            ),
            format!(
                "PAYGATE_PROVIDER_WECHATPAY_MERCHANT_KEY={}",
                text(&wechat, &["merchant", "private_key_pkcs8_pem"])
            ),
            format!(
                "PAYGATE_PROVIDER_WECHATPAY_PLATFORM_SERIAL={}",
                wechat["platform"][0]["serial"].as_str().unwrap()
            ),
            format!(
                "PAYGATE_PROVIDER_WECHATPAY_PLATFORM_KEY={}",
                wechat["platform"][0]["public_key_pem"].as_str().unwrap()
            ),
            format!("PAYGATE_PROVIDER_WECHATPAY_APIV3_KEY={}", text(&wechat, &["apiv3_key"])),
            "PAYGATE_PROVIDER_STRIPE_SECRET_KEY=sk_test_notify_handler_only".to_owned(),
            format!("PAYGATE_PROVIDER_STRIPE_WEBHOOK_SECRET={STRIPE_SECRET}"),
            "PAYGATE_PROVIDER_STRIPE_ACCOUNT=acct_test".to_owned(),
        ];
        let mut args: Vec<String> = [
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
            "alipay,wechatpay,stripe",
        ]
        .map(str::to_owned)
        .to_vec();
        for s in settings {
            args.extend(["--provider-setting".to_owned(), s]);
        }
        let cli = <Cli as clap::Parser>::try_parse_from(args).expect("a valid configuration");
        let app = Application::build(cli.config).await.expect("notify-handler starts");
        let base = format!("http://{}", app.local_addr());
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move { app.run_until_stopped(token).await });
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let harness = Self { base, db, vhost, stop, task, http };
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

    async fn payment(&self, provider: &str, amount_minor: i64) -> Uuid {
        let id = Uuid::now_v7();
        let new = NewPayment {
            capture_mode: Default::default(),
            id,
            merchant_id: "m-1".parse().unwrap(),
            merchant_order_no: format!("o-{id}"),
            provider: provider.parse().unwrap(),
            pay_method: "qr".parse().unwrap(),
            order_type: "retail".into(),
            amount: Money::from_minor(amount_minor, Currency::CNY).unwrap(),
            subject: "test".into(),
            return_url: None,
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

    async fn post(&self, path: &str, headers: &[(&str, String)], body: String) -> (u16, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.expect("the webhook answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn rows(&self) -> Vec<notifications::Row> {
        let mut conn = self.db.pool.acquire().await.unwrap();
        notifications::all(&mut conn).await.unwrap()
    }

    /// The next `count` messages on the order shards.
    async fn shard_messages(&self, count: usize) -> Vec<Envelope<Value>> {
        support::shard_messages(&self.vhost.amqp_url, 2, count, WITHIN).await
    }
}

/// An Alipay trade notification for `trade` (form-encoded, RSA2-signed with Alipay's key).
fn alipay_notification(trade: &str, total: &str, tamper: impl Fn(&mut Vec<(String, String)>)) -> String {
    let v = vectors(ALIPAY_VECTORS);
    let now = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    let time = now.format("%Y-%m-%d %H:%M:%S").to_string();
    let mut params: Vec<(String, String)> = [
        ("notify_time", time.as_str()),
        ("notify_type", "trade_status_sync"),
        ("notify_id", &format!("ntf-{trade}")),
        ("app_id", &text(&v, &["app_id"])),
        ("seller_id", &text(&v, &["seller_id"])),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("trade_no", "2026120722001400001000000001"),
        ("out_trade_no", trade),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", total),
        ("receipt_amount", total),
        ("subject", "测试商品 & more+"),
        ("gmt_create", time.as_str()),
        ("gmt_payment", time.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let alipay = AppPrivateKey::from_pem(&text(&v, &["keys", "alipay", "private_pkcs1_pem"])).unwrap();
    let sign = alipay.sign(&notification_check_string(&params).unwrap()).unwrap();
    params.push(("sign_type".into(), "RSA2".into()));
    params.push(("sign".into(), sign));
    tamper(&mut params);
    form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish()
}

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alipay_notification_is_stored_forwarded_and_answered_success_and_a_tampered_one_refused() {
    let h = Harness::start().await;
    let payment = h.payment("alipay", 8888).await;
    let trade = trade_no(payment);
    let path = format!("/notify/alipay/{trade}");
    let form = [("Content-Type", FORM.to_owned())];

    // Tampered after signing: the amount raised. Refused in Alipay's way (not `success`, so
    // Alipay would retry a genuine one), kept as rejected, and not forwarded.
    let tampered = alipay_notification(&trade, "88.88", |p| {
        p.iter_mut().find(|(k, _)| k == "total_amount").unwrap().1 = "0.01".into();
    });
    let (status, answer) = h.post(&path, &form, tampered).await;
    assert_eq!(status, 401, "{answer}");
    assert_ne!(answer, "success");
    let rows = h.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status.as_str(), "rejected");
    assert!(rows[0].reason.as_deref().unwrap_or("").starts_with("bad_signature"), "{:?}", rows[0]);

    let genuine = alipay_notification(&trade, "88.88", |_| {});
    let (status, answer) = h.post(&path, &form, genuine.clone()).await;
    assert_eq!((status, answer.as_str()), (200, "success"), "Alipay's acknowledgement is the exact body");
    let rows = h.rows().await;
    let stored = rows.iter().find(|r| r.status.as_str() == "received").expect("the genuine one is stored");
    assert_eq!(stored.payment_id, Some(payment));
    assert_eq!(stored.body, genuine, "the raw body is kept byte for byte");
    let messages = h.shard_messages(1).await;
    let work: OrderWork = messages[0].decode_payload().unwrap();
    assert_eq!(work, OrderWork::Notification { payment_id: payment, notification_id: stored.id });
    h.stop().await;
}

/// A WeChat Pay notification body for `trade` (its transaction sealed with the APIv3 key) and its
/// signed headers (signed with the platform key the vectors hold for tests), at `timestamp`.
fn wechat_notification(trade: &str, total: i64, timestamp: i64) -> (String, Vec<(&'static str, String)>) {
    let v = vectors(WECHAT_VECTORS);
    let transaction = json!({
        "mchid": text(&v, &["mchid"]), "appid": text(&v, &["appid"]), "out_trade_no": trade,
        "transaction_id": "4200002345202612075536890123", "trade_type": "NATIVE", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
        "success_time": "2026-12-07T08:00:05+08:00", "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}
    });
    let key = ApiV3Key::new(&text(&v, &["apiv3_key"])).unwrap();
    let envelope = WechatEnvelope {
        id: format!("EV-{trade}"),
        create_time: "2026-12-07T08:00:06+08:00".into(),
        resource_type: "encrypt-resource".into(),
        event_type: "TRANSACTION.SUCCESS".into(),
        summary: "支付成功".into(),
        resource: seal_resource(&key, "transaction", &transaction.to_string(), "0123456789ab", "transaction"),
    };
    let body = serde_json::to_string(&envelope).unwrap();
    let platform = &v["platform"][0];
    let serial = platform["serial"].as_str().unwrap();
    let signer =
        MerchantKey::from_pem(serial, platform["private_key_pkcs8_pem_test_only"].as_str().unwrap()).unwrap();
    let (timestamp, nonce) = (timestamp.to_string(), "n0nce-for-the-test".to_owned());
    let signature = signer.sign(&response_message(&timestamp, &nonce, body.as_bytes()));
    let headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("Wechatpay-Serial", serial.to_owned()),
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048".to_owned()),
    ];
    (body, headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wechat_pay_notification_is_stored_forwarded_and_answered_204_and_forged_or_stale_ones_fail() {
    let h = Harness::start().await;
    let payment = h.payment("wechatpay", 1999).await;
    let trade = trade_no(payment);
    let path = format!("/notify/wechatpay/{trade}");
    let now = chrono::Utc::now().timestamp();

    // Tampered: the signed body with one byte of the ciphertext changed.
    let (body, headers) = wechat_notification(&trade, 1999, now);
    let tampered = body.replacen("\"ciphertext\":\"", "\"ciphertext\":\"A", 1);
    let (status, answer) = h.post(&path, &headers, tampered).await;
    assert_eq!(status, 401, "{answer}");
    let failure: Value = serde_json::from_str(&answer).expect("a JSON failure body");
    assert_eq!(failure["code"], "FAIL", "WeChat Pay's failure shape: {answer}");
    // Genuine but signed ten minutes ago: a replay outside the 300 s window.
    let (stale, stale_headers) = wechat_notification(&trade, 1999, now - 600);
    let (status, answer) = h.post(&path, &stale_headers, stale).await;
    assert_eq!(status, 401, "{answer}");
    let rows = h.rows().await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status.as_str() == "rejected"), "{rows:?}");

    let (status, answer) = h.post(&path, &headers, body.clone()).await;
    assert!(matches!(status, 200 | 204), "WeChat Pay's acknowledgement: {status} {answer}");
    assert_eq!(answer, "", "acknowledged with no body");
    let rows = h.rows().await;
    let stored = rows.iter().find(|r| r.status.as_str() == "received").expect("the genuine one is stored");
    assert_eq!(stored.payment_id, Some(payment));
    assert_eq!(stored.body, body);
    let messages = h.shard_messages(1).await;
    let work: OrderWork = messages[0].decode_payload().unwrap();
    assert_eq!(work, OrderWork::Notification { payment_id: payment, notification_id: stored.id });
    h.stop().await;
}

/// A Stripe event about `trade`, signed at `t` with `secret`: the body and its `Stripe-Signature`.
fn stripe_event(trade: &str, amount: i64, t: i64, secret: &str) -> (String, Vec<(&'static str, String)>) {
    use paygate::providers::stripe::signing::{Secret, header, sign};
    let body = json!({
        "id": format!("evt_{}", &trade[..16]), "object": "event", "type": "payment_intent.succeeded",
        "created": t, "livemode": false,
        "data": {"object": {"id": "pi_test", "object": "payment_intent", "amount": amount, "currency": "cny",
            "status": "succeeded", "metadata": {"trade_no": trade}}},
    })
    .to_string();
    let signature = header(t, &[sign(&Secret::new(secret), t, body.as_bytes())]);
    (
        body,
        vec![("Content-Type", "application/json; charset=utf-8".to_owned()), ("Stripe-Signature", signature)],
    )
}

#[tokio::test]
async fn a_stripe_event_on_the_fixed_endpoint_is_stored_under_the_trade_number_it_names() {
    let h = Harness::start().await;
    let payment = h.payment("stripe", 1999).await;
    let trade = trade_no(payment);
    let now = chrono::Utc::now().timestamp();

    // Signed with another secret: refused, kept as rejected.
    let (body, forged) = stripe_event(&trade, 1999, now, "whsec_someone_else");
    let (status, answer) = h.post("/notify/stripe", &forged, body.clone()).await;
    assert_eq!(status, 401, "{answer}");
    // Genuine, on the fixed endpoint: stored for the payment the event names, forwarded, {}.
    let (body, headers) = stripe_event(&trade, 1999, now, STRIPE_SECRET);
    let (status, answer) = h.post("/notify/stripe", &headers, body.clone()).await;
    assert_eq!((status, answer.as_str()), (200, "{}"), "Stripe's acknowledgement");
    let rows = h.rows().await;
    let stored = rows.iter().find(|r| r.status.as_str() == "received").expect("the genuine one is stored");
    assert_eq!(stored.payment_id, Some(payment));
    let messages = h.shard_messages(1).await;
    let work: OrderWork = messages[0].decode_payload().unwrap();
    assert_eq!(work, OrderWork::Notification { payment_id: payment, notification_id: stored.id });
    // The path form still checks the path against the body.
    let other = trade_no(Uuid::now_v7());
    let (status, answer) = h.post(&format!("/notify/stripe/{other}"), &headers, body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("path_mismatch"), "{answer}");
    h.stop().await;
}
