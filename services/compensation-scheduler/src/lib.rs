//! compensation-scheduler: catches what fell through.
//!
//! It re-queries payments and refunds stuck without a final answer, closes expired orders, and reconciles provider bills and settlements line by line.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod configuration;
pub mod recon;
pub mod startup;
