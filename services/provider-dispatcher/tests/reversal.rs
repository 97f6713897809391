//! A barcode payment that does not finish in time is reversed (`alipay.trade.cancel`) instead of
//! queried again, against alipaysim in process and a real database: unpaid, it is closed; paid
//! meanwhile, it is recorded paid and refunded in full by a system refund; a reversal whose
//! outcome is unknown goes up the retry ladder and the next look reverses again.
//!
//! This drives the handler as the consumer does (prepare with the call, then `handle` in its own
//! transaction), like `batch_fallback`.

use std::sync::Arc;
use std::time::Duration;

use alipaysim::{AlipaySim, AlipaySimHandle, Config, Fault, Operation, ScriptEntry, Settings};
use paygate::broker::consumer::{Delivered, Handler, Outcome};
use paygate::broker::envelope::Envelope;
use paygate::broker::topology::Topology;
use paygate::domain::{AuthCode, Currency, Money};
use paygate::messages::orders::{OrderWork, QueryReason};
use paygate::providers::ProviderRegistry;
use paygate::providers::adapter::{reversal_refund_id, trade_no};
use paygate::providers::alipay::signing::{AlipayPublicKey, AppPrivateKey};
use paygate::providers::alipay::{AlipayAdapter, AlipayConfig};
use paygate::state_machine::{PaymentState, RefundState};
use paygate::store::StoredRow;
use paygate::store::payments::{self, Created, NewPayment, Payment};
use paygate::store::refunds::Refund;
use paygate_test_support::TestDb;
use provider_dispatcher::bulkhead::{BulkheadConfig, Bulkheads};
use provider_dispatcher::deps::Deps;
use provider_dispatcher::dispatcher::Dispatcher;
use provider_dispatcher::exchange_log::ExchangeLog;
use provider_dispatcher::metrics::DispatcherMetrics;
use provider_dispatcher::work::reverse::REVERSAL_SENT;
use serde_json::json;
use uuid::Uuid;

const APP_ID: &str = "2021000000000001";
const SELLER: &str = "2088000000000001";
const AUTH_CODE: &str = "281234567890123456";

fn key(who: &str, form: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/vectors/alipay/vectors.json")).unwrap();
    v["keys"][who][form].as_str().unwrap().to_owned()
}

async fn sim() -> AlipaySimHandle {
    // Every barcode payment waits for the customer to confirm on the phone (10003).
    let settings =
        Settings { bar_code_confirm_above_fen: Some(0), timeout_hold_ms: 1_000, ..Settings::default() };
    let config = Config::default()
        .with_app(APP_ID, &key("app", "public_spki_pem"), SELLER)
        .with_alipay_key(&key("alipay", "private_pkcs8_pem"))
        .with_settings(settings);
    AlipaySim::start(config).await.unwrap()
}

/// The dispatcher, with Alipay reversing barcode payments `reverse_after` after their creation.
fn dispatcher(db: &TestDb, s: &AlipaySimHandle, reverse_after: Duration) -> Dispatcher {
    let mut config = AlipayConfig::new(
        APP_ID,
        AppPrivateKey::from_pem(&key("app", "private_pkcs8_pem")).unwrap(),
        AlipayPublicKey::from_pem(&s.alipay_public_key_pem()).unwrap(),
    );
    config.gateway_url = s.gateway_url();
    config.seller_id = Some(SELLER.into());
    config.request_timeout = Duration::from_secs(5);
    config.reverse_after = reverse_after;
    let metrics = DispatcherMetrics::default();
    Dispatcher::new(Deps {
        providers: ProviderRegistry::new().with(Arc::new(AlipayAdapter::new(config).unwrap())),
        topology: Arc::new(Topology::default()),
        exchanges: ExchangeLog::connect_lazy(&db.url, 2).unwrap(),
        notify_base_url: None,
        bulkheads: Bulkheads::new(BulkheadConfig::default(), metrics.bulkheads.clone()),
        metrics,
    })
}

async fn barcode_payment(db: &TestDb, order_no: &str, amount: i64) -> Uuid {
    let new = NewPayment {
        capture_mode: Default::default(),
        id: Uuid::now_v7(),
        merchant_id: "shop".parse().unwrap(),
        merchant_order_no: order_no.into(),
        provider: "alipay".parse().unwrap(),
        pay_method: "barcode".parse().unwrap(),
        order_type: "retail".into(),
        amount: Money::from_minor(amount, Currency::CNY).unwrap(),
        subject: "Tea".into(),
        return_url: None,
        expires_at: None,
        metadata: json!({}),
        request_fingerprint: order_no.into(),
        reply_to: None,
        correlation_id: None,
        auth_code: Some(AuthCode::parse(AUTH_CODE).unwrap()),
        payer: None,
    };
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(p) = payments::create(&mut conn, &new, None).await.unwrap() else { panic!() };
    p.id
}

fn delivered(work: &OrderWork, attempt: u32) -> Delivered {
    let mut envelope = Envelope::new(work.message_type(), work.payment_id().to_string(), json!(work));
    envelope.attempt = attempt;
    Delivered {
        envelope,
        queue: "paygate.orders.0".into(),
        exchange: "paygate.orders".into(),
        routing_key: "0".into(),
        redelivered: false,
        delivery_count: 0,
        content_type: Some("application/json".into()),
    }
}

/// Prepares `work` (its call made), then applies it in its own transaction, as the consumer does.
async fn run(dispatcher: &Dispatcher, db: &TestDb, work: &OrderWork, attempt: u32) -> Outcome {
    let msg = delivered(work, attempt);
    let mut prepared = Vec::new();
    for preparing in dispatcher.prepare(&db.pool, &[&msg]).await.unwrap() {
        prepared.push(preparing.await.unwrap());
    }
    let mut tx = db.pool.begin().await.unwrap();
    let outcome = dispatcher.handle(&mut tx, &msg, &prepared[0]).await.unwrap();
    tx.commit().await.unwrap();
    outcome
}

async fn payment(db: &TestDb, id: Uuid) -> Payment {
    Payment::get(&mut db.pool.acquire().await.unwrap(), id).await.unwrap().unwrap()
}

async fn calls(db: &TestDb, id: Uuid, operation: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = $2")
        .bind(id)
        .bind(operation)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// The payment's history, as `from --event--> to`.
async fn history(db: &TestDb, id: Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT coalesce(from_state, '') || ' --' || event || '--> ' || to_state FROM state_transitions
          WHERE payment_id = $1 AND entity = 'payment' ORDER BY version",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// Sends the barcode payment: Alipay answers 10003, it is pending while the customer confirms.
async fn paid_in_process(dispatcher: &Dispatcher, db: &TestDb, id: Uuid) {
    assert_eq!(run(dispatcher, db, &OrderWork::DispatchPay { payment_id: id }, 0).await, Outcome::Done);
    assert_eq!(payment(db, id).await.state, PaymentState::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barcode_payment_not_finished_in_time_is_reversed_closed_if_unpaid_refunded_if_paid() {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.unwrap();
    let s = sim().await;

    // Younger than the reverse-after: its follow-up is a query, and it stays pending.
    let young = dispatcher(&db, &s, Duration::from_secs(3600));
    let waiting = barcode_payment(&db, "bc-young", 500).await;
    paid_in_process(&young, &db, waiting).await;
    let follow_up =
        OrderWork::Query { payment_id: waiting, refund_id: None, reason: QueryReason::StillProcessing };
    assert_eq!(run(&young, &db, &follow_up, 1).await, Outcome::Done);
    assert_eq!((calls(&db, waiting, "query").await, calls(&db, waiting, "cancel").await), (1, 0));
    assert_eq!(payment(&db, waiting).await.state, PaymentState::ActionRequired, "WAIT_BUYER_PAY");

    // Past it (every payment is, at 1 ms): the follow-up reverses; unpaid, Alipay closes it.
    let d = dispatcher(&db, &s, Duration::from_millis(1));
    assert_eq!(run(&d, &db, &follow_up, 2).await, Outcome::Done);
    let p = payment(&db, waiting).await;
    assert_eq!(p.state, PaymentState::Closed);
    assert!(p.flags.iter().any(|f| f == REVERSAL_SENT), "{:?}", p.flags);
    assert_eq!((calls(&db, waiting, "query").await, calls(&db, waiting, "cancel").await), (1, 1));
    assert_eq!(history(&db, waiting).await.last().unwrap(), "action_required --closed--> closed");
    let truth = s.admin().trade(&trade_no(waiting)).await.unwrap();
    assert_eq!((truth["tradeStatus"].as_str(), truth["charges"].as_i64()), (Some("TRADE_CLOSED"), Some(0)));

    // Paid by the customer just before the stuck scan's look reverses it: Alipay refunds it in full.
    let paid = barcode_payment(&db, "bc-paid", 800).await;
    paid_in_process(&d, &db, paid).await;
    s.admin().act(&trade_no(paid), "pay").await.unwrap();
    let stuck = OrderWork::Query { payment_id: paid, refund_id: None, reason: QueryReason::Stuck };
    assert_eq!(run(&d, &db, &stuck, 0).await, Outcome::Done);
    let p = payment(&db, paid).await;
    assert_eq!(p.state, PaymentState::Refunded);
    assert_eq!((p.refunded.minor_units(), p.refund_in_flight.minor_units()), (800, 0));
    assert_eq!(
        history(&db, paid).await[2..],
        ["pending --provider_succeeded--> succeeded", "succeeded --refund_succeeded_full--> refunded"]
    );
    // The system's full refund, its id derived from the payment's (reconciliation finds it so).
    let refund_id = reversal_refund_id(paid);
    let refund = Refund::get(&mut db.pool.acquire().await.unwrap(), refund_id).await.unwrap().unwrap();
    assert_eq!(
        (refund.state, refund.amount.minor_units(), refund.refund_no.as_str(), refund.requested_by.as_str()),
        (RefundState::Succeeded, 800, format!("reversal-{paid}").as_str(), "paygate")
    );
    assert_eq!(calls(&db, paid, "refund").await, 0, "the reversal refunded it: no refund call of ours");
    let truth = s.admin().trade(&trade_no(paid)).await.unwrap();
    assert_eq!((truth["charges"].as_i64(), truth["refunded"].as_i64()), (Some(1), Some(800)));
    // Upstream hears the refund and the payment.
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT envelope->>'message_type' FROM outbox WHERE envelope->>'order_key' = $1 ORDER BY id",
    )
    .bind(paid.to_string())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(events.iter().any(|t| t == "refund.succeeded"), "{events:?}");
    assert!(events.iter().any(|t| t == "payment.refunded"), "{events:?}");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversal_whose_outcome_is_unknown_goes_up_the_ladder_and_the_next_look_reverses_again() {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.unwrap();
    let s = sim().await;
    let d = dispatcher(&db, &s, Duration::from_millis(1));
    let id = barcode_payment(&db, "bc-unknown", 500).await;
    paid_in_process(&d, &db, id).await;

    s.admin().script(&ScriptEntry::new(trade_no(id), Operation::Cancel, Fault::Http500)).await.unwrap();
    let stuck = OrderWork::Query { payment_id: id, refund_id: None, reason: QueryReason::Stuck };
    assert_eq!(run(&d, &db, &stuck, 0).await, Outcome::Done);
    // Nothing decided here: still pending, and a follow-up waits on the first retry tier.
    assert_eq!(payment(&db, id).await.state, PaymentState::Pending);
    let (exchange, envelope): (String, serde_json::Value) = sqlx::query_as(
        "SELECT exchange, envelope FROM outbox WHERE envelope->>'order_key' = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(id.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(exchange, "paygate.retry");
    let envelope: Envelope<OrderWork> = serde_json::from_value(envelope).unwrap();
    let next = envelope.payload;
    assert!(matches!(next, OrderWork::Query { reason: QueryReason::OutcomeUnknown, .. }), "{next:?}");
    assert_eq!(envelope.attempt, 1);

    // The follow-up reverses again (never a query in between), and Alipay closes it.
    assert_eq!(run(&d, &db, &next, envelope.attempt).await, Outcome::Done);
    assert_eq!(payment(&db, id).await.state, PaymentState::Closed);
    assert_eq!((calls(&db, id, "cancel").await, calls(&db, id, "query").await), (2, 0));
    s.shutdown().await.unwrap();
}
