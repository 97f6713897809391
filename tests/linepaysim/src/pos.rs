//! The offline (POS) API v2 as the simulator serves it: a one-time-key payment
//! (`POST /v2/payments/oneTimeKeys/pay`), its check, void and refund by order id. Requests carry
//! the channel id and the plain secret (`X-LINE-ChannelSecret`; `1106` otherwise). With
//! `posWaitsForCustomer` a payment answers `1145` (the customer confirms on the phone) until
//! approved through the admin API.
//!
//! The check's `info.status` for a complete payment is `COMPLETE` (PROVIDERS.md), for a failed
//! one `FAIL`; a voided one answers `VOID`, and the complete answer carries `transactionId` and
//! `payInfo`: the simulator's reading where the published reference found says nothing
//! (docs/providers/linepay.md).

use crate::api::{decline_code, param_error, refund_payment, serve, text};
use crate::app::App;
use crate::model::{Payment, State};
use crate::wire::Answer;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
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
            capture: true,
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
                p.state = State::Completed;
                p.charges = 1;
                p.confirmed_at = Some(Utc::now());
                Answer::ok(paid_info(&p))
            }
        };
        ledger.by_order.insert(order_id.to_owned(), txn);
        ledger.payments.insert(txn, p);
        answer
    })
    .await
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
            State::Completed => {
                let mut info = paid_info(p);
                info["status"] = json!("COMPLETE");
                Answer::ok(info)
            }
            State::Voided => Answer::ok(json!({"status": "VOID", "orderId": p.order_id})),
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
            State::InProcess | State::Voided => {
                p.state = State::Voided;
                Answer::ok(json!({}))
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
