//! compensation-scheduler's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `compensation-scheduler --help` lists them.

use crate::schedule::StuckSchedule;
use clap::Parser;
use paygate::runtime::config::{CommonConfig, parse_socket_addr};
use paygate::runtime::entrypoint::ServiceCommand;
use std::net::SocketAddr;
use std::time::Duration;

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

    /// When non-final orders are queried: `;`-separated entries, each `TIERS` (the default) or
    /// `PROVIDER=TIERS`; the first tier is the age before the first query, the others the waits
    /// between queries (the last repeats). Units ms, s, m, h, d.
    #[arg(long, env = "STUCK_SCHEDULE", value_name = "STUCK_SCHEDULE", default_value = crate::schedule::DEFAULT,
          value_parser = StuckSchedule::parse)]
    pub stuck_schedule: StuckSchedule,

    /// How often the scheduler looks for due orders, in milliseconds.
    #[arg(long = "scheduler-poll-ms", env = "SCHEDULER_POLL_MS", value_name = "SCHEDULER_POLL_MS", default_value = "1000",
          value_parser = parse_poll)]
    pub poll_interval: Duration,

    /// Orders claimed per transaction.
    #[arg(long = "scheduler-batch-size", env = "SCHEDULER_BATCH_SIZE", value_name = "SCHEDULER_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    #[command(flatten)]
    pub recon: crate::recon::args::ReconArgs,
}

fn parse_poll(s: &str) -> Result<Duration, String> {
    s.parse::<u64>().ok().filter(|ms| (10..=3_600_000).contains(ms)).map(Duration::from_millis).ok_or_else(
        || format!("expected a whole number of milliseconds from 10 to 3600000, such as 1000 (got {s:?})"),
    )
}
