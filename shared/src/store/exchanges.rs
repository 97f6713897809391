//! The raw exchange log (`provider_exchanges`, ARCHITECTURE.md decision 11): every provider call
//! as the adapter recorded it, already redacted, linked to its payment and refund. Append-only:
//! the database refuses updates and deletes. Operators read an order's whole story from
//! [`of_payment`] (`payctl`).

use crate::providers::Exchange;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Appends `exchange`, linked to the payment and refund it was about (either may be unknown, e.g.
/// a call made before the order was found). Returns the row's id.
pub async fn record(
    conn: &mut PgConnection,
    payment_id: Option<Uuid>,
    refund_id: Option<Uuid>,
    exchange: &Exchange,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO provider_exchanges
             (payment_id, refund_id, provider, operation, request_method, request_url, request_headers,
              request_body, response_status, response_headers, response_body, latency_us, outcome, error,
              unified_code, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING id",
    )
    .bind(payment_id)
    .bind(refund_id)
    .bind(exchange.provider)
    .bind(exchange.operation)
    .bind(&exchange.request_method)
    .bind(&exchange.request_url)
    .bind(&exchange.request_headers)
    .bind(exchange.request_body.as_deref())
    .bind(exchange.response_status.map(i32::from))
    .bind(exchange.response_headers.as_ref())
    .bind(exchange.response_body.as_deref())
    .bind(exchange.latency_us)
    .bind(exchange.outcome.as_str())
    .bind(exchange.error.as_deref())
    .bind(exchange.unified_code.as_deref())
    .bind(exchange.started_at)
    .fetch_one(conn)
    .await
}

/// One logged exchange, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct ExchangeRow {
    pub id: i64,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub provider: String,
    pub operation: String,
    pub request_method: String,
    pub request_url: String,
    pub request_headers: Value,
    pub request_body: Option<String>,
    pub response_status: Option<i32>,
    pub response_headers: Option<Value>,
    pub response_body: Option<String>,
    pub latency_us: i64,
    pub outcome: String,
    pub error: Option<String>,
    pub unified_code: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// Every exchange about a payment or one of its refunds, oldest first.
pub async fn of_payment(conn: &mut PgConnection, payment_id: Uuid) -> Result<Vec<ExchangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, payment_id, refund_id, provider, operation, request_method, request_url, request_headers,
                request_body, response_status, response_headers, response_body, latency_us, outcome, error,
                unified_code, started_at
           FROM provider_exchanges
          WHERE payment_id = $1
             OR refund_id IN (SELECT id FROM refunds WHERE payment_id = $1)
          ORDER BY started_at, id",
    )
    .bind(payment_id)
    .fetch_all(conn)
    .await
}
