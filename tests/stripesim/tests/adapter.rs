//! paygate's Stripe adapter against stripesim: the flows and answers the conformance suite does
//! not reach (an idempotency key reused with other parameters, 3-D Secure, the search's lag, a
//! bad key and what the exchange log keeps of it, 429 and 500, a close that finds the payment
//! paid, zero-decimal currencies, declines by card, webhook retries and their signature).
//!
//! Nothing sleeps to synchronise: waits poll with a deadline.

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use paygate::domain::{Currency, Money, Payer};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::stripe::signing::Secret;
use paygate::providers::stripe::{StripeAdapter, StripeConfig};
use paygate::providers::{
    CallOutcome, PayRequest, PaymentStatus, ProviderAdapter, RefundRequest, RefundStatus, UnifiedCode,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stripesim::{Fault, Operation, ScriptEntry, SimHandle, StripeSim, testkit};

const DEADLINE: Duration = Duration::from_secs(15);

async fn sim() -> SimHandle {
    let mut config = testkit::test_config();
    config.settings.refund_delay_ms = 50;
    config.settings.notify_scale_ppm = 1_000;
    config.settings.timeout_hold_ms = 5_000;
    StripeSim::start(config).await.expect("stripesim starts")
}

fn adapter(sim: &SimHandle, key: &str) -> StripeAdapter {
    let mut config = StripeConfig::new(Secret::new(key), Secret::new(testkit::WEBHOOK_SECRET), sim.account());
    config.base_url = sim.base_url().to_owned();
    config.request_timeout = Duration::from_secs(2);
    StripeAdapter::new(config).expect("the adapter builds")
}

fn no() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn pay(trade_no: &str, minor: i64, currency: Currency) -> PayRequest {
    PayRequest {
        capture: Default::default(),
        trade_no: trade_no.into(),
        amount: Money::from_minor(minor, currency).unwrap(),
        subject: "stripesim 测试".into(),
        pay_method: PayMethod::ClientSecret,
        notify_url: None,
        return_url: None,
        expires_at: None,
        auth_code: None,
        payer: Payer::default(),
    }
}

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < end, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_key_reused_with_other_parameters_is_an_idempotency_conflict_never_a_second_payment() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let t = no();
    let first = a.pay(&pay(&t, 1_000, Currency::USD)).await.outcome;
    assert!(
        matches!(&first, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::WaitingForCustomer),
        "{first:?}"
    );
    match a.pay(&pay(&t, 2_000, Currency::USD)).await.outcome {
        CallOutcome::Refused { code } => {
            assert_eq!(
                (code.unified, code.definitive, code.retryable),
                (UnifiedCode::IdempotencyConflict, true, false),
                "{code:?}"
            );
            assert_eq!(code.provider_code, "idempotency_error");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let truth = sim.admin().order(&t).await.unwrap().expect("in the books");
    assert_eq!(truth["paymentIntent"]["amount"], 1_000, "the first request stands");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn three_d_secure_is_a_redirect_then_the_payment_succeeds() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let t = no();
    let created = a.pay(&pay(&t, 1_000, Currency::EUR)).await.outcome;
    let CallOutcome::Answer { facts, .. } = created else { panic!("{created:?}") };
    assert!(
        matches!(facts.action, Some(CustomerAction::ClientSecret { ref client_secret, .. }) if client_secret.contains("_secret_"))
    );
    sim.admin().pay(&t, "pm_card_threeDSecure2Required").await.unwrap();
    let q = a.query(&t, Currency::EUR).await;
    assert_eq!(q.earlier.len(), 1, "the search, then the read");
    let CallOutcome::Answer { facts, .. } = q.outcome else { panic!("{:?}", q.outcome) };
    assert_eq!(facts.status, PaymentStatus::WaitingForCustomer);
    let Some(CustomerAction::Redirect { url, .. }) = facts.action else { panic!("{facts:?}") };
    assert!(url.starts_with(sim.base_url()), "{url}");
    // The customer completes the challenge at the redirect URL.
    let page = reqwest::Client::builder().no_proxy().build().unwrap().get(&url).send().await.unwrap();
    assert!(page.status().is_success());
    let paid = a.query(&t, Currency::EUR).await.outcome;
    assert!(
        matches!(&paid, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Succeeded),
        "{paid:?}"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_declined_card_leaves_the_payment_open_with_the_decline_code() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let t = no();
    a.pay(&pay(&t, 1_000, Currency::USD)).await;
    let e = sim.admin().pay(&t, "pm_card_chargeDeclinedInsufficientFunds").await.unwrap_err();
    assert!(e.to_string().contains("402") && e.to_string().contains("insufficient_funds"), "{e}");
    match a.query(&t, Currency::USD).await.outcome {
        CallOutcome::Answer { facts, code } => {
            assert_eq!(facts.status, PaymentStatus::WaitingForCustomer);
            assert_eq!((code.unified, code.definitive), (UnifiedCode::DeclinedInsufficientFunds, true));
        }
        other => panic!("{other:?}"),
    }
    // Another card, and it is paid.
    sim.admin().pay(&t, "pm_card_visa").await.unwrap();
    let paid = a.query(&t, Currency::USD).await.outcome;
    assert!(
        matches!(&paid, CallOutcome::Answer { facts, code } if facts.status == PaymentStatus::Succeeded && code.unified == UnifiedCode::Success),
        "{paid:?}"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn while_the_search_lags_a_payment_is_not_found_and_its_refund_waits() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let mut settings = sim.admin().settings().await.unwrap();
    settings.search_lag_ms = 60_000;
    sim.admin().set_settings(&settings).await.unwrap();
    let t = no();
    a.pay(&pay(&t, 1_000, Currency::USD)).await;
    let q = a.query(&t, Currency::USD).await.outcome;
    assert!(
        matches!(&q, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::NotFound),
        "{q:?}"
    );
    assert_eq!(
        a.not_found_is_final_after(),
        Duration::from_secs(3600),
        "believed only after the search's worst lag"
    );
    let refund = RefundRequest {
        trade_no: t.clone(),
        refund_trade_no: no(),
        amount: Money::from_minor(100, Currency::USD).unwrap(),
        payment_amount: Money::from_minor(1_000, Currency::USD).unwrap(),
        reason: None,
        notify_url: None,
    };
    let r = a.refund(&refund).await.outcome;
    assert!(
        matches!(&r, CallOutcome::RetryLater { .. }),
        "never 'no such payment' while the search lags: {r:?}"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_key_is_refused_and_no_key_reaches_the_exchange_log() {
    let sim = sim().await;
    let a = adapter(&sim, "sk_test_wrong_key_value");
    let called = a.pay(&pay(&no(), 1_000, Currency::USD)).await;
    match &called.outcome {
        CallOutcome::Refused { code } => {
            assert_eq!(code.unified, UnifiedCode::AuthenticationFailed, "{code:?}")
        }
        other => panic!("{other:?}"),
    }
    let good = adapter(&sim, testkit::SECRET_KEY);
    let ok = good.pay(&pay(&no(), 1_000, Currency::USD)).await;
    let CallOutcome::Answer { facts, .. } = &ok.outcome else { panic!("{:?}", ok.outcome) };
    assert!(
        matches!(&facts.action, Some(CustomerAction::ClientSecret { client_secret, .. }) if client_secret.contains("_secret_")),
        "the customer still gets it"
    );
    for exchange in [&called.exchange, &ok.exchange] {
        assert_eq!(exchange.request_headers["authorization"], "[redacted]");
        let all = format!("{exchange:?}");
        // Stripe's own answer masks the key (`sk_test_****alue`); the key itself never appears.
        for secret in ["sk_test_wrong_key_value", testkit::SECRET_KEY, testkit::WEBHOOK_SECRET] {
            assert!(!all.contains(secret), "{secret} in the exchange log: {all}");
        }
        assert!(exchange.request_body.as_deref().unwrap_or("").contains("metadata%5Btrade_no%5D="));
        assert!(!all.contains("_secret_"), "a client secret in the exchange log: {all}");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limits_are_retry_later_and_server_errors_unknown() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let t = no();
    sim.admin().script(&ScriptEntry::new(&t, Operation::Pay, Fault::Http500)).await.unwrap();
    let o = a.pay(&pay(&t, 1_000, Currency::USD)).await.outcome;
    assert!(
        matches!(&o, CallOutcome::Unknown { code: Some(c), .. } if c.unified == UnifiedCode::ProviderError),
        "{o:?}"
    );
    assert!(sim.admin().order(&t).await.unwrap().is_none(), "a simulated 500 processed nothing");
    a.pay(&pay(&t, 1_000, Currency::USD)).await;
    sim.admin().script(&ScriptEntry::new(&t, Operation::Query, Fault::InProcess)).await.unwrap();
    let o = a.query(&t, Currency::USD).await.outcome;
    assert!(matches!(&o, CallOutcome::RetryLater { code } if code.retryable), "{o:?}");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_close_that_finds_the_payment_paid_records_it_paid() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let t = no();
    a.pay(&pay(&t, 500, Currency::JPY)).await;
    let truth = sim.admin().order(&t).await.unwrap().unwrap();
    assert_eq!(
        (truth["paymentIntent"]["amount"].as_i64(), truth["paymentIntent"]["currency"].as_str()),
        (Some(500), Some("jpy")),
        "zero-decimal JPY: 500 yen is amount 500"
    );
    sim.admin().pay(&t, "pm_card_visa").await.unwrap();
    let closed = a.close(&t, Currency::JPY).await;
    assert_eq!(closed.earlier.len(), 2, "the search and the refused cancel come first");
    match closed.outcome {
        CallOutcome::Answer { facts, .. } => {
            assert_eq!(facts.status, PaymentStatus::Succeeded);
            assert_eq!(facts.amount, Some(Money::from_minor(500, Currency::JPY).unwrap()));
        }
        other => panic!("{other:?}"),
    }
    // An unpaid one is cancelled.
    let open = no();
    a.pay(&pay(&open, 500, Currency::JPY)).await;
    let c = a.close(&open, Currency::JPY).await.outcome;
    assert!(
        matches!(&c, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Closed),
        "{c:?}"
    );
    assert!(
        sim.admin().pay(&open, "pm_card_visa").await.is_err(),
        "a cancelled PaymentIntent cannot be paid"
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn refunds_end_through_the_refund_query_and_never_exceed_the_payment() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let t = no();
    a.pay(&pay(&t, 1_000, Currency::USD)).await;
    sim.admin().pay(&t, "pm_card_visa").await.unwrap();
    let refund = |r: &str, minor: i64| RefundRequest {
        trade_no: t.clone(),
        refund_trade_no: r.to_owned(),
        amount: Money::from_minor(minor, Currency::USD).unwrap(),
        payment_amount: Money::from_minor(1_000, Currency::USD).unwrap(),
        reason: Some("damaged".into()),
        notify_url: None,
    };
    let (r1, r2) = (no(), no());
    let first = a.refund(&refund(&r1, 600)).await;
    assert!(
        matches!(&first.outcome, CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::Processing),
        "{:?}",
        first.outcome
    );
    assert_eq!(first.earlier.len(), 1, "the search first");
    // The same refund again (same Idempotency-Key, same parameters): the same refund.
    let again = a.refund(&refund(&r1, 600)).await.outcome;
    let id = |o: &CallOutcome<paygate::providers::RefundFacts>| match o {
        CallOutcome::Answer { facts, .. } => facts.provider_refund_id.clone(),
        _ => None,
    };
    assert_eq!(id(&again), id(&first.outcome));
    let over = a.refund(&refund(&r2, 500)).await.outcome;
    assert!(
        matches!(&over, CallOutcome::Refused { code } if code.unified == UnifiedCode::ExceedsRefundable),
        "{over:?}"
    );
    let end = eventually("the refund to end", || async {
        match a.refund_query(&t, &r1, Currency::USD).await.outcome {
            CallOutcome::Answer { facts, .. } if facts.status != RefundStatus::Processing => Some(facts),
            _ => None,
        }
    })
    .await;
    assert_eq!(end.status, RefundStatus::Succeeded);
    assert_eq!(end.amount, Some(Money::from_minor(600, Currency::USD).unwrap()));
    let unknown = a.refund_query(&t, &no(), Currency::USD).await.outcome;
    assert!(
        matches!(&unknown, CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::NotFound),
        "{unknown:?}"
    );
    sim.shutdown().await.unwrap();
}

/// An endpoint that refuses the first attempt of every event and takes the second.
#[tokio::test]
async fn webhooks_are_signed_and_retried_until_acknowledged() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let calls = Arc::new(AtomicU32::new(0));
    let (g, c) = (got.clone(), calls.clone());
    let router = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (g, c) = (g.clone(), c.clone());
        async move {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "not now");
            }
            g.lock().unwrap().push((headers, body));
            (axum::http::StatusCode::OK, "")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify/stripe", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut settings = sim.admin().settings().await.unwrap();
    settings.webhook_url = Some(url);
    sim.admin().set_settings(&settings).await.unwrap();

    let t = no();
    a.pay(&pay(&t, 1_000, Currency::USD)).await;
    sim.admin().pay(&t, "pm_card_visa").await.unwrap();
    let (headers, body) = eventually("the event acknowledged on its second attempt", || async {
        got.lock().unwrap().first().cloned()
    })
    .await;
    assert!(calls.load(Ordering::SeqCst) >= 2, "the first attempt was refused, so it was retried");
    let n = a
        .notifications()
        .verify(&headers, &body, chrono::Utc::now())
        .expect("paygate verifies stripesim's signature");
    assert_eq!((n.trade_no.as_str(), n.account.as_str()), (t.as_str(), sim.account()));
    assert_eq!(n.event, paygate::providers::ClaimedEvent::PaymentSucceeded);
    let truth = sim.admin().order(&t).await.unwrap().unwrap();
    let attempts = truth["events"][0]["attempts"].as_array().cloned().unwrap_or_default();
    assert!(attempts.len() >= 2, "{truth}");
    sim.shutdown().await.unwrap();
}

/// Events out of order: a decline's `payment_intent.payment_failed` held back until the success
/// that followed it has been delivered. Both verify; the late one claims a decline, and the query
/// (paygate's policy is query-back) says paid: an older event never moves the order back.
#[tokio::test]
async fn an_older_event_arriving_late_is_verified_but_the_query_says_paid() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::SECRET_KEY);
    let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let g = got.clone();
    let router = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let g = g.clone();
        async move {
            g.lock().unwrap().push((headers, body));
            ""
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify/stripe", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let mut settings = sim.admin().settings().await.unwrap();
    settings.webhook_url = Some(url);
    // Real time: the held-back decline waits up to 30 s for the success to overtake it. At this
    // file's usual 1/1000 scale the hold is 30 ms, which a loaded machine outlasts between the
    // two payments, releasing the decline first.
    settings.notify_scale_ppm = 1_000_000;
    sim.admin().set_settings(&settings).await.unwrap();
    let faults = stripesim::FaultSettings { notification_reorder_ppm: stripesim::PPM, ..Default::default() };
    sim.admin().set_faults(&faults).await.unwrap();

    let t = no();
    a.pay(&pay(&t, 1_000, Currency::USD)).await;
    sim.admin().pay(&t, "pm_card_chargeDeclined").await.unwrap_err();
    sim.admin().pay(&t, "pm_card_visa").await.unwrap();
    let delivered = eventually("both events delivered", || async {
        let g = got.lock().unwrap();
        (g.len() >= 2).then(|| g.clone())
    })
    .await;
    let claims: Vec<_> = delivered
        .iter()
        .map(|(h, b)| a.notifications().verify(h, b, chrono::Utc::now()).expect("each event verifies").event)
        .collect();
    use paygate::providers::ClaimedEvent::{PaymentDeclined, PaymentSucceeded};
    assert_eq!(claims[..2], [PaymentSucceeded, PaymentDeclined], "the older event arrived last");
    let q = a.query(&t, Currency::USD).await.outcome;
    assert!(
        matches!(&q, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Succeeded),
        "{q:?}"
    );
    sim.shutdown().await.unwrap();
}
