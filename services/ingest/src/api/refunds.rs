//! `/v1/refunds`: ask for a refund (the refund command), read one by the merchant's refund
//! number, approve or reject one that policy held for approval.

use super::ApiState;
use super::auth::Caller;
use super::codes;
use super::response::{Answer, Body, db_error, unreadable_path};
use super::views::{DecisionRequest, RefundAnswer, RefundRequest, RefundView, refund_url};
use super::writes::{self, Shows, Write};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use paygate::domain::ValidationError;
use paygate::messages::commands::{APPROVE_REFUND, REFUND, REJECT_REFUND};
use paygate::store::StoredRow;
use paygate::store::refunds::Refund;
use std::sync::Arc;

/// Ask for a refund of a payment.
#[utoipa::path(
    post, path = "/v1/refunds", tag = "refunds",
    request_body = RefundRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 200, description = "`ok`: the same refund was asked for before: its state now", body = RefundAnswer),
        (status = 202, description = "`accepted`: the refund is pre-committed (requested, or awaiting_approval); poll `data.poll_url`", body = RefundAnswer),
        (status = 400, description = "`malformed_request`", body = Body),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`: no payment with this order number", body = Body),
        (status = 409, description = "`idempotency_conflict` or `wrong_state` (the payment cannot be refunded now)", body = Body),
        (status = 422, description = "`invalid_field` (also: more than is left to refund)", body = Body),
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
    let write = Write {
        message_type: REFUND,
        method: "POST",
        path: "/v1/refunds",
        body: &body,
        path_fields: vec![],
        shows: Shows::Refund,
    };
    writes::run(&state, &caller, &headers, write).await.answer
}

/// Read a refund.
#[utoipa::path(
    get, path = "/v1/refunds/{refund_no}", tag = "refunds",
    params(("refund_no" = String, Path, description = "The merchant's refund number", pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "refund-1")),
    responses(
        (status = 200, description = "`ok`: the refund", body = RefundAnswer),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`", body = Body),
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
    let Ok(Path(refund_no)) = path else { return unreadable_path("refund_no") };
    if let Err(e) = paygate::domain::RefundNo::parse(&refund_no) {
        return Answer::refused(codes::INVALID_FIELD, &e);
    }
    let mut conn = match state.db.acquire().await {
        Ok(c) => c,
        Err(e) => return db_error(e),
    };
    match Refund::find_by_number(&mut conn, caller.merchant_id.as_str(), &refund_no).await {
        Ok(Some(r)) => Answer::data(codes::OK, RefundView::of(&r)),
        Ok(None) => {
            let rule = format!("no refund with this number for merchant {}", caller.merchant_id.as_str());
            Answer::refused(codes::NOT_FOUND, &ValidationError::new("refund_no", rule))
        }
        Err(e) => db_error(e),
    }
}

async fn decide(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    refund_no: String,
    body: &[u8],
    approve: bool,
) -> Answer {
    let (message_type, verb) = if approve { (APPROVE_REFUND, "approve") } else { (REJECT_REFUND, "reject") };
    let path = format!("{}/{verb}", refund_url(&refund_no));
    let write = Write {
        message_type,
        method: "POST",
        path: &path,
        body,
        path_fields: vec![("refund_no", refund_no)],
        shows: Shows::Refund,
    };
    writes::run(state, caller, headers, write).await.answer
}

/// Approve a refund awaiting approval.
#[utoipa::path(
    post, path = "/v1/refunds/{refund_no}/approve", tag = "refunds",
    request_body = DecisionRequest,
    params(
        ("refund_no" = String, Path, description = "The merchant's refund number", pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "refund-1"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 202, description = "`accepted`: the decision is on its way; poll the refund", body = RefundAnswer),
        (status = 400, description = "`malformed_request`", body = Body),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`", body = Body),
        (status = 409, description = "`wrong_state`: the refund is not awaiting approval; or `idempotency_conflict`", body = Body),
        (status = 422, description = "`invalid_field` (also: the approver requested it)", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn approve(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let Ok(Path(refund_no)) = path else { return unreadable_path("refund_no") };
    decide(&state, &caller, &headers, refund_no, &body, true).await
}

/// Reject a refund awaiting approval (a reason is required).
#[utoipa::path(
    post, path = "/v1/refunds/{refund_no}/reject", tag = "refunds",
    request_body = DecisionRequest,
    params(
        ("refund_no" = String, Path, description = "The merchant's refund number", pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "refund-1"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request safe", pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 202, description = "`accepted`: the decision is on its way; poll the refund", body = RefundAnswer),
        (status = 400, description = "`malformed_request`", body = Body),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`", body = Body),
        (status = 409, description = "`wrong_state` or `idempotency_conflict`", body = Body),
        (status = 422, description = "`invalid_field` (also: no reason)", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn reject(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let Ok(Path(refund_no)) = path else { return unreadable_path("refund_no") };
    decide(&state, &caller, &headers, refund_no, &body, false).await
}
