//! payctl: the operators' and SREs' command line for paygate.
//!
//! - `payment show`: an order's whole story ([`timeline`]);
//! - `payment query`, `refund approve|reject`: work sent to an order's shard ([`order_work`],
//!   [`send`]; references resolved by [`lookup`]);
//! - `attention list`: what needs a person ([`attention`]);
//! - `recon run|list|show|resolve`: reconciliation ([`recon`]; the engine is `paygate::recon`);
//! - `api-key create|list|rotate|revoke`: merchants' keys for the upstream HTTP API ([`api_keys`]);
//! - `callback add|list|remove|failed|show|resend`: merchants' signed callbacks ([`callbacks`]);
//! - `cashier methods set|list`: the methods merchants' hosted cashiers offer ([`cashier`]);
//! - `dlq list|show|replay|purge`: the dead-letter queues ([`dlq`]);
//! - `demo`: the Quick start's demo batch, driven through a running system as an upstream ([`demo`]);
//! - `migrate`, `topology definitions`: the schema, and the RabbitMQ definitions for SREs.
//!
//! Every command prints a
//! readable table, or JSON with `--json` ([`output`]).

pub mod api_keys;
pub mod attention;
pub mod callbacks;
pub mod cashier;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod dlq;
pub mod lookup;
pub mod order_work;
pub mod output;
pub mod recon;
pub mod send;
pub mod timeline;
