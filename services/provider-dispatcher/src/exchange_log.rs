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
        let mut conn = self.pool.acquire().await?;
        exchanges::record(&mut conn, Some(payment_id), refund_id, exchange).await?;
        Ok(())
    }
}
