//! The refund call: planned with the refund's own trade number as the provider's idempotency
//! key, its attempt (`submitted`) committed before the request leaves; sent again under the same
//! key when an earlier delivery committed the attempt and died, or when a query found no record
//! of an unknown refund; and its end applied to the refund.

use super::facts::apply_facts;
use super::locked::{Work, finish, follow_up, release, transition};
use crate::bulkhead::Pass;
use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::Plan;
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::OrderWork;
use paygate::messages::to_shard::to_shard;
use paygate::providers::adapter::trade_no;
use paygate::providers::{CallOutcome, RefundRequest, RefundStatus};
use paygate::state_machine::{RefundEvent, RefundState};
use paygate::store::refunds::{self, Refund};
use serde_json::json;

/// Moves the refund to `submitted` (the attempt, committed with the plan) and plans the call.
pub(super) async fn submit(order: &mut Order<'_>, work: &mut Work, pass: Pass) -> Result<Plan, WorkError> {
    let detail = json!({"refund_trade_no": trade_no(work.refund.id)});
    transition(order, work, RefundEvent::Submitted, detail).await?;
    let call = Call::Refund {
        refund_id: work.refund.id,
        request: request(order, &work.refund),
        repeat: false,
        since: Some(work.start_version),
    };
    Ok(Plan::Call(call, pass))
}

/// Plans sending a `submitted` refund again under its key: its attempt was committed before.
/// A provider whose refunds do not repeat safely (no idempotency key: LINE Pay) is sent it again
/// only on a query's proof that it has no record of the refund, taken here in the plan's
/// transaction (committed before the request leaves: one proof, one send); without one nothing
/// is sent, and the work's apply makes the refund unknown for a query ([`not_sent_again`]).
pub(super) async fn resend(order: &mut Order<'_>, work: &Work) -> Result<Plan, WorkError> {
    let pass = match order.pass() {
        Ok(pass) => pass,
        Err(refusal) => return Ok(Plan::Held(refusal)),
    };
    if !order.adapter.refunds_repeat_safely()
        && !refunds::take_absence_proof(order.db().await?.conn, work.refund.id).await?
    {
        return Ok(Plan::NoCall);
    }
    let call = Call::Refund {
        refund_id: work.refund.id,
        request: request(order, &work.refund),
        repeat: true,
        since: None,
    };
    Ok(Plan::Call(call, pass))
}

/// Whether the work's apply, given no call, finds a `submitted` refund its plan would not send
/// again ([`resend`]).
pub(super) fn held_back(order: &Order<'_>, answered: Option<&Answered>, work: &Work) -> bool {
    answered.is_none()
        && work.refund.state == RefundState::Submitted
        && !order.adapter.refunds_repeat_safely()
}

/// A `submitted` refund found again (an earlier delivery committed its attempt, then died) at a
/// provider whose refunds do not repeat safely: sending it again could refund twice. It becomes
/// unknown and is queried on the ladder; a query that proves the provider has no record of it
/// sends it again (`query.rs`), and one that cannot tell leaves it to a person.
pub(super) async fn not_sent_again(order: &mut Order<'_>, mut work: Work) -> Result<Outcome, WorkError> {
    let why = "its first request may have reached the provider, which keeps no refund number of ours: sent again only once a query proves it has no record of it";
    transition(order, &mut work, RefundEvent::OutcomeUnknown, json!({"not_sent_again": why})).await?;
    work.reason = Some(format!("outcome unknown: {why}"));
    follow_up(order, &work).await?;
    finish(order, work).await
}

/// Queues the refund's dispatch on its shard, which sends the `submitted` refund again. The
/// dispatch keeps the query's rung of the retry ladder (`attempt`), so the follow-ups after its
/// answer climb on from there: sending again does not start the ladder over.
pub(super) async fn send_again(order: &mut Order<'_>, refund: &Refund) -> Result<(), WorkError> {
    let work = OrderWork::DispatchRefund { payment_id: order.payment.id, refund_id: refund.id };
    let mut message = to_shard(&order.deps.topology, &work).caused_by(order.cause);
    message.envelope.attempt = order.cause.attempt;
    message.enqueue(order.db().await?.conn).await?;
    Ok(())
}

fn request(order: &Order<'_>, refund: &Refund) -> RefundRequest {
    RefundRequest {
        trade_no: order.trade_no(),
        refund_trade_no: trade_no(refund.id),
        amount: refund.amount,
        payment_amount: order.payment.amount,
        reason: refund.reason.clone(),
        notify_url: order.notify_url(),
    }
}

/// The refund call's end applied (a dispatch's or a decision's): the refund moves, is followed
/// while not final, and its event is told.
pub(super) async fn answered(
    order: &mut Order<'_>,
    mut work: Work,
    answered: &Answered,
) -> Result<Outcome, WorkError> {
    apply_call(order, &mut work, answered).await?;
    follow_up(order, &work).await?;
    finish(order, work).await
}

/// What the refund call's end does to a `submitted` refund.
async fn apply_call(order: &mut Order<'_>, work: &mut Work, answered: &Answered) -> Result<(), WorkError> {
    let Answered::Refund { called, repeat, .. } = answered else {
        return Err(WorkError::Invariant(format!("refund {}: answered as a payment", work.refund.id)));
    };
    match called.clone() {
        CallOutcome::Answer { facts, code } if facts.status != RefundStatus::NotFound => {
            apply_facts(order, work, &facts, &code).await
        }
        CallOutcome::Answer { code, .. } | CallOutcome::Unknown { code: Some(code), .. } => {
            let detail = json!({"code": code.unified, "message": code.message});
            transition(order, work, RefundEvent::OutcomeUnknown, detail).await?;
            work.reason = Some(code.describe());
            Ok(())
        }
        CallOutcome::Unknown { reason, code: None } => {
            transition(order, work, RefundEvent::OutcomeUnknown, json!({"reason": reason})).await?;
            work.reason = Some(format!("outcome unknown: {reason}"));
            Ok(())
        }
        CallOutcome::Refused { code } if *repeat => {
            let detail = json!({"code": code.unified, "message": code.message, "repeated_call": true});
            transition(order, work, RefundEvent::OutcomeUnknown, detail).await?;
            work.reason = Some(format!(
                "the repeated refund request was refused ({}): the first one's outcome is not known; a query decides",
                code.describe()
            ));
            Ok(())
        }
        CallOutcome::Refused { code } => {
            let detail = json!({"code": code.unified, "message": code.message});
            if transition(order, work, RefundEvent::ProviderFailed, detail).await? {
                release(order, &work.refund).await?;
            }
            work.reason = Some(code.describe());
            Ok(())
        }
        CallOutcome::RetryLater { code } => {
            // Not processed (the provider is busy with the payment or with this very refund):
            // nothing settles it, so it is unknown and a query decides (sent again if the
            // provider has no record of it).
            let detail =
                json!({"code": code.unified, "message": code.message, "provider_code": code.provider_code});
            transition(order, work, RefundEvent::NotProcessed, detail).await?;
            work.reason =
                Some(format!("not processed by the provider ({}); a query decides", code.describe()));
            Ok(())
        }
    }
}
