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

/// The head of an order's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub message_id: Uuid,
    /// It went to the dead-letter queue: it comes back only when a person replays it.
    pub dead_lettered: bool,
    /// How long it has headed the line (since it joined): on a ladder whose tiers grow, about how
    /// long its next try is away, so how long what waits behind it should wait before looking
    /// again.
    pub stuck_for: std::time::Duration,
}

/// The heads of the lines of these payments, by payment (payments with an empty line are absent).
pub async fn heads(
    conn: &mut PgConnection,
    payment_ids: &[Uuid],
) -> Result<HashMap<Uuid, Head>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, bool, i64)> = sqlx::query_as(
        "SELECT DISTINCT ON (payment_id) payment_id, message_id, dead_lettered_at IS NOT NULL,
                GREATEST(0, (EXTRACT(EPOCH FROM now() - joined_at) * 1000))::bigint
           FROM order_retry_line
         WHERE payment_id = ANY($1) ORDER BY payment_id, position",
    )
    .bind(payment_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(payment_id, message_id, dead_lettered, stuck_ms)| {
            let stuck_for = std::time::Duration::from_millis(u64::try_from(stuck_ms).unwrap_or(0));
            (payment_id, Head { message_id, dead_lettered, stuck_for })
        })
        .collect())
}

/// Marks a message of a line as dead-lettered (if it is in one). Its comeback (a replay, with
/// the same message id) finds it still at its place, and clears the mark by being applied.
pub async fn dead_lettered(
    conn: &mut PgConnection,
    payment_id: Uuid,
    message_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_retry_line SET dead_lettered_at = now()
          WHERE payment_id = $1 AND message_id = $2 AND dead_lettered_at IS NULL",
    )
    .bind(payment_id)
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Puts a message at the end of its order's line, unless it is in it already (or names no
/// payment). A message that was dead-lettered and is back (replayed, and on the ladder again)
/// keeps its place and loses its mark. Returns whether it joined or came back.
pub async fn join(
    conn: &mut PgConnection,
    payment_id: Uuid,
    message_id: Uuid,
    message_type: &str,
) -> Result<bool, sqlx::Error> {
    let joined = sqlx::query(
        "INSERT INTO order_retry_line (payment_id, message_id, message_type)
         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM payments WHERE id = $1)
         ON CONFLICT (payment_id, message_id) DO UPDATE SET dead_lettered_at = NULL
         WHERE order_retry_line.dead_lettered_at IS NOT NULL",
    )
    .bind(payment_id)
    .bind(message_id)
    .bind(message_type)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(joined == 1)
}

/// [`join`] for several messages at once, each of a different order, in the caller's
/// transaction: the dispatcher's preparation puts the work it holds in its orders' lines as it
/// locks them (the payments are locked, so they exist), one statement for the batch, where a
/// join of its own for each held message would be a statement and a commit each. Returns how
/// many joined or came back.
pub async fn join_many(conn: &mut PgConnection, joining: &[Joining]) -> Result<u64, sqlx::Error> {
    if joining.is_empty() {
        return Ok(0);
    }
    let payment_ids: Vec<Uuid> = joining.iter().map(|j| j.payment_id).collect();
    let message_ids: Vec<Uuid> = joining.iter().map(|j| j.message_id).collect();
    let types: Vec<&str> = joining.iter().map(|j| j.message_type).collect();
    Ok(sqlx::query(
        "INSERT INTO order_retry_line (payment_id, message_id, message_type)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[])
         ON CONFLICT (payment_id, message_id) DO UPDATE SET dead_lettered_at = NULL
         WHERE order_retry_line.dead_lettered_at IS NOT NULL",
    )
    .bind(&payment_ids)
    .bind(&message_ids)
    .bind(&types)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A message joining its order's line ([`join_many`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joining {
    pub payment_id: Uuid,
    pub message_id: Uuid,
    pub message_type: &'static str,
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
