//! The transactional outbox (docs/architecture.md, decision 4).
//!
//! A state change and the messages it emits commit together: [`enqueue`] inserts the message
//! into `outbox` inside the caller's transaction, and nothing is published unless that
//! transaction commits. The [`OutboxRelay`] then publishes what is committed:
//!
//! 1. in a transaction, take the relays' turn and claim the oldest unpublished rows ([`claim`]);
//! 2. publish them all (pipelined, in the outbox's order) and wait for the broker's confirms;
//! 3. set `published_at` on the confirmed ones and commit.
//!
//! **One relay at a time.** Every service instance runs a relay on the one outbox, and an
//! order's messages must reach their queue in the order they were committed (an order's close
//! must not overtake its pay). So a relay takes a turn (a transaction-scoped advisory lock)
//! before it claims, and keeps it until its batch is marked: another relay waits for it, then
//! claims from the first row still unpublished. Claiming with `SKIP LOCKED` instead let a second
//! relay pass over a busy relay's rows and publish the same orders' later messages first; killing
//! database connections amid pays and closes showed it (`ordering::killing_the_database_…`). A
//! relay whose session dies mid-batch gives its turn up with it, and the next republishes the
//! batch from its first row, so an order's first copy of each message still arrives in order.
//!
//! A crash or an outage between 2 and 3 leaves rows unmarked, and they are published again: the
//! relay publishes at least once, always with the row's message id, and consumers deduplicate
//! on it. Between batches the relay waits for the poll interval (50 ms by default), or less if
//! woken through [`OutboxRelay::waker`] (a service can wake it right after committing).
//! LISTEN/NOTIFY is not used: `NOTIFY` takes a database-wide lock at commit, which would
//! serialise every payment transaction, and 50 ms of added latency is cheap.
//!
//! Database errors are retried with backoff inside the session; a broken broker connection ends
//! the session and the [`Supervisor`] reconnects.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use lapin::Connection;
use lapin::types::ShortString;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::connection::{SessionError, Supervisor};
use super::envelope::{Envelope, EnvelopeError};
use super::metrics::{BrokerMetrics, ExchangeLabels};
use super::publisher::{PublishError, Publisher};
use super::topology::Topology;
use crate::db::advisory_locks;

/// Enqueuing failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("invalid {what} {name:?}: longer than 255 bytes")]
    InvalidName { what: &'static str, name: String },
    #[error("outbox insert failed: {0}")]
    Db(#[from] sqlx::Error),
}

/// A message checked and encoded for the outbox, not yet inserted: [`enqueue_prepared`] inserts
/// it, or a store function inserts it in the same statement as the change that emits it (one
/// round trip for both; see `store::payments::record`).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub message_id: uuid::Uuid,
    pub exchange: String,
    pub routing_key: String,
    /// The envelope as JSON text (stored as `jsonb`).
    pub envelope: String,
}

/// Checks `envelope` for what would make it unpublishable (an empty order key, an over-long
/// type, an over-long exchange or routing key), so that a bad message fails in the transaction
/// that made it, not later in the relay; and encodes it.
pub fn prepare<P: Serialize>(
    exchange: &str,
    routing_key: &str,
    envelope: &Envelope<P>,
) -> Result<Prepared, OutboxError> {
    envelope.amqp_properties()?;
    ShortString::try_new(exchange)
        .map_err(|_| OutboxError::InvalidName { what: "exchange", name: exchange.into() })?;
    ShortString::try_new(routing_key)
        .map_err(|_| OutboxError::InvalidName { what: "routing key", name: routing_key.into() })?;
    Ok(Prepared {
        message_id: envelope.message_id,
        exchange: exchange.to_owned(),
        routing_key: routing_key.to_owned(),
        envelope: serde_json::to_string(envelope).map_err(EnvelopeError::Encode)?,
    })
}

/// The outbox's columns of `messages`, as arrays borrowed from them: what a statement inserting
/// them binds, in this order, for `UNNEST($n::uuid[], $n+1::text[], $n+2::text[],
/// $n+3::text[]::jsonb[])`.
pub type Columns<'m> = (Vec<uuid::Uuid>, Vec<&'m str>, Vec<&'m str>, Vec<&'m str>);

/// See [`Columns`].
pub fn columns(messages: &[Prepared]) -> Columns<'_> {
    columns_of(messages)
}

/// [`columns`] of messages kept in several places (say, one slice per order of a batch).
pub fn columns_of<'m>(messages: impl IntoIterator<Item = &'m Prepared>) -> Columns<'m> {
    let mut c: Columns<'m> = Default::default();
    for m in messages {
        c.0.push(m.message_id);
        c.1.push(&m.exchange);
        c.2.push(&m.routing_key);
        c.3.push(&m.envelope);
    }
    c
}

/// The part of a statement that inserts messages bound as [`Columns`] from parameter `$first`
/// on, as a CTE named `queued`, when the CTE `guard` returned a row (the change they tell of
/// happened).
pub fn queued_cte(guard: &str, first: usize) -> String {
    let (a, b, c, d) = (first, first + 1, first + 2, first + 3);
    format!(
        "queued AS (
            INSERT INTO outbox (message_id, exchange, routing_key, envelope)
            SELECT * FROM UNNEST(${a}::uuid[], ${b}::text[], ${c}::text[], ${d}::text[]::jsonb[])
             WHERE EXISTS (SELECT 1 FROM {guard}))"
    )
}

/// Adds a message to the outbox in the caller's transaction (pass `&mut *tx`), checked as
/// [`prepare`] checks it.
pub async fn enqueue<P: Serialize>(
    conn: &mut PgConnection,
    exchange: &str,
    routing_key: &str,
    envelope: &Envelope<P>,
) -> Result<(), OutboxError> {
    Ok(enqueue_prepared(conn, &[prepare(exchange, routing_key, envelope)?]).await?)
}

/// Inserts prepared messages in one statement, in the caller's transaction.
pub async fn enqueue_prepared(conn: &mut PgConnection, messages: &[Prepared]) -> Result<(), sqlx::Error> {
    insert(conn, messages, "").await
}

/// [`enqueue_prepared`] for messages that may have been in the outbox before under the same id
/// (work whose every copy carries one message id, `OrderWork::stable_message_id`): a new id is
/// inserted, and a row already there is marked to be published again (`published_at` cleared),
/// as the message it was, enqueued now (`created_at`, from which the relay's lag is measured:
/// compensation-scheduler's `paygate_outbox_oldest_unpublished_age_seconds`). One statement, in
/// the caller's transaction.
pub async fn enqueue_again(conn: &mut PgConnection, messages: &[Prepared]) -> Result<(), sqlx::Error> {
    insert(conn, messages, "ON CONFLICT (message_id) DO UPDATE SET published_at = NULL, created_at = now()")
        .await
}

/// The one outbox insert of [`enqueue_prepared`] and [`enqueue_again`], with their conflict rule.
async fn insert(
    conn: &mut PgConnection,
    messages: &[Prepared],
    on_conflict: &'static str,
) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let (ids, exchanges, keys, bodies) = columns(messages);
    let sql = format!(
        "INSERT INTO outbox (message_id, exchange, routing_key, envelope)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]::jsonb[]) {on_conflict}"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&ids)
        .bind(&exchanges)
        .bind(&keys)
        .bind(&bodies)
        .execute(conn)
        .await?;
    Ok(())
}

/// One row claimed for publishing: its id, exchange, routing key and envelope.
pub type Claimed = (i64, String, String, serde_json::Value);

/// Step 1 in `tx`: waits for the relays' turn ([`advisory_locks::OUTBOX_RELAY_TURN`], held until
/// `tx` ends), then claims up to `limit` of the oldest unpublished rows, in the order they must
/// be published.
pub async fn claim(tx: &mut PgConnection, limit: u32) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(advisory_locks::OUTBOX_RELAY_TURN)
        .execute(&mut *tx)
        .await?;
    sqlx::query_as(
        "SELECT id, exchange, routing_key, envelope FROM outbox WHERE published_at IS NULL \
         ORDER BY id LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(tx)
    .await
}

/// How the relay works.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Rows claimed (and published) per transaction. One relay publishes at a time, for every
    /// service, so this is what the system publishes per round of confirms: 500, where 100 took
    /// the 5,000-payment bench from 0.52 of its floor to 0.37 (docs/benchmarks.md, "One relay at
    /// a time, and its batch").
    pub batch_size: u32,
    /// The wait between batches when the outbox is empty.
    pub poll_interval: Duration,
    /// Backoff after a database error or a failed publish.
    pub error_backoff: ExponentialBuilder,
    /// How long to wait for the broker's confirms of a batch (the relays' turn is held
    /// meanwhile). After that the session is restarted on a new connection.
    pub confirm_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(50),
            error_backoff: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(5))
                .with_jitter()
                .without_max_times(),
            confirm_timeout: Duration::from_secs(30),
        }
    }
}

/// A relay batch failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("outbox publish failed: {0}")]
    Publish(#[from] PublishError),
}

/// Publishes the outbox. See the module documentation.
pub struct OutboxRelay {
    pool: PgPool,
    topology: Arc<Topology>,
    config: RelayConfig,
    metrics: BrokerMetrics,
    wake: Arc<Notify>,
}

impl OutboxRelay {
    pub fn new(pool: PgPool, topology: Arc<Topology>, metrics: BrokerMetrics) -> Self {
        Self { pool, topology, config: RelayConfig::default(), metrics, wake: Arc::new(Notify::new()) }
    }

    pub fn with_config(mut self, config: RelayConfig) -> Self {
        self.config = config;
        self
    }

    /// `notify_one()` on this wakes the relay before its poll interval is up.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Relays until `shutdown` is cancelled, reconnecting through `supervisor` as needed.
    pub async fn run(&self, supervisor: &Supervisor, shutdown: &CancellationToken) {
        supervisor.run(shutdown, |conn| self.session(conn, shutdown.clone())).await
    }

    /// One session on `conn`: `Ok` on shutdown, `Err` when the broker connection broke.
    pub async fn session(
        &self,
        conn: Arc<Connection>,
        shutdown: CancellationToken,
    ) -> Result<(), SessionError> {
        let publisher = Publisher::new(&conn).await?;
        let result = self.relay_until_shutdown(&publisher, &shutdown).await;
        publisher.close().await;
        result
    }

    async fn relay_until_shutdown(
        &self,
        publisher: &Publisher,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionError> {
        let mut db_delays: Option<backon::ExponentialBackoff> = None;
        let mut publish_delays: Option<backon::ExponentialBackoff> = None;
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            // Notice a lost connection even while there is nothing to publish, so that the
            // supervisor reconnects (and reports not ready) at once.
            if !publisher.is_open() {
                return Err(SessionError::Other("the outbox publishing channel closed".into()));
            }
            let wait = match self.relay_batch(publisher).await {
                // A full batch means more may be waiting: no pause.
                Ok(n) => {
                    if db_delays.take().is_some() || publish_delays.take().is_some() {
                        tracing::info!("outbox relay recovered");
                    }
                    if n >= self.config.batch_size as usize {
                        continue;
                    }
                    self.config.poll_interval
                }
                Err(RelayError::Db(e)) => {
                    let delay = db_delays.get_or_insert_with(|| self.config.error_backoff.build()).next();
                    let delay = delay.unwrap_or(Duration::from_secs(5));
                    tracing::warn!(error = %e, retry_in = ?delay, "outbox relay: database unavailable");
                    delay
                }
                Err(RelayError::Publish(e)) => {
                    self.metrics.outbox_publish_failures.inc();
                    if !publisher.is_open() || matches!(e, PublishError::ConfirmTimeout { .. }) {
                        return Err(SessionError::Other(format!("outbox publishing channel broke: {e}")));
                    }
                    let delay =
                        publish_delays.get_or_insert_with(|| self.config.error_backoff.build()).next();
                    let delay = delay.unwrap_or(Duration::from_secs(5));
                    tracing::warn!(error = %e, retry_in = ?delay, "outbox relay: publish failed");
                    delay
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One claim-publish-mark cycle; returns how many rows it published. Rows whose publish was
    /// confirmed are marked even if others failed (then the first failure is returned).
    pub async fn relay_batch(&self, publisher: &Publisher) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        // Marking rows published need not wait for the WAL flush: a mark lost with a database
        // crash only means the rows are published again, which consumers recognise (inbox,
        // stable event ids). It saves a flush per batch on the hot path.
        sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await?;
        let rows = claim(&mut tx, self.config.batch_size).await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let mut pending = Vec::with_capacity(rows.len());
        let mut failure: Option<PublishError> = None;
        for (id, exchange, routing_key, envelope) in &rows {
            let envelope: Envelope<serde_json::Value> = match serde_json::from_value(envelope.clone()) {
                Ok(e) => e,
                Err(e) => {
                    // Cannot happen for rows written by `enqueue`; leave the row for a person.
                    tracing::error!(outbox_id = id, error = %e, "outbox row does not hold an envelope; skipping it");
                    continue;
                }
            };
            let routing = self.topology.routing_for(exchange);
            match publisher.send(exchange, routing_key, &envelope, routing).await {
                Ok(p) => pending.push((*id, exchange, p)),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let mut published = Vec::with_capacity(pending.len());
        let deadline = tokio::time::Instant::now() + self.config.confirm_timeout;
        for (id, exchange, p) in pending {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match p.confirmed_within(left).await {
                Ok(()) => {
                    published.push(id);
                    self.metrics
                        .outbox_published
                        .get_or_create(&ExchangeLabels { exchange: exchange.clone() })
                        .inc();
                }
                Err(e) => {
                    tracing::warn!(outbox_id = id, error = %e, "outbox message not confirmed");
                    failure.get_or_insert(e);
                }
            }
        }
        if !published.is_empty() {
            sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
                .bind(&published)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(published.len()),
        }
    }
}
