//! Follow-up queries on the retry ladder: when the provider's answer is ambiguous or still in
//! progress, the dispatcher asks again later instead of re-sending money. The query travels
//! through the retry exchange to the tier for its attempt, and comes back to the order's shard
//! after the tier's wait. When the ladder is exhausted the order goes on the needs-attention list.

use paygate::broker::envelope::Envelope;
use paygate::broker::outbox::OutboxError;
use paygate::broker::topology::Topology;
use paygate::messages::orders::{OrderWork, QueryReason};
use paygate::messages::to_shard::to_shard;
use paygate::store::attention::{self, Raise};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// The needs-attention kind of an order still unsettled after the last retry tier.
pub const UNRESOLVED: &str = "unresolved_after_last_retry";

/// What [`schedule_query`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// A query waits on this tier; it is the `attempt`-th.
    Scheduled { tier: String, attempt: u32 },
    /// No tier is left: the order is on the needs-attention list.
    NeedsAttention { attempts: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum FollowUpError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
}

/// Schedules the `attempt`-th follow-up query (1 is the first) for a payment or one of its
/// refunds, in the caller's transaction; or, past the last tier, raises a needs-attention item.
pub async fn schedule_query<P>(
    conn: &mut PgConnection,
    topology: &Topology,
    payment_id: Uuid,
    refund_id: Option<Uuid>,
    reason: QueryReason,
    attempt: u32,
    cause: &Envelope<P>,
) -> Result<FollowUp, FollowUpError> {
    let Some(tier) = topology.retry_tier_for_attempt(attempt) else {
        let attempts = attempt.saturating_sub(1);
        let item = Raise {
            payment_id,
            refund_id,
            kind: UNRESOLVED,
            detail: json!({"reason": reason, "queries": attempts}),
        };
        attention::raise(conn, &item).await?;
        return Ok(FollowUp::NeedsAttention { attempts });
    };
    let work = OrderWork::Query { payment_id, refund_id, reason };
    let mut message = to_shard(topology, &work).caused_by(cause).after_waiting_in(topology, tier);
    message.envelope.attempt = attempt;
    message.enqueue(&mut *conn).await?;
    let ttl_ms = i64::try_from(tier.ttl.as_millis()).unwrap_or(i64::MAX);
    let table = if refund_id.is_some() { "refunds" } else { "payments" };
    let sql = format!(
        "UPDATE {table} SET check_attempt = $2, next_check_at = now() + $3 * interval '1 millisecond' WHERE id = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(refund_id.unwrap_or(payment_id))
        .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
        .bind(ttl_ms)
        .execute(conn)
        .await?;
    Ok(FollowUp::Scheduled { tier: tier.name.clone(), attempt })
}
