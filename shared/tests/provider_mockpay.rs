//! The mockpay adapter against the real mockpay simulator, started in-process for each test
//! (tests/mockpay/README.md, "Library API"): every pay method's action, declines, idempotent
//! repeats, the ambiguous ends (timeout, lost response, HTTP 500) that must stay UNKNOWN, query,
//! close, refunds, redaction of the signature, and the exchange log in PostgreSQL.

use mockpay::{Config, Fault, MockPay, MockPayHandle, Operation, ScriptEntry, Settings};
use paygate::domain::{Currency, Money};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::exchange::ExchangeOutcome;
use paygate::providers::http::REDACTED;
use paygate::providers::mockpay::signing::{self, Secret};
use paygate::providers::mockpay::{MockpayAdapter, MockpayConfig};
use paygate::providers::{
    CallOutcome, Called, Exchange, PayRequest, PaymentFacts, PaymentStatus, ProviderAdapter, RefundFacts,
    RefundRequest, RefundStatus, UnifiedCode,
};
use paygate_test_support::{TestDb, eventually};
use std::time::Duration;

const MERCHANT: &str = "m1";
const SECRET: &str = "secret1";
/// Short, so that a held answer times out quickly.
const ADAPTER_TIMEOUT: Duration = Duration::from_millis(300);

async fn mockpay() -> MockPayHandle {
    MockPay::start(Config::default().with_merchant(MERCHANT, SECRET)).await.expect("start mockpay")
}

async fn mockpay_with(settings: Settings) -> MockPayHandle {
    MockPay::start(Config::default().with_merchant(MERCHANT, SECRET).with_settings(settings))
        .await
        .expect("start mockpay")
}

fn adapter(mp: &MockPayHandle) -> MockpayAdapter {
    MockpayAdapter::new(MockpayConfig::new(mp.base_url(), MERCHANT, SECRET).with_timeout(ADAPTER_TIMEOUT))
        .expect("adapter")
}

fn jpy(minor: i64) -> Money {
    Money::from_minor(minor, Currency::JPY).unwrap()
}

fn pay_request(trade_no: &str, method: PayMethod) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        trade_no: trade_no.into(),
        amount: jpy(1500),
        subject: "coffee beans".into(),
        pay_method: method,
        notify_url: None,
        return_url: None,
        expires_at: None,
        auth_code: None,
        payer: Default::default(),
    }
}

fn refund_request(trade_no: &str, refund_no: &str, amount: i64) -> RefundRequest {
    RefundRequest {
        trade_no: trade_no.into(),
        refund_trade_no: refund_no.into(),
        amount: jpy(amount),
        payment_amount: jpy(1500),
        reason: Some("damaged".into()),
        notify_url: None,
    }
}

/// The facts of an answer, or a panic naming what came instead.
fn facts<T: std::fmt::Debug>(called: Called<T>) -> (T, Exchange) {
    match called.outcome {
        CallOutcome::Answer { facts, .. } => (facts, called.exchange),
        other => panic!("expected an answer, got {other:?}; exchange: {:?}", called.exchange),
    }
}

fn unknown_code<T: std::fmt::Debug>(called: &Called<T>) -> UnifiedCode {
    match &called.outcome {
        CallOutcome::Unknown { code: Some(code), .. } => code.unified,
        other => panic!("expected UNKNOWN, got {other:?}"),
    }
}

async fn charges(mp: &MockPayHandle, order: &str) -> u32 {
    mp.admin().payment(order).await.unwrap().expect("mockpay knows the payment").charges
}

#[tokio::test]
async fn each_pay_method_answers_its_action_shape() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    for (n, method) in
        [PayMethod::Redirect, PayMethod::Form, PayMethod::Qr, PayMethod::ClientSecret].into_iter().enumerate()
    {
        let order = format!("ord-action-{n}");
        let (facts, exchange) = facts(adapter.pay(&pay_request(&order, method)).await);
        assert_eq!(facts.status, PaymentStatus::WaitingForCustomer, "{method:?}");
        let txn = facts.provider_txn_id.clone().expect("a transaction id");
        assert_eq!(txn.len(), 19, "{txn}");
        assert_eq!(exchange.outcome, ExchangeOutcome::Ok);
        assert_eq!(exchange.unified_code.as_deref(), Some("success"));
        let pay_url = format!("{}/pay/{txn}", mp.base_url());
        match (method, facts.action.expect("an action while waiting")) {
            (PayMethod::Redirect, CustomerAction::Redirect { url, .. }) => assert_eq!(url, pay_url),
            (PayMethod::Form, CustomerAction::Form { url, form, .. }) => {
                assert_eq!(url, pay_url);
                assert_eq!(form.get("orderId").and_then(|v| v.as_str()), Some(order.as_str()));
            }
            (PayMethod::Qr, CustomerAction::QrCode { qr_code }) => {
                assert_eq!(qr_code, format!("mockpay://pay/{txn}"))
            }
            (PayMethod::ClientSecret, CustomerAction::ClientSecret { client_secret, .. }) => {
                assert!(client_secret.starts_with(&format!("{txn}_secret_")), "{client_secret}")
            }
            (method, action) => panic!("{method:?} answered {action:?}"),
        }
    }
}

#[tokio::test]
async fn direct_pay_succeeds_and_charges_once() {
    let mp = mockpay().await;
    let (facts, exchange) = facts(adapter(&mp).pay(&pay_request("ord-direct", PayMethod::Direct)).await);
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    assert!(facts.action.is_none());
    assert_eq!(exchange.response_status, Some(200));
    assert_eq!(charges(&mp, "ord-direct").await, 1);
}

#[tokio::test]
async fn a_declined_direct_pay_is_a_failed_answer() {
    let mp = mockpay().await;
    let mut entry = ScriptEntry::new("ord-decline", Operation::Pay, Fault::Decline);
    entry.decline_code = Some("1102".into());
    mp.admin().script(entry).await.unwrap();
    let called = adapter(&mp).pay(&pay_request("ord-decline", PayMethod::Direct)).await;
    let code = called.outcome.code().cloned().expect("a code");
    assert_eq!(code.unified, UnifiedCode::DeclinedAccountSuspended);
    assert!(code.definitive);
    let (facts, exchange) = facts(called);
    assert_eq!(facts.status, PaymentStatus::Failed);
    assert!(facts.provider_txn_id.is_some());
    assert_eq!(exchange.outcome, ExchangeOutcome::Declined);
    assert_eq!(charges(&mp, "ord-decline").await, 0);
}

#[tokio::test]
async fn repeating_a_pay_answers_the_same_transaction_and_charges_once() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    let request = pay_request("ord-repeat", PayMethod::Direct);
    let (first, _) = facts(adapter.pay(&request).await);
    let (second, _) = facts(adapter.pay(&request).await);
    assert_eq!(first.provider_txn_id, second.provider_txn_id);
    assert_eq!(second.status, PaymentStatus::Succeeded);
    assert_eq!(charges(&mp, "ord-repeat").await, 1);
}

#[tokio::test]
async fn reusing_a_trade_number_with_another_amount_is_refused() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    facts(adapter.pay(&pay_request("ord-reuse", PayMethod::Direct)).await);
    let mut other = pay_request("ord-reuse", PayMethod::Direct);
    other.amount = jpy(999);
    let called = adapter.pay(&other).await;
    match &called.outcome {
        CallOutcome::Refused { code } => assert_eq!(code.unified, UnifiedCode::IdempotencyConflict),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(called.exchange.outcome, ExchangeOutcome::Declined);
}

#[tokio::test]
async fn a_timeout_is_unknown() {
    let mp = mockpay_with(Settings { timeout_hold_ms: 10_000, ..Settings::default() }).await;
    mp.admin().script_fault("ord-timeout", Operation::Pay, Fault::Timeout, 1).await.unwrap();
    let adapter = adapter(&mp);
    let called = adapter.pay(&pay_request("ord-timeout", PayMethod::Direct)).await;
    assert_eq!(unknown_code(&called), UnifiedCode::Timeout);
    assert_eq!(called.exchange.outcome, ExchangeOutcome::Timeout);
    assert_eq!(called.exchange.response_status, None);
    assert_eq!(called.exchange.unified_code.as_deref(), Some("timeout"));
    assert!(called.exchange.latency_us >= 300_000, "latency {}µs", called.exchange.latency_us);
    // A timeout was not processed: the query says mockpay never saw it.
    let (facts, _) = facts(adapter.query("ord-timeout", Currency::JPY).await);
    assert_eq!(facts.status, PaymentStatus::NotFound);
}

#[tokio::test]
async fn a_lost_response_is_unknown_and_the_query_shows_the_one_charge() {
    // The held answer is dropped well inside the adapter's timeout: the connection closes
    // without an answer (IncompleteMessage), a transport error rather than a timeout.
    let mp = mockpay_with(Settings { timeout_hold_ms: 20, ..Settings::default() }).await;
    mp.admin().script_fault("ord-lost", Operation::Pay, Fault::LostResponse, 1).await.unwrap();
    let adapter = MockpayAdapter::new(
        MockpayConfig::new(mp.base_url(), MERCHANT, SECRET).with_timeout(Duration::from_secs(5)),
    )
    .unwrap();
    let called = adapter.pay(&pay_request("ord-lost", PayMethod::Direct)).await;
    assert_eq!(unknown_code(&called), UnifiedCode::TransportError);
    assert_eq!(called.exchange.outcome, ExchangeOutcome::TransportError);
    assert!(called.exchange.error.is_some());

    let (facts, _) = facts(adapter.query("ord-lost", Currency::JPY).await);
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    assert_eq!(facts.amount, Some(jpy(1500)));
    assert_eq!(charges(&mp, "ord-lost").await, 1);
}

#[tokio::test]
async fn a_lost_response_beyond_the_timeout_is_unknown_as_a_timeout() {
    let mp = mockpay_with(Settings { timeout_hold_ms: 10_000, ..Settings::default() }).await;
    mp.admin().script_fault("ord-lost-slow", Operation::Pay, Fault::LostResponse, 1).await.unwrap();
    let adapter = adapter(&mp);
    let called = adapter.pay(&pay_request("ord-lost-slow", PayMethod::Direct)).await;
    assert_eq!(unknown_code(&called), UnifiedCode::Timeout);
    let (facts, _) = facts(adapter.query("ord-lost-slow", Currency::JPY).await);
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    assert_eq!(charges(&mp, "ord-lost-slow").await, 1);
}

#[tokio::test]
async fn an_http_500_is_unknown() {
    let mp = mockpay().await;
    mp.admin().script_fault("ord-500", Operation::Pay, Fault::Http500, 1).await.unwrap();
    let adapter = adapter(&mp);
    let called = adapter.pay(&pay_request("ord-500", PayMethod::Direct)).await;
    assert_eq!(unknown_code(&called), UnifiedCode::ProviderError);
    assert_eq!(called.exchange.outcome, ExchangeOutcome::Error);
    assert_eq!(called.exchange.response_status, Some(500));
    assert_eq!(called.exchange.unified_code.as_deref(), Some("provider_error"));
    // Re-sending is safe by idempotency, and this time it goes through, once.
    let (facts, _) = facts(adapter.pay(&pay_request("ord-500", PayMethod::Direct)).await);
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    assert_eq!(charges(&mp, "ord-500").await, 1);
}

#[tokio::test]
async fn a_query_of_an_unknown_trade_number_is_not_found() {
    let mp = mockpay().await;
    let called = adapter(&mp).query("ord-never", Currency::JPY).await;
    let code = called.outcome.code().cloned().unwrap();
    assert_eq!(code.unified, UnifiedCode::NotFound);
    let (facts, exchange) = facts(called);
    assert_eq!(facts, PaymentFacts::status(PaymentStatus::NotFound));
    assert_eq!(exchange.request_method, "GET");
    assert!(exchange.request_url.ends_with("/v1/payments/ord-never"));
}

#[tokio::test]
async fn a_query_reports_amount_refunds_and_paid_at() {
    let mp = mockpay_with(Settings { refund_delay_ms: 0, ..Settings::default() }).await;
    let adapter = adapter(&mp);
    let (paid, _) = facts(adapter.pay(&pay_request("ord-q", PayMethod::Direct)).await);
    let (refund, _) = facts(adapter.refund(&refund_request("ord-q", "ref-q", 500)).await);
    assert_eq!(refund.status, RefundStatus::Succeeded);
    let (facts, _) = facts(adapter.query("ord-q", Currency::JPY).await);
    assert_eq!(facts.status, PaymentStatus::Succeeded);
    assert_eq!(facts.provider_txn_id, paid.provider_txn_id);
    assert_eq!(facts.amount, Some(jpy(1500)));
    assert_eq!(facts.refunded, Some(jpy(500)));
    assert!(facts.paid_at.is_some());
}

#[tokio::test]
async fn closing_a_waiting_payment_closes_it_and_closing_a_paid_one_says_succeeded() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    facts(adapter.pay(&pay_request("ord-close", PayMethod::Qr)).await);
    let (closed, exchange) = facts(adapter.close("ord-close", Currency::JPY).await);
    assert_eq!(closed.status, PaymentStatus::Closed);
    assert_eq!(exchange.request_body.as_deref(), Some("{}"));

    facts(adapter.pay(&pay_request("ord-paid", PayMethod::Qr)).await);
    mp.admin().pay("ord-paid").await.unwrap();
    let called = adapter.close("ord-paid", Currency::JPY).await;
    assert_eq!(called.outcome.code().unwrap().unified, UnifiedCode::AlreadyPaid);
    let (paid, _) = facts(called);
    assert_eq!(paid.status, PaymentStatus::Succeeded);

    let (missing, _) = facts(adapter.close("ord-none", Currency::JPY).await);
    assert_eq!(missing.status, PaymentStatus::NotFound);
}

#[tokio::test]
async fn a_refund_is_processing_then_the_refund_query_shows_it_succeeded() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    facts(adapter.pay(&pay_request("ord-ref", PayMethod::Direct)).await);
    let (started, exchange) = facts(adapter.refund(&refund_request("ord-ref", "ref-1", 500)).await);
    assert_eq!(started.status, RefundStatus::Processing);
    let refund_txn = started.provider_refund_id.clone().expect("a refund transaction id");
    assert!(refund_txn.starts_with('3'), "{refund_txn}");
    assert!(exchange.request_body.as_deref().unwrap().contains("\"refundId\":\"ref-1\""));

    eventually("the refund query to say SUCCEEDED", Duration::from_secs(5), || async {
        let (facts, _) = facts(adapter.refund_query("ord-ref", "ref-1", Currency::JPY).await);
        facts
            == RefundFacts {
                status: RefundStatus::Succeeded,
                provider_refund_id: Some(refund_txn.clone()),
                amount: Some(jpy(500)),
            }
    })
    .await;

    let (missing, _) = facts(adapter.refund_query("ord-ref", "ref-none", Currency::JPY).await);
    assert_eq!(missing.status, RefundStatus::NotFound);
}

#[tokio::test]
async fn a_refund_exceeding_the_refundable_amount_is_refused() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    facts(adapter.pay(&pay_request("ord-big", PayMethod::Direct)).await);
    facts(adapter.refund(&refund_request("ord-big", "ref-a", 1000)).await);
    let called = adapter.refund(&refund_request("ord-big", "ref-b", 501)).await;
    match &called.outcome {
        CallOutcome::Refused { code } => {
            assert_eq!(code.unified, UnifiedCode::ExceedsRefundable);
            assert!(code.definitive);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(called.exchange.outcome, ExchangeOutcome::Declined);
    assert_eq!(called.exchange.unified_code.as_deref(), Some("exceeds_refundable"));
}

#[tokio::test]
async fn a_refund_of_an_unpaid_payment_is_refused() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    facts(adapter.pay(&pay_request("ord-unpaid", PayMethod::Redirect)).await);
    let called = adapter.refund(&refund_request("ord-unpaid", "ref-u", 100)).await;
    assert!(
        matches!(&called.outcome, CallOutcome::Refused { code } if code.unified == UnifiedCode::NotFound)
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_as_an_authentication_failure() {
    let mp = mockpay().await;
    let adapter = MockpayAdapter::new(MockpayConfig::new(mp.base_url(), MERCHANT, "not-the-secret")).unwrap();
    let called = adapter.query("ord-x", Currency::JPY).await;
    assert!(
        matches!(&called.outcome, CallOutcome::Refused { code } if code.unified == UnifiedCode::AuthenticationFailed)
    );
    assert_eq!(called.exchange.response_status, Some(401));
    assert_eq!(called.exchange.outcome, ExchangeOutcome::Error);
}

#[tokio::test]
async fn the_signature_never_appears_in_the_exchange() {
    let mp = mockpay().await;
    let adapter = adapter(&mp);
    for called in [
        adapter.pay(&pay_request("ord-redact", PayMethod::Direct)).await.exchange,
        adapter.query("ord-redact", Currency::JPY).await.exchange,
    ] {
        let headers = called.request_headers.as_object().expect("headers are an object");
        assert_eq!(headers["x-mockpay-signature"], REDACTED);
        assert_eq!(headers["x-mockpay-merchant"], MERCHANT);
        // Recompute the signature that was sent from what the exchange kept.
        let timestamp = headers["x-mockpay-timestamp"].as_str().unwrap();
        let nonce = headers["x-mockpay-nonce"].as_str().unwrap();
        let path = called.request_url.strip_prefix(mp.base_url()).unwrap();
        let message = signing::message(
            &called.request_method,
            path,
            timestamp,
            nonce,
            called.request_body.as_deref().unwrap_or(""),
        );
        let sent = signing::signature(&Secret::new(SECRET), &message);
        let everything = format!("{called:?}");
        assert!(!everything.contains(&sent), "the signature leaked: {everything}");
        assert!(!everything.contains(SECRET), "the secret leaked: {everything}");
    }
}

#[tokio::test]
async fn exchanges_are_recorded_and_read_back_oldest_first() {
    use paygate::store::exchanges;
    use paygate::store::payments::{self, Created, NewPayment};

    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    let mut conn = db.pool.acquire().await.unwrap();
    let payment_id = uuid::Uuid::now_v7();
    let created = payments::create(
        &mut conn,
        &NewPayment {
            capture_mode: Default::default(),
            id: payment_id,
            merchant_id: "m-1".parse().unwrap(),
            merchant_order_no: "o-1".into(),
            provider: "mockpay".parse().unwrap(),
            pay_method: "direct".parse().unwrap(),
            order_type: "retail".into(),
            amount: jpy(1500),
            subject: "coffee beans".into(),
            return_url: None,
            expires_at: None,
            metadata: serde_json::json!({}),
            request_fingerprint: "fp".into(),
            reply_to: None,
            correlation_id: None,
            auth_code: None,
            payer: None,
        },
        None,
    )
    .await
    .unwrap();
    assert!(matches!(created, Created::New(_)));

    let mp = mockpay_with(Settings { timeout_hold_ms: 10_000, ..Settings::default() }).await;
    let adapter = adapter(&mp);
    let trade_no = paygate::providers::adapter::trade_no(payment_id);
    mp.admin().script_fault(&trade_no, Operation::Pay, Fault::Timeout, 1).await.unwrap();
    let timed_out = adapter.pay(&pay_request(&trade_no, PayMethod::Direct)).await.exchange;
    let answered = adapter.pay(&pay_request(&trade_no, PayMethod::Direct)).await.exchange;

    let first = exchanges::record(&mut conn, Some(payment_id), None, &timed_out).await.unwrap();
    let second = exchanges::record(&mut conn, Some(payment_id), None, &answered).await.unwrap();
    assert!(second > first);

    let rows = exchanges::of_payment(&mut conn, payment_id).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        ["timeout", "ok"],
        "oldest first"
    );
    let row = &rows[1];
    assert_eq!((row.provider.as_str(), row.operation.as_str()), ("mockpay", "pay"));
    assert_eq!(row.request_headers, answered.request_headers);
    assert_eq!(row.request_body, answered.request_body);
    assert_eq!(row.response_status, Some(200));
    assert_eq!(row.response_body, answered.response_body);
    assert_eq!(row.latency_us, answered.latency_us);
    assert_eq!(row.unified_code.as_deref(), Some("success"));
    assert_eq!(rows[0].response_status, None);
    assert!(rows[0].error.is_some());

    // The log is append-only.
    let update = sqlx::query("UPDATE provider_exchanges SET error = 'x'").execute(&mut *conn).await;
    assert!(update.is_err(), "the exchange log must refuse updates");
}

/// A provider (or a proxy) that answers every request with a 200 and a body that never ends.
async fn endless_body_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as much body as it announces.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0usize);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let head =
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_the_limit_and_its_refund_is_unknown() {
    let base = endless_body_server().await;
    let timeout = Duration::from_secs(20);
    let adapter =
        MockpayAdapter::new(MockpayConfig::new(base, MERCHANT, SECRET).with_timeout(timeout)).unwrap();
    let started = std::time::Instant::now();
    let called = adapter.refund(&refund_request("ord-endless", "ref-endless", 500)).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "read until the limit, not until the timeout: {elapsed:?}");
    let CallOutcome::Unknown { reason, code } = &called.outcome else {
        panic!("an over-long answer must be unknown for the money path: {:?}", called.outcome)
    };
    assert!(reason.contains("longer than 1048576 bytes"), "{reason}");
    assert_eq!(code.as_ref().map(|c| c.unified), Some(UnifiedCode::UnreadableAnswer));
    // The exchange log records the cut, and keeps no more than the limit.
    let exchange = &called.exchange;
    assert_eq!(exchange.outcome, ExchangeOutcome::Error);
    assert_eq!(exchange.response_status, Some(200));
    let error = exchange.error.as_deref().unwrap_or_default();
    assert!(error.contains("response body cut: longer than the limit of 1048576 bytes"), "{error}");
    let kept = exchange.response_body.as_deref().map_or(0, str::len);
    assert!(kept <= paygate::providers::http::MAX_RESPONSE_BODY, "{kept}");

    // The limit is configurable; an answer within it is read as usual.
    let small = MockpayAdapter::new(
        MockpayConfig::new(endless_body_server().await, MERCHANT, SECRET)
            .with_timeout(timeout)
            .with_max_response_bytes(1000),
    )
    .unwrap();
    let called = small.refund_query("ord-endless", "ref-endless", Currency::JPY).await;
    let CallOutcome::Unknown { reason, .. } = &called.outcome else { panic!("{:?}", called.outcome) };
    assert!(reason.contains("longer than 1000 bytes"), "{reason}");
    assert_eq!(called.exchange.response_body.as_deref().map(str::len), Some(1000));
}
