//! The consumer runtime every service uses: a queue in, a [`Handler`] with a database
//! transaction, an exactly-once effect out (docs/architecture.md, decisions 4 and 13).
//!
//! For each delivery (manual acks, bounded by the prefetch):
//!
//! 1. The body is parsed as an [`Envelope`]. If it does not parse, a copy goes to the queue's
//!    DLQ with the reason in its headers ([`dead_letter`]), then the original is acknowledged.
//! 2. A span `handle_message` opens, with the message id, type and order key, parented on the
//!    envelope's trace context.
//! 3. A transaction begins and inserts `processed_messages(consumer, message_id)`. If that row
//!    exists the message was handled before (a redelivery, or a publish repeated by the outbox):
//!    the handler is skipped and the message acknowledged. A concurrent duplicate blocks on the
//!    row until the first transaction ends, so two copies never run the handler side by side.
//! 4. The handler runs inside the transaction. What it returns decides:
//!    - `Ok(Outcome::Done)`: commit (effect and inbox row together), then acknowledge;
//!    - `Ok(Outcome::RetryLater)`: commit the handler's writes but not the inbox row, then retry;
//!    - `Ok(Outcome::Reject)`: commit the handler's writes but not the inbox row, then dead-letter;
//!    - `Err(HandlerError::Transient)` (or a database error on the way): roll back, then retry;
//!      but if the database cannot be reached at all (connection refused or lost, pool timeout),
//!      the message is not at fault: it is held and the transaction tried again, backing off up
//!      to 5 s, until the database is back (or shutdown requeues it), without spending its
//!      retries or deliveries;
//!    - `Err(HandlerError::Permanent)`: roll back, then dead-letter with the reason.
//! 5. A retry follows the consumer's [`RetryStrategy`]: for the order shards, a copy with
//!    `attempt + 1` goes to the next tier of the TTL ladder and the original is acknowledged
//!    (past the last tier the message is dead-lettered); for other queues the message is
//!    requeued after a short backoff, and the queue's delivery limit sends it to the DLQ if it
//!    keeps failing.
//!
//! A handler that panics is treated like a transient error (rolled back, retried, eventually
//! dead-lettered with the panic message as reason).
//!
//! Acknowledgement always comes after the commit and after any confirmed publish, so a crash
//! anywhere means a redelivery, which step 3 recognises. The crash tests stop a process exactly
//! between the two with the fault point `consumer.after_commit`
//! ([`fault_points`](crate::fault_points)); it is inert in production builds.
//!
//! Messages with the same order key are handled one after the other, in delivery order, even
//! when `concurrency > 1`; messages for different orders run concurrently.
//!
//! With [`ConsumerConfig::batch`] above 1, the deliveries that are already waiting (never more
//! than `batch`, never two of one order key) are applied in one transaction through
//! [`Handler::handle_batch`]: see [`batch`] for how, and how it falls back to one by one.
//!
//! Shutdown (the [`CancellationToken`]): the consumer is cancelled (`basic.cancel`), handlers in
//! flight get `shutdown_grace` to finish and acknowledge, and the channel is closed. Messages
//! taken but not begun (waiting for their order key's turn) are not begun: a stop waits only for
//! the work already under way. Handlers
//! still running after the grace are aborted, so their transactions roll back; every message not
//! acknowledged (in flight, or prefetched and not started) goes back to the queue when the
//! channel closes. Nothing is lost and, thanks to step 3, nothing is applied twice.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::connection::{SessionError, Supervisor};
use super::envelope::{header_str, headers};
use super::metrics::BrokerMetrics;
use super::publisher::Publisher;
use super::topology::Topology;

mod appliers;
mod batch;
mod config;
mod handler;
mod job;
mod key_order;
mod prepare;

pub use config::{ConsumerConfig, ConsumerConfigError, DEFAULT_REQUEUE, RetryStrategy};
pub use handler::{Batched, Delivered, Handler, HandlerError, Outcome, Preparing};
use job::{Job, Turns, lock};
use key_order::KeyOrder;
pub use prepare::HANDLED_BEFORE;

/// Consumes one queue with one handler. See the module documentation.
pub struct Consumer<H> {
    inner: Arc<Inner<H>>,
}

impl<H> Clone for Consumer<H> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

struct Inner<H> {
    config: ConsumerConfig,
    topology: Arc<Topology>,
    pool: PgPool,
    handler: H,
    metrics: BrokerMetrics,
}

impl<H: Handler> Consumer<H> {
    pub fn new(
        config: ConsumerConfig,
        topology: Arc<Topology>,
        pool: PgPool,
        handler: H,
        metrics: BrokerMetrics,
    ) -> Result<Self, ConsumerConfigError> {
        if config.name.is_empty() {
            return Err(ConsumerConfigError::NoName);
        }
        if config.prefetch == 0 || config.concurrency == 0 || config.batch == 0 {
            return Err(ConsumerConfigError::Zero);
        }
        if topology.queue(&config.queue).is_none() {
            return Err(ConsumerConfigError::UnknownQueue(config.queue.clone()));
        }
        if config.retry == RetryStrategy::Tiers && !topology.shard_queues().contains(&config.queue) {
            return Err(ConsumerConfigError::TiersNeedAShard(config.queue.clone()));
        }
        Ok(Self { inner: Arc::new(Inner { config, topology, pool, handler, metrics }) })
    }

    pub fn config(&self) -> &ConsumerConfig {
        &self.inner.config
    }

    /// Consumes until `shutdown` is cancelled, reconnecting through `supervisor` whenever the
    /// connection breaks. Returns after the graceful stop.
    pub async fn run(&self, supervisor: &Supervisor, shutdown: &CancellationToken) {
        supervisor.run(shutdown, |conn| self.session(conn, shutdown.clone())).await
    }

    /// One session on `conn`: consumes until `shutdown` (then `Ok`) or until the connection or a
    /// channel breaks (then `Err`). Either way it first stops gracefully (module documentation).
    pub async fn session(
        &self,
        conn: Arc<Connection>,
        shutdown: CancellationToken,
    ) -> Result<(), SessionError> {
        let config = &self.inner.config;
        let channel = conn.create_channel().await?;
        channel.basic_qos(config.prefetch, BasicQosOptions::default()).await?;
        let publisher = Publisher::new(&conn).await?;
        let tag = format!("{}/{}", config.name, Uuid::now_v7());
        let mut deliveries = channel
            .basic_consume(
                config.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(consumer = %config.name, queue = %config.queue, prefetch = config.prefetch,
            concurrency = config.concurrency, batch = config.batch, "consuming");

        let broken = CancellationToken::new();
        // Cancelled when this session stops, for whatever reason: handlers waiting (for the
        // database, or out a requeue delay) give their message back at once.
        let stopping = shutdown.child_token();
        let slots = Arc::new(Semaphore::new(config.concurrency));
        let order = KeyOrder::default();
        let turns: Turns = Arc::default();
        let in_hand = self.inner.metrics.in_hand.session(&config.name, &config.queue);
        let mut tasks = JoinSet::new();
        let job = || Job {
            inner: self.inner.clone(),
            publisher: publisher.clone(),
            stopping: stopping.clone(),
            broken: broken.clone(),
            turns: turns.clone(),
            in_hand: in_hand.clone(),
            appliers: None,
        };
        // Answers that come back one at a time are applied together (`appliers.rs`).
        let mut appliers = None;
        if H::PREPARES && config.appliers > 0 {
            let (to_apply, from) = appliers::channel();
            for _ in 0..config.appliers {
                tasks.spawn(job().applier(from.clone()));
            }
            appliers = Some(to_apply);
        }
        // A delivery that could not join the batch before it (its order key was in it).
        let mut carried: Option<Delivery> = None;
        let end = loop {
            while let Some(done) = tasks.try_join_next() {
                report_panic(done, &config.name);
            }
            let permit = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break Ok(()),
                _ = broken.cancelled() => break Err(SessionError::Other("the publishing channel broke".into())),
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            };
            let delivery = match carried.take() {
                Some(d) => d,
                None => {
                    let next = tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => break Ok(()),
                        _ = broken.cancelled() => break Err(SessionError::Other("the publishing channel broke".into())),
                        d = deliveries.next() => d,
                    };
                    match next.map(|d| d.map_err(SessionError::from)).unwrap_or_else(|| Err(consumer_ended()))
                    {
                        Ok(d) => d,
                        Err(e) => break Err(e),
                    }
                }
            };
            let (batch, ended) = batch::gather(delivery, &mut deliveries, config.batch, &mut carried);
            in_hand.took(batch.iter().map(|d| d.delivery_tag));
            lock(&turns).extend(
                batch
                    .iter()
                    .map(|d| (d.delivery_tag, order.turn(header_str(&d.properties, headers::ORDER_KEY)))),
            );
            tasks.spawn(Job { appliers: appliers.clone(), ..job() }.run_batch(batch, permit));
            if let Some(e) = ended {
                break Err(e);
            }
        };
        stopping.cancel();
        drop(appliers); // they end once the last job has handed them its messages
        self.stop(&channel, &tag, tasks).await;
        publisher.close().await;
        end
    }

    /// Cancels the consumer, lets handlers in flight finish within the grace, closes the channel.
    async fn stop(&self, channel: &Channel, tag: &str, mut tasks: JoinSet<()>) {
        let config = &self.inner.config;
        if channel.status().connected()
            && let Err(e) = channel.basic_cancel(tag.into(), BasicCancelOptions::default()).await
        {
            tracing::debug!(error = %e, "basic.cancel failed");
        }
        let drained = tokio::time::timeout(config.shutdown_grace, async {
            while let Some(done) = tasks.join_next().await {
                report_panic(done, &config.name);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(consumer = %config.name, running = tasks.len(), grace = ?config.shutdown_grace,
                "handlers still running after the grace period: aborting them (their transactions roll back and their messages return to the queue)");
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        if channel.status().connected() {
            let _ = channel.close(200, "consumer stopped".into()).await;
        }
        tracing::info!(consumer = %config.name, queue = %config.queue, "stopped consuming");
    }
}

fn consumer_ended() -> SessionError {
    SessionError::Other("the broker ended the consumer (channel closed or queue deleted)".into())
}

fn report_panic(done: Result<(), tokio::task::JoinError>, consumer: &str) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(consumer, error = %e, "a message task panicked");
    }
}
