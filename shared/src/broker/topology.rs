//! The whole RabbitMQ topology, declared in one place.
//!
//! [`Topology::new`] turns a [`TopologyConfig`] into the list of exchanges, queues and bindings;
//! [`Topology::declare`] declares them on a channel and
//! [`definitions`](super::definitions) renders the same list as a definitions file. There is no
//! second list anywhere.
//!
//! ```text
//! {p}.commands (topic) ──#──▶ {p}.commands.ingest
//! {p}.orders (x-consistent-hash, hash-header=order-key) ──"1"──▶ {p}.orders.shard.{0..N}
//! {p}.retry (direct) ──{tier}──▶ {p}.retry.{tier} ──(TTL, dead-letter)──▶ {p}.orders
//! {p}.events (topic) ──payment.#, refund.#──▶ {p}.events.callbacks   (and upstream's own queues)
//! {p}.dlx (direct) ──{queue}──▶ {queue}.dlq   for every work queue
//! ```
//!
//! Every queue is a durable quorum queue. Work queues (the ingest queue and the shards) dead-letter
//! to `{p}.dlx` with their own name as routing key, at least once, and carry an explicit
//! `x-delivery-limit` (RabbitMQ 4.x otherwise applies a default of 20, 3.x none), so a poison
//! message ends in its `.dlq` on every version. Shards have a single active consumer: one
//! dispatcher at a time works a shard, and another takes over when it goes away.
//!
//! Checked on RabbitMQ 3.10.8 (shared/tests/broker_integration): the consistent-hash exchange
//! takes `hash-header` as an exchange argument; quorum queues accept single active consumer,
//! `x-message-ttl` and at-least-once dead-lettering; with `x-delivery-limit: n` a message that
//! keeps being requeued is delivered n + 1 times, then dead-lettered with `x-death` reason
//! `delivery_limit`; a message dead-lettered from a tier queue keeps its headers and gains an
//! `x-death` entry naming the tier queue. RabbitMQ 4.x gives quorum queues a default delivery
//! limit of 20, hence the explicit argument.
//!
//! Any service may declare the whole topology at start (and again after reconnecting):
//! declaring is idempotent as long as the arguments do not change. Changing an argument of an
//! existing queue (say the delivery limit, or a tier's TTL) makes RabbitMQ refuse the declaration
//! with PRECONDITION_FAILED; such a change needs a migration (drain and delete the queue, or a
//! policy), and so does changing the number of shards, which moves orders between shards.

use std::collections::BTreeMap;
use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::envelope::headers;

/// How far up the ladder holding a message again and again takes it ([`Topology::hold_tier`]):
/// to the longest tier within this, so held work comes back at most about this long after its
/// cause ends.
pub const HOLDS_BACK_OFF_UP_TO: Duration = Duration::from_secs(120);

/// What the topology is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Prefix of every exchange and queue name (default `paygate`).
    pub prefix: String,
    /// Number of order shards, `{prefix}.orders.shard.{0..order_shards}` (default 4).
    pub order_shards: u16,
    /// The delayed-retry ladder, shortest first (default 5s, 30s, 2m, 10m, 1h).
    pub retry_tiers: Vec<RetryTier>,
    /// `x-delivery-limit` of every work queue: how often a message may be redelivered before it
    /// is dead-lettered (default 10).
    pub delivery_limit: u32,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        let tier = |name: &str, secs: u64| RetryTier::new(name, Duration::from_secs(secs));
        Self {
            prefix: "paygate".to_owned(),
            order_shards: 4,
            retry_tiers: vec![
                tier("5s", 5),
                tier("30s", 30),
                tier("2m", 120),
                tier("10m", 600),
                tier("1h", 3600),
            ],
            delivery_limit: 10,
        }
    }
}

/// One rung of the retry ladder: a queue whose messages wait `ttl`, then go back to the orders
/// exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryTier {
    /// Part of the queue name and the routing key on the retry exchange, e.g. `30s`.
    pub name: String,
    pub ttl: Duration,
}

impl RetryTier {
    pub fn new(name: impl Into<String>, ttl: Duration) -> Self {
        Self { name: name.into(), ttl }
    }
}

/// Why a [`TopologyConfig`] was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    #[error("order_shards must be at least 1")]
    NoShards,
    #[error("the prefix must be non-empty and contain only letters, digits, '-', '_' and '.': {0:?}")]
    BadPrefix(String),
    #[error("retry tier name {0:?} must be non-empty and contain only letters, digits, '-' and '_'")]
    BadTierName(String),
    #[error("retry tier {0:?} appears twice")]
    DuplicateTier(String),
    #[error("retry tier {name:?}: the TTL must be between 1 ms and 2^32-1 ms, not {ttl:?}")]
    BadTierTtl { name: String, ttl: Duration },
    #[error("delivery_limit must be at least 1")]
    NoDeliveryLimit,
    #[error("the name {0:?} is longer than the 255 bytes AMQP allows")]
    NameTooLong(String),
}

/// Declaring the topology failed; the error names the object.
#[derive(Debug, thiserror::Error)]
#[error("declaring {what} failed: {source}")]
pub struct DeclareError {
    pub what: String,
    #[source]
    pub source: lapin::Error,
}

/// An argument value, in the few types the topology uses. It converts both to an AMQP field
/// value (for declaring) and to JSON (for the definitions file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl ArgValue {
    fn to_amqp(&self) -> AMQPValue {
        match self {
            ArgValue::Str(s) => AMQPValue::LongString(s.as_str().into()),
            ArgValue::Int(i) => AMQPValue::LongLongInt(*i),
            ArgValue::Bool(b) => AMQPValue::Boolean(*b),
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            ArgValue::Str(s) => serde_json::Value::from(s.as_str()),
            ArgValue::Int(i) => serde_json::Value::from(*i),
            ArgValue::Bool(b) => serde_json::Value::from(*b),
        }
    }
}

/// Declaration arguments, sorted by name.
pub type Arguments = BTreeMap<String, ArgValue>;

fn field_table(args: &Arguments) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in args {
        table.insert(k.as_str().into(), v.to_amqp());
    }
    table
}

/// The kinds of exchange the topology uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeType {
    Direct,
    Topic,
    /// The `rabbitmq_consistent_hash_exchange` plugin's `x-consistent-hash`.
    ConsistentHash,
}

impl ExchangeType {
    /// The name RabbitMQ knows the type by.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeType::Direct => "direct",
            ExchangeType::Topic => "topic",
            ExchangeType::ConsistentHash => "x-consistent-hash",
        }
    }

    fn kind(self) -> ExchangeKind {
        match self {
            ExchangeType::Direct => ExchangeKind::Direct,
            ExchangeType::Topic => ExchangeKind::Topic,
            ExchangeType::ConsistentHash => ExchangeKind::Custom(self.as_str().to_owned()),
        }
    }
}

/// A durable exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeSpec {
    pub name: String,
    pub kind: ExchangeType,
    pub arguments: Arguments,
}

/// A durable quorum queue (`x-queue-type` is among its arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub arguments: Arguments,
}

/// A binding of a queue to an exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingSpec {
    pub source: String,
    pub destination: String,
    pub routing_key: String,
    pub arguments: Arguments,
}

/// Suffix of a work queue's dead-letter queue.
pub const DLQ_SUFFIX: &str = ".dlq";

/// The topology: every exchange, queue and binding, and the names services need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    config: TopologyConfig,
    exchanges: Vec<ExchangeSpec>,
    queues: Vec<QueueSpec>,
    bindings: Vec<BindingSpec>,
}

fn s(v: impl Into<String>) -> ArgValue {
    ArgValue::Str(v.into())
}

impl Default for Topology {
    fn default() -> Self {
        Self::new(TopologyConfig::default()).expect("the default topology config is valid")
    }
}

impl Topology {
    /// Builds the topology, after checking the configuration.
    pub fn new(config: TopologyConfig) -> Result<Self, TopologyError> {
        validate(&config)?;
        let mut t = Self { config, exchanges: Vec::new(), queues: Vec::new(), bindings: Vec::new() };
        let (commands, orders, retry, events, dlx) =
            (t.commands_exchange(), t.orders_exchange(), t.retry_exchange(), t.events_exchange(), t.dlx());

        let exchange = |name: &str, kind, arguments| ExchangeSpec { name: name.to_owned(), kind, arguments };
        t.exchanges.push(exchange(&commands, ExchangeType::Topic, Arguments::new()));
        // The orders exchange hashes a header, not the routing key: a message dead-lettered back
        // from a retry tier keeps its headers (but not its routing key), so it returns to its
        // order's shard. Checked on RabbitMQ 3.10.8 (tests/broker_integration: retry).
        let hash = Arguments::from([("hash-header".to_owned(), s(headers::ORDER_KEY))]);
        t.exchanges.push(exchange(&orders, ExchangeType::ConsistentHash, hash));
        t.exchanges.push(exchange(&retry, ExchangeType::Direct, Arguments::new()));
        t.exchanges.push(exchange(&events, ExchangeType::Topic, Arguments::new()));
        t.exchanges.push(exchange(&dlx, ExchangeType::Direct, Arguments::new()));

        let ingest = t.ingest_queue();
        t.add_work_queue(&ingest, false);
        t.bind(&commands, &ingest, "#");
        for i in 0..t.config.order_shards {
            let shard = t.shard_queue(i);
            t.add_work_queue(&shard, true);
            // For a consistent-hash exchange the routing key of a binding is its weight.
            t.bind(&orders, &shard, "1");
        }
        // Merchant callbacks consume the events like any upstream would (docs/callbacks.md).
        let callbacks = t.callbacks_queue();
        t.add_work_queue(&callbacks, false);
        for key in CALLBACK_BINDINGS {
            t.bind(&events, &callbacks, key);
        }
        for tier in t.config.retry_tiers.clone() {
            let queue = t.retry_queue(&tier.name);
            let ttl = i64::try_from(tier.ttl.as_millis()).expect("validated: fits in u32");
            let mut args = quorum();
            args.insert("x-message-ttl".to_owned(), ArgValue::Int(ttl));
            args.insert("x-dead-letter-exchange".to_owned(), s(&orders));
            at_least_once(&mut args);
            t.queues.push(QueueSpec { name: queue.clone(), arguments: args });
            t.bind(&retry, &queue, &tier.name);
        }
        Ok(t)
    }

    /// A work queue with dead-lettering to the DLX, its `.dlq`, and the binding between them.
    fn add_work_queue(&mut self, name: &str, single_active_consumer: bool) {
        let mut args = quorum();
        args.insert("x-dead-letter-exchange".to_owned(), s(self.dlx()));
        args.insert("x-dead-letter-routing-key".to_owned(), s(name));
        at_least_once(&mut args);
        args.insert("x-delivery-limit".to_owned(), ArgValue::Int(i64::from(self.config.delivery_limit)));
        if single_active_consumer {
            args.insert("x-single-active-consumer".to_owned(), ArgValue::Bool(true));
        }
        self.queues.push(QueueSpec { name: name.to_owned(), arguments: args });
        let dlq = dlq_of(name);
        self.queues.push(QueueSpec { name: dlq.clone(), arguments: quorum() });
        self.bind(&self.dlx(), &dlq, name);
    }

    fn bind(&mut self, source: &str, destination: &str, routing_key: &str) {
        self.bindings.push(BindingSpec {
            source: source.to_owned(),
            destination: destination.to_owned(),
            routing_key: routing_key.to_owned(),
            arguments: Arguments::new(),
        });
    }

    /// Declares every exchange, then every queue, then every binding. Idempotent.
    pub async fn declare(&self, channel: &Channel) -> Result<(), DeclareError> {
        for e in &self.exchanges {
            let opts = ExchangeDeclareOptions { durable: true, ..Default::default() };
            channel
                .exchange_declare(e.name.as_str().into(), e.kind.kind(), opts, field_table(&e.arguments))
                .await
                .map_err(|source| DeclareError { what: format!("exchange {}", e.name), source })?;
        }
        for q in &self.queues {
            let opts = QueueDeclareOptions { durable: true, ..Default::default() };
            channel
                .queue_declare(q.name.as_str().into(), opts, field_table(&q.arguments))
                .await
                .map_err(|source| DeclareError { what: format!("queue {}", q.name), source })?;
        }
        for b in &self.bindings {
            channel
                .queue_bind(
                    b.destination.as_str().into(),
                    b.source.as_str().into(),
                    b.routing_key.as_str().into(),
                    QueueBindOptions::default(),
                    field_table(&b.arguments),
                )
                .await
                .map_err(|source| DeclareError {
                    what: format!("binding {} -[{}]-> {}", b.source, b.routing_key, b.destination),
                    source,
                })?;
        }
        Ok(())
    }

    pub fn config(&self) -> &TopologyConfig {
        &self.config
    }
    pub fn exchanges(&self) -> &[ExchangeSpec] {
        &self.exchanges
    }
    pub fn queues(&self) -> &[QueueSpec] {
        &self.queues
    }
    pub fn bindings(&self) -> &[BindingSpec] {
        &self.bindings
    }
    /// The queue called `name`, if the topology has one.
    pub fn queue(&self, name: &str) -> Option<&QueueSpec> {
        self.queues.iter().find(|q| q.name == name)
    }
    /// The exchange called `name`, if the topology has one.
    pub fn exchange(&self, name: &str) -> Option<&ExchangeSpec> {
        self.exchanges.iter().find(|e| e.name == name)
    }

    fn name(&self, rest: &str) -> String {
        format!("{}.{rest}", self.config.prefix)
    }

    /// `{p}.commands`: upstream publishes commands here, routing key = the command type.
    pub fn commands_exchange(&self) -> String {
        self.name("commands")
    }
    /// `{p}.commands.ingest`: every command (bound with `#`), consumed by the ingest service.
    pub fn ingest_queue(&self) -> String {
        self.name("commands.ingest")
    }
    /// `{p}.orders`: everything that changes an order, hashed on the `order-key` header.
    pub fn orders_exchange(&self) -> String {
        self.name("orders")
    }
    /// `{p}.orders.shard.{i}`.
    pub fn shard_queue(&self, i: u16) -> String {
        self.name(&format!("orders.shard.{i}"))
    }
    /// Every shard queue, in order.
    pub fn shard_queues(&self) -> Vec<String> {
        (0..self.config.order_shards).map(|i| self.shard_queue(i)).collect()
    }
    /// `{p}.retry`: publish here with routing key = tier name to wait in that tier.
    pub fn retry_exchange(&self) -> String {
        self.name("retry")
    }
    /// `{p}.retry.{tier}`.
    pub fn retry_queue(&self, tier: &str) -> String {
        self.name(&format!("retry.{tier}"))
    }
    /// The tier that retry number `attempt` waits in: 1 (the first retry) is the shortest tier,
    /// and attempts past the last tier get `None` (the retries are exhausted).
    pub fn retry_tier_for_attempt(&self, attempt: u32) -> Option<&RetryTier> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.config.retry_tiers.get(index)
    }
    /// The tier a held message waits in: the longest tier no longer than `at_least` (the hold's
    /// own estimate of how long its cause lasts), but never shorter than the tier of its current
    /// attempt (the first before any retry, the last once past it), nor than the tier `holds`
    /// rungs up for a message held `holds` times before, as far as the longest tier within
    /// [`HOLDS_BACK_OFF_UP_TO`]. `None` without a ladder.
    ///
    /// The last keeps a backlog held through a long outage from coming round every few
    /// seconds: each time round, a held message is read, its order locked and it is published
    /// again, and thousands of them doing so every 5 s take the machine from the providers that
    /// work (docs/benchmarks.md, "A long outage's held work"). On the default ladder a message
    /// waits 5 s when first held, 30 s the second time, then 2 minutes each time.
    pub fn hold_tier(&self, attempt: u32, holds: u32, at_least: Duration) -> Option<&RetryTier> {
        let tiers = &self.config.retry_tiers;
        let last = tiers.len().checked_sub(1)?;
        let by_attempt = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX).min(last);
        let by_wait = tiers.iter().rposition(|tier| tier.ttl <= at_least).unwrap_or(0);
        let backing_off_to = tiers.iter().rposition(|tier| tier.ttl <= HOLDS_BACK_OFF_UP_TO).unwrap_or(0);
        let by_holds = usize::try_from(holds).unwrap_or(usize::MAX).min(backing_off_to);
        tiers.get(by_attempt.max(by_wait).max(by_holds))
    }
    /// How many delayed retries the ladder allows.
    pub fn max_retries(&self) -> u32 {
        u32::try_from(self.config.retry_tiers.len()).unwrap_or(u32::MAX)
    }
    /// `{p}.events`: what paygate tells upstream. Upstream binds its own queues.
    pub fn events_exchange(&self) -> String {
        self.name("events")
    }
    /// `{p}.events.callbacks`: every payment and refund event, for the merchant callbacks
    /// (compensation-scheduler's `callbacks`), bound with [`CALLBACK_BINDINGS`].
    pub fn callbacks_queue(&self) -> String {
        self.name(CALLBACKS_QUEUE)
    }
    /// `{p}.dlx`: dead letters, routed by the name of the queue they died in.
    pub fn dlx(&self) -> String {
        self.name("dlx")
    }
    /// The dead-letter queue of a work queue: `{queue}.dlq`.
    pub fn dlq(&self, queue: &str) -> String {
        dlq_of(queue)
    }
    /// Whether a message published to `exchange` must reach a queue (publish with `mandatory`,
    /// and treat a return as an error). True for every exchange but the events exchange, whose
    /// queues belong to upstream: an event nobody has bound a queue for is not an error of ours.
    /// The same holds for replies, published to the default exchange (`""`) with the requester's
    /// `reply_to` queue as routing key: that queue is upstream's, and a reply queue that is gone
    /// must not hold up the outbox (a returned mandatory message would be retried for ever).
    pub fn requires_route(&self, exchange: &str) -> bool {
        exchange != self.events_exchange() && exchange != DEFAULT_EXCHANGE
    }
}

/// The callbacks queue's name after the prefix.
pub const CALLBACKS_QUEUE: &str = "events.callbacks";

/// The routing keys the callbacks queue is bound to the events exchange with: the events of
/// orders (`command.rejected` is answered to its sender, not called back).
pub const CALLBACK_BINDINGS: [&str; 2] = ["payment.#", "refund.#"];

/// The AMQP default exchange: routes to the queue named by the routing key (replies go here).
pub const DEFAULT_EXCHANGE: &str = "";

fn dlq_of(queue: &str) -> String {
    format!("{queue}{DLQ_SUFFIX}")
}

fn quorum() -> Arguments {
    Arguments::from([("x-queue-type".to_owned(), s("quorum"))])
}

/// At-least-once dead-lettering (quorum queues, RabbitMQ ≥ 3.10). It requires
/// `x-overflow: reject-publish`; with the default overflow RabbitMQ silently falls back to
/// at-most-once. The queues have no length limit, so reject-publish never actually triggers.
fn at_least_once(args: &mut Arguments) {
    args.insert("x-dead-letter-strategy".to_owned(), s("at-least-once"));
    args.insert("x-overflow".to_owned(), s("reject-publish"));
}

fn validate(c: &TopologyConfig) -> Result<(), TopologyError> {
    let ok_char = |ch: char| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_';
    if c.prefix.is_empty() || !c.prefix.chars().all(|ch| ok_char(ch) || ch == '.') {
        return Err(TopologyError::BadPrefix(c.prefix.clone()));
    }
    if c.order_shards == 0 {
        return Err(TopologyError::NoShards);
    }
    if c.delivery_limit == 0 {
        return Err(TopologyError::NoDeliveryLimit);
    }
    let mut seen = std::collections::BTreeSet::new();
    for tier in &c.retry_tiers {
        if tier.name.is_empty() || !tier.name.chars().all(ok_char) {
            return Err(TopologyError::BadTierName(tier.name.clone()));
        }
        if !seen.insert(tier.name.as_str()) {
            return Err(TopologyError::DuplicateTier(tier.name.clone()));
        }
        if tier.ttl < Duration::from_millis(1) || tier.ttl.as_millis() > u128::from(u32::MAX) {
            return Err(TopologyError::BadTierTtl { name: tier.name.clone(), ttl: tier.ttl });
        }
    }
    // The longest names: a shard's DLQ and a tier queue.
    let longest_tier = c.retry_tiers.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let longest = format!("{}.orders.shard.{}{DLQ_SUFFIX}", c.prefix, c.order_shards);
    if longest.len().max(c.prefix.len() + ".retry.".len() + longest_tier) > 255 {
        return Err(TopologyError::NameTooLong(c.prefix.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let t = Topology::default();
        assert_eq!(t.commands_exchange(), "paygate.commands");
        assert_eq!(t.ingest_queue(), "paygate.commands.ingest");
        assert_eq!(t.orders_exchange(), "paygate.orders");
        assert_eq!(t.shard_queue(3), "paygate.orders.shard.3");
        assert_eq!(t.retry_exchange(), "paygate.retry");
        assert_eq!(t.retry_queue("30s"), "paygate.retry.30s");
        assert_eq!(t.events_exchange(), "paygate.events");
        assert_eq!(t.dlx(), "paygate.dlx");
        assert_eq!(t.dlq(&t.shard_queue(0)), "paygate.orders.shard.0.dlq");
        assert_eq!(t.callbacks_queue(), "paygate.events.callbacks");
    }

    #[test]
    fn only_our_own_exchanges_require_a_route() {
        let t = Topology::default();
        assert!(t.requires_route(&t.orders_exchange()));
        assert!(t.requires_route(&t.retry_exchange()));
        assert!(!t.requires_route(&t.events_exchange()), "upstream's queues");
        assert!(!t.requires_route(DEFAULT_EXCHANGE), "replies to upstream's reply_to queue");
    }

    #[test]
    fn the_default_topology_has_every_object() {
        let t = Topology::default();
        assert_eq!(t.exchanges().len(), 5);
        // ingest + dlq, 4 shards + 4 dlqs, callbacks + dlq, 5 tiers
        assert_eq!(t.queues().len(), 2 + 8 + 2 + 5);
        // commands->ingest, dlx->ingest.dlq, 4x orders->shard, 4x dlx->shard.dlq,
        // 2x events->callbacks, dlx->callbacks.dlq, 5x retry->tier
        assert_eq!(t.bindings().len(), 2 + 8 + 3 + 5);
        let callbacks: Vec<&str> = t
            .bindings()
            .iter()
            .filter(|b| b.destination == "paygate.events.callbacks")
            .map(|b| b.routing_key.as_str())
            .collect();
        assert_eq!(callbacks, ["payment.#", "refund.#"], "the order events, from the events exchange");
        let shard = t.queue("paygate.orders.shard.2").unwrap();
        assert_eq!(shard.arguments["x-single-active-consumer"], ArgValue::Bool(true));
        assert_eq!(shard.arguments["x-delivery-limit"], ArgValue::Int(10));
        assert_eq!(shard.arguments["x-dead-letter-routing-key"], s("paygate.orders.shard.2"));
        let tier = t.queue("paygate.retry.2m").unwrap();
        assert_eq!(tier.arguments["x-message-ttl"], ArgValue::Int(120_000));
        assert_eq!(tier.arguments["x-dead-letter-exchange"], s("paygate.orders"));
        assert!(!tier.arguments.contains_key("x-delivery-limit"));
        let orders = t.exchange("paygate.orders").unwrap();
        assert_eq!(orders.kind, ExchangeType::ConsistentHash);
        assert_eq!(orders.arguments["hash-header"], s("order-key"));
    }

    #[test]
    fn retry_tiers_by_attempt() {
        let t = Topology::default();
        assert_eq!(t.retry_tier_for_attempt(0), None);
        assert_eq!(t.retry_tier_for_attempt(1).unwrap().name, "5s");
        assert_eq!(t.retry_tier_for_attempt(5).unwrap().name, "1h");
        assert_eq!(t.retry_tier_for_attempt(6), None);
        assert_eq!(t.max_retries(), 5);
    }

    #[test]
    fn a_hold_waits_about_as_long_as_its_cause_but_never_less_than_its_attempts_tier() {
        let t = Topology::default(); // 5s, 30s, 2m, 10m, 1h
        let tier = |attempt, secs| t.hold_tier(attempt, 0, Duration::from_secs(secs)).unwrap().name.clone();
        assert_eq!(tier(0, 0), "5s", "nothing known: the first tier");
        assert_eq!(tier(0, 4), "5s", "shorter than every tier: the first");
        assert_eq!(tier(0, 45), "30s", "rounded down to a tier");
        assert_eq!(tier(0, 660), "10m");
        assert_eq!(tier(0, 86_400), "1h", "longer than every tier: the last");
        assert_eq!(tier(3, 10), "2m", "a message on its third attempt waits at least that tier");
        assert_eq!(tier(9, 0), "1h", "past the ladder: the last tier");
    }

    #[test]
    fn each_hold_of_a_message_waits_a_rung_longer_up_to_two_minutes() {
        let t = Topology::default(); // 5s, 30s, 2m, 10m, 1h
        let tier = |attempt, holds, secs| {
            t.hold_tier(attempt, holds, Duration::from_secs(secs)).unwrap().name.clone()
        };
        assert_eq!(tier(0, 0, 0), "5s", "first held: the first tier");
        assert_eq!(tier(0, 1, 0), "30s", "held once before: a rung up");
        assert_eq!(tier(0, 2, 0), "2m");
        assert_eq!(tier(0, 3, 0), "2m", "no higher than the longest tier within two minutes");
        assert_eq!(tier(0, 50, 0), "2m");
        assert_eq!(tier(0, 1, 660), "10m", "a longer cause still waits its own time");
        assert_eq!(tier(4, 1, 0), "10m", "and a retried message its attempt's tier");
        // A ladder whose every tier is longer than two minutes: holds stay on the first.
        let long = Topology::new(TopologyConfig {
            retry_tiers: vec![
                RetryTier::new("5m", Duration::from_secs(300)),
                RetryTier::new("1h", Duration::from_secs(3600)),
            ],
            ..TopologyConfig::default()
        })
        .unwrap();
        assert_eq!(long.hold_tier(0, 7, Duration::ZERO).unwrap().name, "5m");
    }

    #[test]
    fn bad_configs_are_refused() {
        let with = |f: fn(&mut TopologyConfig)| {
            let mut c = TopologyConfig::default();
            f(&mut c);
            Topology::new(c).unwrap_err()
        };
        assert_eq!(with(|c| c.order_shards = 0), TopologyError::NoShards);
        assert_eq!(with(|c| c.prefix = "a b".into()), TopologyError::BadPrefix("a b".into()));
        assert_eq!(with(|c| c.delivery_limit = 0), TopologyError::NoDeliveryLimit);
        assert!(matches!(with(|c| c.retry_tiers[1].name = "5s".into()), TopologyError::DuplicateTier(_)));
        assert!(matches!(with(|c| c.retry_tiers[0].ttl = Duration::ZERO), TopologyError::BadTierTtl { .. }));
        assert!(matches!(with(|c| c.prefix = "p".repeat(250)), TopologyError::NameTooLong(_)));
    }
}
