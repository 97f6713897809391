//! `command.approve_refund` and `command.reject_refund`: a person's decision on a refund that
//! policy held for approval.
//!
//! parse: [`RefundDecision`] (merchant, refund number, approver, reason; a rejection needs one).
//! apply: the refund must exist and be `awaiting_approval`. Four eyes: whoever approves must not
//! be whoever requested it, compared as normalised identities ([`paygate::domain::OperatorId`]:
//! `"Alice"` and `"alice "` are `"alice"`). A requester may reject (withdraw) their own request: that moves no
//! money (migrations/0004_refunds.sql).
//! emit: `order.decide_refund`; the dispatcher applies it under the payment's lock.

use super::{CommandOutcome, Context, Rejection, RejectionKind, route, store_error};
use paygate::broker::consumer::HandlerError;
use paygate::domain::ValidationError;
use paygate::messages::commands::RefundDecision;
use paygate::messages::orders::OrderWork;
use paygate::state_machine::RefundState;
use paygate::store::StoredRow;
use paygate::store::refunds::Refund;
use sqlx::PgConnection;

pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &RefundDecision,
    approve: bool,
) -> Result<CommandOutcome, HandlerError> {
    let merchant = cmd.merchant_id.as_str();
    let reject = |error: ValidationError| Rejection::of(merchant, None, error);
    let reject_as =
        |kind: RejectionKind, error: ValidationError| Rejection::of_kind(kind, merchant, None, error);
    let Some(refund) =
        Refund::find_by_number(conn, merchant, cmd.refund_no.as_str()).await.map_err(store_error)?
    else {
        let rule = format!("no refund with this number for merchant {merchant}");
        return Ok(reject_as(RejectionKind::NotFound, ValidationError::new("refund_no", rule)));
    };
    if refund.state != RefundState::AwaitingApproval {
        let verb = if approve { "approved" } else { "rejected" };
        let rule = format!("the refund is {}; only a refund awaiting_approval can be {verb}", refund.state);
        return Ok(reject_as(RejectionKind::WrongState, ValidationError::new("refund_no", rule)));
    }
    if approve && cmd.approver.same_person(&refund.requested_by) {
        return Ok(reject(ValidationError::new(
            "approver",
            "must not be the person who requested the refund",
        )));
    }
    let work = OrderWork::DecideRefund {
        payment_id: refund.payment_id,
        refund_id: refund.id,
        approve,
        approver: cmd.approver.clone(),
        reason: cmd.reason.clone(),
    };
    route(conn, ctx, &work).await?;
    Ok(CommandOutcome::Accepted)
}
