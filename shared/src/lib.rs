//! paygate's common library: what two or more of the services need.
//!
//! - [`domain`]: money, currencies and the identifiers, as types that parse rather than validate;
//! - [`state_machine`]: the payment and refund state machines, as explicit transition tables;
//! - [`messages`]: the commands, order work and events, one type per message;
//! - [`providers`]: the provider adapter trait, code tables and the raw exchange record;
//! - [`store`]: payments and refunds in PostgreSQL, and the one place their state changes;
//! - [`recon`]: the reconciliation engine (load a provider's bill, match it in SQL, prove what a
//!   query can), run by compensation-scheduler and `payctl recon`;
//! - [`db`]: the PostgreSQL schema (sqlx migrations) and connecting to it;
//! - [`broker`]: the RabbitMQ topology, the message envelope, confirmed publishing and consuming;
//! - [`runtime`]: what every service binary runs on: configuration, telemetry, health and metrics,
//!   graceful shutdown.

pub mod broker;
pub mod db;
pub mod domain;
pub mod fault_points;
pub mod messages;
pub mod providers;
pub mod recon;
pub mod runtime;
pub mod state_machine;
pub mod store;
