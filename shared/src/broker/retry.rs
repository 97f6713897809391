//! Delayed retries on the TTL ladder (docs/architecture.md, decision 6).
//!
//! To retry a message later, publish a copy with `attempt + 1` to the retry exchange with the
//! tier's name as routing key, then acknowledge the original. The copy waits out the tier
//! queue's TTL and is dead-lettered back to the orders exchange; the exchange hashes the
//! `order-key` header, which the copy keeps, so it returns to the same shard. Only order messages
//! can take this path: the ladder leads back to the orders exchange and nowhere else.

use serde::Serialize;
use std::time::Duration;

use super::envelope::Envelope;
use super::publisher::{PublishError, Publisher, Routing};
use super::topology::Topology;

/// What [`schedule_retry`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// A copy with attempt `attempt` waits in tier `tier`.
    Scheduled { tier: String, attempt: u32 },
    /// The message has been through every tier; nothing was published. Dead-letter it.
    Exhausted { attempts: u32 },
}

/// Publishes (with confirm) a copy of `envelope` with the attempt count raised by one to the tier
/// for that attempt. The caller acknowledges the original only after this returned `Scheduled`.
pub async fn schedule_retry<P: Serialize>(
    publisher: &Publisher,
    topology: &Topology,
    envelope: &Envelope<P>,
) -> Result<RetryDecision, PublishError> {
    let attempt = envelope.attempt.saturating_add(1);
    let Some(tier) = topology.retry_tier_for_attempt(attempt) else {
        return Ok(RetryDecision::Exhausted { attempts: envelope.attempt });
    };
    let mut copy = envelope.as_ref();
    copy.attempt = attempt;
    publisher.publish(&topology.retry_exchange(), &tier.name, &copy, Routing::Mandatory).await?;
    Ok(RetryDecision::Scheduled { tier: tier.name.clone(), attempt })
}

/// Publishes (with confirm) a copy of `envelope` held back by something outside it (its
/// provider's circuit is open, an earlier message of its order waits on the ladder): the copy
/// keeps its attempt count, so holding never exhausts the ladder, and counts one more hold. It
/// waits in [`Topology::hold_tier`]: as long as the hold's cause is expected to last (`at_least`,
/// rounded down to a tier), and a rung longer each time it is held again (up to two minutes), so
/// a long outage does not send every held message round the ladder's shortest tier again and
/// again. Returns the tier.
pub async fn schedule_hold<P: Serialize>(
    publisher: &Publisher,
    topology: &Topology,
    envelope: &Envelope<P>,
    at_least: Duration,
) -> Result<Option<String>, PublishError> {
    let Some(tier) = topology.hold_tier(envelope.attempt, envelope.holds, at_least) else { return Ok(None) };
    let mut copy = envelope.as_ref();
    copy.holds = envelope.holds.saturating_add(1);
    publisher.publish(&topology.retry_exchange(), &tier.name, &copy, Routing::Mandatory).await?;
    Ok(Some(tier.name.clone()))
}
