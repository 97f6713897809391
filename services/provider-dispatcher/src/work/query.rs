//! `order.query` for a payment: ask the provider for the truth and apply it.
//!
//! Queries are how ambiguity ends: an UNKNOWN payment becomes what the provider says it is. A
//! query moves no money, so it commits nothing before its call. A query that itself fails
//! changes nothing.
//!
//! **"Not found" is believed only once it has lasted.** Providers make a new trade visible to
//! queries with a lag, and a pay request we gave up on (a timeout) may still be on its way. So a
//! payment that may have been sent (`pending`, `unknown`) is closed on the provider's "no such
//! trade" only once our last pay request for it is older than the provider's
//! [`not_found_is_final_after`](paygate::providers::ProviderAdapter::not_found_is_final_after)
//! (docs/providers.md has the figure per provider); until then the follow-up queries go on. Once
//! closed, nothing was charged, and upstream may pay again under a new order number.
//!
//! A barcode payment not finished within its provider's reverse-after is reversed instead of
//! queried (`work::reverse`).
//!
//! The follow-up chain (`outcome_unknown`, `still_processing`) continues on the retry ladder while
//! the payment is unsettled. Queries for other reasons (upstream asked, the scheduler, a
//! notification) answer once and start no chain of their own.

use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::{self, Plan};
use crate::work::reverse;
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::QueryReason;
use paygate::providers::{CallOutcome, MappedCode, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use serde_json::json;

pub async fn plan(order: &mut Order<'_>, reason: QueryReason) -> Result<Plan, WorkError> {
    if !needs_asking(order, reason) {
        return Ok(Plan::NoCall);
    }
    if reverse::instead_of_query(order, reason) {
        return reverse::plan(order).await;
    }
    Ok(plan::call(order, Call::Query))
}

pub async fn apply(
    order: &mut Order<'_>,
    reason: QueryReason,
    answered: Option<&Answered>,
) -> Result<Outcome, WorkError> {
    if let Some(Answered::Reversal { called }) = answered {
        return reverse::apply(order, reason, called).await;
    }
    ask(order, reason, answered).await?;
    Ok(Outcome::Done)
}

/// Whether the provider must be asked: not for a payment never sent (the dispatch message on
/// this shard will send it), nor for a follow-up of a chain that something else (a
/// notification, another query) already settled.
pub fn needs_asking(order: &Order<'_>, reason: QueryReason) -> bool {
    if order.payment.state == PaymentState::Created {
        return false;
    }
    let unsettled = matches!(
        order.payment.state,
        PaymentState::Pending
            | PaymentState::ActionRequired
            | PaymentState::Unknown
            | PaymentState::Capturing
            | PaymentState::Voiding
    );
    unsettled || !matches!(reason, QueryReason::OutcomeUnknown | QueryReason::StillProcessing)
}

/// Applies the query's answer; returns whether the provider gave a definitive answer, or there
/// was nothing to ask (a notification waits for one before it is decided).
pub async fn ask(
    order: &mut Order<'_>,
    reason: QueryReason,
    answered: Option<&Answered>,
) -> Result<bool, WorkError> {
    let Some(Answered::Payment { called, .. }) = answered else {
        return Ok(!needs_asking(order, reason) && order.payment.state != PaymentState::Created);
    };
    let answered = matches!(called, CallOutcome::Answer { .. } | CallOutcome::Refused { .. });
    match called.clone() {
        CallOutcome::Answer { facts, code } if facts.status == PaymentStatus::NotFound => {
            not_found(order, &code).await?;
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

/// The provider has no trade under our number.
async fn not_found(order: &mut Order<'_>, code: &MappedCode) -> Result<(), WorkError> {
    match order.payment.state {
        PaymentState::Unknown | PaymentState::Pending => {
            if let Some(wait) = order.not_found_too_soon().await? {
                tracing::info!(payment_id = %order.payment.id, ?wait,
                    "the provider has no such trade yet, but our pay request is too recent to believe it");
                return Ok(());
            }
            let detail = json!({"code": code.unified, "proof": "the provider has no record of the trade"});
            if order.transition(PaymentEvent::Closed, detail).await? {
                order.because("closed: the provider never received the payment request");
            }
        }
        PaymentState::ActionRequired if order.customer_has_not_made_the_trade() => {
            tracing::debug!(payment_id = %order.payment.id,
                "no such trade yet: the customer has not scanned or opened the payment");
        }
        PaymentState::ActionRequired => {
            let detail = json!({"state": order.payment.state, "code": code.unified});
            order.raise("provider_lost_the_payment", detail).await?;
        }
        // Final, paid or refunded here and unknown there: reconciliation's business.
        _ => {}
    }
    Ok(())
}
