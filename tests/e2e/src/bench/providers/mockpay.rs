//! mockpay for a bench pass: our merchant, refunds final in the create answer (the bench
//! measures paygate, not a provider's refund delay, which a query on the 5 s retry tier would
//! wait out), the run's latency on every call; or, as the isolation passes' second provider,
//! holding every request so that each call times out.

use crate::system::mockpay_account_env;
use anyhow::Context;
use mockpay::{Config, FaultSettings, MockPay, MockPayHandle, Settings};
use simkit::Latency;

/// Our merchant at mockpay.
pub const MOCKPAY_MERCHANT: &str = "paygate";
pub const MOCKPAY_SECRET: &str = "bench-signing-secret";

/// A mockpay with our merchant, answering `latency` late (if any), or never (`timing_out`).
pub async fn start(latency: Option<&Latency>, timing_out: bool) -> anyhow::Result<MockPayHandle> {
    let mockpay = MockPay::start(
        Config { nonce_capacity: 1_000_000, ..Config::default() }
            .with_merchant(MOCKPAY_MERCHANT, MOCKPAY_SECRET)
            .with_settings(Settings { refund_delay_ms: 0, default_expiry_secs: None, ..Settings::default() }),
    )
    .await
    .context("start mockpay")?;
    let mut faults = FaultSettings::default();
    if let Some(latency) = latency {
        faults.latency = latency.clone();
    }
    if timing_out {
        faults.timeout_ppm = 1_000_000;
    }
    if faults != FaultSettings::default() {
        mockpay.admin().set_faults(&faults).await.context("set mockpay's faults")?;
    }
    Ok(mockpay)
}

/// The settings of the mockpay account `upper` (the provider's name in upper case) at `mockpay`.
pub fn provider_env(upper: &str, mockpay: &MockPayHandle) -> Vec<(String, String)> {
    mockpay_account_env(upper, mockpay.base_url(), MOCKPAY_MERCHANT, MOCKPAY_SECRET)
}
