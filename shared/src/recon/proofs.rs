//! Automatic resolution: a discrepancy a query can prove is fixed the way every change to an
//! order is made — a message on the order's shard — and marked `auto_resolved` once our record
//! agrees, with the dispatcher's transition as the proof.
//!
//! 1. [`request_proofs`] enqueues `order.query` (reason `reconciliation`) in the outbox for every
//!    open provable discrepancy of a batch that has none yet, and stamps `proof_requested_at` in
//!    the same transaction: one query per discrepancy, exactly once. The dispatcher asks the
//!    provider and applies the answer under the order's lock; this module never writes an order.
//! 2. [`settle_proven`] looks at the discrepancies awaiting their proof. When our payment has
//!    reached a paid state with the line's transaction id (or our refund has succeeded), it marks
//!    the discrepancy `auto_resolved` with the transition that made it so (the first one into a
//!    paid or succeeded state), through
//!    [`recon::resolve`] (an audit row like any resolution). A query that proves the bill wrong
//!    leaves the discrepancy open for a person.

use crate::broker::topology::Topology;
use crate::messages::orders::{OrderWork, QueryReason};
use crate::messages::to_shard::to_shard;
use crate::store::recon;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Who the audit trail names for automatic resolutions.
pub const ACTOR: &str = "reconciliation";

/// Enqueues the proving queries of batch `batch_id`; returns how many.
pub async fn request_proofs(pool: &PgPool, topology: &Topology, batch_id: i64) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let due: Vec<(i64, Uuid, Option<Uuid>)> = sqlx::query_as(
        "SELECT id, payment_id, refund_id FROM recon_discrepancies
         WHERE batch_id = $1 AND provable AND state = 'open' AND proof_requested_at IS NULL
           AND payment_id IS NOT NULL
         ORDER BY id FOR UPDATE",
    )
    .bind(batch_id)
    .fetch_all(&mut *tx)
    .await?;
    for (id, payment_id, refund_id) in &due {
        request_proof(&mut tx, topology, *id, *payment_id, *refund_id).await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// Marks every discrepancy whose proving query made our record agree as `auto_resolved`;
/// returns how many.
pub async fn settle_proven(pool: &PgPool) -> anyhow::Result<usize> {
    // Payments: paid now, with the line's transaction id. Refunds: succeeded now.
    let proven: Vec<(i64, i64, String, String, serde_json::Value, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as(
            "SELECT d.id, t.id, t.event, t.to_state, t.detail, t.occurred_at
         FROM recon_discrepancies d
         JOIN payments p ON p.id = d.payment_id
         LEFT JOIN refunds r ON r.id = d.refund_id
         JOIN LATERAL (
             SELECT s.id, s.event, s.to_state, s.detail, s.occurred_at FROM state_transitions s
             WHERE s.payment_id = d.payment_id AND s.refund_id IS NOT DISTINCT FROM d.refund_id
               AND s.to_state IN ('succeeded', 'partially_refunded', 'refunded')
             ORDER BY s.id LIMIT 1
         ) t ON true
         WHERE d.state = 'open' AND d.proof_requested_at IS NOT NULL
           AND CASE WHEN d.refund_id IS NULL
                    THEN p.state IN ('succeeded', 'partially_refunded', 'refunded')
                         AND p.provider_txn_id IS NOT DISTINCT FROM d.provider_txn_id
                    ELSE r.state = 'succeeded' END",
        )
        .fetch_all(pool)
        .await?;
    let mut settled = 0;
    for (id, transition_id, event, to_state, detail, at) in proven {
        let mut tx = pool.begin().await?;
        let proof = json!({
            "transition_id": transition_id, "event": event, "to_state": to_state, "detail": detail,
            "occurred_at": at, "query_reason": "reconciliation",
        });
        let action = recon::Action {
            action: "auto_proof",
            actor: ACTOR,
            reason: &format!(
                "the provider's answer to our query moved the order to {to_state}, as the bill says"
            ),
            to_state: "auto_resolved",
            proof: Some(proof),
        };
        match recon::resolve(&mut tx, id, &action).await {
            Ok(_) => {
                tx.commit().await?;
                settled += 1;
            }
            // Someone settled it meanwhile: nothing to do.
            Err(recon::ResolveError::AlreadySettled { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(settled)
}

/// Asks again for the proof of one open discrepancy (`payctl recon resolve --action requery`):
/// a new `order.query`, recorded in the audit trail; the discrepancy stays open.
pub async fn requery(
    pool: &PgPool,
    topology: &Topology,
    id: i64,
    actor: &str,
    reason: &str,
) -> anyhow::Result<recon::Resolution> {
    let mut tx = pool.begin().await?;
    let d = recon::discrepancy(&mut tx, id).await?.ok_or(recon::ResolveError::NotFound(id))?;
    let Some(payment_id) = d.payment_id else {
        anyhow::bail!("action: requery asks the provider about an order of ours; discrepancy {id} has none");
    };
    let row = recon::resolve(
        &mut tx,
        id,
        &recon::Action { action: "requery", actor, reason, to_state: "open", proof: None },
    )
    .await?;
    request_proof(&mut tx, topology, id, payment_id, d.refund_id).await?;
    tx.commit().await?;
    Ok(row)
}

/// Enqueues discrepancy `id`'s proving query (`order.query`, reason `reconciliation`, correlated
/// with the discrepancy) to its order's shard, and stamps `proof_requested_at`, in `conn`'s
/// transaction.
async fn request_proof(
    conn: &mut PgConnection,
    topology: &Topology,
    id: i64,
    payment_id: Uuid,
    refund_id: Option<Uuid>,
) -> anyhow::Result<()> {
    let work = OrderWork::Query { payment_id, refund_id, reason: QueryReason::Reconciliation };
    let mut message = to_shard(topology, &work);
    message.envelope.correlation_id = Some(format!("recon-discrepancy-{id}"));
    message.enqueue(&mut *conn).await?;
    sqlx::query("UPDATE recon_discrepancies SET proof_requested_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
