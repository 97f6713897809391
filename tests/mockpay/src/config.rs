//! Start-up configuration and the behaviour settings that can also be changed at run time.
//!
//! [`Config`] is what [`crate::MockPay::start`] takes; the binary builds it from a JSON file
//! (`--config`), then flags and environment variables. [`Settings`] are the non-fault
//! behaviours (refund delay, notification retry schedule, auto-pay, ...) and can be replaced at
//! run time with `PUT /admin/settings`.

use serde::{Deserialize, Serialize};
use simkit::FaultSettings;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

/// Behaviour settings. Every field has a default, so a JSON object may leave any out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// How long a refund stays PROCESSING before it completes. 0 completes it at once
    /// (the refund answer then already says SUCCEEDED).
    pub refund_delay_ms: u64,
    /// Waits between notification attempts; the number of attempts is one more than its length.
    pub notify_retry_ms: Vec<u64>,
    /// How long one notification attempt waits for the receiver's answer.
    pub notify_timeout_ms: u64,
    /// When set, every WAITING payment is paid by the "customer" this long after it is created.
    pub auto_pay_after_ms: Option<u64>,
    /// How long a timed-out or lost response is held before the connection is dropped.
    /// Make it longer than the client's timeout.
    pub timeout_hold_ms: u64,
    /// Expiry of WAITING payments created without `expiresAt`; `null` means never.
    pub default_expiry_secs: Option<u64>,
    /// How long a notification held back to be overtaken (the reorder fault) waits at most.
    pub reorder_max_hold_ms: u64,
    /// The fee on every payment, in parts per million of its amount (integer minor units,
    /// rounded half up), as bills and settlements show it. Refunds carry no fee.
    pub fee_ppm: u64,
    /// How long an AUTHORIZED payment (`captureMethod: manual`) may wait for its capture; after
    /// it mockpay releases it (EXPIRED). 7 days by default, as Stripe.
    pub authorization_expiry_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            refund_delay_ms: 200,
            notify_retry_ms: vec![100, 500, 2_000, 10_000],
            notify_timeout_ms: 5_000,
            auto_pay_after_ms: None,
            timeout_hold_ms: 60_000,
            default_expiry_secs: Some(1_800),
            reorder_max_hold_ms: 2_000,
            fee_ppm: 6_000,
            authorization_expiry_secs: 7 * 24 * 3_600,
        }
    }
}

/// Everything mockpay starts with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// Where to listen; port 0 picks a free port (the default, 127.0.0.1:0).
    pub addr: SocketAddr,
    /// The base URL put in payment actions (redirect/form URLs). Defaults to `http://<bound addr>`.
    pub public_url: Option<String>,
    /// Merchant id → HMAC secret.
    pub merchants: BTreeMap<String, String>,
    /// Accepted clock skew of `X-Mockpay-Timestamp`, in seconds (300).
    pub timestamp_tolerance_secs: u64,
    /// How many nonces are remembered at most (100 000).
    pub nonce_capacity: usize,
    /// Behaviour settings.
    pub settings: Settings,
    /// Fault injection at start-up (and after `POST /admin/reset`).
    pub faults: FaultSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            merchants: BTreeMap::new(),
            timestamp_tolerance_secs: 300,
            nonce_capacity: 100_000,
            settings: Settings::default(),
            faults: FaultSettings::default(),
        }
    }
}

impl Config {
    /// Adds a merchant and its secret.
    pub fn with_merchant(mut self, merchant_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.merchants.insert(merchant_id.into(), secret.into());
        self
    }

    /// Replaces the behaviour settings.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Replaces the start-up faults.
    pub fn with_faults(mut self, faults: FaultSettings) -> Self {
        self.faults = faults;
        self
    }

    /// Reads a JSON config file (the same shape as this struct, camelCase, every field optional).
    pub fn from_json_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        let config: Config = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
        config.faults.validate().map_err(|e| anyhow::anyhow!("invalid faults in {}: {e}", path.display()))?;
        Ok(config)
    }
}

/// Parses `id=secret`.
pub fn parse_merchant(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((id, secret)) if !id.trim().is_empty() && !secret.is_empty() => {
            Ok((id.trim().to_owned(), secret.to_owned()))
        }
        _ => Err(format!("expected MERCHANT_ID=SECRET, got {s:?}")),
    }
}
