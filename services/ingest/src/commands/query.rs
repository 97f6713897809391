//! `command.query`: the current state of a payment, or of one of its refunds.
//!
//! parse: [`QueryCommand`] (merchant, order number, optional refund number).
//! apply: the payment must exist, and the refund too when one is named (and be that payment's).
//! emit: `order.report`, carrying `reply_to` and the correlation id, so the dispatcher answers
//! the asker with the order's state as the database holds it.

use super::{CommandOutcome, Context, Rejection, RejectionKind, route, store_error};
use paygate::broker::consumer::HandlerError;
use paygate::domain::ValidationError;
use paygate::messages::commands::QueryCommand;
use paygate::messages::orders::OrderWork;
use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use paygate::store::refunds::Refund;
use sqlx::PgConnection;

pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &QueryCommand,
) -> Result<CommandOutcome, HandlerError> {
    let merchant = cmd.merchant_id.as_str();
    let order_no = cmd.merchant_order_no.as_str();
    let reject =
        |error: ValidationError| Rejection::of_kind(RejectionKind::NotFound, merchant, Some(order_no), error);
    let Some(payment) = Payment::find_by_number(conn, merchant, order_no).await.map_err(store_error)? else {
        let rule = format!("no payment with this number for merchant {merchant}");
        return Ok(reject(ValidationError::new("merchant_order_no", rule)));
    };
    let refund_id = match &cmd.refund_no {
        None => None,
        Some(refund_no) => {
            match Refund::find_by_number(conn, merchant, refund_no.as_str()).await.map_err(store_error)? {
                Some(refund) if refund.payment_id == payment.id => Some(refund.id),
                _ => {
                    let rule =
                        format!("no refund with this number for payment {order_no} of merchant {merchant}");
                    return Ok(reject(ValidationError::new("refund_no", rule)));
                }
            }
        }
    };
    let report = OrderWork::Report {
        payment_id: payment.id,
        refund_id,
        reply_to: ctx.cause.reply_to.clone(),
        correlation_id: ctx.cause.correlation_id.clone(),
    };
    route(conn, ctx, &report).await?;
    Ok(CommandOutcome::Accepted)
}
