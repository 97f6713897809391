//! payctl: the operators' and SREs' command line for paygate.
//!
//! - `payment show`: an order's whole story ([`timeline`]);
//! - `attention list`: what needs a person ([`attention`]);
//! - `migrate`, `topology definitions`: the schema, and the RabbitMQ definitions for SREs.
//!
//! Reconciliation and refund approval join it as those features land. Every command prints a
//! readable table, or JSON with `--json` ([`output`]).

pub mod attention;
pub mod cli;
pub mod commands;
pub mod output;
pub mod timeline;
