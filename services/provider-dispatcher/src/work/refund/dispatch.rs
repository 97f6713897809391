//! `order.dispatch_refund`: a new refund is reserved from the payment's refundable balance, then
//! sent, or left for a person when the merchant's threshold asks for approval; a refund that no
//! longer fits is refused and never sent.

use super::locked::{Work, balance_error, finish, lock, no_such_refund, since, transition};
use super::send::{self, resend, submit};
use crate::call::Answered;
use crate::order::{Order, WorkError};
use crate::plan::Plan;
use paygate::broker::consumer::Outcome;
use paygate::domain::Money;
use paygate::state_machine::{RefundEvent, RefundState};
use paygate::store::balance;
use paygate::store::policies;
use paygate::store::refunds::Refund;
use serde_json::json;
use uuid::Uuid;

/// What a new refund's dispatch does: wait for a person, or go to the provider. Asked before
/// the refund's own amount is reserved: the threshold applies to the payment's refunds in total,
/// refunded + in flight (awaiting approval included) + this one.
async fn needs_approval(order: &mut Order<'_>, refund: &Refund) -> Result<bool, WorkError> {
    let db = order.db().await?;
    let policy =
        policies::get(db.conn, db.payment.merchant_id.as_str(), db.payment.amount.currency()).await?;
    let (refunded, in_flight) =
        (db.payment.refunded.minor_units(), db.payment.refund_in_flight.minor_units());
    let already = Money::from_minor(refunded.saturating_add(in_flight), db.payment.amount.currency())
        .map_err(|e| WorkError::Invariant(format!("payment {}: refund balance: {e}", db.payment.id)))?;
    Ok(policy.refund_needs_approval(already, refund.amount))
}

/// The plan of `order.dispatch_refund`: a new refund that fits the balance and needs no approval
/// is reserved, submitted (committed) and sent; a `submitted` one is sent again.
pub async fn plan_dispatch(order: &mut Order<'_>, refund_id: Uuid) -> Result<Plan, WorkError> {
    let Some(mut work) = lock(order, refund_id, None).await? else { return Ok(Plan::NoCall) };
    match work.refund.state {
        RefundState::Submitted => return resend(order, &work).await,
        RefundState::Requested if work.refund.approved_by.is_none() => {}
        _ => return Ok(Plan::NoCall),
    }
    let fits = balance::of(&order.payment).is_ok_and(|mut b| b.reserve(work.refund.amount).is_ok())
        && order.payment.state.is_refundable();
    if !fits || needs_approval(order, &work.refund).await? {
        return Ok(Plan::NoCall); // refused or awaiting approval: the transaction decides alone
    }
    let pass = match order.pass() {
        Ok(pass) => pass,
        Err(refusal) => return Ok(Plan::Held(refusal)),
    };
    let db = order.db().await?;
    balance::reserve(db.conn, db.payment, work.refund.amount).await.map_err(balance_error)?;
    submit(order, &mut work, pass).await
}

/// `order.dispatch_refund` in its transaction: the answer to the plan's call, or (no call) the
/// refusal or the wait for approval.
pub async fn dispatch(
    order: &mut Order<'_>,
    refund_id: Uuid,
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
    if work.refund.state != RefundState::Requested || work.refund.approved_by.is_some() {
        // Handled already (a redelivery), or approved and sent by the decision's own work.
        return Ok(Outcome::Done);
    }
    let needs_approval = needs_approval(order, &work.refund).await?;
    let db = order.db().await?;
    if let Err(refused) = balance::reserve(db.conn, db.payment, work.refund.amount).await {
        return refuse(order, work, refused).await;
    }
    if !needs_approval {
        return Err(WorkError::Invariant(format!(
            "refund {refund_id}: reserved and needing no approval, but its plan made no call"
        )));
    }
    let db = order.db().await?;
    let policy =
        policies::get(db.conn, db.payment.merchant_id.as_str(), db.payment.amount.currency()).await?;
    let detail = json!({"over": policy.refund_approval_over});
    transition(order, &mut work, RefundEvent::ApprovalRequired, detail).await?;
    work.reason = Some("awaiting approval: above the merchant's approval threshold".into());
    finish(order, work).await
}

/// A refund that no longer fits the balance under the lock (another took the remainder first):
/// refused, never sent.
async fn refuse(
    order: &mut Order<'_>,
    mut work: Work,
    refused: balance::Error,
) -> Result<Outcome, WorkError> {
    let refused = match refused {
        balance::Error::Store(e) => return Err(e.into()),
        other => other.to_string(),
    };
    transition(order, &mut work, RefundEvent::Refused, json!({"rule": refused})).await?;
    work.reason = Some(refused);
    finish(order, work).await
}
