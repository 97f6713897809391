//! `order.report`: tell upstream the order's current state again, for a duplicate command or a
//! `query` command. Nothing is asked of the provider and nothing changes; the event carries the id
//! of the version it reports, so upstream recognises it as one it may already have (and a
//! sequence number of its own).
//!
//! The same answer closes every other command's work that changed nothing ([`answer_unheard`]):
//! a `close` of a payment already paid, a decision on a refund already decided. A command that
//! names a `reply_to` is always answered there.

use crate::events::{self, ReplyTo};
use crate::order::{Order, WorkError};
use paygate::broker::consumer::Outcome;
use paygate::store::StoredRow;
use paygate::store::refunds::Refund;
use uuid::Uuid;

pub async fn apply(
    order: &mut Order<'_>,
    refund_id: Option<Uuid>,
    reply_to: Option<String>,
    correlation_id: Option<String>,
) -> Result<Outcome, WorkError> {
    let reply = reply_to.as_deref().map(|queue| ReplyTo { queue, correlation_id: correlation_id.as_deref() });
    tell(order, refund_id, reply).await
}

/// Answers the work's `reply_to` with the order's current state (the refund's when the work is
/// about one) if the work told upstream nothing: the command it carries out is answered even when
/// there was nothing to do.
pub async fn answer_unheard(order: &mut Order<'_>, refund_id: Option<Uuid>) -> Result<(), WorkError> {
    if !order.told_nothing() {
        return Ok(());
    }
    let cause = order.cause;
    let Some(queue) = cause.reply_to.as_deref() else { return Ok(()) };
    let correlation_id = Some(cause.correlation_id.clone().unwrap_or_else(|| cause.message_id.to_string()));
    let reply = ReplyTo { queue, correlation_id: correlation_id.as_deref() };
    tell(order, refund_id, Some(reply)).await.map(|_| ())
}

/// The order's (or the refund's) current state as an event, to the events exchange and `reply`.
async fn tell(
    order: &mut Order<'_>,
    refund_id: Option<Uuid>,
    reply: Option<ReplyTo<'_>>,
) -> Result<Outcome, WorkError> {
    let refund = match refund_id {
        None => None,
        Some(id) => match Refund::get(order.db().await?.conn, id).await? {
            Some(refund) => Some(refund),
            None => return Ok(Outcome::Reject { reason: format!("no refund {id}") }),
        },
    };
    let (deps, cause) = (order.deps, order.cause);
    let db = order.db().await?;
    let event = match &refund {
        None => events::payment_event(db.payment, None),
        Some(refund) => events::refund_event(db.payment, refund, None),
    };
    events::emit(db.conn, &deps.topology, (db.payment, refund.as_ref()), event, cause, reply).await?;
    Ok(Outcome::Done)
}
