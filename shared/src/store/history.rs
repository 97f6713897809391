//! The append-only history of state transitions (`state_transitions`). The database refuses
//! updates and deletes; a duplicate `(entity, version)` is refused too, so no transition can be
//! recorded twice.

use crate::broker::outbox;
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
    Payments { provider_txn_id: Option<&'a str>, customer_action: Option<&'a Value>, event_sequence: i64 },
    Refunds,
}

/// The write every transition makes: the row of `table` with `id` moves from version
/// `records[0].version - 1` to the last record's state and version, and the history rows are
/// appended, with the `messages` that tell of the change put in the outbox, all in one statement
/// (a data-modifying CTE: one round trip, however many steps a piece of work took). Returns
/// false, having written nothing, when the version guard fails (the row changed concurrently).
/// The state machine has been asked for every step before this is called, and the records are
/// consecutive steps of the same entity.
pub(crate) async fn record_transitions(
    conn: &mut PgConnection,
    table: Versioned<'_>,
    id: Uuid,
    records: &[TransitionRecord<'_>],
    messages: &[outbox::Prepared],
) -> Result<bool, sqlx::Error> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else { return Ok(true) };
    // `$1`…`$8` are the history rows' columns; `$9`… guard and set the row.
    const HISTORY: &str = "
        INSERT INTO state_transitions
            (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
        SELECT h.payment_id, h.refund_id, CASE WHEN h.refund_id IS NULL THEN 'payment' ELSE 'refund' END,
               h.from_state, h.to_state, h.event, h.version, h.cause_message_id, h.detail
          FROM moved,
               UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::uuid[],
                      $8::jsonb[])
                 AS h(payment_id, refund_id, from_state, to_state, event, version, cause_message_id, detail)
         ORDER BY h.version";
    let moved = match table {
        Versioned::Payments { .. } => {
            "UPDATE payments SET state = $11, version = $12,
                    provider_txn_id = COALESCE(provider_txn_id, $13), customer_action = COALESCE($14, customer_action),
                    event_sequence = $15
              WHERE id = $9 AND version = $10"
        }
        Versioned::Refunds => "UPDATE refunds SET state = $11, version = $12 WHERE id = $9 AND version = $10",
    };
    let queued = if messages.is_empty() {
        String::new()
    } else {
        // The messages' parameters follow the row's.
        let first = match table {
            Versioned::Payments { .. } => 16,
            Versioned::Refunds => 13,
        };
        format!(", {}", outbox::queued_cte("moved", first))
    };
    let sql = format!("WITH moved AS ({moved} RETURNING 1){queued} {HISTORY}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(records.iter().map(|r| r.payment_id).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.refund_id).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.from_state).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.to_state).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.event).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.cause_message_id).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.detail.clone()).collect::<Vec<_>>())
        .bind(id)
        .bind(first.version - 1)
        .bind(last.to_state)
        .bind(last.version);
    if let Versioned::Payments { provider_txn_id, customer_action, event_sequence } = table {
        query = query.bind(provider_txn_id).bind(customer_action).bind(event_sequence);
    }
    if !messages.is_empty() {
        let (ids, exchanges, keys, bodies) = outbox::columns(messages);
        query = query.bind(ids).bind(exchanges).bind(keys).bind(bodies);
    }
    let inserted = query.execute(&mut *conn).await?;
    Ok(inserted.rows_affected() == records.len() as u64)
}

/// `insert` (an `INSERT … RETURNING` of a new payment or refund, in state `state`, returning
/// the columns `payment_column` and `refund_column` name) made to also append the entity's first
/// history row (event `created`, version 0, caused by the message in parameter `$cause_param`),
/// and, with `messages_from`, the messages bound as `outbox::Columns` from that parameter on, in
/// the same statement. It returns what `insert` returns; nothing is recorded or queued when
/// `insert` inserts nothing (`ON CONFLICT DO NOTHING`).
pub(crate) fn with_first_row(
    insert: &str,
    payment_column: &str,
    refund_column: &str,
    state: &str,
    cause_param: usize,
    messages_from: Option<usize>,
) -> String {
    let queued = messages_from.map(|n| format!(", {}", outbox::queued_cte("created", n))).unwrap_or_default();
    format!(
        "WITH created AS ({insert}),
              recorded AS (
                INSERT INTO state_transitions
                    (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
                SELECT {payment_column}, {refund_column},
                       CASE WHEN {refund_column} IS NULL THEN 'payment' ELSE 'refund' END,
                       NULL, '{state}', 'created', 0, ${cause_param}::uuid, '{{}}'::jsonb
                  FROM created){queued}
         SELECT * FROM created"
    )
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
