//! The backlogs an SRE is alerted on that only the database knows (deploy/prometheus/alerts.yml,
//! docs/runbooks/), measured on the scheduler's poll loop (`runner`, every 30 s) and reported
//! as gauges (`metrics`):
//!
//! - the outbox: rows not yet published, and how long ago the oldest was enqueued
//!   (`paygate_outbox_unpublished`, `paygate_outbox_oldest_unpublished_age_seconds`): relay lag;
//! - the needs-attention list: open items (`paygate_attention_open`);
//! - reconciliation: open discrepancies, and the oldest one's age
//!   (`paygate_recon_discrepancies_open`, `paygate_recon_oldest_open_discrepancy_age_seconds`);
//! - merchant callbacks (docs/callbacks.md): deliveries exhausted, waiting for an operator
//!   (`paygate_callbacks_exhausted`), and how far the oldest pending delivery is past its due
//!   time (`paygate_callbacks_oldest_overdue_seconds`: a claimed delivery's due time is its lease,
//!   in the future, so a delivery overdue is one no sender has taken).
//!
//! One statement, each count on its table's partial index of open rows (`outbox_unpublished`,
//! `attention_open`, `recon_discrepancies_open`, `callback_deliveries_exhausted`,
//! `callback_deliveries_due`): the cost is the backlogs, not the tables. Every
//! scheduler instance measures the same database; the alerts take the maximum over instances.

use sqlx::PgPool;
use std::time::Duration;

/// How many, and how old the oldest (`None` when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Backlog {
    pub count: u64,
    pub oldest: Option<Duration>,
}

/// The backlogs at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Backlogs {
    /// Outbox rows not yet published, by when they were (last) enqueued.
    pub outbox: Backlog,
    /// Open needs-attention items, by when they were raised.
    pub attention: Backlog,
    /// Open reconciliation discrepancies, by when they were found.
    pub discrepancies: Backlog,
    /// Exhausted merchant callbacks, by when they gave up.
    pub callbacks_exhausted: Backlog,
    /// Pending merchant callbacks past their due time, by how long.
    pub callbacks_overdue: Backlog,
}

impl Backlogs {
    /// Measures the backlogs in one round trip.
    pub async fn measure(pool: &PgPool) -> Result<Self, sqlx::Error> {
        type Row = (i64, Option<f64>, i64, Option<f64>, i64, Option<f64>, i64, Option<f64>, i64, Option<f64>);
        let row: Row = sqlx::query_as(
            "SELECT o.n, o.oldest, a.n, a.oldest, d.n, d.oldest, x.n, x.oldest, c.n, c.oldest
               FROM (SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest
                       FROM outbox WHERE published_at IS NULL) o,
                    (SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest
                       FROM attention WHERE resolved_at IS NULL) a,
                    (SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest
                       FROM recon_discrepancies WHERE state = 'open') d,
                    (SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(finished_at))::float8 AS oldest
                       FROM callback_deliveries WHERE state = 'exhausted') x,
                    (SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(next_attempt_at))::float8 AS oldest
                       FROM callback_deliveries WHERE state = 'pending' AND next_attempt_at <= now()) c",
        )
        .fetch_one(pool)
        .await?;
        let backlog = |count: i64, oldest: Option<f64>| Backlog {
            count: u64::try_from(count).unwrap_or(0),
            oldest: oldest.map(|s| Duration::from_secs_f64(s.max(0.0))),
        };
        Ok(Self {
            outbox: backlog(row.0, row.1),
            attention: backlog(row.2, row.3),
            discrepancies: backlog(row.4, row.5),
            callbacks_exhausted: backlog(row.6, row.7),
            callbacks_overdue: backlog(row.8, row.9),
        })
    }
}
