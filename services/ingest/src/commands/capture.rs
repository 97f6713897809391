//! `command.capture`: take all or part of an authorised payment (one paid with `capture: manual`).
//!
//! parse: [`CaptureCommand`] (the payment's order number, amount and currency).
//! apply: a payment is captured once, so its order number is the capture's idempotency key: the
//! same capture again (the amount the dispatcher committed, the payment `capturing` or captured)
//! is a repeat (`order.report` of the payment); another amount is a conflict, rejected naming
//! `amount`. Otherwise the payment must exist, have been paid with manual capture, be in the
//! command's currency, be `authorized`, and the amount must be at most the authorised amount
//! (`state_machine::capture::check`). That check reads without a lock, to refuse early: the
//! dispatcher checks again under the payment's lock before it sends anything.
//! emit: `order.capture` with the amount.

use super::{CommandOutcome, Context, Rejection, RejectionKind, route, store_error};
use paygate::broker::consumer::HandlerError;
use paygate::domain::{CaptureMode, ValidationError};
use paygate::messages::commands::CaptureCommand;
use paygate::messages::orders::OrderWork;
use paygate::state_machine::capture;
use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use sqlx::PgConnection;

pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &CaptureCommand,
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
        return Ok(reject_as(RejectionKind::WrongState, not_manual()));
    }
    if let Some(requested) = payment.capture_requested {
        if requested == cmd.amount {
            super::report(conn, ctx, payment.id).await?;
            return Ok(CommandOutcome::Duplicate);
        }
        let rule = format!(
            "idempotency conflict: the payment was captured for {requested} already (a payment is captured once)"
        );
        return Ok(reject_as(RejectionKind::IdempotencyConflict, ValidationError::new("amount", rule)));
    }
    if let Err(refused) = capture::check(payment.state, payment.amount, cmd.amount) {
        return Ok(reject_as(state_or_field(&refused), refused));
    }
    route(conn, ctx, &OrderWork::Capture { payment_id: payment.id, amount: cmd.amount }).await?;
    Ok(CommandOutcome::Accepted)
}

/// What kind of refusal a failed [`capture::check`] is: one about the payment's state (it names
/// the order) answers `wrong_state` over HTTP, one about the amount or currency `invalid_field`.
fn state_or_field(refused: &ValidationError) -> RejectionKind {
    if refused.field() == "merchant_order_no" { RejectionKind::WrongState } else { RejectionKind::Invalid }
}

/// A capture or void of a payment whose money was taken when the customer paid.
pub fn not_manual() -> ValidationError {
    ValidationError::new(
        "merchant_order_no",
        "the payment was made with capture automatic: its money was taken when the customer paid; \
         only a payment made with capture manual can be captured or voided",
    )
}
