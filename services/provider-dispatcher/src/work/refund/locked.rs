//! The refund being worked on: locked under its payment's lock, moved through its state machine
//! (a refused event is a contradiction for a person), its amount released, followed on the retry
//! ladder while it is not final, and told to upstream when the work moved it.

use crate::call::Answered;
use crate::events;
use crate::order::{Order, WorkError};
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::QueryReason;
use paygate::state_machine::{RefundEvent, RefundState};
use paygate::store::StoredRow;
use paygate::store::balance;
use paygate::store::refunds::{self, Refund};
use serde_json::{Value, json};
use uuid::Uuid;

/// A refund being worked on, with what its event needs.
pub(super) struct Work {
    pub(super) refund: Refund,
    pub(super) start_version: i64,
    pub(super) reason: Option<String>,
}

/// The refund, locked; its events count from `since` (the version before the plan moved it), or
/// from now.
pub(super) async fn lock(
    order: &mut Order<'_>,
    refund_id: Uuid,
    since: Option<i64>,
) -> Result<Option<Work>, WorkError> {
    let Some(refund) = Refund::lock(order.db().await?.conn, refund_id).await? else { return Ok(None) };
    if refund.payment_id != order.payment.id {
        return Err(WorkError::Invariant(format!(
            "refund {refund_id} belongs to payment {}, not {}",
            refund.payment_id, order.payment.id
        )));
    }
    let start_version = since.unwrap_or(refund.version);
    Ok(Some(Work { refund, start_version, reason: None }))
}

/// What a message about a refund the payment does not have comes to.
pub(super) fn no_such_refund(order: &Order<'_>, refund_id: Uuid) -> Outcome {
    Outcome::Reject { reason: format!("no refund {refund_id} of payment {}", order.payment.id) }
}

/// The refund's version before the plan moved it, when the plan sent it for the first time.
pub(super) fn since(answered: Option<&Answered>) -> Option<i64> {
    match answered {
        Some(Answered::Refund { since, .. }) => *since,
        _ => None,
    }
}

/// Whether the refund may be at the provider without its outcome known to us.
pub(super) fn in_flight(refund: &Refund) -> bool {
    matches!(refund.state, RefundState::Submitted | RefundState::Processing | RefundState::Unknown)
}

/// Moves the refund through its state machine, recording the transition. A repeat is a no-op; an
/// event the machine refuses is a contradiction for a person.
pub(super) async fn transition(
    order: &mut Order<'_>,
    work: &mut Work,
    event: RefundEvent,
    detail: Value,
) -> Result<bool, WorkError> {
    let cause = Some(order.cause.message_id);
    match refunds::transition(order.db().await?.conn, &mut work.refund, event, cause, detail.clone()).await {
        Ok(applied) => Ok(applied.moved()),
        Err(paygate::store::StoreError::Refused(e)) => {
            tracing::warn!(refund_id = %work.refund.id, error = %e, "contradicting answer; needs a person");
            let detail = json!({"refused": e.to_string(), "detail": detail});
            order.raise_for(Some(work.refund.id), "contradicting_provider_answer", detail).await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Releases the refund's amount from the payment's balance (it failed or was rejected).
pub(super) async fn release(order: &mut Order<'_>, refund: &Refund) -> Result<(), WorkError> {
    let db = order.db().await?;
    balance::release(db.conn, db.payment, refund.amount).await.map_err(balance_error)
}

pub(super) fn balance_error(e: balance::Error) -> WorkError {
    match e {
        balance::Error::Store(e) => e.into(),
        other => WorkError::Invariant(format!("refund balance: {other}")),
    }
}

/// Keeps asking about a refund that is not final, on the retry ladder.
pub(super) async fn follow_up(order: &mut Order<'_>, work: &Work) -> Result<(), WorkError> {
    let reason = match work.refund.state {
        RefundState::Unknown => QueryReason::OutcomeUnknown,
        RefundState::Submitted | RefundState::Processing => QueryReason::StillProcessing,
        _ => return Ok(()),
    };
    order.schedule_query(Some(work.refund.id), reason).await
}

/// Tells upstream the refund's state if the work moved it.
pub(super) async fn finish(order: &mut Order<'_>, work: Work) -> Result<Outcome, WorkError> {
    if work.refund.version != work.start_version {
        let (deps, cause) = (order.deps, order.cause);
        let db = order.db().await?;
        let event = events::refund_event(db.payment, &work.refund, work.reason);
        events::emit(db.conn, &deps.topology, (db.payment, Some(&work.refund)), event, cause, None).await?;
    }
    Ok(Outcome::Done)
}
