//! provider-dispatcher's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `provider-dispatcher --help` lists them.

use clap::Parser;
use paygate::runtime::config::{CommonConfig, parse_socket_addr};
use paygate::runtime::entrypoint::ServiceCommand;
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(
    name = "provider-dispatcher",
    version,
    about = "provider-dispatcher: the only writer of an order's state once the order exists.",
    long_about = "provider-dispatcher: the only writer of an order's state once the order exists.\n\nIt consumes the order shards, calls providers through one adapter each, logs every raw exchange, and moves orders through the state machine in one transaction with their history and events."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonConfig,

    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "HTTP_ADDR", value_name = "HTTP_ADDR", default_value = "127.0.0.1:8082",
          value_parser = parse_socket_addr)]
    pub http_addr: SocketAddr,
}
