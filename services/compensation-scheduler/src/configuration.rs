//! compensation-scheduler's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `compensation-scheduler --help` lists them.

use crate::callbacks::schedule::CallbackSchedule;
use crate::schedule::StuckSchedule;
use paygate::runtime::duration_setting::{DurationSetting, PlainUnit};
use paygate::runtime::service_cli::{ServiceBase, ServiceCli, ServiceIdentity};
use std::time::Duration;

/// `compensation-scheduler [run|migrate]` and its settings.
pub type Cli = ServiceCli<Config>;

impl ServiceIdentity for Config {
    const NAME: &str = "compensation-scheduler";
    const ABOUT: &str = "compensation-scheduler: catches what fell through.";
    const LONG_ABOUT: &str = "compensation-scheduler: catches what fell through.\n\nIt re-queries payments and refunds stuck without a final answer, closes expired orders, forwards provider notifications nobody decided to their orders again, and reconciles provider bills and settlements line by line.";
    const HTTP_ADDR: &str = "127.0.0.1:8084";
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub base: ServiceBase<Self>,

    /// When non-final orders are queried: `;`-separated entries, each `TIERS` (the default) or
    /// `PROVIDER=TIERS`; the first tier is the age before the first query, the others the waits
    /// between queries (the last repeats). Units ms, s, m, h, d.
    #[arg(long, env = "STUCK_SCHEDULE", value_name = "STUCK_SCHEDULE", default_value = crate::schedule::DEFAULT,
          value_parser = StuckSchedule::parse)]
    pub stuck_schedule: StuckSchedule,

    /// When an authorised payment (manual capture) not captured or voided is voided: `;`-separated
    /// entries like `STUCK_SCHEDULE`'s; the first tier is the provider's authorisation expiry
    /// (Stripe: 7 days; mockpay: its `authorizationExpirySecs`), the others the waits between
    /// voids of one still authorised after a void.
    #[arg(long, env = "AUTHORIZATION_EXPIRY", value_name = "AUTHORIZATION_EXPIRY",
          default_value = crate::scan::DEFAULT_AUTHORIZATION_EXPIRY, value_parser = StuckSchedule::parse)]
    pub authorization_expiry: StuckSchedule,

    /// How long a stuck query may wait on its shard unhandled before the order gets another
    /// (from 1s to 1d). Until then an order that comes due again gets no second query: a backlog
    /// is not made longer by the scan.
    #[arg(long, env = "STUCK_QUERY_RESEND_AFTER", value_name = "STUCK_QUERY_RESEND_AFTER", default_value = "15m",
          value_parser = |s: &str| RESEND_AFTER.parse(s))]
    pub stuck_query_resend_after: Duration,

    /// How often the scheduler looks for due orders, in milliseconds.
    #[arg(long = "scheduler-poll-ms", env = "SCHEDULER_POLL_MS", value_name = "SCHEDULER_POLL_MS", default_value = "1000",
          value_parser = |s: &str| POLL.parse(s))]
    pub poll_interval: Duration,

    /// Orders claimed per transaction.
    #[arg(long = "scheduler-batch-size", env = "SCHEDULER_BATCH_SIZE", value_name = "SCHEDULER_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// How long published outbox rows are kept as the record of what was sent (a whole number
    /// with a unit of s, m, h or d; from 1m to 3650d).
    #[arg(long, env = "OUTBOX_RETENTION", value_name = "OUTBOX_RETENTION", default_value = "7d",
          value_parser = |s: &str| OUTBOX_RETENTION.parse(s))]
    pub outbox_retention: Duration,

    /// How long the inbox remembers a processed message id (at least 1d: a message may come again
    /// until then; at most 3650d).
    #[arg(long, env = "INBOX_RETENTION", value_name = "INBOX_RETENTION", default_value = "7d",
          value_parser = |s: &str| INBOX_RETENTION.parse(s))]
    pub inbox_retention: Duration,

    /// How long a merchant callback delivered (2xx) is kept with its attempts (a whole number
    /// with a unit; from 1d to 3650d). Exhausted and pending deliveries are never pruned.
    #[arg(long, env = "CALLBACK_RETENTION", value_name = "CALLBACK_RETENTION", default_value = "30d",
          value_parser = |s: &str| CALLBACK_RETENTION.parse(s))]
    pub callback_retention: Duration,

    /// How often old rows are pruned (from 1s to 1d).
    #[arg(long, env = "RETENTION_INTERVAL", value_name = "RETENTION_INTERVAL", default_value = "1h",
          value_parser = |s: &str| RETENTION_INTERVAL.parse(s))]
    pub retention_interval: Duration,

    /// How old a stored provider notification that nobody decided (status received) must be
    /// before the scheduler forwards it to its order again (a whole number with a unit of ms, s,
    /// m, h or d; from 1s to 1d). It is forwarded again after doubling waits (capped at an hour,
    /// or this age if longer) until it is decided.
    #[arg(long, env = "UNDECIDED_NOTIFICATION_AGE", value_name = "UNDECIDED_NOTIFICATION_AGE", default_value = "5m",
          value_parser = |s: &str| UNDECIDED_AGE.parse(s))]
    pub undecided_notification_age: Duration,

    /// How often the scheduler looks for undecided notifications to forward again, and measures
    /// their backlog (from 100ms to 1h).
    #[arg(long, env = "UNDECIDED_NOTIFICATION_INTERVAL", value_name = "UNDECIDED_NOTIFICATION_INTERVAL", default_value = "1m",
          value_parser = |s: &str| UNDECIDED_INTERVAL.parse(s))]
    pub undecided_notification_interval: Duration,

    /// Merchant callbacks: the waits between a delivery's attempts after a failure,
    /// comma-separated, each from 100ms to 7d (docs/callbacks.md). A delivery is sent when its
    /// event arrives, then after each wait in turn until a 2xx; after the last it is exhausted.
    #[arg(long, env = "CALLBACK_SCHEDULE", value_name = "CALLBACK_SCHEDULE",
          default_value = crate::callbacks::schedule::DEFAULT, value_parser = CallbackSchedule::parse)]
    pub callback_schedule: CallbackSchedule,

    /// Merchant callbacks: how long one attempt may take, from connecting to reading the answer
    /// (from 1s to 60s); past it the attempt failed.
    #[arg(long, env = "CALLBACK_TIMEOUT", value_name = "CALLBACK_TIMEOUT", default_value = "10s",
          value_parser = |s: &str| CALLBACK_TIMEOUT.parse(s))]
    pub callback_timeout: Duration,

    /// Merchant callbacks: how often due deliveries are looked for (from 100ms to 1m); new ones
    /// are sent at once without waiting for it.
    #[arg(long, env = "CALLBACK_POLL_INTERVAL", value_name = "CALLBACK_POLL_INTERVAL", default_value = "1s",
          value_parser = |s: &str| CALLBACK_POLL.parse(s))]
    pub callback_poll_interval: Duration,

    /// Merchant callbacks: attempts in flight at once from this instance (1 to 1024).
    #[arg(long, env = "CALLBACK_CONCURRENCY", value_name = "CALLBACK_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub callback_concurrency: u16,

    #[command(flatten)]
    pub recon: paygate::recon::args::ReconArgs,
}

impl Config {
    /// The retention settings together.
    pub fn retention(&self) -> crate::retention::Retention {
        crate::retention::Retention {
            outbox: self.outbox_retention,
            inbox: self.inbox_retention,
            callbacks: self.callback_retention,
            interval: self.retention_interval,
        }
    }
}

const DAY: Duration = Duration::from_secs(86_400);
const HOUR: Duration = Duration::from_secs(3_600);
const SECOND: Duration = Duration::from_secs(1);

/// `SCHEDULER_POLL_MS`: from 10 ms to an hour; a plain number is milliseconds.
const POLL: DurationSetting =
    DurationSetting::within(Duration::from_millis(10), HOUR).or_plain(PlainUnit::Millis);
const OUTBOX_RETENTION: DurationSetting =
    DurationSetting::within(Duration::from_secs(60), DAY.saturating_mul(3650));
const INBOX_RETENTION: DurationSetting =
    DurationSetting::within(crate::retention::MIN_INBOX_RETENTION, DAY.saturating_mul(3650));
const CALLBACK_RETENTION: DurationSetting = DurationSetting::within(DAY, DAY.saturating_mul(3650));
const RETENTION_INTERVAL: DurationSetting = DurationSetting::within(SECOND, DAY);
const RESEND_AFTER: DurationSetting = DurationSetting::within(SECOND, DAY);
const UNDECIDED_AGE: DurationSetting = DurationSetting::within(SECOND, DAY);
const CALLBACK_TIMEOUT: DurationSetting = DurationSetting::within(SECOND, Duration::from_secs(60));
const CALLBACK_POLL: DurationSetting =
    DurationSetting::within(Duration::from_millis(100), Duration::from_secs(60));
const UNDECIDED_INTERVAL: DurationSetting = DurationSetting::within(Duration::from_millis(100), HOUR);
