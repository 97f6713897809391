//! The moves every kind of work makes on its order: a state change through the state machine,
//! recorded (a refused one puts the order on the needs-attention list instead); a raise for a
//! person; and the follow-up queries on the retry ladder while the payment is not settled.

use super::{Order, WorkError};
use crate::followup::{self, FollowUp};
use paygate::messages::orders::QueryReason;
use paygate::state_machine::{PaymentEvent, PaymentState, payment as machine};
use paygate::store::StoreError;
use paygate::store::attention::{self, Raise};
use paygate::store::payments;
use serde_json::{Value, json};
use uuid::Uuid;

impl Order<'_> {
    /// Moves the payment by `event` if the state machine allows it, recording the transition.
    /// A repeat is a no-op. An event the machine refuses is a contradiction between what we know
    /// and what we were told: nothing moves, and the order goes on the needs-attention list.
    /// Returns whether the payment moved.
    pub async fn transition(&mut self, event: PaymentEvent, detail: Value) -> Result<bool, WorkError> {
        self.transition_recording(event, detail, (None, None)).await
    }

    /// [`Order::transition`], recording in the same statement the provider's transaction id and
    /// the customer's action, when the payment moves.
    pub(super) async fn transition_recording(
        &mut self,
        event: PaymentEvent,
        detail: Value,
        (provider_txn_id, customer_action): (Option<&str>, Option<&Value>),
    ) -> Result<bool, WorkError> {
        match machine::transition(self.payment.state, event) {
            Ok(_) => {
                let cause = Some(self.cause.message_id);
                let step = payments::advance(
                    &mut self.payment,
                    event,
                    cause,
                    detail,
                    provider_txn_id,
                    customer_action,
                )
                .map_err(StoreError::Refused)?;
                self.unwritten.extend(step);
                Ok(true)
            }
            Err(e) if e.is_already_applied() => Ok(false),
            Err(e) => {
                tracing::warn!(payment_id = %self.payment.id, error = %e, "contradicting answer; needs a person");
                self.raise(
                    "contradicting_provider_answer",
                    json!({"refused": e.to_string(), "detail": detail}),
                )
                .await?;
                Ok(false)
            }
        }
    }

    /// Puts the payment (or one of its refunds) on the needs-attention list.
    pub async fn raise(&mut self, kind: &str, detail: Value) -> Result<(), WorkError> {
        self.raise_for(None, kind, detail).await
    }

    pub async fn raise_for(
        &mut self,
        refund_id: Option<Uuid>,
        kind: &str,
        detail: Value,
    ) -> Result<(), WorkError> {
        let payment_id = self.payment.id;
        if attention::raise(self.db().await?.conn, &Raise { payment_id, refund_id, kind, detail }).await? {
            self.deps.metrics.attention(kind);
        }
        Ok(())
    }

    /// Schedules the next follow-up query for the payment or one of its refunds on the retry
    /// ladder; past the last tier the order goes on the needs-attention list instead.
    pub async fn schedule_query(
        &mut self,
        refund_id: Option<Uuid>,
        reason: QueryReason,
    ) -> Result<(), WorkError> {
        let attempt = self.cause.attempt.saturating_add(1);
        let (deps, cause, payment_id) = (self.deps, self.cause, self.payment.id);
        let conn = self.db().await?.conn;
        let done =
            followup::schedule_query(conn, &deps.topology, payment_id, refund_id, reason, attempt, cause)
                .await?;
        if let FollowUp::NeedsAttention { attempts } = done {
            tracing::warn!(payment_id = %self.payment.id, ?refund_id, attempts, "unresolved after the last retry tier");
            self.deps.metrics.attention(followup::UNRESOLVED);
        }
        Ok(())
    }

    /// Keeps asking the provider while the payment is not settled: the next query waits on the
    /// retry ladder. An UNKNOWN payment still unknown after the last tier goes on the
    /// needs-attention list; a payment waiting for its customer is left to the compensation
    /// scheduler once the ladder is done (it expires at the provider; that is not an incident).
    pub async fn follow_up(&mut self) -> Result<(), WorkError> {
        let attempt = self.cause.attempt.saturating_add(1);
        let reason = match self.payment.state {
            // A capture or void that may have reached the provider: only its word ends it.
            PaymentState::Unknown | PaymentState::Capturing | PaymentState::Voiding => {
                QueryReason::OutcomeUnknown
            }
            PaymentState::Pending | PaymentState::ActionRequired => {
                if self.deps.topology.retry_tier_for_attempt(attempt).is_none() {
                    return Ok(());
                }
                QueryReason::StillProcessing
            }
            _ => return Ok(()),
        };
        self.schedule_query(None, reason).await
    }
}
