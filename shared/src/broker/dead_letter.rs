//! Dead-lettering with a reason.
//!
//! RabbitMQ's own dead-lettering (a reject without requeue, or the delivery limit) records only
//! a broker-side reason (`rejected`, `delivery_limit`) in `x-death`. When a consumer gives up on
//! a message it knows why, so it publishes a copy to the DLX itself, routed by the queue's name
//! to `<queue>.dlq`, with the reason in the `x-paygate-reject-reason` header and its own name in
//! `x-paygate-rejected-by`, waits for the confirm, and only then acknowledges the original:
//! nothing is lost in between, and a crash in between at worst leaves two copies.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};

use super::envelope::headers;
use super::publisher::{PublishError, Publisher, Routing};
use super::topology::Topology;

/// The longest reason kept in the header, in bytes.
pub const MAX_REASON_LEN: usize = 2048;

/// Publishes (with confirm) a copy of a message that came from `queue` to its dead-letter queue,
/// with `reason`. The body and properties are kept as they were.
pub async fn dead_letter(
    publisher: &Publisher,
    topology: &Topology,
    queue: &str,
    rejected_by: &str,
    properties: &BasicProperties,
    body: &[u8],
    reason: &str,
) -> Result<(), PublishError> {
    let mut h: FieldTable = properties.headers().clone().unwrap_or_default();
    h.insert(headers::REJECT_REASON.into(), AMQPValue::LongString(truncate(reason, MAX_REASON_LEN).into()));
    h.insert(headers::REJECTED_BY.into(), AMQPValue::LongString(rejected_by.into()));
    let props = properties.clone().with_headers(h).with_delivery_mode(super::envelope::PERSISTENT);
    publisher.send_raw(&topology.dlx(), queue, body, props, Routing::Mandatory).await?.confirmed().await
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
