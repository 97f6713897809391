//! The append-only history of state transitions (`state_transitions`). The database refuses
//! updates and deletes; a duplicate `(entity, version)` is refused too, so no transition can be
//! recorded twice.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One transition, as it is recorded.
#[derive(Debug, Clone)]
pub struct TransitionRecord<'a> {
    pub payment_id: Uuid,
    pub refund_id: Option<Uuid>,
    pub from_state: Option<&'a str>,
    pub to_state: &'a str,
    pub event: &'a str,
    /// The entity's version after the transition.
    pub version: i64,
    /// The message that caused it, if one did.
    pub cause_message_id: Option<Uuid>,
    pub detail: Value,
}

/// The tables whose rows move through a state machine. A payment's transition can record, in the
/// same statement, what the provider told us besides the state (only filling in what is unknown).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Versioned<'a> {
    Payments { provider_txn_id: Option<&'a str>, customer_action: Option<&'a Value> },
    Refunds,
}

/// The write every transition makes: the row of `table` with `id` takes `record.to_state` and
/// `record.version`, guarded on still being at the version before it, and the history row is
/// appended. Returns false, having written nothing, when the guard fails (the row changed
/// concurrently). The state machine has been asked before this is called.
pub(crate) async fn record_transition(
    conn: &mut PgConnection,
    table: Versioned<'_>,
    id: Uuid,
    record: &TransitionRecord<'_>,
) -> Result<bool, sqlx::Error> {
    let before = record.version - 1;
    let updated = match table {
        Versioned::Payments { provider_txn_id, customer_action } => sqlx::query(
            "UPDATE payments SET state = $3, version = $2 + 1,
                    provider_txn_id = COALESCE(provider_txn_id, $4), customer_action = COALESCE($5, customer_action)
              WHERE id = $1 AND version = $2",
        )
        .bind(id)
        .bind(before)
        .bind(record.to_state)
        .bind(provider_txn_id)
        .bind(customer_action),
        Versioned::Refunds => {
            sqlx::query("UPDATE refunds SET state = $3, version = $2 + 1 WHERE id = $1 AND version = $2")
                .bind(id)
                .bind(before)
                .bind(record.to_state)
        }
    }
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    append(conn, record).await?;
    Ok(true)
}

pub async fn append(conn: &mut PgConnection, t: &TransitionRecord<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO state_transitions
             (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
         VALUES ($1, $2, CASE WHEN $2::uuid IS NULL THEN 'payment' ELSE 'refund' END, $3, $4, $5, $6, $7, $8)",
    )
    .bind(t.payment_id)
    .bind(t.refund_id)
    .bind(t.from_state)
    .bind(t.to_state)
    .bind(t.event)
    .bind(t.version)
    .bind(t.cause_message_id)
    .bind(&t.detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// A row of an order's history, oldest first.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct HistoryRow {
    pub refund_id: Option<Uuid>,
    pub entity: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub event: String,
    pub version: i64,
    pub cause_message_id: Option<Uuid>,
    pub detail: Value,
    pub occurred_at: DateTime<Utc>,
}

/// Every transition of a payment and its refunds, in the order they were recorded.
pub async fn of_payment(conn: &mut PgConnection, payment_id: Uuid) -> Result<Vec<HistoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT refund_id, entity, from_state, to_state, event, version, cause_message_id, detail, occurred_at
           FROM state_transitions WHERE payment_id = $1 ORDER BY id",
    )
    .bind(payment_id)
    .fetch_all(conn)
    .await
}
