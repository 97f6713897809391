//! The raw exchange log (`provider_exchanges`, docs/architecture.md decision 11): every provider call
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

/// An exchange for [`record_many`]: the payment and refund it was about, and the exchange.
pub type Logged<'a> = (Option<Uuid>, Option<Uuid>, &'a Exchange);

/// Appends many exchanges in one statement, in the order given (the dispatcher's exchange log
/// writes the calls that end at the same moment together).
pub async fn record_many(conn: &mut PgConnection, exchanges: &[Logged<'_>]) -> Result<(), sqlx::Error> {
    let x = || exchanges.iter().map(|(_, _, x)| *x);
    sqlx::query(
        "INSERT INTO provider_exchanges
             (payment_id, refund_id, provider, operation, request_method, request_url, request_headers,
              request_body, response_status, response_headers, response_body, latency_us, outcome, error,
              unified_code, started_at)
         SELECT payment_id, refund_id, provider, operation, request_method, request_url, request_headers,
                request_body, response_status, response_headers, response_body, latency_us, outcome, error,
                unified_code, started_at
           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                       $8::text[], $9::int[], $10::jsonb[], $11::text[], $12::bigint[], $13::text[], $14::text[],
                       $15::text[], $16::timestamptz[])
                WITH ORDINALITY AS x(payment_id, refund_id, provider, operation, request_method, request_url,
                                     request_headers, request_body, response_status, response_headers,
                                     response_body, latency_us, outcome, error, unified_code, started_at, n)
          ORDER BY n",
    )
    .bind(exchanges.iter().map(|(payment_id, _, _)| *payment_id).collect::<Vec<_>>())
    .bind(exchanges.iter().map(|(_, refund_id, _)| *refund_id).collect::<Vec<_>>())
    .bind(x().map(|x| x.provider).collect::<Vec<_>>())
    .bind(x().map(|x| x.operation).collect::<Vec<_>>())
    .bind(x().map(|x| x.request_method.as_str()).collect::<Vec<_>>())
    .bind(x().map(|x| x.request_url.as_str()).collect::<Vec<_>>())
    .bind(x().map(|x| x.request_headers.clone()).collect::<Vec<_>>())
    .bind(x().map(|x| x.request_body.as_deref()).collect::<Vec<_>>())
    .bind(x().map(|x| x.response_status.map(i32::from)).collect::<Vec<_>>())
    .bind(x().map(|x| x.response_headers.clone()).collect::<Vec<_>>())
    .bind(x().map(|x| x.response_body.as_deref()).collect::<Vec<_>>())
    .bind(x().map(|x| x.latency_us).collect::<Vec<_>>())
    .bind(x().map(|x| x.outcome.as_str()).collect::<Vec<_>>())
    .bind(x().map(|x| x.error.as_deref()).collect::<Vec<_>>())
    .bind(x().map(|x| x.unified_code.as_deref()).collect::<Vec<_>>())
    .bind(x().map(|x| x.started_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
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

/// When we last sent the provider `operation` (`pay`, `refund`, …) for a payment, or for one of
/// its refunds when `refund_id` is given: the start of the latest logged exchange, if any.
pub async fn last_sent(
    conn: &mut PgConnection,
    payment_id: Uuid,
    refund_id: Option<Uuid>,
    operation: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(started_at) FROM provider_exchanges
          WHERE payment_id = $1 AND refund_id IS NOT DISTINCT FROM $2 AND operation = $3",
    )
    .bind(payment_id)
    .bind(refund_id)
    .bind(operation)
    .fetch_one(conn)
    .await
}
