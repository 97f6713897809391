//! The WeChat Pay adapter's flow against an in-test HTTP server (axum) that answers like WeChat
//! Pay API v3, its answers signed with a throwaway test key (the merchant key of
//! tests/vectors/wechatpay, standing in for WeChat Pay's platform key here): Native, JSAPI and H5
//! creates, each class of error, a bad signature and a timeout (UNKNOWN), not-found, close,
//! refund PROCESSING, refund query, the trade bill with its hash, and the redaction of the
//! Authorization header. No network, no database.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use paygate::domain::Payer;
use paygate::domain::{Currency, Money};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::bill::{BillError, BillItem};
use paygate::providers::http::REDACTED;
use paygate::providers::wechatpay::signing::{self, ApiV3Key, MerchantKey, PlatformKeys};
use paygate::providers::wechatpay::{WechatpayAdapter, WechatpayConfig};
use paygate::providers::{
    CallOutcome, PayRequest, PaymentStatus, ProviderAdapter, RefundRequest, RefundStatus, UnifiedCode,
};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const VECTORS: &str = include_str!("../../tests/vectors/wechatpay/vectors.json");
const SERIAL: &str = "TEST_PLATFORM_SERIAL";
const TRADE_NO: &str = "0190a1b2c3d4e5f60718293a4b5c6d7e";
const REFUND_NO: &str = "0190a1b2c3d4e5f60718293a4b5c6d7f";

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

/// How the server signs a canned answer.
#[derive(Clone, Copy, PartialEq)]
enum Sign {
    Good,
    Bad,
}

#[derive(Clone)]
struct Canned {
    status: u16,
    body: String,
    sign: Sign,
    delay: Duration,
}

/// A request the server got: method, URI, headers, body.
type Seen = (String, String, HeaderMap, String);

#[derive(Clone, Default)]
struct Server {
    answers: Arc<Mutex<HashMap<String, Canned>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    key: Arc<Mutex<Option<MerchantKey>>>,
}

impl Server {
    fn answer(&self, method: &str, path: &str, status: u16, body: Value) {
        let body = if body.is_null() { String::new() } else { body.to_string() };
        self.canned(method, path, Canned { status, body, sign: Sign::Good, delay: Duration::ZERO });
    }

    fn canned(&self, method: &str, path: &str, c: Canned) {
        self.answers.lock().unwrap().insert(format!("{method} {path}"), c);
    }
}

async fn handle(
    State(s): State<Server>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    s.seen.lock().unwrap().push((method.to_string(), uri.to_string(), headers, body));
    let canned = s.answers.lock().unwrap().get(&format!("{method} {}", uri.path())).cloned();
    let Some(c) = canned else { return (StatusCode::NOT_IMPLEMENTED, "no canned answer").into_response() };
    tokio::time::sleep(c.delay).await;
    let ts = chrono::Utc::now().timestamp().to_string();
    let nonce = "SERVERNONCE0001";
    let key = s.key.lock().unwrap().clone().unwrap();
    let mut signature = key.sign(&signing::response_message(&ts, nonce, c.body.as_bytes()));
    if c.sign == Sign::Bad {
        signature = key.sign(b"something else");
    }
    let mut response = (StatusCode::from_u16(c.status).unwrap(), c.body).into_response();
    let h = response.headers_mut();
    h.insert("Wechatpay-Serial", SERIAL.parse().unwrap());
    h.insert("Wechatpay-Timestamp", ts.parse().unwrap());
    h.insert("Wechatpay-Nonce", nonce.parse().unwrap());
    h.insert("Wechatpay-Signature", signature.parse().unwrap());
    h.insert("Content-Type", "application/json".parse().unwrap());
    response
}

struct Setup {
    server: Server,
    adapter: WechatpayAdapter,
    base: String,
}

async fn setup() -> Setup {
    let v = vectors();
    let pem = v["merchant"]["private_key_pkcs8_pem"].as_str().unwrap();
    let merchant = MerchantKey::from_pem(v["merchant"]["serial_no"].as_str().unwrap(), pem).unwrap();
    // The server signs with a throwaway key; we hold its public half as the platform key.
    let server_key = MerchantKey::from_pem(SERIAL, pem).unwrap();
    let public_pem = rsa::PrivateKey::from_pkcs8_pem(pem)
        .unwrap()
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let mut platform = PlatformKeys::new();
    platform.insert_pem(SERIAL, &public_pem).unwrap();
    let server = Server::default();
    *server.key.lock().unwrap() = Some(server_key);
    let app = Router::new().fallback(handle).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = WechatpayConfig::new(
        v["mchid"].as_str().unwrap(),
        v["appid"].as_str().unwrap(),
        merchant,
        platform,
        ApiV3Key::new(v["apiv3_key"].as_str().unwrap()).unwrap(),
    );
    config.base_url = base.clone();
    // Long enough for a signed answer on a loaded CI machine (debug RSA), short for a test.
    config.request_timeout = Duration::from_secs(5);
    config.notify_url = Some("https://paygate.example/notify/wechatpay".into());
    Setup { server, adapter: WechatpayAdapter::new(config).unwrap(), base }
}

fn cny(fen: i64) -> Money {
    Money::from_minor(fen, Currency::CNY).unwrap()
}

fn pay_request(method: PayMethod) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        trade_no: TRADE_NO.into(),
        amount: cny(1999),
        subject: "测试商品".into(),
        pay_method: method,
        notify_url: None,
        return_url: None,
        expires_at: None,
        auth_code: None,
        payer: Default::default(),
    }
}

fn refund_request() -> RefundRequest {
    RefundRequest {
        trade_no: TRADE_NO.into(),
        refund_trade_no: REFUND_NO.into(),
        amount: cny(500),
        payment_amount: cny(1999),
        reason: None,
        notify_url: None,
    }
}

fn refund_answer(status: &str) -> Value {
    json!({"refund_id": "50000000382019052709732678859", "out_refund_no": REFUND_NO, "transaction_id": "4200000001",
           "out_trade_no": TRADE_NO, "channel": "ORIGINAL", "status": status, "create_time": "2026-01-01T10:00:00+08:00",
           "amount": {"total": 1999, "refund": 500, "payer_total": 1999, "payer_refund": 500, "currency": "CNY"}})
}

#[tokio::test]
async fn a_native_pay_is_signed_answered_with_a_qr_code_and_logged_redacted() {
    let s = setup().await;
    s.server.answer(
        "POST",
        "/v3/pay/transactions/native",
        200,
        json!({"code_url": "weixin://wxpay/bizpayurl?pr=abc"}),
    );
    let called = s.adapter.pay(&pay_request(PayMethod::Qr)).await;
    let CallOutcome::Answer { facts, code } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(facts.status, PaymentStatus::WaitingForCustomer);
    assert_eq!(
        facts.action,
        Some(CustomerAction::QrCode { qr_code: "weixin://wxpay/bizpayurl?pr=abc".into() })
    );
    assert_eq!(code.unified, UnifiedCode::Success);
    // The request: our JSON in fen, with an Authorization that verifies under the merchant key.
    let seen = s.server.seen.lock().unwrap().clone();
    let (method, uri, headers, body) = &seen[0];
    let sent: Value = serde_json::from_str(body).unwrap();
    assert_eq!(sent["amount"], json!({"total": 1999, "currency": "CNY"}));
    assert_eq!(sent["notify_url"], "https://paygate.example/notify/wechatpay");
    let auth = headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\""), "{auth}");
    let param =
        |k: &str| auth.split(&format!("{k}=\"")).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let message =
        signing::request_message(method, uri, param("timestamp").parse().unwrap(), &param("nonce_str"), body);
    let v = vectors();
    let public = rsa::PrivateKey::from_pkcs8_pem(v["merchant"]["private_key_pkcs8_pem"].as_str().unwrap())
        .unwrap()
        .to_public_key();
    let sig = base64::engine::general_purpose::STANDARD.decode(param("signature")).unwrap();
    public.pkcs1v15_verify::<sha2::Sha256>(message.as_bytes(), &sig).expect("our request signature verifies");
    // The exchange log never sees it.
    assert_eq!(called.exchange.request_headers["authorization"], REDACTED);
    assert!(!serde_json::to_string(&called.exchange.request_headers).unwrap().contains(&param("signature")));
}

#[tokio::test]
async fn jsapi_gives_the_clients_signed_parameters_and_needs_the_openid() {
    let s = setup().await;
    s.server.answer("POST", "/v3/pay/transactions/jsapi", 200, json!({"prepay_id": "wx2014102720093955"}));
    let refused = s.adapter.pay(&pay_request(PayMethod::ClientSecret)).await;
    let CallOutcome::Refused { code } = &refused.outcome else { panic!("{:?}", refused.outcome) };
    assert!(code.message.starts_with("payer.openid:"), "{}", code.message);
    assert!(s.server.seen.lock().unwrap().is_empty(), "nothing was sent");
    let payer = Payer { openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()), client_ip: None };
    let called = s.adapter.pay(&PayRequest { payer, ..pay_request(PayMethod::ClientSecret) }).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    let Some(CustomerAction::ClientSecret { client_secret, .. }) = &facts.action else { panic!("{facts:?}") };
    let params: Value = serde_json::from_str(client_secret).unwrap();
    assert_eq!(params["package"], "prepay_id=wx2014102720093955");
    assert_eq!(
        (params["appId"].as_str(), params["signType"].as_str()),
        (Some("wxd678efh567hg6787"), Some("RSA"))
    );
    assert!(params["paySign"].as_str().is_some_and(|s| !s.is_empty()));
}

#[tokio::test]
async fn h5_redirects_to_the_h5_url() {
    let s = setup().await;
    s.server.answer(
        "POST",
        "/v3/pay/transactions/h5",
        200,
        json!({"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?x=1"}),
    );
    let refused = s.adapter.pay(&pay_request(PayMethod::Redirect)).await;
    let CallOutcome::Refused { code } = &refused.outcome else { panic!("{:?}", refused.outcome) };
    assert!(code.message.starts_with("payer.client_ip: is required for a redirect (H5)"), "{}", code.message);
    let payer = Payer { openid: None, client_ip: Some("203.0.113.7".parse().unwrap()) };
    let called = s.adapter.pay(&PayRequest { payer, ..pay_request(PayMethod::Redirect) }).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert!(matches!(&facts.action, Some(CustomerAction::Redirect { url, .. }) if url.contains("checkmweb")));
}

#[tokio::test]
async fn each_error_class_reads_as_the_table_says() {
    let cases: [(u16, &str, &str); 7] = [
        (400, "PARAM_ERROR", "refused"),
        (401, "SIGN_ERROR", "refused"),
        (403, "OUT_TRADE_NO_USED", "refused"),
        (403, "NO_AUTH", "refused"),
        (429, "FREQUENCY_LIMITED", "retry_later"),
        (500, "SYSTEM_ERROR", "unknown"),
        (400, "A_CODE_NOBODY_DOCUMENTED", "unknown"),
    ];
    let s = setup().await;
    for (status, code, expected) in cases {
        s.server.answer("POST", "/v3/pay/transactions/native", status, json!({"code": code, "message": "m"}));
        let called = s.adapter.pay(&pay_request(PayMethod::Qr)).await;
        let got = match &called.outcome {
            CallOutcome::Refused { .. } => "refused",
            CallOutcome::RetryLater { .. } => "retry_later",
            CallOutcome::Unknown { .. } => "unknown",
            CallOutcome::Answer { .. } => "answer",
        };
        assert_eq!(got, expected, "{status} {code}: {:?}", called.outcome);
        assert_eq!(called.exchange.response_status, Some(status));
    }
    let called = s.adapter.pay(&pay_request(PayMethod::Qr)).await;
    assert_eq!(called.outcome.code().unwrap().unified, UnifiedCode::UnknownCode);
    s.server.answer(
        "POST",
        "/v3/refund/domestic/refunds",
        403,
        json!({"code": "NOT_ENOUGH", "message": "余额不足"}),
    );
    let called = s.adapter.refund(&refund_request()).await;
    let CallOutcome::Refused { code } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(code.unified, UnifiedCode::DeclinedInsufficientFunds);
}

#[tokio::test]
async fn a_bad_signature_is_unknown_never_success() {
    let s = setup().await;
    let body = json!({"code_url": "weixin://wxpay/bizpayurl?pr=forged"}).to_string();
    s.server.canned(
        "POST",
        "/v3/pay/transactions/native",
        Canned { status: 200, body, sign: Sign::Bad, delay: Duration::ZERO },
    );
    let called = s.adapter.pay(&pay_request(PayMethod::Qr)).await;
    let CallOutcome::Unknown { reason, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert!(reason.contains("signature"), "{reason}");
    // A signed "not found" that does not verify is not believed either.
    let path = format!("/v3/pay/transactions/out-trade-no/{TRADE_NO}");
    let body = json!({"code": "ORDER_NOT_EXIST", "message": "m"}).to_string();
    s.server.canned("GET", &path, Canned { status: 404, body, sign: Sign::Bad, delay: Duration::ZERO });
    let called = s.adapter.query(TRADE_NO, Currency::CNY).await;
    assert!(matches!(called.outcome, CallOutcome::Unknown { .. }), "{:?}", called.outcome);
}

#[tokio::test]
async fn a_timeout_is_unknown() {
    let s = setup().await;
    let body = json!({"code_url": "weixin://late"}).to_string();
    s.server.canned(
        "POST",
        "/v3/pay/transactions/native",
        Canned { status: 200, body, sign: Sign::Good, delay: Duration::from_secs(60) },
    );
    let called = s.adapter.pay(&pay_request(PayMethod::Qr)).await;
    let CallOutcome::Unknown { code, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(code.as_ref().unwrap().unified, UnifiedCode::Timeout);
}

#[tokio::test]
async fn query_finds_a_paid_order_or_none_and_close_closes() {
    let s = setup().await;
    let path = format!("/v3/pay/transactions/out-trade-no/{TRADE_NO}");
    s.server.answer("GET", &path, 404, json!({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}));
    let called = s.adapter.query(TRADE_NO, Currency::CNY).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(facts.status, PaymentStatus::NotFound);
    assert!(called.exchange.request_url.ends_with("?mchid=1900000109"), "{}", called.exchange.request_url);
    s.server.answer("GET", &path, 200, json!({
        "appid": "wxd678efh567hg6787", "mchid": "1900000109", "out_trade_no": TRADE_NO, "transaction_id": "4200000001",
        "trade_type": "NATIVE", "trade_state": "SUCCESS", "success_time": "2026-01-01T10:00:05+08:00",
        "amount": {"total": 1999, "payer_total": 1999, "currency": "CNY", "payer_currency": "CNY"}
    }));
    let called = s.adapter.query(TRADE_NO, Currency::CNY).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!((facts.status.clone(), facts.amount), (PaymentStatus::Succeeded, Some(cny(1999))));
    assert_eq!(facts.provider_txn_id.as_deref(), Some("4200000001"));
    s.server.answer("POST", &format!("{path}/close"), 204, Value::Null);
    let called = s.adapter.close(TRADE_NO, Currency::CNY).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(facts.status, PaymentStatus::Closed);
}

#[tokio::test]
async fn a_refund_is_processing_then_queried() {
    let s = setup().await;
    assert!(s.adapter.refunds_are_asynchronous());
    s.server.answer("POST", "/v3/refund/domestic/refunds", 200, refund_answer("PROCESSING"));
    let called = s.adapter.refund(&refund_request()).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!((facts.status, facts.amount), (RefundStatus::Processing, Some(cny(500))));
    let sent: Value = serde_json::from_str(&s.server.seen.lock().unwrap()[0].3).unwrap();
    assert_eq!(sent["amount"], json!({"refund": 500, "total": 1999, "currency": "CNY"}));
    let path = format!("/v3/refund/domestic/refunds/{REFUND_NO}");
    s.server.answer("GET", &path, 200, refund_answer("SUCCESS"));
    let called = s.adapter.refund_query(TRADE_NO, REFUND_NO, Currency::CNY).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(facts.status, RefundStatus::Succeeded);
    s.server.answer("GET", &path, 404, json!({"code": "RESOURCE_NOT_EXISTS", "message": "m"}));
    let called = s.adapter.refund_query(TRADE_NO, REFUND_NO, Currency::CNY).await;
    let CallOutcome::Answer { facts, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(facts.status, RefundStatus::NotFound);
}

#[tokio::test]
async fn the_trade_bill_is_downloaded_and_its_hash_checked() {
    use futures_util::StreamExt;
    use sha1::Digest;
    let s = setup().await;
    let file = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n\
`2026-01-01 10:00:05,`wxd678efh567hg6787,`1900000109,`0,`,`4200000001,`t1,`oUser,`NATIVE,`SUCCESS,`OTHERS,`CNY,`19.99,`0.00,`0,`0,`0.00,`0.00,`,`,`coffee,`,`0.12,`0.60%,`19.99,`0.00,`\r\n\
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n\
`1,`19.99,`0.00,`0.00,`0.12,`19.99,`0.00\r\n";
    let hash = hex::encode(sha1::Sha1::digest(file.as_bytes()));
    let download_url = format!("{}/v3/billdownload/file?token=abc", s.base);
    let serve = |hash: &str| {
        s.server.answer(
            "GET",
            "/v3/bill/tradebill",
            200,
            json!({"hash_type": "SHA1", "hash_value": hash, "download_url": download_url}),
        );
        s.server.canned(
            "GET",
            "/v3/billdownload/file",
            Canned { status: 200, body: file.to_owned(), sign: Sign::Good, delay: Duration::ZERO },
        );
    };
    serve(&hash);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let download = s.adapter.bill(day).await.unwrap();
    let items: Vec<_> = download.items.collect().await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(matches!(&items[0], Ok(BillItem::Line(l)) if l.amount_minor == 1999 && l.trade_no == "t1"));
    assert!(
        s.server
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, uri, _, _)| uri == "/v3/bill/tradebill?bill_date=2026-01-01&bill_type=ALL")
    );
    serve(&"0".repeat(40));
    let items: Vec<_> = s.adapter.bill(day).await.unwrap().items.collect().await;
    assert!(matches!(items.last(), Some(Err(BillError::Line { field: "hash_value", .. }))), "{items:?}");
    assert!(s.adapter.settlement(day).await.is_err(), "the fund-flow bill is not read yet");
}
