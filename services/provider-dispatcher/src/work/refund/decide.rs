//! `order.decide_refund`: a person's decision on a refund awaiting approval. An approval by
//! someone other than the requester (compared as normalised identities, [`OperatorId`]) submits
//! and sends the refund; a rejection releases its amount. The first decision stands.

use super::locked::{finish, lock, no_such_refund, release, since, transition};
use super::send::{self, resend, submit};
use crate::call::Answered;
use crate::order::{Order, WorkError};
use crate::plan::Plan;
use paygate::broker::consumer::Outcome;
use paygate::domain::OperatorId;
use paygate::state_machine::{RefundEvent, RefundState};
use paygate::store::refunds;
use serde_json::json;
use uuid::Uuid;

/// The plan of `order.decide_refund`: an approval by someone other than the requester records
/// the decision, submits the refund (committed) and sends it; a `submitted` refund is sent again.
pub async fn plan_decide(
    order: &mut Order<'_>,
    refund_id: Uuid,
    approve: bool,
    approver: &OperatorId,
    reason: Option<&str>,
) -> Result<Plan, WorkError> {
    let Some(mut work) = lock(order, refund_id, None).await? else { return Ok(Plan::NoCall) };
    match work.refund.state {
        RefundState::Submitted => return resend(order, &work).await,
        RefundState::AwaitingApproval if approve && !approver.same_person(&work.refund.requested_by) => {}
        _ => return Ok(Plan::NoCall),
    }
    let pass = match order.pass() {
        Ok(pass) => pass,
        Err(refusal) => return Ok(Plan::Held(refusal)),
    };
    refunds::record_decision(order.db().await?.conn, &mut work.refund, Some(approver.as_str()), reason)
        .await?;
    let detail = json!({"by": approver, "reason": reason});
    transition(order, &mut work, RefundEvent::Approved, detail).await?;
    submit(order, &mut work, pass).await
}

/// `order.decide_refund` in its transaction: the answer to the plan's call, or (no call) the
/// rejection, or a decision that comes too late or from the requester.
pub async fn decide(
    order: &mut Order<'_>,
    refund_id: Uuid,
    (approve, approver, reason): (bool, &OperatorId, Option<&str>),
    answered: Option<&Answered>,
) -> Result<Outcome, WorkError> {
    let Some(mut work) = lock(order, refund_id, since(answered)).await? else {
        return Ok(no_such_refund(order, refund_id));
    };
    if let Some(answered) = answered {
        return send::answered(order, work, answered).await;
    }
    if send::held_back(order, answered, &work) {
        return send::not_sent_again(order, work).await;
    }
    if work.refund.state != RefundState::AwaitingApproval {
        // Decided already: the first decision stands.
        return Ok(Outcome::Done);
    }
    if approve && approver.same_person(&work.refund.requested_by) {
        return Ok(Outcome::Reject {
            reason: format!("refund {refund_id}: the approver must not be the requester ({approver})"),
        });
    }
    if approve {
        return Err(WorkError::Invariant(format!("refund {refund_id}: approved, but its plan made no call")));
    }
    let detail = json!({"by": approver, "reason": reason});
    refunds::record_decision(order.db().await?.conn, &mut work.refund, None, reason).await?;
    transition(order, &mut work, RefundEvent::ApprovalRejected, detail).await?;
    release(order, &work.refund).await?;
    work.reason = Some(format!("approval rejected by {approver}: {}", reason.unwrap_or("")));
    finish(order, work).await
}
