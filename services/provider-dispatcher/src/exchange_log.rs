//! The raw exchange log, written as each provider call ends and committed on its own, outside the
//! order's transaction: if the process dies before the order's transaction commits, the log still
//! shows what was sent and what came back (ARCHITECTURE.md, decision 11). It has its own small
//! pool so that a handler holding a connection for its transaction never waits on itself.

use paygate::providers::Exchange;
use paygate::store::exchanges;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct ExchangeLog {
    pool: PgPool,
}

impl ExchangeLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records one exchange for a payment (and refund). A failure is returned: the caller treats
    /// it as transient, so the message is retried and the call repeated under its idempotency key
    /// rather than an exchange going unrecorded.
    pub async fn record(
        &self,
        payment_id: Uuid,
        refund_id: Option<Uuid>,
        exchange: &Exchange,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // No wait for the WAL flush: the order's own transaction, which commits after this one
        // with a synchronous commit, flushes the WAL up to and including this row. Only a
        // database crash in the same instant, before the order's commit, could lose it, and
        // then the call is repeated and logged again under the same idempotency key.
        sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await?;
        exchanges::record(&mut tx, Some(payment_id), refund_id, exchange).await?;
        tx.commit().await?;
        Ok(())
    }
}
