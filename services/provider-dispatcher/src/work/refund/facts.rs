//! What the provider said about a refund, applied: checked against the refund (amount), its
//! provider id recorded, then the event its status makes
//! ([`status_events`](paygate::state_machine::status_events)) through the refund's machine. A
//! success settles the amount and moves the payment (partially refunded or refunded); a failure
//! releases it.

use super::locked::{Work, balance_error, release, transition};
use crate::order::{Order, WorkError};
use paygate::providers::{MappedCode, RefundFacts};
use paygate::state_machine::{RefundEvent, status_events};
use paygate::store::balance;
use paygate::store::refunds;
use serde_json::json;

/// Applies what the provider said about the refund.
pub(super) async fn apply_facts(
    order: &mut Order<'_>,
    work: &mut Work,
    facts: &RefundFacts,
    code: &MappedCode,
) -> Result<(), WorkError> {
    if let Some(amount) = facts.amount
        && amount != work.refund.amount
    {
        let detail = json!({"ours": work.refund.amount, "provider": amount});
        return order.raise_for(Some(work.refund.id), "refund_amount_mismatch", detail).await;
    }
    if let Some(id) = &facts.provider_refund_id {
        refunds::record_provider_refund_id(order.db().await?.conn, &mut work.refund, id).await?;
    }
    let Some(event) = status_events::refund_event(facts.status) else { return Ok(()) };
    let detail = json!({"code": code.unified, "provider_code": code.provider_code, "message": code.message});
    if !transition(order, work, event, detail).await? {
        return Ok(());
    }
    match event {
        RefundEvent::ProviderSucceeded => {
            let db = order.db().await?;
            let event =
                balance::settle(db.conn, db.payment, work.refund.amount).await.map_err(balance_error)?;
            let detail = json!({"refund_id": work.refund.id, "amount": work.refund.amount});
            order.transition(event, detail).await?;
        }
        RefundEvent::ProviderFailed => release(order, &work.refund).await?,
        _ => {}
    }
    work.reason = Some(code.describe());
    Ok(())
}
