//! `order.notification`: a provider notification that notify-handler verified and stored.
//!
//! A notification is a claim (docs/architecture.md, decision 5). Under the order's lock:
//! 1. The inbox row is read; one already decided (a redelivery, a duplicate forward) is done.
//! 2. The claim is checked against the order: the provider account, the currency, and the
//!    amount (the payment's, or the named refund's). A mismatch is recorded: the row is
//!    `flagged` with the reason, the order goes on the needs-attention list
//!    (`notification_mismatch`, counted in `paygate_attention_raised_total`), and the order is
//!    not touched.
//! 3. The claim is confirmed as the provider's policy says: by querying the provider back (the
//!    default; the answer, not the notification, moves the order) or, where a verified
//!    notification is enough, by applying the claim as the provider's facts. Either way the
//!    state machine decides, so duplicates and out-of-order notifications converge: a second
//!    success changes nothing, a refund's notification before the payment's is confirmed by its
//!    own query, and a success after close becomes a payment flagged `paid_after_close`.
//!
//! The query back is planned before the transaction (nothing is held while the provider
//! answers): [`plan`] reads the row and the claim and makes the same checks, and asks the
//! provider only when the claim is to be confirmed by a query.
//!
//! 4. The row is decided: `applied` if the order moved, `ignored` (with why) if it already said
//!    so. If the provider gave no answer to the query (timeout, busy) the row stays `received`
//!    and the message is retried on the ladder.

use crate::call::{Answered, Call};
use crate::order::{Order, WorkError};
use crate::plan::{self, Plan};
use crate::work;
use paygate::broker::consumer::Outcome;
use paygate::messages::orders::QueryReason;
use paygate::providers::codes::{MappedCode, UnifiedCode};
use paygate::providers::{
    CallOutcome, ClaimedEvent, Notification, NotificationPolicy, PaymentFacts, PaymentStatus, RefundFacts,
    RefundStatus,
};
use paygate::store::StoredRow;
use paygate::store::notifications::{self, Row, Status};
use paygate::store::refunds::Refund;
use serde_json::json;

/// The needs-attention kind of a notification that contradicts its order.
pub const MISMATCH: &str = "notification_mismatch";

/// A stored notification and the claim it makes, once checked against the order.
enum Checked {
    /// Nothing to confirm: the row is missing, decided, or about another payment; or the claim
    /// does not read or does not match (the transaction flags it).
    Not,
    /// A claim about the payment, to confirm as the provider's policy says.
    Payment,
    /// A claim about this refund of the payment (its id, amount and the provider's refund id),
    /// likewise.
    Refund(uuid::Uuid, paygate::domain::Money, Option<String>),
}

async fn check(order: &mut Order<'_>, notification_id: i64) -> Result<Checked, WorkError> {
    let Some(row) = notifications::lock(order.db().await?.conn, notification_id).await? else {
        return Ok(Checked::Not);
    };
    if row.payment_id != Some(order.payment.id) || row.status() != Status::Received {
        return Ok(Checked::Not);
    }
    let Ok(claim) = order.adapter.notifications().parse(row.body.as_bytes()) else { return Ok(Checked::Not) };
    let refund = match (claim.event.is_refund(), row.refund_id) {
        (true, Some(id)) => Refund::get(order.db().await?.conn, id).await?,
        _ => None,
    };
    if (claim.event.is_refund() && refund.is_none()) || mismatch(order, &claim, refund.as_ref()).is_some() {
        return Ok(Checked::Not);
    }
    Ok(refund.map_or(Checked::Payment, |r| Checked::Refund(r.id, r.amount, r.provider_refund_id)))
}

/// The query back, when the claim is to be confirmed by one.
pub async fn plan(order: &mut Order<'_>, notification_id: i64) -> Result<Plan, WorkError> {
    let checked = check(order, notification_id).await?;
    if order.adapter.notification_policy() != NotificationPolicy::AlwaysQueryBack {
        return Ok(Plan::NoCall);
    }
    let call = match checked {
        Checked::Payment if work::query::needs_asking(order, QueryReason::Notification) => {
            // A barcode payment whose reversal may have been sent is asked by reversal again.
            if work::reverse::instead_of_query(order, QueryReason::Notification) {
                return work::reverse::plan(order).await;
            }
            Call::Query
        }
        Checked::Refund(refund_id, amount, provider_refund_id) => {
            Call::RefundQuery { refund_id, amount, provider_refund_id }
        }
        Checked::Payment | Checked::Not => return Ok(Plan::NoCall),
    };
    Ok(plan::call(order, call))
}

pub async fn apply(
    order: &mut Order<'_>,
    notification_id: i64,
    answered: Option<&Answered>,
) -> Result<Outcome, WorkError> {
    let Some(row) = notifications::lock(order.db().await?.conn, notification_id).await? else {
        return Ok(Outcome::Reject { reason: format!("no notification {notification_id} in the inbox") });
    };
    if row.payment_id != Some(order.payment.id) {
        return Ok(Outcome::Reject {
            reason: format!(
                "notification {notification_id} is about payment {:?}, not {}",
                row.payment_id, order.payment.id
            ),
        });
    }
    if row.status() != Status::Received {
        return Ok(Outcome::Done);
    }
    let provider = order.adapter.name();
    let claim = match order.adapter.notifications().parse(row.body.as_bytes()) {
        Ok(claim) => claim,
        Err(e) => {
            let reason = format!("unreadable on re-reading: {e}");
            return flag(order, &row, None, "body", reason).await;
        }
    };
    let refund = match (claim.event.is_refund(), row.refund_id) {
        (false, _) => None,
        (true, Some(id)) => Refund::get(order.db().await?.conn, id).await?,
        (true, None) => None,
    };
    if claim.event.is_refund() && refund.is_none() {
        return flag(order, &row, None, "refundId", "names no refund of this payment".into()).await;
    }
    if let Some((field, reason)) = mismatch(order, &claim, refund.as_ref()) {
        return flag(order, &row, refund.as_ref(), field, reason).await;
    }

    let payment_version = order.payment.version;
    let refund_version = refund.as_ref().map(|r| r.version);
    let policy = order.adapter.notification_policy();
    let (outcome, answered) = match (&refund, policy) {
        (None, NotificationPolicy::AlwaysQueryBack) => match answered {
            Some(Answered::Reversal { called }) => {
                let decided = matches!(called, CallOutcome::Answer { .. } | CallOutcome::Refused { .. });
                work::reverse::apply(order, QueryReason::Notification, called).await?;
                (Outcome::Done, decided)
            }
            _ => (Outcome::Done, work::query::ask(order, QueryReason::Notification, answered).await?),
        },
        (Some(r), NotificationPolicy::AlwaysQueryBack) => {
            work::refund::ask(order, r.id, QueryReason::Notification, answered).await?
        }
        (None, NotificationPolicy::VerifiedIsEnough) => {
            let (facts, code) = payment_claim(&claim);
            order.apply_facts(&facts, &code).await?;
            (Outcome::Done, true)
        }
        (Some(r), NotificationPolicy::VerifiedIsEnough) => {
            let (facts, code) = refund_claim(&claim);
            (work::refund::apply_claim(order, r.id, &facts, &code).await?, true)
        }
    };
    if !answered {
        let reason = format!(
            "notification {notification_id}: the provider gave no answer to the query back; trying again later"
        );
        return Ok(Outcome::RetryLater { reason });
    }
    let refund_now = match &refund {
        Some(r) => Refund::get(order.db().await?.conn, r.id).await?,
        None => None,
    };
    let moved =
        order.payment.version != payment_version || refund_now.as_ref().map(|r| r.version) != refund_version;
    if moved {
        notifications::decide(order.db().await?.conn, row.id, Status::Applied, None).await?;
    } else {
        let state = match &refund_now {
            Some(r) => format!("refund {} is {}", r.refund_no, r.state.as_str()),
            None => format!("payment is {}", order.payment.state.as_str()),
        };
        let reason = format!("changed nothing: confirmed, and the {state} already");
        notifications::decide(order.db().await?.conn, row.id, Status::Ignored, Some(&reason)).await?;
    }
    order.deps.metrics.notification(provider, if moved { "applied" } else { "ignored" });
    Ok(outcome)
}

/// The first of account, currency and amount that does not match the order, with the rule.
fn mismatch(
    order: &Order<'_>,
    claim: &Notification,
    refund: Option<&Refund>,
) -> Option<(&'static str, String)> {
    let account = order.adapter.notifications().account();
    if claim.account != account {
        return Some(("merchantId", format!("names account {:?}, ours is {account:?}", claim.account)));
    }
    let ours = refund.map_or(order.payment.amount, |r| r.amount);
    if claim.amount.currency() != ours.currency() {
        return Some((
            "currency",
            format!("claims {}, the order is in {}", claim.amount.currency(), ours.currency()),
        ));
    }
    if claim.amount != ours {
        let what = if refund.is_some() { "refund" } else { "payment" };
        return Some(("amount", format!("claims {}, the {what} is {ours}", claim.amount)));
    }
    None
}

/// Records a notification that contradicts its order; the order is not touched.
async fn flag(
    order: &mut Order<'_>,
    row: &Row,
    refund: Option<&Refund>,
    field: &'static str,
    reason: String,
) -> Result<Outcome, WorkError> {
    let text = format!("mismatch: {field}: {reason}");
    tracing::warn!(payment_id = %order.payment.id, notification = row.id, reason = %text, "notification flagged");
    notifications::decide(order.db().await?.conn, row.id, Status::Flagged, Some(&text)).await?;
    let detail = json!({
        "notification_id": row.id,
        "provider_notification_id": row.provider_notification_id,
        "field": field,
        "reason": reason,
    });
    order.raise_for(refund.map(|r| r.id), MISMATCH, detail).await?;
    order.deps.metrics.notification(order.adapter.name(), "flagged");
    Ok(Outcome::Done)
}

fn claim_code(claim: &Notification) -> MappedCode {
    MappedCode {
        provider_code: claim.event.as_str().to_owned(),
        unified: UnifiedCode::Success,
        retryable: false,
        definitive: true,
        message: format!("verified notification {}", claim.notification_id),
    }
}

fn payment_claim(claim: &Notification) -> (PaymentFacts, MappedCode) {
    let status = match claim.event {
        ClaimedEvent::PaymentSucceeded => PaymentStatus::Succeeded,
        ClaimedEvent::PaymentDeclined => PaymentStatus::Failed,
        ClaimedEvent::PaymentClosed => PaymentStatus::Closed,
        // Refund events never reach here (they name a refund).
        ClaimedEvent::PaymentExpired | ClaimedEvent::RefundSucceeded | ClaimedEvent::RefundFailed => {
            PaymentStatus::Expired
        }
    };
    let facts = PaymentFacts {
        provider_txn_id: claim.provider_txn_id.clone(),
        amount: Some(claim.amount),
        paid_at: (status == PaymentStatus::Succeeded).then_some(claim.occurred_at),
        ..PaymentFacts::status(status)
    };
    (facts, claim_code(claim))
}

fn refund_claim(claim: &Notification) -> (RefundFacts, MappedCode) {
    let status = if claim.event == ClaimedEvent::RefundSucceeded {
        RefundStatus::Succeeded
    } else {
        RefundStatus::Failed
    };
    let facts = RefundFacts { status, provider_refund_id: None, amount: Some(claim.amount) };
    (facts, claim_code(claim))
}
