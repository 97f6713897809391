//! The consumer runtime every service uses: a queue in, a [`Handler`] with a database
//! transaction, an exactly-once effect out (ARCHITECTURE.md, decisions 4 and 13).
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
//! ([`fault_points`](crate::runtime::fault_points)); it is inert in production builds.
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

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;

use std::panic::AssertUnwindSafe;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::connection::{SessionError, Supervisor};
use super::dead_letter::dead_letter;
use super::envelope::{Envelope, EnvelopeError, header_int, header_str, headers};
use super::metrics::{BrokerMetrics, DeadLetterLabels, HandledLabels, QueueLabels, RetryLabels};
use super::publisher::Publisher;
use super::retry::{RetryDecision, schedule_retry};
use super::topology::Topology;
use crate::runtime::fault_points;

mod batch;
mod prepare;

/// A message as the handler sees it.
#[derive(Clone, Debug)]
pub struct Delivered {
    /// The envelope; decode the payload with [`Delivered::payload`].
    pub envelope: Envelope<serde_json::Value>,
    /// The queue it was consumed from.
    pub queue: String,
    pub exchange: String,
    pub routing_key: String,
    /// The broker's redelivered flag: it was delivered before and not acknowledged.
    pub redelivered: bool,
    /// How often it was delivered before (quorum queues' `x-delivery-count`; 0 if absent).
    pub delivery_count: u32,
    /// The AMQP `content_type` property, if the publisher set one. The body is parsed as a JSON
    /// envelope whatever it says; a handler may refuse a message that claims another type.
    pub content_type: Option<String>,
}

impl Delivered {
    /// The payload as `T`; a payload that does not fit is a permanent error.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, HandlerError> {
        Ok(self.envelope.decode_payload()?)
    }
}

/// What the handler decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the effect commits with the inbox row, and the message is acknowledged.
    Done,
    /// Not now: the handler's writes commit (without the inbox row, so the message counts as
    /// not handled) and the message is retried later.
    RetryLater { reason: String },
    /// Never: the handler's writes commit (say, flagging a forged notification), without the
    /// inbox row, and the message goes to the DLQ with `reason`.
    Reject { reason: String },
}

/// A handler failed; the transaction is rolled back.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Might work later (database or network trouble): the message is retried.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will never work (a malformed payload, a violated invariant): the message is dead-lettered.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl HandlerError {
    pub fn transient(e: impl Into<anyhow::Error>) -> Self {
        Self::Transient(e.into())
    }
    pub fn permanent(e: impl Into<anyhow::Error>) -> Self {
        Self::Permanent(e.into())
    }
}

impl From<sqlx::Error> for HandlerError {
    /// Database errors count as transient: retrying is always safe, since nothing committed.
    fn from(e: sqlx::Error) -> Self {
        Self::Transient(e.into())
    }
}

impl From<EnvelopeError> for HandlerError {
    fn from(e: EnvelopeError) -> Self {
        Self::Permanent(e.into())
    }
}

/// The application's part: apply one message inside the given transaction. Emit messages with
/// [`outbox::enqueue`](super::outbox::enqueue) in the same transaction. Do not commit it.
///
/// A handler that must wait on the outside world (a payment provider) does that in
/// [`Handler::prepare`], before the transaction begins, so that nothing is held while it waits;
/// `handle` then applies what `prepare` learned ([`prepare`] has the rules).
pub trait Handler: Send + Sync + 'static {
    /// What [`Handler::prepare`] learned of one message, for `handle`: `()` for a handler that
    /// does all its work inside the transaction.
    type Prepared: Default + Send + Sync + 'static;

    /// Whether the handler has a [`Handler::prepare`] stage (the consumer then checks the inbox
    /// before preparing, so that a message handled before is never prepared again).
    const PREPARES: bool = false;

    /// Work on messages before their transaction begins, holding no transaction, row lock or
    /// pooled connection while it waits on the outside world. It may commit short transactions
    /// of its own on `pool`; each must stay right if the message is prepared again (a
    /// redelivery). Called only for messages not handled before, in delivery order (several at
    /// once when the consumer batches). It answers, for each message, the rest of its
    /// preparation ([`Preparing`]: a provider call, say), which the consumer awaits with the
    /// others and hands to `handle` as soon as it is done; an error fails them all (a database
    /// that cannot be reached holds the messages, as for `handle`). The default has nothing to
    /// prepare.
    fn prepare(
        &self,
        pool: &PgPool,
        msgs: &[&Delivered],
    ) -> impl Future<Output = Result<Vec<Preparing<Self::Prepared>>, HandlerError>> + Send {
        let _ = pool;
        let prepared: Vec<Preparing<Self::Prepared>> = msgs
            .iter()
            .map(|_| -> Preparing<Self::Prepared> {
                Box::pin(std::future::ready(Ok(Self::Prepared::default())))
            })
            .collect();
        async move { Ok(prepared) }
    }

    fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        prepared: &Self::Prepared,
    ) -> impl Future<Output = Result<Outcome, HandlerError>> + Send;

    /// Applies several messages (of different order keys, in delivery order) inside one
    /// transaction, as if each had been [`handle`](Handler::handle)d and come out
    /// [`Outcome::Done`]; the consumer then commits them together with their inbox rows. Answer
    /// [`Batched::OneByOne`] (or fail) when that cannot be said of every message: the consumer
    /// rolls the transaction back and hands each message to `handle` on its own, with the same
    /// prepared value (nothing is prepared twice). The default always does that.
    fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &Self::Prepared)],
    ) -> impl Future<Output = Result<Batched, HandlerError>> + Send {
        let _ = (tx, msgs);
        async { Ok(Batched::OneByOne { reason: "the handler applies one message at a time".into() }) }
    }

    /// Called when a message is about to be retried later (its handler asked, or failed
    /// transiently and its transaction rolled back), before it leaves its place in the queue:
    /// while the consumer still holds its order key's turn and no transaction of its own. Messages
    /// of the same order that arrive meanwhile could overtake it; a handler that must keep an
    /// order's messages in order records here that this one is waiting (the dispatcher's retry
    /// line). A database that cannot be reached holds the message, as for `handle`; another
    /// error is logged and the retry goes on. The default does nothing.
    fn retrying(
        &self,
        pool: &PgPool,
        msg: &Delivered,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pool, msg);
        async { Ok(()) }
    }
}

/// The rest of one message's preparation ([`Handler::prepare`]), awaited without anything held:
/// what `handle` will need, or a failure like a handler's.
pub type Preparing<P> = std::pin::Pin<Box<dyn Future<Output = Result<P, HandlerError>> + Send + 'static>>;

/// What [`Handler::handle_batch`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batched {
    /// Every message is applied: commit them all.
    AllDone,
    /// Not as a batch: roll back, and apply each message on its own.
    OneByOne { reason: String },
}

/// How a message that should be tried again is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryStrategy {
    /// Through the TTL ladder of the topology, back to the same shard. Only for order shards.
    Tiers,
    /// `basic.nack` with requeue after a delay doubling from `min_delay` with each redelivery,
    /// capped at `max_delay`; the queue's `x-delivery-limit` bounds the attempts.
    Requeue { min_delay: Duration, max_delay: Duration },
}

/// What to consume and how.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// The consumer's name: the `consumer` column of `processed_messages`, the metrics label,
    /// and the `x-paygate-rejected-by` header. Keep it stable: a new name forgets what the old
    /// one processed.
    pub name: String,
    pub queue: String,
    /// Unacknowledged deliveries the broker may send ahead.
    pub prefetch: u16,
    /// Handlers running at once (messages of one order key still run one at a time).
    pub concurrency: usize,
    /// At most this many waiting deliveries are applied in one transaction
    /// ([`Handler::handle_batch`]); 1 applies each on its own. A batch never waits for messages
    /// to arrive: it takes what the broker has already sent, so a quiet queue still gets one
    /// message per transaction, and the latency stays that of one message.
    pub batch: usize,
    pub retry: RetryStrategy,
    /// How long in-flight handlers get to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Woken after every commit, so the service's outbox relay publishes what the handler
    /// enqueued now rather than at its next poll ([`OutboxRelay::waker`](super::outbox::OutboxRelay::waker)).
    pub wake_after_commit: Option<Arc<tokio::sync::Notify>>,
}

/// The default requeue strategy: 200 ms doubling to 5 s.
pub const DEFAULT_REQUEUE: RetryStrategy =
    RetryStrategy::Requeue { min_delay: Duration::from_millis(200), max_delay: Duration::from_secs(5) };

impl ConsumerConfig {
    /// For a queue that is not an order shard (e.g. the ingest queue): retries by requeue.
    pub fn for_queue(name: impl Into<String>, queue: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            queue: queue.into(),
            prefetch: 32,
            concurrency: 8,
            batch: 1,
            retry: DEFAULT_REQUEUE,
            shutdown_grace: Duration::from_secs(10),
            wake_after_commit: None,
        }
    }

    /// For order shard `shard` of `topology`: retries through the TTL ladder.
    pub fn for_shard(name: impl Into<String>, topology: &Topology, shard: u16) -> Self {
        Self { retry: RetryStrategy::Tiers, ..Self::for_queue(name, topology.shard_queue(shard)) }
    }

    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch;
        self
    }
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }
    /// See [`ConsumerConfig::batch`].
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }
    pub fn with_retry(mut self, retry: RetryStrategy) -> Self {
        self.retry = retry;
        self
    }
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
    /// Wakes `relay_waker` after every commit (see [`ConsumerConfig::wake_after_commit`]).
    pub fn waking(mut self, relay_waker: Arc<tokio::sync::Notify>) -> Self {
        self.wake_after_commit = Some(relay_waker);
        self
    }
}

/// A [`ConsumerConfig`] that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsumerConfigError {
    #[error("the consumer name must not be empty")]
    NoName,
    #[error("queue {0:?} is not in the topology")]
    UnknownQueue(String),
    #[error("queue {0:?} is not an order shard: retry tiers lead back to the orders exchange; use Requeue")]
    TiersNeedAShard(String),
    #[error("prefetch, concurrency and batch must be at least 1")]
    Zero,
}

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
        let mut tasks = JoinSet::new();
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
            let turns =
                batch.iter().map(|d| order.turn(header_str(&d.properties, headers::ORDER_KEY))).collect();
            let job = Job {
                inner: self.inner.clone(),
                publisher: publisher.clone(),
                stopping: stopping.clone(),
                broken: broken.clone(),
            };
            tasks.spawn(job.run_batch(batch, permit, turns));
            if let Some(e) = ended {
                break Err(e);
            }
        };
        stopping.cancel();
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

/// How a consumer waits for the database during an outage: 100 ms doubling to 5 s, jittered.
const DB_OUTAGE_BACKOFF: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(5))
    .with_jitter()
    .without_max_times();

/// Whether an error says the database cannot be reached (as opposed to a query that failed): the
/// connection was refused, broken or closed, the pool had none to give, or the server ended the
/// session (an administrator's `pg_terminate_backend`, a shutdown: SQLSTATE class 08 and
/// 57P01–57P03). Anything that wraps the `sqlx::Error` must keep it as its source for this to see it.
fn database_unavailable(e: &anyhow::Error) -> bool {
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

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("?")
}

fn report_panic(done: Result<(), tokio::task::JoinError>, consumer: &str) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(consumer, error = %e, "a message task panicked");
    }
}

/// Keeps messages with the same order key in delivery order: each waits for the previous one
/// with its key to finish.
#[derive(Default, Clone)]
struct KeyOrder {
    /// Per key: the sequence number of the last message with that key, and its completion.
    last: Arc<Mutex<HashMap<String, LastOfKey>>>,
    next_seq: Arc<std::sync::atomic::AtomicU64>,
}

type LastOfKey = (u64, oneshot::Receiver<()>);

/// A delivery's place in its key's line: wait for `previous`, and finish by dropping `done`.
struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    done: Option<(oneshot::Sender<()>, String, u64, KeyOrder)>,
}

impl KeyOrder {
    fn turn(&self, key: Option<&str>) -> Turn {
        let Some(key) = key else { return Turn { previous: None, done: None } };
        let seq = self.next_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let previous = self.last.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), (seq, rx));
        Turn { previous: previous.map(|(_, rx)| rx), done: Some((tx, key.to_owned(), seq, self.clone())) }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some((tx, key, seq, order)) = self.done.take() {
            let mut last = order.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.get(&key).is_some_and(|(s, _)| *s == seq) {
                last.remove(&key);
            }
            drop(tx); // wakes the next message with this key
        }
    }
}

/// How one delivery ended, for logs and metrics.
enum Step {
    Done,
    Duplicate,
    Retry(String),
    Reject(String),
    Transient(String),
    Permanent(String),
}

/// One delivery's work, on its own task.
struct Job<H> {
    inner: Arc<Inner<H>>,
    publisher: Publisher,
    stopping: CancellationToken,
    broken: CancellationToken,
}

impl<H: Handler> Job<H> {
    /// Applies deliveries gathered by [`batch::gather`]: once each has had its turn, in one
    /// transaction if there are several and the handler can ([`Job::try_batch`]), or else one by
    /// one.
    async fn run_batch(self, deliveries: Vec<Delivery>, permit: OwnedSemaphorePermit, mut turns: Vec<Turn>) {
        for turn in &mut turns {
            if let Some(previous) = turn.previous.take() {
                tokio::select! {
                    biased;
                    // Ok or Err (dropped): either way the previous one is finished.
                    _ = previous => {}
                    _ = self.stopping.cancelled() => break,
                }
            }
        }
        if self.stopping.is_cancelled() {
            // Not started: the messages are left unacknowledged, so they go back to the queue,
            // in order, when the channel closes after the work in flight. A stop (a shard handed
            // over, a shutdown) waits for the calls already made, never for work not begun.
            tracing::debug!(consumer = %self.inner.config.name, messages = deliveries.len(),
                "stopping: giving back messages not yet started");
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
        drop(turns); // the next messages of these keys may go
    }

    /// Applies deliveries whose preparation is done: in one transaction if there are several and
    /// the handler can ([`Job::try_batch`]), or else one by one.
    async fn apply_ready(&self, ready: Vec<prepare::Ready<H::Prepared>>, started: Instant) {
        if ready.len() > 1 && self.try_batch(&ready, started).await {
            return;
        }
        for (delivery, msg, span, prepared) in ready {
            let started = Instant::now();
            self.handle(&delivery, &msg, &prepared).instrument(span).await;
            self.observe(started);
        }
    }

    /// The delivery as the handler sees it, with its span; an unparseable one is dead-lettered
    /// (and `None` returned).
    async fn decode(&self, delivery: &Delivery, started: Instant) -> Option<(Delivered, tracing::Span)> {
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

    fn observe(&self, started: Instant) {
        let cfg = &self.inner.config;
        self.inner
            .metrics
            .handler_duration
            .get_or_create(&QueueLabels { consumer: cfg.name.clone(), queue: cfg.queue.clone() })
            .observe(started.elapsed().as_secs_f64());
    }

    fn count(&self, outcome: &'static str) {
        let cfg = &self.inner.config;
        tracing::Span::current().record("outcome", outcome);
        self.inner
            .metrics
            .handled
            .get_or_create(&HandledLabels { consumer: cfg.name.clone(), queue: cfg.queue.clone(), outcome })
            .inc();
    }

    async fn handle(&self, delivery: &Delivery, msg: &Delivered, prepared: &H::Prepared) {
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
    async fn holding<T, F, Fut>(&self, mut attempt: F) -> Option<Result<T, HandlerError>>
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
    async fn finish(&self, delivery: &Delivery, msg: &Delivered, step: Step) {
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
            Step::Reject(reason) => {
                tracing::warn!(%reason, "handler rejected the message: dead-lettering");
                self.dead_letter(delivery, "rejected", &reason).await;
            }
            Step::Permanent(reason) => {
                tracing::error!(error = %reason, "permanent failure: dead-lettering");
                self.dead_letter(delivery, "permanent_error", &reason).await;
            }
        }
    }

    /// The transaction: inbox row, handler, commit.
    async fn apply(&self, msg: &Delivered, prepared: &H::Prepared) -> Result<Step, HandlerError> {
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
        let step = match outcome {
            Outcome::Done => Step::Done,
            Outcome::RetryLater { reason } => Step::Retry(reason),
            Outcome::Reject { reason } => Step::Reject(reason),
        };
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
    fn committed(&self) {
        if let Some(relay) = &self.inner.config.wake_after_commit {
            relay.notify_one();
        }
        // Committed, not yet acknowledged: a crash here must mean a redelivery that step 3
        // recognises (or, for a retry or a rejection, a handler run again), never a lost effect.
        fault_points::reached(fault_points::AFTER_COMMIT);
    }

    /// Acknowledges; `false` if the channel is gone (the message returns to the queue, and comes
    /// back as a duplicate).
    async fn ack(&self, delivery: &Delivery, outcome: &'static str) -> bool {
        match delivery.ack(BasicAckOptions::default()).await {
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

    async fn nack_requeue(&self, delivery: &Delivery, outcome: &'static str) {
        match delivery.nack(BasicNackOptions { multiple: false, requeue: true }).await {
            Ok(_) => self.count(outcome),
            Err(e) => {
                tracing::warn!(error = %e, "nack failed; the message returns to the queue with the channel")
            }
        }
    }

    fn publish_failed(&self) {
        if !self.publisher.is_open() {
            self.broken.cancel();
        }
    }

    async fn retry(&self, delivery: &Delivery, msg: &Delivered, reason: &str) {
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
                        self.inner
                            .metrics
                            .retries
                            .get_or_create(&RetryLabels {
                                consumer: cfg.name.clone(),
                                queue: cfg.queue.clone(),
                                tier,
                            })
                            .inc();
                        let _ = self.ack(delivery, "retried").await;
                    }
                    Ok(RetryDecision::Exhausted { attempts }) => {
                        let reason =
                            format!("retries exhausted after {attempts} retries; last error: {reason}");
                        tracing::error!(%reason, "dead-lettering");
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

    /// A copy with the reason to the DLQ, then ack; if that copy cannot be published, a reject
    /// without requeue lets the broker dead-letter the message (without our reason).
    async fn dead_letter(&self, delivery: &Delivery, kind: &'static str, reason: &str) {
        let cfg = &self.inner.config;
        let published = dead_letter(
            &self.publisher,
            &self.inner.topology,
            &cfg.queue,
            &cfg.name,
            &delivery.properties,
            &delivery.data,
            reason,
        )
        .await;
        let done = match published {
            Ok(()) => self.ack(delivery, "dead_lettered").await,
            Err(e) => {
                tracing::error!(error = %e, %reason,
                    "could not publish the dead-letter copy; rejecting so that the broker dead-letters it (without the reason)");
                self.publish_failed();
                match delivery.reject(BasicRejectOptions { requeue: false }).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_key_waits_other_keys_do_not() {
        let order = KeyOrder::default();
        let mut a1 = order.turn(Some("a"));
        let mut a2 = order.turn(Some("a"));
        let mut b1 = order.turn(Some("b"));
        let mut none = order.turn(None);
        assert!(a1.previous.take().is_none());
        assert!(b1.previous.take().is_none());
        assert!(none.previous.take().is_none());
        let mut wait = a2.previous.take().expect("a2 waits for a1");
        assert!(wait.try_recv().is_err_and(|e| e == oneshot::error::TryRecvError::Empty));
        drop(a1);
        assert!(wait.await.is_err(), "a1 finished: a2 may go");
        drop((a2, b1));
        assert!(order.last.lock().unwrap().is_empty(), "finished keys are forgotten");
    }
}
