//! The offline (POS) API v2 as the simulator serves it: a one-time-key payment
//! (`POST /v2/payments/oneTimeKeys/pay`), its check, void and refund by order id. Requests carry
//! the channel id and the plain secret (`X-LINE-ChannelSecret`; `1106` otherwise). With
//! `posWaitsForCustomer` a payment answers `1145` (the customer confirms on the phone) until
//! approved through the admin API.
//!
//! Capture-separated payments (LINE Pay's reference, "Implement capture-separated payment" for
//! offline): `capture: false` stops the payment at confirmation (authorised, nothing taken,
//! released after `authorizationTtlMs`); `POST /v2/payments/orders/{orderId}/capture`
//! `{amount, currency}` takes at most the authorised amount (`1184` above, `1183` at zero,
//! `1178` another currency; the rest released; once: `1179` after, `1180` once expired) and
//! `…/void` releases it. `GET /v2/payments/authorizations?orderId=` ("retrieve confirmation
//! information") lists the payments confirmed or voided with capture separated, with their
//! `payStatus` (`AUTHORIZATION`, `VOIDED_AUTHORIZATION`, `EXPIRED_AUTHORIZATION`); `GET
//! /v2/payments?orderId=` ("retrieve payment details") lists the captured (complete) ones.
//!
//! The check's `info.status` for a complete payment is `COMPLETE` (PROVIDERS.md), for a failed
//! one `FAIL`; a voided one (or a released authorisation) answers `VOID`, an authorisation held
//! answers `COMPLETE` (confirmation is complete: the reference's words for `capture: false`), and
//! the complete answer carries `transactionId` and `payInfo`: the simulator's reading where the
//! published reference found says nothing (docs/providers/linepay.md). Its `COMPLETE` for an
//! authorisation is deliberately the reading a client must not mistake for a capture.

use crate::api::{capture_held, decline_code, listing, named, param_error, refund_payment, serve, text};
use crate::app::App;
use crate::model::{Payment, State};
use crate::wire::Answer;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};
use simkit::Operation;

const KEY_LENGTHS: [usize; 3] = [12, 18, 19];

fn paid_info(p: &Payment) -> Value {
    json!({
        "transactionId": p.txn,
        "orderId": p.order_id,
        "transactionDate": p.confirmed_at.unwrap_or(p.created_at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "payInfo": [{"method": "BALANCE", "amount": p.amount}],
    })
}

pub(crate) async fn pay(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Response {
    let raw = text(&body);
    let v: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let order = v["orderId"].as_str().map(str::to_owned);
    serve(&app, Operation::Pay, "/v2/payments/oneTimeKeys/pay", &headers, &raw, order, |app| {
        let Some(amount) = v["amount"].as_i64().filter(|a| *a > 0) else { return param_error("amount") };
        let Some(currency) = v["currency"].as_str() else { return param_error("currency") };
        if currency != app.currency {
            return Answer::code("1178", "The currency is not supported by the store.");
        }
        let Some(order_id) = v["orderId"].as_str().filter(|o| !o.is_empty() && o.len() <= 100) else {
            return param_error("orderId");
        };
        let Some(key) = v["oneTimeKey"].as_str() else { return param_error("oneTimeKey") };
        // `capture`: true (the default) unless the request says false (authorise only).
        let capture = match &v["capture"] {
            Value::Null => true,
            Value::Bool(b) => *b,
            _ => return param_error("capture"),
        };
        if !KEY_LENGTHS.contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_digit()) {
            return param_error("oneTimeKey");
        }
        let decline = app.kit.faults().charge(&app.channel_id, order_id);
        let waits = app.settings().pos_waits_for_customer;
        let mut ledger = app.ledger();
        if let Some(existing) = ledger.by_order(order_id) {
            return match existing.state {
                State::InProcess => Answer::code("1145", "Payment is in process."),
                _ => Answer::code("1172", "Existing same orderId."),
            };
        }
        let txn = ledger.next_id();
        let mut p = Payment {
            txn,
            order_id: order_id.to_owned(),
            amount,
            currency: currency.to_owned(),
            product_name: v["productName"].as_str().unwrap_or("").to_owned(),
            confirm_url: String::new(),
            state: State::InProcess,
            created_at: Utc::now(),
            confirmed_at: None,
            charges: 0,
            refunds: Vec::new(),
            redirects: Vec::new(),
            pos: true,
            capture,
            authorization_expires_at: None,
            captured: None,
        };
        let answer = match decline {
            Some(d) => {
                let code = decline_code(d.code.as_deref());
                p.state = State::Failed(code);
                Answer::code(code, "The payment was declined.")
            }
            None if waits => Answer::code("1145", "Payment is in process."),
            None => {
                confirm(&mut p, app.settings().authorization_ttl_ms);
                Answer::ok(paid_info(&p))
            }
        };
        ledger.by_order.insert(order_id.to_owned(), txn);
        ledger.payments.insert(txn, p);
        answer
    })
    .await
}

/// The customer's confirmation completes a one-time-key payment: captured (`capture: true`), or
/// authorised only, held until captured, voided or released after `ttl_ms`.
pub(crate) fn confirm(p: &mut Payment, ttl_ms: u64) {
    let now = Utc::now();
    p.confirmed_at = Some(now);
    if p.capture {
        p.state = State::Completed;
        p.charges = 1;
    } else {
        p.state = State::Authorized;
        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        p.authorization_expires_at = Some(now + ttl);
    }
}

fn pos_payment<'a>(ledger: &'a mut crate::model::Ledger, order: &str) -> Option<&'a mut Payment> {
    ledger.by_order_mut(order).filter(|p| p.pos)
}

pub(crate) async fn check(
    AxState(app): AxState<App>,
    Path(order): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v2/payments/orders/{order}/check");
    serve(&app, Operation::Query, &path, &headers, "", Some(order.clone()), |app| {
        let mut ledger = app.ledger();
        let Some(p) = pos_payment(&mut ledger, &order) else {
            return Answer::code("1150", "Transaction record not found.");
        };
        match p.state {
            State::InProcess => Answer::code("1145", "Payment is in process."),
            // Confirmed: captured, or (capture false) an authorisation held: "complete" either way
            // (the simulator's reading; see the file's opening comment).
            State::Completed | State::Authorized => {
                let mut info = paid_info(p);
                info["status"] = json!("COMPLETE");
                Answer::ok(info)
            }
            State::Voided | State::AuthorizationExpired => {
                Answer::ok(json!({"status": "VOID", "orderId": p.order_id}))
            }
            _ => Answer::ok(json!({"status": "FAIL", "orderId": p.order_id})),
        }
    })
    .await
}

pub(crate) async fn void(
    AxState(app): AxState<App>,
    Path(order): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v2/payments/orders/{order}/void");
    let raw = text(&body);
    serve(&app, Operation::Cancel, &path, &headers, &raw, Some(order.clone()), |app| {
        let mut ledger = app.ledger();
        let Some(p) = pos_payment(&mut ledger, &order) else {
            return Answer::code("1150", "Transaction record not found.");
        };
        match p.state {
            State::InProcess | State::Authorized => {
                p.state = State::Voided;
                Answer::ok(json!({}))
            }
            // A one-time-key payment voided before it completed: voided again.
            State::Voided if p.capture => Answer::ok(json!({})),
            // An authorisation no longer held (voided, or captured) or released at its expiry.
            State::Voided => Answer::code("1179", "The transaction status cannot be processed."),
            State::AuthorizationExpired => Answer::code("1180", "The authorization has expired."),
            State::Completed if !p.capture => {
                Answer::code("1179", "The transaction status cannot be processed.")
            }
            State::Completed => Answer::code("1155", "A captured payment cannot be voided: refund it."),
            _ => Answer::code("1150", "Transaction record not found."),
        }
    })
    .await
}

pub(crate) async fn refund(
    AxState(app): AxState<App>,
    Path(order): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v2/payments/orders/{order}/refund");
    let raw = text(&body);
    serve(&app, Operation::Refund, &path, &headers, &raw, Some(order.clone()), |app| {
        let v: Value =
            if raw.is_empty() { json!({}) } else { serde_json::from_str(&raw).unwrap_or(Value::Null) };
        if !v.is_object() {
            return Answer::code("2102", "JSON data format error.");
        }
        let mut ledger = app.ledger();
        let id = ledger.next_id();
        let Some(p) = pos_payment(&mut ledger, &order) else {
            return Answer::code("1150", "Transaction record not found.");
        };
        refund_payment(p, id, &v)
    })
    .await
}

/// `POST /v2/payments/orders/{orderId}/capture` `{amount, currency}`: takes `amount` (at most the
/// authorised amount; the rest is released) of a one-time-key payment made with `capture: false`.
pub(crate) async fn capture(
    AxState(app): AxState<App>,
    Path(order): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v2/payments/orders/{order}/capture");
    let raw = text(&body);
    serve(&app, Operation::Capture, &path, &headers, &raw, Some(order.clone()), |app| {
        let v: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        let (Some(amount), Some(currency)) = (v["amount"].as_i64(), v["currency"].as_str()) else {
            return param_error("amount, currency");
        };
        let mut ledger = app.ledger();
        let Some(p) = pos_payment(&mut ledger, &order).filter(|p| !p.capture && p.confirmed_at.is_some())
        else {
            return Answer::code("1150", "Transaction record not found.");
        };
        match p.state {
            State::Authorized => {}
            State::AuthorizationExpired => return Answer::code("1180", "The authorization has expired."),
            _ => return Answer::code("1179", "The transaction status cannot be processed."),
        }
        capture_held(p, currency, amount)
    })
    .await
}

/// Serves a list of one-time-key payments by order or transaction id: those `listed` keeps.
async fn list(
    app: &App,
    path: &'static str,
    headers: &HeaderMap,
    query: String,
    listed: fn(&Payment) -> bool,
) -> Response {
    let (orders, txns) = named(&query);
    let order = orders.first().cloned();
    serve(app, Operation::Query, path, headers, &query, order, |app| {
        listing(app, &orders, &txns, |p| p.pos && listed(p))
    })
    .await
}

/// `GET /v2/payments/authorizations?orderId=…` ("retrieve confirmation information"): the
/// one-time-key payments confirmed with `capture: false` and not captured: held, voided or
/// released, with their `payStatus`.
pub(crate) async fn authorizations(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let held = |p: &Payment| {
        !p.capture && matches!(p.state, State::Authorized | State::Voided | State::AuthorizationExpired)
    };
    list(&app, "/v2/payments/authorizations", &headers, query.unwrap_or_default(), held).await
}

/// `GET /v2/payments?orderId=…` ("retrieve payment details"): the one-time-key payments
/// captured (at once, or by a capture of an authorisation).
pub(crate) async fn payments(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let captured = |p: &Payment| p.state == State::Completed;
    list(&app, "/v2/payments", &headers, query.unwrap_or_default(), captured).await
}
