//! The needs-attention list: what paygate could not settle by itself and puts in front of a
//! person (a payment still unknown after the last retry tier, a contradicting provider answer, a
//! notification that does not match its order). One open item per subject and kind; raising the
//! same item again is harmless. `payctl attention list` shows it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// What needs a person, about which payment or refund.
#[derive(Debug, Clone)]
pub struct Raise<'a> {
    pub payment_id: Uuid,
    pub refund_id: Option<Uuid>,
    /// A snake_case kind, e.g. `unknown_after_last_retry`.
    pub kind: &'a str,
    pub detail: Value,
}

/// Opens an item, unless the same subject already has an open item of this kind. Returns whether
/// a new item was opened.
pub async fn raise(conn: &mut PgConnection, item: &Raise<'_>) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO attention (payment_id, refund_id, kind, detail) VALUES ($1, $2, $3, $4)
         ON CONFLICT (subject_id, kind) WHERE resolved_at IS NULL DO NOTHING",
    )
    .bind(item.payment_id)
    .bind(item.refund_id)
    .bind(item.kind)
    .bind(&item.detail)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Item {
    pub id: i64,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub kind: String,
    pub detail: Value,
    pub created_at: DateTime<Utc>,
}

/// Open items, oldest first.
pub async fn open(conn: &mut PgConnection, limit: i64) -> Result<Vec<Item>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, payment_id, refund_id, kind, detail, created_at FROM attention
          WHERE resolved_at IS NULL ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Closes an item with who resolved it and why. Returns false if it was not open.
pub async fn resolve(
    conn: &mut PgConnection,
    id: i64,
    by: &str,
    resolution: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE attention SET resolved_at = now(), resolved_by = $2, resolution = $3
          WHERE id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .bind(by)
    .bind(resolution)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
