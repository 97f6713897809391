//! Retention: what is kept only for a while is pruned once it is old enough, so that the tables
//! every message passes through do not grow for ever.
//!
//! - **Published outbox rows** (`outbox.published_at` older than `OUTBOX_RETENTION`, 7 days by
//!   default): a published row is kept that long as the record of what was sent, then deleted.
//!   An unpublished row is never pruned, however old: it is still to be sent.
//! - **The inbox** (`processed_messages.processed_at` older than `INBOX_RETENTION`, 7 days by
//!   default): a message id must be remembered as long as the message could arrive again (a
//!   relay's republish after a crash comes within seconds; the longest retry tier is an hour), so
//!   the retention is at least a day.
//! - **Succeeded merchant callbacks** (`callback_deliveries` in state `succeeded` whose
//!   `finished_at` is older than `CALLBACK_RETENTION`, 30 days by default), with their attempts
//!   (`ON DELETE CASCADE`). Pending and exhausted deliveries are never pruned: they are still
//!   owed, or wait for an operator (`payctl callback failed`).
//!
//! Pruning runs every `RETENTION_INTERVAL` (an hour by default) and deletes in batches of
//! [`BATCH`] rows, one short transaction each, so it never holds many locks or a long
//! transaction. Any number of schedulers may prune at once: a row deleted by one is skipped by
//! the other.

use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows deleted per transaction.
pub const BATCH: i64 = 5_000;
/// The shortest inbox retention accepted (see the module documentation).
pub const MIN_INBOX_RETENTION: Duration = Duration::from_secs(86_400);

/// How long each kind of row is kept, and how often pruning runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub outbox: Duration,
    pub inbox: Duration,
    pub callbacks: Duration,
    pub interval: Duration,
}

/// What one pruning run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outbox: u64,
    pub inbox: u64,
    pub callbacks: u64,
}

impl Retention {
    /// Deletes every published outbox row and inbox row older than its retention, in batches,
    /// until none is left or `shutdown` is cancelled (between batches).
    pub async fn prune(&self, pool: &PgPool, shutdown: &CancellationToken) -> Result<Pruned, sqlx::Error> {
        let outbox = drain(
            pool,
            shutdown,
            "DELETE FROM outbox WHERE id IN (
                SELECT id FROM outbox WHERE published_at < now() - $1::bigint * interval '1 second'
                 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)",
            self.outbox,
        )
        .await?;
        let inbox = drain(
            pool,
            shutdown,
            "DELETE FROM processed_messages WHERE (consumer, message_id) IN (
                SELECT consumer, message_id FROM processed_messages
                 WHERE processed_at < now() - $1::bigint * interval '1 second'
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            self.inbox,
        )
        .await?;
        let callbacks = drain(
            pool,
            shutdown,
            "DELETE FROM callback_deliveries WHERE id IN (
                SELECT id FROM callback_deliveries
                 WHERE state = 'succeeded' AND finished_at < now() - $1::bigint * interval '1 second'
                 ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            self.callbacks,
        )
        .await?;
        Ok(Pruned { outbox, inbox, callbacks })
    }

    /// Prunes every interval (the first time at once) until `shutdown`; a failed run is logged
    /// and the next one tries again.
    pub async fn run(
        &self,
        pool: &PgPool,
        metrics: &crate::metrics::SchedulerMetrics,
        shutdown: &CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            match self.prune(pool, shutdown).await {
                Ok(pruned) => {
                    metrics.pruned(&pruned);
                    if pruned != Pruned::default() {
                        tracing::info!(
                            outbox = pruned.outbox,
                            inbox = pruned.inbox,
                            callbacks = pruned.callbacks,
                            "retention: pruned old rows"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention: pruning failed; the next run tries again"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}

/// Runs `delete` (binding the age in whole seconds and [`BATCH`]) until it deletes less than a
/// batch.
async fn drain(
    pool: &PgPool,
    shutdown: &CancellationToken,
    delete: &'static str,
    age: Duration,
) -> Result<u64, sqlx::Error> {
    let seconds = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let deleted = sqlx::query(delete).bind(seconds).bind(BATCH).execute(pool).await?.rows_affected();
        total += deleted;
        if deleted < BATCH as u64 || shutdown.is_cancelled() {
            return Ok(total);
        }
    }
}
