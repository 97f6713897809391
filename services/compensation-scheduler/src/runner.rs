//! The poll loop: every poll interval, run the scans ([`Scanner::scan_all`]) until nothing due is
//! left, wake the outbox relay if anything was enqueued, and update the metrics. A failed poll is
//! counted and logged, and the next one tries again (after a backoff of up to 5 s while the
//! database stays unavailable). Shutdown is looked at between batches; a batch in progress
//! commits or rolls back as a whole.

use crate::backlogs::Backlogs;
use crate::metrics::SchedulerMetrics;
use crate::scan::{Counts, ScanError, Scanner};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest wait after failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the oldest-open-payment gauge and the backlogs (`backlogs`) are measured.
const GAUGE_EVERY: Duration = Duration::from_secs(30);

pub struct Scheduler {
    scanner: Scanner,
    metrics: SchedulerMetrics,
    poll_interval: Duration,
    relay: Option<Arc<Notify>>,
    gauged: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Scheduler {
    pub fn new(scanner: Scanner, metrics: SchedulerMetrics, poll_interval: Duration) -> Self {
        Self { scanner, metrics, poll_interval, relay: None, gauged: std::sync::Mutex::new(None) }
    }

    /// Wakes this outbox relay after a poll that enqueued something.
    pub fn waking(mut self, relay: Arc<Notify>) -> Self {
        self.relay = Some(relay);
        self
    }

    /// Polls until `shutdown` is cancelled.
    pub async fn run(&self, shutdown: &CancellationToken) {
        let mut failures: u32 = 0;
        while !shutdown.is_cancelled() {
            let wait = match self.poll(shutdown).await {
                Ok(counts) => {
                    if failures > 0 {
                        tracing::info!("scheduler: polls work again");
                    }
                    failures = 0;
                    if counts.enqueued() > 0 || counts.deferred > 0 {
                        tracing::info!(
                            payment_queries = counts.payment_queries,
                            refund_queries = counts.refund_queries,
                            expiry_closes = counts.expiry_closes,
                            authorization_voids = counts.authorization_voids,
                            deferred = counts.deferred,
                            "scheduler: enqueued what was due"
                        );
                    }
                    self.poll_interval
                }
                Err(e) => {
                    self.metrics.scan_errors.inc();
                    failures = failures.saturating_add(1);
                    let wait =
                        self.poll_interval.saturating_mul(failures).min(MAX_BACKOFF.max(self.poll_interval));
                    tracing::warn!(error = %e, retry_in = ?wait, "scheduler: poll failed");
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One poll: every scan, then (every [`GAUGE_EVERY`]) the oldest-open-payment gauge and the
    /// backlogs' gauges.
    pub async fn poll(&self, shutdown: &CancellationToken) -> Result<Counts, ScanError> {
        let counts = self.scanner.scan_all(shutdown).await?;
        self.metrics.count(&counts);
        if counts.enqueued() > 0
            && let Some(relay) = &self.relay
        {
            relay.notify_one();
        }
        let due = {
            let last = self.gauged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            last.is_none_or(|at| at.elapsed() >= GAUGE_EVERY)
        };
        if due {
            self.metrics.oldest_open_payment(self.scanner.oldest_open_payment_age().await?);
            self.metrics.backlogs(&Backlogs::measure(self.scanner.pool()).await?);
            *self.gauged.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(std::time::Instant::now());
        }
        Ok(counts)
    }
}
