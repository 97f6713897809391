//! What the provider said about the payment, applied to the order: checked against it first
//! (amount, transaction id), recorded, then the event its status makes
//! ([`status_events`](paygate::state_machine::status_events)) through the state machine. A
//! success after we closed or expired the order is paid after close (`work::auto_refund`).

use super::{Order, WorkError};
use crate::work::auto_refund;
use paygate::providers::{MappedCode, PaymentFacts};
use paygate::state_machine::{PaymentEvent, PaymentState, payment as machine, status_events};
use paygate::store::payments;
use serde_json::{Value, json};

impl Order<'_> {
    /// Applies what the provider said about the payment: first checks it is about this payment
    /// (the amount and currency must match ours), records the provider's transaction id and the
    /// customer's action, then moves the state. A success after we closed or expired the order
    /// is recorded as paid after close. A status that makes no event
    /// ([`PaymentStatus::NotFound`](paygate::providers::PaymentStatus::NotFound)) moves nothing
    /// here: what it means depends on the call, so the caller decides.
    pub async fn apply_facts(&mut self, facts: &PaymentFacts, code: &MappedCode) -> Result<(), WorkError> {
        if let Some(amount) = facts.amount
            && amount != self.payment.amount
        {
            tracing::warn!(payment_id = %self.payment.id, ours = %self.payment.amount, theirs = %amount, "amount mismatch");
            return self
                .raise(
                    "amount_mismatch",
                    json!({"ours": self.payment.amount, "provider": amount, "status": format!("{:?}", facts.status)}),
                )
                .await;
        }
        let action = facts.action.as_ref().map(|a| serde_json::to_value(a).unwrap_or(Value::Null));
        if let (Some(ours), Some(theirs)) = (&self.payment.provider_txn_id, &facts.provider_txn_id)
            && ours != theirs
        {
            self.raise("two_provider_transactions", json!({"known": ours, "reported": theirs})).await?;
        }
        let event = status_events::payment_event(&facts.status);
        let moves = event.is_some_and(|e| machine::transition(self.payment.state, e).is_ok());
        let txn_changes = facts.provider_txn_id.is_some() && self.payment.provider_txn_id.is_none();
        let action_changes = action.is_some() && action != self.payment.customer_action;
        if !moves && (txn_changes || action_changes) {
            // Nothing moves, but the provider told us something new: record it on its own. (When
            // the payment moves, the transition's own statement records it.)
            let db = self.db().await?;
            payments::record_provider_facts(
                db.conn,
                db.payment,
                facts.provider_txn_id.as_deref(),
                action.as_ref(),
            )
            .await?;
        }
        let Some(event) = event else { return Ok(()) };
        let was = self.payment.state;
        let detail =
            json!({"code": code.unified, "provider_code": code.provider_code, "message": code.message});
        let facts_now = (facts.provider_txn_id.as_deref(), action.as_ref());
        if self.transition_recording(event, detail, facts_now).await? {
            self.because(code.describe());
            self.capture_moved(was).await?;
            if event == PaymentEvent::ProviderSucceeded
                && matches!(was, PaymentState::Closed | PaymentState::Expired)
            {
                auto_refund::paid_after_close(self, was).await?;
            }
        }
        Ok(())
    }
}
