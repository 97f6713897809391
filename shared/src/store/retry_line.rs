//! An order's retry line: its messages waiting on the retry ladder, in the order they must be
//! applied (migration 0015 has the rules). Only the dispatcher writes it; payctl reads it.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// One message in an order's line.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Waiting {
    pub payment_id: Uuid,
    pub message_id: Uuid,
    pub message_type: String,
    pub joined_at: DateTime<Utc>,
}

/// The heads of the lines of these payments, by payment (payments with an empty line are absent).
pub async fn heads(
    conn: &mut PgConnection,
    payment_ids: &[Uuid],
) -> Result<HashMap<Uuid, Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT ON (payment_id) payment_id, message_id FROM order_retry_line
         WHERE payment_id = ANY($1) ORDER BY payment_id, position",
    )
    .bind(payment_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Puts a message at the end of its order's line, unless it is in it already (or names no
/// payment). Returns whether it joined.
pub async fn join(
    conn: &mut PgConnection,
    payment_id: Uuid,
    message_id: Uuid,
    message_type: &str,
) -> Result<bool, sqlx::Error> {
    let joined = sqlx::query(
        "INSERT INTO order_retry_line (payment_id, message_id, message_type)
         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM payments WHERE id = $1)
         ON CONFLICT DO NOTHING",
    )
    .bind(payment_id)
    .bind(message_id)
    .bind(message_type)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(joined == 1)
}

/// Takes a message out of its order's line (it has been applied or rejected).
pub async fn leave(conn: &mut PgConnection, payment_id: Uuid, message_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM order_retry_line WHERE payment_id = $1 AND message_id = $2")
        .bind(payment_id)
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An order's whole line, head first.
pub async fn of_payment(conn: &mut PgConnection, payment_id: Uuid) -> Result<Vec<Waiting>, sqlx::Error> {
    sqlx::query_as(
        "SELECT payment_id, message_id, message_type, joined_at FROM order_retry_line
         WHERE payment_id = $1 ORDER BY position",
    )
    .bind(payment_id)
    .fetch_all(conn)
    .await
}
