//! provider-dispatcher: the only writer of an order's state once the order exists.
//!
//! It consumes the order shards, calls providers through one adapter each, logs every raw
//! exchange, and moves orders through the state machine in one transaction with their history
//! and events.
//!
//! - [`dispatcher`]: the shard handler: lock the order, route the work;
//! - [`order`]: the order under its lock and the moves every kind of work makes;
//! - [`work`]: one file per kind of work (pay, query, close, refund, report);
//! - [`events`], [`followup`]: what the work emits: events for upstream, queries for later;
//! - [`exchange_log`]: the raw provider exchanges, committed on their own;
//! - [`shard_leases`]: which instance consumes which shard (a fair share each, taken over when an
//!   instance dies);
//! - [`metrics`]: provider calls, their latency, and orders raised for a person;
//! - [`fault_points`]: named crash points for the fault tests.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod configuration;
pub mod dispatcher;
pub mod events;
pub mod exchange_log;
pub mod fault_points;
pub mod followup;
pub mod metrics;
pub mod order;
pub mod shard_leases;
pub mod startup;
pub mod work;
