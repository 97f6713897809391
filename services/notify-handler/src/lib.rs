//! notify-handler: the webhook that payment providers call.
//!
//! It verifies each notification's signature, stores it raw, forwards it to the order's shard, and acknowledges in the provider's own format. A notification is a claim to verify, never a command.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod configuration;
pub mod startup;
