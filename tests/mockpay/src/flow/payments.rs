//! The payment flow: create (idempotent on orderId), query, close, the customer paying or being
//! declined, and expiry.
//!
//! ```text
//! create ─┬─ direct ──────────────▶ SUCCEEDED | DECLINED
//!         └─ redirect/form/qr/cs ─▶ WAITING ─┬─ customer pays ─▶ SUCCEEDED | DECLINED
//!                                            ├─ close ─────────▶ CLOSED
//!                                            └─ expiresAt ─────▶ EXPIRED
//! captureMethod manual: "SUCCEEDED" above is AUTHORIZED ─┬─ capture ─▶ SUCCEEDED (capturedAmount)
//!                                                        ├─ void ────▶ VOIDED
//!                                                        └─ authorizationExpirySecs ─▶ EXPIRED
//! ```
//! Money is taken exactly when a payment becomes SUCCEEDED; `charges` counts it.

use crate::app::App;
use crate::codes::ReturnCode;
use crate::flow::Outcome;
use crate::ids;
use crate::ledger::{Ledger, Lookup};
use crate::model::{EventType, NewPayment, PayMethod, Payment, PaymentKey, PaymentStatus, PaymentView};
use crate::notifier::{self, Draft};
use chrono::{DateTime, Utc};
use simkit::Event;
use simkit::notify::Notification;
use std::time::Duration;

/// How the admin and customer side name a payment.
#[derive(Debug, Clone)]
pub(crate) enum Locator {
    /// The provider's transaction id (the customer's pay URL).
    Transaction(String),
    /// The merchant's order id; the merchant is needed only if several use the same order id.
    Order { order_id: String, merchant_id: Option<String> },
    /// An exact key, valid only in the given ledger generation (timers).
    Key { key: PaymentKey, generation: u64 },
}

fn resolve(ledger: &Ledger, locator: &Locator) -> Result<PaymentKey, (ReturnCode, String)> {
    let not_found = || (ReturnCode::NoSuchTransaction, "no such payment".to_owned());
    match locator {
        Locator::Transaction(t) => ledger.by_transaction.get(t).cloned().ok_or_else(not_found),
        Locator::Order { order_id, merchant_id } => match ledger.find_order(order_id, merchant_id.as_deref())
        {
            Ok(k) => Ok(k),
            Err(Lookup::NotFound) => Err(not_found()),
            Err(Lookup::Ambiguous) => Err((
                ReturnCode::InvalidRequest,
                format!("merchantId: several merchants have orderId {order_id}; add ?merchantId="),
            )),
        },
        Locator::Key { key, generation } if *generation == ledger.generation => Ok(key.clone()),
        Locator::Key { .. } => Err(not_found()),
    }
}

/// WAITING past its expiry, and AUTHORIZED past its authorisation's, becomes EXPIRED (checked
/// lazily on every touch, and by a sweeper): nothing is taken.
fn expire_if_due(p: &mut Payment, now: DateTime<Utc>) -> Option<Draft> {
    let due = match p.status {
        PaymentStatus::Waiting => p.expires_at.is_some_and(|at| at <= now),
        PaymentStatus::Authorized => p.authorization_expires_at.is_some_and(|at| at <= now),
        _ => false,
    };
    if due {
        p.status = PaymentStatus::Expired;
        p.closed_at = Some(now);
        return Some(Draft::payment(p, EventType::PaymentExpired, now));
    }
    None
}

/// Takes the money (or, for manual capture, authorises it: holds it until a capture), or
/// declines, for a payment that is being paid now. No notification is sent for an authorisation:
/// the pay answer and queries tell it.
fn charge(app: &App, p: &mut Payment, now: DateTime<Utc>) -> Option<Draft> {
    let decline = app.faults().charge(&p.key.merchant_id, &p.key.order_id);
    match decline {
        Some(d) => {
            let code =
                d.code.as_deref().and_then(ReturnCode::decline).unwrap_or(ReturnCode::InsufficientFunds);
            p.status = PaymentStatus::Declined;
            p.decline_code = Some(code);
            p.closed_at = Some(now);
            app.stats().event(Event::Decline);
            Some(Draft::payment(p, EventType::PaymentDeclined, now))
        }
        None if p.capture_manual => {
            p.status = PaymentStatus::Authorized;
            let after = app.settings().authorization_expiry_secs;
            p.authorization_expires_at =
                Some(now + chrono::Duration::seconds(i64::try_from(after).unwrap_or(i64::MAX)));
            None
        }
        None => {
            p.status = PaymentStatus::Succeeded;
            p.paid_at = Some(now);
            p.charges += 1;
            app.stats().event(Event::Charge);
            Some(Draft::payment(p, EventType::PaymentSucceeded, now))
        }
    }
}

/// Schedules the sweeper's look at an authorisation's expiry.
fn schedule_authorization_expiry(ledger: &mut Ledger, p: &Payment) {
    if let (PaymentStatus::Authorized, Some(at)) = (p.status, p.authorization_expires_at) {
        ledger.schedule_expiry(at, p.key.clone());
    }
}

/// The answer for a payment as it stands: a decline code for DECLINED, success otherwise.
fn answer(view: PaymentView) -> Outcome<PaymentView> {
    match view.payment.decline_code {
        Some(code) if view.payment.status == PaymentStatus::Declined => Outcome::with_code(code, view),
        _ => Outcome::ok(view),
    }
}

/// `POST /v1/payments`.
pub(crate) fn create(app: &App, merchant_id: &str, new: NewPayment) -> Outcome<PaymentView> {
    let now = Utc::now();
    let key = PaymentKey { merchant_id: merchant_id.to_owned(), order_id: new.order_id.clone() };
    let mut drafts = Vec::new();
    let mut ledger = app.ledger();

    if let Some(p) = ledger.payments.get_mut(&key) {
        drafts.extend(expire_if_due(p, now));
        let differing = p.differing_param(&new);
        let view = ledger.view(&key);
        drop(ledger);
        notifier::dispatch(app, drafts);
        return match (differing, view) {
            (Some(field), _) => Outcome::fail(
                ReturnCode::ExistingTransaction,
                format!("orderId {} already exists with a different {field}", new.order_id),
            ),
            (None, Some(view)) => answer(view),
            (None, None) => Outcome::fail(ReturnCode::InternalError, "payment vanished"),
        };
    }

    if new.expires_at.is_some_and(|at| at <= now) {
        return Outcome::fail(ReturnCode::InvalidRequest, "expiresAt: must be in the future");
    }
    let settings = app.settings();
    let transaction_id = app.ids.transaction_id();
    let mut p = Payment {
        key: key.clone(),
        client_secret: (new.pay_method == PayMethod::ClientSecret)
            .then(|| ids::client_secret(&transaction_id)),
        transaction_id,
        amount: new.amount,
        currency: new.currency,
        description: new.description,
        pay_method: new.pay_method,
        notify_url: new.notify_url,
        return_url: new.return_url,
        created_at: now,
        expires_at: None,
        status: PaymentStatus::Waiting,
        paid_at: None,
        closed_at: None,
        decline_code: None,
        capture_manual: new.capture_manual,
        authorization_expires_at: None,
        captured_amount: None,
        charges: 0,
        refund_ids: Vec::new(),
        notification_ids: Vec::new(),
    };
    if p.pay_method == PayMethod::Direct {
        drafts.extend(charge(app, &mut p, now));
    } else {
        p.expires_at = new.expires_at.or_else(|| {
            settings
                .default_expiry_secs
                .map(|s| now + chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX)))
        });
    }
    let waiting = p.status == PaymentStatus::Waiting;
    schedule_authorization_expiry(&mut ledger, &p);
    ledger.insert_payment(p);
    let generation = ledger.generation;
    let view = ledger.view(&key);
    drop(ledger);

    if let (true, Some(ms)) = (waiting, settings.auto_pay_after_ms) {
        let app2 = app.clone();
        app.spawn(async move {
            if app2.sleep(Duration::from_millis(ms)).await {
                customer_pay(&app2, &Locator::Key { key, generation });
            }
        });
    }
    notifier::dispatch(app, drafts);
    match view {
        Some(view) => answer(view),
        None => Outcome::fail(ReturnCode::InternalError, "payment vanished"),
    }
}

/// Applies `f` to the located payment (after the lazy expiry check), then sends the notifications.
fn with_payment(
    app: &App,
    locator: &Locator,
    f: impl FnOnce(&App, &mut Payment, DateTime<Utc>, &mut Vec<Draft>) -> Option<Outcome<()>>,
) -> Outcome<PaymentView> {
    let now = Utc::now();
    let mut drafts = Vec::new();
    let mut ledger = app.ledger();
    let key = match resolve(&ledger, locator) {
        Ok(k) => k,
        Err((code, message)) => return Outcome::fail(code, message),
    };
    let Some(p) = ledger.payments.get_mut(&key) else {
        return Outcome::fail(ReturnCode::NoSuchTransaction, "no such payment");
    };
    drafts.extend(expire_if_due(p, now));
    let early = f(app, p, now, &mut drafts);
    let p = p.clone();
    schedule_authorization_expiry(&mut ledger, &p);
    let view = ledger.view(&key);
    drop(ledger);
    notifier::dispatch(app, drafts);
    match (early, view) {
        (Some(o), view) => Outcome { code: o.code, message: o.message, value: view },
        (None, Some(view)) => answer(view),
        (None, None) => Outcome::fail(ReturnCode::InternalError, "payment vanished"),
    }
}

fn merchant_order(merchant_id: &str, order_id: &str) -> Locator {
    // Exactly this merchant's order: never another merchant's.
    Locator::Order { order_id: order_id.to_owned(), merchant_id: Some(merchant_id.to_owned()) }
}

/// `GET /v1/payments/{orderId}`.
pub(crate) fn query(app: &App, merchant_id: &str, order_id: &str) -> Outcome<PaymentView> {
    // A query reports a DECLINED payment with 0000 and status DECLINED: the query succeeded.
    with_payment(app, &merchant_order(merchant_id, order_id), |_, _, _, _| Some(Outcome::ok(())))
}

/// `POST /v1/payments/{orderId}/close`.
pub(crate) fn close(app: &App, merchant_id: &str, order_id: &str) -> Outcome<PaymentView> {
    with_payment(app, &merchant_order(merchant_id, order_id), |_, p, now, drafts| match p.status {
        PaymentStatus::Waiting => {
            p.status = PaymentStatus::Closed;
            p.closed_at = Some(now);
            drafts.push(Draft::payment(p, EventType::PaymentClosed, now));
            Some(Outcome::ok(()))
        }
        PaymentStatus::Succeeded => {
            Some(Outcome::fail(ReturnCode::AlreadyPaid, "the payment has succeeded; refund it instead"))
        }
        // An authorisation is not closed (a void releases it): the answer says what it is, so the
        // close, the expiry's final query, records the authorisation.
        PaymentStatus::Authorized
        | PaymentStatus::Closed
        | PaymentStatus::Expired
        | PaymentStatus::Declined
        | PaymentStatus::Voided => Some(Outcome::ok(())),
    })
}

/// `POST /v1/payments/{orderId}/capture`: takes `amount` (at most the authorised amount) of an
/// AUTHORIZED payment and releases the rest. A repeat of the capture made (same amount) answers
/// the captured payment again; nothing is taken twice.
pub(crate) fn capture(app: &App, merchant_id: &str, order_id: &str, amount: i64) -> Outcome<PaymentView> {
    with_payment(app, &merchant_order(merchant_id, order_id), |app, p, now, drafts| {
        if !p.capture_manual {
            return Some(Outcome::fail(
                ReturnCode::InvalidRequest,
                "the payment was made with captureMethod automatic: nothing to capture",
            ));
        }
        match p.status {
            PaymentStatus::Authorized if amount > p.amount => Some(Outcome::fail(
                ReturnCode::ExceedsRefundable,
                format!("amount {amount} exceeds the authorised {}", p.amount),
            )),
            PaymentStatus::Authorized => {
                p.status = PaymentStatus::Succeeded;
                p.captured_amount = Some(amount);
                p.paid_at = Some(now);
                p.charges += 1;
                app.stats().event(Event::Charge);
                drafts.push(Draft::payment(p, EventType::PaymentSucceeded, now));
                Some(Outcome::ok(()))
            }
            PaymentStatus::Succeeded if p.captured_amount == Some(amount) => Some(Outcome::ok(())),
            PaymentStatus::Succeeded => Some(Outcome::fail(
                ReturnCode::ExistingTransaction,
                format!("the payment was captured for {} already", p.taken()),
            )),
            PaymentStatus::Voided
            | PaymentStatus::Expired
            | PaymentStatus::Closed
            | PaymentStatus::Declined => {
                Some(Outcome::fail(ReturnCode::Expired, format!("the payment is {}", p.status.as_str())))
            }
            PaymentStatus::Waiting => Some(Outcome::fail(
                ReturnCode::NoSuchTransaction,
                "the payment is WAITING: nothing is authorised yet",
            )),
        }
    })
}

/// `POST /v1/payments/{orderId}/void`: releases an AUTHORIZED payment (VOIDED); nothing is
/// taken. A released payment answers as it stands; a captured one `1160`.
pub(crate) fn void(app: &App, merchant_id: &str, order_id: &str) -> Outcome<PaymentView> {
    with_payment(app, &merchant_order(merchant_id, order_id), |_, p, now, drafts| match p.status {
        PaymentStatus::Authorized => {
            p.status = PaymentStatus::Voided;
            p.closed_at = Some(now);
            drafts.push(Draft::payment(p, EventType::PaymentClosed, now));
            Some(Outcome::ok(()))
        }
        PaymentStatus::Succeeded => {
            Some(Outcome::fail(ReturnCode::AlreadyPaid, "the payment was captured; refund it instead"))
        }
        PaymentStatus::Waiting => {
            Some(Outcome::fail(ReturnCode::InvalidRequest, "the payment is WAITING: close it instead"))
        }
        PaymentStatus::Voided | PaymentStatus::Closed | PaymentStatus::Expired | PaymentStatus::Declined => {
            Some(Outcome::ok(()))
        }
    })
}

/// The customer pays a WAITING payment (pay URL, admin, auto-pay). Paying a SUCCEEDED payment
/// again is a no-op answered with success; nothing is charged twice.
pub(crate) fn customer_pay(app: &App, locator: &Locator) -> Outcome<PaymentView> {
    with_payment(app, locator, |app, p, now, drafts| match p.status {
        PaymentStatus::Waiting => {
            drafts.extend(charge(app, p, now));
            None
        }
        PaymentStatus::Succeeded | PaymentStatus::Authorized => Some(Outcome::ok(())),
        PaymentStatus::Declined | PaymentStatus::Closed | PaymentStatus::Expired | PaymentStatus::Voided => {
            Some(Outcome::fail(
                ReturnCode::Expired,
                format!("the payment is {} and can no longer be paid", p.status.as_str()),
            ))
        }
    })
}

/// The customer's charge is declined (admin).
pub(crate) fn decline(app: &App, locator: &Locator, code: ReturnCode) -> Outcome<PaymentView> {
    with_payment(app, locator, |app, p, now, drafts| match p.status {
        PaymentStatus::Waiting => {
            p.status = PaymentStatus::Declined;
            p.decline_code = Some(code);
            p.closed_at = Some(now);
            app.stats().event(Event::Decline);
            drafts.push(Draft::payment(p, EventType::PaymentDeclined, now));
            None
        }
        _ => Some(Outcome::fail(
            ReturnCode::Expired,
            format!("the payment is {}, not WAITING", p.status.as_str()),
        )),
    })
}

/// Expires a WAITING payment now (admin).
pub(crate) fn expire(app: &App, locator: &Locator) -> Outcome<PaymentView> {
    with_payment(app, locator, |_, p, now, drafts| {
        if p.status != PaymentStatus::Waiting {
            return Some(Outcome::fail(
                ReturnCode::Expired,
                format!("the payment is {}, not WAITING", p.status.as_str()),
            ));
        }
        p.expires_at = Some(now);
        drafts.extend(expire_if_due(p, now));
        Some(Outcome::ok(()))
    })
}

/// The payment with its refunds and notifications (admin truth).
pub(crate) fn truth(app: &App, locator: &Locator) -> Outcome<(PaymentView, Vec<Notification>)> {
    let now = Utc::now();
    let mut ledger = app.ledger();
    let key = match resolve(&ledger, locator) {
        Ok(k) => k,
        Err((code, message)) => return Outcome::fail(code, message),
    };
    let drafts: Vec<Draft> =
        ledger.payments.get_mut(&key).and_then(|p| expire_if_due(p, now)).into_iter().collect();
    let Some(view) = ledger.view(&key) else {
        return Outcome::fail(ReturnCode::NoSuchTransaction, "no such payment");
    };
    drop(ledger);
    let notifications = app.kit.notifications().get_all(&view.payment.notification_ids);
    notifier::dispatch(app, drafts);
    // Truth is read after the expiry check; a notification just created appears on the next read.
    Outcome::ok((view, notifications))
}

/// Expires every WAITING payment whose time has come (the sweeper).
pub(crate) fn expire_due(app: &App) {
    let now = Utc::now();
    let mut ledger = app.ledger();
    let due = ledger.due_expiries(now);
    if due.is_empty() {
        return;
    }
    let drafts: Vec<Draft> =
        due.iter().filter_map(|k| ledger.payments.get_mut(k).and_then(|p| expire_if_due(p, now))).collect();
    drop(ledger);
    notifier::dispatch(app, drafts);
}
