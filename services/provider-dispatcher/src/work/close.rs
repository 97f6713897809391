//! `order.close`: close an unpaid payment at its provider (upstream asked, or it expired).
//!
//! A payment never sent is closed here alone. One the provider has is closed only when the
//! provider confirms; if the provider answers that it was paid, the payment becomes succeeded and
//! nothing is closed (an expiry close that finds it paid flags it `paid_at_expiry`). The close is
//! the expiry's final query: the provider closes only what is unpaid, so its answer cannot race
//! the customer the way a query followed by a close would. A close that ends ambiguously is simply asked again later: closing moves no
//! money, so repeating it is safe.

use crate::order::{Order, PAID_AT_EXPIRY, WorkError};
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::CloseReason;
use paygate::providers::{CallOutcome, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use paygate::store::payments;
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
