//! ingest's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `ingest --help` lists them.

use clap::Parser;
use paygate::runtime::config::{CommonConfig, parse_socket_addr};
use paygate::runtime::entrypoint::ServiceCommand;
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(
    name = "ingest",
    version,
    about = "ingest: takes pay, refund, close and query commands from upstream.",
    long_about = "ingest: takes pay, refund, close and query commands from upstream.\n\nIt validates each command, de-duplicates it on the merchant's order number, writes the payment before anything else happens (pre-commit), and routes the work to the order's shard."
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
    #[arg(long, env = "HTTP_ADDR", value_name = "HTTP_ADDR", default_value = "127.0.0.1:8081",
          value_parser = parse_socket_addr)]
    pub http_addr: SocketAddr,
}
