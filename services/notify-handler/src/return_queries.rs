//! At most one provider query per order from the customer's return, per `RETURN_QUERY_INTERVAL`
//! (`return_queries`, migration 0016).
//!
//! The return is unsigned and open to anyone, and each one used to publish an `order.query`:
//! reloading the return page, or a script hitting it, sent the provider one query per hit. Now a
//! return asks for a query only if it takes the order's slot: one statement upserts the order's
//! row and moves `asked_at` to now only when the interval has passed since the last query asked
//! for (concurrent returns of one order serialise on the row; one wins). The slot lives in
//! PostgreSQL so that it holds across notify-handler instances. If the query then cannot be
//! published, the slot is given back, so the next return asks again.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Takes the order's slot if no query was asked for within `interval`; returns the time it was
/// taken at (to give it back with [`release`]), or `None` if a query was asked for recently.
pub async fn claim(
    pool: &PgPool,
    payment_id: Uuid,
    interval: Duration,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    sqlx::query_scalar(
        "INSERT INTO return_queries (payment_id, asked_at) VALUES ($1, now())
         ON CONFLICT (payment_id) DO UPDATE SET asked_at = now()
          WHERE return_queries.asked_at <= now() - $2::bigint * interval '1 millisecond'
         RETURNING asked_at",
    )
    .bind(payment_id)
    .bind(interval_ms)
    .fetch_optional(pool)
    .await
}

/// Gives back a slot taken at `asked_at` (its query could not be published), unless another
/// return took it since.
pub async fn release(pool: &PgPool, payment_id: Uuid, asked_at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE return_queries SET asked_at = '-infinity' WHERE payment_id = $1 AND asked_at = $2")
        .bind(payment_id)
        .bind(asked_at)
        .execute(pool)
        .await?;
    Ok(())
}
