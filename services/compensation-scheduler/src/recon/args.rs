//! Reconciliation's settings, shared by the scheduler's configuration and `payctl recon run`:
//! the window, the agreed fee rate, the daily run time, and the providers whose bills are read
//! (mockpay, configured like the dispatcher's: `MOCKPAY_URL`, `MOCKPAY_MERCHANT`, `MOCKPAY_SECRET`).

use super::ReconConfig;
use chrono::NaiveTime;
use paygate::providers::ProviderRegistry;
use paygate::providers::mockpay::{MockpayAdapter, MockpayConfig};
use std::sync::Arc;
use std::time::Duration;

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
    /// When (UTC, HH:MM) the scheduler reconciles yesterday's bill and settlement every day.
    #[arg(long = "recon-daily-at", env = "RECON_DAILY_AT", value_name = "RECON_DAILY_AT", default_value = "02:00",
          value_parser = parse_time)]
    pub daily_at: NaiveTime,
    /// mockpay's base URL; without it no provider's bills are reconciled.
    #[arg(long = "mockpay-url", env = "MOCKPAY_URL", value_name = "MOCKPAY_URL")]
    pub mockpay_url: Option<String>,
    #[command(flatten)]
    pub mockpay: paygate::providers::mockpay::MockpayAccount,
    /// How long mockpay may take to connect or to send the next bytes of a bill (ms).
    #[arg(
        long = "mockpay-timeout-ms",
        env = "MOCKPAY_TIMEOUT_MS",
        value_name = "MOCKPAY_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub mockpay_timeout_ms: u64,
}

fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("must be HH:MM (UTC), got {s:?}"))
}

impl ReconArgs {
    pub fn config(&self) -> ReconConfig {
        ReconConfig { window_days: self.window_days, fee_ppm: self.fee_ppm }
    }

    /// The providers to reconcile.
    pub fn providers(&self) -> anyhow::Result<ProviderRegistry> {
        let mut registry = ProviderRegistry::new();
        if let Some(url) = &self.mockpay_url {
            if self.mockpay.secret.is_empty() {
                anyhow::bail!("MOCKPAY_SECRET: must be set when MOCKPAY_URL is");
            }
            let config =
                MockpayConfig::new(url.clone(), self.mockpay.merchant.clone(), self.mockpay.secret.clone())
                    .with_timeout(Duration::from_millis(self.mockpay_timeout_ms.max(1)));
            registry = registry.with(Arc::new(MockpayAdapter::new(config)?));
        }
        Ok(registry)
    }
}
