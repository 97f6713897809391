//! One job's work ([`Job`]): the deliveries the consumer took together, from their order key's
//! turn through decoding, the transaction (one by one, or as a batch) and the handler's outcome
//! to the acknowledgement, retry or dead letter that settles each one. A database that cannot be
//! reached holds the message rather than spending its retries ([`Job::holding`]).

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use futures_util::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::key_order::Turn;
use super::{Delivered, Handler, HandlerError, Inner, Outcome, RetryStrategy, appliers, prepare};
use crate::broker::dead_letter::{Rejection, dead_letter};
use crate::broker::envelope::{Envelope, header_int, headers};
use crate::broker::in_hand::InHand;
use crate::broker::metrics::{DeadLetterLabels, HandledLabels, QueueLabels, RetryLabels};
use crate::broker::publisher::Publisher;
use crate::broker::retry::{RetryDecision, schedule_hold, schedule_retry};
use crate::fault_points;

/// How a consumer waits for the database during an outage: 100 ms doubling to 5 s, jittered.
pub(super) const DB_OUTAGE_BACKOFF: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(5))
    .with_jitter()
    .without_max_times();

/// Whether an error says the database cannot be reached (as opposed to a query that failed): the
/// connection was refused, broken or closed, the pool had none to give, or the server ended the
/// session (an administrator's `pg_terminate_backend`, a shutdown: SQLSTATE class 08 and
/// 57P01–57P03). Anything that wraps the `sqlx::Error` must keep it as its source for this to see it.
pub(super) fn database_unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| match cause.downcast_ref::<sqlx::Error>() {
        Some(
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed,
        ) => true,
        Some(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    })
}

pub(super) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("?")
}

/// How one delivery ended, for logs and metrics.
pub(super) enum Step {
    Done,
    Duplicate,
    Retry(String),
    /// The reason, how long at least, and whether the handler recorded the hold itself.
    Hold(String, Duration, bool),
    Reject(String),
    Transient(String),
    Permanent(String),
}

impl Step {
    /// The step the handler's outcome asks for.
    fn of(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Done => Step::Done,
            Outcome::RetryLater { reason } => Step::Retry(reason),
            Outcome::Hold { reason, at_least, recorded } => Step::Hold(reason, at_least, recorded),
            Outcome::Reject { reason } => Step::Reject(reason),
        }
    }
}

/// One delivery's work, on its own task.
pub(super) struct Job<H: Handler> {
    pub(super) inner: Arc<Inner<H>>,
    pub(super) publisher: Publisher,
    pub(super) stopping: CancellationToken,
    pub(super) broken: CancellationToken,
    /// The session's order-key turns, by delivery tag: each is given up as soon as its delivery
    /// is settled ([`Job::settled`]), so that the next message of that order never waits for
    /// another order's work in the same job (a slow provider's, say).
    pub(super) turns: Turns,
    /// The session's deliveries in hand, for the oldest one's age (`in_hand`); each leaves it
    /// when settled.
    pub(super) in_hand: Arc<InHand>,
    /// Where a job hands its prepared messages to be applied (`appliers.rs`); `None` in an
    /// applier itself, and for a handler that does not prepare.
    pub(super) appliers: Option<appliers::Sender<H::Prepared>>,
}

/// Order-key turns by delivery tag (tags are unique on the session's channel).
pub(super) type Turns = Arc<Mutex<HashMap<u64, Turn>>>;

pub(super) fn lock(turns: &Turns) -> std::sync::MutexGuard<'_, HashMap<u64, Turn>> {
    turns.lock().unwrap_or_else(|e| e.into_inner())
}

impl<H: Handler> Job<H> {
    /// Applies deliveries gathered by [`batch::gather`]: once each has had its turn, in one
    /// transaction if there are several and the handler can ([`Job::try_batch`]), or else one by
    /// one.
    pub(super) async fn run_batch(self, deliveries: Vec<Delivery>, permit: OwnedSemaphorePermit) {
        let previous: Vec<_> = {
            let mut turns = lock(&self.turns);
            deliveries
                .iter()
                .filter_map(|d| turns.get_mut(&d.delivery_tag).and_then(|turn| turn.previous.take()))
                .collect()
        };
        for previous in previous {
            tokio::select! {
                biased;
                // Ok or Err (dropped): either way the previous one is finished.
                _ = previous => {}
                _ = self.stopping.cancelled() => break,
            }
        }
        if self.stopping.is_cancelled() {
            // Not started: the messages are left unacknowledged, so they go back to the queue,
            // in order, when the channel closes after the work in flight. A stop (a shard handed
            // over, a shutdown) waits for the calls already made, never for work not begun.
            tracing::debug!(consumer = %self.inner.config.name, messages = deliveries.len(),
                "stopping: giving back messages not yet started");
            for delivery in &deliveries {
                self.settled(delivery);
            }
            return;
        }
        let started = Instant::now();
        let mut decoded = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            if let Some((msg, span)) = self.decode(&delivery, started).await {
                decoded.push((delivery, msg, span));
            }
        }
        if H::PREPARES {
            // The slot goes back once the preparation's transaction is done (`prepare.rs`).
            self.prepare_and_apply(decoded, started, permit).await;
        } else {
            let ready =
                decoded.into_iter().map(|(d, msg, span)| (d, msg, span, H::Prepared::default())).collect();
            self.apply_ready(ready, started).await;
            drop(permit);
        }
    }

    /// The delivery is acknowledged, requeued or dead-lettered (or could not be, and returns with
    /// the channel): the next message of its order key may go.
    pub(super) fn settled(&self, delivery: &Delivery) {
        let turn = lock(&self.turns).remove(&delivery.delivery_tag);
        drop(turn);
        self.in_hand.settled(delivery.delivery_tag);
    }

    /// Applies deliveries whose preparation is done: those the handler says must go alone
    /// ([`Handler::applies_alone`]) one by one, and the others in one transaction if there are
    /// several and the handler can ([`Job::try_batch`]), or else one by one too. Their order keys
    /// all differ (a key's next message waits for its turn), so applying them apart reorders
    /// nothing within an order.
    pub(super) async fn apply_ready(&self, ready: Vec<prepare::Ready<H::Prepared>>, started: Instant) {
        let handler = &self.inner.handler;
        let (alone, mut together): (Vec<_>, Vec<_>) = ready.into_iter().partition(|(_, _, _, prepared)| {
            handler.applies_alone(prepared) || handler.decided(prepared).is_some()
        });
        if together.len() > 1 && self.try_batch(&together, started).await {
            together.clear();
        }
        for (delivery, msg, span, prepared) in together.into_iter().chain(alone) {
            let started = Instant::now();
            self.handle(&delivery, &msg, &prepared).instrument(span).await;
            self.observe(started);
        }
    }

    /// The delivery as the handler sees it, with its span; an unparseable one is dead-lettered
    /// (and `None` returned).
    pub(super) async fn decode(
        &self,
        delivery: &Delivery,
        started: Instant,
    ) -> Option<(Delivered, tracing::Span)> {
        let cfg = &self.inner.config;
        let envelope = match Envelope::<serde_json::Value>::from_json(&delivery.data) {
            Ok(e) => e,
            Err(e) => {
                let span = tracing::error_span!("handle_message", consumer = %cfg.name, queue = %cfg.queue,
                    message_id = ?delivery.properties.message_id().as_ref().map(|s| s.as_str()));
                let reason = e.to_string();
                async {
                    tracing::error!(%reason, "dead-lettering an unparseable message");
                    self.dead_letter(delivery, "unparseable", &reason).await;
                }
                .instrument(span)
                .await;
                self.observe(started);
                return None;
            }
        };
        let span = tracing::info_span!("handle_message",
            consumer = %cfg.name, queue = %cfg.queue, message_id = %envelope.message_id,
            message_type = %envelope.message_type, order_key = %envelope.order_key, attempt = envelope.attempt,
            outcome = tracing::field::Empty);
        envelope.trace.set_parent_of(&span);
        let msg = Delivered {
            envelope,
            queue: cfg.queue.clone(),
            exchange: delivery.exchange.to_string(),
            routing_key: delivery.routing_key.to_string(),
            redelivered: delivery.redelivered,
            delivery_count: header_int(&delivery.properties, headers::DELIVERY_COUNT)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            content_type: delivery.properties.content_type().as_ref().map(|t| t.to_string()),
        };
        Some((msg, span))
    }

    pub(super) fn observe(&self, started: Instant) {
        let cfg = &self.inner.config;
        self.inner
            .metrics
            .handler_duration
            .get_or_create(&QueueLabels { consumer: cfg.name.clone(), queue: cfg.queue.clone() })
            .observe(started.elapsed().as_secs_f64());
    }

    pub(super) fn count(&self, outcome: &'static str) {
        let cfg = &self.inner.config;
        tracing::Span::current().record("outcome", outcome);
        self.inner
            .metrics
            .handled
            .get_or_create(&HandledLabels { consumer: cfg.name.clone(), queue: cfg.queue.clone(), outcome })
            .inc();
    }

    pub(super) async fn handle(&self, delivery: &Delivery, msg: &Delivered, prepared: &H::Prepared) {
        if let Some(outcome) = self.inner.handler.decided(prepared).filter(|o| *o != Outcome::Done) {
            // Decided by its preparation, with nothing to write: no transaction.
            return self.finish(delivery, msg, Step::of(outcome)).await;
        }
        let Some(applied) = self.holding(|| self.apply(msg, prepared)).await else {
            self.nack_requeue(delivery, "requeued").await;
            return;
        };
        let step = match applied {
            Ok(step) => step,
            Err(HandlerError::Transient(e)) => Step::Transient(format!("{e:#}")),
            Err(HandlerError::Permanent(e)) => Step::Permanent(format!("{e:#}")),
        };
        self.finish(delivery, msg, step).await;
    }

    /// Runs `attempt` (a transaction, or the handler's preparation) until it ends otherwise than
    /// with an unreachable database. While the database cannot be reached the message is not at
    /// fault: it is held, and `attempt` tried again, backing off up to 5 s, without spending its
    /// retries or deliveries. A panic counts as a transient failure (a bug: retried, so that a
    /// fix deployed in time can still handle the message, and dead-lettered otherwise). `None`
    /// when the session stopped while holding: give the message back.
    pub(super) async fn holding<T, F, Fut>(&self, mut attempt: F) -> Option<Result<T, HandlerError>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, HandlerError>>,
    {
        let mut outage: Option<backon::ExponentialBackoff> = None;
        let result = loop {
            let result = match AssertUnwindSafe(attempt()).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(HandlerError::Transient(anyhow::anyhow!(
                    "the handler panicked: {}",
                    panic_text(&panic)
                ))),
            };
            match result {
                Err(HandlerError::Transient(e)) if database_unavailable(&e) => {
                    let delay = outage.get_or_insert_with(|| DB_OUTAGE_BACKOFF.build()).next();
                    let delay = delay.unwrap_or(Duration::from_secs(5));
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?delay,
                        "database unavailable: holding the message and trying again");
                    let cfg = &self.inner.config;
                    let labels = QueueLabels { consumer: cfg.name.clone(), queue: cfg.queue.clone() };
                    self.inner.metrics.database_unavailable.get_or_create(&labels).inc();
                    tokio::select! {
                        _ = self.stopping.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                other => break other,
            }
        };
        if outage.is_some() {
            tracing::info!("database available again");
        }
        Some(result)
    }

    /// Acknowledges, retries or dead-letters the delivery as `step` says.
    pub(super) async fn finish(&self, delivery: &Delivery, msg: &Delivered, step: Step) {
        match step {
            Step::Done => {
                tracing::debug!("handled");
                let _ = self.ack(delivery, "done").await;
            }
            Step::Duplicate => {
                tracing::info!("already processed: acknowledging without handling again");
                let _ = self.ack(delivery, "duplicate").await;
            }
            Step::Retry(reason) => {
                tracing::info!(%reason, "handler asked to retry later");
                self.retry(delivery, msg, &reason).await;
            }
            Step::Transient(reason) => {
                tracing::warn!(error = %reason, "transient failure: retrying later");
                self.retry(delivery, msg, &reason).await;
            }
            Step::Hold(reason, at_least, recorded) => {
                tracing::info!(%reason, ?at_least, "held: retrying later without spending an attempt");
                self.hold(delivery, msg, at_least, recorded).await;
            }
            Step::Reject(reason) => {
                tracing::warn!(%reason, "handler rejected the message: dead-lettering");
                self.dead_lettering(msg).await;
                self.dead_letter(delivery, "rejected", &reason).await;
            }
            Step::Permanent(reason) => {
                tracing::error!(error = %reason, "permanent failure: dead-lettering");
                self.dead_lettering(msg).await;
                self.dead_letter(delivery, "permanent_error", &reason).await;
            }
        }
    }

    /// The transaction: inbox row, handler, commit.
    pub(super) async fn apply(&self, msg: &Delivered, prepared: &H::Prepared) -> Result<Step, HandlerError> {
        let consumer = &self.inner.config.name;
        let id = msg.envelope.message_id;
        let mut tx = self.inner.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(consumer)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let _ = tx.rollback().await;
            return Ok(Step::Duplicate);
        }
        let outcome = match self.inner.handler.handle(&mut tx, msg, prepared).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        let step = Step::of(outcome);
        if !matches!(step, Step::Done) {
            sqlx::query("DELETE FROM processed_messages WHERE consumer = $1 AND message_id = $2")
                .bind(consumer)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(step)
    }

    /// After a commit, before the acknowledgement: wakes the relay for what the handler queued.
    pub(super) fn committed(&self) {
        if let Some(relay) = &self.inner.config.wake_after_commit {
            relay.notify_one();
        }
        // Committed, not yet acknowledged: a crash here must mean a redelivery that step 3
        // recognises (or, for a retry or a rejection, a handler run again), never a lost effect.
        fault_points::reached(fault_points::AFTER_COMMIT);
    }

    /// Acknowledges; `false` if the channel is gone (the message returns to the queue, and comes
    /// back as a duplicate).
    pub(super) async fn ack(&self, delivery: &Delivery, outcome: &'static str) -> bool {
        let acked = delivery.ack(BasicAckOptions::default()).await;
        self.settled(delivery);
        match acked {
            Ok(_) => {
                self.count(outcome);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "ack failed; the message will be redelivered");
                false
            }
        }
    }

    pub(super) async fn nack_requeue(&self, delivery: &Delivery, outcome: &'static str) {
        let nacked = delivery.nack(BasicNackOptions { multiple: false, requeue: true }).await;
        self.settled(delivery);
        match nacked {
            Ok(_) => self.count(outcome),
            Err(e) => {
                tracing::warn!(error = %e, "nack failed; the message returns to the queue with the channel")
            }
        }
    }

    pub(super) fn publish_failed(&self) {
        if !self.publisher.is_open() {
            self.broken.cancel();
        }
    }

    pub(super) async fn retry(&self, delivery: &Delivery, msg: &Delivered, reason: &str) {
        let cfg = &self.inner.config;
        match self.holding(|| self.inner.handler.retrying(&self.inner.pool, msg)).await {
            None => {
                self.nack_requeue(delivery, "requeued").await;
                return;
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "the handler's retrying step failed; retrying anyway")
            }
            Some(Ok(())) => {}
        }
        match cfg.retry {
            RetryStrategy::Tiers => {
                match schedule_retry(&self.publisher, &self.inner.topology, &msg.envelope).await {
                    Ok(RetryDecision::Scheduled { tier, attempt }) => {
                        tracing::info!(%tier, attempt, "retry scheduled");
                        self.count_retry(tier);
                        let _ = self.ack(delivery, "retried").await;
                    }
                    Ok(RetryDecision::Exhausted { attempts }) => {
                        let reason =
                            format!("retries exhausted after {attempts} retries; last error: {reason}");
                        tracing::error!(%reason, "dead-lettering");
                        self.dead_lettering(msg).await;
                        self.dead_letter(delivery, "retries_exhausted", &reason).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not schedule the retry; requeueing");
                        self.publish_failed();
                        self.nack_requeue(delivery, "requeued").await;
                    }
                }
            }
            RetryStrategy::Requeue { min_delay, max_delay } => {
                let factor = 1u32 << msg.delivery_count.min(16);
                let delay = min_delay.saturating_mul(factor).min(max_delay);
                tokio::select! {
                    _ = self.stopping.cancelled() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
                self.nack_requeue(delivery, "requeued").await;
            }
        }
    }

    /// A held message ([`Outcome::Hold`]) goes down the ladder as a retry does (its place in
    /// its order kept by the handler's `retrying`), but its copy keeps its attempt count.
    /// `recorded`: the handler already did what its `retrying` does ([`Outcome::Hold`]).
    pub(super) async fn hold(
        &self,
        delivery: &Delivery,
        msg: &Delivered,
        at_least: Duration,
        recorded: bool,
    ) {
        let cfg = &self.inner.config;
        if !recorded {
            match self.holding(|| self.inner.handler.retrying(&self.inner.pool, msg)).await {
                None => {
                    self.nack_requeue(delivery, "requeued").await;
                    return;
                }
                Some(Err(e)) => {
                    tracing::error!(error = %e, "the handler's retrying step failed; holding anyway")
                }
                Some(Ok(())) => {}
            }
        }
        if !matches!(cfg.retry, RetryStrategy::Tiers) {
            // Without a ladder a hold is a requeue, as a retry is.
            self.nack_requeue(delivery, "requeued").await;
            return;
        }
        match schedule_hold(&self.publisher, &self.inner.topology, &msg.envelope, at_least).await {
            Ok(Some(tier)) => {
                self.count_retry(tier);
                let _ = self.ack(delivery, "held").await;
            }
            Ok(None) => self.nack_requeue(delivery, "requeued").await,
            Err(e) => {
                tracing::warn!(error = %e, "could not schedule the hold; requeueing");
                self.publish_failed();
                self.nack_requeue(delivery, "requeued").await;
            }
        }
    }

    /// Counts a copy sent to the retry ladder's `tier` (a retry or a hold).
    fn count_retry(&self, tier: String) {
        let cfg = &self.inner.config;
        self.inner
            .metrics
            .retries
            .get_or_create(&RetryLabels { consumer: cfg.name.clone(), queue: cfg.queue.clone(), tier })
            .inc();
    }

    /// Tells the handler a message is about to be dead-lettered (its `dead_lettering`).
    async fn dead_lettering(&self, msg: &Delivered) {
        if let Err(e) = self.inner.handler.dead_lettering(&self.inner.pool, msg).await {
            tracing::error!(error = %e, "the handler's dead_lettering step failed; dead-lettering anyway");
        }
    }

    /// A copy with the reason to the DLQ, then ack; if that copy cannot be published, a reject
    /// without requeue lets the broker dead-letter the message (without our reason).
    pub(super) async fn dead_letter(&self, delivery: &Delivery, kind: &'static str, reason: &str) {
        let cfg = &self.inner.config;
        let rejection = Rejection {
            queue: &cfg.queue,
            rejected_by: &cfg.name,
            kind,
            reason,
            exchange: delivery.exchange.as_str(),
            routing_key: delivery.routing_key.as_str(),
        };
        let published = dead_letter(
            &self.publisher,
            &self.inner.topology,
            &rejection,
            &delivery.properties,
            &delivery.data,
        )
        .await;
        let done = match published {
            Ok(()) => self.ack(delivery, "dead_lettered").await,
            Err(e) => {
                tracing::error!(error = %e, %reason,
                    "could not publish the dead-letter copy; rejecting so that the broker dead-letters it (without the reason)");
                self.publish_failed();
                let rejected = delivery.reject(BasicRejectOptions { requeue: false }).await;
                self.settled(delivery);
                match rejected {
                    Ok(_) => {
                        self.count("dead_lettered");
                        true
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reject failed; the message will be redelivered");
                        false
                    }
                }
            }
        };
        if !done {
            return;
        }
        self.inner
            .metrics
            .dead_lettered
            .get_or_create(&DeadLetterLabels {
                consumer: cfg.name.clone(),
                queue: cfg.queue.clone(),
                reason: kind,
            })
            .inc();
    }
}
