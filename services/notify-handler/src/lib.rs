//! notify-handler: the webhook that payment providers call.
//!
//! It verifies each notification's signature, stores it raw, forwards it to the order's shard,
//! and acknowledges in the provider's own format. A notification is a claim to verify, never a
//! command: the provider-dispatcher checks it against the order and queries the provider back.
//!
//! - [`routes`]: `POST /notify/{provider}/{trade no}` (the webhook) and
//!   `GET|POST /return/{provider}/{trade no}` (the customer's browser coming back);
//! - [`publisher`]: the confirmed publish to the order's shard, on a supervised connection;
//! - [`client_limit`]: the return's rate limit per client address;
//! - [`return_queries`]: the return's one query per order per interval;
//! - [`metrics`]: received, rejected (by reason), latency, and returns.
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod client_limit;
pub mod configuration;
pub mod metrics;
pub mod publisher;
pub mod return_queries;
pub mod routes;
pub mod startup;
