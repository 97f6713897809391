//! paygate's LINE Pay adapter against linepaysim: request, the customer's approval, check and
//! confirm inside the query (and never for a payment no longer open here), close without a cancel
//! API, refunds and the refund list, 1172 to a repeated request, a lost confirm answer, declines,
//! expiry, a bad signature and what the exchange log keeps, and amounts LINE Pay cannot take.

use linepaysim::{Fault, LinePaySim, Operation, ScriptEntry, SimHandle, testkit};
use paygate::domain::{Currency, Money, Payer};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::adapter::{RefundRef, TradeRef};
use paygate::providers::linepay::signing::ChannelSecret;
use paygate::providers::linepay::{LinePayAdapter, LinePayConfig};
use paygate::providers::{
    CallOutcome, PayRequest, PaymentFacts, PaymentStatus, ProviderAdapter, RefundRequest, RefundStatus,
    UnifiedCode,
};
use serde_json::Value;
use std::time::Duration;

async fn sim() -> SimHandle {
    let mut config = testkit::test_config();
    config.settings.timeout_hold_ms = 300;
    LinePaySim::start(config).await.expect("linepaysim starts")
}

/// A simulator whose one-time-key payments wait (`1145`) until the customer confirms on the phone
/// through the admin API.
async fn sim_where_customers_confirm_on_the_phone() -> SimHandle {
    let mut config = testkit::test_config();
    config.settings.timeout_hold_ms = 300;
    config.settings.pos_waits_for_customer = true;
    LinePaySim::start(config).await.expect("linepaysim starts")
}

fn adapter(sim: &SimHandle, secret: &str) -> LinePayAdapter {
    let mut config = LinePayConfig::new(testkit::CHANNEL_ID, ChannelSecret::new(secret));
    config.base_url = sim.base_url().to_owned();
    config.request_timeout = Duration::from_secs(2);
    LinePayAdapter::new(config).expect("the adapter builds")
}

fn no() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn twd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::TWD).unwrap()
}

fn pay(trade_no: &str, minor: i64) -> PayRequest {
    PayRequest {
        trade_no: trade_no.into(),
        amount: twd(minor),
        subject: "linepaysim 測試 & more".into(),
        pay_method: PayMethod::Redirect,
        notify_url: Some(format!("http://127.0.0.1:9/notify/linepay/{trade_no}")),
        return_url: Some("https://shop.example/back".into()),
        expires_at: None,
        auth_code: None,
        payer: Payer::default(),
        capture: Default::default(),
    }
}

fn facts(o: CallOutcome<PaymentFacts>) -> PaymentFacts {
    match o {
        CallOutcome::Answer { facts, .. } => facts,
        other => panic!("expected an answer, got {other:?}"),
    }
}

async fn charges(sim: &SimHandle, trade_no: &str) -> i64 {
    sim.admin().order(trade_no).await.unwrap().map_or(0, |o| o["charges"].as_i64().unwrap())
}

/// Requested and waiting: the transaction id and the customer's redirect.
async fn requested(a: &LinePayAdapter, t: &str, minor: i64) -> TradeRef {
    let called = a.pay(&pay(t, minor)).await;
    let f = facts(called.outcome);
    assert_eq!(f.status, PaymentStatus::WaitingForCustomer);
    let txn = f.provider_txn_id.clone().expect("a transaction id");
    assert_eq!(txn.len(), 19, "{txn}");
    assert!(txn.parse::<u64>().unwrap() > (1_u64 << 53));
    assert!(
        matches!(&f.action, Some(CustomerAction::Redirect { url, .. }) if url.contains("transactionReserveId"))
    );
    TradeRef::new(t, twd(minor)).with_provider_txn_id(Some(txn))
}

#[tokio::test]
async fn approved_then_confirmed_by_the_query_with_our_amount() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = requested(&a, &t, 100_000).await;
    let order = sim.admin().order(&t).await.unwrap().unwrap();
    assert_eq!(order["amount"], 1000, "TWD 1000.00 is sent as 1000 whole dollars");
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::WaitingForCustomer);
    assert_eq!(charges(&sim, &t).await, 0, "nothing charged before the customer approves and we confirm");

    sim.admin().approve(&t, false).await.unwrap();
    assert_eq!(charges(&sim, &t).await, 0, "approval alone charges nothing");
    let called = a.query_trade(&trade).await;
    let ops: Vec<&str> = called.earlier.iter().chain([&called.exchange]).map(|e| e.operation).collect();
    assert_eq!(ops, ["query", "query", "confirm"], "details, check, then confirm, each logged");
    let f = facts(called.outcome);
    assert_eq!((f.status, f.amount), (PaymentStatus::Succeeded, Some(twd(100_000))));
    assert_eq!(f.provider_txn_id, trade.provider_txn_id);
    assert_eq!(charges(&sim, &t).await, 1);
    assert!(called.exchange.request_body.as_deref().is_some_and(|b| b.contains("\"amount\":1000")));
    for e in called.earlier.iter().chain([&called.exchange]) {
        assert_eq!(e.request_headers["x-line-authorization"], "[redacted]", "{e:?}");
        assert!(!serde_json::to_string(&e.request_headers).unwrap().contains(testkit::CHANNEL_SECRET));
    }

    // Found in the details from now on (one call), by the trade number alone too.
    let again = a.query_trade(&trade).await;
    assert!(again.earlier.is_empty());
    let f = facts(again.outcome);
    assert_eq!(
        (f.status, f.amount, f.refunded),
        (PaymentStatus::Succeeded, Some(twd(100_000)), Some(twd(0)))
    );
    assert_eq!(facts(a.query(&t, Currency::TWD).await.outcome).status, PaymentStatus::Succeeded);
    assert_eq!(charges(&sim, &t).await, 1);

    // The same request again once paid: 1172, our earlier request got through: UNKNOWN, never a
    // failure (the dispatcher queries).
    match a.pay(&pay(&t, 100_000)).await.outcome {
        CallOutcome::Unknown { code: Some(code), .. } => assert_eq!(code.provider_code, "1172"),
        other => panic!("a repeated request must be UNKNOWN, got {other:?}"),
    }
    // A close of a paid payment answers paid.
    assert_eq!(facts(a.close_trade(&trade).await.outcome).status, PaymentStatus::Succeeded);
    let _ = sim.shutdown().await;
}

#[tokio::test]
async fn a_repeated_request_before_approval_answers_the_same_transaction() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let first = requested(&a, &t, 5_000).await;
    let second = requested(&a, &t, 5_000).await;
    assert_eq!(first.provider_txn_id, second.provider_txn_id);
    let _ = sim.shutdown().await;
}

#[tokio::test]
async fn an_approval_is_never_confirmed_for_a_payment_no_longer_open_here() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = requested(&a, &t, 100_000).await;
    // Closed here (LINE Pay has no cancel: nothing is charged without our confirm).
    let closed = a.close_trade(&trade).await;
    let code = closed.outcome.code().cloned().unwrap();
    assert_eq!(facts(closed.outcome).status, PaymentStatus::Closed);
    assert!(code.message.contains("no cancel"), "{code:?}");
    // The customer approves afterwards: a query for the closed payment does not confirm.
    sim.admin().approve(&t, false).await.unwrap();
    let closed_here = TradeRef { may_complete: false, ..trade.clone() };
    assert_eq!(facts(a.query_trade(&closed_here).await.outcome).status, PaymentStatus::Closed);
    assert_eq!(facts(a.close_trade(&trade).await.outcome).status, PaymentStatus::Closed);
    assert_eq!(charges(&sim, &t).await, 0);
    let _ = sim.shutdown().await;
}

#[tokio::test]
async fn cancelled_expired_and_declined_requests_end_without_a_charge() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);

    let t = no();
    let trade = requested(&a, &t, 1_000).await;
    sim.admin().cancel(&t).await.unwrap();
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Closed);

    let t = no();
    let trade = requested(&a, &t, 1_000).await;
    sim.admin().approve(&t, false).await.unwrap();
    sim.admin().expire(&t).await.unwrap();
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Closed, "0121: expired");

    let t = no();
    let trade = requested(&a, &t, 1_000).await;
    sim.admin().script(&ScriptEntry::new(&t, Operation::Pay, Fault::Decline)).await.unwrap();
    sim.admin().approve(&t, false).await.unwrap();
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Failed, "0122");
    assert_eq!(charges(&sim, &t).await, 0);

    // Without its transaction id (the request's answer was lost) only the details can be read.
    let t = no();
    requested(&a, &t, 1_000).await;
    let called = a.query_trade(&TradeRef::new(&t, twd(1_000))).await;
    match called.outcome {
        CallOutcome::Answer { facts, code } => {
            assert_eq!(facts.status, PaymentStatus::NotFound);
            assert_eq!(code.provider_code, "1150");
        }
        other => panic!("{other:?}"),
    }
    let _ = sim.shutdown().await;
}

#[tokio::test]
async fn a_lost_confirm_answer_is_unknown_and_the_next_query_finds_the_payment() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = requested(&a, &t, 2_000).await;
    sim.admin().approve(&t, false).await.unwrap();
    // The order's next `pay` is the confirm (the request was made).
    sim.admin().script(&ScriptEntry::new(&t, Operation::Pay, Fault::LostResponse)).await.unwrap();
    let lost = a.query_trade(&trade).await;
    assert!(matches!(lost.outcome, CallOutcome::Unknown { .. }), "{:?}", lost.outcome);
    assert_eq!(lost.exchange.operation, "confirm");
    assert_eq!(charges(&sim, &t).await, 1, "the confirm was processed");
    let f = facts(a.query_trade(&trade).await.outcome);
    assert_eq!((f.status, f.amount), (PaymentStatus::Succeeded, Some(twd(2_000))));
    assert_eq!(charges(&sim, &t).await, 1);

    // A 9000 to a confirm decides nothing either.
    let t = no();
    let trade = requested(&a, &t, 2_000).await;
    sim.admin().approve(&t, false).await.unwrap();
    sim.admin().script(&ScriptEntry::new(&t, Operation::Pay, Fault::Http500)).await.unwrap();
    match a.query_trade(&trade).await.outcome {
        CallOutcome::Unknown { code: Some(code), .. } => assert_eq!(code.provider_code, "9000"),
        other => panic!("{other:?}"),
    }
    assert_eq!(charges(&sim, &t).await, 0);
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Succeeded);
    let _ = sim.shutdown().await;
}

fn refund(t: &str, r: &str, minor: i64) -> RefundRequest {
    RefundRequest {
        trade_no: t.into(),
        refund_trade_no: r.into(),
        amount: twd(minor),
        payment_amount: twd(100_000),
        reason: None,
        notify_url: None,
    }
}

#[tokio::test]
async fn refunds_never_exceed_the_payment_and_the_refund_list_is_read_honestly() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = requested(&a, &t, 100_000).await;
    // Nothing refunded yet: the refund query proves no refund was made.
    sim.admin().approve(&t, false).await.unwrap();
    facts(a.query_trade(&trade).await.outcome);
    match a.refund_query(&t, &no(), Currency::TWD).await.outcome {
        CallOutcome::Answer { facts, .. } => assert_eq!(facts.status, RefundStatus::NotFound),
        other => panic!("{other:?}"),
    }
    let first_no = no();
    let called = a.refund(&refund(&t, &first_no, 30_000)).await;
    let refund_id = match called.outcome {
        CallOutcome::Answer { facts, .. } => {
            assert_eq!(facts.status, RefundStatus::Succeeded);
            assert_eq!(facts.amount, Some(twd(30_000)));
            assert_eq!(facts.provider_refund_id.as_ref().map(String::len), Some(19));
            facts.provider_refund_id
        }
        other => panic!("{other:?}"),
    };
    // Found by the refund id LINE Pay gave.
    let by_id = RefundRef {
        trade_no: t.clone(),
        refund_trade_no: first_no,
        amount: twd(30_000),
        provider_refund_id: refund_id,
    };
    match a.refund_query_ref(&by_id).await.outcome {
        CallOutcome::Answer { facts, .. } => {
            assert_eq!((facts.status, facts.amount), (RefundStatus::Succeeded, Some(twd(30_000))))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(called.earlier.len(), 1, "the details found the transaction id first");
    assert!(called.exchange.request_body.as_deref() == Some("{\"refundAmount\":300}"));
    // Above what is left: 1164, refused.
    match a.refund(&refund(&t, &no(), 80_000)).await.outcome {
        CallOutcome::Refused { code } => assert_eq!(code.unified, UnifiedCode::ExceedsRefundable),
        other => panic!("{other:?}"),
    }
    assert!(matches!(a.refund(&refund(&t, &no(), 70_000)).await.outcome, CallOutcome::Answer { .. }));
    match a.refund(&refund(&t, &no(), 100)).await.outcome {
        CallOutcome::Refused { code } => assert_eq!(code.unified, UnifiedCode::AlreadyRefunded),
        other => panic!("{other:?}"),
    }
    // With refunds made, which one is ours cannot be told: UNKNOWN, never a guess.
    assert!(matches!(a.refund_query(&t, &no(), Currency::TWD).await.outcome, CallOutcome::Unknown { .. }));
    let f = facts(a.query_trade(&trade).await.outcome);
    assert_eq!(f.refunded, Some(twd(100_000)));
    // A payment never confirmed cannot be refunded.
    let t2 = no();
    requested(&a, &t2, 1_000).await;
    assert!(matches!(a.refund(&refund(&t2, &no(), 1_000)).await.outcome, CallOutcome::Refused { .. }));
    let _ = sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_signature_is_a_1106_refusal_and_amounts_linepay_cannot_take_are_not_sent() {
    let sim = sim().await;
    let wrong = adapter(&sim, "test_only_not_the_channels_secret");
    let t = no();
    let called = wrong.pay(&pay(&t, 1_000)).await;
    match called.outcome {
        CallOutcome::Refused { code } => {
            assert_eq!(
                (code.provider_code.as_str(), code.unified),
                ("1106", UnifiedCode::AuthenticationFailed)
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(sim.admin().order(&t).await.unwrap().is_none(), "nothing was made");

    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    // TWD 10.50: not a whole number of dollars.
    let called = a.pay(&pay(&no(), 1_050)).await;
    match &called.outcome {
        CallOutcome::Refused { code } => {
            assert!(code.message.contains("amount") && code.message.contains("10.50"), "{code:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(called.exchange.response_status, None, "not sent");
    let mut thb = pay(&no(), 1_000);
    thb.amount = Money::from_minor(1_000, Currency::THB).unwrap();
    assert!(matches!(a.pay(&thb).await.outcome, CallOutcome::Refused { .. }));
    let stats: Value = serde_json::to_value(sim.admin().stats().await.unwrap()).unwrap();
    assert!(stats.to_string().contains("1106"), "{stats}");
    let _ = sim.shutdown().await;
}

fn one_time_key_pay(trade_no: &str, minor: i64) -> PayRequest {
    PayRequest {
        pay_method: PayMethod::Barcode,
        auth_code: Some(paygate::domain::AuthCode::parse("123456789012345678").unwrap()),
        notify_url: None,
        ..pay(trade_no, minor)
    }
}

#[tokio::test]
async fn a_one_time_key_payment_is_paid_checked_refunded_and_its_key_never_logged() {
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let called = a.pay(&one_time_key_pay(&t, 100_000)).await;
    let body = called.exchange.request_body.clone().unwrap_or_default();
    assert!(!body.contains("123456789012345678") && body.contains("[redacted]"), "{body}");
    assert_eq!(called.exchange.request_headers["x-line-channelsecret"], "[redacted]");
    let f = facts(called.outcome);
    assert_eq!((f.status, f.amount), (PaymentStatus::Succeeded, Some(twd(100_000))));
    assert_eq!(charges(&sim, &t).await, 1);
    // Found by the POS check, with the method known or not.
    let known = TradeRef { pay_method: Some(PayMethod::Barcode), ..TradeRef::new(&t, twd(100_000)) };
    assert_eq!(facts(a.query_trade(&known).await.outcome).status, PaymentStatus::Succeeded);
    let unknown = TradeRef::new(&t, twd(100_000)).with_provider_txn_id(f.provider_txn_id.clone());
    assert_eq!(facts(a.query_trade(&unknown).await.outcome).status, PaymentStatus::Succeeded);
    // Refunded by order id once the online details do not have it.
    match a.refund(&refund(&t, &no(), 40_000)).await.outcome {
        CallOutcome::Answer { facts, .. } => assert_eq!(facts.status, RefundStatus::Succeeded),
        other => panic!("{other:?}"),
    }
    // The reversal of a completed one refunds the rest.
    match a.reverse(&t, Currency::TWD).await.outcome {
        CallOutcome::Answer { facts, .. } => {
            assert_eq!(facts.status, paygate::providers::ReversalStatus::Refunded)
        }
        other => panic!("{other:?}"),
    }
    let order = sim.admin().order(&t).await.unwrap().unwrap();
    let refunded: i64 =
        order["refunds"].as_array().unwrap().iter().map(|r| r["refundAmount"].as_i64().unwrap()).sum();
    assert_eq!(refunded, 1000, "never more than the payment");
    // The same pay again: 1172, our earlier pay got through: read back, never a second charge.
    let again = a.pay(&one_time_key_pay(&t, 100_000)).await;
    assert_eq!(again.earlier.len(), 1, "the pay, then the read: {again:?}");
    assert_eq!(facts(again.outcome).status, PaymentStatus::Succeeded);
    assert_eq!(charges(&sim, &t).await, 1);
    let _ = sim.shutdown().await;
}

#[tokio::test]
async fn a_one_time_key_payment_in_process_is_polled_or_voided_and_a_wrong_secret_is_1106() {
    let sim = sim_where_customers_confirm_on_the_phone().await;
    let admin = sim.admin();
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = TradeRef { pay_method: Some(PayMethod::Barcode), ..TradeRef::new(&t, twd(1_000)) };
    match a.pay(&one_time_key_pay(&t, 1_000)).await.outcome {
        CallOutcome::Answer { facts, code } => {
            assert_eq!((facts.status, code.provider_code.as_str()), (PaymentStatus::Processing, "1145"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Processing);
    admin.approve(&t, false).await.unwrap();
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Succeeded);

    // Never confirmed: voided, nothing charged.
    let t = no();
    assert!(matches!(a.pay(&one_time_key_pay(&t, 1_000)).await.outcome, CallOutcome::Answer { .. }));
    match a.reverse(&t, Currency::TWD).await.outcome {
        CallOutcome::Answer { facts, .. } => {
            assert_eq!(facts.status, paygate::providers::ReversalStatus::Closed)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(charges(&sim, &t).await, 0);
    assert_eq!(sim.admin().order(&t).await.unwrap().unwrap()["state"], "VOIDED");

    // The POS API checks the plain secret.
    let wrong = adapter(&sim, "test_only_not_the_channels_secret");
    match wrong.pay(&one_time_key_pay(&no(), 1_000)).await.outcome {
        CallOutcome::Refused { code } => assert_eq!(code.provider_code, "1106"),
        other => panic!("{other:?}"),
    }
    let _ = sim.shutdown().await;
}

/// Requested with `capture: manual`, approved and confirmed: authorised, nothing taken.
async fn authorised(sim: &SimHandle, a: &LinePayAdapter, t: &str, minor: i64) -> TradeRef {
    let request = PayRequest { capture: paygate::domain::CaptureMode::Manual, ..pay(t, minor) };
    let f = facts(a.pay(&request).await.outcome);
    let order = sim.admin().order(t).await.unwrap().unwrap();
    assert_eq!(order["capture"], false, "options.payment.capture=false reached LINE Pay: {order}");
    sim.admin().approve(t, false).await.unwrap();
    let trade = TradeRef {
        capture: paygate::domain::CaptureMode::Manual,
        ..TradeRef::new(t, twd(minor)).with_provider_txn_id(f.provider_txn_id)
    };
    let f = facts(a.query_trade(&trade).await.outcome);
    assert_eq!((f.status, f.amount), (PaymentStatus::Authorized, Some(twd(minor))));
    assert_eq!(charges(sim, t).await, 0, "an authorisation takes nothing");
    trade
}

/// A capture reads the details, then posts to LINE Pay's capture API once; a repeat (and a void
/// of the captured payment) answers the capture made without posting; what was captured is all
/// a refund can take.
#[tokio::test]
async fn a_capture_posts_once_and_its_repeat_reads_the_capture_back() {
    use paygate::providers::adapter::CaptureRequest;
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    authorised(&sim, &a, &t, 100_000).await;
    let capture = CaptureRequest { trade_no: t.clone(), amount: twd(40_000), authorized: twd(100_000) };
    let called = a.capture(&capture).await;
    let posts: Vec<String> =
        called.earlier.iter().chain([&called.exchange]).map(|e| e.request_url.clone()).collect();
    assert!(posts.last().is_some_and(|u| u.ends_with("/capture")), "{posts:?}");
    assert!(called.exchange.request_body.as_deref().is_some_and(|b| b.contains("\"amount\":400")));
    assert_eq!(facts(called.outcome).status, PaymentStatus::Succeeded);
    let order = sim.admin().order(&t).await.unwrap().unwrap();
    assert_eq!((order["charges"].as_i64(), order["captured"].as_i64()), (Some(1), Some(400)));

    let again = a.capture(&capture).await;
    assert!(
        again.earlier.is_empty() && again.exchange.request_method == "GET",
        "read, not posted: {again:?}"
    );
    assert_eq!(facts(again.outcome).status, PaymentStatus::Succeeded);
    assert_eq!(facts(a.void(&t, Currency::TWD).await.outcome).status, PaymentStatus::Succeeded);
    let over = RefundRequest {
        trade_no: t.clone(),
        refund_trade_no: no(),
        amount: twd(40_100),
        payment_amount: twd(100_000),
        reason: None,
        notify_url: None,
    };
    match a.refund(&over).await.outcome {
        CallOutcome::Refused { code } => assert_eq!(code.unified, UnifiedCode::ExceedsRefundable),
        other => panic!("a refund above the captured part must be refused: {other:?}"),
    }
}

/// LINE Pay releases an authorisation at its expiry: the query says expired, and a capture then
/// posts nothing and answers expired.
#[tokio::test]
async fn an_authorisation_released_at_its_expiry_is_expired_and_never_captured() {
    use paygate::providers::adapter::CaptureRequest;
    let sim = sim().await;
    let mut settings = sim.admin().settings().await.unwrap();
    settings.authorization_ttl_ms = 300;
    sim.admin().set_settings(&settings).await.unwrap();
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = authorised(&sim, &a, &t, 100_000).await;
    // Polled with a deadline: the query says expired once LINE Pay released it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = facts(a.query_trade(&trade).await.outcome).status;
        if status == PaymentStatus::Expired {
            break;
        }
        assert_eq!(status, PaymentStatus::Authorized, "held until it expires");
        assert!(tokio::time::Instant::now() < deadline, "the authorisation did not expire in 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let capture = CaptureRequest { trade_no: t.clone(), amount: twd(100_000), authorized: twd(100_000) };
    let called = a.capture(&capture).await;
    assert_eq!(called.exchange.request_method, "GET", "nothing posted: {called:?}");
    assert_eq!(facts(called.outcome).status, PaymentStatus::Expired);
    assert_eq!(charges(&sim, &t).await, 0);
}

/// A one-time-key pay with `capture: manual`: `capture: false` reaches LINE Pay, the answer means
/// authorised (nothing taken), and the query reads it from the offline authorisations.
async fn pos_authorised(sim: &SimHandle, a: &LinePayAdapter, t: &str, minor: i64) -> TradeRef {
    let request = PayRequest { capture: paygate::domain::CaptureMode::Manual, ..one_time_key_pay(t, minor) };
    let called = a.pay(&request).await;
    assert!(
        called.exchange.request_body.as_deref().is_some_and(|b| b.contains("\"capture\":false")),
        "{:?}",
        called.exchange.request_body
    );
    let f = facts(called.outcome);
    assert_eq!((f.status, f.amount), (PaymentStatus::Authorized, Some(twd(minor))));
    assert_eq!(charges(sim, t).await, 0, "an authorisation takes nothing");
    let trade = TradeRef {
        pay_method: Some(PayMethod::Barcode),
        capture: paygate::domain::CaptureMode::Manual,
        ..TradeRef::new(t, twd(minor))
    };
    let f = facts(a.query_trade(&trade).await.outcome);
    assert_eq!((f.status, f.amount), (PaymentStatus::Authorized, Some(twd(minor))), "read as authorised");
    trade
}

fn urls(called: &paygate::providers::Called<PaymentFacts>) -> Vec<String> {
    called
        .earlier
        .iter()
        .chain([&called.exchange])
        .map(|e| format!("{} {}", e.request_method, e.request_url))
        .collect()
}

/// POS manual capture: a partial capture posts to the offline capture API once; a repeat reads
/// the capture back and posts nothing; a capture above the authorised amount is refused with
/// nothing sent; a void of the captured payment answers paid.
#[tokio::test]
async fn a_one_time_key_authorisation_is_captured_in_part_once_and_a_repeat_reads_it_back() {
    use paygate::providers::adapter::CaptureRequest;
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = pos_authorised(&sim, &a, &t, 100_000).await;

    // Above the authorised amount: refused here, nothing sent.
    let above = CaptureRequest { trade_no: t.clone(), amount: twd(100_100), authorized: twd(100_000) };
    let called = a.capture(&above).await;
    assert!(matches!(called.outcome, CallOutcome::Refused { .. }), "{:?}", called.outcome);
    assert!(
        called.earlier.is_empty() && called.exchange.response_status.is_none(),
        "nothing sent: {:?}",
        urls(&called)
    );
    assert_eq!(sim.admin().order(&t).await.unwrap().unwrap()["state"], "AUTHORIZED");

    let capture = CaptureRequest { trade_no: t.clone(), amount: twd(40_000), authorized: twd(100_000) };
    let called = a.capture(&capture).await;
    let sent = urls(&called);
    assert!(
        sent.last().is_some_and(
            |u| u.starts_with("POST") && u.ends_with(&format!("/v2/payments/orders/{t}/capture"))
        ),
        "{sent:?}"
    );
    assert!(
        called
            .exchange
            .request_body
            .as_deref()
            .is_some_and(|b| b.contains("\"amount\":400") && b.contains("TWD"))
    );
    assert_eq!(facts(called.outcome).status, PaymentStatus::Succeeded);
    let order = sim.admin().order(&t).await.unwrap().unwrap();
    assert_eq!((order["charges"].as_i64(), order["captured"].as_i64()), (Some(1), Some(400)));

    // Captured once: the repeat posts nothing and answers the capture made.
    let again = a.capture(&capture).await;
    assert!(urls(&again).iter().all(|u| u.starts_with("GET")), "read, not posted: {:?}", urls(&again));
    assert_eq!(facts(again.outcome).status, PaymentStatus::Succeeded);
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Succeeded);
    // A void of the captured payment: answered as paid, nothing posted.
    let void = a.void(&t, Currency::TWD).await;
    assert!(urls(&void).iter().all(|u| u.starts_with("GET")), "{:?}", urls(&void));
    assert_eq!(facts(void.outcome).status, PaymentStatus::Succeeded);
    assert_eq!(charges(&sim, &t).await, 1);
    let _ = sim.shutdown().await;
}

/// LINE Pay's own refusal of a capture above the authorised amount (`1184`) when it is sent (the
/// row's authorised amount above LINE Pay's): refused, nothing taken.
#[tokio::test]
async fn linepay_refuses_a_one_time_key_capture_above_its_authorisation_with_1184() {
    use paygate::providers::adapter::CaptureRequest;
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    pos_authorised(&sim, &a, &t, 1_000).await;
    let capture = CaptureRequest { trade_no: t.clone(), amount: twd(2_000), authorized: twd(2_000) };
    match a.capture(&capture).await.outcome {
        CallOutcome::Refused { code } => assert_eq!(code.provider_code, "1184"),
        other => panic!("{other:?}"),
    }
    assert_eq!(charges(&sim, &t).await, 0);
    let _ = sim.shutdown().await;
}

/// A void releases a one-time-key authorisation once; its repeat reads it voided and posts
/// nothing; a capture after it posts nothing and answers closed.
#[tokio::test]
async fn a_one_time_key_authorisation_is_voided_once_and_a_repeat_reads_it_back() {
    use paygate::providers::adapter::CaptureRequest;
    let sim = sim().await;
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let trade = pos_authorised(&sim, &a, &t, 1_000).await;
    let called = a.void(&t, Currency::TWD).await;
    let sent = urls(&called);
    assert!(
        sent.last()
            .is_some_and(|u| u.starts_with("POST") && u.ends_with(&format!("/v2/payments/orders/{t}/void"))),
        "{sent:?}"
    );
    assert_eq!(facts(called.outcome).status, PaymentStatus::Closed);
    assert_eq!(sim.admin().order(&t).await.unwrap().unwrap()["state"], "VOIDED");
    let again = a.void(&t, Currency::TWD).await;
    assert!(urls(&again).iter().all(|u| u.starts_with("GET")), "{:?}", urls(&again));
    assert_eq!(facts(again.outcome).status, PaymentStatus::Closed);
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Closed);
    let capture = CaptureRequest { trade_no: t.clone(), amount: twd(1_000), authorized: twd(1_000) };
    let late = a.capture(&capture).await;
    assert!(urls(&late).iter().all(|u| u.starts_with("GET")), "{:?}", urls(&late));
    assert_eq!(facts(late.outcome).status, PaymentStatus::Closed);
    assert_eq!(charges(&sim, &t).await, 0);
    let _ = sim.shutdown().await;
}

/// A one-time-key authorisation the customer confirms on the phone: in process (`1145`) until
/// then, authorised afterwards (never read as captured), and a reversal of it is a void.
#[tokio::test]
async fn a_one_time_key_authorisation_confirmed_on_the_phone_is_authorised_and_reversed_by_a_void() {
    let sim = sim_where_customers_confirm_on_the_phone().await;
    let admin = sim.admin();
    let a = adapter(&sim, testkit::CHANNEL_SECRET);
    let t = no();
    let request = PayRequest { capture: paygate::domain::CaptureMode::Manual, ..one_time_key_pay(&t, 1_000) };
    assert_eq!(facts(a.pay(&request).await.outcome).status, PaymentStatus::Processing);
    let trade = TradeRef {
        pay_method: Some(PayMethod::Barcode),
        capture: paygate::domain::CaptureMode::Manual,
        ..TradeRef::new(&t, twd(1_000))
    };
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Processing);
    admin.approve(&t, false).await.unwrap();
    assert_eq!(facts(a.query_trade(&trade).await.outcome).status, PaymentStatus::Authorized);
    assert_eq!(charges(&sim, &t).await, 0);
    // The check alone says complete: the reversal finds the authorisation held and voids it.
    match a.reverse(&t, Currency::TWD).await.outcome {
        CallOutcome::Answer { facts, .. } => {
            assert_eq!(facts.status, paygate::providers::ReversalStatus::Closed)
        }
        other => panic!("{other:?}"),
    }
    let order = admin.order(&t).await.unwrap().unwrap();
    assert_eq!(
        (order["state"].as_str(), order["refunds"].as_array().map(Vec::len)),
        (Some("VOIDED"), Some(0))
    );
    let _ = sim.shutdown().await;
}
