//! ingest: takes pay, refund, close, query and refund-decision commands from upstream.
//!
//! It validates each command, de-duplicates it on the merchant's order (or refund) number, writes
//! the payment or refund before anything else happens (pre-commit), and routes the work to the
//! order's shard through the transactional outbox. A refused command is answered with a
//! `command.rejected` event naming the field and the rule.
//!
//! - [`handler`]: the consumer's handler for the commands queue;
//! - [`api`]: the upstream HTTP API (signed, per merchant), calling the same [`commands`];
//! - [`cashier`]: the hosted cashier page a create may ask for, on the API's listener;
//! - [`commands`]: one module per command (parse → apply → emit);
//! - [`rejection`]: the `command.rejected` event;
//! - [`metrics`]: commands by type and outcome;
//! - [`startup`]: the application: the consumer, the outbox relay, the HTTP endpoints.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod api;
pub mod cashier;
pub mod commands;
pub mod configuration;
pub mod handler;
pub mod metrics;
pub mod rejection;
pub mod startup;
