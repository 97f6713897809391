//! `order.capture`: capture all or part of an authorised payment (a `capture` command).
//!
//! **Plan** (under the order's lock, before the call): an `authorized` payment whose capture the
//! rules allow (`state_machine::capture::check`, again: ingest read without the lock) moves to
//! `capturing`, and the capture's amount is recorded with it; that attempt is committed before
//! the request leaves: from then on the capture may have reached the provider, and only the
//! provider's word ends it (docs/architecture.md, "May have been sent"). A payment already
//! `capturing` for the same amount is one whose attempt an earlier delivery committed and whose
//! answer never committed: the capture is sent again under the same trade number (a provider
//! answers a repeated capture with the capture made, or refuses it; then a query decides). Any
//! other state, or another amount, sends nothing: the command is answered with the payment's
//! state (`report::answer_unheard`).
//!
//! **Apply**, how the call ended:
//! - an answer: the provider's facts: captured (`succeeded`, the captured amount recorded), still
//!   authorised (`authorized` again: nothing was taken), released (`voided`);
//! - a definitive refusal of the first call: nothing was taken, `authorized` again with the code
//!   (a refusal of a repeated call is not the outcome of the first: a query decides);
//! - anything ambiguous (a timeout, a 5xx, busy): still `capturing`, never re-sent blindly: the
//!   follow-up queries decide, and past the last tier a person.

use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::Plan;
use paygate::broker::consumer::Outcome;
use paygate::domain::Money;
use paygate::providers::{CallOutcome, CaptureRequest, PaymentStatus};
use paygate::state_machine::{PaymentEvent, PaymentState, capture};
use paygate::store::payments;
use serde_json::json;

pub async fn plan(order: &mut Order<'_>, amount: Money) -> Result<Plan, WorkError> {
    let repeat = match order.payment.state {
        PaymentState::Authorized => {
            if let Err(refused) = capture::check(order.payment.state, order.payment.amount, amount) {
                tracing::info!(payment_id = %order.payment.id, %refused, "capture refused under the lock");
                return Ok(Plan::NoCall);
            }
            false
        }
        PaymentState::Capturing if order.payment.capture_requested == Some(amount) => true,
        state => {
            tracing::debug!(payment_id = %order.payment.id, %state, "nothing to capture");
            return Ok(Plan::NoCall);
        }
    };
    let pass = match order.pass() {
        Ok(pass) => pass,
        Err(refusal) => return Ok(Plan::Held(refusal)),
    };
    let request = CaptureRequest { trade_no: order.trade_no(), amount, authorized: order.payment.amount };
    if !repeat {
        order.transition(PaymentEvent::CaptureSubmitted, json!({"amount": amount})).await?;
        let db = order.db().await?;
        payments::record_capture_request(db.conn, db.payment, amount).await?;
    }
    Ok(Plan::Call(Call::Capture { request, repeat }, pass))
}

pub async fn apply(order: &mut Order<'_>, answered: Option<&Answered>) -> Result<Outcome, WorkError> {
    let Some(Answered::Payment { called, repeat }) = answered else { return Ok(Outcome::Done) };
    if order.payment.state != PaymentState::Capturing {
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
        CallOutcome::Answer { facts, code } => order.apply_facts(&facts, &code).await?,
        CallOutcome::Refused { code } if !*repeat => {
            let detail = json!({"code": code.unified, "message": code.message, "capture_refused": true});
            if order.transition(PaymentEvent::Authorized, detail).await? {
                order.because(format!("the capture was refused, nothing was taken: {}", code.describe()));
                order.capture_moved(PaymentState::Capturing).await?;
            }
        }
        CallOutcome::Refused { code } => {
            order.because(format!(
                "the repeated capture was refused ({}): the first one's outcome is not known; a query decides",
                code.describe()
            ));
        }
        CallOutcome::RetryLater { code } | CallOutcome::Unknown { code: Some(code), .. } => {
            order.because(format!("capture outcome unknown: {}", code.describe()));
        }
        CallOutcome::Unknown { reason, code: None } => {
            order.because(format!("capture outcome unknown: {reason}"));
        }
    }
    order.follow_up().await?;
    Ok(Outcome::Done)
}
