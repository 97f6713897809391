//! `order.dispatch_pay`: send a newly created payment to its provider.
//!
//! The payment exists before the call (pre-commit), and the call carries our trade number as the
//! provider's idempotency key, so a redelivered message after a crash re-sends a request the
//! provider answers with the original transaction: never a second charge. Once the payment has
//! left `created`, the work was done and a repeat changes nothing.
//!
//! How the call ends decides the state (ARCHITECTURE.md, decision 3):
//! - an answer: the provider's facts (waiting for the customer, succeeded, declined, …);
//! - a definitive refusal (a bad request, a reused number): failed, with the code;
//! - busy with the same order: still pending, and a query follows;
//! - a timeout, a 5xx, a broken connection: UNKNOWN, and a query follows. Never re-sent blindly.

use crate::order::{Order, WorkError};
use paygate::broker::consumer::Outcome;
use paygate::messages::commands::PayMethod;
use paygate::providers::{CallOutcome, PayRequest, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use serde_json::json;

pub async fn apply(order: &mut Order<'_>) -> Result<Outcome, WorkError> {
    if order.payment.state != PaymentState::Created {
        tracing::debug!(payment_id = %order.payment.id, state = %order.payment.state, "already dispatched");
        return Ok(Outcome::Done);
    }
    let request = PayRequest {
        trade_no: order.trade_no(),
        amount: order.payment.amount,
        subject: order.payment.subject.clone(),
        pay_method: PayMethod::parse(&order.payment.channel)
            .map_err(|e| WorkError::Invariant(format!("payment {}: stored {e}", order.payment.id)))?,
        notify_url: order.notify_url(),
        return_url: order.payment.return_url.clone(),
        expires_at: order.payment.expires_at,
    };
    let called = order.adapter.pay(&request).await;
    order.log_exchange(None, &called.exchange).await?;
    crate::fault_points::reached(crate::fault_points::AFTER_PROVIDER_CALL);

    order.transition(PaymentEvent::Submitted, json!({"trade_no": request.trade_no})).await?;
    match called.outcome {
        CallOutcome::Answer { facts, code } if facts.status != PaymentStatus::NotFound => {
            order.apply_facts(&facts, &code).await?;
        }
        CallOutcome::Answer { code, .. } | CallOutcome::Unknown { code: Some(code), .. } => {
            let detail = json!({"code": code.unified, "message": code.message});
            order.transition(PaymentEvent::OutcomeUnknown, detail).await?;
            order.because(code.describe());
        }
        CallOutcome::Unknown { reason, code: None } => {
            order.transition(PaymentEvent::OutcomeUnknown, json!({"reason": reason})).await?;
            order.because(format!("outcome unknown: {reason}"));
        }
        CallOutcome::Refused { code } => {
            let detail = json!({"code": code.unified, "message": code.message});
            order.transition(PaymentEvent::ProviderFailed, detail).await?;
            order.because(code.describe());
        }
        CallOutcome::RetryLater { code } => {
            order.because(code.describe());
        }
    }
    order.follow_up().await?;
    Ok(Outcome::Done)
}
