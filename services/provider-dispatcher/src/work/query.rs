//! `order.query` for a payment: ask the provider for the truth and apply it.
//!
//! Queries are how ambiguity ends: an UNKNOWN payment becomes what the provider says it is. A
//! provider with no record of our trade number never processed the pay request, so an UNKNOWN or
//! pending payment is closed (nothing was charged; upstream may pay again under a new order
//! number). A query that itself fails changes nothing.
//!
//! The follow-up chain (`outcome_unknown`, `still_processing`) continues on the retry ladder while
//! the payment is unsettled. Queries for other reasons (upstream asked, the scheduler, a
//! notification) answer once and start no chain of their own.

use crate::order::{Order, WorkError};
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::QueryReason;
use paygate::providers::{CallOutcome, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use serde_json::json;

pub async fn apply(order: &mut Order<'_>, reason: QueryReason) -> Result<Outcome, WorkError> {
    ask(order, reason).await?;
    Ok(Outcome::Done)
}

/// Asks and applies the answer; returns whether the provider gave a definitive answer (a
/// notification waits for one before it is decided).
pub async fn ask(order: &mut Order<'_>, reason: QueryReason) -> Result<bool, WorkError> {
    if order.payment.state == PaymentState::Created {
        // Never sent: there is nothing to ask. The dispatch message on this shard will send it.
        return Ok(false);
    }
    let unsettled = matches!(
        order.payment.state,
        PaymentState::Pending | PaymentState::ActionRequired | PaymentState::Unknown
    );
    if !unsettled && matches!(reason, QueryReason::OutcomeUnknown | QueryReason::StillProcessing) {
        // A follow-up of a chain that something else (a notification, another query) already
        // settled: nothing left to find out.
        return Ok(true);
    }
    let called = order.adapter.query(&order.trade_no(), order.payment.amount.currency()).await;
    order.log_exchange(None, &called.exchange).await?;
    let answered = matches!(called.outcome, CallOutcome::Answer { .. } | CallOutcome::Refused { .. });
    match called.outcome {
        CallOutcome::Answer { facts, code } if facts.status == PaymentStatus::NotFound => {
            match order.payment.state {
                PaymentState::Unknown | PaymentState::Pending => {
                    let detail =
                        json!({"code": code.unified, "proof": "the provider has no record of the trade"});
                    if order.transition(PaymentEvent::Closed, detail).await? {
                        order.because("closed: the provider never received the payment request");
                    }
                }
                PaymentState::ActionRequired => {
                    let detail = json!({"state": order.payment.state, "code": code.unified});
                    order.raise("provider_lost_the_payment", detail).await?;
                }
                // Final, paid or refunded here and unknown there: reconciliation's business.
                _ => {}
            }
        }
        CallOutcome::Answer { facts, code } => order.apply_facts(&facts, &code).await?,
        CallOutcome::Refused { code } => {
            tracing::error!(payment_id = %order.payment.id, code = %code.describe(), "the provider refused a query");
            order.raise("query_refused", json!({"code": code.unified, "message": code.message})).await?;
        }
        CallOutcome::RetryLater { .. } | CallOutcome::Unknown { .. } => {}
    }
    if matches!(reason, QueryReason::OutcomeUnknown | QueryReason::StillProcessing) {
        order.follow_up().await?;
    }
    Ok(answered)
}
