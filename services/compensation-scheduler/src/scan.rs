//! The scans: find what is due, ask the dispatcher to look at it, and say when to look next — in
//! one transaction per batch, so that an order is asked about once per due time however many
//! scheduler instances run.
//!
//! Each batch:
//! 1. claims due rows with `... ORDER BY <due column> LIMIT n FOR NO KEY UPDATE SKIP LOCKED`, on a
//!    partial index that holds only non-final orders (payments_stuck_scan, refunds_stuck_scan,
//!    payments_expiry_scan): the cost is what is stuck, not what exists. The `WHERE` repeats each
//!    index's exact state list, or the planner cannot use it. A row another instance (or the
//!    dispatcher, which holds the payment's lock while it calls the provider) has locked is skipped,
//!    not waited for; PostgreSQL re-checks the condition on the newest row version, so a row whose
//!    `next_check_at` someone just pushed forward is not claimed;
//! 2. puts the work in the outbox (`order.query` with reason `stuck`, or `order.close` with reason
//!    `expired`) for the orders exchange, keyed on the payment id so it lands on the order's shard;
//! 3. moves `next_check_at` (and `stuck_checks`, `expiry_close_at`) forward by the provider's
//!    schedule, and commits.
//!
//! **One stuck query in flight per order.** A stuck query's message id is kept on the order
//! (`stuck_query_id`, migration 0021). When the order comes due again and the dispatcher's inbox
//! does not hold that id yet, the query is still waiting on its shard: nothing new is sent, only
//! the next look is moved on by the same tier (counted as `unanswered`). Otherwise a backlog on the
//! shards would grow by one query per stuck order per tier for as long as it lasts, and drain as
//! as many provider calls. A query older than `STUCK_QUERY_RESEND_AFTER` is sent again all the
//! same: one that was dead-lettered must not silence its order for ever.
//!
//! The scheduler never changes an order's state: the dispatcher stays its only writer. It writes
//! only its own scheduling columns, and never bumps `version`.
//!
//! Expiry: an unpaid payment past `expires_at` gets an `order.close` with reason `expired` and no
//! separate query first. The provider's answer to the close is the final query, and the only one
//! that cannot race the customer: the provider closes only what is unpaid, and answers "already
//! paid" (mockpay 1160) otherwise, which the dispatcher records as succeeded (and flags
//! `paid_at_expiry`). A query first would leave a window between its answer and the close in
//! which the customer could still pay.
//!
//! Authorisation expiry: a payment `authorized` (manual capture) neither captured nor voided for
//! its provider's authorisation expiry (`AUTHORIZATION_EXPIRY`; Stripe's 7 days by default) gets
//! an `order.void` with reason `expired`. Where the provider released it itself (Stripe cancels
//! an uncaptured PaymentIntent with `cancellation_reason: automatic`, mockpay makes it EXPIRED),
//! the void's answer is the provider's account of it (a cancel of a cancelled PaymentIntent is
//! read back): the payment becomes `voided` either way. A payment still authorised after its
//! void gets another one the next tier later (`expiry_close_at`).

use crate::schedule::StuckSchedule;
use chrono::{DateTime, Utc};
use paygate::broker::outbox::{self, OutboxError};
use paygate::broker::topology::Topology;
use paygate::messages::orders::{CloseReason, ORDER_WORK_CONSUMER, OrderWork, QueryReason, VoidReason};
use paygate::messages::to_shard::to_shard;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A scan failed; nothing of its batch was committed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("scan: database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("scan: {0}")]
    Outbox(#[from] OutboxError),
}

/// What the scans did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `order.query` (stuck) for payments.
    pub payment_queries: u64,
    /// `order.query` (stuck) for refunds.
    pub refund_queries: u64,
    /// `order.close` (expired).
    pub expiry_closes: u64,
    /// `order.void` (expired): authorisations past their provider's expiry.
    pub authorization_voids: u64,
    /// Due rows younger than their provider's threshold: moved to the threshold, nothing sent.
    pub deferred: u64,
    /// Due rows whose last stuck query the dispatcher has not handled yet: moved on, nothing sent.
    pub unanswered: u64,
}

impl Counts {
    /// Messages enqueued.
    pub fn enqueued(&self) -> u64 {
        self.payment_queries + self.refund_queries + self.expiry_closes + self.authorization_voids
    }

    fn add(&mut self, other: Counts) {
        self.payment_queries += other.payment_queries;
        self.refund_queries += other.refund_queries;
        self.expiry_closes += other.expiry_closes;
        self.authorization_voids += other.authorization_voids;
        self.deferred += other.deferred;
        self.unanswered += other.unanswered;
    }
}

/// The scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Unpaid payments past `expires_at` → `order.close` (expired).
    Expired,
    /// Authorised payments past their provider's authorisation expiry → `order.void` (expired).
    AuthorizationExpired,
    /// Payments pending, action required, unknown, capturing or voiding past `next_check_at` →
    /// `order.query` (stuck).
    StuckPayments,
    /// Refunds submitted, processing or unknown past `next_check_at` → `order.query` (stuck).
    StuckRefunds,
}

impl Scan {
    pub const ALL: [Scan; 4] =
        [Scan::Expired, Scan::AuthorizationExpired, Scan::StuckPayments, Scan::StuckRefunds];

    /// Whether the scan sends its orders queries (recorded on the row, and waited for).
    fn queries(self) -> bool {
        matches!(self, Scan::StuckPayments | Scan::StuckRefunds)
    }
}

/// Runs the scans against one database. Cheap to clone.
#[derive(Clone)]
pub struct Scanner {
    pool: PgPool,
    topology: Arc<Topology>,
    schedule: Arc<StuckSchedule>,
    /// Each provider's authorisation expiry (the threshold), then the waits between voids of an
    /// authorisation still held after one.
    authorization_expiry: Arc<StuckSchedule>,
    batch_size: u32,
    resend_after: Duration,
}

/// The default of `AUTHORIZATION_EXPIRY`: Stripe's 7 days (it cancels an uncaptured PaymentIntent
/// then), then another void every hour while the payment stays authorised.
pub const DEFAULT_AUTHORIZATION_EXPIRY: &str = "7d,1h";

/// The default of `STUCK_QUERY_RESEND_AFTER`: how long a stuck query may wait unhandled before
/// the order gets another.
pub const DEFAULT_RESEND_AFTER: Duration = Duration::from_secs(15 * 60);

/// One claimed row, as a scan needs it.
struct Due {
    id: Uuid,
    payment_id: Uuid,
    provider: String,
    stuck_checks: i32,
    created_at: DateTime<Utc>,
    /// The last stuck query is not handled yet (and younger than the resend bound).
    unanswered: bool,
}

/// What to write back for one claimed row.
struct Next {
    id: Uuid,
    at: DateTime<Utc>,
    stuck_checks: i32,
    /// The stuck query sent for it now, if one was.
    query: Option<Uuid>,
}

impl Scanner {
    pub fn new(pool: PgPool, topology: Arc<Topology>, schedule: Arc<StuckSchedule>, batch_size: u32) -> Self {
        let authorization_expiry = Arc::new(
            StuckSchedule::parse(DEFAULT_AUTHORIZATION_EXPIRY)
                .unwrap_or_else(|e| unreachable!("the built-in authorisation expiry parses: {e}")),
        );
        Self {
            pool,
            topology,
            schedule,
            authorization_expiry,
            batch_size: batch_size.max(1),
            resend_after: DEFAULT_RESEND_AFTER,
        }
    }

    /// Each provider's authorisation expiry, and the waits between voids after it
    /// (`AUTHORIZATION_EXPIRY`).
    pub fn with_authorization_expiry(mut self, expiry: Arc<StuckSchedule>) -> Self {
        self.authorization_expiry = expiry;
        self
    }

    /// How long a stuck query may wait unhandled before the order gets another.
    pub fn resending_after(mut self, resend_after: Duration) -> Self {
        self.resend_after = resend_after;
        self
    }

    /// The database it scans (the runner measures the backlogs there too).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs every scan until nothing due is left (or `shutdown`): expiry first, so that an
    /// expired order gets its close rather than one more query.
    pub async fn scan_all(&self, shutdown: &CancellationToken) -> Result<Counts, ScanError> {
        let mut total = Counts::default();
        for scan in Scan::ALL {
            total.add(self.drain(scan, shutdown).await?);
        }
        Ok(total)
    }

    /// Runs `scan` batch after batch while batches come back full.
    pub async fn drain(&self, scan: Scan, shutdown: &CancellationToken) -> Result<Counts, ScanError> {
        let mut total = Counts::default();
        while !shutdown.is_cancelled() {
            let (counts, claimed) = self.batch(scan).await?;
            total.add(counts);
            if claimed < self.batch_size as usize {
                break;
            }
        }
        Ok(total)
    }

    /// One batch of `scan`, in one transaction. Returns what it did and how many rows it claimed.
    pub async fn batch(&self, scan: Scan) -> Result<(Counts, usize), ScanError> {
        let mut tx = self.pool.begin().await?;
        // A batch's writes (the outbox rows and the new next_check_at) commit or vanish together,
        // so a commit lost in a crash (asynchronous commit) only means the rows are due again
        // and are claimed by the next poll: nothing is lost, and no fsync is waited for.
        sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&mut *tx).await?;
        let due = claim(&mut tx, scan, i64::from(self.batch_size), self.resend_after).await?;
        let mut counts = Counts::default();
        let mut messages = Vec::with_capacity(due.len());
        let mut next = Vec::with_capacity(due.len());
        for row in &due {
            let after = |d: Duration| now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
            if scan == Scan::AuthorizationExpired {
                // `created_at` is the authorisation's time here, `stuck_checks` the voids sent.
                let expiry = self.authorization_expiry.threshold(&row.provider);
                let due_at =
                    row.created_at + chrono::Duration::from_std(expiry).unwrap_or(chrono::Duration::MAX);
                if row.stuck_checks == 0 && due_at > now {
                    next.push(Next { id: row.id, at: due_at, stuck_checks: 0, query: None });
                    counts.deferred += 1;
                    continue;
                }
                let checks = row.stuck_checks.saturating_add(1);
                counts.authorization_voids += 1;
                let order = OrderWork::Void { payment_id: row.payment_id, reason: VoidReason::Expired };
                messages.push(to_shard(&self.topology, &order).prepare()?);
                let at = after(self.authorization_expiry.wait(&row.provider, checks));
                next.push(Next { id: row.id, at, stuck_checks: checks, query: None });
                continue;
            }
            let threshold = self.schedule.threshold(&row.provider);
            let age = (now - row.created_at).to_std().unwrap_or_default();
            let young = row.stuck_checks == 0 && age < threshold;
            if scan != Scan::Expired && young {
                // Due by next_check_at (the creation default, or a follow-up that has passed)
                // but not yet past the provider's threshold: look again when it is.
                let at =
                    row.created_at + chrono::Duration::from_std(threshold).unwrap_or(chrono::Duration::MAX);
                next.push(Next { id: row.id, at, stuck_checks: 0, query: None });
                counts.deferred += 1;
                continue;
            }
            if scan != Scan::Expired && row.unanswered {
                // The last query still waits on the shard: look again one tier later.
                let at = after(self.schedule.wait(&row.provider, row.stuck_checks.max(1)));
                next.push(Next { id: row.id, at, stuck_checks: row.stuck_checks, query: None });
                counts.unanswered += 1;
                continue;
            }
            let checks = row.stuck_checks.saturating_add(1);
            let order = match scan {
                Scan::AuthorizationExpired => unreachable!("handled above"),
                Scan::Expired => {
                    counts.expiry_closes += 1;
                    OrderWork::Close { payment_id: row.payment_id, reason: CloseReason::Expired }
                }
                Scan::StuckPayments => {
                    counts.payment_queries += 1;
                    OrderWork::Query {
                        payment_id: row.payment_id,
                        refund_id: None,
                        reason: QueryReason::Stuck,
                    }
                }
                Scan::StuckRefunds => {
                    counts.refund_queries += 1;
                    OrderWork::Query {
                        payment_id: row.payment_id,
                        refund_id: Some(row.id),
                        reason: QueryReason::Stuck,
                    }
                }
            };
            let message = to_shard(&self.topology, &order).prepare()?;
            let query = scan.queries().then_some(message.message_id);
            next.push(Next {
                id: row.id,
                at: after(self.schedule.wait(&row.provider, checks)),
                stuck_checks: checks,
                query,
            });
            messages.push(message);
        }
        outbox::enqueue_prepared(&mut tx, &messages).await?;
        reschedule(&mut tx, scan, &next).await?;
        tx.commit().await?;
        Ok((counts, due.len()))
    }

    /// The age of the oldest payment that is not final (created, pending, action required,
    /// unknown), if any. It reads every non-final payment (through payments_expiry_scan, whose
    /// predicate is exactly these states): cheap next to the table, but not one probe, so the
    /// runner asks only every so often.
    pub async fn oldest_open_payment_age(&self) -> Result<Option<Duration>, ScanError> {
        let secs: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM payments
              WHERE state IN ('created', 'pending', 'action_required', 'unknown')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(secs.map(|s| Duration::from_secs_f64(s.max(0.0))))
    }
}

/// Claims up to `limit` due rows of `scan`, locked for the caller's transaction, each with
/// whether its last stuck query (younger than `resend_after`) is still unhandled.
async fn claim(
    conn: &mut PgConnection,
    scan: Scan,
    limit: i64,
    resend_after: Duration,
) -> Result<Vec<Due>, sqlx::Error> {
    // Each state list repeats its partial index's exactly (migrations 0029, 0004, 0012, 0028). The
    // inbox probe is one primary-key lookup per claimed row.
    let sql = match scan {
        Scan::StuckPayments => {
            "SELECT t.id, t.id, t.provider, t.stuck_checks, t.created_at,
                    (t.stuck_query_id IS NOT NULL
                     AND t.stuck_query_sent_at > now() - $2 * interval '1 millisecond'
                     AND NOT EXISTS (SELECT 1 FROM processed_messages m
                                      WHERE m.consumer = $3 AND m.message_id = t.stuck_query_id))
               FROM payments t
              WHERE t.state IN ('pending', 'action_required', 'unknown', 'capturing', 'voiding')
                AND t.next_check_at <= now()
              ORDER BY t.next_check_at LIMIT $1
              FOR NO KEY UPDATE OF t SKIP LOCKED"
        }
        Scan::StuckRefunds => {
            "SELECT t.id, t.payment_id, p.provider, t.stuck_checks, t.created_at,
                    (t.stuck_query_id IS NOT NULL
                     AND t.stuck_query_sent_at > now() - $2 * interval '1 millisecond'
                     AND NOT EXISTS (SELECT 1 FROM processed_messages m
                                      WHERE m.consumer = $3 AND m.message_id = t.stuck_query_id))
               FROM refunds t JOIN payments p ON p.id = t.payment_id
              WHERE t.state IN ('submitted', 'processing', 'unknown') AND t.next_check_at <= now()
              ORDER BY t.next_check_at LIMIT $1
              FOR NO KEY UPDATE OF t SKIP LOCKED"
        }
        // Every authorised payment is a candidate (payments_authorization_expiry, migration 0028);
        // its provider's expiry is applied by the batch, which defers a young one to its expiry
        // (`expiry_close_at`), so each row is claimed about once per void. `stuck_checks` counts
        // the voids sent (the scans that use it otherwise never see an authorised payment).
        Scan::AuthorizationExpired => {
            "SELECT id, id, provider, stuck_checks, authorized_at, false FROM payments
              WHERE state = 'authorized' AND authorized_at IS NOT NULL
                AND (expiry_close_at IS NULL OR expiry_close_at <= now())
              ORDER BY authorized_at LIMIT $1
              FOR NO KEY UPDATE SKIP LOCKED"
        }
        Scan::Expired => {
            "SELECT id, id, provider, stuck_checks, created_at, false FROM payments
              WHERE state IN ('created', 'pending', 'action_required', 'unknown') AND expires_at <= now()
                AND (expiry_close_at IS NULL OR expiry_close_at <= now())
              ORDER BY expires_at LIMIT $1
              FOR NO KEY UPDATE SKIP LOCKED"
        }
    };
    let mut query = sqlx::query_as::<_, (Uuid, Uuid, String, i32, DateTime<Utc>, bool)>(sql).bind(limit);
    if scan.queries() {
        let resend_ms = i64::try_from(resend_after.as_millis()).unwrap_or(i64::MAX);
        query = query.bind(resend_ms).bind(ORDER_WORK_CONSUMER);
    }
    let rows = query.fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(id, payment_id, provider, stuck_checks, created_at, unanswered)| Due {
            id,
            payment_id,
            provider,
            stuck_checks,
            created_at,
            unanswered,
        })
        .collect())
}

/// Writes back when to look next at the claimed rows, in one statement.
async fn reschedule(conn: &mut PgConnection, scan: Scan, next: &[Next]) -> Result<(), sqlx::Error> {
    if next.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = next.iter().map(|n| n.id).collect();
    let ats: Vec<DateTime<Utc>> = next.iter().map(|n| n.at).collect();
    let checks: Vec<i32> = next.iter().map(|n| n.stuck_checks).collect();
    let queries: Vec<Option<Uuid>> = next.iter().map(|n| n.query).collect();
    // A row that got a query now records it; a deferred one keeps the query it had.
    let sql = match scan {
        Scan::StuckPayments => {
            "UPDATE payments p SET next_check_at = u.at, stuck_checks = u.checks,
                    stuck_query_id = COALESCE(u.query, p.stuck_query_id),
                    stuck_query_sent_at = CASE WHEN u.query IS NULL THEN p.stuck_query_sent_at ELSE now() END
               FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int[], $4::uuid[]) AS u(id, at, checks, query)
              WHERE p.id = u.id"
        }
        Scan::StuckRefunds => {
            "UPDATE refunds r SET next_check_at = u.at, stuck_checks = u.checks,
                    stuck_query_id = COALESCE(u.query, r.stuck_query_id),
                    stuck_query_sent_at = CASE WHEN u.query IS NULL THEN r.stuck_query_sent_at ELSE now() END
               FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int[], $4::uuid[]) AS u(id, at, checks, query)
              WHERE r.id = u.id"
        }
        Scan::AuthorizationExpired => {
            "UPDATE payments p SET expiry_close_at = u.at, stuck_checks = u.checks
               FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int[], $4::uuid[]) AS u(id, at, checks, query)
              WHERE p.id = u.id"
        }
        // The stuck scan need not also query an order whose close was just asked for.
        Scan::Expired => {
            "UPDATE payments p SET expiry_close_at = u.at, stuck_checks = u.checks,
                    next_check_at = GREATEST(p.next_check_at, u.at)
               FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int[], $4::uuid[]) AS u(id, at, checks, query)
              WHERE p.id = u.id"
        }
    };
    sqlx::query(sql).bind(&ids).bind(&ats).bind(&checks).bind(&queries).execute(conn).await?;
    Ok(())
}
