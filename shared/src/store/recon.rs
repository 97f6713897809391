//! Reconciliation's records (migration 0013): batches, the discrepancies they found, and the
//! append-only audit of every resolution. The compensation scheduler's engine writes batches and
//! discrepancies; payctl reads them and resolves discrepancies through [`resolve`], which is the
//! only way a discrepancy changes state: one transition row with who, when, what and why, in the
//! same transaction as the change (never a silent edit).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One reconciliation run's record for a provider, day and kind.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Batch {
    pub id: i64,
    pub provider: String,
    pub day: NaiveDate,
    /// `trade` or `settlement`.
    pub kind: String,
    /// `running`, `matched`, `discrepancies` or `failed`.
    pub state: String,
    pub window_days: i32,
    /// The resume cursor: lines loaded and committed so far.
    pub lines_loaded: i64,
    pub download_complete: bool,
    pub counts: Value,
    /// The provider's settlement totals per currency (settlements only).
    pub totals: Value,
    pub runs: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// Its discrepancies still open now, counted when the batch is read (`counts` is the last
    /// run's snapshot, which a person's resolution does not change).
    pub open: i64,
}

/// One difference between the provider's books and ours.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Discrepancy {
    pub id: i64,
    pub batch_id: i64,
    pub kind: String,
    pub subject: String,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub trade_no: Option<String>,
    pub provider_txn_id: Option<String>,
    pub ours: Option<Value>,
    pub theirs: Option<Value>,
    pub detail: String,
    pub provable: bool,
    pub proof_requested_at: Option<DateTime<Utc>>,
    /// `open`, `auto_resolved` or `resolved`.
    pub state: String,
    pub proof: Option<Value>,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One audited action on a discrepancy.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Resolution {
    pub id: i64,
    pub discrepancy_id: i64,
    pub from_state: String,
    pub to_state: String,
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub proof: Option<Value>,
    pub at: DateTime<Utc>,
}

const BATCH: &str = "id, provider, day, kind, state, window_days, lines_loaded, download_complete, counts, \
                     totals, runs, started_at, finished_at, error, \
                     (SELECT count(*) FROM recon_discrepancies d \
                      WHERE d.batch_id = recon_batches.id AND d.state = 'open') AS open";
const DISCREPANCY: &str = "id, batch_id, kind, subject, payment_id, refund_id, trade_no, provider_txn_id, ours, \
                           theirs, detail, provable, proof_requested_at, state, proof, resolution, resolved_by, \
                           resolved_at, created_at";

/// The most recent batches, newest day first.
pub async fn batches(conn: &mut PgConnection, limit: i64) -> Result<Vec<Batch>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH} FROM recon_batches ORDER BY day DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn batch(conn: &mut PgConnection, id: i64) -> Result<Option<Batch>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {BATCH} FROM recon_batches WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn batch_of(
    conn: &mut PgConnection,
    provider: &str,
    day: NaiveDate,
    kind: &str,
) -> Result<Option<Batch>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BATCH} FROM recon_batches WHERE provider = $1 AND day = $2 AND kind = $3"
    )))
    .bind(provider)
    .bind(day)
    .bind(kind)
    .fetch_optional(conn)
    .await
}

/// A batch's discrepancies, in the order they were found.
pub async fn discrepancies(conn: &mut PgConnection, batch_id: i64) -> Result<Vec<Discrepancy>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DISCREPANCY} FROM recon_discrepancies WHERE batch_id = $1 ORDER BY id"
    )))
    .bind(batch_id)
    .fetch_all(conn)
    .await
}

/// Open discrepancies of every batch, oldest first.
pub async fn open_discrepancies(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<Discrepancy>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DISCREPANCY} FROM recon_discrepancies WHERE state = 'open' ORDER BY created_at, id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn discrepancy(conn: &mut PgConnection, id: i64) -> Result<Option<Discrepancy>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DISCREPANCY} FROM recon_discrepancies WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The audit trail of a discrepancy, in order.
pub async fn resolutions(
    conn: &mut PgConnection,
    discrepancy_id: i64,
) -> Result<Vec<Resolution>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, discrepancy_id, from_state, to_state, action, actor, reason, proof, at
         FROM recon_resolutions WHERE discrepancy_id = $1 ORDER BY id",
    )
    .bind(discrepancy_id)
    .fetch_all(conn)
    .await
}

/// What a person or the engine does to a discrepancy.
#[derive(Debug, Clone)]
pub struct Action<'a> {
    /// A snake_case token: `auto_proof`, `accept`, `write_off`, `provider_corrected`, `requery`, …
    pub action: &'a str,
    pub actor: &'a str,
    pub reason: &'a str,
    /// The new state: `open` (an action that settles nothing, e.g. `requery`), `resolved` or
    /// `auto_resolved`.
    pub to_state: &'a str,
    pub proof: Option<Value>,
}

/// Why an action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("id: no discrepancy {0}")]
    NotFound(i64),
    #[error(
        "id: discrepancy {id} is already {state} (by {by} at {at}); a settled discrepancy is not changed"
    )]
    AlreadySettled { id: i64, state: String, by: String, at: DateTime<Utc> },
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Applies `action` to an open discrepancy and records it in the audit trail, in the caller's
/// transaction, under the discrepancy's row lock. Returns the audit row.
pub async fn resolve(
    conn: &mut PgConnection,
    id: i64,
    action: &Action<'_>,
) -> Result<Resolution, ResolveError> {
    if action.reason.trim().is_empty() {
        return Err(ResolveError::Invalid { field: "reason", rule: "must say why, in words".into() });
    }
    if action.actor.trim().is_empty() {
        return Err(ResolveError::Invalid { field: "by", rule: "must name who decided".into() });
    }
    if !matches!(action.to_state, "open" | "resolved" | "auto_resolved") {
        return Err(ResolveError::Invalid {
            field: "state",
            rule: format!("must be open, resolved or auto_resolved, got {}", action.to_state),
        });
    }
    let current: Option<(String, Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT state, resolved_by, resolved_at FROM recon_discrepancies WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((state, by, at)) = current else { return Err(ResolveError::NotFound(id)) };
    if state != "open" {
        return Err(ResolveError::AlreadySettled {
            id,
            state,
            by: by.unwrap_or_default(),
            at: at.unwrap_or_default(),
        });
    }
    if action.to_state != "open" {
        sqlx::query(
            "UPDATE recon_discrepancies SET state = $2, proof = coalesce($3, proof), resolution = $4,
                    resolved_by = $5, resolved_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(action.to_state)
        .bind(&action.proof)
        .bind(format!("{}: {}", action.action, action.reason))
        .bind(action.actor)
        .execute(&mut *conn)
        .await?;
    }
    let row = sqlx::query_as(
        "INSERT INTO recon_resolutions (discrepancy_id, from_state, to_state, action, actor, reason, proof)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, discrepancy_id, from_state, to_state, action, actor, reason, proof, at",
    )
    .bind(id)
    .bind(&state)
    .bind(action.to_state)
    .bind(action.action)
    .bind(action.actor)
    .bind(action.reason)
    .bind(&action.proof)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row)
}
