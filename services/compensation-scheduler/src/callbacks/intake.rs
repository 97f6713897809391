//! From the events exchange to the deliveries owed: the consumer of `{p}.events.callbacks`
//! (bound to the events exchange with `payment.#` and `refund.#`, like any upstream's queue).
//!
//! For each event, in the consumer's transaction with its inbox row, one statement inserts a
//! `callback_deliveries` row for every active endpoint of the event's merchant whose filters
//! take it (its order type, its kind; an empty filter takes all), due now. The row is unique
//! per (endpoint, event message): a message the broker delivers twice is owed once. Nothing is
//! sent here: the [`sender`](super::sender) does that, woken after the commit (the consumer's
//! `wake_after_commit`). So a slow or dead
//! merchant never holds this queue, and this queue never holds the money path (the dispatcher
//! publishes to the exchange and is done).

use paygate::broker::consumer::{Batched, Delivered, Handler, HandlerError, Outcome};
use paygate::messages::events::OrderEvent;
use sqlx::{Postgres, Transaction};

/// The consumer's name (its inbox and metrics label).
pub const CONSUMER: &str = "compensation-scheduler/callbacks";

/// Owes each event to the endpoints that want it.
pub struct Intake;

impl Handler for Intake {
    type Prepared = ();

    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        _: &(),
    ) -> Result<Outcome, HandlerError> {
        owe(tx, msg).await?;
        Ok(Outcome::Done)
    }

    /// Events waiting together are owed in one transaction (each is one statement and always
    /// done), so a busy events exchange costs a commit per batch, not per event.
    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &())],
    ) -> Result<Batched, HandlerError> {
        for (msg, _) in msgs {
            owe(tx, msg).await?;
        }
        Ok(Batched::AllDone)
    }
}

/// Owes `msg`'s event to every endpoint that wants it; returns how many.
async fn owe(tx: &mut Transaction<'static, Postgres>, msg: &Delivered) -> Result<u64, HandlerError> {
    let event: OrderEvent = msg.payload()?;
    // The exact bytes every attempt will POST and sign.
    let body = serde_json::to_string(&msg.envelope.payload).map_err(HandlerError::permanent)?;
    let owed = sqlx::query(
        "INSERT INTO callback_deliveries
                    (endpoint_id, message_id, event_id, kind, payment_id, sequence, body, next_attempt_at)
             SELECT e.id, $1, $2, $3, $4, $5, $6, now()
               FROM callback_endpoints e
              WHERE e.merchant_id = $7 AND e.removed_at IS NULL
                AND (cardinality(e.order_types) = 0 OR $8 = ANY (e.order_types))
                AND (cardinality(e.event_kinds) = 0 OR $3 = ANY (e.event_kinds))
             ON CONFLICT (endpoint_id, message_id) DO NOTHING",
    )
    .bind(msg.envelope.message_id)
    .bind(event.event_id)
    .bind(&event.kind)
    .bind(event.payment_id)
    .bind(event.sequence)
    .bind(&body)
    .bind(&event.merchant_id)
    .bind(&event.order_type)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if owed > 0 {
        tracing::debug!(event_id = %event.event_id, kind = %event.kind, owed, "callbacks owed");
    }
    Ok(owed)
}
