//! A barcode payment that did not finish in time is reversed, not queried again.
//!
//! A face-to-face (barcode) payment answered "in process" waits while the customer confirms on
//! the phone; the dispatcher's follow-up queries and the stuck scan's look at it. Once it is older
//! than its provider's [`reverse_barcode_after`](paygate::providers::ProviderAdapter::reverse_barcode_after)
//! (Alipay: `REVERSE_AFTER`, 30 s) and still not settled, the query work asks the provider to
//! reverse it instead ([`instead_of_query`]): the provider closes it if it is unpaid, or refunds
//! it in full if the customer paid meanwhile (Alipay's `alipay.trade.cancel`).
//!
//! The reversal goes by the rules of every provider call (docs/architecture.md, decision 14). It
//! may move money, so its attempt is committed before it leaves: the payment is flagged
//! [`REVERSAL_SENT`] in the plan's transaction. From then on every query of the payment while it
//! is unsettled is a reversal again, whatever asked for it: a query cannot tell a trade paid from
//! one paid and then refunded by the reversal, and a reversal sent again answers what it did.
//! The answer is applied under the version guard:
//! - closed: the payment is closed (`closed`, the provider confirmed it unpaid);
//! - refunded: the customer was charged and the money returned. The payment moves to `succeeded`
//!   (the provider's proof that money moved), then a full refund created by the system
//!   (`reversal-<payment id>`, requested by `paygate`, its id derived from the payment's, which
//!   reconciliation finds from a bill line under the payment's trade number) moves
//!   `requested → submitted → succeeded` and the payment to `refunded`, with the usual events
//!   (`work::refund::reversed`);
//! - no such trade: believed only past the provider's not-found age, as for a close; before it,
//!   asked again on the ladder;
//! - refused (too late, not allowed, refunded before): a person is asked (`reversal_refused`) and
//!   the payment is flagged [`REVERSAL_REFUSED`], so that it is queried again rather than reversed;
//! - unknown (a timeout, Alipay's `retry_flag=Y`): asked again on the retry ladder, never decided
//!   here; past the last tier a person is asked (`unresolved_after_last_retry`).

use crate::call::Call;
use crate::order::{Order, WorkError};
use crate::plan::Plan;
use crate::work;
use chrono::{DateTime, Utc};
use paygate::broker::consumer::Outcome;
use paygate::messages::commands::PayMethod;
use paygate::messages::orders::QueryReason;
use paygate::providers::{CallOutcome, PaymentFacts, PaymentStatus, ReversalFacts, ReversalStatus};
use paygate::state_machine::{PaymentEvent, PaymentState};
use paygate::store::payments::{self, Payment};
use serde_json::json;
use std::time::Duration;

/// The flag on a payment whose reversal may have been sent: the reversal's committed attempt.
pub const REVERSAL_SENT: &str = "reversal_sent";
/// The flag on a payment whose provider refused to reverse it: it is queried from then on.
pub const REVERSAL_REFUSED: &str = "reversal_refused";

/// Whether a query of `payment` for `reason` must be a reversal instead, at `now`, for a provider
/// that reverses barcode payments not finished `reverse_after` after their creation. Pure: the
/// unit tests below are the decision's specification.
pub fn due(
    payment: &Payment,
    reverse_after: Option<Duration>,
    reason: QueryReason,
    now: DateTime<Utc>,
) -> bool {
    let Some(after) = reverse_after else { return false };
    let unsettled =
        matches!(payment.state, PaymentState::Pending | PaymentState::ActionRequired | PaymentState::Unknown);
    if payment.pay_method != PayMethod::Barcode || !unsettled || flagged(payment, REVERSAL_REFUSED) {
        return false;
    }
    if flagged(payment, REVERSAL_SENT) {
        return true;
    }
    let follow_up =
        matches!(reason, QueryReason::OutcomeUnknown | QueryReason::StillProcessing | QueryReason::Stuck);
    follow_up && (now - payment.created_at).to_std().is_ok_and(|age| age >= after)
}

fn flagged(payment: &Payment, flag: &str) -> bool {
    payment.flags.iter().any(|f| f == flag)
}

/// [`due`] for the order now, with its provider's reverse-after.
pub fn instead_of_query(order: &Order<'_>, reason: QueryReason) -> bool {
    due(&order.payment, order.adapter.reverse_barcode_after(), reason, Utc::now())
}

/// The reversal's plan: the bulkhead's leave first (held, nothing is committed), then the attempt
/// (the [`REVERSAL_SENT`] flag), committed with the plan before the request leaves.
pub async fn plan(order: &mut Order<'_>) -> Result<Plan, WorkError> {
    let pass = match order.pass() {
        Ok(pass) => pass,
        Err(refusal) => return Ok(Plan::Held(refusal)),
    };
    let db = order.db().await?;
    payments::add_flag(db.conn, db.payment, REVERSAL_SENT).await?;
    Ok(Plan::Call(Call::Reverse, pass))
}

/// Applies the provider's answer to the reversal. See the module documentation.
pub async fn apply(
    order: &mut Order<'_>,
    reason: QueryReason,
    called: &CallOutcome<ReversalFacts>,
) -> Result<Outcome, WorkError> {
    let unsettled = matches!(
        order.payment.state,
        PaymentState::Pending | PaymentState::ActionRequired | PaymentState::Unknown
    );
    if !unsettled {
        return Err(WorkError::Invariant(format!(
            "payment {}: a reversal answered for a {} payment (the version guard should have refused it)",
            order.payment.id, order.payment.state
        )));
    }
    match called.clone() {
        CallOutcome::Answer { facts, code } => {
            match facts.status {
                ReversalStatus::Closed => {
                    let detail = json!({"reversal": "close", "code": code.unified,
                    "provider_code": code.provider_code, "message": code.message});
                    if order.transition(PaymentEvent::Closed, detail).await? {
                        order.because("reversed: the barcode payment did not finish in time; the provider closed it unpaid");
                    }
                }
                ReversalStatus::Refunded => {
                    let paid = PaymentFacts {
                        provider_txn_id: facts.provider_txn_id,
                        ..PaymentFacts::status(PaymentStatus::Succeeded)
                    };
                    order.apply_facts(&paid, &code).await?;
                    if order.payment.state == PaymentState::Succeeded {
                        work::refund::reversed(order, &code).await?;
                        order.because(
                        "reversed: the barcode payment did not finish in time; it had been paid, and the provider refunded it in full",
                    );
                    }
                }
                ReversalStatus::NotFound => {
                    if order.payment.state == PaymentState::ActionRequired {
                        order.raise("provider_lost_the_payment", json!({"code": code.unified})).await?;
                    } else if let Some(wait) = order.not_found_too_soon().await? {
                        tracing::info!(payment_id = %order.payment.id, ?wait,
                        "reversal: the provider has no such trade yet, but our pay request is too recent to believe it");
                        order.schedule_query(None, QueryReason::OutcomeUnknown).await?;
                    } else {
                        let detail = json!({"reversal": "not_found", "code": code.unified,
                        "proof": "the provider has no record of the trade"});
                        if order.transition(PaymentEvent::Closed, detail).await? {
                            order.because("closed: the provider never received the payment request");
                        }
                    }
                }
            }
        }
        CallOutcome::Refused { code } => {
            tracing::error!(payment_id = %order.payment.id, code = %code.describe(), "the provider refused a reversal");
            let detail =
                json!({"code": code.unified, "provider_code": code.provider_code, "message": code.message});
            order.raise("reversal_refused", detail).await?;
            let db = order.db().await?;
            payments::add_flag(db.conn, db.payment, REVERSAL_REFUSED).await?;
            if matches!(reason, QueryReason::OutcomeUnknown | QueryReason::StillProcessing) {
                order.follow_up().await?;
            }
        }
        CallOutcome::RetryLater { code } => {
            tracing::info!(payment_id = %order.payment.id, code = %code.describe(), "reversal: asked again later");
            order.schedule_query(None, QueryReason::OutcomeUnknown).await?;
        }
        CallOutcome::Unknown { reason, .. } => {
            tracing::warn!(payment_id = %order.payment.id, %reason, "reversal: outcome unknown; asked again on the ladder");
            order.schedule_query(None, QueryReason::OutcomeUnknown).await?;
        }
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paygate::domain::{Currency, Money};
    use serde_json::json;
    use uuid::Uuid;

    const AFTER: Option<Duration> = Some(Duration::from_secs(30));

    fn payment(method: &str, state: PaymentState, age_secs: i64, flags: &[&str]) -> (Payment, DateTime<Utc>) {
        let now = Utc::now();
        let zero = Money::from_minor(0, Currency::CNY).unwrap();
        let p = Payment {
            id: Uuid::now_v7(),
            merchant_id: "shop".parse().unwrap(),
            merchant_order_no: "o-1".into(),
            provider: "alipay".parse().unwrap(),
            pay_method: method.parse().unwrap(),
            order_type: "retail".into(),
            amount: Money::from_minor(500, Currency::CNY).unwrap(),
            state,
            subject: "Tea".into(),
            return_url: None,
            expires_at: None,
            metadata: json!({}),
            provider_txn_id: None,
            customer_action: None,
            refunded: zero,
            refund_in_flight: zero,
            request_fingerprint: "fp".into(),
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            version: 2,
            next_check_at: None,
            check_attempt: 0,
            reply_to: None,
            correlation_id: None,
            event_sequence: 1,
            auth_code: None,
            payer: None,
            capture_mode: Default::default(),
            authorized_at: None,
            capture_requested: None,
            captured: None,
            created_at: now - chrono::Duration::seconds(age_secs),
            updated_at: now,
        };
        (p, now)
    }

    fn due_for(method: &str, state: PaymentState, age: i64, flags: &[&str], reason: QueryReason) -> bool {
        let (p, now) = payment(method, state, age, flags);
        due(&p, AFTER, reason, now)
    }

    #[test]
    fn an_unsettled_barcode_payment_past_reverse_after_is_reversed_on_its_follow_ups() {
        for state in [PaymentState::Pending, PaymentState::ActionRequired, PaymentState::Unknown] {
            for reason in [QueryReason::OutcomeUnknown, QueryReason::StillProcessing, QueryReason::Stuck] {
                assert!(due_for("barcode", state, 31, &[], reason), "{state} {reason:?}");
                assert!(due_for("barcode", state, 30, &[], reason), "{state} {reason:?} at the limit");
                assert!(!due_for("barcode", state, 29, &[], reason), "{state} {reason:?}: too young");
            }
        }
    }

    #[test]
    fn other_payments_and_other_askers_are_queried() {
        let stuck = QueryReason::Stuck;
        // Not barcode.
        assert!(!due_for("qr", PaymentState::Pending, 600, &[], stuck));
        // Settled, or never sent.
        for state in [
            PaymentState::Created,
            PaymentState::Succeeded,
            PaymentState::Closed,
            PaymentState::Failed,
            PaymentState::Refunded,
        ] {
            assert!(!due_for("barcode", state, 600, &[], stuck), "{state}");
        }
        // A provider with no reversal.
        let (p, now) = payment("barcode", PaymentState::Pending, 600, &[]);
        assert!(!due(&p, None, stuck, now));
        // Upstream's query, a notification's or reconciliation's: a query, until a reversal was sent.
        for reason in [QueryReason::Requested, QueryReason::Notification, QueryReason::Reconciliation] {
            assert!(!due_for("barcode", PaymentState::Pending, 600, &[], reason), "{reason:?}");
        }
    }

    #[test]
    fn once_a_reversal_may_have_been_sent_every_query_is_a_reversal_until_refused() {
        for reason in [QueryReason::Requested, QueryReason::Notification, QueryReason::StillProcessing] {
            assert!(due_for("barcode", PaymentState::Pending, 1, &[REVERSAL_SENT], reason), "{reason:?}");
        }
        let flags = [REVERSAL_SENT, REVERSAL_REFUSED];
        assert!(!due_for("barcode", PaymentState::Pending, 600, &flags, QueryReason::Stuck));
        assert!(!due_for("barcode", PaymentState::Succeeded, 600, &[REVERSAL_SENT], QueryReason::Stuck));
    }
}
