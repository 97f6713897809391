//! ingest: takes pay, refund, close and query commands from upstream.
//!
//! It validates each command, de-duplicates it on the merchant's order number, writes the payment before anything else happens (pre-commit), and routes the work to the order's shard.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod configuration;
pub mod startup;
