//! paygate's WeChat Pay adapter (`paygate::providers::wechatpay`) against the simulator, in
//! process: each flow end to end over real HTTP with real signatures, a notification delivered
//! to an in-test receiver that verifies it with paygate's verifier, and the day's trade bill read
//! by paygate's bill parser with its SHA-1 checked. Keys: the TEST-ONLY keys of
//! tests/vectors/wechatpay (no generation). No database, no broker.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use futures_util::StreamExt;
use paygate::domain::Payer;
use paygate::domain::{Currency, Money};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::bill::{BillItem, BillLineKind};
use paygate::providers::notification::{ClaimedEvent, Notification};
use paygate::providers::wechatpay::signing::{ApiV3Key, MerchantKey, PlatformKeys};
use paygate::providers::wechatpay::{WechatpayAdapter, WechatpayConfig};
use paygate::providers::{
    CallOutcome, PayRequest, PaymentStatus, ProviderAdapter, RefundRequest, RefundStatus, UnifiedCode,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wechatpaysim::testkit::{self, TestKeys};
use wechatpaysim::{BillFault, BillFaultKind, Fault, Operation, ScriptEntry, SimHandle, WechatPaySim};

fn cny(fen: i64) -> Money {
    Money::from_minor(fen, Currency::CNY).unwrap()
}

/// What the receiver saw: each delivery's verification result.
#[derive(Clone, Default)]
struct Receiver {
    verified: Arc<Mutex<Vec<Result<Notification, String>>>>,
    /// Answer 500 to this many deliveries first.
    fail_first: Arc<Mutex<u32>>,
    adapter: Arc<Mutex<Option<Arc<WechatpayAdapter>>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    {
        let mut fail = r.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, r#"{"code":"FAIL","message":"busy"}"#.into());
        }
    }
    let adapter = r.adapter.lock().unwrap().clone().unwrap();
    let result = adapter.notifications().verify(&headers, &body, Utc::now()).map_err(|e| e.to_string());
    let ok = result.is_ok();
    r.verified.lock().unwrap().push(result);
    if ok {
        (StatusCode::NO_CONTENT, String::new())
    } else {
        (StatusCode::UNAUTHORIZED, r#"{"code":"FAIL"}"#.into())
    }
}

struct Setup {
    sim: SimHandle,
    adapter: Arc<WechatpayAdapter>,
    receiver: Receiver,
    notify_url: String,
}

fn adapter_for(keys: &TestKeys, base_url: &str, notify_url: &str, merchant_pem: &str) -> WechatpayAdapter {
    let merchant = MerchantKey::from_pem(&keys.merchant_serial, merchant_pem).unwrap();
    let mut platform = PlatformKeys::new();
    platform.insert_pem(&keys.platform_serial, &keys.platform_public_pem).unwrap();
    let mut config = WechatpayConfig::new(
        &keys.mchid,
        &keys.appid,
        merchant,
        platform,
        ApiV3Key::new(&keys.apiv3_key).unwrap(),
    );
    config.base_url = base_url.to_owned();
    config.request_timeout = Duration::from_secs(5);
    config.notify_url = Some(notify_url.to_owned());
    WechatpayAdapter::new(config).unwrap()
}

async fn setup() -> Setup {
    let mut config = testkit::vector_config();
    // Fast for tests: WeChat's notification schedule in milliseconds (15 s → 15 ms), refunds
    // processing for 300 ms, timed-out responses held for 300 ms.
    config.settings.notify_scale_ppm = 1_000;
    config.settings.refund_delay_ms = 300;
    config.settings.timeout_hold_ms = 300;
    let sim = WechatPaySim::start(config).await.unwrap();
    let receiver = Receiver::default();
    let app =
        Router::new().route("/notify/wechatpay", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notify_url = format!("http://{}/notify/wechatpay", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let keys = testkit::vector_keys();
    let adapter = Arc::new(adapter_for(&keys, sim.base_url(), &notify_url, &keys.merchant_private_pem));
    *receiver.adapter.lock().unwrap() = Some(adapter.clone());
    Setup { sim, adapter, receiver, notify_url }
}

fn pay_request(trade_no: &str, fen: i64, method: PayMethod) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        trade_no: trade_no.into(),
        amount: cny(fen),
        subject: "测试商品 coffee".into(),
        pay_method: method,
        notify_url: None,
        return_url: None,
        expires_at: None,
        auth_code: None,
        payer: Payer::default(),
    }
}

fn refund_request(trade_no: &str, refund_no: &str, fen: i64, total: i64) -> RefundRequest {
    RefundRequest {
        trade_no: trade_no.into(),
        refund_trade_no: refund_no.into(),
        amount: cny(fen),
        payment_amount: cny(total),
        reason: Some("退货".into()),
        notify_url: None,
    }
}

fn answer<T: std::fmt::Debug>(outcome: CallOutcome<T>) -> T {
    match outcome {
        CallOutcome::Answer { facts, .. } => facts,
        other => panic!("expected an answer, got {other:?}"),
    }
}

async fn paid(s: &Setup, trade_no: &str, fen: i64) {
    let created = s.adapter.pay(&pay_request(trade_no, fen, PayMethod::Qr)).await;
    assert_eq!(answer(created.outcome).status, PaymentStatus::WaitingForCustomer);
    s.sim.admin().pay(trade_no).await.unwrap();
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 5 s");
}

#[tokio::test]
async fn native_pay_then_the_customer_pays_and_the_query_says_success() {
    let s = setup().await;
    let no = "wxsim-native-0001";
    let created = answer(s.adapter.pay(&pay_request(no, 1999, PayMethod::Qr)).await.outcome);
    assert_eq!(created.status, PaymentStatus::WaitingForCustomer);
    match created.action {
        Some(CustomerAction::QrCode { qr_code }) => {
            assert!(qr_code.starts_with("weixin://wxpay/bizpayurl?pr="), "{qr_code}")
        }
        other => panic!("a QR code, got {other:?}"),
    }
    let before = answer(s.adapter.query(no, Currency::CNY).await.outcome);
    assert_eq!(before.status, PaymentStatus::WaitingForCustomer);
    // The same create again answers the same order (no second charge is possible).
    assert!(matches!(
        s.adapter.pay(&pay_request(no, 1999, PayMethod::Qr)).await.outcome,
        CallOutcome::Answer { .. }
    ));
    s.sim.admin().pay(no).await.unwrap();
    let after = answer(s.adapter.query(no, Currency::CNY).await.outcome);
    assert_eq!(after.status, PaymentStatus::Succeeded);
    assert_eq!(after.amount, Some(cny(1999)));
    assert!(after.provider_txn_id.as_deref().is_some_and(|t| t.starts_with("4200")));
    assert!(after.paid_at.is_some());
    // A create for a paid order is refused (ORDERPAID), whatever its parameters.
    let again = s.adapter.pay(&pay_request(no, 1999, PayMethod::Qr)).await.outcome;
    assert!(!matches!(again, CallOutcome::Answer { .. }), "{again:?}");
    let truth = s.sim.admin().order(no).await.unwrap().unwrap();
    assert_eq!(truth["charges"], 1);
}

#[tokio::test]
async fn jsapi_and_h5_need_their_payer_fields_and_answer_prepay_id_and_h5_url() {
    let s = setup().await;
    let payer = Payer { openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()), client_ip: None };
    let jsapi = answer(
        s.adapter
            .pay(&PayRequest { payer, ..pay_request("wxsim-jsapi-0001", 100, PayMethod::ClientSecret) })
            .await
            .outcome,
    );
    match jsapi.action {
        Some(CustomerAction::ClientSecret { client_secret, .. }) => {
            assert!(client_secret.contains("prepay_id=wx"), "{client_secret}")
        }
        other => panic!("client parameters, got {other:?}"),
    }
    let payer = Payer { openid: None, client_ip: Some("203.0.113.7".parse().unwrap()) };
    let h5 = answer(
        s.adapter
            .pay(&PayRequest { payer, ..pay_request("wxsim-h5-000001", 100, PayMethod::Redirect) })
            .await
            .outcome,
    );
    match h5.action {
        Some(CustomerAction::Redirect { url, .. }) => {
            assert!(url.starts_with("https://wx.tenpay.com/"), "{url}")
        }
        other => panic!("a redirect, got {other:?}"),
    }
}

#[tokio::test]
async fn close_an_unpaid_order_and_a_paid_one_answers_orderpaid() {
    let s = setup().await;
    let no = "wxsim-close-0001";
    answer(s.adapter.pay(&pay_request(no, 500, PayMethod::Qr)).await.outcome);
    let closed = answer(s.adapter.close(no, Currency::CNY).await.outcome);
    assert_eq!(closed.status, PaymentStatus::Closed);
    assert_eq!(answer(s.adapter.query(no, Currency::CNY).await.outcome).status, PaymentStatus::Closed);
    assert!(s.sim.admin().pay(no).await.is_err(), "a closed order cannot be paid");
    let paid_no = "wxsim-close-0002";
    paid(&s, paid_no, 500).await;
    let close = s.adapter.close(paid_no, Currency::CNY).await;
    assert_eq!(answer(close.outcome).status, PaymentStatus::Succeeded, "ORDERPAID: paid before the close");
    assert_eq!(
        answer(s.adapter.query("wxsim-nosuch-01", Currency::CNY).await.outcome).status,
        PaymentStatus::NotFound
    );
}

#[tokio::test]
async fn a_refund_is_processing_then_succeeds_by_query() {
    let s = setup().await;
    let no = "wxsim-refund-0001";
    paid(&s, no, 1000).await;
    let r = answer(s.adapter.refund(&refund_request(no, "wxsim-r-0001", 400, 1000)).await.outcome);
    assert_eq!(r.status, RefundStatus::Processing);
    assert_eq!(r.amount, Some(cny(400)));
    // Idempotent on out_refund_no: the same refund, not a second one.
    let again = answer(s.adapter.refund(&refund_request(no, "wxsim-r-0001", 400, 1000)).await.outcome);
    assert_eq!(again.provider_refund_id, r.provider_refund_id);
    let adapter = s.adapter.clone();
    eventually("the refund succeeding", || {
        let adapter = adapter.clone();
        async move {
            let q = adapter.refund_query(no, "wxsim-r-0001", Currency::CNY).await;
            matches!(q.outcome, CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::Succeeded)
        }
    })
    .await;
    // A refund of the rest, then one fen more than the order has left.
    answer(s.adapter.refund(&refund_request(no, "wxsim-r-0002", 600, 1000)).await.outcome);
    let over = s.adapter.refund(&refund_request(no, "wxsim-r-0003", 1, 1000)).await.outcome;
    match over {
        CallOutcome::Refused { code } => assert_eq!(code.provider_code, "INVALID_REQUEST", "{code:?}"),
        other => panic!("refused, got {other:?}"),
    }
    let stats = s.sim.admin().stats().await.unwrap();
    assert_eq!(stats.refunds.created, 2);
    assert_eq!(
        answer(s.adapter.refund_query(no, "wxsim-r-nosuch", Currency::CNY).await.outcome).status,
        RefundStatus::NotFound
    );
}

#[tokio::test]
async fn a_refund_over_the_amount_in_one_go_is_refused() {
    let s = setup().await;
    let no = "wxsim-refund-0002";
    paid(&s, no, 1000).await;
    answer(s.adapter.refund(&refund_request(no, "wxsim-r-0101", 700, 1000)).await.outcome);
    match s.adapter.refund(&refund_request(no, "wxsim-r-0102", 400, 1000)).await.outcome {
        CallOutcome::Refused { code } => {
            assert_eq!(code.provider_code, "INVALID_REQUEST");
            assert_eq!(code.unified, UnifiedCode::InvalidRequest);
        }
        other => panic!("refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_request_signed_with_another_key_is_refused_sign_error() {
    let s = setup().await;
    let keys = testkit::vector_keys();
    // The platform's private key stands in for a wrong merchant key (right serial, wrong key).
    let wrong = adapter_for(&keys, s.sim.base_url(), &s.notify_url, &keys.platform_private_pem);
    match wrong.pay(&pay_request("wxsim-sign-0001", 100, PayMethod::Qr)).await.outcome {
        CallOutcome::Refused { code } => {
            assert_eq!(code.provider_code, "SIGN_ERROR");
            assert_eq!(code.unified, UnifiedCode::AuthenticationFailed);
        }
        other => panic!("SIGN_ERROR, got {other:?}"),
    }
    assert!(s.sim.admin().order("wxsim-sign-0001").await.unwrap().is_none(), "nothing was created");
}

#[tokio::test]
async fn faults_answer_unknown_and_a_lost_response_is_found_by_query() {
    let s = setup().await;
    let admin = s.sim.admin();
    let no = "wxsim-fault-0001";
    admin.script(&ScriptEntry::new(no, Operation::Pay, Fault::Http500)).await.unwrap();
    assert!(matches!(
        s.adapter.pay(&pay_request(no, 100, PayMethod::Qr)).await.outcome,
        CallOutcome::Unknown { .. }
    ));
    assert!(admin.order(no).await.unwrap().is_none(), "a 500 processed nothing");
    admin.script(&ScriptEntry::new(no, Operation::Pay, Fault::Timeout)).await.unwrap();
    assert!(matches!(
        s.adapter.pay(&pay_request(no, 100, PayMethod::Qr)).await.outcome,
        CallOutcome::Unknown { .. }
    ));
    admin.script(&ScriptEntry::new(no, Operation::Pay, Fault::LostResponse)).await.unwrap();
    assert!(matches!(
        s.adapter.pay(&pay_request(no, 100, PayMethod::Qr)).await.outcome,
        CallOutcome::Unknown { .. }
    ));
    // The lost one was created: the query finds it.
    assert_eq!(
        answer(s.adapter.query(no, Currency::CNY).await.outcome).status,
        PaymentStatus::WaitingForCustomer
    );
    admin.script(&ScriptEntry::new(no, Operation::Query, Fault::Http500)).await.unwrap();
    assert!(matches!(s.adapter.query(no, Currency::CNY).await.outcome, CallOutcome::Unknown { .. }));
    // A declined charge is PAYERROR: Failed.
    admin.script(&ScriptEntry::new(no, Operation::Pay, Fault::Decline)).await.unwrap();
    admin.pay(no).await.unwrap();
    assert_eq!(answer(s.adapter.query(no, Currency::CNY).await.outcome).status, PaymentStatus::Failed);
}

#[tokio::test]
async fn notifications_are_delivered_retried_and_verified_by_paygates_verifier() {
    let s = setup().await;
    *s.receiver.fail_first.lock().unwrap() = 1;
    let no = "wxsim-notify-0001";
    paid(&s, no, 1234).await;
    let verified = s.receiver.verified.clone();
    eventually("the payment notification", || {
        let v = verified.clone();
        async move { !v.lock().unwrap().is_empty() }
    })
    .await;
    let n = s.receiver.verified.lock().unwrap()[0].clone().expect("paygate's verifier takes it");
    assert_eq!(n.trade_no, no);
    assert_eq!(n.event, ClaimedEvent::PaymentSucceeded);
    assert_eq!(n.amount, cny(1234));
    let admin = s.sim.admin();
    let admin2 = admin.clone();
    eventually("the delivery recorded", || {
        let admin = admin2.clone();
        async move {
            let truth = admin.order(no).await.unwrap().unwrap();
            truth["notifications"][0]["state"] == "DELIVERED"
        }
    })
    .await;
    let truth = admin.order(no).await.unwrap().unwrap();
    let attempts = truth["notifications"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2, "the first answered 500 and was retried: {attempts:?}");
    // A refund's end is notified too (REFUND.SUCCESS), to the refund's notify_url.
    let mut r = refund_request(no, "wxsim-nr-0001", 234, 1234);
    r.notify_url = Some(s.notify_url.clone());
    answer(s.adapter.refund(&r).await.outcome);
    eventually("the refund notification", || {
        let v = verified.clone();
        async move { v.lock().unwrap().len() >= 2 }
    })
    .await;
    let n = s.receiver.verified.lock().unwrap()[1].clone().expect("verified");
    assert_eq!(n.event, ClaimedEvent::RefundSucceeded);
    assert_eq!(n.refund_trade_no.as_deref(), Some("wxsim-nr-0001"));
    assert_eq!(n.amount, cny(234));
}

#[tokio::test]
async fn the_days_trade_bill_is_read_by_paygates_parser_with_its_hash_checked() {
    let s = setup().await;
    paid(&s, "wxsim-bill-0001", 1000).await;
    paid(&s, "wxsim-bill-0002", 2500).await;
    answer(s.adapter.refund(&refund_request("wxsim-bill-0001", "wxsim-br-0001", 300, 1000)).await.outcome);
    // A planted discrepancy: the bill says 2400 for the second payment.
    s.sim
        .admin()
        .add_bill_fault(&BillFault::new(BillFaultKind::Amount).order("wxsim-bill-0002").amount(2400))
        .await
        .unwrap();
    let today = Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let download = s.adapter.bill(today).await.map_err(|(e, _)| e).expect("the bill downloads");
    let items: Vec<_> = download.items.collect().await;
    let lines: Vec<_> = items
        .into_iter()
        .map(|i| match i.expect("every line parses and the hash matches") {
            BillItem::Line(l) => l,
            other => panic!("a line, got {other:?}"),
        })
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let p1 =
        lines.iter().find(|l| l.trade_no == "wxsim-bill-0001" && l.kind == BillLineKind::Payment).unwrap();
    assert_eq!((p1.amount_minor, p1.fee_minor, p1.succeeded), (1000, 6, true));
    let p2 = lines.iter().find(|l| l.trade_no == "wxsim-bill-0002").unwrap();
    assert_eq!(p2.amount_minor, 2400, "the planted amount");
    let r = lines.iter().find(|l| l.kind == BillLineKind::Refund).unwrap();
    assert_eq!((r.refund_trade_no.as_deref(), r.amount_minor, r.fee_minor), (Some("wxsim-br-0001"), 300, -2));
    // A day with nothing on it: NO_STATEMENT_EXIST, a failed download.
    assert!(s.adapter.bill(today - chrono::Days::new(30)).await.is_err());
}

#[tokio::test]
async fn the_days_fund_flow_bill_is_the_settlement_with_fees_attached_and_a_checked_total() {
    let s = setup().await;
    paid(&s, "wxsim-settle-0001", 1000).await;
    paid(&s, "wxsim-settle-0002", 2500).await;
    answer(s.adapter.refund(&refund_request("wxsim-settle-0001", "wxsim-sr-0001", 300, 1000)).await.outcome);
    let adapter = s.adapter.clone();
    eventually("the refund succeeding", || {
        let adapter = adapter.clone();
        async move {
            let q = adapter.refund_query("wxsim-settle-0001", "wxsim-sr-0001", Currency::CNY).await;
            matches!(q.outcome, CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::Succeeded)
        }
    })
    .await;
    // A planted discrepancy: WeChat Pay took a fee of 0.99 for the second payment.
    s.sim
        .admin()
        .add_bill_fault(&BillFault::new(BillFaultKind::Fee).order("wxsim-settle-0002").fee(99))
        .await
        .unwrap();
    let today = Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let download = s.adapter.settlement(today).await.map_err(|(e, _)| e).expect("the settlement downloads");
    assert!(
        download.exchange.response_body.as_deref().is_some_and(|b| b.contains("fund-flow bill streamed")),
        "{:?}",
        download.exchange
    );
    let items: Vec<_> = download.items.collect().await;
    let mut lines = Vec::new();
    let mut totals = Vec::new();
    for item in items {
        match item.expect("every line parses, the trailer agrees and the hash matches") {
            BillItem::Line(l) => lines.push(l),
            BillItem::Total(t) => totals.push(t),
        }
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    let p1 = lines.iter().find(|l| l.trade_no == "wxsim-settle-0001").expect("the first payment");
    assert_eq!(
        (p1.kind, p1.amount_minor, p1.fee_minor, p1.succeeded),
        (BillLineKind::Payment, 1000, 6, true)
    );
    assert!(p1.provider_txn_id.starts_with("42"), "{p1:?}");
    let p2 = lines.iter().find(|l| l.trade_no == "wxsim-settle-0002").expect("the second payment");
    assert_eq!((p2.amount_minor, p2.fee_minor), (2500, 99), "the planted fee");
    let r = lines.iter().find(|l| l.kind == BillLineKind::Refund).expect("the refund");
    assert_eq!((r.refund_trade_no.as_deref(), r.amount_minor, r.fee_minor), (Some("wxsim-sr-0001"), 300, -2));
    assert!(r.provider_refund_id.as_deref().is_some_and(|id| id.starts_with("50")), "{r:?}");
    assert_eq!(totals.len(), 1, "{totals:?}");
    let t = &totals[0];
    assert_eq!(
        (t.currency.as_str(), t.gross_minor, t.refunds_minor, t.fees_minor, t.net_minor, t.count),
        ("CNY", 3500, 300, 103, 3097, 3)
    );
    // Other accounts and a day with nothing on it: NO_STATEMENT_EXIST, a failed download.
    let e = s.adapter.settlement(today - chrono::Days::new(30)).await.map(drop).map_err(|(e, _)| e);
    assert!(e.as_ref().is_err_and(|e| e.to_string().contains("NO_STATEMENT_EXIST")), "{e:?}");
}
