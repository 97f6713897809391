//! provider-dispatcher's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `provider-dispatcher --help` lists them.

use paygate::runtime::duration_setting::DurationSetting;
use paygate::runtime::service_cli::{ServiceBase, ServiceCli, ServiceIdentity};
use std::time::Duration;

/// `provider-dispatcher [run|migrate]` and its settings.
pub type Cli = ServiceCli<Config>;

impl ServiceIdentity for Config {
    const NAME: &str = "provider-dispatcher";
    const ABOUT: &str = "provider-dispatcher: the only writer of an order's state once the order exists.";
    const LONG_ABOUT: &str = "provider-dispatcher: the only writer of an order's state once the order exists.\n\nIt consumes the order shards, calls providers through one adapter each, logs every raw exchange, and moves orders through the state machine in one transaction with their history and events.";
    const HTTP_ADDR: &str = "127.0.0.1:8082";
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub base: ServiceBase<Self>,

    /// Pieces of work of different orders started at once on each shard (one order's stay in
    /// order): each holds its slot while it prepares (locks its orders, commits their attempts),
    /// not while it waits for its provider calls.
    #[arg(long, env = "SHARD_CONCURRENCY", value_name = "SHARD_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub shard_concurrency: u16,

    /// At most this many waiting messages of different orders are applied in one transaction on
    /// each shard (1–256): their orders locked in one statement, their work (provider calls
    /// included) run side by side, their steps and events written in one statement. A batch
    /// never waits for messages to arrive, so a quiet shard still applies one at a time.
    #[arg(long, env = "SHARD_BATCH", value_name = "SHARD_BATCH", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub shard_batch: u16,

    /// Transactions that apply providers' answers at once on each shard (0–64): each takes what
    /// is waiting from every job, up to SHARD_BATCH, so answers that come back one at a time
    /// still share a transaction. 0: each job applies its own answers.
    #[arg(long, env = "SHARD_APPLIERS", value_name = "SHARD_APPLIERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(0..=64))]
    pub shard_appliers: u16,

    /// Messages each shard's consumer may hold unacknowledged (the broker's prefetch, 1–65535).
    /// A message stays unacknowledged through its provider call, so this bounds the calls one
    /// shard can have in flight: with 400 ms providers, 1024 on 4 shards allows about 10,000
    /// payments/s. Keep it well above PROVIDER_MAX_IN_FLIGHT per shard an instance consumes, so
    /// that one provider in trouble fills only part of the window. Returned to the queue, in
    /// order, when the shard changes hands.
    #[arg(long, env = "SHARD_PREFETCH", value_name = "SHARD_PREFETCH", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub shard_prefetch: u16,

    /// Calls in flight to one provider from this instance, at most: a slow provider's work waits
    /// on the retry ladder beyond it, and takes nothing from the other providers.
    #[arg(long, env = "PROVIDER_MAX_IN_FLIGHT", value_name = "PROVIDER_MAX_IN_FLIGHT", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub provider_max_in_flight: u16,

    /// A provider's calls whose outcome is unknown (timeouts, 5xx, broken connections), in a row,
    /// that open its circuit: its work then waits on the retry ladder without calling it.
    #[arg(long, env = "PROVIDER_BREAKER_FAILURES", value_name = "PROVIDER_BREAKER_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub provider_breaker_failures: u32,

    /// How long an open circuit stays open before one trial call (e.g. 5s, 500ms).
    #[arg(long, env = "PROVIDER_BREAKER_OPEN_FOR", value_name = "PROVIDER_BREAKER_OPEN_FOR", default_value = "5s",
          value_parser = |s: &str| DurationSetting::ABOVE_ZERO.parse(s))]
    pub provider_breaker_open_for: Duration,

    /// Where providers send notifications: notify-handler's public base URL. The adapter appends
    /// `/notify/<provider>/<trade no>`. Without it no notifications are asked for, and queries
    /// alone find outcomes.
    #[arg(long, env = "NOTIFY_BASE_URL", value_name = "NOTIFY_BASE_URL")]
    pub notify_base_url: Option<String>,

    #[command(flatten)]
    pub providers: paygate::providers::ProviderArgs,
}
