//! `/v1/payments`: create a payment (the pay command), read one by the merchant's order number,
//! close one, capture or void an authorised one (a payment made with `capture: manual`).
//!
//! A create answers once the payment is pre-committed: if the provider answers within
//! `API_CREATE_WAIT_MS` (the dispatcher stores the customer's action on the payment row, the same
//! row `payment.action_required` is made from), `201 created` with `data.action`; else
//! `202 accepted` with the payment's state and `data.poll_url`. The wait is one of many a watcher
//! reads together (`super::provider_wait`); it never holds a transaction.
//!
//! A create with `"cashier": true` opens a hosted cashier session instead (`crate::cashier::open`).

use super::ApiState;
use super::auth::Caller;
use super::codes;
use super::response::{Answer, Body, db_error, unreadable_path};
use super::views::{CaptureRequest, CreateAnswer, PayRequest, PaymentAnswer, PaymentView};
use super::writes::{self, Shows, Write};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use paygate::domain::ValidationError;
use paygate::messages::commands::{CAPTURE, CLOSE, PAY, VOID};
use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use std::sync::Arc;

/// Create a payment.
#[utoipa::path(
    post, path = "/v1/payments", tag = "payments",
    request_body = PayRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe: the same key and body get the first answer", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 200, description = "`ok`: the same payment (or cashier session) was created before, with the same order number and parameters: its state now", body = CreateAnswer),
        (status = 201, description = "`created`: the provider answered within the wait: `data.action` is the customer's action; or, with `cashier: true`, the cashier session is open: `data.cashier_url`", body = CreateAnswer),
        (status = 202, description = "`accepted`: pre-committed; the provider has not answered yet: poll `data.poll_url`", body = PaymentAnswer),
        (status = 400, description = "`malformed_request`", body = Body),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 409, description = "`idempotency_conflict`: the order number or Idempotency-Key was used with other parameters", body = Body),
        (status = 422, description = "`invalid_field`", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn create(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    if crate::cashier::open::asks_for_cashier(&body) {
        return crate::cashier::open::create(&state, &caller, &body).await;
    }
    // `"cashier": false` is an ordinary create: the pay command has no such field.
    let body = crate::cashier::open::without_cashier_false(body);
    let write = Write {
        message_type: PAY,
        method: "POST",
        path: "/v1/payments",
        body: &body,
        path_fields: vec![],
        shows: Shows::Payment,
    };
    let written = writes::run(&state, &caller, &headers, write).await;
    match (written.accepted_new, written.number) {
        (true, Some(order_no)) => wait_for_provider(&state, &caller, &order_no, written.answer).await,
        _ => written.answer,
    }
}

/// Waits for the new payment's provider answer ([`super::provider_wait`]) until
/// `API_CREATE_WAIT_MS` has passed: `201` with the payment then, else the `202` already written.
async fn wait_for_provider(state: &ApiState, caller: &Caller, order_no: &str, accepted: Answer) -> Answer {
    let wait = state.settings.create_wait;
    match state.provider_wait.until_answered(caller.merchant_id.as_str(), order_no, wait).await {
        Some(p) => Answer::data(codes::CREATED, PaymentView::of(&p)),
        None => accepted,
    }
}

/// Read a payment.
#[utoipa::path(
    get, path = "/v1/payments/{merchant_order_no}", tag = "payments",
    params(("merchant_order_no" = String, Path, description = "The merchant's order number", pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "order-1001")),
    responses(
        (status = 200, description = "`ok`: the payment; or, for a cashier create whose customer has not chosen a method yet, the cashier session", body = CreateAnswer),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`: no payment with this number for the key's merchant", body = Body),
        (status = 422, description = "`invalid_field`", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn get(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Ok(Path(merchant_order_no)) = path else { return unreadable_path("merchant_order_no") };
    if let Err(e) = paygate::domain::MerchantOrderNo::parse(&merchant_order_no) {
        return Answer::refused(codes::INVALID_FIELD, &e);
    }
    let mut conn = match state.db.acquire().await {
        Ok(c) => c,
        Err(e) => return db_error(e),
    };
    match Payment::find_by_number(&mut conn, caller.merchant_id.as_str(), &merchant_order_no).await {
        Ok(Some(p)) => Answer::data(codes::OK, PaymentView::of(&p)),
        // A cashier create whose customer has not chosen yet: no payment, its session.
        Ok(None) => match paygate::store::cashier::find_by_number(
            &mut conn,
            caller.merchant_id.as_str(),
            &merchant_order_no,
        )
        .await
        {
            Ok(Some(s)) => {
                Answer::data(codes::OK, crate::cashier::open::CashierView::of(&s, &state.settings.cashier))
            }
            Ok(None) => Answer::refused(codes::NOT_FOUND, &not_found(&caller)),
            Err(e) => db_error(e),
        },
        Err(e) => db_error(e),
    }
}

fn not_found(caller: &Caller) -> ValidationError {
    ValidationError::new(
        "merchant_order_no",
        format!("no payment with this number for merchant {}", caller.merchant_id.as_str()),
    )
}

/// Close an unpaid payment.
#[utoipa::path(
    post, path = "/v1/payments/{merchant_order_no}/close", tag = "payments",
    params(
        ("merchant_order_no" = String, Path, description = "The merchant's order number", pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "order-1001"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 202, description = "`accepted`: the close is on its way to the provider; poll the payment", body = PaymentAnswer),
        (status = 400, description = "`malformed_request`", body = Body),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`", body = Body),
        (status = 409, description = "`idempotency_conflict`", body = Body),
        (status = 422, description = "`invalid_field`", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn close(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    on_the_payment(&state, &caller, path, &headers, &body, ("close", CLOSE)).await
}

/// Capture all or part of an authorised payment, once; the rest of the authorisation is released.
#[utoipa::path(
    post, path = "/v1/payments/{merchant_order_no}/capture", tag = "payments",
    request_body = CaptureRequest,
    params(
        ("merchant_order_no" = String, Path, description = "The merchant's order number", pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "order-1001"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 202, description = "`accepted`: the capture is on its way to the provider; poll the payment (`payment.captured` follows)", body = PaymentAnswer),
        (status = 400, description = "`malformed_request`", body = Body),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`", body = Body),
        (status = 409, description = "`idempotency_conflict` (captured already for another amount), or `wrong_state` (not authorized)", body = Body),
        (status = 422, description = "`invalid_field`", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn capture(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    on_the_payment(&state, &caller, path, &headers, &body, ("capture", CAPTURE)).await
}

/// Void (release) an authorised payment: none of the money is taken.
#[utoipa::path(
    post, path = "/v1/payments/{merchant_order_no}/void", tag = "payments",
    params(
        ("merchant_order_no" = String, Path, description = "The merchant's order number", pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "order-1001"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 202, description = "`accepted`: the void is on its way to the provider; poll the payment (`payment.voided` follows)", body = PaymentAnswer),
        (status = 400, description = "`malformed_request`", body = Body),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`", body = Body),
        (status = 409, description = "`idempotency_conflict` or `wrong_state` (not authorized)", body = Body),
        (status = 422, description = "`invalid_field`", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn void(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    on_the_payment(&state, &caller, path, &headers, &body, ("void", VOID)).await
}

/// A command about one payment named in the path (`/v1/payments/{no}/<action>`): close, capture,
/// void. The path's order number goes into the command; the answer shows the payment.
async fn on_the_payment(
    state: &ApiState,
    caller: &Caller,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &Bytes,
    (action, message_type): (&str, &'static str),
) -> Answer {
    let Ok(Path(merchant_order_no)) = path else { return unreadable_path("merchant_order_no") };
    let path = format!("{}/{action}", super::views::payment_url(&merchant_order_no));
    let write = Write {
        message_type,
        method: "POST",
        path: &path,
        body,
        path_fields: vec![("merchant_order_no", merchant_order_no)],
        shows: Shows::Payment,
    };
    writes::run(state, caller, headers, write).await.answer
}
