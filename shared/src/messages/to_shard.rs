//! Sending an order's work to its shard: the one place that addresses an [`OrderWork`]. Every
//! sender (ingest, the dispatcher, notify-handler, the compensation scheduler, reconciliation,
//! payctl) goes through [`to_shard`]: the orders exchange, the payment id as the envelope's
//! `order_key` (the `order-key` header the exchange hashes) and as the routing key, and the work's
//! stable message id where it has one ([`OrderWork::stable_message_id`]). So all work for one
//! order lands on one shard, whoever sends it and however (the outbox, or a confirmed publish).
//!
//! The sender adds what is its own to the envelope (a cause, a reply-to, a correlation id, the
//! retry attempt), then puts the message in the outbox or publishes it. A follow-up query waits
//! on the retry ladder first ([`ToShard::after_waiting_in`]) and comes back to the same shard.

use super::orders::OrderWork;
use crate::broker::envelope::Envelope;
use crate::broker::outbox::{self, OutboxError};
use crate::broker::publisher::{Pending, PublishError, Publisher, Routing};
use crate::broker::topology::{RetryTier, Topology};
use sqlx::PgConnection;

/// `work` addressed to its order's shard. See the module documentation.
pub fn to_shard<'w>(topology: &Topology, work: &'w OrderWork) -> ToShard<'w> {
    let mut envelope = Envelope::new(work.message_type(), work.payment_id().to_string(), work);
    if let Some(id) = work.stable_message_id() {
        envelope = envelope.with_message_id(id);
    }
    let exchange = topology.orders_exchange();
    ToShard {
        routing: topology.routing_for(&exchange),
        routing_key: envelope.order_key.clone(),
        exchange,
        envelope,
    }
}

/// An order's work addressed to its shard ([`to_shard`]).
#[derive(Debug, Clone)]
pub struct ToShard<'w> {
    /// The orders exchange (or the retry exchange, [`ToShard::after_waiting_in`]).
    pub exchange: String,
    /// The order key (or the retry tier's name).
    pub routing_key: String,
    routing: Routing,
    /// The message: the sender may add to it what is its own (reply-to, correlation id, attempt).
    pub envelope: Envelope<&'w OrderWork>,
}

impl ToShard<'_> {
    /// Marks the message as caused by `cause` ([`Envelope::caused_by`]).
    pub fn caused_by<Q>(mut self, cause: &Envelope<Q>) -> Self {
        self.envelope = self.envelope.caused_by(cause);
        self
    }

    /// The same message sent through the retry exchange to wait in `tier` first: the tier
    /// dead-letters it back to the orders exchange, keeping its `order-key` header, so it returns
    /// to its shard after the tier's wait.
    pub fn after_waiting_in(mut self, topology: &Topology, tier: &RetryTier) -> Self {
        self.exchange = topology.retry_exchange();
        self.routing = topology.routing_for(&self.exchange);
        self.routing_key = tier.name.clone();
        self
    }

    /// The message checked and encoded for the outbox ([`outbox::prepare`]), for a statement
    /// that inserts it with the change it follows from.
    pub fn prepare(&self) -> Result<outbox::Prepared, OutboxError> {
        outbox::prepare(&self.exchange, &self.routing_key, &self.envelope)
    }

    /// Puts the message in the outbox in the caller's transaction ([`outbox::enqueue`]).
    pub async fn enqueue(&self, conn: &mut PgConnection) -> Result<(), OutboxError> {
        outbox::enqueue(conn, &self.exchange, &self.routing_key, &self.envelope).await
    }

    /// Publishes the message now (mandatory: the orders exchange must route it); the caller
    /// awaits the broker's confirm on the returned [`Pending`].
    pub async fn publish(&self, publisher: &Publisher) -> Result<Pending, PublishError> {
        publisher.send(&self.exchange, &self.routing_key, &self.envelope, self.routing).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::topology::TopologyConfig;
    use crate::messages::orders::QueryReason;
    use uuid::Uuid;

    fn topology() -> Topology {
        Topology::new(TopologyConfig::default()).unwrap()
    }

    #[test]
    fn work_goes_to_the_orders_exchange_keyed_on_its_payment_id() {
        let t = topology();
        let payment_id = Uuid::now_v7();
        let work = OrderWork::DispatchPay { payment_id };
        let m = to_shard(&t, &work);
        assert_eq!(m.exchange, t.orders_exchange());
        assert_eq!(m.routing_key, payment_id.to_string());
        assert_eq!(m.envelope.order_key, payment_id.to_string());
        assert_eq!(m.envelope.message_type, "order.dispatch_pay");
        assert_eq!(m.routing, Routing::Mandatory);
        assert_eq!(m.prepare().unwrap().routing_key, payment_id.to_string());
    }

    #[test]
    fn every_copy_of_a_notifications_work_carries_its_stable_id() {
        let work = OrderWork::Notification { payment_id: Uuid::now_v7(), notification_id: 4711 };
        let m = to_shard(&topology(), &work);
        assert_eq!(Some(m.envelope.message_id), work.stable_message_id());
    }

    #[test]
    fn a_follow_up_waits_in_its_tier_and_keeps_its_order_key() {
        let t = topology();
        let payment_id = Uuid::now_v7();
        let work = OrderWork::Query { payment_id, refund_id: None, reason: QueryReason::OutcomeUnknown };
        let tier = t.retry_tier_for_attempt(1).unwrap().clone();
        let m = to_shard(&t, &work).after_waiting_in(&t, &tier);
        assert_eq!(
            (m.exchange.as_str(), m.routing_key.as_str()),
            (t.retry_exchange().as_str(), tier.name.as_str())
        );
        assert_eq!(m.envelope.order_key, payment_id.to_string());
    }
}
