//! alipaysim driven by paygate's Alipay adapter (`paygate::providers::alipay`) for each flow, its
//! notifications read by paygate's verifier, its bill read by paygate's bill parser, and the
//! gateway's own refusals (signature, missing parameters) through the raw app client.

use alipaysim::testkit::AppClient;
use alipaysim::{
    AlipaySim, AlipaySimHandle, BillFault, BillFaultKind, Config, Fault, Operation, ScriptEntry, Settings,
};
use axum::Router;
use axum::routing::post;
use paygate::domain::{AuthCode, Currency, Money, Payer};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::alipay::notification::{self, Expected};
use paygate::providers::alipay::signing::{AlipayPublicKey, AppPrivateKey};
use paygate::providers::alipay::transformers::CancelAction;
use paygate::providers::alipay::{AlipayAdapter, AlipayConfig};
use paygate::providers::bill::BillItem;
use paygate::providers::{
    CallOutcome, PayRequest, PaymentStatus, ProviderAdapter, RefundRequest, RefundStatus,
};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP_ID: &str = "2021000000000001";
const SELLER: &str = "2088000000000001";

fn key(who: &str, form: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../vectors/alipay/vectors.json")).unwrap();
    v["keys"][who][form].as_str().unwrap().to_owned()
}

fn fast() -> Settings {
    Settings { notify_time_scale_ppm: 50, bill_today: true, ..Settings::default() }
}

async fn sim(settings: Settings) -> AlipaySimHandle {
    let config = Config::default()
        .with_app(APP_ID, &key("app", "public_spki_pem"), SELLER)
        .with_alipay_key(&key("alipay", "private_pkcs8_pem"))
        .with_settings(settings);
    AlipaySim::start(config).await.unwrap()
}

fn adapter(s: &AlipaySimHandle, notify_base: Option<String>) -> AlipayAdapter {
    AlipayAdapter::new(adapter_config(s, notify_base)).unwrap()
}

fn adapter_config(s: &AlipaySimHandle, notify_base: Option<String>) -> AlipayConfig {
    let mut config = AlipayConfig::new(
        APP_ID,
        AppPrivateKey::from_pem(&key("app", "private_pkcs8_pem")).unwrap(),
        AlipayPublicKey::from_pem(&s.alipay_public_key_pem()).unwrap(),
    );
    config.gateway_url = s.gateway_url();
    config.seller_id = Some(SELLER.into());
    config.notify_url_base = notify_base;
    config.request_timeout = Duration::from_secs(5);
    config
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY).unwrap()
}

fn pay(trade_no: &str, method: PayMethod, amount: i64) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        trade_no: trade_no.into(),
        amount: cny(amount),
        subject: "测试商品 & more".into(),
        pay_method: method,
        notify_url: None,
        return_url: Some("https://shop.example/return".into()),
        expires_at: None,
        auth_code: None,
        payer: Payer::default(),
    }
}

/// A barcode pay with the customer's payment code `code`.
fn barcode(trade_no: &str, amount: i64, code: &str) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        auth_code: Some(AuthCode::parse(code).expect("a well-formed payment code")),
        ..pay(trade_no, PayMethod::Barcode, amount)
    }
}

fn answer<T: std::fmt::Debug>(o: CallOutcome<T>) -> T {
    match o {
        CallOutcome::Answer { facts, .. } => facts,
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// A notify receiver: records each body and answers `success` (or `fail` the first `fail_first` times).
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let g = got.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/notify/alipay",
        post(move |body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                let mut v = g.lock().unwrap();
                v.push(body.to_vec());
                if v.len() <= fail_first { "fail" } else { "success" }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), got)
}

async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn qr_payment_exists_once_scanned_and_is_notified_until_acknowledged() {
    let s = sim(fast()).await;
    let (base, got) = receiver(1).await;
    let a = adapter(&s, Some(base));
    let facts = answer(a.pay(&pay("qr-1", PayMethod::Qr, 8888)).await.outcome);
    assert_eq!(facts.status, PaymentStatus::WaitingForCustomer);
    let Some(CustomerAction::QrCode { qr_code }) = facts.action else { panic!("{:?}", facts.action) };
    assert!(qr_code.starts_with(s.base_url()), "{qr_code}");
    // Not scanned yet: Alipay has no such trade.
    let facts = answer(a.query("qr-1", Currency::CNY).await.outcome);
    assert_eq!(facts.status, PaymentStatus::NotFound);
    // The customer scans (a GET of the QR code's URL) and pays.
    let page = reqwest::get(&qr_code).await.unwrap().text().await.unwrap();
    assert!(page.contains("88.88"), "{page}");
    assert_eq!(
        answer(a.query("qr-1", Currency::CNY).await.outcome).status,
        PaymentStatus::WaitingForCustomer
    );
    s.admin().act("qr-1", "pay").await.unwrap();
    let facts = answer(a.query("qr-1", Currency::CNY).await.outcome);
    assert_eq!((facts.status, facts.amount), (PaymentStatus::Succeeded, Some(cny(8888))));
    // The first attempt is answered "fail", the retry (4 min at 50 ppm: 12 ms) "success".
    eventually("two attempts", async || got.lock().unwrap().len() >= 2).await;
    let expected = Expected { app_id: APP_ID.into(), seller_id: Some(SELLER.into()) };
    let key = AlipayPublicKey::from_pem(&s.alipay_public_key_pem()).unwrap();
    let bodies = got.lock().unwrap().clone();
    for b in &bodies {
        let n = notification::read(b, &key, &expected).unwrap();
        assert_eq!((n.out_trade_no.as_str(), n.total_amount_fen), ("qr-1", 8888));
        assert_eq!(n.trade_status.as_str(), "TRADE_SUCCESS");
    }
    assert_eq!(bodies[0], bodies[1], "the same body on every attempt");
    let truth = s.admin().trade("qr-1").await.unwrap();
    assert_eq!(truth["charges"], 1);
    assert_eq!(truth["notifications"][0]["state"], "DELIVERED");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn barcode_in_process_until_the_customer_confirms_and_cancel_refunds_a_paid_one() {
    let s = sim(Settings { bar_code_confirm_above_fen: Some(10_000), ..fast() }).await;
    let a = adapter(&s, None);
    // Small: paid at once.
    let facts = answer(a.pay(&barcode("bc-small", 500, "281234567890123456")).await.outcome);
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    // Large: 10003 while the customer confirms.
    let facts = answer(a.pay(&barcode("bc-big", 50_000, "281234567890123456")).await.outcome);
    assert_eq!(facts.status, PaymentStatus::Processing);
    assert_eq!(
        answer(a.query("bc-big", Currency::CNY).await.outcome).status,
        PaymentStatus::WaitingForCustomer
    );
    s.admin().act("bc-big", "pay").await.unwrap();
    assert_eq!(answer(a.query("bc-big", Currency::CNY).await.outcome).status, PaymentStatus::Succeeded);
    // A paid one reversed: refunded in full and closed.
    let c = answer(a.cancel("bc-big").await.outcome);
    assert_eq!(c.action, Some(CancelAction::Refund));
    // TRADE_CLOSED with a send_pay_date: paid, then refunded (the adapter keeps it Succeeded).
    let facts = answer(a.query("bc-big", Currency::CNY).await.outcome);
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    let truth = s.admin().trade("bc-big").await.unwrap();
    assert_eq!(
        (truth["tradeStatus"].as_str(), truth["refunded"].as_i64()),
        (Some("TRADE_CLOSED"), Some(50_000))
    );
    // One still confirming reversed: closed, no money moved.
    answer(a.pay(&barcode("bc-wait", 50_000, "281234567890123456")).await.outcome);
    assert_eq!(answer(a.cancel("bc-wait").await.outcome).action, Some(CancelAction::Close));
    assert_eq!(s.admin().trade("bc-wait").await.unwrap()["charges"], 0);
    // A payment code Alipay does not issue (it must start 25 to 30): refused before it is sent.
    let o = a.pay(&barcode("bc-bad", 500, "1234567890123456")).await.outcome;
    assert!(matches!(o, CallOutcome::Refused { .. }), "refused, not sent: {o:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn page_pay_url_opens_the_cashier_and_paying_redirects_to_the_return_url() {
    let s = sim(fast()).await;
    let a = adapter(&s, None);
    let facts = answer(a.pay(&pay("web-1", PayMethod::Redirect, 1999)).await.outcome);
    let Some(CustomerAction::Redirect { url, .. }) = facts.action else { panic!("{:?}", facts.action) };
    assert!(url.starts_with(&s.gateway_url()), "{url}");
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("19.99"), "{page}");
    let trade_no = s.admin().trade("web-1").await.unwrap()["tradeNo"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http.post(format!("{}/cashier/{trade_no}/pay", s.base_url())).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("https://shop.example/return?"), "{location}");
    assert_eq!(answer(a.query("web-1", Currency::CNY).await.outcome).status, PaymentStatus::Succeeded);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn close_only_unpaid_and_refunds_partial_idempotent_and_bounded() {
    let s = sim(fast()).await;
    let a = adapter(&s, None);
    answer(a.pay(&pay("c-1", PayMethod::Qr, 1000)).await.outcome);
    // Never scanned: no trade to close.
    assert!(
        !matches!(a.close("c-1", Currency::CNY).await.outcome, CallOutcome::Answer { ref facts, .. } if facts.status == PaymentStatus::Closed)
    );
    s.admin().act("c-1", "scan").await.unwrap();
    assert_eq!(answer(a.close("c-1", Currency::CNY).await.outcome).status, PaymentStatus::Closed);
    assert_eq!(answer(a.query("c-1", Currency::CNY).await.outcome).status, PaymentStatus::Closed);

    answer(a.pay(&pay("r-1", PayMethod::Qr, 1000)).await.outcome);
    s.admin().act("r-1", "pay").await.unwrap();
    assert!(
        !matches!(a.close("r-1", Currency::CNY).await.outcome, CallOutcome::Answer { ref facts, .. } if facts.status == PaymentStatus::Closed),
        "a paid trade is not closed"
    );
    let refund = |no: &str, amount: i64| RefundRequest {
        trade_no: "r-1".into(),
        refund_trade_no: no.into(),
        amount: cny(amount),
        payment_amount: cny(1000),
        reason: None,
        notify_url: None,
    };
    assert_eq!(answer(a.refund(&refund("rf-1", 300)).await.outcome).status, RefundStatus::Succeeded);
    // The same request again: one refund. Alipay answers a repeat with fund_change=N (no money
    // moved by this call), which the adapter takes as "in process"; the refund query settles it.
    assert_eq!(answer(a.refund(&refund("rf-1", 300)).await.outcome).status, RefundStatus::Processing);
    assert_eq!(s.admin().trade("r-1").await.unwrap()["refunded"], 300);
    // More than what is left: refused.
    let over = a.refund(&refund("rf-2", 800)).await.outcome;
    assert!(
        !matches!(over, CallOutcome::Answer { ref facts, .. } if facts.status == RefundStatus::Succeeded),
        "{over:?}"
    );
    assert_eq!(
        answer(a.refund_query("r-1", "rf-1", Currency::CNY).await.outcome).status,
        RefundStatus::Succeeded
    );
    assert_ne!(
        answer(a.refund_query("r-1", "rf-2", Currency::CNY).await.outcome).status,
        RefundStatus::Succeeded
    );
    // A refund that stays in process: no refund_status until it completes.
    s.admin().script(&ScriptEntry::new("r-1", Operation::Refund, Fault::ProcessingForever)).await.unwrap();
    assert_eq!(answer(a.refund(&refund("rf-3", 700)).await.outcome).status, RefundStatus::Processing);
    assert_eq!(
        answer(a.refund_query("r-1", "rf-3", Currency::CNY).await.outcome).status,
        RefundStatus::Processing
    );
    s.admin().post("/admin/trades/r-1/refunds/rf-3/complete", json!(null)).await.unwrap();
    assert_eq!(
        answer(a.refund_query("r-1", "rf-3", Currency::CNY).await.outcome).status,
        RefundStatus::Succeeded
    );
    // Refunded in full: the trade is closed (and was paid).
    assert_eq!(s.admin().trade("r-1").await.unwrap()["tradeStatus"], "TRADE_CLOSED");
    assert_eq!(answer(a.query("r-1", Currency::CNY).await.outcome).status, PaymentStatus::Succeeded);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn scripted_transport_faults_reach_the_adapter() {
    let s = sim(Settings { timeout_hold_ms: 10_000, ..fast() }).await;
    let a = adapter(&s, None);
    answer(a.pay(&pay("f-1", PayMethod::Qr, 1000)).await.outcome);
    s.admin().act("f-1", "pay").await.unwrap();
    for fault in [Fault::Http500, Fault::HeaderError] {
        s.admin().script(&ScriptEntry::new("f-1", Operation::Query, fault)).await.unwrap();
        let o = a.query("f-1", Currency::CNY).await.outcome;
        assert!(!matches!(o, CallOutcome::Answer { .. }), "{fault:?}: {o:?}");
    }
    // Charged, the answer lost: UNKNOWN, and the query finds the one charge.
    s.admin().script(&ScriptEntry::new("f-2", Operation::Pay, Fault::LostResponse)).await.unwrap();
    let o = a.pay(&barcode("f-2", 500, "281234567890123456")).await.outcome;
    assert!(matches!(o, CallOutcome::Unknown { .. }), "{o:?}");
    assert_eq!(answer(a.query("f-2", Currency::CNY).await.outcome).status, PaymentStatus::Succeeded);
    assert_eq!(s.admin().trade("f-2").await.unwrap()["charges"], 1);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_bill_reads_with_paygates_parser_including_planted_discrepancies() {
    let s = sim(fast()).await;
    let a = adapter(&s, None);
    for (t, amount) in [("b-1", 1000), ("b-2", 2550)] {
        answer(a.pay(&pay(t, PayMethod::Qr, amount)).await.outcome);
        s.admin().act(t, "pay").await.unwrap();
    }
    let refund = RefundRequest {
        trade_no: "b-2".into(),
        refund_trade_no: "b-2-r1".into(),
        amount: cny(550),
        payment_amount: cny(2550),
        reason: None,
        notify_url: None,
    };
    answer(a.refund(&refund).await.outcome);
    let today =
        chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    s.admin().bill_fault(&BillFault::new(BillFaultKind::Amount).order("b-1").amount(999)).await.unwrap();
    s.admin()
        .bill_fault(
            &BillFault::new(BillFaultKind::AddPayment).order("ghost").amount(100).currency("CNY").date(today),
        )
        .await
        .unwrap();
    let client = AppClient::new(&s.gateway_url(), APP_ID, &key("app", "private_pkcs8_pem")).unwrap();
    let r = client
        .call(
            "alipay.data.dataservice.bill.downloadurl.query",
            json!({"bill_type": "trade", "bill_date": today.to_string()}),
        )
        .await
        .unwrap();
    assert_eq!(r["code"], "10000", "{r}");
    let url = r["bill_download_url"].as_str().unwrap();
    let zip = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let mut lines = Vec::new();
    paygate::providers::alipay::bill::read_zip(std::io::Cursor::new(zip.to_vec()), |item| {
        if let BillItem::Line(l) = item {
            lines.push(l);
        }
        Ok(())
    })
    .unwrap();
    let find = |t: &str, refund: bool| {
        lines
            .iter()
            .find(|l| l.trade_no == t && l.refund_trade_no.is_some() == refund)
            .unwrap_or_else(|| panic!("{t} {lines:?}"))
    };
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(find("b-1", false).amount_minor, 999, "planted amount");
    assert_eq!(find("b-2", false).amount_minor, 2550);
    assert_eq!(find("b-2", false).fee_minor, 15, "0.6 % of 25.50, rounded half up");
    assert_eq!(find("b-2", true).amount_minor, 550);
    assert_eq!(find("b-2", true).refund_trade_no.as_deref(), Some("b-2-r1"));
    assert_eq!(find("ghost", false).amount_minor, 100);
    // Tomorrow's bill does not exist yet.
    let r = client
        .call(
            "alipay.data.dataservice.bill.downloadurl.query",
            json!({"bill_type": "trade", "bill_date": today.succ_opt().unwrap().to_string()}),
        )
        .await
        .unwrap();
    assert_eq!(r["sub_code"], "isp.bill_not_exist");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_gateway_refuses_bad_signatures_and_missing_parameters_with_alipays_codes() {
    let s = sim(fast()).await;
    let client = AppClient::new(&s.gateway_url(), APP_ID, &key("app", "private_pkcs8_pem")).unwrap();
    let biz = json!({"out_trade_no": "x"});
    let body = |p: &[(String, String)]| p.to_vec();
    // A parameter changed after signing.
    let mut p = client.params("alipay.trade.query", &biz, &[]);
    p.iter_mut().find(|(k, _)| k == "biz_content").unwrap().1 = json!({"out_trade_no": "y"}).to_string();
    let text = client.post(&body(&p)).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["alipay_trade_query_response"]["code"], "40002");
    assert_eq!(v["alipay_trade_query_response"]["sub_code"], "isv.invalid-signature");
    // Every answer is signed over the exact _response text.
    let start = text.find(':').unwrap() + 1;
    let end = text.rfind(",\"sign\":").unwrap();
    let key = AlipayPublicKey::from_pem(&s.alipay_public_key_pem()).unwrap();
    key.verify(&text.as_bytes()[start..end], v["sign"].as_str().unwrap()).unwrap();
    for (param, sub) in [
        ("app_id", "isv.missing-app-id"),
        ("timestamp", "isv.missing-timestamp"),
        ("method", "isv.missing-method"),
    ] {
        let p = client.params("alipay.trade.query", &biz, &[(param, "")]);
        let v: serde_json::Value = serde_json::from_str(&client.post(&p).await.unwrap()).unwrap();
        let r = if param == "method" { &v["error_response"] } else { &v["alipay_trade_query_response"] };
        assert_eq!((r["code"].as_str(), r["sub_code"].as_str()), (Some("40001"), Some(sub)), "{v}");
    }
    let p = client.params("alipay.trade.query", &biz, &[("sign_type", "RSA")]);
    let v: serde_json::Value = serde_json::from_str(&client.post(&p).await.unwrap()).unwrap();
    assert_eq!(v["alipay_trade_query_response"]["sub_code"], "isv.invalid-signature-type");
    let v = client.call("alipay.trade.query", biz).await.unwrap();
    assert_eq!(v["sub_code"], "ACQ.TRADE_NOT_EXIST");
    s.shutdown().await.unwrap();
}

fn beijing_today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive()
}

/// Everything a `ProviderAdapter::bill` download streams, in order.
async fn bill_lines(
    download: paygate::providers::BillDownload,
) -> Result<Vec<paygate::providers::BillLine>, paygate::providers::BillError> {
    use futures_util::StreamExt;
    let mut lines = Vec::new();
    let mut items = download.items;
    while let Some(item) = items.next().await {
        if let BillItem::Line(l) = item? {
            lines.push(l);
        }
    }
    Ok(lines)
}

#[tokio::test]
async fn the_days_bill_is_read_in_full_through_the_adapter_with_planted_faults_as_differing_lines() {
    let s = sim(fast()).await;
    let dir = std::env::temp_dir().join(format!("alipaysim-bill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = {
        let mut a = adapter_config(&s, None);
        a.bill_dir = Some(dir.clone());
        AlipayAdapter::new(a).unwrap()
    };
    for (t, amount) in [("d-1", 1000), ("d-2", 2550), ("d-3", 700)] {
        answer(a.pay(&pay(t, PayMethod::Qr, amount)).await.outcome);
        s.admin().act(t, "pay").await.unwrap();
    }
    let refund = RefundRequest {
        trade_no: "d-2".into(),
        refund_trade_no: "d-2-r1".into(),
        amount: cny(550),
        payment_amount: cny(2550),
        reason: None,
        notify_url: None,
    };
    answer(a.refund(&refund).await.outcome);
    let today = beijing_today();

    // The simulator's books, unplanted: every payment and the refund, at their amounts.
    let download = ProviderAdapter::bill(&a, today).await.expect("the bill downloads");
    let x = &download.exchange;
    let body = x.response_body.clone().unwrap_or_default();
    assert!(body.contains("sha256") && body.contains("4 lines (3 payments, 1 refunds)"), "{body}");
    assert!(x.request_url.contains("downloadBillFile.resource"), "{}", x.request_url);
    assert_eq!(download.earlier.len(), 1, "the query's exchange is logged too");
    let q = &download.earlier[0];
    assert_eq!(q.operation, "bill");
    let sent = q.request_body.clone().unwrap_or_default();
    assert!(sent.contains("bill_type") && sent.contains("sign=%5Bredacted%5D"), "{sent}");
    let answered = q.response_body.clone().unwrap_or_default();
    assert!(
        answered.contains("bill_download_url") && answered.contains("\"sign\":\"[redacted]\""),
        "{answered}"
    );
    let lines = bill_lines(download).await.unwrap();
    let mut got: Vec<(String, bool, i64)> =
        lines.iter().map(|l| (l.trade_no.clone(), l.refund_trade_no.is_some(), l.amount_minor)).collect();
    got.sort();
    let want = [("d-1", false, 1000), ("d-2", false, 2550), ("d-2", true, 550), ("d-3", false, 700)];
    assert_eq!(got, want.map(|(t, r, a)| (t.to_owned(), r, a)));
    let d2 = lines.iter().find(|l| l.trade_no == "d-2" && l.refund_trade_no.is_none()).unwrap();
    assert_eq!(d2.fee_minor, 15, "0.6 % of 25.50, rounded half up");
    assert!(lines.iter().all(|l| l.provider_txn_id.starts_with("20") && l.currency == "CNY"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the temporary file is removed once read");

    // Planted faults: each shows as a line that differs from the books (reconciliation flags them).
    let admin = s.admin();
    admin.bill_fault(&BillFault::new(BillFaultKind::Amount).order("d-1").amount(999)).await.unwrap();
    admin.bill_fault(&BillFault::new(BillFaultKind::Fee).order("d-3").fee(1)).await.unwrap();
    admin.bill_fault(&BillFault::new(BillFaultKind::DropLine).refund("d-2-r1")).await.unwrap();
    admin
        .bill_fault(&BillFault {
            transaction_id: Some("2099010122001400009".into()),
            ..BillFault::new(BillFaultKind::AddPayment).order("ghost").amount(100).currency("CNY").date(today)
        })
        .await
        .unwrap();
    let lines = bill_lines(ProviderAdapter::bill(&a, today).await.unwrap()).await.unwrap();
    let find = |t: &str, refund: bool| {
        lines.iter().find(|l| l.trade_no == t && l.refund_trade_no.is_some() == refund)
    };
    assert_eq!(find("d-1", false).unwrap().amount_minor, 999, "planted amount");
    assert_eq!(find("d-3", false).unwrap().fee_minor, 1, "planted fee");
    assert!(find("d-2", true).is_none(), "the refund's line was dropped");
    assert_eq!(find("ghost", false).unwrap().amount_minor, 100, "a payment we never made");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir(&dir).unwrap();
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bill_not_ready_and_an_expired_url_are_clear_errors() {
    let s = sim(fast()).await;
    let a = adapter(&s, None);
    let tomorrow = beijing_today().succ_opt().unwrap();
    let (e, exchange) = ProviderAdapter::bill(&a, tomorrow).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains(&format!("Alipay has no trade bill for {tomorrow} yet")), "{text}");
    assert!(text.contains("isp.bill_not_exist") && text.contains("run it again later"), "{text}");
    assert_eq!(exchange.unwrap().operation, "bill");

    // A URL that has expired (alipaysim's links live bill_url_ttl_secs: none here).
    s.admin().settings(&Settings { bill_url_ttl_secs: 0, ..fast() }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (e, exchange) = ProviderAdapter::bill(&a, beijing_today()).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("HTTP 403") && text.contains("expired") && text.contains("run it again"), "{text}");
    assert!(exchange.unwrap().request_url.contains("downloadBillFile.resource"));
    s.shutdown().await.unwrap();
}

/// A gateway in front of alipaysim that rewrites `bill_download_url` in its answers (leaving the
/// signature as Alipay made it), with a download route that counts the fetches it gets.
async fn rewriting_gateway(s: &AlipaySimHandle) -> (String, Arc<Mutex<usize>>) {
    let fetched: Arc<Mutex<usize>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (upstream, sim_base, own_base) = (s.gateway_url(), s.base_url().to_owned(), base.clone());
    let f = fetched.clone();
    let router = Router::new()
        .route(
            "/gateway.do",
            post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (upstream, sim_base, own_base) = (upstream.clone(), sim_base.clone(), own_base.clone());
                async move {
                    let answer = reqwest::Client::new()
                        .post(upstream)
                        .header("content-type", headers["content-type"].clone())
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap();
                    answer.replace(&sim_base, &own_base)
                }
            }),
        )
        .route(
            "/downloadBillFile.resource",
            axum::routing::get(move || {
                *f.lock().unwrap() += 1;
                async { "not a bill" }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("{base}/gateway.do"), fetched)
}

#[tokio::test]
async fn a_tampered_bill_url_answer_is_refused_and_its_url_never_fetched() {
    let s = sim(fast()).await;
    let (gateway, fetched) = rewriting_gateway(&s).await;
    let mut config = AlipayConfig::new(
        APP_ID,
        AppPrivateKey::from_pem(&key("app", "private_pkcs8_pem")).unwrap(),
        AlipayPublicKey::from_pem(&s.alipay_public_key_pem()).unwrap(),
    );
    config.gateway_url = gateway;
    config.request_timeout = Duration::from_secs(5);
    let a = AlipayAdapter::new(config).unwrap();
    let (e, exchange) = ProviderAdapter::bill(&a, beijing_today()).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("cannot be trusted") && text.contains("no usable answer"), "{text}");
    assert_eq!(*fetched.lock().unwrap(), 0, "the tampered URL is never fetched");
    let exchange = exchange.unwrap();
    assert_eq!(exchange.operation, "bill");
    assert!(
        exchange.response_body.unwrap_or_default().contains("[redacted]"),
        "the answer's sign is redacted"
    );
    s.shutdown().await.unwrap();
}
