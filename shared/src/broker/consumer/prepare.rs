//! The stage before a message's transaction ([`Handler::prepare`]): where a handler waits on the
//! outside world, a payment provider say, holding no transaction, row lock or pooled connection
//! while it waits (docs/architecture.md, "A provider call holds nothing").
//!
//! For a handler that prepares ([`Handler::PREPARES`]), the deliveries a job took, in order:
//!
//! 1. The inbox is read first, in one statement: a message handled before is acknowledged as a
//!    duplicate and never prepared, so a redelivery never calls a provider for work already done.
//! 2. [`Handler::prepare`] runs for the others, and answers the rest of each one's preparation.
//!    What it commits on the way (a payment's attempt, say) is its own and must stay right if
//!    the message is prepared again: the inbox row still commits only with the message's
//!    transaction, so a crash after the preparation means a redelivery that prepares again.
//! 3. The preparations are awaited together, and the messages whose preparation ended at about
//!    the same moment (within [`GATHER`] of the first) go on to their transaction together (one by one, or as a batch): a message
//!    never waits for another's slow provider to apply its own answer. A message whose
//!    preparation failed is retried or dead-lettered like one whose handler failed (while the
//!    database cannot be reached it is held and prepared again). The transaction's own retries
//!    while the database is away, and a batch's fall-back to one by one, reuse what was
//!    prepared: nothing is prepared twice for one delivery.
//!
//! A job holds one of the consumer's concurrency slots until its preparation's transaction is
//! done (so that, while the slots are busy, waiting deliveries gather into bigger batches), and
//! gives it back before it awaits the calls: the prefetch and each provider's bulkhead bound the
//! calls in flight, not the slots, so a provider that takes ten seconds to time out holds its own
//! messages and nothing of the others'. The applies take no slot (the pool bounds them).
//!
//! Messages of one order key stay in order through all of this: the job holds each message's
//! turn ([`KeyOrder`](super::KeyOrder)) from before the preparation until that message is
//! acknowledged (or requeued, or dead-lettered), and no longer: the next message of an order
//! whose answer came back goes on while a slower provider keeps another order of the same job.

use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use uuid::Uuid;

use super::job::{Step, database_unavailable};
use super::{Delivered, Handler, HandlerError, Job, Preparing};

/// A delivery ready for its transaction: the delivery, the message, its span, and what was
/// prepared for it.
pub(super) type Ready<P> = (Delivery, Delivered, tracing::Span, P);

type Decoded = (Delivery, Delivered, tracing::Span);

/// How long after one preparation ends the others that end are gathered with it (step 3).
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

impl<H: Handler> Job<H> {
    /// Steps 1–3 for `decoded`.
    pub(super) async fn prepare_and_apply(
        &self,
        decoded: Vec<Decoded>,
        started: Instant,
        slot: OwnedSemaphorePermit,
    ) {
        let cfg = &self.inner.config;
        // Several messages are prepared as the batch they are; one alone, under its own span.
        let span = match decoded.as_slice() {
            [(_, _, one)] => one.clone(),
            _ => tracing::info_span!("handle_batch", consumer = %cfg.name, queue = %cfg.queue,
                messages = decoded.len(), stage = "prepare"),
        };
        let prepared = self
            .holding(|| async {
                let handled = self.handled_before(&decoded).await?;
                let fresh: Vec<&Delivered> = decoded
                    .iter()
                    .map(|(_, msg, _)| msg)
                    .filter(|m| !handled.contains(&m.envelope.message_id))
                    .collect();
                let preparing = if fresh.is_empty() {
                    Vec::new()
                } else {
                    self.inner.handler.prepare(&self.inner.pool, &fresh).await?
                };
                Ok((handled, preparing))
            })
            .instrument(span)
            .await;
        drop(slot); // the calls are awaited holding no slot
        let (handled, preparing) = match prepared {
            Some(Ok(prepared)) => prepared,
            Some(Err(e)) => {
                for (delivery, msg, span) in decoded {
                    self.finish(&delivery, &msg, failed(&e)).instrument(span).await;
                    self.observe(started);
                }
                return;
            }
            None => {
                for (delivery, _, span) in decoded {
                    self.nack_requeue(&delivery, "requeued").instrument(span).await;
                }
                return;
            }
        };
        let mut preparing = preparing.into_iter();
        let mut waiting = FuturesUnordered::new();
        for (delivery, msg, span) in decoded {
            if handled.contains(&msg.envelope.message_id) {
                self.finish(&delivery, &msg, Step::Duplicate).instrument(span).await;
                self.observe(started);
                continue;
            }
            let rest: Preparing<H::Prepared> = preparing.next().unwrap_or_else(|| {
                Box::pin(std::future::ready(Err(HandlerError::permanent(anyhow::anyhow!(
                    "the handler prepared fewer messages than it was given"
                )))))
            });
            waiting.push(rest.map(move |result| ((delivery, msg, span), result)));
        }
        while let Some(first) = waiting.next().await {
            let mut ended = vec![first];
            // Those ending within a moment of the first go with it (calls made together
            // mostly end together): one transaction for them all, for a moment's latency.
            let gather = tokio::time::sleep(GATHER);
            tokio::pin!(gather);
            while !waiting.is_empty() {
                tokio::select! {
                    biased;
                    Some(more) = waiting.next() => ended.push(more),
                    _ = &mut gather => break,
                }
            }
            let mut ready = Vec::with_capacity(ended.len());
            for ((delivery, msg, span), result) in ended {
                let result = match result {
                    Err(HandlerError::Transient(e)) if database_unavailable(&e) => {
                        match self.prepare_again(&msg).instrument(span.clone()).await {
                            Some(result) => result,
                            None => {
                                self.nack_requeue(&delivery, "requeued").instrument(span).await;
                                continue;
                            }
                        }
                    }
                    other => other,
                };
                match result {
                    Ok(prepared) => ready.push((delivery, msg, span, prepared)),
                    Err(e) => {
                        self.finish(&delivery, &msg, failed(&e)).instrument(span).await;
                        self.observe(started);
                    }
                }
            }
            self.apply_prepared(ready, started).await;
        }
    }

    /// Prepares one message again, from the start, holding it while the database is away.
    async fn prepare_again(&self, msg: &Delivered) -> Option<Result<H::Prepared, HandlerError>> {
        self.holding(|| async {
            let mut preparing = self.inner.handler.prepare(&self.inner.pool, &[msg]).await?;
            match preparing.pop() {
                Some(rest) => rest.await,
                None => Err(HandlerError::permanent(anyhow::anyhow!("the handler prepared no message"))),
            }
        })
        .await
    }

    /// The message ids among `decoded` that this consumer has handled before (step 1).
    async fn handled_before(&self, decoded: &[Decoded]) -> Result<Vec<Uuid>, HandlerError> {
        let ids: Vec<Uuid> = decoded.iter().map(|(_, msg, _)| msg.envelope.message_id).collect();
        Ok(sqlx::query_scalar(HANDLED_BEFORE)
            .bind(&self.inner.config.name)
            .bind(&ids)
            .fetch_all(&self.inner.pool)
            .await?)
    }
}

/// Step 1's inbox lookup: which of the message ids `$2` the consumer `$1` has handled. One
/// primary-key probe per id, whatever the planner knows of the table. The plain form
/// (`consumer = $1 AND message_id = ANY($2)`), planned while `processed_messages` had rows but no
/// statistics yet (a new database, before autovacuum's first analyze), was cached on the
/// connection as an index scan on `consumer` alone with the ids as a filter: every lookup then
/// read every message the consumer had ever handled (5.7 ms at 25,000 rows, growing with the
/// inbox; 1.5 s of PostgreSQL's time in an 8,000-payment bench pass). `LIMIT 1` keeps each probe
/// a lookup the planner cannot turn into that scan.
pub const HANDLED_BEFORE: &str = "SELECT p.message_id FROM UNNEST($2::uuid[]) AS m(id) \
     CROSS JOIN LATERAL (SELECT message_id FROM processed_messages \
                          WHERE consumer = $1 AND message_id = m.id LIMIT 1) p";

/// How a failed preparation ends for its message: like a failed handler.
fn failed(e: &HandlerError) -> Step {
    match e {
        HandlerError::Transient(e) => Step::Transient(format!("{e:#}")),
        HandlerError::Permanent(e) => Step::Permanent(format!("{e:#}")),
    }
}
