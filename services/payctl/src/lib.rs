//! payctl: the operators' and SREs' command line for paygate.
//!
//! - `payment show`: an order's whole story ([`timeline`]);
//! - `attention list`: what needs a person ([`attention`]);
//! - `demo`: the Quick start's demo batch, driven through a running system as an upstream ([`demo`]);
//! - `migrate`, `topology definitions`: the schema, and the RabbitMQ definitions for SREs.
//!
//! Reconciliation and refund approval join it as those features land. Every command prints a
//! readable table, or JSON with `--json` ([`output`]).

pub mod attention;
pub mod cli;
pub mod commands;
pub mod demo;
pub mod output;
pub mod timeline;
