//! Several deliveries in one transaction ([`ConsumerConfig::batch`](super::ConsumerConfig::batch)).
//!
//! What a message costs the database is mostly per statement and per commit, not per row: the
//! same inserts made ten rows at a time cost about a quarter as much per row (docs/benchmarks.md).
//! So when deliveries are already waiting, the consumer applies them together:
//!
//! 1. [`gather`] takes the delivery that woke the consumer and whatever the broker has already
//!    sent after it, without waiting, up to the batch size, and stops before a second message of
//!    an order key already in the batch (that one starts the next batch, so one order's messages
//!    still go one after the other, in order).
//! 2. One transaction inserts every message's inbox row in one statement; messages handled before
//!    (or twice in the batch) are duplicates, as in step 3 of the consumer.
//! 3. [`Handler::handle_batch`](super::Handler::handle_batch) applies the others. If it answers
//!    [`Batched::AllDone`], the transaction commits and every message is acknowledged, exactly
//!    as if each had been handled alone and come out `Done`.
//! 4. Anything else (the handler declines, fails or panics; the database fails) rolls the whole
//!    transaction back, and each message goes through the one-by-one path, with its own
//!    retries, rejections and dead-lettering. Nothing is committed twice or lost: the batch's
//!    inbox rows rolled back with it. Each keeps what [`Handler::prepare`](super::Handler::prepare)
//!    learned for it, so nothing prepared (a provider called) is done again.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use tracing::Instrument;
use uuid::Uuid;

use super::job::panic_text;
use super::prepare::Ready;
use super::{Batched, Delivered, Handler, HandlerError, Job, consumer_ended};
use crate::broker::connection::SessionError;
use crate::broker::envelope::{header_str, headers};
use crate::broker::metrics::HandledLabels;
use crate::fault_points;

/// Step 1: `first`, and the deliveries already received after it (at most `max` in all, no
/// order key twice). A delivery that would repeat a key is left in `carried` for the next batch.
/// The error, if the stream failed or ended while gathering, ends the session after this batch.
pub(super) fn gather(
    first: Delivery,
    deliveries: &mut lapin::Consumer,
    max: usize,
    carried: &mut Option<Delivery>,
) -> (Vec<Delivery>, Option<SessionError>) {
    let mut keys = HashSet::new();
    if let Some(key) = header_str(&first.properties, headers::ORDER_KEY) {
        keys.insert(key.to_owned());
    }
    let mut batch = vec![first];
    while batch.len() < max {
        let delivery = match deliveries.next().now_or_never() {
            None => break, // nothing waiting
            Some(Some(Ok(d))) => d,
            Some(Some(Err(e))) => return (batch, Some(e.into())),
            Some(None) => return (batch, Some(consumer_ended())),
        };
        if let Some(key) = header_str(&delivery.properties, headers::ORDER_KEY)
            && !keys.insert(key.to_owned())
        {
            *carried = Some(delivery);
            break;
        }
        batch.push(delivery);
    }
    (batch, None)
}

impl<H: Handler> Job<H> {
    /// Steps 2–4 for `decoded` (two or more): `true` when the batch committed and every message
    /// was acknowledged; `false` when nothing was, and each must go one by one.
    pub(super) async fn try_batch(&self, decoded: &[Ready<H::Prepared>], started: Instant) -> bool {
        let cfg = &self.inner.config;
        let span = tracing::info_span!("handle_batch", consumer = %cfg.name, queue = %cfg.queue, messages = decoded.len());
        let applied =
            AssertUnwindSafe(self.apply_batch(decoded)).catch_unwind().instrument(span.clone()).await;
        let fresh = match applied {
            Ok(Ok(Some(fresh))) => {
                self.count_batch("committed");
                fresh
            }
            Ok(Ok(None)) => {
                self.count_batch("one_by_one");
                return false;
            }
            Ok(Err(e)) => {
                span.in_scope(
                    || tracing::warn!(error = %e, "the batch failed: applying its messages one by one"),
                );
                self.count_batch("failed");
                return false;
            }
            Err(panic) => {
                span.in_scope(|| {
                    tracing::warn!(
                        panic = panic_text(&panic),
                        "the batch panicked: applying its messages one by one"
                    )
                });
                self.count_batch("failed");
                return false;
            }
        };
        for ((delivery, _, span, _), fresh) in decoded.iter().zip(fresh) {
            let acked = async {
                if fresh {
                    tracing::debug!("handled in a batch");
                    self.ack(delivery, "done").await
                } else {
                    tracing::info!("already processed: acknowledging without handling again");
                    self.ack(delivery, "duplicate").await
                }
            };
            acked.instrument(span.clone()).await;
            self.observe(started);
        }
        true
    }

    /// Counts a batch by how it ended: `committed`, `one_by_one` (the handler declined it) or
    /// `failed`; the last two go one by one.
    fn count_batch(&self, outcome: &'static str) {
        let cfg = &self.inner.config;
        let labels = HandledLabels { consumer: cfg.name.clone(), queue: cfg.queue.clone(), outcome };
        self.inner.metrics.batches.get_or_create(&labels).inc();
    }

    /// The transaction of steps 2 and 3. `Some` (per message: whether it was new rather than a
    /// duplicate) once committed; `None` when the handler declined the batch (rolled back).
    async fn apply_batch(&self, decoded: &[Ready<H::Prepared>]) -> Result<Option<Vec<bool>>, HandlerError> {
        let consumer = &self.inner.config.name;
        let ids: Vec<Uuid> = decoded.iter().map(|(_, msg, _, _)| msg.envelope.message_id).collect();
        let mut tx = self.inner.pool.begin().await?;
        let inserted: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO processed_messages (consumer, message_id) SELECT $1, UNNEST($2::uuid[])
             ON CONFLICT DO NOTHING RETURNING message_id",
        )
        .bind(consumer)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        // New: inserted now, and the first of its id in the batch (a second copy is a duplicate).
        let mut unclaimed: HashSet<Uuid> = inserted.into_iter().collect();
        let fresh: Vec<bool> = ids.iter().map(|id| unclaimed.remove(id)).collect();
        let msgs: Vec<(&Delivered, &H::Prepared)> = decoded
            .iter()
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|((_, msg, _, prepared), _)| (msg, prepared))
            .collect();
        if !msgs.is_empty() {
            let batched = self.inner.handler.handle_batch(&mut tx, &msgs).await;
            match batched {
                Ok(Batched::AllDone) => {}
                Ok(Batched::OneByOne { reason }) => {
                    let _ = tx.rollback().await;
                    tracing::debug!(%reason, "applying the batch's messages one by one");
                    return Ok(None);
                }
                Err(e) => {
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            }
        }
        tx.commit().await?;
        self.committed();
        fault_points::reached(fault_points::AFTER_BATCH_COMMIT);
        Ok(Some(fresh))
    }
}
