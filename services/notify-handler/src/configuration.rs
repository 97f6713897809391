//! notify-handler's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `notify-handler --help` lists them.

use clap::Parser;
use paygate::runtime::config::{CommonConfig, parse_socket_addr};
use paygate::runtime::entrypoint::ServiceCommand;
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(
    name = "notify-handler",
    version,
    about = "notify-handler: the webhook that payment providers call.",
    long_about = "notify-handler: the webhook that payment providers call.\n\nIt verifies each notification's signature, stores it raw, forwards it to the order's shard, and acknowledges in the provider's own format. A notification is a claim to verify, never a command."
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
    #[arg(long, env = "HTTP_ADDR", value_name = "HTTP_ADDR", default_value = "127.0.0.1:8083",
          value_parser = parse_socket_addr)]
    pub http_addr: SocketAddr,
}
