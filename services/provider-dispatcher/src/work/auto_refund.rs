//! Paid after close: the provider reports paid a payment we closed or expired. Money truth wins
//! (the state machine's only way out of a final state): the payment is flagged
//! `paid_after_close`, its event lets upstream decide, and the merchant's policy
//! `auto_refund_paid_after_close` refunds it in full (refund number `auto-<payment id>`,
//! requested by `paygate`, dispatched to its shard through the outbox in this transaction, then
//! worked like any refund, `work::refund`); without the policy a person is asked.

use crate::order::{Order, WorkError};
use paygate::messages::orders::OrderWork;
use paygate::messages::to_shard::to_shard;
use paygate::state_machine::PaymentState;
use paygate::store::payments;
use paygate::store::policies;
use paygate::store::refunds::{self, NewRefund};
use serde_json::json;
use uuid::Uuid;

/// The flag on a payment that the provider reports paid after we closed or expired it (and the
/// needs-attention kind when no policy refunds it).
pub const PAID_AFTER_CLOSE: &str = "paid_after_close";
/// Who requests the refund of a payment paid after close, when the merchant's policy does.
pub const AUTO_REFUND_REQUESTER: &str = "paygate";

/// The payment, just moved to `succeeded` from `was` (closed or expired): flags it, then refunds
/// it by the merchant's policy or asks a person. See the module documentation.
pub async fn paid_after_close(order: &mut Order<'_>, was: PaymentState) -> Result<(), WorkError> {
    tracing::warn!(payment_id = %order.payment.id, was = %was, "paid after close");
    let db = order.db().await?;
    payments::add_flag(db.conn, db.payment, PAID_AFTER_CLOSE).await?;
    let policy =
        policies::get(db.conn, db.payment.merchant_id.as_str(), db.payment.amount.currency()).await?;
    if !policy.auto_refund_paid_after_close {
        let detail = json!({"was": was, "amount": order.payment.amount});
        return order.raise(PAID_AFTER_CLOSE, detail).await;
    }
    let new = NewRefund {
        id: Uuid::now_v7(),
        payment_id: order.payment.id,
        merchant_id: order.payment.merchant_id.clone(),
        refund_no: format!("auto-{}", order.payment.id),
        amount: order.payment.amount,
        reason: Some(format!("paid after the payment was {was}: refunded by the merchant's policy")),
        requested_by: AUTO_REFUND_REQUESTER.to_owned(),
        request_fingerprint: "auto_refund_paid_after_close".to_owned(),
        // Its events go where the payment's go.
        reply_to: None,
        correlation_id: None,
    };
    let cause = Some(order.cause.message_id);
    let refund_id = match refunds::create(order.db().await?.conn, &new, cause).await? {
        refunds::Created::New(r) | refunds::Created::Existing(r) => r.id,
    };
    let work = OrderWork::DispatchRefund { payment_id: order.payment.id, refund_id };
    let message = to_shard(&order.deps.topology, &work).caused_by(order.cause);
    message.enqueue(order.db().await?.conn).await?;
    tracing::info!(payment_id = %order.payment.id, %refund_id, "paid after close: refunding by policy");
    Ok(())
}
