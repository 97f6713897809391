//! A barcode payment the provider refunded when it reversed it (`work::reverse`): the customer
//! was charged and the money returned by the provider's own reversal, not by a refund request of
//! ours. So that our books and the provider's agree, it is recorded as a full refund created by
//! the system: refund number `reversal-<payment id>`, requested by `paygate`, with a reason that
//! says so, and an id derived from the payment's (`adapter::reversal_refund_id`): a bill's refund
//! line made by the reversal carries the payment's own trade number where a refund number of
//! ours would be (or none), and reconciliation reads such a line as this refund
//! (`adapter::refund_id_of_line`), then matches it like any other. It moves `requested → submitted →
//! succeeded` in the answer's transaction, its amount reserved then settled, and the payment to
//! `refunded`; upstream hears the refund's event and the payment's.

use super::facts;
use super::locked::{balance_error, finish, lock, transition};
use crate::order::{Order, WorkError};
use paygate::providers::adapter::reversal_refund_id;
use paygate::providers::{MappedCode, RefundFacts, RefundStatus};
use paygate::state_machine::{RefundEvent, RefundState};
use paygate::store::balance;
use paygate::store::refunds::{self, NewRefund};
use serde_json::json;

/// Who requests the refund a reversal made.
pub const REVERSAL_REQUESTER: &str = "paygate";

/// The refund number of a payment's reversal refund.
pub fn refund_no(payment_id: uuid::Uuid) -> String {
    format!("reversal-{payment_id}")
}

/// Records the full refund the provider made when it reversed the payment, just moved to
/// `succeeded`. See the module documentation.
pub async fn reversed(order: &mut Order<'_>, code: &MappedCode) -> Result<(), WorkError> {
    let payment_id = order.payment.id;
    let new = NewRefund {
        id: reversal_refund_id(payment_id),
        payment_id,
        merchant_id: order.payment.merchant_id.clone(),
        refund_no: refund_no(payment_id),
        amount: order.payment.amount,
        reason: Some(
            "barcode payment reversed after it did not finish in time: it had been paid, and the provider's reversal refunded it in full"
                .into(),
        ),
        requested_by: REVERSAL_REQUESTER.to_owned(),
        request_fingerprint: "barcode_reversal".to_owned(),
        // Its events go where the payment's go.
        reply_to: None,
        correlation_id: None,
    };
    let cause = Some(order.cause.message_id);
    let refund_id = match refunds::create(order.db().await?.conn, &new, cause).await? {
        refunds::Created::New(r) | refunds::Created::Existing(r) => r.id,
    };
    let Some(mut work) = lock(order, refund_id, None).await? else {
        return Err(WorkError::Invariant(format!("payment {payment_id}: its reversal refund vanished")));
    };
    if work.refund.state != RefundState::Requested {
        return Ok(()); // recorded already
    }
    let db = order.db().await?;
    balance::reserve(db.conn, db.payment, work.refund.amount).await.map_err(balance_error)?;
    let detail = json!({"via": "reversal", "provider_code": code.provider_code,
        "note": "refunded by the provider's reversal of the payment; no refund request of its own"});
    transition(order, &mut work, RefundEvent::Submitted, detail).await?;
    let refunded = RefundFacts {
        status: RefundStatus::Succeeded,
        provider_refund_id: None,
        amount: Some(work.refund.amount),
    };
    facts::apply_facts(order, &mut work, &refunded, code).await?;
    tracing::info!(%payment_id, %refund_id, "reversed after payment: the provider refunded it; recorded as a full refund");
    finish(order, work).await?;
    Ok(())
}
