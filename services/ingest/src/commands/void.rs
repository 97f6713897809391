//! `command.void`: release an authorised payment's hold on the customer's money, taking none of it.
//!
//! parse: [`OrderRef`] (merchant and order number).
//! apply: the payment must exist and have been paid with manual capture. A payment already
//! `voiding` or `voided` is a repeat (`order.report`); otherwise it must be `authorized`
//! (`state_machine::capture::check_void`: a captured payment is refunded, not voided). The check
//! reads without a lock; the dispatcher decides under the payment's lock.
//! emit: `order.void` with reason `requested`.

use super::{CommandOutcome, Context, Rejection, RejectionKind, route, store_error};
use paygate::broker::consumer::HandlerError;
use paygate::domain::{CaptureMode, ValidationError};
use paygate::messages::commands::OrderRef;
use paygate::messages::orders::{OrderWork, VoidReason};
use paygate::state_machine::{PaymentState, capture};
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
    let reject_as = |kind: RejectionKind, error: ValidationError| {
        Rejection::of_kind(kind, merchant, Some(order_no), error)
    };
    let Some(payment) = Payment::find_by_number(conn, merchant, order_no).await.map_err(store_error)? else {
        let rule = format!("no payment with this number for merchant {merchant}");
        return Ok(reject_as(RejectionKind::NotFound, ValidationError::new("merchant_order_no", rule)));
    };
    if payment.capture_mode != CaptureMode::Manual {
        return Ok(reject_as(RejectionKind::WrongState, super::capture::not_manual()));
    }
    if matches!(payment.state, PaymentState::Voiding | PaymentState::Voided) {
        super::report(conn, ctx, payment.id).await?;
        return Ok(CommandOutcome::Duplicate);
    }
    if let Err(refused) = capture::check_void(payment.state) {
        return Ok(reject_as(RejectionKind::WrongState, refused));
    }
    route(conn, ctx, &OrderWork::Void { payment_id: payment.id, reason: VoidReason::Requested }).await?;
    Ok(CommandOutcome::Accepted)
}
