//! Dead-lettering with a reason.
//!
//! RabbitMQ's own dead-lettering (a reject without requeue, or the delivery limit) records only
//! a broker-side reason (`rejected`, `delivery_limit`) in `x-death`. When a consumer gives up on
//! a message it knows why, so it publishes a copy to the DLX itself, routed by the queue's name
//! to `<queue>.dlq`, waits for the confirm, and only then acknowledges the original: nothing is
//! lost in between, and a crash in between at worst leaves two copies.
//!
//! The copy keeps the body and properties as they were, and gains these headers
//! ([`headers`](super::envelope::headers)):
//!
//! | header                           | what                                                   |
//! |----------------------------------|--------------------------------------------------------|
//! | `x-paygate-reject-reason`        | why, in words (at most [`MAX_REASON_LEN`] bytes)       |
//! | `x-paygate-dead-letter-kind`     | `unparseable`, `rejected`, `permanent_error`, `retries_exhausted` |
//! | `x-paygate-rejected-by`          | the consumer that gave up (its `processed_messages` name) |
//! | `x-paygate-dead-lettered-at`     | when (RFC 3339, UTC, milliseconds): the first death    |
//! | `x-paygate-original-exchange`    | the exchange it had been delivered from                |
//! | `x-paygate-original-routing-key` | and its routing key: where `payctl dlq replay` sends it back |
//!
//! Its attempts are the envelope's `attempt` (delayed retries, also the `x-attempt` header) and
//! the queue's `x-delivery-count` (redeliveries). A message the broker dead-lettered itself has
//! none of the paygate headers, but RabbitMQ's `x-death` (reason, queue, exchange, routing keys,
//! time) and `x-first-death-*` headers instead.

use chrono::{SecondsFormat, Utc};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};

use super::envelope::headers;
use super::publisher::{PublishError, Publisher, Routing};
use super::topology::Topology;

/// The longest reason kept in the header, in bytes.
pub const MAX_REASON_LEN: usize = 2048;

/// A consumer giving up on a message: where it came from, who gives up and why.
#[derive(Clone, Copy, Debug)]
pub struct Rejection<'a> {
    /// The work queue the message was consumed from (its dead letter goes to `{queue}.dlq`).
    pub queue: &'a str,
    /// The consumer giving up.
    pub rejected_by: &'a str,
    /// The kind of reason (`unparseable`, `rejected`, `permanent_error`, `retries_exhausted`).
    pub kind: &'a str,
    /// Why, in words.
    pub reason: &'a str,
    /// The exchange the message was delivered from.
    pub exchange: &'a str,
    /// The routing key it was delivered with.
    pub routing_key: &'a str,
}

/// Publishes (with confirm) a copy of a message that came from `rejection.queue` to its
/// dead-letter queue, with the headers the module documentation lists. The body and properties
/// are kept as they were.
pub async fn dead_letter(
    publisher: &Publisher,
    topology: &Topology,
    rejection: &Rejection<'_>,
    properties: &BasicProperties,
    body: &[u8],
) -> Result<(), PublishError> {
    let mut h: FieldTable = properties.headers().clone().unwrap_or_default();
    let text = |s: &str| AMQPValue::LongString(s.into());
    h.insert(headers::REJECT_REASON.into(), text(truncate(rejection.reason, MAX_REASON_LEN)));
    h.insert(headers::REJECTED_BY.into(), text(rejection.rejected_by));
    h.insert(headers::DEAD_LETTER_KIND.into(), text(rejection.kind));
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    h.insert(headers::DEAD_LETTERED_AT.into(), text(&now));
    h.insert(headers::ORIGINAL_EXCHANGE.into(), text(rejection.exchange));
    h.insert(headers::ORIGINAL_ROUTING_KEY.into(), text(rejection.routing_key));
    let props = properties.clone().with_headers(h).with_delivery_mode(super::envelope::PERSISTENT);
    publisher
        .send_raw(&topology.dlx(), rejection.queue, body, props, Routing::Mandatory)
        .await?
        .confirmed()
        .await
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_respects_characters() {
        assert_eq!(super::truncate("abc", 10), "abc");
        assert_eq!(super::truncate("aé", 2), "a");
        assert_eq!(super::truncate("aéb", 3), "aé");
    }
}
