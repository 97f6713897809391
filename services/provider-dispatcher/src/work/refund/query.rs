//! Following a refund in flight: `order.query` for a refund (the answer moves it; a "no record"
//! of a `submitted` refund makes it unknown, of an unknown one sends it again under the same key)
//! and a verified notification's claim about it.

use super::facts::apply_facts;
use super::locked::{finish, follow_up, in_flight, lock, no_such_refund, transition};
use super::send::send_again;
use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::{self, Plan};
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::QueryReason;
use paygate::providers::{CallOutcome, MappedCode, RefundFacts, RefundStatus};
use paygate::state_machine::{RefundEvent, RefundState};
use paygate::store::refunds;
use serde_json::json;
use uuid::Uuid;

/// The plan of a refund's query: ask only about a refund in flight.
pub async fn plan_query(order: &mut Order<'_>, refund_id: Uuid) -> Result<Plan, WorkError> {
    let Some(work) = lock(order, refund_id, None).await? else { return Ok(Plan::NoCall) };
    if !in_flight(&work.refund) {
        return Ok(Plan::NoCall);
    }
    let (amount, provider_refund_id) = (work.refund.amount, work.refund.provider_refund_id.clone());
    Ok(plan::call(order, Call::RefundQuery { refund_id, amount, provider_refund_id }))
}

pub async fn query(
    order: &mut Order<'_>,
    refund_id: Uuid,
    reason: QueryReason,
    answered: Option<&Answered>,
) -> Result<Outcome, WorkError> {
    Ok(ask(order, refund_id, reason, answered).await?.0)
}

/// Applies the answer about the refund; returns the outcome and whether the provider gave a
/// definitive answer (or there was nothing to ask: the refund is not in flight).
pub async fn ask(
    order: &mut Order<'_>,
    refund_id: Uuid,
    reason: QueryReason,
    answered: Option<&Answered>,
) -> Result<(Outcome, bool), WorkError> {
    let Some(mut work) = lock(order, refund_id, None).await? else {
        return Ok((no_such_refund(order, refund_id), true));
    };
    if !in_flight(&work.refund) {
        return Ok((Outcome::Done, true));
    }
    let Some(Answered::Refund { called, .. }) = answered else {
        return Err(WorkError::Invariant(format!(
            "refund {refund_id}: in flight, but its query made no call"
        )));
    };
    let answered = matches!(called, CallOutcome::Answer { .. } | CallOutcome::Refused { .. });
    let mut sent_again = false;
    match called.clone() {
        CallOutcome::Answer { facts, .. } if facts.status == RefundStatus::NotFound => {
            if work.refund.state == RefundState::Submitted {
                // Calls of one order are applied one at a time: the refund's own call has ended,
                // and the provider kept nothing of it.
                let detail = json!({"proof": "the provider has no record of the submitted refund"});
                transition(order, &mut work, RefundEvent::NotProcessed, detail).await?;
            }
            match work.refund.state {
                RefundState::Unknown => {
                    let detail = json!({"proof": "the provider has no record of the refund; sent again under the same key"});
                    transition(order, &mut work, RefundEvent::Submitted, detail).await?;
                    // The licence to send it once more, even where a repeat is not safe.
                    refunds::prove_absent(order.db().await?.conn, work.refund.id).await?;
                    send_again(order, &work.refund).await?;
                    sent_again = true;
                }
                RefundState::Processing => {
                    order.raise_for(Some(work.refund.id), "provider_lost_the_refund", json!({})).await?;
                }
                _ => {}
            }
        }
        CallOutcome::Answer { facts, code } => apply_facts(order, &mut work, &facts, &code).await?,
        CallOutcome::Refused { code } => {
            let detail = json!({"code": code.unified, "message": code.message});
            order.raise_for(Some(work.refund.id), "refund_query_refused", detail).await?;
        }
        CallOutcome::RetryLater { .. } | CallOutcome::Unknown { .. } => {}
    }
    // A refund sent again is followed by its dispatch's answer, not by a second line of queries.
    if !sent_again && matches!(reason, QueryReason::OutcomeUnknown | QueryReason::StillProcessing) {
        follow_up(order, &work).await?;
    }
    Ok((finish(order, work).await?, answered))
}

/// Applies a verified notification's claim about a refund as the provider's facts (the
/// provider's policy says a verified notification is enough). Only a refund in flight moves.
pub async fn apply_claim(
    order: &mut Order<'_>,
    refund_id: Uuid,
    facts: &RefundFacts,
    code: &MappedCode,
) -> Result<Outcome, WorkError> {
    let Some(mut work) = lock(order, refund_id, None).await? else {
        return Ok(no_such_refund(order, refund_id));
    };
    if !in_flight(&work.refund) {
        return Ok(Outcome::Done);
    }
    apply_facts(order, &mut work, facts, code).await?;
    finish(order, work).await
}
