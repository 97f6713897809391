//! LINE Pay's Online API v3 as the simulator serves it: request, check, confirm, payment details
//! and refund. Each request's signature is checked (`1106` otherwise), its transport fault drawn
//! (simkit; confirm counts as the order's `pay`, since it moves the money), then it is processed
//! under the ledger's lock.

use crate::app::App;
use crate::model::{Payment, Refund, State};
use crate::wire::{self, Answer, respond};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};
use simkit::{Operation, TransportFault};
use std::time::Duration;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v2/payments/oneTimeKeys/pay", post(crate::pos::pay))
        .route("/v2/payments/orders/{order}/check", get(crate::pos::check))
        .route("/v2/payments/orders/{order}/void", post(crate::pos::void))
        .route("/v2/payments/orders/{order}/refund", post(crate::pos::refund))
        .route("/v2/payments/orders/{order}/capture", post(crate::pos::capture))
        .route("/v2/payments/authorizations", get(crate::pos::authorizations))
        .route("/v2/payments", get(crate::pos::payments))
        .route("/v3/payments/request", post(request))
        .route("/v3/payments/requests/{txn}/check", get(check))
        .route("/v3/payments/{txn}/confirm", post(confirm))
        .route("/v3/payments/{txn}/refund", post(refund))
        .route("/v3/payments/authorizations/{txn}/capture", post(capture))
        .route("/v3/payments/authorizations/{txn}/void", post(void))
        .route("/v3/payments", get(details))
}

/// One API request: its signature checked, its fault drawn, processed by `f`.
pub(crate) async fn serve(
    app: &App,
    op: Operation,
    path: &str,
    headers: &HeaderMap,
    signed: &str,
    order: Option<String>,
    f: impl FnOnce(&App) -> Answer,
) -> Response {
    let checked = if path.starts_with("/v2/") {
        wire::check_secret(headers, &app.channel_id, &app.channel_secret)
    } else {
        wire::check_signature(headers, &app.channel_id, &app.channel_secret, path, signed)
    };
    if let Err(answer) = checked {
        app.kit.stats().request(op.as_str(), &answer.outcome());
        return respond(answer);
    }
    let decision = app.kit.faults().transport(op, &app.channel_id, order.as_deref());
    if !app.kit.sleep(decision.latency).await {
        return simkit::dropped_response();
    }
    let hold = Duration::from_millis(app.settings().timeout_hold_ms);
    let early = match decision.fault {
        Some(TransportFault::Timeout) => {
            app.kit.stats().request(op.as_str(), "timeout");
            return app.kit.hold_and_drop(hold).await;
        }
        Some(TransportFault::Http500) => Some(Answer::code("9000", "Internal error (simulated).")),
        Some(TransportFault::HeaderError) => {
            Some(Answer::code("1106", "Header information error (simulated)."))
        }
        Some(TransportFault::NotFound) => {
            Some(Answer::code("1150", "Transaction record not found (simulated)."))
        }
        Some(TransportFault::InProcess) => Some(Answer::code("1145", "Payment is in process (simulated).")),
        Some(TransportFault::LostResponse) | None => None,
    };
    if let Some(answer) = early {
        app.kit.stats().request(op.as_str(), &answer.outcome());
        return respond(answer);
    }
    let answer = f(app);
    if decision.fault == Some(TransportFault::LostResponse) {
        app.kit.stats().request(op.as_str(), "lost_response");
        return app.kit.hold_and_drop(hold).await;
    }
    app.kit.stats().request(op.as_str(), &answer.outcome());
    respond(answer)
}

pub(crate) fn param_error(what: &str) -> Answer {
    Answer::code("2101", &format!("Parameter error. ({what})"))
}

pub(crate) fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn order_of_txn(app: &App, txn: &str) -> Option<String> {
    let t: u64 = txn.parse().ok()?;
    app.ledger().payments.get(&t).map(|p| p.order_id.clone())
}

async fn request(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Response {
    let path = "/v3/payments/request";
    let raw = text(&body);
    let v: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    let order = v["orderId"].as_str().map(str::to_owned);
    serve(&app, Operation::Pay, path, &headers, &raw, order, |app| create(app, &v)).await
}

fn create(app: &App, v: &Value) -> Answer {
    let Some(amount) = v["amount"].as_i64() else { return param_error("amount") };
    if amount <= 0 {
        return Answer::code("1183", "Payment amount must be greater than 0.");
    }
    let Some(currency) = v["currency"].as_str() else { return param_error("currency") };
    if currency != app.currency {
        return Answer::code("1178", "The currency is not supported by the store.");
    }
    let Some(order_id) = v["orderId"].as_str().filter(|o| !o.is_empty() && o.len() <= 100) else {
        return param_error("orderId");
    };
    let Some(packages) = v["packages"].as_array().filter(|p| !p.is_empty()) else {
        return param_error("packages");
    };
    // The packages must add up to the amount, and each package's products to the package.
    let mut sum = 0_i64;
    let mut name = String::new();
    for p in packages {
        let Some(pa) = p["amount"].as_i64() else { return param_error("packages[].amount") };
        let products = p["products"].as_array().cloned().unwrap_or_default();
        if products.is_empty() {
            return param_error("packages[].products");
        }
        let mut ps = 0_i64;
        for pr in &products {
            let (Some(q), Some(price), Some(n)) =
                (pr["quantity"].as_i64(), pr["price"].as_i64(), pr["name"].as_str())
            else {
                return param_error("packages[].products[]");
            };
            ps += q * price;
            if name.is_empty() {
                name = n.to_owned();
            }
        }
        if ps != pa {
            return Answer::code(
                "1124",
                "Amount info error (packages[].amount must be the sum of its products).",
            );
        }
        sum += pa;
    }
    if sum != amount {
        return Answer::code("1124", "Amount info error (amount must be the sum of the packages).");
    }
    // `options.payment.capture`: true unless the request says false (authorise at confirm, the
    // merchant captures or voids later).
    let capture = match &v["options"]["payment"]["capture"] {
        Value::Null => true,
        Value::Bool(b) => *b,
        _ => return param_error("options.payment.capture"),
    };
    let Some(confirm_url) = v["redirectUrls"]["confirmUrl"].as_str().filter(|u| !u.is_empty()) else {
        return param_error("redirectUrls.confirmUrl");
    };
    let mut ledger = app.ledger();
    if let Some(existing) = ledger.by_order(order_id) {
        // The same order again: answered with the same request while it is open and the same;
        // otherwise the order id is taken.
        if matches!(existing.state, State::Waiting | State::Approved)
            && existing.amount == amount
            && existing.capture == capture
        {
            return request_answer(app, existing);
        }
        return Answer::code("1172", "Existing same orderId.");
    }
    let txn = ledger.next_id();
    let payment = Payment {
        txn,
        order_id: order_id.to_owned(),
        amount,
        currency: currency.to_owned(),
        product_name: name,
        confirm_url: confirm_url.to_owned(),
        state: State::Waiting,
        created_at: Utc::now(),
        confirmed_at: None,
        charges: 0,
        refunds: Vec::new(),
        redirects: Vec::new(),
        pos: false,
        capture,
        authorization_expires_at: None,
        captured: None,
    };
    let answer = request_answer(app, &payment);
    ledger.by_order.insert(order_id.to_owned(), txn);
    ledger.payments.insert(txn, payment);
    answer
}

fn request_answer(app: &App, p: &Payment) -> Answer {
    let reserve =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", p.txn, p.order_id));
    Answer::ok(json!({
        "paymentUrl": {
            "web": format!("{}/web/payment/wait?transactionReserveId={reserve}", app.base_url),
            "app": format!("line://pay/payment/{reserve}"),
        },
        "transactionId": p.txn,
        "paymentAccessToken": format!("{:012}", p.txn % 1_000_000_000_000),
    }))
}

async fn check(AxState(app): AxState<App>, Path(txn): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/v3/payments/requests/{txn}/check");
    let order = order_of_txn(&app, &txn);
    serve(&app, Operation::Query, &path, &headers, "", order, |app| {
        let ledger = app.ledger();
        let Some(p) = txn.parse::<u64>().ok().and_then(|t| ledger.payments.get(&t)).filter(|p| !p.pos) else {
            return Answer::code("1150", "Transaction record not found.");
        };
        match p.state {
            State::Waiting => Answer::code("0000", "Authorization is not completed."),
            State::Approved => {
                Answer::code("0110", "Authorization completed - Now you can call Confirm API.")
            }
            State::Cancelled | State::Expired => {
                Answer::code("0121", "Payment was canceled by the user or the authorization expired.")
            }
            State::Failed(_) => Answer::code("0122", "Payment failed."),
            // Confirmed: captured, or (capture false) authorised, voided or released.
            State::Completed | State::Authorized | State::AuthorizationExpired => {
                Answer::code("0123", "Payment is completed.")
            }
            State::Voided if !p.capture => Answer::code("0123", "Payment is completed."),
            State::InProcess | State::Voided => Answer::code("1150", "Transaction record not found."),
        }
    })
    .await
}

async fn confirm(
    AxState(app): AxState<App>,
    Path(txn): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v3/payments/{txn}/confirm");
    let raw = text(&body);
    let order = order_of_txn(&app, &txn);
    serve(&app, Operation::Pay, &path, &headers, &raw, order, |app| {
        let v: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        let (Some(amount), Some(currency)) = (v["amount"].as_i64(), v["currency"].as_str()) else {
            return param_error("amount, currency");
        };
        let mut ledger = app.ledger();
        let Some(p) = txn.parse::<u64>().ok().and_then(|t| ledger.payments.get_mut(&t)).filter(|p| !p.pos)
        else {
            return Answer::code("1150", "Transaction record not found.");
        };
        match p.state {
            State::Completed | State::Authorized | State::AuthorizationExpired => {
                return Answer::code("1172", "Existing same orderId.");
            }
            State::Voided if !p.capture => return Answer::code("1172", "Existing same orderId."),
            State::InProcess | State::Voided => return Answer::code("1150", "Transaction record not found."),
            State::Waiting => {
                return Answer::code(
                    "1169",
                    "The customer has not selected a payment method or entered the password.",
                );
            }
            State::Cancelled | State::Expired => return Answer::code("1180", "The payment has expired."),
            State::Failed(code) => return Answer::code(code, "The payment was declined."),
            State::Approved => {}
        }
        if currency != p.currency {
            return Answer::code("1178", "The currency is not supported by the store.");
        }
        if amount != p.amount {
            return Answer::code("1153", "The payment amount is different than the requested amount.");
        }
        let now = Utc::now();
        p.confirmed_at = Some(now);
        let mut info = json!({
            "orderId": p.order_id,
            "transactionId": p.txn,
            "payInfo": [{"method": "BALANCE", "amount": p.amount}],
        });
        if p.capture {
            p.state = State::Completed;
            p.charges += 1;
        } else {
            // Authorised only: held until captured, voided or expired; nothing taken.
            let ttl = i64::try_from(app.settings().authorization_ttl_ms).unwrap_or(i64::MAX);
            let at = now + chrono::Duration::milliseconds(ttl);
            p.state = State::Authorized;
            p.authorization_expires_at = Some(at);
            info["authorizationExpireDate"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        Answer::ok(info)
    })
    .await
}

/// The answer to a capture or void of an authorisation no longer held.
fn not_held(p: &Payment) -> Answer {
    match p.state {
        State::AuthorizationExpired => Answer::code("1180", "The authorization has expired."),
        _ => Answer::code("1179", "The transaction status cannot be processed."),
    }
}

/// The authorisation `txn` (confirmed with `capture: false`), or the answer without one.
fn authorization<'a>(ledger: &'a mut crate::model::Ledger, txn: &str) -> Result<&'a mut Payment, Answer> {
    let p = txn
        .parse::<u64>()
        .ok()
        .and_then(|t| ledger.payments.get_mut(&t))
        .filter(|p| !p.pos && !p.capture && p.confirmed_at.is_some())
        .ok_or_else(|| Answer::code("1150", "Transaction record not found."))?;
    if p.state == State::Authorized { Ok(p) } else { Err(not_held(p)) }
}

/// Captures `amount` of `p`, an authorisation LINE Pay still holds (online or at a till): in its
/// currency, above 0, at most the authorised amount (the rest is released); taken once.
pub(crate) fn capture_held(p: &mut Payment, currency: &str, amount: i64) -> Answer {
    if currency != p.currency {
        return Answer::code("1178", "The currency is not supported by the store.");
    }
    if amount <= 0 {
        return Answer::code("1183", "Payment amount must be greater than 0.");
    }
    if amount > p.amount {
        return Answer::code("1184", "The payment amount exceeds the requested amount.");
    }
    p.state = State::Completed;
    p.captured = Some(amount);
    p.charges += 1;
    Answer::ok(json!({
        "orderId": p.order_id,
        "transactionId": p.txn,
        "payInfo": [{"method": "BALANCE", "amount": amount}],
    }))
}

/// `POST /v3/payments/authorizations/{transactionId}/capture` `{amount, currency}`: takes
/// `amount` (at most the authorised amount; the rest is released) of an authorisation.
async fn capture(
    AxState(app): AxState<App>,
    Path(txn): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v3/payments/authorizations/{txn}/capture");
    let raw = text(&body);
    let order = order_of_txn(&app, &txn);
    serve(&app, Operation::Capture, &path, &headers, &raw, order, |app| {
        let v: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        let (Some(amount), Some(currency)) = (v["amount"].as_i64(), v["currency"].as_str()) else {
            return param_error("amount, currency");
        };
        let mut ledger = app.ledger();
        let p = match authorization(&mut ledger, &txn) {
            Ok(p) => p,
            Err(answer) => return answer,
        };
        capture_held(p, currency, amount)
    })
    .await
}

/// `POST /v3/payments/authorizations/{transactionId}/void`: releases an authorisation.
async fn void(
    AxState(app): AxState<App>,
    Path(txn): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v3/payments/authorizations/{txn}/void");
    let raw = text(&body);
    let order = order_of_txn(&app, &txn);
    serve(&app, Operation::Void, &path, &headers, &raw, order, |app| {
        let mut ledger = app.ledger();
        match authorization(&mut ledger, &txn) {
            Ok(p) => {
                p.state = State::Voided;
                Answer::ok(json!({}))
            }
            Err(answer) => answer,
        }
    })
    .await
}

async fn details(AxState(app): AxState<App>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let (orders, txns) = named(&query);
    let order = orders.first().cloned().or_else(|| txns.first().and_then(|t| order_of_txn(&app, t)));
    serve(&app, Operation::Query, "/v3/payments", &headers, &query, order, |app| {
        listing(app, &orders, &txns, Payment::listed)
    })
    .await
}

/// The order ids and transaction ids a list query (`?orderId=…&transactionId=…`) names.
pub(crate) fn named(query: &str) -> (Vec<String>, Vec<String>) {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let pick = |key: &str| pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect();
    (pick("orderId"), pick("transactionId"))
}

/// The answer of a list query: the details of the payments named by order or transaction id that
/// `keep` keeps (online payments, or one kind of till payment), `1150` when there are none.
pub(crate) fn listing(
    app: &App,
    orders: &[String],
    txns: &[String],
    keep: impl Fn(&Payment) -> bool,
) -> Answer {
    if orders.is_empty() && txns.is_empty() {
        return param_error("transactionId or orderId");
    }
    let ledger = app.ledger();
    let list: Vec<Value> = ledger
        .payments
        .values()
        .filter(|p| keep(p))
        .filter(|p| orders.contains(&p.order_id) || txns.contains(&p.txn.to_string()))
        .map(Payment::details)
        .collect();
    if list.is_empty() {
        return Answer::code("1150", "Transaction record not found.");
    }
    Answer::ok(Value::Array(list))
}

async fn refund(
    AxState(app): AxState<App>,
    Path(txn): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v3/payments/{txn}/refund");
    let raw = text(&body);
    let order = order_of_txn(&app, &txn);
    serve(&app, Operation::Refund, &path, &headers, &raw, order, |app| {
        let v: Value =
            if raw.is_empty() { json!({}) } else { serde_json::from_str(&raw).unwrap_or(Value::Null) };
        if !v.is_object() {
            return Answer::code("2102", "JSON data format error.");
        }
        let mut ledger = app.ledger();
        let id = ledger.next_id();
        let Some(p) = txn.parse::<u64>().ok().and_then(|t| ledger.payments.get_mut(&t)).filter(|p| !p.pos)
        else {
            return Answer::code("1150", "Transaction record not found.");
        };
        refund_payment(p, id, &v)
    })
    .await
}

/// Refunds `refundAmount` of `p` (none: the rest) under refund id `id`.
pub(crate) fn refund_payment(p: &mut Payment, id: u64, v: &Value) -> Answer {
    {
        if p.state != State::Completed {
            return Answer::code("1150", "Transaction record not found.");
        }
        // Only what was taken is refundable: a capture's amount, not the authorisation's.
        let left = p.paid() - p.refunded();
        if left == 0 {
            return Answer::code("1165", "A transaction has already been refunded.");
        }
        let amount = match v.get("refundAmount") {
            None | Some(Value::Null) => left,
            Some(a) => match a.as_i64() {
                Some(a) if a > 0 => a,
                _ => return param_error("refundAmount"),
            },
        };
        if amount > left {
            return Answer::code("1164", "Exceeded refundable amount.");
        }
        let at = Utc::now();
        p.refunds.push(Refund { id, amount, at });
        Answer::ok(json!({
            "refundTransactionId": id,
            "refundTransactionDate": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }))
    }
}

/// The customer approves the order's request at LINE Pay (declined if a charge fault says so);
/// the browser is then redirected to the confirmUrl unless `redirect` is false. The redirect is
/// made after the answer is decided, off the lock.
pub(crate) async fn approve(app: &App, order_id: &str, redirect: bool) -> Result<Value, String> {
    let url = {
        let decline = app.kit.faults().charge(&app.channel_id, order_id);
        let mut ledger = app.ledger();
        let p = ledger
            .by_order_mut(order_id)
            .ok_or_else(|| format!("no payment request for order {order_id}"))?;
        match p.state {
            State::Waiting => {}
            // The customer confirms a one-time-key payment on the phone: it completes (or, made
            // with `capture: false`, is authorised).
            State::InProcess => {
                crate::pos::confirm(p, app.settings().authorization_ttl_ms);
                return Ok(p.json());
            }
            State::Approved => return Ok(p.json()),
            other => return Err(format!("the request is {}, it cannot be approved", other.as_str())),
        }
        p.state = match decline {
            Some(d) => State::Failed(decline_code(d.code.as_deref())),
            None => State::Approved,
        };
        let sep = if p.confirm_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}transactionId={}&orderId={}", p.confirm_url, p.txn, p.order_id)
    };
    if redirect && app.settings().redirect {
        let outcome = match app.kit.http.get(&url).timeout(Duration::from_secs(10)).send().await {
            Ok(r) => format!("GET {url}: HTTP {}", r.status().as_u16()),
            Err(e) => format!("GET {url}: {e}"),
        };
        if let Some(p) = app.ledger().by_order_mut(order_id) {
            p.redirects.push(outcome);
        }
    }
    app.ledger().by_order(order_id).map(Payment::json).ok_or_else(|| "gone".to_owned())
}

/// The customer cancels at LINE Pay.
pub(crate) fn cancel(app: &App, order_id: &str) -> Result<Value, String> {
    let mut ledger = app.ledger();
    let p =
        ledger.by_order_mut(order_id).ok_or_else(|| format!("no payment request for order {order_id}"))?;
    if !matches!(p.state, State::Waiting | State::Approved) {
        return Err(format!("the request is {}, it cannot be cancelled", p.state.as_str()));
    }
    p.state = State::Cancelled;
    Ok(p.json())
}

/// The codes a declined approval may carry (LINE Pay's), default `1142` (low balance).
pub(crate) const DECLINE_CODES: [&str; 6] = ["1142", "1101", "1102", "1110", "1141", "1281"];

pub(crate) fn decline_code(code: Option<&str>) -> &'static str {
    code.and_then(|c| DECLINE_CODES.iter().find(|d| **d == c)).copied().unwrap_or("1142")
}
