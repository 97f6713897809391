//! The refund flow: create (idempotent on refundId), asynchronous completion, query.
//!
//! ```text
//! create ─▶ PROCESSING ──(refundDelayMs)──▶ SUCCEEDED | FAILED
//!                      └─(processing_forever: only the admin API completes it)
//! ```
//! A PROCESSING refund holds its amount; a FAILED one gives it back to the refundable balance.

use crate::app::App;
use crate::codes::ReturnCode;
use crate::flow::Outcome;
use crate::model::{EventType, PaymentKey, PaymentStatus, Refund, RefundFate, RefundKey, RefundStatus};
use crate::notifier::{self, Draft};
use crate::wire::refund::NewRefund;
use chrono::Utc;
use simkit::Event;
use std::time::Duration;

/// `POST /v1/refunds`.
pub(crate) fn create(app: &App, merchant_id: &str, new: NewRefund) -> Outcome<Refund> {
    let now = Utc::now();
    let rkey = RefundKey { merchant_id: merchant_id.to_owned(), refund_id: new.refund_id.clone() };
    let pkey = PaymentKey { merchant_id: merchant_id.to_owned(), order_id: new.order_id.clone() };
    let ledger = app.ledger();

    if let Some(r) = ledger.refunds.get(&rkey) {
        return if r.order_id != new.order_id {
            Outcome::fail(
                ReturnCode::ExistingTransaction,
                format!("refundId {} already exists for another orderId", new.refund_id),
            )
        } else if r.amount != new.amount {
            Outcome::fail(
                ReturnCode::ExistingTransaction,
                format!("refundId {} already exists with a different amount", new.refund_id),
            )
        } else {
            Outcome::ok(r.clone())
        };
    }

    // The lazy expiry check is the payment flow's: read the payment through a query first.
    drop(ledger);
    let view = match crate::flow::payments::query(app, merchant_id, &new.order_id) {
        Outcome { value: Some(view), .. } => view,
        _ => {
            return Outcome::fail(
                ReturnCode::NoSuchTransaction,
                format!("no payment with orderId {}", new.order_id),
            );
        }
    };
    match view.payment.status {
        PaymentStatus::Succeeded => {}
        PaymentStatus::Closed | PaymentStatus::Expired | PaymentStatus::Voided => {
            return Outcome::fail(
                ReturnCode::Expired,
                format!("the payment is {}; there is nothing to refund", view.payment.status.as_str()),
            );
        }
        PaymentStatus::Waiting | PaymentStatus::Declined | PaymentStatus::Authorized => {
            // An authorisation is refunded by voiding it: nothing was taken yet.
            return Outcome::fail(
                ReturnCode::NoSuchTransaction,
                format!("the payment is {}, not paid (captured)", view.payment.status.as_str()),
            );
        }
    }

    let mut ledger = app.ledger();
    // Re-read under the lock: another refund may have been created meanwhile.
    if ledger.refunds.contains_key(&rkey) {
        drop(ledger);
        return create(app, merchant_id, new);
    }
    let Some(view) = ledger.view(&pkey) else {
        return Outcome::fail(
            ReturnCode::NoSuchTransaction,
            format!("no payment with orderId {}", new.order_id),
        );
    };
    let refundable = view.refundable_amount();
    if refundable <= 0 {
        return Outcome::fail(ReturnCode::AlreadyRefunded, "the payment is already fully refunded");
    }
    if new.amount > refundable {
        return Outcome::fail(
            ReturnCode::ExceedsRefundable,
            format!("amount {} exceeds the refundable amount {refundable}", new.amount),
        );
    }

    let fate = app.faults().refund_fate(merchant_id, &new.order_id, &new.refund_id);
    let delay = app.settings().refund_delay_ms;
    let mut refund = Refund {
        key: rkey.clone(),
        order_id: new.order_id,
        refund_transaction_id: app.ids.refund_transaction_id(),
        amount: new.amount,
        reason: new.reason,
        notify_url: new.notify_url.or_else(|| view.payment.notify_url.clone()),
        status: RefundStatus::Processing,
        fate,
        created_at: now,
        completed_at: None,
    };
    let mut drafts = Vec::new();
    app.stats().event(Event::RefundCreated);
    if fate == RefundFate::Succeed && delay == 0 {
        refund.status = RefundStatus::Succeeded;
        refund.completed_at = Some(now);
        app.stats().event(Event::RefundSucceeded);
        drafts.push(Draft::refund(&view.payment, &refund, EventType::RefundSucceeded, now));
    }
    if let Some(p) = ledger.payments.get_mut(&pkey) {
        p.refund_ids.push(rkey.refund_id.clone());
    }
    ledger.refunds.insert(rkey.clone(), refund.clone());
    let generation = ledger.generation;
    drop(ledger);

    if refund.status == RefundStatus::Processing && fate != RefundFate::ProcessingForever {
        let target = if fate == RefundFate::Fail { RefundStatus::Failed } else { RefundStatus::Succeeded };
        let app2 = app.clone();
        app.spawn(async move {
            if app2.sleep(Duration::from_millis(delay)).await {
                complete(&app2, &rkey, target, Some(generation));
            }
        });
    }
    notifier::dispatch(app, drafts);
    Outcome::ok(refund)
}

/// Ends a PROCESSING refund (the timer, or the admin API with `generation` None).
pub(crate) fn complete(
    app: &App,
    rkey: &RefundKey,
    target: RefundStatus,
    generation: Option<u64>,
) -> Outcome<Refund> {
    let now = Utc::now();
    let mut ledger = app.ledger();
    if generation.is_some_and(|g| g != ledger.generation) {
        return Outcome::fail(ReturnCode::NoSuchTransaction, "the refund belongs to a reset run");
    }
    let Some(r) = ledger.refunds.get_mut(rkey) else {
        return Outcome::fail(ReturnCode::NoSuchTransaction, "no such refund");
    };
    if r.status != RefundStatus::Processing {
        return Outcome::fail(
            ReturnCode::InvalidRequest,
            format!("the refund is already {}", r.status.as_str()),
        );
    }
    r.status = target;
    r.completed_at = Some(now);
    let refund = r.clone();
    let pkey = PaymentKey { merchant_id: rkey.merchant_id.clone(), order_id: refund.order_id.clone() };
    let (event, stat) = match target {
        RefundStatus::Failed => (EventType::RefundFailed, Event::RefundFailed),
        _ => (EventType::RefundSucceeded, Event::RefundSucceeded),
    };
    app.stats().event(stat);
    let drafts: Vec<Draft> =
        ledger.payments.get(&pkey).map(|p| Draft::refund(p, &refund, event, now)).into_iter().collect();
    drop(ledger);
    notifier::dispatch(app, drafts);
    Outcome::ok(refund)
}

/// `GET /v1/refunds/{refundId}`.
pub(crate) fn query(app: &App, merchant_id: &str, refund_id: &str) -> Outcome<Refund> {
    let key = RefundKey { merchant_id: merchant_id.to_owned(), refund_id: refund_id.to_owned() };
    match app.ledger().refunds.get(&key) {
        Some(r) => Outcome::ok(r.clone()),
        None => Outcome::fail(ReturnCode::NoSuchTransaction, format!("no refund with refundId {refund_id}")),
    }
}

/// Finds a refund by id alone (admin side): the first merchant that has it.
pub(crate) fn find(app: &App, refund_id: &str, merchant_id: Option<&str>) -> Option<RefundKey> {
    let ledger = app.ledger();
    let candidates = match merchant_id {
        Some(m) => vec![m.to_owned()],
        None => app.merchant_ids(),
    };
    candidates
        .into_iter()
        .map(|m| RefundKey { merchant_id: m, refund_id: refund_id.to_owned() })
        .find(|k| ledger.refunds.contains_key(k))
}
