//! `command.refund`: give back all or part of a captured payment.
//!
//! parse: [`RefundCommand`] (refund number, the payment's order number, amount, requester).
//! apply: a refund number seen before is a repeat (same fingerprint → `order.report` of that
//! refund) or a conflict (rejected, naming `refund_no`); checked first, so a repeat of a refund
//! that has since used up the payment is still recognised. Otherwise the payment must exist, be
//! in the refund's currency, be refundable (`succeeded` or `partially_refunded`; an `authorized`
//! payment is refused with its own rule: only captured money is refunded) and have at
//! least the amount left to refund (captured − refunded − in flight). That last check reads
//! without a lock, to refuse early: the dispatcher reserves the amount under the payment's lock
//! and checks again, and the database's `payments_refunds_within_amount` has the last word.
//! Then the refund is created (pre-commit, state `requested`).
//! emit: a new refund → `order.dispatch_refund`.

use super::{CommandOutcome, Context, Rejection, RejectionKind, fingerprint, route, store_error};
use paygate::broker::consumer::HandlerError;
use paygate::domain::ValidationError;
use paygate::messages::commands::RefundCommand;
use paygate::messages::orders::OrderWork;
use paygate::store::StoredRow;
use paygate::store::balance;
use paygate::store::payments::Payment;
use paygate::store::refunds::{self, Created, NewRefund, Refund};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &RefundCommand,
) -> Result<CommandOutcome, HandlerError> {
    let merchant = cmd.merchant_id.as_str();
    let order_no = cmd.merchant_order_no.as_str();
    let reject = |error: ValidationError| Rejection::of(merchant, Some(order_no), error);
    let reject_as = |kind: RejectionKind, error: ValidationError| {
        Rejection::of_kind(kind, merchant, Some(order_no), error)
    };
    let request_fingerprint = fingerprint(cmd);

    if let Some(existing) =
        Refund::find_by_number(conn, merchant, cmd.refund_no.as_str()).await.map_err(store_error)?
    {
        return seen_before(conn, ctx, cmd, existing, &request_fingerprint).await;
    }
    let Some(payment) = Payment::find_by_number(conn, merchant, order_no).await.map_err(store_error)? else {
        let rule = format!("no payment with this number for merchant {merchant}");
        return Ok(reject_as(RejectionKind::NotFound, ValidationError::new("merchant_order_no", rule)));
    };
    let currency = payment.amount.currency();
    if cmd.amount.currency() != currency {
        let rule = format!("must be the payment's currency {currency} (got {})", cmd.amount.currency());
        return Ok(reject(ValidationError::new("currency", rule)));
    }
    if payment.state.holds_an_authorisation() {
        let rule = format!(
            "the payment is {}: its money is only authorised, not captured; refunds apply to what was \
             captured: capture it (then refund) or void it",
            payment.state
        );
        return Ok(reject(ValidationError::new("merchant_order_no", rule)));
    }
    if !payment.state.is_refundable() {
        let rule = format!(
            "the payment is {}; only a succeeded or partially_refunded payment can be refunded",
            payment.state
        );
        return Ok(reject_as(RejectionKind::WrongState, ValidationError::new("merchant_order_no", rule)));
    }
    let mut balance = balance::of(&payment).map_err(HandlerError::permanent)?;
    if let Err(refused) = balance.reserve(cmd.amount) {
        return Ok(reject(refused.into()));
    }

    let new = NewRefund {
        id: Uuid::now_v7(),
        payment_id: payment.id,
        merchant_id: cmd.merchant_id.clone(),
        refund_no: cmd.refund_no.as_str().to_owned(),
        amount: cmd.amount,
        reason: cmd.reason.clone(),
        requested_by: cmd.requested_by.to_string(),
        request_fingerprint,
        reply_to: ctx.cause.reply_to.clone(),
        correlation_id: Some(ctx.correlation_id()),
    };
    match refunds::create(conn, &new, Some(ctx.cause.message_id)).await.map_err(store_error)? {
        Created::New(refund) => {
            let work = OrderWork::DispatchRefund { payment_id: refund.payment_id, refund_id: refund.id };
            route(conn, ctx, &work).await?;
            Ok(CommandOutcome::Accepted)
        }
        // Another delivery created it between our look-up and our insert.
        Created::Existing(existing) => seen_before(conn, ctx, cmd, existing, &new.request_fingerprint).await,
    }
}

/// A refund number already taken: a repeat of the same command, or a conflict.
async fn seen_before(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &RefundCommand,
    existing: Refund,
    request_fingerprint: &str,
) -> Result<CommandOutcome, HandlerError> {
    if existing.request_fingerprint != request_fingerprint {
        return Ok(Rejection::of_kind(
            RejectionKind::IdempotencyConflict,
            cmd.merchant_id.as_str(),
            Some(cmd.merchant_order_no.as_str()),
            ValidationError::new(
                "refund_no",
                "idempotency conflict: already used for a refund with different parameters",
            ),
        ));
    }
    let report = OrderWork::Report {
        payment_id: existing.payment_id,
        refund_id: Some(existing.id),
        reply_to: ctx.cause.reply_to.clone(),
        correlation_id: ctx.cause.correlation_id.clone(),
    };
    route(conn, ctx, &report).await?;
    Ok(CommandOutcome::Duplicate)
}
