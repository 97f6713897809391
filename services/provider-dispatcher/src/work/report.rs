//! `order.report`: tell upstream the order's current state again, for a duplicate command or a
//! `query` command. Nothing is asked of the provider and nothing changes; the event carries the id
//! of the version it reports, so upstream recognises it as one it may already have.

use crate::events::{self, ReplyTo};
use crate::order::{Order, WorkError};
use paygate::broker::consumer::Outcome;
use paygate::store::refunds;
use uuid::Uuid;

pub async fn apply(
    order: &mut Order<'_>,
    refund_id: Option<Uuid>,
    reply_to: Option<String>,
    correlation_id: Option<String>,
) -> Result<Outcome, WorkError> {
    let event = match refund_id {
        None => events::payment_event(&order.payment, None),
        Some(id) => {
            let Some(refund) = refunds::get(order.db().await?.conn, id).await? else {
                return Ok(Outcome::Reject { reason: format!("no refund {id}") });
            };
            events::refund_event(&order.payment, &refund, None)
        }
    };
    let reply = reply_to.as_deref().map(|queue| ReplyTo { queue, correlation_id: correlation_id.as_deref() });
    let (deps, cause) = (order.deps, order.cause);
    events::emit(order.db().await?.conn, &deps.topology, &event, cause, reply).await?;
    Ok(Outcome::Done)
}
