//! notify-handler's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `notify-handler --help` lists them.

use clap::Parser;
use paygate::runtime::config::{CommonConfig, parse_socket_addr};
use paygate::runtime::entrypoint::ServiceCommand;
use std::net::SocketAddr;
use std::time::Duration;

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

    /// Address for the webhooks (/notify/<provider>/<trade no>, /return/<provider>/<trade no>)
    /// and /healthz, /readyz and /metrics.
    #[arg(long, env = "HTTP_ADDR", value_name = "HTTP_ADDR", default_value = "127.0.0.1:8083",
          value_parser = parse_socket_addr)]
    pub http_addr: SocketAddr,

    /// The largest notification body taken, in bytes; a larger one is refused (413) and kept
    /// truncated as evidence.
    #[arg(long = "notify-body-limit-bytes", env = "NOTIFY_BODY_LIMIT_BYTES", value_name = "NOTIFY_BODY_LIMIT_BYTES",
          default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(256..=16_777_216))]
    pub body_limit: u32,

    /// How long to wait for the database to store a notification, and then for the broker's
    /// confirm of its forward, before answering the provider with a failure (it retries).
    #[arg(long = "notify-confirm-timeout-ms", env = "NOTIFY_CONFIRM_TIMEOUT_MS", value_name = "NOTIFY_CONFIRM_TIMEOUT_MS",
          default_value = "3000", value_parser = parse_millis)]
    pub confirm_timeout: Duration,

    /// The providers whose notifications are taken (their signing secrets: notify-handler
    /// never calls a provider, but reads the same settings as the services that do).
    #[command(flatten)]
    pub providers: paygate::providers::ProviderArgs,
}

fn parse_millis(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .ok()
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("expected a whole number of milliseconds above 0, such as 3000 (got {s:?})"))
}
