//! What a chaos run does: its size, its pace, its faults and its bounds.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Parser)]
#[command(name = "paygate-chaos", about = "Throw every fault at paygate at once, then check the books")]
pub struct Options {
    /// Pay commands to send.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub payments: u64,
    /// Refund commands to send (to payments that succeeded; some partial, some concurrent).
    #[arg(long, default_value_t = 3_000)]
    pub refunds: u64,
    /// Pay commands per second.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Seed of every random choice: the plan, mockpay's faults and the kills.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// SIGKILL a random service this often, and start it again.
    #[arg(long, default_value = "5s", value_parser = humantime_duration)]
    pub kill_every: Duration,
    /// Keep killing for at least this long, even when the load is sent sooner.
    #[arg(long, default_value = "30s", value_parser = humantime_duration)]
    pub min_havoc: Duration,
    /// Once the faults stop, wait at most this long for every payment and refund to settle.
    #[arg(long, default_value = "300s", value_parser = humantime_duration)]
    pub converge_within: Duration,
    /// Where the service binaries are (default: beside this program).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// The services' `RUST_LOG`.
    #[arg(long, default_value = "warn")]
    pub service_log: String,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    paygate::runtime::duration_setting::DurationSetting::ABOVE_ZERO.parse(s).map_err(|e| e.to_string())
}
