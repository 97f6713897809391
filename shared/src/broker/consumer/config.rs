//! How a consumer is set up ([`ConsumerConfig`]): its queue, prefetch, concurrency, batches,
//! appliers, retry strategy and shutdown grace, and the settings that cannot work
//! ([`ConsumerConfigError`]).

use std::sync::Arc;
use std::time::Duration;

use crate::broker::topology::Topology;

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
    /// For a handler that prepares: how many transactions apply prepared messages at once
    /// (`appliers.rs`), each taking up to `batch` of them; 0: each job applies its own.
    pub appliers: usize,
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
            appliers: 2,
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
    /// See [`ConsumerConfig::appliers`].
    pub fn with_appliers(mut self, appliers: usize) -> Self {
        self.appliers = appliers;
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
