//! payctl: the operators' and SREs' command line for paygate.
//!
//! Today it applies migrations, writes the RabbitMQ definitions for SREs, and runs the Quick
//! start's demo batch against a running system (`payctl demo`); the order timeline, the attention
//! list, reconciliation and refund approval join it as those features land.

pub mod cli;
pub mod commands;
pub mod demo;
