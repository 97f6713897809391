//! The events the dispatcher tells upstream about, built from the stored order after a change and
//! put in the outbox in the same transaction as the change.
//!
//! An event's id is derived from the entity and its version (`messages::events::event_id`), so
//! the event of one transition has one id however often it is published: relay retries,
//! re-emits after a duplicate command, answers to queries. Its `sequence` is the payment's next
//! event number, stored with it in the same transaction ([`messages`]).

use crate::order::WorkError;
use paygate::broker::envelope::Envelope;
use paygate::broker::outbox::{self, OutboxError, Prepared};
use paygate::broker::topology::Topology;
use paygate::messages::events::{CustomerAction, OrderEvent, RefundSummary, event_id};
use paygate::state_machine::PaymentState;
use paygate::store::payments::{self, Payment};
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
        sequence: 0,
        kind: payment_kind(payment),
        payment_id: payment.id,
        merchant_id: payment.merchant_id.to_string(),
        merchant_order_no: payment.merchant_order_no.clone(),
        order_type: payment.order_type.clone(),
        provider: payment.provider.to_string(),
        state: payment.state.as_str().to_owned(),
        amount: payment.amount,
        captured: payment.captured,
        refunded: payment.refunded,
        provider_txn_id: payment.provider_txn_id.clone(),
        action,
        refund: None,
        flags: payment.flags.clone(),
        reason,
        occurred_at: payment.updated_at,
    }
}

/// `payment.<state>`, except that a manual-capture payment captured and not refunded is
/// `payment.captured` (its state is `succeeded`).
fn payment_kind(payment: &Payment) -> String {
    if payment.state == PaymentState::Succeeded && payment.capture_mode.is_manual() {
        return "payment.captured".to_owned();
    }
    format!("payment.{}", payment.state.as_str())
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

/// Numbers `event` and puts it in the outbox, with the payment's new event sequence, in one
/// statement ([`messages`] says where it goes).
pub async fn emit<P>(
    conn: &mut PgConnection,
    topology: &Topology,
    (payment, refund): (&mut Payment, Option<&Refund>),
    event: OrderEvent,
    cause: &Envelope<P>,
    reply: Option<ReplyTo<'_>>,
) -> Result<(), WorkError> {
    let messages = messages(topology, (payment, refund), event, cause, reply)?;
    Ok(payments::announce(conn, payment, &messages).await?)
}

/// The messages that tell upstream of `event`, prepared, for the caller to put in the outbox in
/// the same statement as the change they tell of, and the payment's event sequence (which the
/// caller stores with them): `event` gets the payment's next number (`sequence`).
///
/// The event goes to the events exchange (routing key `<kind>.<order_type>`) and, as a copy of its
/// own (its own message id, the same event id and sequence) through the default exchange, to
/// every reply queue it is owed to:
/// - an answer to an asker (`reply`: a duplicate command, a `query`) goes to the asker only, with
///   the asker's correlation id;
/// - any other event goes to the `reply_to` of the command that created its entity (the refund's
///   for `refund.*`, the payment's), with that command's correlation id; `refund.*` also to the
///   payment's creator; and to the `reply_to` the work itself carries (a `close` command's), with
///   its correlation id.
///
/// The exchange's copy carries the creating command's correlation id (the asker's for an
/// answer); rows created before they were stored fall back to the cause's.
pub fn messages<P>(
    topology: &Topology,
    (payment, refund): (&mut Payment, Option<&Refund>),
    mut event: OrderEvent,
    cause: &Envelope<P>,
    reply: Option<ReplyTo<'_>>,
) -> Result<Vec<Prepared>, OutboxError> {
    payment.event_sequence += 1;
    event.sequence = payment.event_sequence;
    let entity = match refund {
        Some(r) if r.correlation_id.is_some() => (r.reply_to.as_deref(), r.correlation_id.as_deref()),
        _ => (payment.reply_to.as_deref(), payment.correlation_id.as_deref()),
    };
    // Each reply queue once: (queue, correlation id).
    let mut targets: Vec<(&str, Option<&str>)> = Vec::new();
    fn add<'a>(
        targets: &mut Vec<(&'a str, Option<&'a str>)>,
        queue: Option<&'a str>,
        correlation_id: Option<&'a str>,
    ) {
        if let Some(queue) = queue
            && !targets.iter().any(|(q, _)| *q == queue)
        {
            targets.push((queue, correlation_id));
        }
    }
    let correlation = match reply {
        Some(reply) => {
            add(&mut targets, Some(reply.queue), reply.correlation_id);
            None
        }
        None => {
            add(&mut targets, entity.0, entity.1);
            add(&mut targets, payment.reply_to.as_deref(), payment.correlation_id.as_deref());
            add(&mut targets, cause.reply_to.as_deref(), cause.correlation_id.as_deref());
            entity.1
        }
    };
    let envelope = |correlation_id: Option<&str>| {
        let envelope =
            Envelope::new(event.kind.clone(), event.payment_id.to_string(), &event).caused_by(cause);
        match correlation_id {
            Some(id) => envelope.with_correlation_id(id),
            None => envelope,
        }
    };
    let mut messages =
        vec![outbox::prepare(&topology.events_exchange(), &event.routing_key(), &envelope(correlation))?];
    for (queue, correlation_id) in targets {
        messages.push(outbox::prepare("", queue, &envelope(correlation_id))?);
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use paygate::domain::{Currency, MerchantId, Money, PayMethod, ProviderName};
    use serde_json::json;
    use uuid::Uuid;

    fn payment(state: PaymentState, version: i64) -> Payment {
        let cny = |m| Money::from_minor(m, Currency::CNY).unwrap();
        Payment {
            id: Uuid::now_v7(),
            merchant_id: MerchantId::parse("m-1").unwrap(),
            merchant_order_no: "o-1".into(),
            provider: ProviderName::parse("mockpay").unwrap(),
            pay_method: PayMethod::Qr,
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
            reply_to: None,
            correlation_id: None,
            event_sequence: 0,
            auth_code: None,
            payer: None,
            capture_mode: Default::default(),
            authorized_at: None,
            capture_requested: None,
            captured: None,
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
