//! `command.rejected`: telling upstream that a command was refused, and why (the field and the
//! rule), in the same transaction that decided it.
//!
//! The event goes through the outbox to the events exchange with routing key
//! `command.rejected.<command>` ([`CommandRejected::routing_key`]) and, when the command asked
//! for a reply (`reply_to`), a copy to that queue through the default exchange (best-effort, like
//! every event: the queue is upstream's). Both carry the command's correlation id (or its message
//! id when it had none).
//!
//! The event's `event_id` is derived from the command's message id, so a command refused again
//! (an operator replaying it from the dead-letter queue) is refused with the same id, and
//! upstream de-duplicates on it.

use crate::commands::{Rejection, RejectionKind, outbox_error};
use paygate::broker::consumer::HandlerError;
use paygate::broker::envelope::Envelope;
use paygate::broker::outbox;
use paygate::broker::topology::{DEFAULT_EXCHANGE, Topology};
use paygate::messages::events::{COMMAND_REJECTED, CommandRejected};
use serde_json::Value;
use sqlx::PgConnection;

/// The event for `rejection` of the command in `cause`.
pub fn event(cause: &Envelope<Value>, rejection: &Rejection) -> CommandRejected {
    let mut event = CommandRejected::new(&cause.message_type, Some(cause.message_id), &rejection.error);
    event.merchant_id = rejection.merchant_id.clone();
    event.merchant_order_no = rejection.merchant_order_no.clone();
    event
}

/// Puts the rejection event in the outbox: to the events exchange, and to `reply_to` if set.
pub async fn emit(
    conn: &mut PgConnection,
    topology: &Topology,
    cause: &Envelope<Value>,
    rejection: &Rejection,
) -> Result<(), HandlerError> {
    let event = event(cause, rejection);
    let envelope = Envelope::new(COMMAND_REJECTED, cause.order_key.clone(), &event).caused_by(cause);
    outbox::enqueue(conn, &topology.events_exchange(), &event.routing_key(), &envelope)
        .await
        .map_err(outbox_error)?;
    if let Some(reply_to) = &cause.reply_to {
        // A message of its own (the outbox keys on message ids); the event id is the same.
        let reply = Envelope::new(COMMAND_REJECTED, cause.order_key.clone(), &event).caused_by(cause);
        outbox::enqueue(conn, DEFAULT_EXCHANGE, reply_to, &reply).await.map_err(outbox_error)?;
    }
    Ok(())
}

/// A rejection of a command that did not parse: the merchant and order number are taken from
/// the raw payload when they are short strings, so upstream can still tell which order it was.
pub fn unparsed(error: paygate::domain::ValidationError, payload: &Value) -> Rejection {
    let text = |name: &str| {
        payload
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .map(str::to_owned)
    };
    Rejection {
        error,
        kind: RejectionKind::Invalid,
        merchant_id: text("merchant_id"),
        merchant_order_no: text("merchant_order_no"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paygate::domain::ValidationError;
    use serde_json::json;

    #[test]
    fn a_rejection_has_a_stable_id_and_names_the_order_when_it_can() {
        let cause = Envelope::new("command.pay", "m-1:o-1", json!({"merchant_id": "m-1", "amount": 5}));
        let r = unparsed(ValidationError::new("amount", "must be a string (got a number)"), &cause.payload);
        let (a, b) = (event(&cause, &r), event(&cause, &r));
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.routing_key(), "command.rejected.pay");
        assert_eq!(a.merchant_id.as_deref(), Some("m-1"));
        assert_eq!(a.merchant_order_no, None);
        assert_eq!(a.message, "amount: must be a string (got a number)");
        let other = Envelope::new("command.pay", "m-1:o-1", json!({}));
        assert_ne!(event(&other, &r).event_id, a.event_id);
    }
}
