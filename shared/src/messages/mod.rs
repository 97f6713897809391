//! The message catalogue: what travels in an [`Envelope`](crate::broker::envelope::Envelope).
//!
//! - [`commands`]: what upstream publishes (`command.pay`, `command.refund`, …), parsed into
//!   domain types with errors that name the field and the rule;
//! - [`orders`]: the work on the order shards that the provider-dispatcher applies;
//! - [`to_shard`]: sending a piece of work to its order's shard, the one way every sender does;
//! - [`events`]: what upstream receives (`payment.*`, `refund.*`, `command.rejected`).
//!
//! docs/messages.md documents each with an example, and a test parses every example.

pub mod commands;
pub mod events;
pub mod fields;
pub mod orders;
pub mod to_shard;
