//! `order.close`: close an unpaid payment at its provider (upstream asked, or it expired).
//!
//! A payment never sent is closed here alone. One the provider has is closed only when the
//! provider confirms; if the provider answers that it was paid, the payment becomes succeeded and
//! nothing is closed. A close that ends ambiguously is simply asked again later: closing moves no
//! money, so repeating it is safe.

use crate::order::{Order, WorkError};
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::CloseReason;
use paygate::providers::{CallOutcome, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use serde_json::json;

pub async fn apply(order: &mut Order<'_>, reason: CloseReason) -> Result<Outcome, WorkError> {
    let event = match reason {
        CloseReason::Requested => PaymentEvent::Closed,
        CloseReason::Expired => PaymentEvent::Expired,
    };
    match order.payment.state {
        PaymentState::Created => {
            if order.transition(event, json!({"reason": reason, "sent": false})).await? {
                order.because("closed before it was sent to the provider");
            }
            return Ok(Outcome::Done);
        }
        PaymentState::Pending | PaymentState::ActionRequired | PaymentState::Unknown => {}
        // Paid, refunded, failed or already closed: nothing to close. Upstream hears the state.
        _ => {
            return Ok(Outcome::Done);
        }
    }
    let called = order.adapter.close(&order.trade_no(), order.payment.amount.currency()).await;
    order.log_exchange(None, &called.exchange).await?;
    match called.outcome {
        CallOutcome::Answer { facts, code } if facts.status == PaymentStatus::NotFound => {
            if order.payment.state == PaymentState::ActionRequired {
                order.raise("provider_lost_the_payment", json!({"code": code.unified})).await?;
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
            order.apply_facts(&facts, &code).await?;
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
