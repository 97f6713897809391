//! `command.close`: close an unpaid payment.
//!
//! parse: [`OrderRef`] (merchant and order number).
//! apply: the payment must exist. Whether it can still be closed is the dispatcher's to decide
//! under the payment's lock (a payment may be paid while the close is on its way).
//! emit: `order.close` with reason `requested`.

use super::{CommandOutcome, Context, Rejection, RejectionKind, route, store_error};
use paygate::broker::consumer::HandlerError;
use paygate::domain::ValidationError;
use paygate::messages::commands::OrderRef;
use paygate::messages::orders::{CloseReason, OrderWork};
use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use sqlx::PgConnection;

pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &OrderRef,
) -> Result<CommandOutcome, HandlerError> {
    let merchant = cmd.merchant_id.as_str();
    let order_no = cmd.merchant_order_no.as_str();
    let Some(payment) = Payment::find_by_number(conn, merchant, order_no).await.map_err(store_error)? else {
        let rule = format!("no payment with this number for merchant {merchant}");
        let error = ValidationError::new("merchant_order_no", rule);
        return Ok(Rejection::of_kind(RejectionKind::NotFound, merchant, Some(order_no), error));
    };
    route(conn, ctx, &OrderWork::Close { payment_id: payment.id, reason: CloseReason::Requested }).await?;
    Ok(CommandOutcome::Accepted)
}
