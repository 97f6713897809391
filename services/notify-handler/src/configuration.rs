//! notify-handler's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `notify-handler --help` lists them.

use paygate::runtime::duration_setting::{DurationSetting, PlainUnit};
use paygate::runtime::service_cli::{ServiceBase, ServiceCli, ServiceIdentity};
use std::num::NonZeroU32;
use std::time::Duration;

/// `notify-handler [run|migrate]` and its settings.
pub type Cli = ServiceCli<Config>;

impl ServiceIdentity for Config {
    const NAME: &str = "notify-handler";
    const ABOUT: &str = "notify-handler: the webhook that payment providers call.";
    const LONG_ABOUT: &str = "notify-handler: the webhook that payment providers call.\n\nIt verifies each notification's signature, stores it raw, forwards it to the order's shard, and acknowledges in the provider's own format. A notification is a claim to verify, never a command.";
    const HTTP_ADDR: &str = "127.0.0.1:8083";
    const HTTP_ADDR_HELP: &str = "Address for the webhooks (/notify/<provider>/<trade no>, /return/<provider>/<trade no>) and /healthz, /readyz and /metrics";
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub base: ServiceBase<Self>,

    /// The largest notification body taken, in bytes; a larger one is refused (413) and kept
    /// truncated as evidence.
    #[arg(long = "notify-body-limit-bytes", env = "NOTIFY_BODY_LIMIT_BYTES", value_name = "NOTIFY_BODY_LIMIT_BYTES",
          default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(256..=16_777_216))]
    pub body_limit: u32,

    /// How long to wait for the database to store a notification, and then for the broker's
    /// confirm of its forward, before answering the provider with a failure (it retries).
    #[arg(long = "notify-confirm-timeout-ms", env = "NOTIFY_CONFIRM_TIMEOUT_MS", value_name = "NOTIFY_CONFIRM_TIMEOUT_MS",
          default_value = "3000", value_parser = |s: &str| CONFIRM_TIMEOUT.parse(s))]
    pub confirm_timeout: Duration,

    /// The customer's return page (/return/<provider>/<trade no>): how many times a minute one
    /// client address may call it (a burst of that many, refilled evenly); past it the answer is
    /// 429 with Retry-After.
    #[arg(long = "return-rate-per-minute", env = "RETURN_RATE_PER_MINUTE", value_name = "RETURN_RATE_PER_MINUTE",
          default_value = "30", value_parser = parse_rate)]
    pub return_rate_per_minute: NonZeroU32,

    /// The customer's return page: at most one provider query is asked for per order within
    /// this (a whole number with a unit of ms, s, m or h, from 1s to 1h); a return within it
    /// still shows the status but asks for nothing.
    #[arg(long = "return-query-interval", env = "RETURN_QUERY_INTERVAL", value_name = "RETURN_QUERY_INTERVAL",
          default_value = "30s", value_parser = |s: &str| RETURN_QUERY_INTERVAL.parse(s))]
    pub return_query_interval: Duration,

    /// The providers whose notifications are taken (their signing secrets: notify-handler
    /// never calls a provider, but reads the same settings as the services that do).
    #[command(flatten)]
    pub providers: paygate::providers::ProviderArgs,
}

fn parse_rate(s: &str) -> Result<NonZeroU32, String> {
    s.parse::<u32>().ok().filter(|n| (1..=100_000).contains(n)).and_then(NonZeroU32::new).ok_or_else(|| {
        format!("expected a whole number of calls a minute from 1 to 100000, such as 30 (got {s:?})")
    })
}

/// `NOTIFY_CONFIRM_TIMEOUT_MS`: above 0; a plain number is milliseconds.
const CONFIRM_TIMEOUT: DurationSetting = DurationSetting::ABOVE_ZERO.or_plain(PlainUnit::Millis);

/// `RETURN_QUERY_INTERVAL`: from a second to an hour.
const RETURN_QUERY_INTERVAL: DurationSetting =
    DurationSetting::within(Duration::from_secs(1), Duration::from_secs(3_600));
