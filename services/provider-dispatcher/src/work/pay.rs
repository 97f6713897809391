//! `order.dispatch_pay`: send a newly created payment to its provider.
//!
//! **Plan** (under the order's lock, before the call): a `created` payment moves to `pending`,
//! and that attempt is committed before the request leaves: from then on the payment may have
//! reached the provider, and nothing closes, expires or fails it without the provider's word
//! (docs/architecture.md, "May have been sent"). A payment already `pending` when its dispatch
//! arrives is one whose attempt an earlier delivery committed before it died or failed: it is
//! sent again under the same trade number, the provider's idempotency key, which the provider
//! answers with the original transaction, never a second charge. A payment in any other state
//! was dispatched and answered already: nothing to do.
//!
//! **Apply** (in the message's transaction, under the lock again), how the call ended:
//! - an answer: the provider's facts (waiting for the customer, succeeded, declined, …);
//! - a definitive refusal of the first call (a bad request): failed, with the code. A refusal of
//!   a repeated call is not the outcome of the first (a "duplicate order number", a clock or
//!   signature error): UNKNOWN, and a query decides;
//! - not processed (rate limited, busy with the same order): still pending, and the pay is sent
//!   again from the retry ladder (a provider's `Retry-After` holds it at least that long:
//!   `bulkhead.rs`); a ladder run out leaves it to the stuck scan's query;
//! - a timeout, a 5xx, a broken connection: UNKNOWN, and a query follows. Never re-sent blindly.

use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::Plan;
use paygate::broker::consumer::Outcome;
use paygate::providers::{CallOutcome, PayRequest, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use serde_json::json;

pub async fn plan(order: &mut Order<'_>) -> Result<Plan, WorkError> {
    let repeat = match order.payment.state {
        PaymentState::Created => false,
        PaymentState::Pending => true,
        state => {
            tracing::debug!(payment_id = %order.payment.id, %state, "already dispatched");
            return Ok(Plan::NoCall);
        }
    };
    let pass = match order.pass() {
        Ok(pass) => pass,
        Err(refusal) => return Ok(Plan::Held(refusal)),
    };
    let request = PayRequest {
        trade_no: order.trade_no(),
        amount: order.payment.amount,
        subject: order.payment.subject.clone(),
        pay_method: order.payment.pay_method,
        notify_url: order.notify_url(),
        return_url: order.payment.return_url.clone(),
        expires_at: order.payment.expires_at,
        auth_code: order.payment.auth_code.clone(),
        payer: order.payment.payer.clone().unwrap_or_default(),
        capture: order.payment.capture_mode,
    };
    if !repeat {
        order.transition(PaymentEvent::Submitted, json!({"trade_no": request.trade_no})).await?;
    }
    Ok(Plan::Call(Call::Pay { request: Box::new(request), repeat }, pass))
}

pub async fn apply(order: &mut Order<'_>, answered: Option<&Answered>) -> Result<Outcome, WorkError> {
    let Some(Answered::Payment { called, repeat }) = answered else { return Ok(Outcome::Done) };
    match called.clone() {
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
        CallOutcome::Refused { code } if *repeat => {
            let detail = json!({"code": code.unified, "message": code.message, "repeated_call": true});
            order.transition(PaymentEvent::OutcomeUnknown, detail).await?;
            order.because(format!(
                "the repeated pay request was refused ({}): the first one's outcome is not known; a query decides",
                code.describe()
            ));
        }
        CallOutcome::Refused { code } => {
            let detail = json!({"code": code.unified, "message": code.message});
            order.transition(PaymentEvent::ProviderFailed, detail).await?;
            order.because(code.describe());
        }
        CallOutcome::RetryLater { code } => {
            // Not processed (rate limited, or busy with this very order): the pay is sent again
            // from the retry ladder under the same trade number, which the provider answers with
            // the original if there is one. A query instead would find nothing after a rate
            // limit, and close a payment the provider never refused.
            order.because(code.describe());
            return Ok(Outcome::RetryLater { reason: format!("pay not processed: {}", code.describe()) });
        }
    }
    order.follow_up().await?;
    Ok(Outcome::Done)
}
