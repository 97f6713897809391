//! RabbitMQ: topology, envelope, publishing and consuming.
//!
//! - [`topology`]: every exchange, queue and binding, declared from one [`Topology`] value;
//! - [`definitions`]: the same topology as a management-plugin definitions file;
//! - [`envelope`]: the message envelope and its mapping onto AMQP properties and headers;
//! - [`trace_context`]: W3C trace context in the envelope;
//! - [`connection`]: connecting, and the [`Supervisor`] that keeps a component connected;
//! - [`publisher`]: confirmed, persistent, optionally mandatory publishing;
//! - [`outbox`]: enqueue in the caller's transaction, and the relay that publishes;
//! - [`consumer`]: the consumer runtime: inbox deduplication, handler transaction, retries,
//!   dead-lettering, graceful shutdown;
//! - [`retry`]: the delayed-retry ladder; [`dead_letter`]: dead-lettering with a reason;
//! - [`metrics`]: Prometheus counters and histograms; [`in_hand`]: the age of the oldest
//!   delivery each consumer holds.

pub mod connection;
pub mod consumer;
pub mod dead_letter;
pub mod definitions;
pub mod envelope;
pub mod in_hand;
pub mod metrics;
pub mod outbox;
pub mod publisher;
pub mod retry;
pub mod topology;
pub mod trace_context;

pub use connection::{ConnectError, SessionError, Supervisor, connect_once, redact_url};
pub use consumer::{
    Batched, Consumer, ConsumerConfig, ConsumerConfigError, Delivered, Handler, HandlerError, Outcome,
    RetryStrategy,
};
pub use envelope::{Envelope, EnvelopeError, headers};
pub use metrics::BrokerMetrics;
pub use outbox::{OutboxRelay, RelayConfig, enqueue};
pub use publisher::{PublishError, Publisher, Routing};
pub use topology::{RetryTier, Topology, TopologyConfig};
pub use trace_context::TraceContext;
