//! Reconciliation's settings, shared by the scheduler's configuration and `payctl recon run`:
//! the window, the agreed fee rate, the daily run time, and the providers whose bills are read
//! (`PROVIDERS`, configured as for every service: `providers::settings`).

use super::ReconConfig;
use crate::providers::{ProviderArgs, ProviderConfigError, ProviderRegistry};
use chrono::NaiveTime;

#[derive(Debug, Clone, clap::Args)]
pub struct ReconArgs {
    /// Days our unmatched payments and refunds wait for a bill line before they count as missing
    /// at the provider.
    #[arg(
        long = "recon-window-days",
        env = "RECON_WINDOW_DAYS",
        value_name = "RECON_WINDOW_DAYS",
        default_value_t = 3
    )]
    pub window_days: u32,
    /// The provider's agreed fee, in parts per million of a payment's amount (6000 = 0.6 %).
    #[arg(
        long = "recon-fee-ppm",
        env = "RECON_FEE_PPM",
        value_name = "RECON_FEE_PPM",
        default_value_t = 6_000
    )]
    pub fee_ppm: u32,
    /// A query sweep's pace (a provider without bills, `recon::sweep`): at most this many
    /// queries a second to the provider, at least 1.
    #[arg(
        long = "recon-sweep-per-second",
        env = "RECON_SWEEP_PER_SECOND",
        value_name = "RECON_SWEEP_PER_SECOND",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub sweep_per_second: u32,
    /// When (UTC, HH:MM) the scheduler reconciles yesterday's bill and settlement every day.
    #[arg(long = "recon-daily-at", env = "RECON_DAILY_AT", value_name = "RECON_DAILY_AT", default_value = "02:00",
          value_parser = parse_time)]
    pub daily_at: NaiveTime,
    /// The providers whose bills and settlements are reconciled.
    #[command(flatten)]
    pub providers: ProviderArgs,
}

fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("must be HH:MM (UTC), got {s:?}"))
}

impl ReconArgs {
    pub fn config(&self) -> ReconConfig {
        ReconConfig {
            window_days: self.window_days,
            fee_ppm: self.fee_ppm,
            sweep_per_second: self.sweep_per_second,
        }
    }

    /// The providers to reconcile.
    pub fn providers(&self) -> Result<ProviderRegistry, ProviderConfigError> {
        self.providers.registry()
    }
}
