//! The events paygate publishes to the events exchange for upstream systems.
//!
//! Routing keys are `<entity>.<state>.<order_type>` (`payment.succeeded.retail`,
//! `refund.failed.subscription`), so each order type's handler binds only its own
//! (`*.*.retail`), and `command.rejected.<command>` for refused commands.
//!
//! Every event carries a stable `event_id`: the event of one transition has the same id however
//! often it is published (a relay retry, a re-emit after a duplicate command, a query), so
//! upstream de-duplicates on it.

use crate::domain::{Money, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use uuid::Uuid;

/// What the customer must do to pay: one shape for every provider (seed 003's `{url, method}`
/// and `{form, method}`, plus QR codes and client secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomerAction {
    /// Send the customer to `url`: `{"method": "GET", "url": ...}`.
    Redirect { method: HttpGet, url: String },
    /// Have the customer's browser POST `form` to `url`: `{"method": "POST", "url": ..., "form": {...}}`.
    Form { method: HttpPost, url: String, form: Map<String, serde_json::Value> },
    /// Show a QR code: `{"qr_code": ...}`.
    QrCode { qr_code: String },
    /// Confirm on the client: `{"client_secret": ...}`, with what a browser needs to confirm it
    /// with the provider directly, when the provider's account says (Stripe:
    /// `{"client_secret", "publishable_key", "api_base"}`). Everything in it is public by design
    /// except the client secret, which only the paying customer should see.
    ClientSecret {
        client_secret: String,
        /// The provider's publishable key (Stripe's `pk_…`): identifies the account to a browser,
        /// allows nothing but what the client secret allows. Never a secret key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publishable_key: Option<String>,
        /// The provider API's base URL as a browser reaches it (`https://api.stripe.com`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_base: Option<String>,
    },
}

impl CustomerAction {
    /// A client secret alone: `{"client_secret": ...}`.
    pub fn client_secret(client_secret: impl Into<String>) -> Self {
        CustomerAction::ClientSecret {
            client_secret: client_secret.into(),
            publishable_key: None,
            api_base: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpGet {
    #[serde(rename = "GET")]
    Get,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpPost {
    #[serde(rename = "POST")]
    Post,
}

/// A refund as events show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundSummary {
    pub refund_id: Uuid,
    pub refund_no: String,
    pub state: String,
    pub amount: Money,
}

/// An event about a payment or one of its refunds: the payment's state after the change, and the
/// refund's when a refund changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// Stable per transition: see [`event_id`].
    pub event_id: Uuid,
    /// The event's number among its payment's events (`payment.*` and `refund.*`): 1, 2, 3, …
    /// with no gap, in the order they were written. Upstream takes the payment's state from an
    /// event only when its sequence is above the highest it applied for the order (every event
    /// carries the payment's whole state, so an older one that arrives late is skipped), and a
    /// refund's the same way per refund. An answer to a duplicate command or a `query` is written
    /// as an event too, so it has a number of its own (and the event id of the version it
    /// reports).
    pub sequence: i64,
    /// `payment.<state>` or `refund.<state>`; `payment.captured` for a manual-capture payment
    /// once captured (its `state` is `succeeded`, and `captured` says how much was taken).
    pub kind: String,
    pub payment_id: Uuid,
    pub merchant_id: String,
    pub merchant_order_no: String,
    pub order_type: String,
    pub provider: String,
    /// The payment's state.
    pub state: String,
    /// The payment's amount (for a manual-capture payment: the authorised amount).
    pub amount: Money,
    /// What was captured of a manual-capture payment, once captured (what refunds apply to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<Money>,
    pub refunded: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_txn_id: Option<String>,
    /// Set on `payment.action_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<CustomerAction>,
    /// Set on `refund.*` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundSummary>,
    /// E.g. `paid_after_close`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Why, in words and with the unified code where the provider gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl OrderEvent {
    /// `<entity>.<state>.<order_type>`.
    pub fn routing_key(&self) -> String {
        format!("{}.{}", self.kind, self.order_type)
    }
}

pub const COMMAND_REJECTED: &str = "command.rejected";

/// A command paygate refused, with the field and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRejected {
    pub event_id: Uuid,
    /// The refused command's `message_type` (`command.pay`, …), or what it claimed to be.
    pub command: String,
    /// The refused command's `message_id`.
    pub command_message_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_order_no: Option<String>,
    /// The field at fault, e.g. `amount`.
    pub field: String,
    /// The rule it breaks, e.g. `CNY allows at most 2 decimal places (got 3)`.
    pub rule: String,
    /// `<field>: <rule>`.
    pub message: String,
    pub occurred_at: DateTime<Utc>,
}

impl CommandRejected {
    pub fn new(command: &str, command_message_id: Option<Uuid>, error: &ValidationError) -> Self {
        Self {
            event_id: command_message_id.map_or_else(Uuid::now_v7, |id| event_id(id, "rejected")),
            command: command.chars().take(64).collect(),
            command_message_id,
            merchant_id: None,
            merchant_order_no: None,
            field: error.field().to_owned(),
            rule: error.rule().to_owned(),
            message: error.to_string(),
            occurred_at: Utc::now(),
        }
    }

    /// `command.rejected.<command without the "command." prefix>` for one of the commands
    /// (`crate::messages::commands::ALL`), `command.rejected.unknown` for any other type: the
    /// routing keys are a closed, documented set that upstream can bind in full, and a type
    /// nobody knows is not made into a routing key (the payload's `command` still names it).
    pub fn routing_key(&self) -> String {
        let name = if super::commands::ALL.contains(&self.command.as_str()) {
            self.command.strip_prefix("command.").unwrap_or("unknown")
        } else {
            "unknown"
        };
        format!("{COMMAND_REJECTED}.{name}")
    }
}

/// The namespace of paygate's name-based event ids.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_3a5e_8c2b_4f7a_9e0d_1b2c_3d4e_5f60);

/// A stable event id: the same `entity` (a payment, refund or message id) and `discriminator`
/// (the entity's version after a transition, or a word) always give the same id.
pub fn event_id(entity: Uuid, discriminator: impl std::fmt::Display) -> Uuid {
    Uuid::new_v5(&EVENT_NAMESPACE, format!("{entity}:{discriminator}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn customer_actions_have_the_unified_shapes() {
        let redirect = CustomerAction::Redirect { method: HttpGet::Get, url: "https://p/x".into() };
        assert_eq!(serde_json::to_value(&redirect).unwrap(), json!({"method": "GET", "url": "https://p/x"}));
        let mut form = Map::new();
        form.insert("token".into(), json!("t"));
        let post = CustomerAction::Form { method: HttpPost::Post, url: "https://p/f".into(), form };
        assert_eq!(
            serde_json::to_value(&post).unwrap(),
            json!({"method": "POST", "url": "https://p/f", "form": {"token": "t"}})
        );
        let qr = CustomerAction::QrCode { qr_code: "mockpay://pay/1".into() };
        assert_eq!(serde_json::to_value(&qr).unwrap(), json!({"qr_code": "mockpay://pay/1"}));
        let secret = CustomerAction::client_secret("s");
        assert_eq!(serde_json::to_value(&secret).unwrap(), json!({"client_secret": "s"}));
        let browser = CustomerAction::ClientSecret {
            client_secret: "pi_1_secret_2".into(),
            publishable_key: Some("pk_test_1".into()),
            api_base: Some("https://api.stripe.com".into()),
        };
        assert_eq!(
            serde_json::to_value(&browser).unwrap(),
            json!({"client_secret": "pi_1_secret_2", "publishable_key": "pk_test_1", "api_base": "https://api.stripe.com"})
        );
        for action in [redirect, post, qr, secret, browser] {
            let back: CustomerAction =
                serde_json::from_value(serde_json::to_value(&action).unwrap()).unwrap();
            assert_eq!(back, action);
        }
    }

    #[test]
    fn event_ids_are_stable_per_entity_and_version() {
        let entity = Uuid::now_v7();
        assert_eq!(event_id(entity, 3), event_id(entity, 3));
        assert_ne!(event_id(entity, 3), event_id(entity, 4));
        assert_ne!(event_id(entity, 3), event_id(Uuid::now_v7(), 3));
    }

    #[test]
    fn rejections_route_by_command() {
        let e = ValidationError::new("amount", "must not be empty");
        let r = CommandRejected::new("command.pay", Some(Uuid::now_v7()), &e);
        assert_eq!(r.routing_key(), "command.rejected.pay");
        assert_eq!(r.message, "amount: must not be empty");
        assert_eq!(CommandRejected::new("x.y#", None, &e).routing_key(), "command.rejected.unknown");
        let settle = CommandRejected::new("command.settle", None, &e);
        assert_eq!(settle.routing_key(), "command.rejected.unknown", "a type that is not a command");
        assert_eq!(settle.command, "command.settle", "the payload still names it");
        let capture = CommandRejected::new("command.capture", None, &e);
        assert_eq!(capture.routing_key(), "command.rejected.capture");
        let approve = CommandRejected::new("command.approve_refund", None, &e);
        assert_eq!(approve.routing_key(), "command.rejected.approve_refund");
    }
}
