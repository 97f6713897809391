//! The sweep of undecided notifications: a stored provider notification that nobody decided is
//! forwarded to its order's shard again, so that it is applied without a person.
//!
//! notify-handler forwards a notification once it is stored, and again on each of the provider's
//! retries while it is still `received`; nothing else did. So a notification stayed `received`
//! for ever when the broker was down longer than the provider kept retrying (or notify-handler
//! died between the insert and the broker's confirm), and when its forward was dead-lettered (the
//! query back got no answer down the whole retry ladder). For a closed or expired payment nothing
//! else looks either (the stuck scan looks at non-final orders only), so a customer's payment
//! after close, and its automatic refund, waited for reconciliation.
//!
//! Every [`Sweep::interval`], one transaction per batch:
//! 1. claims `received` rows older than [`Sweep::age`] whose `next_sweep_at` has passed (NULL: not
//!    swept yet), oldest first, `FOR NO KEY UPDATE SKIP LOCKED` (the dispatcher, deciding a row,
//!    holds its lock; another scheduler's claimed rows are skipped), on the partial index
//!    `notifications_undecided`;
//! 2. puts `order.notification` for each in the outbox under the notification's own message id
//!    (`OrderWork::stable_message_id`, the id notify-handler forwards it under): the dispatcher's
//!    inbox applies it once however many copies arrive, and a copy after a dead-lettered one is
//!    that message replayed (no inbox row; the head of its order's retry line). A row already in
//!    the outbox from an earlier sweep is marked to be published again (`outbox::enqueue_again`);
//! 3. counts the forward in `sweeps` and sets `next_sweep_at` to now + age × 2^sweeps (capped at
//!    the larger of the age and an hour), so a notification whose provider stays silent is not
//!    forwarded on every sweep; and commits.
//!
//! A forward of a row decided meanwhile changes nothing: the dispatcher finds it decided (or the
//! message processed) and acknowledges. The sweep never decides a row or touches an order.
//!
//! After each sweep the backlog is measured: how many rows are undecided and how old the oldest
//! is (`paygate_scheduler_undecided_notifications`,
//! `paygate_scheduler_oldest_undecided_notification_age_seconds`).

use crate::metrics::SchedulerMetrics;
use crate::scan::ScanError;
use paygate::broker::outbox;
use paygate::broker::topology::Topology;
use paygate::messages::orders::OrderWork;
use paygate::messages::to_shard::to_shard;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The longest wait between two forwards of one row, unless the age is longer.
pub const MAX_WAIT: Duration = Duration::from_secs(3_600);
/// The longest wait after failed sweeps.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The sweep's settings and what it needs. Cheap to clone.
#[derive(Clone)]
pub struct Sweep {
    pub pool: PgPool,
    pub topology: Arc<Topology>,
    /// How old a `received` row must be before it is forwarded again.
    pub age: Duration,
    /// How often the sweep runs.
    pub interval: Duration,
    /// Rows claimed per transaction.
    pub batch_size: u32,
}

/// The undecided notifications: how many, and the age of the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Backlog {
    pub count: u64,
    pub oldest: Option<Duration>,
}

impl Sweep {
    /// The wait before the next forward of a row forwarded `sweeps` times.
    pub fn wait(&self, sweeps: i32) -> Duration {
        let doublings = u32::try_from(sweeps.clamp(0, 20)).unwrap_or(0);
        self.age.saturating_mul(1 << doublings).min(MAX_WAIT.max(self.age))
    }

    /// Forwards every due row again, batch after batch, until none is left (or `shutdown`).
    /// Returns how many it forwarded.
    pub async fn sweep(&self, shutdown: &CancellationToken) -> Result<u64, ScanError> {
        let mut total = 0;
        while !shutdown.is_cancelled() {
            let forwarded = self.batch().await?;
            total += forwarded as u64;
            if forwarded < self.batch_size.max(1) as usize {
                break;
            }
        }
        Ok(total)
    }

    /// One batch, in one transaction. Returns how many rows it forwarded.
    pub async fn batch(&self) -> Result<usize, ScanError> {
        let mut tx = self.pool.begin().await?;
        let age_ms = i64::try_from(self.age.as_millis()).unwrap_or(i64::MAX);
        // The WHERE repeats notifications_undecided's predicate (status = 'received').
        let due: Vec<(i64, Uuid, i32)> = sqlx::query_as(
            "SELECT id, payment_id, sweeps FROM notifications
              WHERE status = 'received' AND payment_id IS NOT NULL
                AND received_at <= now() - $1::bigint * interval '1 millisecond'
                AND (next_sweep_at IS NULL OR next_sweep_at <= now())
              ORDER BY received_at LIMIT $2
              FOR NO KEY UPDATE SKIP LOCKED",
        )
        .bind(age_ms)
        .bind(i64::from(self.batch_size.max(1)))
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut messages = Vec::with_capacity(due.len());
        for &(notification_id, payment_id, _) in &due {
            let work = OrderWork::Notification { payment_id, notification_id };
            messages.push(to_shard(&self.topology, &work).prepare()?);
        }
        outbox::enqueue_again(&mut tx, &messages).await?;
        let ids: Vec<i64> = due.iter().map(|d| d.0).collect();
        let waits_ms: Vec<i64> = due
            .iter()
            .map(|d| i64::try_from(self.wait(d.2.saturating_add(1)).as_millis()).unwrap_or(i64::MAX))
            .collect();
        sqlx::query(
            "UPDATE notifications n SET sweeps = n.sweeps + 1,
                    next_sweep_at = now() + u.wait_ms * interval '1 millisecond'
               FROM UNNEST($1::bigint[], $2::bigint[]) AS u(id, wait_ms) WHERE n.id = u.id",
        )
        .bind(&ids)
        .bind(&waits_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(due.len())
    }

    /// How many notifications are undecided, and how old the oldest is (on
    /// notifications_undecided: the cost is the backlog).
    pub async fn backlog(&self) -> Result<Backlog, ScanError> {
        let (count, oldest): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(received_at))::float8
               FROM notifications WHERE status = 'received'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Backlog {
            count: u64::try_from(count).unwrap_or(0),
            oldest: oldest.map(|s| Duration::from_secs_f64(s.max(0.0))),
        })
    }

    /// One run: the sweep, then the backlog's gauges; wakes `relay` if anything was forwarded.
    pub async fn run_once(
        &self,
        metrics: &SchedulerMetrics,
        relay: Option<&Notify>,
        shutdown: &CancellationToken,
    ) -> Result<u64, ScanError> {
        let forwarded = self.sweep(shutdown).await?;
        metrics.notifications_forwarded(forwarded);
        if forwarded > 0 {
            if let Some(relay) = relay {
                relay.notify_one();
            }
            tracing::info!(forwarded, "undecided notifications: forwarded again to their orders' shards");
        }
        metrics.undecided_notifications(self.backlog().await?);
        Ok(forwarded)
    }

    /// Sweeps every interval (the first time at once) until `shutdown`. A failed sweep is counted
    /// (`paygate_scheduler_scan_errors_total`) and logged, and the next one tries again, after a
    /// backoff of up to 30 s while it keeps failing.
    pub async fn run(
        &self,
        metrics: &SchedulerMetrics,
        relay: Option<Arc<Notify>>,
        shutdown: &CancellationToken,
    ) {
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            let wait = match self.run_once(metrics, relay.as_deref(), shutdown).await {
                Ok(_) => {
                    failures = 0;
                    self.interval
                }
                Err(e) => {
                    metrics.scan_errors.inc();
                    failures = failures.saturating_add(1);
                    let wait = self.interval.saturating_mul(failures).min(MAX_BACKOFF.max(self.interval));
                    tracing::warn!(error = %e, retry_in = ?wait, "undecided notifications: sweep failed");
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
