//! The work messages on the order shards: what the provider-dispatcher is asked to do for one
//! order. They carry ids, not state: the database is the truth, and the dispatcher reads the
//! order under its row lock when the message is applied. Every one is published with the
//! payment id as its `order_key`, so all work for one order is serialised on its shard.

use crate::domain::{Money, OperatorId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The inbox name (`processed_messages.consumer`) of the order shards' consumer, the
/// provider-dispatcher. The compensation scheduler reads the inbox under it to tell whether its
/// last stuck query for an order has been handled.
pub const ORDER_WORK_CONSUMER: &str = "provider-dispatcher";

/// One piece of work for one order. `message_type` is `order.<op>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OrderWork {
    /// Send a newly created payment to its provider.
    DispatchPay { payment_id: Uuid },
    /// Ask the provider for the truth about a payment, or one of its refunds.
    Query { payment_id: Uuid, refund_id: Option<Uuid>, reason: QueryReason },
    /// Close an unpaid payment at its provider.
    Close { payment_id: Uuid, reason: CloseReason },
    /// Capture `amount` of an authorised payment (a `capture` command): all of it or part, the
    /// rest released.
    Capture { payment_id: Uuid, amount: Money },
    /// Release an authorised payment without capturing it: upstream asked (a `void` command), or
    /// its authorisation reached its provider's expiry (the compensation scheduler).
    Void { payment_id: Uuid, reason: VoidReason },
    /// Reserve and send a newly requested refund.
    DispatchRefund { payment_id: Uuid, refund_id: Uuid },
    /// A person decided on a refund that was awaiting approval.
    DecideRefund {
        payment_id: Uuid,
        refund_id: Uuid,
        approve: bool,
        /// Who decided, normalised (a message from before normalisation is normalised as it
        /// is read).
        approver: OperatorId,
        reason: Option<String>,
    },
    /// A provider notification about the order was stored (notify-handler): verify the claim
    /// against the order and confirm it. `notification_id` is the inbox row (`notifications.id`).
    Notification { payment_id: Uuid, notification_id: i64 },
    /// Re-emit the current state of the order (a duplicate command or a `query` command).
    Report {
        payment_id: Uuid,
        refund_id: Option<Uuid>,
        reply_to: Option<String>,
        correlation_id: Option<String>,
    },
}

impl OrderWork {
    pub fn payment_id(&self) -> Uuid {
        match self {
            OrderWork::DispatchPay { payment_id }
            | OrderWork::Query { payment_id, .. }
            | OrderWork::Close { payment_id, .. }
            | OrderWork::Capture { payment_id, .. }
            | OrderWork::Void { payment_id, .. }
            | OrderWork::DispatchRefund { payment_id, .. }
            | OrderWork::DecideRefund { payment_id, .. }
            | OrderWork::Notification { payment_id, .. }
            | OrderWork::Report { payment_id, .. } => *payment_id,
        }
    }

    /// The message id this work must travel under, where every copy of it must carry the same
    /// one; `None` where each message is new (`Envelope::new`'s fresh UUIDv7).
    ///
    /// `order.notification` is forwarded more than once for one stored notification: by
    /// notify-handler on each of the provider's retries, and by the compensation scheduler's sweep
    /// of undecided notifications. Every copy carries [`notification_message_id`], so the
    /// dispatcher's inbox applies it once (a copy after one was applied is a duplicate), and a
    /// copy sent after an earlier one was dead-lettered is that message replayed: it has no inbox
    /// row, and it is the head of its order's retry line, where the dead-lettered one stayed.
    pub fn stable_message_id(&self) -> Option<Uuid> {
        match self {
            OrderWork::Notification { notification_id, .. } => {
                Some(notification_message_id(*notification_id))
            }
            _ => None,
        }
    }

    /// The envelope's `message_type`: `order.dispatch_pay`, `order.query`, ….
    pub fn message_type(&self) -> &'static str {
        match self {
            OrderWork::DispatchPay { .. } => "order.dispatch_pay",
            OrderWork::Query { .. } => "order.query",
            OrderWork::Close { .. } => "order.close",
            OrderWork::Capture { .. } => "order.capture",
            OrderWork::Void { .. } => "order.void",
            OrderWork::DispatchRefund { .. } => "order.dispatch_refund",
            OrderWork::DecideRefund { .. } => "order.decide_refund",
            OrderWork::Notification { .. } => "order.notification",
            OrderWork::Report { .. } => "order.report",
        }
    }
}

/// The namespace of [`notification_message_id`]'s UUIDv5s.
const NOTIFICATION_NAMESPACE: Uuid = Uuid::from_u128(0x7061_7967_6174_652e_6e6f_7469_6679_0001);

/// The message id of every `order.notification` for the inbox row `notification_id`: a UUIDv5 of
/// the row id (see [`OrderWork::stable_message_id`]).
pub fn notification_message_id(notification_id: i64) -> Uuid {
    Uuid::new_v5(&NOTIFICATION_NAMESPACE, format!("order.notification:{notification_id}").as_bytes())
}

/// Why a query was scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryReason {
    /// The provider's answer was ambiguous (timeout, 5xx, dropped connection).
    OutcomeUnknown,
    /// The payment or refund is still in progress at the provider.
    StillProcessing,
    /// Upstream asked.
    Requested,
    /// A notification claimed a change; the provider is asked before money state changes.
    Notification,
    /// The customer's browser came back from the provider (the sync return): a claim too.
    CustomerReturned,
    /// The compensation scheduler found it stuck.
    Stuck,
    /// Reconciliation found the provider's bill disagreeing with our record, in a way a query
    /// can prove (e.g. a lost success notification); the answer settles the discrepancy.
    Reconciliation,
}

/// Why a close was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Requested,
    Expired,
}

/// Why a void was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidReason {
    /// Upstream asked (`command.void`).
    Requested,
    /// The authorisation reached its provider's expiry uncaptured (compensation-scheduler).
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_tagged_by_op() {
        let id = Uuid::now_v7();
        let work = OrderWork::Query { payment_id: id, refund_id: None, reason: QueryReason::OutcomeUnknown };
        let json = serde_json::to_value(&work).unwrap();
        assert_eq!(json["op"], "query");
        assert_eq!(json["reason"], "outcome_unknown");
        assert_eq!(serde_json::from_value::<OrderWork>(json).unwrap(), work);
        assert_eq!(work.message_type(), "order.query");
        assert_eq!(work.payment_id(), id);
    }

    #[test]
    fn the_notification_work_reads_as_docs_messages_md_shows_it() {
        let json = r#"{"op": "notification", "payment_id": "01936d3c-8f10-7b1a-9c4d-2e5f6a7b8c99", "notification_id": 4711}"#;
        let work: OrderWork = serde_json::from_str(json).unwrap();
        assert_eq!(work.message_type(), "order.notification");
        assert!(matches!(work, OrderWork::Notification { notification_id: 4711, .. }));
        assert!(include_str!("../../../docs/messages.md").contains(json));
    }

    #[test]
    fn every_copy_of_a_notifications_work_carries_one_message_id() {
        let payment_id = Uuid::now_v7();
        let work = |notification_id| OrderWork::Notification { payment_id, notification_id };
        assert_eq!(work(7).stable_message_id(), Some(notification_message_id(7)));
        assert_eq!(work(7).stable_message_id(), work(7).stable_message_id());
        assert_ne!(work(7).stable_message_id(), work(8).stable_message_id());
        assert_eq!(OrderWork::DispatchPay { payment_id }.stable_message_id(), None);
        // docs/messages.md shows the id of notification 4711's message.
        let documented = notification_message_id(4711).to_string();
        assert_eq!(documented, "110f2ba3-9ada-5381-a2b1-817273075981");
        assert!(include_str!("../../../docs/messages.md").contains(&documented));
    }
}
