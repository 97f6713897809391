//! The broker layer against the real RabbitMQ and PostgreSQL. Each test has its own vhost and
//! database, so they run in parallel. One test binary (not one per file) to keep linking cheap.

#[path = "broker_integration/common.rs"]
mod common;
#[path = "broker_integration/consumer.rs"]
mod consumer;
#[path = "broker_integration/outbox.rs"]
mod outbox;
#[path = "broker_integration/routing.rs"]
mod routing;
#[path = "broker_integration/topology.rs"]
mod topology;
