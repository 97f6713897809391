//! compensation-scheduler's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `compensation-scheduler --help` lists them.

use clap::Parser;
use paygate::runtime::config::{CommonConfig, parse_socket_addr};
use paygate::runtime::entrypoint::ServiceCommand;
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(
    name = "compensation-scheduler",
    version,
    about = "compensation-scheduler: catches what fell through.",
    long_about = "compensation-scheduler: catches what fell through.\n\nIt re-queries payments and refunds stuck without a final answer, closes expired orders, and reconciles provider bills and settlements line by line."
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
    #[arg(long, env = "HTTP_ADDR", value_name = "HTTP_ADDR", default_value = "127.0.0.1:8084",
          value_parser = parse_socket_addr)]
    pub http_addr: SocketAddr,

    #[command(flatten)]
    pub recon: crate::recon::args::ReconArgs,
}
