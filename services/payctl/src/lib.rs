//! payctl: the operators' and SREs' command line for paygate.
//!
//! Today it applies migrations and writes the RabbitMQ definitions for SREs; the order timeline,
//! the attention list, reconciliation and refund approval join it as those features land.

pub mod cli;
pub mod commands;
