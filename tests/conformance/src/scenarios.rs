//! The scenarios, each written once against [`Provider`]. Each starts by naming the capability
//! it needs ([`require`]): run for a provider without it, it fails ("not applicable"), so that a
//! not-applicable case is never a silent pass.

use crate::{BookState, Books, Capability, DEADLINE, Delivered, Provider, answer, eventually, trade_no};
use chrono::Utc;
use futures_util::StreamExt;
use paygate::domain::CaptureMode;
use paygate::messages::commands::PayMethod;
use paygate::providers::adapter::{RefundRef, TradeRef};
use paygate::providers::bill::{BillDownload, BillError, BillItem, BillLine, BillLineKind, SettlementTotal};
use paygate::providers::exchange::Exchange;
use paygate::providers::notification::ClaimedEvent;
use paygate::providers::{
    CallOutcome, CaptureRequest, PayRequest, PaymentFacts, PaymentStatus, RefundFacts, RefundRequest,
    RefundStatus, UnifiedCode,
};
use simkit::{BillFault, BillFaultKind, Fault, Operation};
use std::collections::BTreeMap;

/// Every scenario, by the name of its function (and of its test).
pub const ALL: &[&str] = &[
    "pay_qr",
    "pay_redirect",
    "pay_form",
    "pay_client_secret",
    "pay_direct",
    "pay_barcode",
    "same_pay_twice_charges_once",
    "decline_is_a_definitive_refusal",
    "timeout_is_unknown_and_query_agrees_with_the_books",
    "lost_response_is_unknown_and_query_finds_the_charge",
    "partial_then_full_refund_never_above_captured",
    "twenty_concurrent_refunds_never_exceed_captured",
    "forged_tampered_oversized_notifications_are_refused",
    "bill_agrees_with_the_books_and_shows_planted_discrepancies",
    "bill_download_matches_capability",
    "settlement_agrees_with_the_books_and_shows_planted_discrepancies",
    "settlement_download_matches_capability",
    "authorise_then_capture_part_once",
    "a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it",
    "authorise_then_void_idempotently",
];

/// The capability a scenario needs, if any.
pub fn capability_of(scenario: &str) -> Option<Capability> {
    Some(match scenario {
        "pay_qr" => Capability::Pay(PayMethod::Qr),
        "pay_redirect" => Capability::Pay(PayMethod::Redirect),
        "pay_form" => Capability::Pay(PayMethod::Form),
        "pay_client_secret" => Capability::Pay(PayMethod::ClientSecret),
        "pay_direct" => Capability::Pay(PayMethod::Direct),
        "pay_barcode" => Capability::Pay(PayMethod::Barcode),
        "forged_tampered_oversized_notifications_are_refused" => Capability::GenuineNotification,
        "bill_agrees_with_the_books_and_shows_planted_discrepancies" => Capability::BillDownload,
        "settlement_agrees_with_the_books_and_shows_planted_discrepancies" => Capability::SettlementDownload,
        "authorise_then_capture_part_once"
        | "a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it"
        | "authorise_then_void_idempotently" => Capability::ManualCapture,
        _ => return None,
    })
}

/// Fails unless the provider has `c`.
pub fn require<P: Provider>(_p: &P, c: Capability) {
    assert!(P::CAPABILITIES.contains(&c), "not applicable to {}: it lacks {c:?}", P::NAME);
}

const AMOUNT: i64 = 1_000;

async fn books<P: Provider>(p: &P, trade_no: &str) -> Option<Books> {
    p.books(trade_no).await.expect("the simulator's books")
}

async fn charges<P: Provider>(p: &P, trade_no: &str) -> u32 {
    books(p, trade_no).await.map_or(0, |b| b.charges)
}

/// What a scenario knows of a payment for the provider's query and close, as the dispatcher
/// knows it from the payment's row: its trade number, amount and, once an answer gave one, the
/// provider's transaction id (LINE Pay's check and confirm need it; the others ask by the trade
/// number). `said` is the answer that gave the transaction id, if any.
pub fn trade_ref<P: Provider>(p: &P, trade_no: &str, amount: i64, said: Option<&PaymentFacts>) -> TradeRef {
    TradeRef::new(trade_no, p.money(amount))
        .with_provider_txn_id(said.and_then(|f| f.provider_txn_id.clone()))
}

/// What a scenario knows of a refund for the provider's refund query: its numbers, amount and
/// the provider's refund id, when the refund's answer gave one.
pub fn refund_ref<P: Provider>(
    p: &P,
    trade_no: &str,
    refund_no: &str,
    amount: i64,
    said: &CallOutcome<RefundFacts>,
) -> RefundRef {
    let provider_refund_id = match said {
        CallOutcome::Answer { facts, .. } => facts.provider_refund_id.clone(),
        _ => None,
    };
    RefundRef {
        trade_no: trade_no.into(),
        refund_trade_no: refund_no.into(),
        amount: p.money(amount),
        provider_refund_id,
    }
}

/// Queries until the payment is in `want`.
async fn query_until<P: Provider>(p: &P, trade: &TradeRef, want: PaymentStatus) -> PaymentFacts {
    let adapter = p.adapter();
    let trade_no = &trade.trade_no;
    eventually(&format!("{}: query of {trade_no} to say {want:?}", P::NAME), DEADLINE, || {
        let adapter = adapter.clone();
        let want = want.clone();
        async move {
            match adapter.query_trade(trade).await.outcome {
                CallOutcome::Answer { facts, .. } if facts.status == want => Some(facts),
                _ => None,
            }
        }
    })
    .await
}

/// A payment of `amount` by the provider's charging method, paid: its facts once succeeded.
pub async fn paid<P: Provider>(p: &P, trade_no: &str, amount: i64) -> PaymentFacts {
    let method = p.charging_method();
    let created = answer(
        &format!("{} pay {method:?}", P::NAME),
        p.adapter().pay(&p.pay_request(trade_no, amount, method)).await.outcome,
    );
    if created.status != PaymentStatus::Succeeded {
        assert_eq!(created.status, PaymentStatus::WaitingForCustomer, "{}: {created:?}", P::NAME);
        p.customer_pays(trade_no, created.action.as_ref()).await.expect("the customer pays");
    }
    let facts =
        query_until(p, &trade_ref(p, trade_no, amount, Some(&created)), PaymentStatus::Succeeded).await;
    assert_eq!(facts.amount, Some(p.money(amount)), "{}: the amount paid", P::NAME);
    assert_eq!(charges(p, trade_no).await, 1, "{}: one charge in the books", P::NAME);
    facts
}

fn refund_request<P: Provider>(
    p: &P,
    trade_no: &str,
    refund_no: &str,
    amount: i64,
    total: i64,
) -> RefundRequest {
    RefundRequest {
        trade_no: trade_no.into(),
        refund_trade_no: refund_no.into(),
        amount: p.money(amount),
        payment_amount: p.money(total),
        reason: Some("conformance".into()),
        notify_url: None,
    }
}

/// Refund queries until the refund is final (or unknown to the provider).
async fn refund_final<P: Provider>(p: &P, refund: &RefundRef) -> RefundFacts {
    let adapter = p.adapter();
    let refund_no = &refund.refund_trade_no;
    eventually(&format!("{}: refund {refund_no} to end", P::NAME), DEADLINE, || {
        let adapter = adapter.clone();
        async move {
            match adapter.refund_query_ref(refund).await.outcome {
                CallOutcome::Answer { facts, .. } if facts.status != RefundStatus::Processing => Some(facts),
                _ => None,
            }
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Each pay method to its final state.

async fn pay_method<P: Provider>(p: &P, method: PayMethod) {
    require(p, Capability::Pay(method));
    let adapter = p.adapter();
    let name = P::NAME;

    // One paid.
    let paid_no = trade_no();
    let created = answer(
        &format!("{name} pay {method:?}"),
        adapter.pay(&p.pay_request(&paid_no, AMOUNT, method)).await.outcome,
    );
    match created.status {
        PaymentStatus::Succeeded => {
            // Charged at once (direct, barcode): nothing for the customer to do.
            assert!(created.action.is_none(), "{name} {method:?}: {created:?}");
        }
        PaymentStatus::WaitingForCustomer => {
            assert!(created.action.is_some(), "{name} {method:?}: an action for the customer: {created:?}");
            assert_eq!(
                charges(p, &paid_no).await,
                0,
                "{name} {method:?}: nothing charged before the customer pays"
            );
            p.customer_pays(&paid_no, created.action.as_ref()).await.expect("the customer pays");
        }
        other => panic!("{name} {method:?}: pay answered {other:?}"),
    }
    let paid_trade = trade_ref(p, &paid_no, AMOUNT, Some(&created));
    let facts = query_until(p, &paid_trade, PaymentStatus::Succeeded).await;
    assert_eq!(facts.amount, Some(p.money(AMOUNT)), "{name} {method:?}");
    assert_eq!(charges(p, &paid_no).await, 1, "{name} {method:?}: one charge");
    // Closing a paid payment never closes it.
    let close = adapter.close_trade(&paid_trade).await.outcome;
    assert!(
        !matches!(&close, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Closed),
        "{name} {method:?}: a paid payment was closed: {close:?}"
    );
    query_until(p, &paid_trade, PaymentStatus::Succeeded).await;

    // One closed, where the customer has to act (a payment charged at once cannot be left open).
    if created.status == PaymentStatus::WaitingForCustomer {
        let closed_no = trade_no();
        let created = answer(
            &format!("{name} pay {method:?}"),
            adapter.pay(&p.pay_request(&closed_no, AMOUNT, method)).await.outcome,
        );
        assert_eq!(created.status, PaymentStatus::WaitingForCustomer, "{name} {method:?}");
        p.customer_opens(&closed_no, created.action.as_ref()).await.expect("the customer opens it");
        let closed_trade = trade_ref(p, &closed_no, AMOUNT, Some(&created));
        let closed = answer(&format!("{name} close"), adapter.close_trade(&closed_trade).await.outcome);
        assert_eq!(closed.status, PaymentStatus::Closed, "{name} {method:?}");
        // Closed here: no longer open to be completed (as the dispatcher says of a closed one).
        query_until(p, &TradeRef { may_complete: false, ..closed_trade }, PaymentStatus::Closed).await;
        assert_eq!(charges(p, &closed_no).await, 0, "{name} {method:?}: a closed payment charged nothing");
    }
}

pub async fn pay_qr<P: Provider>(p: &P) {
    pay_method(p, PayMethod::Qr).await
}

pub async fn pay_redirect<P: Provider>(p: &P) {
    pay_method(p, PayMethod::Redirect).await
}

pub async fn pay_form<P: Provider>(p: &P) {
    pay_method(p, PayMethod::Form).await
}

pub async fn pay_client_secret<P: Provider>(p: &P) {
    pay_method(p, PayMethod::ClientSecret).await
}

pub async fn pay_direct<P: Provider>(p: &P) {
    pay_method(p, PayMethod::Direct).await
}

pub async fn pay_barcode<P: Provider>(p: &P) {
    pay_method(p, PayMethod::Barcode).await
}

// ---------------------------------------------------------------------------------------------

/// The same pay (same trade number) sent twice makes one charge; sent again once paid, still one.
pub async fn same_pay_twice_charges_once<P: Provider>(p: &P) {
    let (adapter, name, method) = (p.adapter(), P::NAME, p.charging_method());
    let no = trade_no();
    let request = p.pay_request(&no, AMOUNT, method);
    let first = answer(&format!("{name} first pay"), adapter.pay(&request).await.outcome);
    match adapter.pay(&request).await.outcome {
        CallOutcome::Answer { facts: second, .. } => {
            assert_eq!(first.status, second.status, "{name}: the repeat answers the original");
            if let (Some(a), Some(b)) = (&first.provider_txn_id, &second.provider_txn_id) {
                assert_eq!(a, b, "{name}: the repeat answers the same transaction");
            }
        }
        // A repeat of a payment charged at once may be answered "already paid" (Alipay's
        // ACQ.TRADE_HAS_SUCCESS), which the adapter leaves to the query: never a second charge.
        other => assert!(
            first.status == PaymentStatus::Succeeded
                && other.code().is_some_and(|c| c.unified == UnifiedCode::AlreadyPaid && c.definitive),
            "{name}: the repeat must answer the original or say already paid, got {other:?}"
        ),
    }
    if first.status == PaymentStatus::WaitingForCustomer {
        p.customer_pays(&no, first.action.as_ref()).await.expect("the customer pays");
    }
    let trade = trade_ref(p, &no, AMOUNT, Some(&first));
    query_until(p, &trade, PaymentStatus::Succeeded).await;
    assert_eq!(charges(p, &no).await, 1, "{name}: one charge for two pays");
    // Once more after it was paid: whatever the answer, no second charge, never a failure.
    let third = adapter.pay(&request).await.outcome;
    assert!(
        !matches!(&third, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Failed),
        "{name}: a repeat of a paid payment said failed: {third:?}"
    );
    assert_eq!(charges(p, &no).await, 1, "{name}: still one charge");
    query_until(p, &trade, PaymentStatus::Succeeded).await;
}

fn is_decline(code: UnifiedCode) -> bool {
    matches!(
        code,
        UnifiedCode::DeclinedInsufficientFunds
            | UnifiedCode::DeclinedAccountSuspended
            | UnifiedCode::DeclinedOther
    )
}

/// A declined charge ends definitively refused (an answer `Failed` or a refusal; at a provider
/// whose decline leaves the payment open for another attempt, an answer waiting for the customer),
/// with a unified decline code that says it is definitive; nothing is charged.
pub async fn decline_is_a_definitive_refusal<P: Provider>(p: &P) {
    let (adapter, name, method) = (p.adapter(), P::NAME, p.charging_method());
    let no = trade_no();
    p.script(&no, Operation::Pay, Fault::Decline).await.expect("script a decline");
    let called = adapter.pay(&p.pay_request(&no, AMOUNT, method)).await;
    let outcome = match called.outcome {
        CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::WaitingForCustomer => {
            // The decline comes when the customer pays: the query finds it.
            p.customer_pays(&no, facts.action.as_ref()).await.expect("the customer tries to pay");
            let adapter = adapter.clone();
            let trade = trade_ref(p, &no, AMOUNT, Some(&facts));
            eventually(&format!("{name}: the query to find the decline"), DEADLINE, || {
                let adapter = adapter.clone();
                let trade = trade.clone();
                async move {
                    let o = adapter.query_trade(&trade).await.outcome;
                    match &o {
                        // Stripe: waiting for another card, with the decline as the answer's code.
                        CallOutcome::Answer { facts, code }
                            if P::DECLINE_LEAVES_PAYMENT_OPEN
                                && facts.status == PaymentStatus::WaitingForCustomer
                                && is_decline(code.unified) =>
                        {
                            Some(o)
                        }
                        CallOutcome::Answer { facts, .. }
                            if matches!(
                                facts.status,
                                PaymentStatus::WaitingForCustomer | PaymentStatus::Processing
                            ) =>
                        {
                            None
                        }
                        _ => Some(o),
                    }
                }
            })
            .await
        }
        other => other,
    };
    let code = match &outcome {
        CallOutcome::Answer { facts, code } => {
            let open = P::DECLINE_LEAVES_PAYMENT_OPEN && facts.status == PaymentStatus::WaitingForCustomer;
            assert!(
                facts.status == PaymentStatus::Failed || open,
                "{name}: a decline is a failed payment (or, where the provider leaves it open for another attempt, one waiting for the customer): {outcome:?}"
            );
            code
        }
        CallOutcome::Refused { code } => code,
        other => panic!("{name}: a decline must be definitive, got {other:?}"),
    };
    assert!(is_decline(code.unified), "{name}: a decline's unified code, got {code:?}");
    assert!(code.definitive, "{name}: a decline is definitive: {code:?}");
    assert_eq!(charges(p, &no).await, 0, "{name}: a decline charges nothing");
}

/// A timeout is UNKNOWN (never success or failure); the query then agrees with the provider's
/// books (the request was not processed: no charge), and the pay sent again charges once.
pub async fn timeout_is_unknown_and_query_agrees_with_the_books<P: Provider>(p: &P) {
    let (adapter, name, method) = (p.adapter(), P::NAME, p.charging_method());
    let no = trade_no();
    p.script(&no, Operation::Pay, Fault::Timeout).await.expect("script a timeout");
    let request = p.pay_request(&no, AMOUNT, method);
    match adapter.pay(&request).await.outcome {
        CallOutcome::Unknown { code, .. } => {
            assert_eq!(code.map(|c| c.unified), Some(UnifiedCode::Timeout), "{name}: a timeout's code")
        }
        other => panic!("{name}: a timeout must be UNKNOWN, got {other:?}"),
    }
    let held = books(p, &no).await;
    let facts =
        answer(&format!("{name} query"), adapter.query_trade(&trade_ref(p, &no, AMOUNT, None)).await.outcome);
    match &held {
        None => assert_eq!(facts.status, PaymentStatus::NotFound, "{name}: the books have no such order"),
        Some(b) if b.charges == 1 => assert_eq!(facts.status, PaymentStatus::Succeeded, "{name}: {b:?}"),
        Some(b) => {
            assert_eq!(b.charges, 0, "{name}: {b:?}");
            assert_ne!(facts.status, PaymentStatus::Succeeded, "{name}: the books hold no charge: {b:?}");
        }
    }
    // Sent again (idempotent on the trade number): one charge in the end.
    let again = answer(&format!("{name} pay again"), adapter.pay(&request).await.outcome);
    if again.status == PaymentStatus::WaitingForCustomer {
        p.customer_pays(&no, again.action.as_ref()).await.expect("the customer pays");
    }
    query_until(p, &trade_ref(p, &no, AMOUNT, Some(&again)), PaymentStatus::Succeeded).await;
    assert_eq!(charges(p, &no).await, 1, "{name}: one charge");
}

/// "Charged but the response was lost": UNKNOWN, and the query finds what the provider did.
pub async fn lost_response_is_unknown_and_query_finds_the_charge<P: Provider>(p: &P) {
    let (adapter, name, method) = (p.adapter(), P::NAME, p.charging_method());
    let no = trade_no();
    p.script(&no, Operation::Pay, Fault::LostResponse).await.expect("script a lost response");
    let outcome = adapter.pay(&p.pay_request(&no, AMOUNT, method)).await.outcome;
    assert!(
        matches!(outcome, CallOutcome::Unknown { .. }),
        "{name}: a lost response must be UNKNOWN, got {outcome:?}"
    );
    let held = books(p, &no).await.unwrap_or_else(|| panic!("{name}: the request was processed"));
    // The pay's answer was lost: no transaction id is known.
    let trade = trade_ref(p, &no, AMOUNT, None);
    let facts = answer(&format!("{name} query"), adapter.query_trade(&trade).await.outcome);
    if held.charges == 1 {
        assert_eq!(facts.status, PaymentStatus::Succeeded, "{name}: the query finds the charge");
        assert_eq!(facts.amount, Some(p.money(AMOUNT)), "{name}");
    } else {
        // Created, waiting for the customer (WeChat Native): the query finds it waiting.
        assert_eq!(held.charges, 0, "{name}: {held:?}");
        assert_eq!(facts.status, PaymentStatus::WaitingForCustomer, "{name}: the query finds the order");
        p.customer_pays(&no, None).await.expect("the customer pays");
        query_until(p, &trade, PaymentStatus::Succeeded).await;
    }
    assert_eq!(charges(p, &no).await, 1, "{name}: exactly one charge");
}

fn accepted(o: &CallOutcome<RefundFacts>) -> bool {
    matches!(o, CallOutcome::Answer { facts, .. }
        if matches!(facts.status, RefundStatus::Processing | RefundStatus::Succeeded))
}

/// A partial refund, then the rest (each followed to its end), then one unit more: refused; the
/// books never hold more refunds than the captured amount.
pub async fn partial_then_full_refund_never_above_captured<P: Provider>(p: &P) {
    let (adapter, name) = (p.adapter(), P::NAME);
    let no = trade_no();
    paid(p, &no, AMOUNT).await;
    for (refund_no, amount, held) in [(trade_no(), 300, 300), (trade_no(), 700, AMOUNT)] {
        let o = adapter.refund(&refund_request(p, &no, &refund_no, amount, AMOUNT)).await.outcome;
        assert!(accepted(&o), "{name}: a refund of {amount} within the captured amount: {o:?}");
        if let CallOutcome::Answer { facts, .. } = &o {
            assert!(
                facts.status == RefundStatus::Succeeded || adapter.refunds_are_asynchronous(),
                "{name}: says its refunds are synchronous, yet answered {facts:?}"
            );
        }
        let end = refund_final(p, &refund_ref(p, &no, &refund_no, amount, &o)).await;
        assert_eq!(end.status, RefundStatus::Succeeded, "{name}: {end:?}");
        assert_eq!(end.amount.map(|m| m.minor_units()), Some(amount), "{name}: {end:?}");
        let b = books(p, &no).await.expect("the order in the books");
        assert_eq!(b.refunds_held(), held, "{name}: {b:?}");
        let ours = refund_ref(p, &no, &refund_no, amount, &o);
        assert_eq!(b.refund_of(&ours).map(|r| r.state), Some(BookState::Succeeded), "{name}: {b:?}");
    }
    let over_no = trade_no();
    let over = adapter.refund(&refund_request(p, &no, &over_no, 1, AMOUNT)).await.outcome;
    assert!(
        matches!(&over, CallOutcome::Refused { code } if code.definitive)
            || matches!(&over, CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::Failed),
        "{name}: a refund over the captured amount must be refused, got {over:?}"
    );
    let b = books(p, &no).await.expect("the order in the books");
    assert_eq!(b.refunds_held(), AMOUNT, "{name}: never above the captured amount: {b:?}");
    let over = refund_ref(p, &no, &over_no, 1, &over);
    assert!(b.refund_of(&over).is_none_or(|r| r.state == BookState::Failed), "{name}: {b:?}");
}

/// Twenty refunds of one payment at once, summing to twice its amount: the books never exceed
/// the captured amount, and every answer agrees with the books.
pub async fn twenty_concurrent_refunds_never_exceed_captured<P: Provider>(p: &P) {
    let (adapter, name) = (p.adapter(), P::NAME);
    let no = trade_no();
    paid(p, &no, AMOUNT).await;
    let each = AMOUNT / 10;
    let numbers: Vec<String> = (0..20).map(|_| trade_no()).collect();
    let answers = futures_util::future::join_all(numbers.iter().map(|refund_no| {
        let adapter = adapter.clone();
        let request = refund_request(p, &no, refund_no, each, AMOUNT);
        async move { adapter.refund(&request).await.outcome }
    }))
    .await;
    let mut succeeded = 0;
    for (refund_no, first) in numbers.iter().zip(&answers) {
        let refused = matches!(first, CallOutcome::Refused { .. })
            || matches!(first, CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::Failed);
        let ours = refund_ref(p, &no, refund_no, each, first);
        let held_now = books(p, &no).await.expect("the order in the books").refund_of(&ours).is_some();
        if !accepted(first) && !refused && !held_now {
            // UNKNOWN and the provider never made it: the refund query must not say it succeeded
            // (Alipay's cannot say "no such refund": it stays without refund_status).
            let o = adapter.refund_query_ref(&refund_ref(p, &no, refund_no, each, first)).await.outcome;
            assert!(
                !matches!(&o, CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::Succeeded),
                "{name}: {refund_no} is not in the books but the refund query says {o:?}"
            );
            continue;
        }
        if refused {
            // Definitively refused: nothing to follow (Alipay's refund query cannot tell a refund
            // it never made from one in process); the books must not hold it.
            let b = books(p, &no).await.expect("the order in the books");
            let in_books = b.refund_of(&ours).map(|r| r.state);
            assert!(
                matches!(in_books, None | Some(BookState::Failed)),
                "{name}: {refund_no} was refused ({first:?}) but the books say {in_books:?}"
            );
            continue;
        }
        let end = refund_final(p, &refund_ref(p, &no, refund_no, each, first)).await;
        let b = books(p, &no).await.expect("the order in the books");
        let in_books = b.refund_of(&ours).map(|r| r.state);
        match first {
            o if accepted(o) => assert!(
                matches!(in_books, Some(BookState::Succeeded | BookState::Processing)),
                "{name}: {refund_no} was accepted ({o:?}) but the books say {in_books:?}"
            ),
            CallOutcome::Refused { .. } | CallOutcome::Answer { .. } => assert!(
                matches!(in_books, None | Some(BookState::Failed)),
                "{name}: {refund_no} was refused ({first:?}) but the books say {in_books:?}"
            ),
            // UNKNOWN / retry later: the refund query decides, below.
            _ => {}
        }
        match end.status {
            RefundStatus::Succeeded => {
                assert_eq!(in_books, Some(BookState::Succeeded), "{name}: {refund_no}: {end:?}");
                succeeded += each;
            }
            RefundStatus::NotFound => assert_eq!(in_books, None, "{name}: {refund_no}: {end:?}"),
            RefundStatus::Failed => {
                assert!(
                    matches!(in_books, None | Some(BookState::Failed)),
                    "{name}: {refund_no}: {in_books:?}"
                )
            }
            RefundStatus::Processing => unreachable!("refund_final waits for an end"),
        }
    }
    let b = books(p, &no).await.expect("the order in the books");
    assert!(b.refunds_held() <= AMOUNT, "{name}: the books hold more refunds than captured: {b:?}");
    assert_eq!(succeeded, b.refunds_held(), "{name}: the adapter's answers and the books: {b:?}");
    assert!(succeeded > 0, "{name}: no refund went through: {answers:?}");
}

/// The first notification the simulator delivers for a paid payment, verified as genuine; then
/// a forged one (signed by another key), a tampered one (a digit of the body changed after
/// signing) and an oversized one (the genuine body padded past notify-handler's 64 KiB default
/// limit) are each refused by the adapter's verifier.
pub async fn forged_tampered_oversized_notifications_are_refused<P: Provider>(p: &P) {
    require(p, Capability::GenuineNotification);
    let (adapter, name) = (p.adapter(), P::NAME);
    let no = trade_no();
    paid(p, &no, AMOUNT).await;
    let genuine: Delivered = eventually(&format!("{name}: a notification delivered"), DEADLINE, || async {
        p.delivered().into_iter().next()
    })
    .await;
    let verifier = adapter.notifications();
    let n = verifier
        .verify(&genuine.headers, &genuine.body, Utc::now())
        .expect("the genuine notification verifies");
    assert_eq!(n.trade_no, no, "{name}");
    assert_eq!(n.event, ClaimedEvent::PaymentSucceeded, "{name}");
    assert_eq!(n.amount, p.money(AMOUNT), "{name}");

    let forged = p.forge(&genuine);
    assert!(
        forged.headers != genuine.headers || forged.body != genuine.body,
        "{name}: the forgery changed nothing"
    );
    let r = verifier.verify(&forged.headers, &forged.body, Utc::now());
    assert!(r.is_err(), "{name}: a forged notification verified: {r:?}");

    let mut tampered = genuine.clone();
    let at = tampered.body.iter().position(u8::is_ascii_digit).expect("a digit in the body");
    tampered.body[at] = if tampered.body[at] == b'9' { b'1' } else { tampered.body[at] + 1 };
    let r = verifier.verify(&tampered.headers, &tampered.body, Utc::now());
    assert!(r.is_err(), "{name}: a tampered notification verified: {r:?}");

    let mut oversized = genuine.clone();
    oversized.body.resize(genuine.body.len() + 1024 * 1024, b' ');
    let r = verifier.verify(&oversized.headers, &oversized.body, Utc::now());
    assert!(r.is_err(), "{name}: an oversized notification verified: {r:?}");

    // And the genuine one still verifies (the refusals changed nothing).
    verifier.verify(&genuine.headers, &genuine.body, Utc::now()).expect("the genuine one again");
}

/// Lines keyed by what they are about; the amounts of every line with that key, sorted.
type Keyed = BTreeMap<(&'static str, String, Option<String>), Vec<i64>>;

fn key(
    kind: BillLineKind,
    trade_no: &str,
    refund_no: Option<&str>,
) -> (&'static str, String, Option<String>) {
    (kind.as_str(), trade_no.to_owned(), refund_no.map(str::to_owned))
}

/// The day's bill read through the adapter agrees with the simulator's books, except exactly
/// where discrepancies were planted: an amount changed, a line dropped, a payment the provider
/// never processed, a payment line twice.
pub async fn bill_agrees_with_the_books_and_shows_planted_discrepancies<P: Provider>(p: &P) {
    require(p, Capability::BillDownload);
    let (adapter, name) = (p.adapter(), P::NAME);
    let (p1, p2, p3, ghost) = (trade_no(), trade_no(), trade_no(), trade_no());
    for (no, amount) in [(&p1, 1_000), (&p2, 2_000), (&p3, 1_500)] {
        paid(p, no, amount).await;
    }
    let r2 = trade_no();
    let o = adapter.refund(&refund_request(p, &p2, &r2, 500, 2_000)).await.outcome;
    assert!(accepted(&o), "{name}: {o:?}");
    assert_eq!(
        refund_final(p, &refund_ref(p, &p2, &r2, 500, &o)).await.status,
        RefundStatus::Succeeded,
        "{name}"
    );

    // What the books say the bill must hold.
    let mut expected = Keyed::new();
    for no in [&p1, &p2, &p3] {
        let b = books(p, no).await.expect("in the books");
        if b.charges > 0 {
            expected.entry(key(BillLineKind::Payment, no, None)).or_default().push(b.amount);
        }
        for r in b.refunds.iter().filter(|r| r.state == BookState::Succeeded) {
            expected.entry(key(BillLineKind::Refund, no, Some(&r.refund_no))).or_default().push(r.amount);
        }
    }
    let day = p.bill_day();
    let currency = p.currency().as_str().to_owned();
    for f in [
        BillFault::new(BillFaultKind::Amount).order(&p1).amount(999),
        BillFault::new(BillFaultKind::DropLine).order(&p3),
        BillFault::new(BillFaultKind::AddPayment).order(&ghost).amount(100).currency(&currency).date(day),
        BillFault::new(BillFaultKind::DuplicatePayment).order(&p2),
    ] {
        p.plant_bill_fault(f).await.expect("plant a bill fault");
    }

    let download = adapter.bill(day).await.map_err(|(e, _)| e).expect("the bill downloads");
    let items: Vec<_> = download.items.collect().await;
    let mut billed = Keyed::new();
    for item in items {
        match item.expect("every line parses") {
            BillItem::Line(BillLine {
                kind, trade_no, refund_trade_no, amount_minor, currency: c, ..
            }) => {
                assert_eq!(c, currency, "{name}: the line's currency");
                billed
                    .entry(key(kind, &trade_no, refund_trade_no.as_deref()))
                    .or_default()
                    .push(amount_minor.abs());
            }
            BillItem::Total(t) => panic!("{name}: a trade bill has no totals: {t:?}"),
        }
    }
    for v in billed.values_mut().chain(expected.values_mut()) {
        v.sort_unstable();
    }
    let keys: std::collections::BTreeSet<_> = billed.keys().chain(expected.keys()).cloned().collect();
    let differing: BTreeMap<_, _> = keys
        .into_iter()
        .filter_map(|k| {
            let (b, e) =
                (billed.get(&k).cloned().unwrap_or_default(), expected.get(&k).cloned().unwrap_or_default());
            (b != e).then_some((k, (e, b)))
        })
        .collect();
    let want: BTreeMap<_, _> = [
        (key(BillLineKind::Payment, &p1, None), (vec![1_000], vec![999])),
        (key(BillLineKind::Payment, &p3, None), (vec![1_500], vec![])),
        (key(BillLineKind::Payment, &ghost, None), (vec![], vec![100])),
        (key(BillLineKind::Payment, &p2, None), (vec![2_000], vec![2_000, 2_000])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        differing, want,
        "{name}: (books, bill) of every line that differs; books {expected:?}, bill {billed:?}"
    );
}

/// Whether a download (`what`: "bill" or "settlement") agrees with the capability list: where
/// it says the adapter downloads it, it does (an empty day is still a file, or a provider's "no
/// file yet", which must then say so); where it says not, the adapter still answers "not
/// implemented" (once it no longer does, this fails: add the capability and run its scenario).
fn download_matches_capability<P: Provider>(
    p: &P,
    what: &str,
    capability: Capability,
    result: Result<BillDownload, (BillError, Option<Exchange>)>,
) {
    let name = P::NAME;
    match (p.can(capability), result) {
        (true, Err((e, _))) => assert!(!e.to_string().contains("not implemented"), "{name}: {e}"),
        (true, Ok(_)) => {}
        (false, Err((e, _))) => assert!(
            matches!(e, BillError::NotOffered { .. }) || e.to_string().contains("not implemented"),
            "{name}: the {what} download now fails otherwise ({e}): is it implemented? Then add Capability::{capability:?}"
        ),
        (false, Ok(_)) => panic!(
            "{name}: the adapter's {what} download works now: add Capability::{capability:?} and run the {what} scenario"
        ),
    }
}

/// The capability list tells the truth about the adapter's bill download
/// ([`download_matches_capability`]).
pub async fn bill_download_matches_capability<P: Provider>(p: &P) {
    download_matches_capability(p, "bill", Capability::BillDownload, p.adapter().bill(p.bill_day()).await);
}

/// The day's settlement read through the adapter agrees with the simulator's books, except
/// exactly where discrepancies were planted (an amount changed, a line dropped, a fee changed),
/// and its total is the sum of its lines: gross the payments, refunds the refunds, fees every
/// line's fee, `net + fees == gross - refunds`, one total in the provider's currency. Refund
/// lines are keyed by the refund number alone: a settlement need not name a refund's order
/// (WeChat Pay's fund-flow bill does not).
pub async fn settlement_agrees_with_the_books_and_shows_planted_discrepancies<P: Provider>(p: &P) {
    require(p, Capability::SettlementDownload);
    let (adapter, name) = (p.adapter(), P::NAME);
    let (p1, p2, p3) = (trade_no(), trade_no(), trade_no());
    for (no, amount) in [(&p1, 1_000), (&p2, 2_000), (&p3, 1_500)] {
        paid(p, no, amount).await;
    }
    let r2 = trade_no();
    let o = adapter.refund(&refund_request(p, &p2, &r2, 500, 2_000)).await.outcome;
    assert!(accepted(&o), "{name}: {o:?}");
    assert_eq!(
        refund_final(p, &refund_ref(p, &p2, &r2, 500, &o)).await.status,
        RefundStatus::Succeeded,
        "{name}"
    );

    let mut expected = Keyed::new();
    for no in [&p1, &p2, &p3] {
        let b = books(p, no).await.expect("in the books");
        if b.charges > 0 {
            expected.entry(key(BillLineKind::Payment, no, None)).or_default().push(b.amount);
        }
        for r in b.refunds.iter().filter(|r| r.state == BookState::Succeeded) {
            expected.entry(key(BillLineKind::Refund, "", Some(&r.refund_no))).or_default().push(r.amount);
        }
    }
    const PLANTED_FEE: i64 = 77;
    for f in [
        BillFault::new(BillFaultKind::Amount).order(&p1).amount(999),
        BillFault::new(BillFaultKind::DropLine).order(&p3),
        BillFault::new(BillFaultKind::Fee).order(&p2).fee(PLANTED_FEE),
    ] {
        p.plant_bill_fault(f).await.expect("plant a bill fault");
    }

    let download =
        adapter.settlement(p.bill_day()).await.map_err(|(e, _)| e).expect("the settlement downloads");
    let items: Vec<_> = download.items.collect().await;
    let currency = p.currency().as_str().to_owned();
    let (mut billed, mut totals, mut lines) =
        (Keyed::new(), Vec::<SettlementTotal>::new(), Vec::<BillLine>::new());
    for item in items {
        match item.expect("every line parses and the file agrees with itself") {
            BillItem::Line(l) => {
                assert_eq!(l.currency, currency, "{name}: the line's currency");
                let trade_no = if l.kind == BillLineKind::Payment { l.trade_no.as_str() } else { "" };
                billed
                    .entry(key(l.kind, trade_no, l.refund_trade_no.as_deref()))
                    .or_default()
                    .push(l.amount_minor.abs());
                lines.push(l);
            }
            BillItem::Total(t) => totals.push(t),
        }
    }
    for v in billed.values_mut().chain(expected.values_mut()) {
        v.sort_unstable();
    }
    let keys: std::collections::BTreeSet<_> = billed.keys().chain(expected.keys()).cloned().collect();
    let differing: BTreeMap<_, _> = keys
        .into_iter()
        .filter_map(|k| {
            let (b, e) =
                (billed.get(&k).cloned().unwrap_or_default(), expected.get(&k).cloned().unwrap_or_default());
            (b != e).then_some((k, (e, b)))
        })
        .collect();
    let want: BTreeMap<_, _> = [
        (key(BillLineKind::Payment, &p1, None), (vec![1_000], vec![999])),
        (key(BillLineKind::Payment, &p3, None), (vec![1_500], vec![])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        differing, want,
        "{name}: (books, settlement) of every line that differs; settlement {lines:?}"
    );
    let fee_of_p2: Vec<i64> = lines
        .iter()
        .filter(|l| l.kind == BillLineKind::Payment && l.trade_no == p2)
        .map(|l| l.fee_minor)
        .collect();
    assert_eq!(fee_of_p2, vec![PLANTED_FEE], "{name}: the planted fee");

    assert_eq!(totals.len(), 1, "{name}: one total, in {currency}: {totals:?}");
    let t = &totals[0];
    let sum = |kind: BillLineKind, f: fn(&BillLine) -> i64| -> i64 {
        lines.iter().filter(|l| l.kind == kind).map(f).sum()
    };
    let fees: i64 = lines.iter().map(|l| l.fee_minor).sum();
    assert_eq!(
        (t.currency.as_str(), t.gross_minor, t.refunds_minor, t.fees_minor, t.count),
        (
            currency.as_str(),
            sum(BillLineKind::Payment, |l| l.amount_minor),
            sum(BillLineKind::Refund, |l| l.amount_minor),
            fees,
            u64::try_from(lines.len()).expect("a count"),
        ),
        "{name}: the total is the sum of the lines: {t:?}"
    );
    assert_eq!(t.net_minor + t.fees_minor, t.gross_minor - t.refunds_minor, "{name}: {t:?}");
    assert_eq!(t.gross_minor, 999 + 2_000, "{name}: the payments as settled: {t:?}");
}

/// The capability list tells the truth about the adapter's settlement download
/// ([`download_matches_capability`]).
pub async fn settlement_download_matches_capability<P: Provider>(p: &P) {
    let result = p.adapter().settlement(p.bill_day()).await;
    download_matches_capability(p, "settlement", Capability::SettlementDownload, result);
}

/// A payment of `amount` paid with manual capture by the provider's charging method: its facts
/// once the provider holds it authorised (nothing taken).
async fn authorised<P: Provider>(p: &P, trade_no: &str, amount: i64) -> PaymentFacts {
    let method = p.charging_method();
    let request = PayRequest { capture: CaptureMode::Manual, ..p.pay_request(trade_no, amount, method) };
    let created =
        answer(&format!("{} pay {method:?} manual", P::NAME), p.adapter().pay(&request).await.outcome);
    if created.status != PaymentStatus::Authorized {
        assert_eq!(created.status, PaymentStatus::WaitingForCustomer, "{}: {created:?}", P::NAME);
        p.customer_pays(trade_no, created.action.as_ref()).await.expect("the customer pays");
    }
    let facts =
        query_until(p, &manual_trade_ref(p, trade_no, amount, Some(&created)), PaymentStatus::Authorized)
            .await;
    assert_eq!(facts.amount, Some(p.money(amount)), "{}: the amount authorised", P::NAME);
    assert_eq!(charges(p, trade_no).await, 0, "{}: an authorisation takes nothing", P::NAME);
    facts
}

/// [`trade_ref`] of a manual-capture payment made by the provider's charging method, as the
/// dispatcher knows it from the row (LINE Pay reads a one-time-key authorisation by them).
fn manual_trade_ref<P: Provider>(
    p: &P,
    trade_no: &str,
    amount: i64,
    said: Option<&PaymentFacts>,
) -> TradeRef {
    TradeRef {
        pay_method: Some(p.charging_method()),
        capture: CaptureMode::Manual,
        ..trade_ref(p, trade_no, amount, said)
    }
}

fn capture_request<P: Provider>(p: &P, trade_no: &str, amount: i64) -> CaptureRequest {
    CaptureRequest { trade_no: trade_no.into(), amount: p.money(amount), authorized: p.money(AMOUNT) }
}

/// Authorised, then captured in part: a capture above the authorised amount is refused (or
/// refused before it is sent), the part is taken once (a repeat of it answers the capture made),
/// another amount afterwards is not taken, a void of the captured payment says it is paid, and
/// refunds stop at the captured part.
pub async fn authorise_then_capture_part_once<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let (adapter, name, no) = (p.adapter(), P::NAME, trade_no());
    authorised(p, &no, AMOUNT).await;
    let too_much = CaptureRequest { amount: p.money(AMOUNT + 1), ..capture_request(p, &no, AMOUNT) };
    assert!(
        matches!(adapter.capture(&too_much).await.outcome, CallOutcome::Refused { .. }),
        "{name}: a capture above the authorisation is refused"
    );
    assert_eq!(charges(p, &no).await, 0, "{name}");
    let part = AMOUNT * 3 / 10;
    let captured =
        answer(&format!("{name} capture"), adapter.capture(&capture_request(p, &no, part)).await.outcome);
    assert_eq!(captured.status, PaymentStatus::Succeeded, "{name}: {captured:?}");
    let again = answer(
        &format!("{name} capture again"),
        adapter.capture(&capture_request(p, &no, part)).await.outcome,
    );
    assert_eq!(again.status, PaymentStatus::Succeeded, "{name}: a repeat answers the capture made");
    let other = adapter.capture(&capture_request(p, &no, part + 1)).await.outcome;
    // Refused (mockpay), or the capture made read back (Stripe): never a second capture.
    let refused_or_read_back = match &other {
        CallOutcome::Refused { .. } => true,
        CallOutcome::Answer { facts, .. } => facts.status == PaymentStatus::Succeeded,
        _ => false,
    };
    assert!(refused_or_read_back, "{name}: another amount after the capture: {other:?}");
    let books = books(p, &no).await.expect("in the books");
    assert_eq!((books.charges, books.captured), (1, Some(part)), "{name}: taken once, the part only");
    let void =
        answer(&format!("{name} void of a captured payment"), adapter.void(&no, p.currency()).await.outcome);
    assert_eq!(void.status, PaymentStatus::Succeeded, "{name}: the void says it was captured");
    let over = refund_request(p, &no, &trade_no(), part + 1, AMOUNT);
    assert!(
        matches!(adapter.refund(&over).await.outcome, CallOutcome::Refused { .. }),
        "{name}: a refund above the captured part is refused"
    );
    let refund_no = trade_no();
    let o = adapter.refund(&refund_request(p, &no, &refund_no, part, AMOUNT)).await.outcome;
    assert_eq!(
        refund_final(p, &refund_ref(p, &no, &refund_no, part, &o)).await.status,
        RefundStatus::Succeeded,
        "{name}"
    );
}

/// The capture is made but its answer is lost: UNKNOWN, never success or failure; the query finds
/// it captured, and the books hold one charge.
pub async fn a_capture_whose_answer_is_lost_is_unknown_and_the_query_finds_it<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let (adapter, name, no) = (p.adapter(), P::NAME, trade_no());
    authorised(p, &no, AMOUNT).await;
    p.script(&no, Operation::Capture, Fault::LostResponse).await.expect("script a lost answer");
    match adapter.capture(&capture_request(p, &no, AMOUNT)).await.outcome {
        CallOutcome::Unknown { .. } => {}
        other => panic!("{name}: a lost capture answer must be UNKNOWN, got {other:?}"),
    }
    query_until(p, &manual_trade_ref(p, &no, AMOUNT, None), PaymentStatus::Succeeded).await;
    let books = books(p, &no).await.expect("in the books");
    assert_eq!((books.charges, books.captured), (1, Some(AMOUNT)), "{name}");
}

/// Authorised, then voided: released (closed), a second void answers the same, and a capture
/// afterwards takes nothing.
pub async fn authorise_then_void_idempotently<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let (adapter, name, no) = (p.adapter(), P::NAME, trade_no());
    authorised(p, &no, AMOUNT).await;
    let voided = answer(&format!("{name} void"), adapter.void(&no, p.currency()).await.outcome);
    assert_eq!(voided.status, PaymentStatus::Closed, "{name}: {voided:?}");
    let again = answer(&format!("{name} void again"), adapter.void(&no, p.currency()).await.outcome);
    assert_eq!(again.status, PaymentStatus::Closed, "{name}: a repeat answers the release");
    let late = adapter.capture(&capture_request(p, &no, AMOUNT)).await.outcome;
    assert!(
        !matches!(&late, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Succeeded),
        "{name}: nothing captured after a void: {late:?}"
    );
    assert_eq!(charges(p, &no).await, 0, "{name}: nothing was taken");
    let closed = query_until(p, &manual_trade_ref(p, &no, AMOUNT, None), PaymentStatus::Closed).await;
    assert_eq!(closed.status, PaymentStatus::Closed, "{name}");
}
