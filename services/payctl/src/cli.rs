//! payctl's command line.

use clap::{Parser, Subcommand};
use paygate::runtime::config::CommonConfig;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "payctl", version, about = "paygate's operator command line")]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if it does not exist and apply the migrations.
    Migrate,
    /// The RabbitMQ topology.
    #[command(subcommand)]
    Topology(TopologyCommand),
    /// Drive a small demo batch of payments and refunds through a running system (with mockpay
    /// as its provider) and print what happened; exits non-zero if any did not reach its
    /// expected state before the deadline.
    Demo(crate::demo::DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Write the topology as RabbitMQ definitions JSON (importable with the management plugin).
    Definitions {
        /// Where to write it; `-` for stdout.
        #[arg(long, default_value = "deploy/rabbitmq/definitions.json")]
        out: PathBuf,
        /// The vhost the definitions are for.
        #[arg(long, default_value = "/")]
        vhost: String,
    },
}
