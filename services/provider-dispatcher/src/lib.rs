//! provider-dispatcher: the only writer of an order's state once the order exists.
//!
//! It consumes the order shards, calls providers through one adapter each, logs every raw
//! exchange, and moves orders through the state machine in one transaction with their history
//! and events.
//!
//! - [`dispatcher`]: the shard handler: plan each message's work and commit its attempt, call
//!   the provider holding nothing, then apply the answer in the message's transaction;
//! - [`plan`], [`call`]: what a piece of work asks its provider, and the call itself;
//! - [`bulkhead`]: each provider's bound on calls in flight, and its circuit breaker;
//! - [`deps`]: what every piece of work needs besides the order;
//! - [`order`]: the order under its lock and the moves every kind of work makes;
//! - [`work`]: one file per kind of work (pay, query, close, refund, report), its plan beside
//!   what it does with the answer;
//! - [`events`], [`followup`]: what the work emits: events for upstream, queries for later;
//! - [`exchange_log`]: the raw provider exchanges, committed on their own;
//! - [`shard_leases`]: which instance consumes which shard (a fair share each, taken over when an
//!   instance dies);
//! - [`metrics`]: provider calls, their latency, and orders raised for a person;
//! - [`fault_points`]: named crash points for the fault tests.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod bulkhead;
pub mod call;
pub mod configuration;
pub mod deps;
pub mod dispatcher;
pub mod events;
pub mod exchange_log;
pub mod fault_points;
pub mod followup;
pub mod metrics;
pub mod order;
pub mod plan;
pub mod shard_leases;
pub mod startup;
pub mod work;
