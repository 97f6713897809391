//! provider-dispatcher: the only writer of an order's state once the order exists.
//!
//! It consumes the order shards, calls providers through one adapter each, logs every raw
//! exchange, and moves orders through the state machine in one transaction with their history
//! and events.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod configuration;
pub mod events;
pub mod followup;
pub mod startup;
