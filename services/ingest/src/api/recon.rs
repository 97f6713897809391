//! `/v1/bills/{provider}/{day}` and `/v1/settlements/{provider}/{day}`: the lines of a provider's
//! trade bill or settlement of one day, as reconciliation loaded them (migration 0013's
//! `recon_batches` and `recon_lines`; `payctl recon` runs and shows them), limited to the key's
//! merchant's payments and their refunds. A provider's account-level totals are not shown (they
//! are every merchant's): `data.totals` sums the lines shown.
//!
//! A day with no batch of that kind is `404 not_found`; a batch still running is shown with
//! `data.batch.state` `running` and the lines loaded so far.

use super::ApiState;
use super::auth::Caller;
use super::codes;
use super::response::{Answer, Body, db_error, unreadable_path};
use super::views::decimal;
use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, Utc};
use paygate::domain::{Currency, ProviderName, ValidationError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// A provider's day as reconciled, for one merchant.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayView {
    pub provider: String,
    pub day: NaiveDate,
    /// `trade` (the bill) or `settlement`.
    pub kind: String,
    pub batch: BatchView,
    pub lines: Vec<LineView>,
    /// Per currency, the sums of the lines shown: amount and fee, decimal strings.
    #[schema(value_type = Object)]
    pub totals: BTreeMap<String, Totals>,
}

/// A success carrying a reconciled day.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct DayAnswer {
    /// `ok`.
    pub code: String,
    pub message: String,
    pub data: DayView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// running, matched, discrepancies, failed.
    pub state: String,
    pub download_complete: bool,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Totals {
    pub amount: String,
    pub fee: String,
    pub lines: u64,
}

/// One line of the provider's file.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub line_no: i64,
    /// payment, refund, bank_refund.
    pub kind: String,
    pub merchant_order_no: String,
    pub refund_no: Option<String>,
    pub provider_txn_id: String,
    pub provider_refund_id: Option<String>,
    pub amount: String,
    pub fee: String,
    pub currency: String,
    /// The provider's status word.
    pub status: String,
    pub succeeded: bool,
    pub completed_at: DateTime<Utc>,
}

type LineRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    i64,
    i64,
    String,
    String,
    bool,
    DateTime<Utc>,
);

async fn day(state: &ApiState, caller: &Caller, provider: &str, day: &str, kind: &'static str) -> Answer {
    let provider = match ProviderName::parse(provider) {
        Ok(p) => p,
        Err(e) => return Answer::refused(codes::INVALID_FIELD, &e),
    };
    let Ok(day) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
        let rule =
            format!("must be a day as yyyy-mm-dd (got {:?})", day.chars().take(40).collect::<String>());
        return Answer::refused(codes::INVALID_FIELD, &ValidationError::new("day", rule));
    };
    let mut conn = match state.db.acquire().await {
        Ok(c) => c,
        Err(e) => return db_error(e),
    };
    let batch: Option<(i64, String, bool, Option<DateTime<Utc>>)> = match sqlx::query_as(
        "SELECT id, state, download_complete, finished_at FROM recon_batches WHERE provider = $1 AND day = $2 AND kind = $3",
    )
    .bind(provider.as_str())
    .bind(day)
    .bind(kind)
    .fetch_optional(&mut *conn)
    .await
    {
        Ok(b) => b,
        Err(e) => return db_error(e),
    };
    let Some((batch_id, batch_state, download_complete, finished_at)) = batch else {
        let what = if kind == "trade" { "trade bill" } else { "settlement" };
        let rule = format!("no {what} of {} reconciled for this day", provider.as_str());
        return Answer::refused(codes::NOT_FOUND, &ValidationError::new("day", rule));
    };
    let rows: Vec<LineRow> = match sqlx::query_as(
        "SELECT l.line_no, l.kind, p.merchant_order_no, r.refund_no, l.provider_txn_id, l.provider_refund_id,
                l.amount_minor, l.fee_minor, l.currency, l.status, l.succeeded, l.completed_at
         FROM recon_lines l
         JOIN payments p ON p.id = l.payment_id
         LEFT JOIN refunds r ON r.id = l.refund_id
         WHERE l.batch_id = $1 AND p.merchant_id = $2
         ORDER BY l.line_no",
    )
    .bind(batch_id)
    .bind(caller.merchant_id.as_str())
    .fetch_all(&mut *conn)
    .await
    {
        Ok(r) => r,
        Err(e) => return db_error(e),
    };
    let mut sums: BTreeMap<String, (i64, i64, u64)> = BTreeMap::new();
    let mut lines = Vec::with_capacity(rows.len());
    for (line_no, kind, order_no, refund_no, txn, refund_txn, amount, fee, currency, status, succeeded, at) in
        rows
    {
        let Ok(cur) = Currency::parse(&currency) else {
            return Answer::internal("read a bill line", &format!("line {line_no}: currency {currency:?}"));
        };
        let sum = sums.entry(currency.clone()).or_default();
        sum.0 = sum.0.saturating_add(amount);
        sum.1 = sum.1.saturating_add(fee);
        sum.2 += 1;
        lines.push(LineView {
            line_no,
            kind,
            merchant_order_no: order_no,
            refund_no,
            provider_txn_id: txn,
            provider_refund_id: refund_txn,
            amount: decimal(amount, cur),
            fee: decimal(fee, cur),
            currency,
            status,
            succeeded,
            completed_at: at,
        });
    }
    let totals = sums
        .into_iter()
        .filter_map(|(currency, (amount, fee, n))| {
            let cur = Currency::parse(&currency).ok()?;
            Some((currency, Totals { amount: decimal(amount, cur), fee: decimal(fee, cur), lines: n }))
        })
        .collect();
    Answer::data(
        codes::OK,
        DayView {
            provider: provider.as_str().to_owned(),
            day,
            kind: kind.to_owned(),
            batch: BatchView { state: batch_state, download_complete, finished_at },
            lines,
            totals,
        },
    )
}

/// The reconciled trade bill of a provider's day (the merchant's lines).
#[utoipa::path(
    get, path = "/v1/bills/{provider}/{day}", tag = "reconciliation",
    params(
        ("provider" = String, Path, description = "The provider, e.g. mockpay", pattern = "^[a-z0-9_]{1,32}$", example = "mockpay"),
        ("day" = String, Path, description = "The provider's day, yyyy-mm-dd", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-12-01"),
    ),
    responses(
        (status = 200, description = "`ok`: the lines of the key's merchant", body = DayAnswer),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`: no trade bill reconciled for that day", body = Body),
        (status = 422, description = "`invalid_field`", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn bill(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    let Ok(Path((provider, date))) = path else { return unreadable_path("path") };
    day(&state, &caller, &provider, &date, "trade").await
}

/// The reconciled settlement of a provider's day (the merchant's lines).
#[utoipa::path(
    get, path = "/v1/settlements/{provider}/{day}", tag = "reconciliation",
    params(
        ("provider" = String, Path, description = "The provider, e.g. mockpay", pattern = "^[a-z0-9_]{1,32}$", example = "mockpay"),
        ("day" = String, Path, description = "The provider's day, yyyy-mm-dd", pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-12-01"),
    ),
    responses(
        (status = 200, description = "`ok`: the lines of the key's merchant", body = DayAnswer),
        (status = 401, description = "`unauthenticated`", body = Body),
        (status = 404, description = "`not_found`: no settlement reconciled for that day", body = Body),
        (status = 422, description = "`invalid_field`", body = Body),
        (status = 429, description = "`rate_limited`", body = Body),
        (status = 500, description = "`internal_error`", body = Body),
    ),
    security(("paygate_key" = [], "paygate_timestamp" = [], "paygate_nonce" = [], "paygate_signature" = []))
)]
pub async fn settlement(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    let Ok(Path((provider, date))) = path else { return unreadable_path("path") };
    day(&state, &caller, &provider, &date, "settlement").await
}
