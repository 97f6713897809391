//! The Alipay adapter against an in-test gateway (axum) that checks our RSA2 request signature
//! and answers with responses signed by the test-only "Alipay" key of tests/vectors/alipay:
//! success, in process, each class of error, a bad signature and a timeout (both UNKNOWN), and
//! no such trade.

use axum::Router;
use axum::routing::post;
use paygate::domain::{AuthCode, Currency, Money};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::alipay::signing::{self, AlipayPublicKey, AppPrivateKey};
use paygate::providers::alipay::{AlipayAdapter, AlipayConfig};
use paygate::providers::exchange::ExchangeOutcome;
use paygate::providers::http::REDACTED;
use paygate::providers::{
    CallOutcome, PayRequest, PaymentStatus, ProviderAdapter, RefundRequest, RefundStatus, UnifiedCode,
};
use std::time::Duration;

const APP_ID: &str = "2021000000000001";

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../tests/vectors/alipay/vectors.json")).unwrap()
}

fn key(who: &str, form: &str) -> String {
    vectors()["keys"][who][form].as_str().unwrap().to_owned()
}

/// The gateway's answer to one request: the `*_response` object, signed by `signer`.
fn signed_answer(method: &str, content: &str, signer: &AppPrivateKey) -> String {
    let sign = signer.sign(content).unwrap();
    format!(r#"{{"{}":{content},"sign":"{sign}"}}"#, signing::response_key(method))
}

/// A payment code of Alipay's form (18 digits starting with 28).
const AUTH_CODE: &str = "281234567890123456";

fn barcode(trade_no: &str, auth_code: Option<&str>) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        auth_code: auth_code.map(|c| AuthCode::parse(c).unwrap()),
        ..pay(trade_no, PayMethod::Barcode)
    }
}

async fn gateway(body: String) -> String {
    let params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    // Our request must verify with the app's public key, as Alipay checks it.
    let app_public = AlipayPublicKey::from_pem(&key("app", "public_spki_pem")).unwrap();
    let canonical = signing::canonical_request(&params).unwrap();
    app_public.verify(canonical.as_bytes(), &get("sign")).expect("the request is signed with the app key");
    let method = get("method");
    let biz: serde_json::Value = serde_json::from_str(&get("biz_content")).unwrap();
    let trade = biz["out_trade_no"].as_str().unwrap().to_owned();
    if method == "alipay.trade.pay" {
        // The customer's payment code arrives as Alipay reads it, with the barcode scene.
        assert_eq!((biz["auth_code"].as_str(), biz["scene"].as_str()), (Some(AUTH_CODE), Some("bar_code")));
    }
    let alipay = AppPrivateKey::from_pem(&key("alipay", "private_pkcs1_pem")).unwrap();
    let business = |sub: &str| {
        format!(
            r#"{{"code":"40004","msg":"Business Failed","sub_code":"{sub}","sub_msg":"x","out_trade_no":"{trade}"}}"#
        )
    };
    let content = match (trade.as_str(), method.as_str()) {
        ("slow", _) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            r#"{"code":"10000","msg":"Success"}"#.to_owned()
        }
        ("badsig", _) => {
            let wrong = AppPrivateKey::from_pem(&key("app", "private_pkcs1_pem")).unwrap();
            let content = format!(r#"{{"code":"10000","msg":"Success","out_trade_no":"{trade}","qr_code":"https://qr/x"}}"#);
            return signed_answer(&method, &content, &wrong);
        }
        ("unavailable", _) => r#"{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error","sub_msg":"系统繁忙"}"#.to_owned(),
        ("system", _) => business("ACQ.SYSTEM_ERROR"),
        ("invalid", _) => r#"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}"#.to_owned(),
        ("forbidden", _) => r#"{"code":"40006","msg":"Insufficient Permissions","sub_code":"isv.insufficient-isv-permissions","sub_msg":"ISV权限不足"}"#.to_owned(),
        ("missing", "alipay.trade.query") => business("ACQ.TRADE_NOT_EXIST"),
        ("poor", "alipay.trade.pay") => business("ACQ.BUYER_BALANCE_NOT_ENOUGH"),
        ("confirming", "alipay.trade.pay") => format!(
            r#"{{"code":"10003","msg":"order success pay inprocess","trade_no":"2026010122001","out_trade_no":"{trade}","total_amount":"88.88"}}"#
        ),
        ("paid", "alipay.trade.query") => format!(
            r#"{{"code":"10000","msg":"Success","trade_no":"2026010122001","out_trade_no":"{trade}","trade_status":"TRADE_SUCCESS","total_amount":"88.88","send_pay_date":"2026-01-01 10:00:00"}}"#
        ),
        ("paid", "alipay.trade.refund") => format!(
            r#"{{"code":"10000","msg":"Success","trade_no":"2026010122001","out_trade_no":"{trade}","fund_change":"Y","refund_fee":"10.00"}}"#
        ),
        ("paid", "alipay.trade.fastpay.refund.query") => format!(
            r#"{{"code":"10000","msg":"Success","out_trade_no":"{trade}","out_request_no":"{}","refund_amount":"10.00"}}"#,
            biz["out_request_no"].as_str().unwrap()
        ),
        ("paid", "alipay.trade.close") => business("ACQ.TRADE_STATUS_ERROR"),
        ("other", _) => r#"{"code":"10000","msg":"Success","out_trade_no":"not-ours","qr_code":"https://qr/x"}"#.to_owned(),
        (_, "alipay.trade.precreate") => format!(
            r#"{{"code":"10000","msg":"Success","out_trade_no":"{trade}","qr_code":"https://qr.alipay.com/bax0"}}"#
        ),
        (t, m) => panic!("no scenario for {t} {m}"),
    };
    signed_answer(&method, &content, &alipay)
}

async fn adapter() -> AlipayAdapter {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, Router::new().route("/gateway.do", post(gateway))).await.unwrap();
    });
    let mut config = AlipayConfig::new(
        APP_ID,
        AppPrivateKey::from_pem(&key("app", "private_pkcs8_pem")).unwrap(),
        AlipayPublicKey::from_pem(&key("alipay", "public_spki_pem")).unwrap(),
    );
    config.gateway_url = format!("http://{addr}/gateway.do");
    // Long enough for a signed answer on a loaded CI machine (debug RSA), short for a test.
    config.request_timeout = Duration::from_secs(5);
    AlipayAdapter::new(config).unwrap()
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY).unwrap()
}

fn pay(trade_no: &str, method: PayMethod) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        trade_no: trade_no.into(),
        amount: cny(8888),
        subject: "测试商品".into(),
        pay_method: method,
        notify_url: None,
        return_url: Some("https://shop/return".into()),
        expires_at: None,
        auth_code: None,
        payer: Default::default(),
    }
}

fn unknown<T: std::fmt::Debug>(outcome: &CallOutcome<T>) -> (String, UnifiedCode) {
    match outcome {
        CallOutcome::Unknown { reason, code } => (reason.clone(), code.as_ref().unwrap().unified),
        other => panic!("expected UNKNOWN, got {other:?}"),
    }
}

#[tokio::test]
async fn a_qr_payment_gets_its_code_and_the_exchange_hides_the_signature() {
    let a = adapter().await;
    let called = a.pay(&pay("fresh", PayMethod::Qr)).await;
    let CallOutcome::Answer { facts, code } = called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!(code.unified, UnifiedCode::Success);
    assert_eq!(facts.status, PaymentStatus::WaitingForCustomer);
    assert_eq!(facts.action, Some(CustomerAction::QrCode { qr_code: "https://qr.alipay.com/bax0".into() }));
    let request = called.exchange.request_body.unwrap();
    let response = called.exchange.response_body.unwrap();
    assert!(
        request.contains(&format!(
            "sign={}",
            form_urlencoded::byte_serialize(REDACTED.as_bytes()).collect::<String>()
        )),
        "{request}"
    );
    assert!(response.contains(&format!("\"sign\":\"{REDACTED}\"")), "{response}");
    assert_eq!(called.exchange.outcome, ExchangeOutcome::Ok);
}

#[tokio::test]
async fn page_pay_is_a_signed_gateway_url_and_no_call() {
    let a = adapter().await;
    let called = a.pay(&pay("web", PayMethod::Redirect)).await;
    let CallOutcome::Answer { facts, .. } = called.outcome else { panic!("{:?}", called.outcome) };
    let Some(CustomerAction::Redirect { url, .. }) = facts.action else { panic!("{:?}", facts.action) };
    let query = url.split_once('?').unwrap().1;
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let sign = params.iter().find(|(k, _)| k == "sign").unwrap().1.clone();
    let canonical = signing::canonical_request(&params).unwrap();
    let app_public = AlipayPublicKey::from_pem(&key("app", "public_spki_pem")).unwrap();
    app_public.verify(canonical.as_bytes(), &sign).unwrap();
    assert!(params.iter().any(|(k, v)| k == "method" && v == "alipay.trade.page.pay"));
    assert!(called.exchange.request_url.ends_with("/gateway.do"), "the URL with its sign is not logged");
}

#[tokio::test]
async fn a_barcode_payment_in_process_is_processing_and_a_poor_buyer_is_declined() {
    let a = adapter().await;
    let called = a.pay(&barcode("confirming", Some(AUTH_CODE))).await;
    let CallOutcome::Answer { facts, code } = called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!((facts.status, code.unified), (PaymentStatus::Processing, UnifiedCode::InProcess));
    let logged = format!("{:?}", called.exchange);
    assert!(!logged.contains(AUTH_CODE), "the payment code is redacted in the exchange log: {logged}");
    let called = a.pay(&barcode("poor", Some(AUTH_CODE))).await;
    let CallOutcome::Answer { facts, code } = called.outcome else { panic!("{:?}", called.outcome) };
    assert_eq!((facts.status, code.unified), (PaymentStatus::Failed, UnifiedCode::DeclinedInsufficientFunds));
}

#[tokio::test]
async fn a_barcode_pay_without_an_alipay_code_and_a_direct_pay_are_refused_before_sending() {
    let a = adapter().await;
    let refused = |called: paygate::providers::Called<_>| match called.outcome {
        CallOutcome::Refused { code } => {
            assert!(called.exchange.response_status.is_none(), "not sent");
            code.message
        }
        other => panic!("{other:?}"),
    };
    let message = refused(a.pay(&barcode("x", None)).await);
    assert!(message.starts_with("auth_code: is required for pay_method barcode"), "{message}");
    // A WeChat Pay code (18 digits starting with 13) is not Alipay's.
    let message = refused(a.pay(&barcode("x", Some("134567890123456789"))).await);
    assert_eq!(
        message,
        "auth_code: must be an Alipay payment code: 16 to 24 digits starting with 25 to 30 (got 18 digits starting with 13)"
    );
    let message = refused(a.pay(&pay("x", PayMethod::Direct)).await);
    assert!(
        message.starts_with("pay_method: Alipay charges a customer only through the payment code"),
        "{message}"
    );
}

#[tokio::test]
async fn query_close_refund_and_refund_query() {
    let a = adapter().await;
    let CallOutcome::Answer { facts, .. } = a.query("paid", Currency::CNY).await.outcome else { panic!() };
    assert_eq!((facts.status, facts.amount), (PaymentStatus::Succeeded, Some(cny(8888))));
    let CallOutcome::Answer { facts, code } = a.query("missing", Currency::CNY).await.outcome else {
        panic!()
    };
    assert_eq!((facts.status, code.unified), (PaymentStatus::NotFound, UnifiedCode::NotFound));
    // A close of a paid trade is answered "the trade's state does not allow it", which does not
    // say paid or closed: the adapter asks with a query, and answers what it found. Both
    // exchanges are there to log, the close's first.
    let closed = a.close("paid", Currency::CNY).await;
    let CallOutcome::Answer { facts, .. } = closed.outcome else { panic!("{:?}", closed.outcome) };
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    let operations: Vec<_> = closed.earlier.iter().chain([&closed.exchange]).map(|x| x.operation).collect();
    assert_eq!(operations, ["close", "query"]);
    let refund = RefundRequest {
        trade_no: "paid".into(),
        refund_trade_no: "r1".into(),
        amount: cny(1000),
        payment_amount: cny(8888),
        reason: None,
        notify_url: None,
    };
    let CallOutcome::Answer { facts, .. } = a.refund(&refund).await.outcome else { panic!() };
    assert_eq!(facts.status, RefundStatus::Succeeded);
    let CallOutcome::Answer { facts, .. } = a.refund_query("paid", "r1", Currency::CNY).await.outcome else {
        panic!()
    };
    assert_eq!(facts.status, RefundStatus::Processing, "no refund_status: not succeeded");
    assert!(matches!(a.query("paid", Currency::USD).await.outcome, CallOutcome::Refused { .. }));
}

#[tokio::test]
async fn errors_are_refused_or_unknown_by_class() {
    let a = adapter().await;
    for trade in ["invalid", "forbidden"] {
        let called = a.query(trade, Currency::CNY).await;
        assert!(matches!(called.outcome, CallOutcome::Refused { .. }), "{trade}: {:?}", called.outcome);
    }
    let (_, code) = unknown(&a.query("unavailable", Currency::CNY).await.outcome);
    assert_eq!(code, UnifiedCode::ProviderError);
    let (_, code) = unknown(&a.query("system", Currency::CNY).await.outcome);
    assert_eq!(code, UnifiedCode::ProviderError);
    let (reason, _) = unknown(&a.pay(&pay("badsig", PayMethod::Qr)).await.outcome);
    assert!(reason.contains("cannot be trusted"), "{reason}");
    let (reason, code) = unknown(&a.query("slow", Currency::CNY).await.outcome);
    assert_eq!(code, UnifiedCode::Timeout, "{reason}");
    let (reason, _) = unknown(&a.pay(&pay("other", PayMethod::Qr)).await.outcome);
    assert!(reason.contains("another order"), "{reason}");
}
