//! The raw exchange log, written as each provider call ends and committed on its own, outside the
//! order's transaction: if the process dies before the order's transaction commits, the log still
//! shows what was sent and what came back (docs/architecture.md, decision 11). It has its own small
//! pool so that a handler holding a connection for its transaction never waits on itself.
//!
//! Calls that end at about the same moment (the orders of one batch, or of several shards) are
//! appended together: [`ExchangeLog::record`] hands its exchange to the log's writers and waits
//! until it is committed; each writer takes every exchange waiting (up to [`MAX_ROWS`]) and
//! appends them in one statement. The work after a call still goes on only once the call's
//! record is committed, as if it had been written alone; under load it costs one statement and
//! one commit per group instead of per call.

use paygate::providers::Exchange;
use paygate::store::exchanges;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// The most exchanges one statement appends.
pub const MAX_ROWS: usize = 64;

/// Exchanges waiting for a writer, at most; a call that finds the queue full waits.
const QUEUE: usize = 1024;

/// The log could not be written (the database's error, shared by every call of the group, and
/// kept as the source).
#[derive(Debug, Clone)]
pub struct LogError(Arc<sqlx::Error>);

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the exchange log's write failed")
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.database())
    }
}

impl LogError {
    /// The database's error (as `source`, so that an unreachable database is seen as one).
    fn database(&self) -> &sqlx::Error {
        &self.0
    }
}

#[derive(Clone, Debug)]
pub struct ExchangeLog {
    queue: mpsc::Sender<Entry>,
}

#[derive(Debug)]
struct Entry {
    payment_id: Uuid,
    refund_id: Option<Uuid>,
    exchange: Exchange,
    committed: oneshot::Sender<Result<(), LogError>>,
}

impl ExchangeLog {
    /// The log on its own pool of `connections` to `database_url`, opened as they are needed,
    /// with one writer per connection. The writers stop when the last handle is dropped.
    ///
    /// Its connections commit without waiting for the WAL flush (`synchronous_commit = off`,
    /// set when each connection opens, so a record is one statement and one round trip): the
    /// order's own transaction, which commits after the record with a synchronous commit,
    /// flushes the WAL up to and including it. Only a database crash in the same instant, before
    /// the order's commit, could lose a record, and then the order's work never committed either:
    /// the message is redelivered, the call repeated under the same idempotency key, and logged
    /// again.
    pub fn connect_lazy(database_url: &str, connections: u32) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(database_url)?
            .options([("synchronous_commit", "off"), ("statement_timeout", "30s")]);
        let pool = PgPoolOptions::new().max_connections(connections).connect_lazy_with(options);
        let (queue, waiting) = mpsc::channel(QUEUE);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..connections.max(1) {
            tokio::spawn(write(pool.clone(), waiting.clone()));
        }
        Ok(Self { queue })
    }

    /// Records one exchange for a payment (and refund), and returns once it is committed. A
    /// failure is returned: the caller treats it as transient, so the message is retried and the
    /// call repeated under its idempotency key rather than an exchange going unrecorded.
    pub async fn record(
        &self,
        payment_id: Uuid,
        refund_id: Option<Uuid>,
        exchange: &Exchange,
    ) -> Result<(), LogError> {
        let closed = || LogError(Arc::new(sqlx::Error::PoolClosed));
        if crate::fault_points::fails(crate::fault_points::EXCHANGE_LOG_FAILS) {
            return Err(LogError(Arc::new(sqlx::Error::Protocol("fault point: the write fails".into()))));
        }
        let (committed, done) = oneshot::channel();
        let entry = Entry { payment_id, refund_id, exchange: exchange.clone(), committed };
        self.queue.send(entry).await.map_err(|_| closed())?;
        done.await.map_err(|_| closed())?
    }
}

/// One writer: takes the exchanges waiting, appends them in one statement, tells each caller.
async fn write(pool: PgPool, waiting: Arc<Mutex<mpsc::Receiver<Entry>>>) {
    loop {
        let mut entries = Vec::new();
        {
            let mut waiting = waiting.lock().await;
            match waiting.recv().await {
                Some(entry) => entries.push(entry),
                None => return, // every handle is gone
            }
            while entries.len() < MAX_ROWS {
                match waiting.try_recv() {
                    Ok(entry) => entries.push(entry),
                    Err(_) => break,
                }
            }
        }
        let rows: Vec<exchanges::Logged<'_>> =
            entries.iter().map(|e| (Some(e.payment_id), e.refund_id, &e.exchange)).collect();
        let written = async {
            let mut conn = pool.acquire().await?;
            exchanges::record_many(&mut conn, &rows).await
        };
        let result = written.await.map_err(|e| LogError(Arc::new(e)));
        drop(rows);
        for entry in entries {
            let _ = entry.committed.send(result.clone());
        }
    }
}
