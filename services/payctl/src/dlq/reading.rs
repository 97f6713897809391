//! Reading a dead-letter queue without losing it, and what a dead letter says about itself.
//!
//! payctl reads a queue as a consumer with manual acknowledgement and a prefetch of the whole
//! queue (its depth when payctl looked, at most [`SCAN_LIMIT`]), on a channel of its own, and
//! holds every message unacknowledged while it looks at them: no other consumer gets them
//! meanwhile, and nothing is removed. What payctl does not acknowledge (everything `list` and
//! `show` read; what `replay` skips) goes back to the queue when the channel closes
//! ([`Session::release`]), or when the connection drops because payctl died: the broker never
//! forgets an unacknowledged message, which is the safety argument.
//!
//! Why always the whole queue, even for one page of `show`: a quorum queue (RabbitMQ 3.10) puts
//! a returned message at the back of the queue, in the order the messages were delivered. Taking
//! only the first page and handing it back would rotate the queue; taking every message and
//! handing them all back leaves it as it was (checked by services/payctl/tests/dlq.rs: pages
//! shown twice, the same messages in the same order, none lost). Two limits, both rare for a
//! dead-letter queue: a message dead-lettered while payctl holds the others ends up ahead of
//! them, and a queue deeper than [`SCAN_LIMIT`] is rotated by that many.
//!
//! Each return counts as a redelivery in the message's `x-delivery-count`. RabbitMQ 4.x gives
//! every quorum queue a default limit of 20, after which a message with nowhere further to go is
//! dropped; the definitions file (`broker::definitions`, loaded at boot by compose) carries a
//! policy, `<prefix>-dead-letters`, that lifts the limit on every `.dlq`. A broker set up without
//! the file needs that policy before dead letters are looked at often.

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, Consumer};
use paygate::broker::connect_once;
use paygate::broker::envelope::{header_int, header_str, headers};
use paygate::broker::topology::{DLQ_SUFFIX, Topology};
use paygate::domain::ValidationError;
use paygate::runtime::config::CommonConfig;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// The most messages one command reads from one queue.
pub const SCAN_LIMIT: u32 = 10_000;
/// How long payctl waits for the next message the queue said it holds (another reader may have
/// taken it meanwhile).
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of a body that is not JSON shown as text.
const RAW_BODY_SHOWN: usize = 4096;

/// Every dead-letter queue of the topology, in its order.
pub fn dead_letter_queues(topology: &Topology) -> Vec<String> {
    topology.queues().iter().map(|q| q.name.clone()).filter(|n| n.ends_with(DLQ_SUFFIX)).collect()
}

/// Checks that `name` is one of the topology's dead-letter queues; the error names the argument
/// and the rule.
pub fn check_queue(topology: &Topology, name: &str) -> Result<(), ValidationError> {
    let dlqs = dead_letter_queues(topology);
    if dlqs.iter().any(|q| q == name) {
        return Ok(());
    }
    let known = dlqs.join(", ");
    let rule = if topology.queue(name).is_some() {
        format!(
            "{name:?} is a work queue, not a dead-letter queue; its dead letters are in {name}{DLQ_SUFFIX}"
        )
    } else if name.ends_with(DLQ_SUFFIX) {
        format!(
            "no dead-letter queue {name:?} in this topology (AMQP_PREFIX {}, ORDER_SHARDS {}); the dead-letter queues are: {known}",
            topology.config().prefix,
            topology.config().order_shards
        )
    } else {
        format!(
            "{name:?} is not a dead-letter queue (its name must end in {DLQ_SUFFIX}); the dead-letter queues are: {known}"
        )
    };
    Err(ValidationError::new("queue", rule))
}

/// The work queue a dead-letter queue belongs to.
pub fn origin_queue(dlq: &str) -> &str {
    dlq.strip_suffix(DLQ_SUFFIX).unwrap_or(dlq)
}

/// A connection and a channel reading one dead-letter queue.
pub struct Session {
    pub conn: Connection,
    channel: Channel,
    consumer: Option<Consumer>,
    pub queue: String,
    /// How many messages the queue held when the session began.
    pub depth: u32,
    /// How many this session reads at most.
    limit: u32,
    read: usize,
}

/// A message payctl holds unacknowledged, with what it says about itself.
pub struct Held {
    pub delivery: Delivery,
    pub letter: DeadLetter,
}

impl Session {
    /// Connects, looks the queue up (passively: payctl declares nothing) and asks for every
    /// message in it (at most [`SCAN_LIMIT`]).
    pub async fn open(common: &CommonConfig, queue: &str) -> anyhow::Result<Self> {
        let conn = connect_once(&common.amqp_url, "payctl dlq").await?;
        let channel = conn.create_channel().await?;
        let opts = QueueDeclareOptions { passive: true, ..Default::default() };
        let declared = channel.queue_declare(queue.into(), opts, FieldTable::default()).await;
        let depth = match declared {
            Ok(q) => q.message_count(),
            Err(e) => {
                let _ = conn.close(200, "payctl done".into()).await;
                anyhow::bail!(
                    "queue: {queue} does not exist on the broker ({e}); a paygate service declares the topology when it starts"
                );
            }
        };
        let limit = depth.min(SCAN_LIMIT);
        let mut session =
            Self { conn, channel, consumer: None, queue: queue.to_owned(), depth, limit, read: 0 };
        if limit > 0 {
            let prefetch = u16::try_from(limit).unwrap_or(u16::MAX);
            session.channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
            let opts = BasicConsumeOptions { no_ack: false, ..Default::default() };
            let consumer =
                session.channel.basic_consume(queue.into(), "".into(), opts, FieldTable::default()).await?;
            session.consumer = Some(consumer);
        }
        Ok(session)
    }

    /// The next message, held unacknowledged; `None` once as many messages as the session was
    /// opened for have been read, or the queue has no more.
    pub async fn next(&mut self) -> anyhow::Result<Option<Held>> {
        if self.read >= self.limit as usize {
            return Ok(None);
        }
        let Some(consumer) = self.consumer.as_mut() else { return Ok(None) };
        let delivery = match tokio::time::timeout(READ_TIMEOUT, consumer.next()).await {
            Err(_) | Ok(None) => return Ok(None),
            Ok(Some(delivery)) => delivery?,
        };
        self.read += 1;
        let letter = DeadLetter::decode(self.read, &self.queue, &delivery);
        Ok(Some(Held { delivery, letter }))
    }

    /// Acknowledges a held message: it leaves the queue for good.
    pub async fn ack(&self, held: &Held) -> anyhow::Result<()> {
        held.delivery.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }

    /// Closes the channel and the connection: every message still held returns to the queue.
    pub async fn release(self) {
        let _ = self.channel.close(200, "payctl done".into()).await;
        let _ = self.conn.close(200, "payctl done".into()).await;
    }
}

/// Where a dead letter came from: replay sends it back there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub exchange: String,
    pub routing_key: String,
    /// What said so: `paygate headers`, `x-death`, or `queue` (no header: straight back to the
    /// work queue through the default exchange; and always for a queue fed by the events
    /// exchange, [`replayed_to`]).
    pub from: &'static str,
}

/// Where a dead letter of `dlq` goes when replayed, given where it came from. A queue fed by the
/// events exchange (the callbacks queue) shares its messages with upstream's own queues: its
/// dead letters go back to that queue alone, through the default exchange, never to every
/// upstream again.
pub fn replayed_to(dlq: &str, origin: Origin) -> Origin {
    let queue = origin_queue(dlq);
    let from_events =
        queue.strip_suffix(paygate::broker::topology::CALLBACKS_QUEUE).is_some_and(|p| p.ends_with('.'));
    if from_events {
        return Origin { exchange: String::new(), routing_key: queue.to_owned(), from: "queue" };
    }
    origin
}

/// One dead letter, decoded for people.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    /// 1 for the head of the queue.
    pub position: usize,
    pub message_id: Option<String>,
    pub message_type: Option<String>,
    pub order_key: Option<String>,
    /// The kind of reason: the consumer's (`rejected`, `unparseable`, `permanent_error`,
    /// `retries_exhausted`) or the broker's (`delivery_limit`, `rejected`, `expired`).
    pub kind: String,
    /// Why, in words (the consumer's reason), when known.
    pub reason: Option<String>,
    pub rejected_by: Option<String>,
    pub first_death_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    /// Delayed retries the message had been through (the envelope's `attempt`).
    pub attempt: Option<i64>,
    /// Redeliveries counted by the queues (`x-delivery-count`).
    pub deliveries: Option<i64>,
    pub origin: Origin,
    /// The envelope's payload; the whole body if it is JSON but no envelope; else the body as text.
    pub payload: Value,
    /// Why the body is not an envelope, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_error: Option<String>,
}

impl DeadLetter {
    pub fn decode(position: usize, queue: &str, delivery: &Delivery) -> Self {
        let props = &delivery.properties;
        let body: Result<Value, _> = serde_json::from_slice(&delivery.data);
        let envelope =
            body.as_ref().ok().filter(|v| v.get("payload").is_some() && v.get("message_id").is_some());
        let field =
            |name: &str| envelope.and_then(|e| e.get(name)).and_then(Value::as_str).map(str::to_owned);
        let (payload, body_error) = match (&body, envelope) {
            (_, Some(e)) => (e["payload"].clone(), None),
            (Ok(v), None) => (v.clone(), Some("the body is JSON but not an envelope".to_owned())),
            (Err(e), None) => {
                let text = String::from_utf8_lossy(&delivery.data);
                let shown: String = text.chars().take(RAW_BODY_SHOWN).collect();
                (Value::String(shown), Some(format!("the body is not JSON: {e}")))
            }
        };
        let death = x_death(props, origin_queue(queue));
        let kind = header_str(props, headers::DEAD_LETTER_KIND)
            .map(str::to_owned)
            .or_else(|| death.as_ref().and_then(|d| d.reason.clone()))
            .or_else(|| header_str(props, "x-first-death-reason").map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        let first_death_at = header_str(props, headers::DEAD_LETTERED_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| death.as_ref().and_then(|d| d.time));
        let origin = match header_str(props, headers::ORIGINAL_EXCHANGE) {
            Some(exchange) => Origin {
                exchange: exchange.to_owned(),
                routing_key: header_str(props, headers::ORIGINAL_ROUTING_KEY).unwrap_or_default().to_owned(),
                from: "paygate headers",
            },
            None => match &death {
                Some(d) if d.exchange.is_some() => Origin {
                    exchange: d.exchange.clone().unwrap_or_default(),
                    routing_key: d.routing_key.clone().unwrap_or_default(),
                    from: "x-death",
                },
                _ => Origin {
                    exchange: String::new(),
                    routing_key: origin_queue(queue).to_owned(),
                    from: "queue",
                },
            },
        };
        let origin = replayed_to(queue, origin);
        Self {
            position,
            message_id: props.message_id().as_ref().map(|s| s.to_string()).or_else(|| field("message_id")),
            message_type: props.kind().as_ref().map(|s| s.to_string()).or_else(|| field("message_type")),
            order_key: header_str(props, headers::ORDER_KEY)
                .map(str::to_owned)
                .or_else(|| field("order_key")),
            kind,
            reason: header_str(props, headers::REJECT_REASON).map(str::to_owned),
            rejected_by: header_str(props, headers::REJECTED_BY)
                .map(str::to_owned)
                .or_else(|| death.as_ref().and_then(|d| d.queue.clone()).map(|q| format!("broker ({q})"))),
            first_death_at,
            created_at: field("created_at")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
            attempt: envelope
                .and_then(|e| e.get("attempt"))
                .and_then(Value::as_i64)
                .or_else(|| header_int(props, headers::ATTEMPT)),
            deliveries: header_int(props, headers::DELIVERY_COUNT),
            origin,
            payload,
            body_error,
        }
    }

    /// When the message died (else when it was made), for its age.
    pub fn died_at(&self) -> Option<DateTime<Utc>> {
        self.first_death_at.or(self.created_at)
    }
}

/// The parts of an `x-death` entry payctl uses.
struct Death {
    reason: Option<String>,
    queue: Option<String>,
    exchange: Option<String>,
    routing_key: Option<String>,
    time: Option<DateTime<Utc>>,
}

/// The `x-death` entry for `queue` (the work queue), else the oldest one.
fn x_death(props: &BasicProperties, queue: &str) -> Option<Death> {
    let AMQPValue::FieldArray(entries) = props.headers().as_ref()?.inner().get("x-death")? else {
        return None;
    };
    let tables: Vec<&FieldTable> = entries
        .as_slice()
        .iter()
        .filter_map(|e| if let AMQPValue::FieldTable(t) = e { Some(t) } else { None })
        .collect();
    let text = |t: &FieldTable, name: &str| match t.inner().get(name) {
        Some(AMQPValue::LongString(s)) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Some(AMQPValue::ShortString(s)) => Some(s.to_string()),
        _ => None,
    };
    let entry = tables.iter().find(|t| text(t, "queue").as_deref() == Some(queue)).or(tables.last())?;
    let routing_key = match entry.inner().get("routing-keys") {
        Some(AMQPValue::FieldArray(keys)) => keys.as_slice().iter().find_map(|k| match k {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.to_string()),
            _ => None,
        }),
        _ => None,
    };
    let time = match entry.inner().get("time") {
        Some(AMQPValue::Timestamp(t)) => i64::try_from(*t).ok().and_then(|s| DateTime::from_timestamp(s, 0)),
        _ => None,
    };
    Some(Death {
        reason: text(entry, "reason"),
        queue: text(entry, "queue"),
        exchange: text(entry, "exchange"),
        routing_key,
        time,
    })
}

/// An age for people: `3d 4h`, `2h 5m`, `4m 10s`, `12s`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - since).num_seconds().max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_letter_queues_of_the_topology_pass() {
        let t = Topology::default();
        assert!(check_queue(&t, "paygate.orders.shard.1.dlq").is_ok());
        let e = check_queue(&t, "paygate.orders.shard.1").unwrap_err().to_string();
        assert!(e.contains("queue") && e.contains("is a work queue"), "{e}");
        let e = check_queue(&t, "paygate.orders.shard.9.dlq").unwrap_err().to_string();
        assert!(e.contains("no dead-letter queue") && e.contains("paygate.commands.ingest.dlq"), "{e}");
        let e = check_queue(&t, "nope").unwrap_err().to_string();
        assert!(e.contains("must end in .dlq"), "{e}");
    }

    #[test]
    fn a_callback_dead_letter_is_replayed_to_its_queue_alone_not_to_every_upstream() {
        let t = Topology::default();
        let from_events = || Origin {
            exchange: t.events_exchange(),
            routing_key: "payment.succeeded.retail".into(),
            from: "paygate headers",
        };
        let to = replayed_to(&t.dlq(&t.callbacks_queue()), from_events());
        assert_eq!((to.exchange.as_str(), to.routing_key.as_str()), ("", "paygate.events.callbacks"));
        let shard = replayed_to(&t.dlq(&t.shard_queue(0)), from_events());
        assert_eq!(shard.exchange, t.events_exchange(), "other queues keep their origin");
        let lookalike = replayed_to("paygate.xevents.callbacks.dlq", from_events());
        assert_eq!(lookalike.exchange, t.events_exchange());
    }

    #[test]
    fn ages_read_naturally() {
        let now = Utc::now();
        assert_eq!(age(now - chrono::Duration::seconds(12), now), "12s");
        assert_eq!(age(now - chrono::Duration::seconds(250), now), "4m 10s");
        assert_eq!(age(now - chrono::Duration::seconds(3 * 86_400 + 4 * 3600), now), "3d 4h");
    }
}
