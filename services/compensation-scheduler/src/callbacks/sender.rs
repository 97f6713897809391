//! Sending what is owed: the due-delivery poller.
//!
//! Every `CALLBACK_POLL_INTERVAL`, and at once when the [`intake`](super::intake) commits a
//! delivery or a send finishes, the sender claims due deliveries (`pending`, `next_attempt_at`
//! passed), as many as it has free sending slots (`CALLBACK_CONCURRENCY`), in one statement:
//! `FOR UPDATE SKIP LOCKED`, counting the attempt and pushing `next_attempt_at` past the request's
//! timeout (a lease). It commits that before any request leaves, so no transaction, lock or
//! connection is held while a merchant answers; another instance skips the rows being claimed
//! and then finds them not due, so one attempt is never sent twice. An instance that dies
//! mid-send leaves the lease to run out, and the delivery is sent again then (at least once:
//! merchants de-duplicate on `event_id`).
//!
//! Each attempt is a `POST` of the event's JSON with the `Paygate-Signature` header (signed
//! afresh, with the attempt's time), `Paygate-Event-Id`, `Paygate-Event-Kind`,
//! `Paygate-Delivery-Id` and `Paygate-Delivery-Attempt`; redirects are not followed (a 3xx is a
//! failure that says where it pointed); the whole exchange is bounded by `CALLBACK_TIMEOUT`.
//! Its outcome is recorded in one transaction: the attempt (`callback_attempts`: when, latency,
//! status, the first [`EXCERPT_BYTES`] of the answer, or the error), and the delivery:
//! `succeeded` on a 2xx; otherwise due again after the schedule's next wait, or `exhausted` when
//! the schedule is used up. The update is guarded by the attempt number, so a sender whose lease
//! ran out cannot overwrite a newer attempt's outcome.

use super::CallbackMetrics;
use super::schedule::CallbackSchedule;
use super::signature;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How much of an answer's body is kept with its attempt.
pub const EXCERPT_BYTES: usize = 512;
/// How far past the request's timeout a claimed delivery's lease runs.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// The longest wait after a failed poll.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The sender's settings and what it needs. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    pub pool: PgPool,
    pub schedule: Arc<CallbackSchedule>,
    /// Bounds each attempt, from connecting to the answer's excerpt.
    pub timeout: Duration,
    pub poll_interval: Duration,
    /// Attempts in flight at once, at most.
    pub concurrency: usize,
    pub metrics: CallbackMetrics,
    client: reqwest::Client,
    waker: Arc<Notify>,
}

/// A delivery claimed for one attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    pub schedule_step: i32,
    pub body: String,
    pub event_id: uuid::Uuid,
    pub kind: String,
    pub url: String,
    pub secret: String,
    pub endpoint_removed: bool,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    pub status: Option<u16>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

impl AttemptOutcome {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Why the sender could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the callbacks' HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Sender {
    pub fn new(
        pool: PgPool,
        schedule: Arc<CallbackSchedule>,
        timeout: Duration,
        poll_interval: Duration,
        concurrency: usize,
        metrics: CallbackMetrics,
    ) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("paygate-callbacks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            pool,
            schedule,
            timeout,
            poll_interval,
            concurrency: concurrency.max(1),
            metrics,
            client,
            waker: Arc::new(Notify::new()),
        })
    }

    /// Wakes the sender to poll now (the intake consumer's `wake_after_commit`).
    pub fn waker(&self) -> Arc<Notify> {
        self.waker.clone()
    }

    /// Sends until `shutdown`, then lets the attempts in flight finish (each is bounded by the
    /// timeout) so that their outcomes are recorded.
    pub async fn run(&self, shutdown: &CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut in_flight = JoinSet::new();
        let mut backoff = self.poll_interval;
        loop {
            while in_flight.try_join_next().is_some() {}
            let free = slots.available_permits();
            let mut full = false;
            if free > 0 {
                match self.claim(free).await {
                    Ok(claimed) => {
                        backoff = self.poll_interval;
                        full = claimed.len() == free;
                        for delivery in claimed {
                            let permit = slots.clone().acquire_owned().await.expect("never closed");
                            let sender = self.clone();
                            in_flight.spawn(async move {
                                sender.attempt(delivery).await;
                                drop(permit);
                                sender.waker.notify_one();
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "claiming due callbacks failed");
                        backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                    }
                }
            }
            if full {
                // More may be due: wait only for a slot.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = in_flight.join_next() => continue,
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.waker.notified() => {}
                _ = tokio::time::sleep(backoff) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Claims up to `limit` due deliveries for one attempt each (module documentation).
    pub async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
        let lease_ms = i64::try_from((self.timeout + LEASE_MARGIN).as_millis()).unwrap_or(i64::MAX);
        sqlx::query_as(
            "WITH due AS (
                 SELECT id FROM callback_deliveries
                  WHERE state = 'pending' AND next_attempt_at <= now()
                  ORDER BY next_attempt_at LIMIT $1
                  FOR UPDATE SKIP LOCKED)
             UPDATE callback_deliveries d
                SET attempts = d.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond'
               FROM due, callback_endpoints e
              WHERE d.id = due.id AND e.id = d.endpoint_id
             RETURNING d.id, d.attempts AS attempt, d.schedule_step, d.body, d.event_id, d.kind, e.url,
                       e.secret, e.removed_at IS NOT NULL AS endpoint_removed",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(lease_ms)
        .fetch_all(&self.pool)
        .await
    }

    /// Sends one claimed delivery and records the outcome (a failure to record is logged: the
    /// lease runs out and the delivery is sent again).
    pub async fn attempt(&self, delivery: Claimed) {
        let outcome = if delivery.endpoint_removed {
            AttemptOutcome {
                started_at: Utc::now(),
                latency: Duration::ZERO,
                status: None,
                excerpt: None,
                error: Some("the endpoint was removed; nothing sent".to_owned()),
            }
        } else {
            self.post(&delivery).await
        };
        let ok = outcome.succeeded();
        self.metrics
            .attempts
            .get_or_create(&super::OutcomeLabels { outcome: if ok { "success" } else { "failure" } })
            .inc();
        match self.record(&delivery, &outcome).await {
            Ok(state) => {
                if state == "exhausted" {
                    self.metrics.exhausted.inc();
                    tracing::warn!(delivery = delivery.id, url = %delivery.url, attempt = delivery.attempt,
                        status = ?outcome.status, error = ?outcome.error,
                        "a callback exhausted its schedule (payctl callback failed lists it)");
                }
            }
            Err(e) => tracing::warn!(delivery = delivery.id, error = %e,
                "recording a callback attempt failed; it is sent again when its lease runs out"),
        }
    }

    /// One signed POST.
    pub async fn post(&self, delivery: &Claimed) -> AttemptOutcome {
        let started_at = Utc::now();
        let clock = Instant::now();
        let signed = signature::sign(&delivery.secret, started_at.timestamp(), delivery.body.as_bytes());
        let sent = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, signed)
            .header("Paygate-Event-Id", delivery.event_id.to_string())
            .header("Paygate-Event-Kind", &delivery.kind)
            .header("Paygate-Delivery-Id", delivery.id.to_string())
            .header("Paygate-Delivery-Attempt", delivery.attempt.to_string())
            .body(delivery.body.clone())
            .send()
            .await;
        let mut outcome =
            AttemptOutcome { started_at, latency: Duration::ZERO, status: None, excerpt: None, error: None };
        match sent {
            Err(e) => outcome.error = Some(describe(&e)),
            Ok(mut response) => {
                let status = response.status();
                outcome.status = Some(status.as_u16());
                if status.is_redirection() {
                    let to = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
                    outcome.error = Some(format!(
                        "redirect to {} not followed: register the final URL",
                        to.unwrap_or("(no Location)")
                    ));
                } else if !status.is_success() {
                    outcome.error = Some(format!("answered {status}, not 2xx"));
                }
                let mut excerpt = Vec::new();
                while excerpt.len() < EXCERPT_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                        Ok(None) => break,
                        Err(e) => {
                            outcome
                                .error
                                .get_or_insert_with(|| format!("reading the answer: {}", describe(&e)));
                            break;
                        }
                    }
                }
                outcome.excerpt = Some(truncate(&excerpt, EXCERPT_BYTES));
            }
        }
        outcome.latency = clock.elapsed();
        outcome
    }

    /// Records the attempt and moves the delivery on; returns the delivery's state after.
    pub async fn record(&self, delivery: &Claimed, outcome: &AttemptOutcome) -> Result<String, sqlx::Error> {
        let step = usize::try_from(delivery.schedule_step).unwrap_or(usize::MAX);
        let (state, next_in) = if outcome.succeeded() {
            ("succeeded", None)
        } else if delivery.endpoint_removed {
            ("exhausted", None)
        } else {
            match self.schedule.wait_after(step) {
                Some(wait) => ("pending", Some(wait)),
                None => ("exhausted", None),
            }
        };
        let next_ms = next_in.map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX));
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO callback_attempts
                    (delivery_id, attempt, started_at, latency_ms, status, response_excerpt, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(delivery.id)
        .bind(delivery.attempt)
        .bind(outcome.started_at)
        .bind(i64::try_from(outcome.latency.as_millis()).unwrap_or(i64::MAX))
        .bind(outcome.status.map(i32::from))
        .bind(outcome.excerpt.as_deref())
        .bind(outcome.error.as_deref())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE callback_deliveries
                SET state = $3,
                    schedule_step = schedule_step + CASE WHEN $3 = 'pending' THEN 1 ELSE 0 END,
                    next_attempt_at = now() + $4 * interval '1 millisecond',
                    finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
              WHERE id = $1 AND attempts = $2 AND state = 'pending'",
        )
        .bind(delivery.id)
        .bind(delivery.attempt)
        .bind(state)
        .bind(next_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(state.to_owned())
    }
}

/// An HTTP error in words: what failed (timeout, connect, …) and why.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_request() {
        "the request failed"
    } else {
        "failed"
    };
    let mut text = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    truncate(text.as_bytes(), EXCERPT_BYTES)
}

/// At most `max` bytes of `bytes` as text (lossy), cut on a character boundary, `…` when cut.
pub fn truncate(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned();
    if bytes.len() <= max {
        return text;
    }
    // A multi-byte character cut at `max` decodes as U+FFFD at the end: drop it.
    let text = text.trim_end_matches('\u{FFFD}');
    format!("{text}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_cut_on_a_character_boundary() {
        assert_eq!(truncate(b"ok", 512), "ok");
        assert_eq!(truncate("aé".as_bytes(), 2), "a…", "é is two bytes: cut before it");
        assert_eq!(truncate(&[b'x'; 600], 512).chars().count(), 513);
    }
}
