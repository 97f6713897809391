//! The events the dispatcher tells upstream about, built from the stored order after a change and
//! put in the outbox in the same transaction as the change.
//!
//! An event's id is derived from the entity and its version (`messages::events::event_id`), so
//! the event of one transition has one id however often it is published: relay retries,
//! re-emits after a duplicate command, answers to queries.

use paygate::broker::envelope::Envelope;
use paygate::broker::outbox::{self, OutboxError, Prepared};
use paygate::broker::topology::Topology;
use paygate::messages::events::{CustomerAction, OrderEvent, RefundSummary, event_id};
use paygate::state_machine::PaymentState;
use paygate::store::payments::Payment;
use paygate::store::refunds::Refund;
use sqlx::PgConnection;

/// The payment's current state as an event (`payment.<state>`), with `reason` when there is one.
pub fn payment_event(payment: &Payment, reason: Option<String>) -> OrderEvent {
    let action = if payment.state == PaymentState::ActionRequired {
        payment
            .customer_action
            .as_ref()
            .and_then(|a| serde_json::from_value::<CustomerAction>(a.clone()).ok())
    } else {
        None
    };
    OrderEvent {
        event_id: event_id(payment.id, payment.version),
        kind: format!("payment.{}", payment.state.as_str()),
        payment_id: payment.id,
        merchant_id: payment.merchant_id.clone(),
        merchant_order_no: payment.merchant_order_no.clone(),
        order_type: payment.order_type.clone(),
        provider: payment.provider.clone(),
        state: payment.state.as_str().to_owned(),
        amount: payment.amount,
        refunded: payment.refunded,
        provider_txn_id: payment.provider_txn_id.clone(),
        action,
        refund: None,
        flags: payment.flags.clone(),
        reason,
        occurred_at: payment.updated_at,
    }
}

/// A refund's current state as an event (`refund.<state>`), with the payment's state beside it.
/// Its id is stable per refund version.
pub fn refund_event(payment: &Payment, refund: &Refund, reason: Option<String>) -> OrderEvent {
    OrderEvent {
        event_id: event_id(refund.id, refund.version),
        kind: format!("refund.{}", refund.state.as_str()),
        refund: Some(RefundSummary {
            refund_id: refund.id,
            refund_no: refund.refund_no.clone(),
            state: refund.state.as_str().to_owned(),
            amount: refund.amount,
        }),
        action: None,
        occurred_at: refund.updated_at.max(payment.updated_at),
        ..payment_event(payment, reason)
    }
}

/// Where a copy of an event goes besides the events exchange: upstream's `reply_to` queue, with
/// its correlation id.
#[derive(Debug, Clone, Copy)]
pub struct ReplyTo<'a> {
    pub queue: &'a str,
    pub correlation_id: Option<&'a str>,
}

/// Puts `event` in the outbox for the events exchange (routing key `<kind>.<order_type>`), and a
/// copy for `reply` (or, when `reply` is `None`, for the `reply_to` of the work that caused it,
/// if it asked for one). The copy is published to the default exchange, which routes on the
/// queue name; it is a message of its own (its own message id) carrying the same event id.
pub async fn emit<P>(
    conn: &mut PgConnection,
    topology: &Topology,
    event: &OrderEvent,
    cause: &Envelope<P>,
    reply: Option<ReplyTo<'_>>,
) -> Result<(), OutboxError> {
    Ok(outbox::enqueue_prepared(conn, &messages(topology, event, cause, reply)?).await?)
}

/// The messages [`emit`] puts in the outbox, prepared, for a caller that inserts them in the same
/// statement as the change they tell of.
pub fn messages<P>(
    topology: &Topology,
    event: &OrderEvent,
    cause: &Envelope<P>,
    reply: Option<ReplyTo<'_>>,
) -> Result<Vec<Prepared>, OutboxError> {
    let envelope = Envelope::new(event.kind.clone(), event.payment_id.to_string(), event).caused_by(cause);
    let mut messages = vec![outbox::prepare(&topology.events_exchange(), &event.routing_key(), &envelope)?];
    let reply = reply.or_else(|| {
        cause
            .reply_to
            .as_deref()
            .map(|queue| ReplyTo { queue, correlation_id: cause.correlation_id.as_deref() })
    });
    if let Some(reply) = reply {
        let mut copy =
            Envelope::new(event.kind.clone(), event.payment_id.to_string(), event).caused_by(cause);
        if let Some(id) = reply.correlation_id {
            copy = copy.with_correlation_id(id);
        }
        messages.push(outbox::prepare("", reply.queue, &copy)?);
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use paygate::domain::{Currency, Money};
    use serde_json::json;
    use uuid::Uuid;

    fn payment(state: PaymentState, version: i64) -> Payment {
        let cny = |m| Money::from_minor(m, Currency::CNY).unwrap();
        Payment {
            id: Uuid::now_v7(),
            merchant_id: "m-1".into(),
            merchant_order_no: "o-1".into(),
            provider: "mockpay".into(),
            channel: "qr".into(),
            order_type: "retail".into(),
            amount: cny(1234),
            state,
            subject: "Coffee".into(),
            return_url: None,
            expires_at: None,
            metadata: json!({}),
            provider_txn_id: Some("2000000000000000001".into()),
            customer_action: Some(json!({"qr_code": "mockpay://pay/1"})),
            refunded: cny(0),
            refund_in_flight: cny(0),
            request_fingerprint: "fp".into(),
            flags: vec![],
            version,
            next_check_at: None,
            check_attempt: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_event_of_a_version_has_one_id() {
        let p = payment(PaymentState::Succeeded, 3);
        let (a, b) = (payment_event(&p, None), payment_event(&p, Some("again".into())));
        assert_eq!(a.event_id, b.event_id);
        let mut later = p.clone();
        later.version = 4;
        assert_ne!(payment_event(&later, None).event_id, a.event_id);
        assert_eq!(a.routing_key(), "payment.succeeded.retail");
    }

    #[test]
    fn only_action_required_carries_the_action() {
        let waiting = payment_event(&payment(PaymentState::ActionRequired, 2), None);
        assert_eq!(waiting.action, Some(CustomerAction::QrCode { qr_code: "mockpay://pay/1".into() }));
        assert_eq!(payment_event(&payment(PaymentState::Succeeded, 3), None).action, None);
    }
}
