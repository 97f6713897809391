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
    long_about = "compensation-scheduler: catches what fell through.\n\nIt re-queries payments and refunds stuck without a final answer, closes expired orders, forwards provider notifications nobody decided to their orders again, and reconciles provider bills and settlements line by line."
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

    /// How long published outbox rows are kept as the record of what was sent (a whole number
    /// with a unit of s, m, h or d; from 1m to 3650d).
    #[arg(long, env = "OUTBOX_RETENTION", value_name = "OUTBOX_RETENTION", default_value = "7d",
          value_parser = parse_outbox_retention)]
    pub outbox_retention: Duration,

    /// How long the inbox remembers a processed message id (at least 1d: a message may come again
    /// until then; at most 3650d).
    #[arg(long, env = "INBOX_RETENTION", value_name = "INBOX_RETENTION", default_value = "7d",
          value_parser = parse_inbox_retention)]
    pub inbox_retention: Duration,

    /// How often old rows are pruned (from 1s to 1d).
    #[arg(long, env = "RETENTION_INTERVAL", value_name = "RETENTION_INTERVAL", default_value = "1h",
          value_parser = parse_retention_interval)]
    pub retention_interval: Duration,

    /// How old a stored provider notification that nobody decided (status received) must be
    /// before the scheduler forwards it to its order again (a whole number with a unit of ms, s,
    /// m, h or d; from 1s to 1d). It is forwarded again after doubling waits (capped at an hour,
    /// or this age if longer) until it is decided.
    #[arg(long, env = "UNDECIDED_NOTIFICATION_AGE", value_name = "UNDECIDED_NOTIFICATION_AGE", default_value = "5m",
          value_parser = parse_undecided_age)]
    pub undecided_notification_age: Duration,

    /// How often the scheduler looks for undecided notifications to forward again, and measures
    /// their backlog (from 100ms to 1h).
    #[arg(long, env = "UNDECIDED_NOTIFICATION_INTERVAL", value_name = "UNDECIDED_NOTIFICATION_INTERVAL", default_value = "1m",
          value_parser = parse_undecided_interval)]
    pub undecided_notification_interval: Duration,

    #[command(flatten)]
    pub recon: paygate::recon::args::ReconArgs,
}

impl Config {
    /// The retention settings together.
    pub fn retention(&self) -> crate::retention::Retention {
        crate::retention::Retention {
            outbox: self.outbox_retention,
            inbox: self.inbox_retention,
            interval: self.retention_interval,
        }
    }
}

const DAY: Duration = Duration::from_secs(86_400);

/// A wait with a unit (`crate::schedule::parse_wait`) from `min` to `max`, or an error that
/// names the form and the range.
fn parse_span(s: &str, min: Duration, max: Duration, range: &str) -> Result<Duration, String> {
    crate::schedule::parse_wait(s.trim()).filter(|d| (min..=max).contains(d)).ok_or_else(|| {
        format!("expected a whole number with a unit of ms, s, m, h or d, {range}, such as 7d (got {s:?})")
    })
}

fn parse_outbox_retention(s: &str) -> Result<Duration, String> {
    parse_span(s, Duration::from_secs(60), DAY * 3650, "from 1m to 3650d")
}

fn parse_inbox_retention(s: &str) -> Result<Duration, String> {
    parse_span(s, crate::retention::MIN_INBOX_RETENTION, DAY * 3650, "from 1d to 3650d")
}

fn parse_retention_interval(s: &str) -> Result<Duration, String> {
    parse_span(s, Duration::from_secs(1), DAY, "from 1s to 1d")
}

fn parse_undecided_age(s: &str) -> Result<Duration, String> {
    parse_span(s, Duration::from_secs(1), DAY, "from 1s to 1d")
}

fn parse_undecided_interval(s: &str) -> Result<Duration, String> {
    parse_span(s, Duration::from_millis(100), Duration::from_secs(3_600), "from 100ms to 1h")
}

fn parse_poll(s: &str) -> Result<Duration, String> {
    s.parse::<u64>().ok().filter(|ms| (10..=3_600_000).contains(ms)).map(Duration::from_millis).ok_or_else(
        || format!("expected a whole number of milliseconds from 10 to 3600000, such as 1000 (got {s:?})"),
    )
}
