//! The message envelope every paygate message travels in, and its mapping onto AMQP.
//!
//! The JSON body is the canonical record: it is what the outbox stores and what a consumer
//! parses. The AMQP properties and headers are derived from it, in [`Envelope::to_amqp`] and
//! nowhere else, so the broker can route on them (the orders exchange hashes the `order-key`
//! header) and an operator can see them in the management UI:
//!
//! | envelope field   | AMQP                                   |
//! |------------------|----------------------------------------|
//! | `message_id`     | property `message_id`                  |
//! | `message_type`   | property `type`                        |
//! | `created_at`     | property `timestamp` (seconds)         |
//! | `correlation_id` | property `correlation_id`              |
//! | `reply_to`       | property `reply_to`                    |
//! | `order_key`      | header `order-key`                     |
//! | `attempt`        | header `x-attempt`                     |
//! | `schema_version` | header `x-schema-version`              |
//! | `trace`          | headers `traceparent`, `tracestate`    |
//!
//! and always `content_type: application/json`, `delivery_mode: 2` (persistent).

use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::trace_context::TraceContext;

/// Header names. The orders exchange hashes [`ORDER_KEY`](headers::ORDER_KEY).
pub mod headers {
    /// The key messages are sharded on (see [`Envelope::order_key`](super::Envelope::order_key)).
    pub const ORDER_KEY: &str = "order-key";
    /// How many delayed retries this message has been through (0 on the first delivery).
    pub const ATTEMPT: &str = "x-attempt";
    pub const SCHEMA_VERSION: &str = "x-schema-version";
    /// W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
    /// Set on a dead-lettered copy: why the consumer gave up on the message.
    pub const REJECT_REASON: &str = "x-paygate-reject-reason";
    /// Set on a dead-lettered copy: the consumer (its `processed_messages` name) that gave up.
    pub const REJECTED_BY: &str = "x-paygate-rejected-by";
    /// Set on a dead-lettered copy: the kind of reason, one of `unparseable`, `rejected`,
    /// `permanent_error`, `retries_exhausted` (the `reason` label of the dead-letter metric).
    pub const DEAD_LETTER_KIND: &str = "x-paygate-dead-letter-kind";
    /// Set on a dead-lettered copy: when the consumer gave up (RFC 3339, UTC, milliseconds).
    pub const DEAD_LETTERED_AT: &str = "x-paygate-dead-lettered-at";
    /// Set on a dead-lettered copy: the exchange the message had been delivered from.
    pub const ORIGINAL_EXCHANGE: &str = "x-paygate-original-exchange";
    /// Set on a dead-lettered copy: the routing key the message had been delivered with.
    pub const ORIGINAL_ROUTING_KEY: &str = "x-paygate-original-routing-key";
    /// Set on a replayed dead letter (`payctl dlq replay`): the operator who replayed it.
    pub const REPLAYED_BY: &str = "x-paygate-replayed-by";
    /// Set by quorum queues on a redelivery: how many times the message was delivered before.
    pub const DELIVERY_COUNT: &str = "x-delivery-count";
}

/// The body's content type.
pub const CONTENT_TYPE: &str = "application/json";
/// AMQP delivery mode 2: persistent.
pub const PERSISTENT: u8 = 2;
/// The schema version a new envelope carries unless told otherwise.
pub const DEFAULT_SCHEMA_VERSION: u16 = 1;

/// A message: identity, routing and tracing metadata, and the payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P> {
    /// Unique per message (a UUIDv7, so ids sort by creation time). Consumers deduplicate on it;
    /// a message that is published again (by the outbox relay, or as a retry) keeps it.
    pub message_id: Uuid,
    /// What the message is: `command.pay`, `order.dispatch`, `payment.succeeded`, ...
    pub message_type: String,
    /// Version of the payload's schema, for this message type.
    pub schema_version: u16,
    /// The id messages are sharded on: every message about one order carries the same key, so
    /// they all land on that order's shard. For orders this is the payment id (as a string);
    /// where no payment exists yet (a command from upstream) it is `{merchant_id}:{merchant_order_no}`,
    /// which ingest maps to a payment id. Must be non-empty.
    pub order_key: String,
    /// How many delayed retries this message has been through: 0 on the first delivery.
    #[serde(default)]
    pub attempt: u32,
    /// How many times the message has been held back without being tried (its provider's
    /// bulkhead full or its circuit open, an earlier message of its order on the ladder): each
    /// hold waits longer than the one before ([`Topology::hold_tier`]). 0, and left out of the
    /// JSON, until it is first held.
    ///
    /// [`Topology::hold_tier`]: crate::broker::topology::Topology::hold_tier
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holds: u32,
    pub created_at: DateTime<Utc>,
    /// Ties a conversation together (e.g. the upstream request id); see [`Envelope::caused_by`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Where a reply should go, if the sender wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The W3C trace context of the span that created the message.
    #[serde(default)]
    pub trace: TraceContext,
    pub payload: P,
}

/// An envelope could not be built, encoded or parsed.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is not an envelope. `reason` is what the consumer writes into the dead-lettered
    /// copy's `x-paygate-reject-reason` header.
    #[error("unparseable message: {reason}")]
    Unparseable { reason: String },
    #[error("cannot encode the envelope: {0}")]
    Encode(#[from] serde_json::Error),
    /// An AMQP short string (type, correlation id, reply-to) holds at most 255 bytes.
    #[error("{field} is longer than the 255 bytes AMQP allows")]
    TooLong { field: &'static str },
    #[error("order_key must not be empty")]
    EmptyOrderKey,
}

/// A message ready to publish.
#[derive(Clone, Debug)]
pub struct AmqpMessage {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl<P> Envelope<P> {
    /// A new message: a fresh UUIDv7, attempt 0, now, and the current span's trace context.
    pub fn new(message_type: impl Into<String>, order_key: impl Into<String>, payload: P) -> Self {
        Self {
            message_id: Uuid::now_v7(),
            message_type: message_type.into(),
            schema_version: DEFAULT_SCHEMA_VERSION,
            order_key: order_key.into(),
            attempt: 0,
            holds: 0,
            created_at: Utc::now(),
            correlation_id: None,
            reply_to: None,
            trace: TraceContext::current(),
            payload,
        }
    }

    /// The same message under another id: for work whose every copy must carry one id
    /// (`OrderWork::stable_message_id`).
    pub fn with_message_id(mut self, id: Uuid) -> Self {
        self.message_id = id;
        self
    }

    pub fn with_schema_version(mut self, version: u16) -> Self {
        self.schema_version = version;
        self
    }

    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    pub fn with_reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// Marks this message as caused by `cause`: it inherits the correlation id (or, if `cause`
    /// has none, takes `cause`'s message id as correlation id), and stays in `cause`'s trace
    /// ([`TraceContext::within`]: when it was made under a span of another trace, as a batch's
    /// is, it carries `cause`'s context instead).
    pub fn caused_by<Q>(mut self, cause: &Envelope<Q>) -> Self {
        self.correlation_id =
            Some(cause.correlation_id.clone().unwrap_or_else(|| cause.message_id.to_string()));
        self.trace = self.trace.within(&cause.trace);
        self
    }

    /// The same message with another payload (same id, metadata and trace).
    pub fn map_payload<Q>(self, f: impl FnOnce(P) -> Q) -> Envelope<Q> {
        Envelope {
            message_id: self.message_id,
            message_type: self.message_type,
            schema_version: self.schema_version,
            order_key: self.order_key,
            attempt: self.attempt,
            holds: self.holds,
            created_at: self.created_at,
            correlation_id: self.correlation_id,
            reply_to: self.reply_to,
            trace: self.trace,
            payload: f(self.payload),
        }
    }

    /// The same message borrowing its payload (to publish a modified copy without cloning it).
    pub fn as_ref(&self) -> Envelope<&P> {
        Envelope {
            message_id: self.message_id,
            message_type: self.message_type.clone(),
            schema_version: self.schema_version,
            order_key: self.order_key.clone(),
            attempt: self.attempt,
            holds: self.holds,
            created_at: self.created_at,
            correlation_id: self.correlation_id.clone(),
            reply_to: self.reply_to.clone(),
            trace: self.trace.clone(),
            payload: &self.payload,
        }
    }

    /// The AMQP properties and headers derived from the envelope.
    pub fn amqp_properties(&self) -> Result<BasicProperties, EnvelopeError> {
        if self.order_key.is_empty() {
            return Err(EnvelopeError::EmptyOrderKey);
        }
        let short = |field: &'static str, v: &str| {
            ShortString::try_new(v).map_err(|_| EnvelopeError::TooLong { field })
        };
        let mut h = FieldTable::default();
        h.insert(headers::ORDER_KEY.into(), AMQPValue::LongString(self.order_key.as_str().into()));
        h.insert(headers::ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(self.attempt)));
        h.insert(headers::SCHEMA_VERSION.into(), AMQPValue::LongInt(i32::from(self.schema_version)));
        if let Some(tp) = &self.trace.traceparent {
            h.insert(headers::TRACEPARENT.into(), AMQPValue::LongString(tp.as_str().into()));
        }
        if let Some(ts) = &self.trace.tracestate {
            h.insert(headers::TRACESTATE.into(), AMQPValue::LongString(ts.as_str().into()));
        }
        let mut props = BasicProperties::default()
            .with_message_id(self.message_id.to_string().into())
            .with_type(short("message_type", &self.message_type)?)
            .with_timestamp(u64::try_from(self.created_at.timestamp()).unwrap_or(0))
            .with_content_type(CONTENT_TYPE.into())
            .with_delivery_mode(PERSISTENT)
            .with_headers(h);
        if let Some(c) = &self.correlation_id {
            props = props.with_correlation_id(short("correlation_id", c)?);
        }
        if let Some(r) = &self.reply_to {
            props = props.with_reply_to(short("reply_to", r)?);
        }
        Ok(props)
    }
}

impl<P: Serialize> Envelope<P> {
    /// The JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, EnvelopeError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Body and properties, ready to publish.
    pub fn to_amqp(&self) -> Result<AmqpMessage, EnvelopeError> {
        Ok(AmqpMessage { properties: self.amqp_properties()?, body: self.to_json()? })
    }
}

impl<P: DeserializeOwned> Envelope<P> {
    /// Parses a body. Only the body counts: headers are derived data.
    pub fn from_json(body: &[u8]) -> Result<Self, EnvelopeError> {
        let env: Self = serde_json::from_slice(body).map_err(|e| EnvelopeError::Unparseable {
            reason: format!("body is not a valid envelope: {e}"),
        })?;
        if env.order_key.is_empty() {
            return Err(EnvelopeError::Unparseable { reason: "order_key is empty".to_owned() });
        }
        Ok(env)
    }
}

impl Envelope<serde_json::Value> {
    /// Decodes the payload into its type; the error is a reason to dead-letter the message.
    pub fn decode_payload<T: DeserializeOwned>(&self) -> Result<T, EnvelopeError> {
        T::deserialize(&self.payload).map_err(|e| EnvelopeError::Unparseable {
            reason: format!(
                "payload of {} (schema {}) does not parse: {e}",
                self.message_type, self.schema_version
            ),
        })
    }
}

/// Reads a header as a string (long or short string), if present.
pub fn header_str<'a>(props: &'a BasicProperties, name: &str) -> Option<&'a str> {
    match props.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

/// Reads an integer header, whatever integer type the sender chose.
pub fn header_int(props: &BasicProperties, name: &str) -> Option<i64> {
    match props.headers().as_ref()?.inner().get(name)? {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip_and_derived_headers() {
        let env = Envelope::new("command.pay", "m1:o-42", json!({"amount": 100}))
            .with_correlation_id("req-1")
            .with_schema_version(2);
        let msg = env.to_amqp().unwrap();
        let back: Envelope<serde_json::Value> = Envelope::from_json(&msg.body).unwrap();
        assert_eq!(back, env);
        let p = &msg.properties;
        assert_eq!(p.message_id().as_ref().unwrap().as_str(), env.message_id.to_string());
        assert_eq!(p.kind().as_ref().unwrap().as_str(), "command.pay");
        assert_eq!(p.content_type().as_ref().unwrap().as_str(), "application/json");
        assert_eq!(*p.delivery_mode(), Some(2));
        assert_eq!(p.correlation_id().as_ref().unwrap().as_str(), "req-1");
        assert_eq!(header_str(p, headers::ORDER_KEY), Some("m1:o-42"));
        assert_eq!(header_int(p, headers::ATTEMPT), Some(0));
        assert_eq!(header_int(p, headers::SCHEMA_VERSION), Some(2));
        assert_eq!(env.message_id.get_version_num(), 7);
    }

    #[test]
    fn garbage_is_unparseable_with_a_reason() {
        for body in [&b"not json"[..], br#"{"message_id": 1}"#, b""] {
            match Envelope::<serde_json::Value>::from_json(body) {
                Err(EnvelopeError::Unparseable { reason }) => {
                    assert!(reason.contains("not a valid envelope"))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn limits_are_errors_not_panics() {
        let env = Envelope::new("t".repeat(300), "k", ());
        assert!(matches!(env.to_amqp(), Err(EnvelopeError::TooLong { field: "message_type" })));
        let env = Envelope::new("t", "", ());
        assert!(matches!(env.to_amqp(), Err(EnvelopeError::EmptyOrderKey)));
    }
}
