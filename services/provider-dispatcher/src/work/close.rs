//! `order.close`: close an unpaid payment at its provider (upstream asked, or it expired).
//!
//! A payment still `created` was never sent (a pay commits its attempt before its request
//! leaves), so it is closed here alone. One that may have been sent is closed only when the
//! provider confirms; if the provider answers that it was paid, the payment becomes succeeded and
//! nothing is closed (an expiry close that finds it paid flags it `paid_at_expiry`). The close is
//! the expiry's final query: the provider closes only what is unpaid, so its answer cannot race
//! the customer the way a query followed by a close would. A provider with no such trade proves
//! nothing while our pay request is recent (see `query`): the close is asked again later. A close
//! that ends ambiguously is likewise asked again later: closing moves no money, so repeating it
//! is safe.

use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::{self, Plan};
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::CloseReason;
use paygate::providers::{CallOutcome, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use paygate::store::payments;
use serde_json::json;

/// The flag on a payment whose expiry close found it paid: the customer paid at the last
/// moment, the payment wins, and an operator can see it was a near thing.
pub const PAID_AT_EXPIRY: &str = "paid_at_expiry";

/// Whether the payment may be at the provider and still unpaid there: the close is the
/// provider's to make.
fn at_the_provider(order: &Order<'_>) -> bool {
    matches!(
        order.payment.state,
        PaymentState::Pending | PaymentState::ActionRequired | PaymentState::Unknown
    )
}

pub async fn plan(order: &mut Order<'_>) -> Result<Plan, WorkError> {
    if !at_the_provider(order) {
        return Ok(Plan::NoCall);
    }
    Ok(plan::call(order, Call::Close))
}

pub async fn apply(
    order: &mut Order<'_>,
    reason: CloseReason,
    answered: Option<&Answered>,
) -> Result<Outcome, WorkError> {
    let event = match reason {
        CloseReason::Requested => PaymentEvent::Closed,
        CloseReason::Expired => PaymentEvent::Expired,
    };
    if order.payment.state == PaymentState::Created {
        if order.transition(event, json!({"reason": reason, "sent": false})).await? {
            order.because("closed before it was sent to the provider");
        }
        return Ok(Outcome::Done);
    }
    if !at_the_provider(order) {
        // Paid, refunded, failed or already closed: nothing to close. Upstream hears the state.
        return Ok(Outcome::Done);
    }
    let Some(Answered::Payment { called, .. }) = answered else {
        return Err(WorkError::Invariant(format!(
            "payment {}: a close of a {} payment without the provider's answer",
            order.payment.id, order.payment.state
        )));
    };
    match called.clone() {
        CallOutcome::Answer { facts, code } if facts.status == PaymentStatus::NotFound => {
            if order.payment.state == PaymentState::ActionRequired && !order.customer_has_not_made_the_trade()
            {
                order.raise("provider_lost_the_payment", json!({"code": code.unified})).await?;
            } else if order.customer_has_not_made_the_trade()
                && order.payment.expires_at.is_none_or(|at| at > chrono::Utc::now())
            {
                // No trade yet, and the provider still makes one if the customer scans or opens
                // the payment before its expiry: a close here would tell upstream that a payment
                // the customer can still pay is closed. A person decides; expiry closes it.
                let detail = json!({"code": code.unified, "expires_at": order.payment.expires_at});
                order.raise("close_before_the_customer_acts", detail).await?;
            } else if let Some(wait) = order.not_found_too_soon().await? {
                let reason = format!(
                    "close: the provider has no such trade yet, but our pay request is too recent to believe it (for {wait:?} more)"
                );
                return Ok(Outcome::RetryLater { reason });
            } else {
                let detail = json!({"reason": reason, "proof": "the provider has no record of the trade"});
                if order.transition(event, detail).await? {
                    order.because("closed: the provider never received the payment request");
                }
            }
        }
        CallOutcome::Answer { facts, code } => {
            // A close answered "closed" for a payment that expired at the provider is an expiry.
            let mut facts = facts;
            if reason == CloseReason::Expired && facts.status == PaymentStatus::Closed {
                facts.status = PaymentStatus::Expired;
            }
            let was = order.payment.state;
            order.apply_facts(&facts, &code).await?;
            if reason == CloseReason::Expired
                && was != PaymentState::Succeeded
                && order.payment.state == PaymentState::Succeeded
            {
                tracing::warn!(payment_id = %order.payment.id, "paid at the last moment: the expiry close found it paid");
                let db = order.db().await?;
                payments::add_flag(db.conn, db.payment, PAID_AT_EXPIRY).await?;
            }
        }
        CallOutcome::Refused { code } => {
            tracing::error!(payment_id = %order.payment.id, code = %code.describe(), "the provider refused a close");
            order.raise("close_refused", json!({"code": code.unified, "message": code.message})).await?;
        }
        CallOutcome::RetryLater { code } => {
            return Ok(Outcome::RetryLater { reason: format!("close: {}", code.describe()) });
        }
        CallOutcome::Unknown { reason, .. } => {
            return Ok(Outcome::RetryLater { reason: format!("close: outcome unknown: {reason}") });
        }
    }
    Ok(Outcome::Done)
}
