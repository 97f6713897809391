//! The raw exchange log, written as each provider call ends and committed on its own, outside the
//! order's transaction: if the process dies before the order's transaction commits, the log still
//! shows what was sent and what came back (ARCHITECTURE.md, decision 11). It has its own small
//! pool so that a handler holding a connection for its transaction never waits on itself.

use paygate::providers::Exchange;
use paygate::store::exchanges;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct ExchangeLog {
    pool: PgPool,
}

impl ExchangeLog {
    /// The log on its own pool of `connections` to `database_url`, opened as they are needed.
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
        Ok(Self { pool })
    }

    /// Records one exchange for a payment (and refund), committed on its own. A failure is
    /// returned: the caller treats it as transient, so the message is retried and the call
    /// repeated under its idempotency key rather than an exchange going unrecorded.
    pub async fn record(
        &self,
        payment_id: Uuid,
        refund_id: Option<Uuid>,
        exchange: &Exchange,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        exchanges::record(&mut conn, Some(payment_id), refund_id, exchange).await?;
        Ok(())
    }
}
