//! `order.void`: release an authorised payment without taking any of it (a `void` command, or
//! its authorisation reaching the provider's expiry: the compensation scheduler's scan).
//!
//! **Plan**: an `authorized` payment moves to `voiding`, committed before the request leaves (a
//! void may have reached the provider from then on). A payment already `voiding` is sent again:
//! releasing moves no money to anyone, so repeating it is safe, and the provider answers a repeat
//! with the payment as it stands. Any other state sends nothing and the command is answered with
//! the payment's state.
//!
//! **Apply**, how the call ended:
//! - an answer: released (`voided`; `expired` in the history when the expiry asked), captured
//!   meanwhile (`succeeded`: money truth wins), still held (`authorized`);
//! - a definitive refusal of the first call: `authorized` again, and a person is asked
//!   (`void_refused`): the provider keeps the customer's money held;
//! - ambiguous (a timeout, a 5xx, busy): the void is asked again later, still `voiding`.

use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::{self, Plan};
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::VoidReason;
use paygate::providers::{CallOutcome, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use serde_json::json;

pub async fn plan(order: &mut Order<'_>) -> Result<Plan, WorkError> {
    let repeat = match order.payment.state {
        PaymentState::Authorized => false,
        PaymentState::Voiding => true,
        state => {
            tracing::debug!(payment_id = %order.payment.id, %state, "nothing to void");
            return Ok(Plan::NoCall);
        }
    };
    let planned = plan::call(order, Call::Void { repeat });
    if !repeat && matches!(planned, Plan::Call(..)) {
        order.transition(PaymentEvent::VoidSubmitted, json!({})).await?;
    }
    Ok(planned)
}

pub async fn apply(
    order: &mut Order<'_>,
    reason: VoidReason,
    answered: Option<&Answered>,
) -> Result<Outcome, WorkError> {
    let Some(Answered::Payment { called, repeat }) = answered else { return Ok(Outcome::Done) };
    if order.payment.state != PaymentState::Voiding {
        return Ok(Outcome::Done);
    }
    match called.clone() {
        CallOutcome::Answer { facts, code } if facts.status == PaymentStatus::NotFound => {
            order
                .raise(
                    "provider_lost_the_payment",
                    json!({"state": order.payment.state, "code": code.unified}),
                )
                .await?;
        }
        CallOutcome::Answer { mut facts, code } => {
            // A release the expiry asked for is an expiry in the history.
            if reason == VoidReason::Expired && facts.status == PaymentStatus::Closed {
                facts.status = PaymentStatus::Expired;
            }
            order.apply_facts(&facts, &code).await?;
        }
        CallOutcome::Refused { code } if !*repeat => {
            let detail = json!({"code": code.unified, "message": code.message, "void_refused": true});
            if order.transition(PaymentEvent::Authorized, detail.clone()).await? {
                order.because(format!("the void was refused, the authorisation stays: {}", code.describe()));
            }
            order.raise("void_refused", detail).await?;
        }
        CallOutcome::Refused { code } => {
            // Not the outcome of the first void, whose answer never committed: a query decides.
            order.because(format!("the repeated void was refused ({}); a query decides", code.describe()));
            order.follow_up().await?;
        }
        CallOutcome::RetryLater { code } => {
            return Ok(Outcome::RetryLater { reason: format!("void: {}", code.describe()) });
        }
        CallOutcome::Unknown { reason, .. } => {
            return Ok(Outcome::RetryLater { reason: format!("void: outcome unknown: {reason}") });
        }
    }
    Ok(Outcome::Done)
}
