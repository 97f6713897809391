//! Refunds: `order.dispatch_refund`, `order.decide_refund` and `order.query` for a refund.
//!
//! Everything happens under the payment's row lock, so refunds of one payment are applied one at
//! a time whatever the concurrency upstream:
//! 1. **Reserve.** A new refund's amount is reserved from the payment's refundable balance
//!    (captured − refunded − in flight). A refund that no longer fits (another took the
//!    remainder first) is refused and never sent.
//! 2. **Approve.** When the payment's refunds would exceed the merchant's threshold (refunded +
//!    in flight, awaiting approval included, + this one: splitting a refund does not avoid the
//!    threshold) it waits for a person, who must not be the requester, compared as normalised
//!    identities ([`OperatorId`]; seed 003). A rejection releases the amount.
//! 3. **Send** with the refund's own trade number as the provider's idempotency key. The
//!    reservation and the move to `submitted` are committed before the request leaves (the
//!    plan), so a refund that may have reached the provider is never released without the
//!    provider's word. A dispatch or decision that finds its refund `submitted` (an earlier
//!    delivery committed the attempt and died) sends it again under the same key; a refusal of
//!    such a repeated call is not the outcome of the first: UNKNOWN, and a query decides.
//! 4. **Follow.** Most providers refund asynchronously: a refund still processing, or whose call
//!    ended ambiguously, is queried on the retry ladder until it is final. A refund call the
//!    provider did not process (busy: 1145, 1198) moves the refund from `submitted` to `unknown`
//!    (`not_processed`), and so does a query finding no record of a `submitted` refund. An
//!    UNKNOWN refund the provider has no record of is sent again under the same key (the query
//!    decided, not a blind re-send), by a dispatch queued on its shard that keeps the ladder's
//!    rung: a provider that never processes it walks the refund up the ladder to the
//!    needs-attention list, never round a loop. Success settles the amount and moves the payment
//!    to partially refunded or refunded; failure releases it.

use crate::call::{Answered, Call};
use crate::events;
use crate::order::{Order, WorkError};
use crate::plan::{self, Plan};
use paygate::broker::consumer::Outcome;
use paygate::broker::envelope::Envelope;
use paygate::broker::outbox;
use paygate::domain::{Money, OperatorId};
use paygate::messages::orders::{OrderWork, QueryReason};
use paygate::providers::adapter::trade_no;
use paygate::providers::{CallOutcome, MappedCode, RefundFacts, RefundRequest, RefundStatus};
use paygate::state_machine::{RefundEvent, RefundState};
use paygate::store::balance;
use paygate::store::policies;
use paygate::store::refunds::{self, Refund};
use serde_json::{Value, json};
use uuid::Uuid;

/// A refund being worked on, with what its event needs.
struct Work {
    refund: Refund,
    start_version: i64,
    reason: Option<String>,
}

/// What a new refund's dispatch does: wait for a person, or go to the provider. Asked before
/// the refund's own amount is reserved: the threshold applies to the payment's refunds in total,
/// refunded + in flight (awaiting approval included) + this one.
async fn needs_approval(order: &mut Order<'_>, refund: &Refund) -> Result<bool, WorkError> {
    let db = order.db().await?;
    let policy = policies::get(db.conn, &db.payment.merchant_id, db.payment.amount.currency()).await?;
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
        RefundState::Submitted => return resend(order, &work),
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
        return Ok(Outcome::Reject {
            reason: format!("no refund {refund_id} of payment {}", order.payment.id),
        });
    };
    if let Some(answered) = answered {
        apply_call(order, &mut work, answered).await?;
        follow_up(order, &work).await?;
        return finish(order, work).await;
    }
    if work.refund.state != RefundState::Requested || work.refund.approved_by.is_some() {
        // Handled already (a redelivery), or approved and sent by the decision's own work.
        return Ok(Outcome::Done);
    }
    let needs_approval = needs_approval(order, &work.refund).await?;
    let db = order.db().await?;
    if let Err(refused) = balance::reserve(db.conn, db.payment, work.refund.amount).await {
        let refused = match refused {
            balance::Error::Store(e) => return Err(e.into()),
            other => other.to_string(),
        };
        transition(order, &mut work, RefundEvent::Refused, json!({"rule": refused})).await?;
        work.reason = Some(refused);
        return finish(order, work).await;
    }
    if !needs_approval {
        return Err(WorkError::Invariant(format!(
            "refund {refund_id}: reserved and needing no approval, but its plan made no call"
        )));
    }
    let db = order.db().await?;
    let policy = policies::get(db.conn, &db.payment.merchant_id, db.payment.amount.currency()).await?;
    let detail = json!({"over": policy.refund_approval_over});
    transition(order, &mut work, RefundEvent::ApprovalRequired, detail).await?;
    work.reason = Some("awaiting approval: above the merchant's approval threshold".into());
    finish(order, work).await
}

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
        RefundState::Submitted => return resend(order, &work),
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

pub async fn decide(
    order: &mut Order<'_>,
    refund_id: Uuid,
    (approve, approver, reason): (bool, &OperatorId, Option<&str>),
    answered: Option<&Answered>,
) -> Result<Outcome, WorkError> {
    let Some(mut work) = lock(order, refund_id, since(answered)).await? else {
        return Ok(Outcome::Reject {
            reason: format!("no refund {refund_id} of payment {}", order.payment.id),
        });
    };
    if let Some(answered) = answered {
        apply_call(order, &mut work, answered).await?;
        follow_up(order, &work).await?;
        return finish(order, work).await;
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

/// The plan of a refund's query: ask only about a refund in flight.
pub async fn plan_query(order: &mut Order<'_>, refund_id: Uuid) -> Result<Plan, WorkError> {
    let Some(work) = lock(order, refund_id, None).await? else { return Ok(Plan::NoCall) };
    if !in_flight(&work.refund) {
        return Ok(Plan::NoCall);
    }
    Ok(plan::call(order, Call::RefundQuery { refund_id }))
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
        let reason = format!("no refund {refund_id} of payment {}", order.payment.id);
        return Ok((Outcome::Reject { reason }, true));
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

/// The refund's version before the plan moved it, when the plan sent it for the first time.
fn since(answered: Option<&Answered>) -> Option<i64> {
    match answered {
        Some(Answered::Refund { since, .. }) => *since,
        _ => None,
    }
}

fn in_flight(refund: &Refund) -> bool {
    matches!(refund.state, RefundState::Submitted | RefundState::Processing | RefundState::Unknown)
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
        return Ok(Outcome::Reject {
            reason: format!("no refund {refund_id} of payment {}", order.payment.id),
        });
    };
    if !matches!(work.refund.state, RefundState::Submitted | RefundState::Processing | RefundState::Unknown) {
        return Ok(Outcome::Done);
    }
    apply_facts(order, &mut work, facts, code).await?;
    finish(order, work).await
}

/// The refund, locked; its events count from `since` (the version before the plan moved it), or
/// from now.
async fn lock(order: &mut Order<'_>, refund_id: Uuid, since: Option<i64>) -> Result<Option<Work>, WorkError> {
    let Some(refund) = refunds::lock(order.db().await?.conn, refund_id).await? else { return Ok(None) };
    if refund.payment_id != order.payment.id {
        return Err(WorkError::Invariant(format!(
            "refund {refund_id} belongs to payment {}, not {}",
            refund.payment_id, order.payment.id
        )));
    }
    let start_version = since.unwrap_or(refund.version);
    Ok(Some(Work { refund, start_version, reason: None }))
}

/// Moves the refund to `submitted` (the attempt, committed with the plan) and plans the call.
async fn submit(
    order: &mut Order<'_>,
    work: &mut Work,
    pass: crate::bulkhead::Pass,
) -> Result<Plan, WorkError> {
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
fn resend(order: &mut Order<'_>, work: &Work) -> Result<Plan, WorkError> {
    Ok(match order.pass() {
        Ok(pass) => {
            let call = Call::Refund {
                refund_id: work.refund.id,
                request: request(order, &work.refund),
                repeat: true,
                since: None,
            };
            Plan::Call(call, pass)
        }
        Err(refusal) => Plan::Held(refusal),
    })
}

/// Queues the refund's dispatch on its shard, which sends the `submitted` refund again. The
/// dispatch keeps the query's rung of the retry ladder (`attempt`), so the follow-ups after its
/// answer climb on from there: sending again does not start the ladder over.
async fn send_again(order: &mut Order<'_>, refund: &Refund) -> Result<(), WorkError> {
    let work = OrderWork::DispatchRefund { payment_id: order.payment.id, refund_id: refund.id };
    let key = order.payment.id.to_string();
    let mut envelope = Envelope::new(work.message_type(), key.clone(), work).caused_by(order.cause);
    envelope.attempt = order.cause.attempt;
    let exchange = order.deps.topology.orders_exchange();
    outbox::enqueue(order.db().await?.conn, &exchange, &key, &envelope).await?;
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

/// Applies what the provider said about the refund.
async fn apply_facts(
    order: &mut Order<'_>,
    work: &mut Work,
    facts: &RefundFacts,
    code: &MappedCode,
) -> Result<(), WorkError> {
    if let Some(amount) = facts.amount
        && amount != work.refund.amount
    {
        let detail = json!({"ours": work.refund.amount, "provider": amount});
        return order.raise_for(Some(work.refund.id), "refund_amount_mismatch", detail).await;
    }
    if let Some(id) = &facts.provider_refund_id {
        refunds::record_provider_refund_id(order.db().await?.conn, &mut work.refund, id).await?;
    }
    let detail = json!({"code": code.unified, "provider_code": code.provider_code, "message": code.message});
    let moved = match facts.status {
        RefundStatus::Processing => transition(order, work, RefundEvent::ProviderProcessing, detail).await?,
        RefundStatus::Succeeded => {
            let moved = transition(order, work, RefundEvent::ProviderSucceeded, detail).await?;
            if moved {
                let db = order.db().await?;
                let event =
                    balance::settle(db.conn, db.payment, work.refund.amount).await.map_err(balance_error)?;
                let detail = json!({"refund_id": work.refund.id, "amount": work.refund.amount});
                order.transition(event, detail).await?;
            }
            moved
        }
        RefundStatus::Failed => {
            let moved = transition(order, work, RefundEvent::ProviderFailed, detail).await?;
            if moved {
                release(order, &work.refund).await?;
            }
            moved
        }
        RefundStatus::NotFound => false,
    };
    if moved {
        work.reason = Some(code.describe());
    }
    Ok(())
}

/// Moves the refund through its state machine, recording the transition. A repeat is a no-op; an
/// event the machine refuses is a contradiction for a person.
async fn transition(
    order: &mut Order<'_>,
    work: &mut Work,
    event: RefundEvent,
    detail: Value,
) -> Result<bool, WorkError> {
    let cause = Some(order.cause.message_id);
    match refunds::transition(order.db().await?.conn, &mut work.refund, event, cause, detail.clone()).await {
        Ok(applied) => Ok(applied.moved()),
        Err(paygate::store::payments::StoreError::Refused(e)) => {
            tracing::warn!(refund_id = %work.refund.id, error = %e, "contradicting answer; needs a person");
            let detail = json!({"refused": e.to_string(), "detail": detail});
            order.raise_for(Some(work.refund.id), "contradicting_provider_answer", detail).await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

async fn release(order: &mut Order<'_>, refund: &Refund) -> Result<(), WorkError> {
    let db = order.db().await?;
    balance::release(db.conn, db.payment, refund.amount).await.map_err(balance_error)
}

fn balance_error(e: balance::Error) -> WorkError {
    match e {
        balance::Error::Store(e) => e.into(),
        other => WorkError::Invariant(format!("refund balance: {other}")),
    }
}

/// Keeps asking about a refund that is not final, on the retry ladder.
async fn follow_up(order: &mut Order<'_>, work: &Work) -> Result<(), WorkError> {
    let reason = match work.refund.state {
        RefundState::Unknown => QueryReason::OutcomeUnknown,
        RefundState::Submitted | RefundState::Processing => QueryReason::StillProcessing,
        _ => return Ok(()),
    };
    order.schedule_query(Some(work.refund.id), reason).await
}

/// Tells upstream the refund's state if the work moved it.
async fn finish(order: &mut Order<'_>, work: Work) -> Result<Outcome, WorkError> {
    if work.refund.version != work.start_version {
        let (deps, cause) = (order.deps, order.cause);
        let db = order.db().await?;
        let event = events::refund_event(db.payment, &work.refund, work.reason);
        events::emit(db.conn, &deps.topology, (db.payment, Some(&work.refund)), event, cause, None).await?;
    }
    Ok(Outcome::Done)
}
