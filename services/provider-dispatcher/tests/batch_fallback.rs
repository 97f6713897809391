//! A batch that falls back to one by one does not call any provider again.
//!
//! The dispatcher applies the answers of several orders in one transaction; when one of them is
//! not `Done` (here a close that mockpay answers with a 500: try again later) the batch rolls
//! back and every message is applied on its own. The provider calls were made in the preparation,
//! with the attempts committed before them, so each message is applied alone with the answer it
//! already has: one pay call per order, whether its answer was a charge or unknown (a lost
//! answer, which a query will settle later, never a second pay).
//!
//! This drives the handler as the consumer does (prepare, the calls, `handle_batch`, then `handle`
//! for each), against an in-process mockpay and a real database.

use std::sync::Arc;
use std::time::Duration;

use paygate::broker::consumer::{Batched, Delivered, Handler, Outcome};
use paygate::broker::envelope::Envelope;
use paygate::broker::topology::Topology;
use paygate::domain::{Currency, Money};
use paygate::messages::orders::{CloseReason, OrderWork};
use paygate::providers::ProviderRegistry;
use paygate::providers::adapter::trade_no;
use paygate::providers::mockpay::{MockpayAdapter, MockpayConfig};
use paygate::store::StoredRow;
use paygate::store::payments::{self, Created, NewPayment, Payment};
use paygate_test_support::TestDb;
use provider_dispatcher::bulkhead::{BulkheadConfig, Bulkheads};
use provider_dispatcher::deps::Deps;
use provider_dispatcher::dispatcher::Dispatcher;
use provider_dispatcher::exchange_log::ExchangeLog;
use provider_dispatcher::metrics::DispatcherMetrics;
use serde_json::json;
use uuid::Uuid;

const MERCHANT: &str = "m-batch";
const SECRET: &str = "batch-secret";

async fn payment(db: &TestDb, order_no: &str, pay_method: &str) -> Uuid {
    let new = NewPayment {
        capture_mode: Default::default(),
        id: Uuid::now_v7(),
        merchant_id: "shop".parse().unwrap(),
        merchant_order_no: order_no.into(),
        provider: "mockpay".parse().unwrap(),
        pay_method: pay_method.parse().unwrap(),
        order_type: "retail".into(),
        amount: Money::from_minor(300, Currency::CNY).unwrap(),
        subject: "Tea".into(),
        return_url: None,
        expires_at: None,
        metadata: json!({}),
        request_fingerprint: order_no.into(),
        reply_to: None,
        correlation_id: None,
        auth_code: None,
        payer: None,
    };
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(p) = payments::create(&mut conn, &new, None).await.unwrap() else { panic!() };
    p.id
}

fn delivered(work: &OrderWork) -> Delivered {
    let envelope = Envelope::new(work.message_type(), work.payment_id().to_string(), json!(work));
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

/// Prepares `msgs` together and makes their calls, as the consumer does.
async fn prepared(
    dispatcher: &Dispatcher,
    db: &TestDb,
    msgs: &[&Delivered],
) -> Vec<provider_dispatcher::dispatcher::Prepared> {
    let mut out = Vec::new();
    for preparing in dispatcher.prepare(&db.pool, msgs).await.unwrap() {
        out.push(preparing.await.unwrap());
    }
    out
}

/// Applies one message in its own transaction.
async fn apply_alone(
    dispatcher: &Dispatcher,
    db: &TestDb,
    msg: &Delivered,
    prepared: &provider_dispatcher::dispatcher::Prepared,
) -> Outcome {
    let mut tx = db.pool.begin().await.unwrap();
    let outcome = dispatcher.handle(&mut tx, msg, prepared).await.unwrap();
    tx.commit().await.unwrap();
    outcome
}

async fn exchanges(db: &TestDb, payment_id: Uuid, operation: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = $2")
        .bind(payment_id)
        .bind(operation)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_falls_back_applies_each_answer_without_calling_the_provider_again() {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.unwrap();
    let settings = mockpay::Settings { timeout_hold_ms: 2_000, ..mockpay::Settings::default() };
    let config = mockpay::Config::default().with_merchant(MERCHANT, SECRET).with_settings(settings);
    let mockpay = mockpay::MockPay::start(config).await.unwrap();
    let admin = mockpay.admin();
    let adapter = MockpayAdapter::new(
        MockpayConfig::new(mockpay.base_url().to_owned(), MERCHANT.to_owned(), SECRET.to_owned())
            .with_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    let metrics = DispatcherMetrics::default();
    let dispatcher = Dispatcher::new(Deps {
        providers: ProviderRegistry::new().with(Arc::new(adapter)),
        topology: Arc::new(Topology::default()),
        exchanges: ExchangeLog::connect_lazy(&db.url, 2).unwrap(),
        notify_base_url: None,
        bulkheads: Bulkheads::new(BulkheadConfig::default(), metrics.bulkheads.clone()),
        metrics,
    });

    // A QR payment, dispatched: it waits for the customer.
    let qr = payment(&db, "b-qr", "qr").await;
    let pay_qr = delivered(&OrderWork::DispatchPay { payment_id: qr });
    let first = prepared(&dispatcher, &db, &[&pay_qr]).await;
    assert_eq!(apply_alone(&dispatcher, &db, &pay_qr, &first[0]).await, Outcome::Done);

    // Then, waiting together on the shard: four direct pays (one whose answer is lost), and the
    // QR payment's close, which mockpay answers with a 500 once.
    let mut direct = Vec::new();
    for n in 0..4 {
        direct.push(payment(&db, &format!("b-{n}"), "direct").await);
    }
    let lost = direct[1];
    admin
        .script_fault(&trade_no(lost), mockpay::Operation::Pay, mockpay::Fault::LostResponse, 1)
        .await
        .unwrap();
    admin.script_fault(&trade_no(qr), mockpay::Operation::Close, mockpay::Fault::Http500, 1).await.unwrap();
    let mut works: Vec<OrderWork> =
        direct.iter().map(|&payment_id| OrderWork::DispatchPay { payment_id }).collect();
    works.insert(2, OrderWork::Close { payment_id: qr, reason: CloseReason::Requested });
    let msgs: Vec<Delivered> = works.iter().map(delivered).collect();
    let refs: Vec<&Delivered> = msgs.iter().collect();
    let answers = prepared(&dispatcher, &db, &refs).await;

    let mut tx = db.pool.begin().await.unwrap();
    let batch: Vec<_> = msgs.iter().zip(&answers).collect();
    let batched = dispatcher.handle_batch(&mut tx, &batch).await.unwrap();
    assert!(matches!(batched, Batched::OneByOne { .. }), "{batched:?}");
    tx.rollback().await.unwrap();
    for (msg, answer) in &batch {
        let outcome = apply_alone(&dispatcher, &db, msg, answer).await;
        let expected = msg.envelope.message_type != "order.close";
        assert_eq!(outcome == Outcome::Done, expected, "{}: {outcome:?}", msg.envelope.message_type);
    }

    let requests = admin.stats().await.unwrap().requests;
    let pays: u64 = requests["pay"].values().sum();
    assert_eq!(pays, 5, "one pay request per order: {requests:?}");
    let closes: u64 = requests["close"].values().sum();
    assert_eq!(closes, 1, "the close was asked once, and goes on the ladder: {requests:?}");
    for &id in &direct {
        assert_eq!(exchanges(&db, id, "pay").await, 1, "{id}");
        let truth = admin.payment(&trade_no(id)).await.unwrap().expect("mockpay has it");
        assert_eq!(truth.status, "SUCCEEDED", "{id}: charged once");
        let state = Payment::get(&mut db.pool.acquire().await.unwrap(), id).await.unwrap().unwrap().state;
        let expected = if id == lost { "unknown" } else { "succeeded" };
        assert_eq!(state.as_str(), expected, "{id}");
    }
    let qr_state = Payment::get(&mut db.pool.acquire().await.unwrap(), qr).await.unwrap().unwrap().state;
    assert_eq!(qr_state.as_str(), "action_required", "the close is retried later");
}
