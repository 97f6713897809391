//! Configuration: the account's secret key and webhook endpoint, faults and run-time settings.

use serde::{Deserialize, Serialize};
use simkit::FaultSettings;
use std::net::SocketAddr;

/// Settings that may change at run time (`PUT /admin/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// Where events are POSTed (the webhook endpoint); none: no events are sent.
    pub webhook_url: Option<String>,
    /// How long a refund stays `pending` before its fate (0: decided before the create answers).
    pub refund_delay_ms: u64,
    /// How long a confirmed card payment stays `processing` (0: it succeeds at once, as cards do).
    pub processing_ms: u64,
    /// How long a new or changed PaymentIntent is invisible to the Search API (Stripe: "under a
    /// minute", up to an hour in an outage); 0 by default, so tests see it at once.
    pub search_lag_ms: u64,
    /// The webhook retry schedule runs at this many parts per million of real time.
    pub notify_scale_ppm: u64,
    /// How long one webhook attempt waits for the endpoint's answer.
    pub notify_timeout_ms: u64,
    /// How long a timed-out or lost response is held before the connection is dropped.
    pub timeout_hold_ms: u64,
    /// The fee of a charge's balance transaction, in parts per million (29 000: 2.9 %).
    pub fee_ppm: u64,
    /// The `Retry-After` (seconds) of a 429 rate-limit answer; 0: none is sent.
    pub rate_limit_retry_after_secs: u64,
    /// How long a PaymentIntent may stay `requires_capture` (manual capture) before stripesim
    /// cancels it itself with `cancellation_reason: automatic`, as Stripe does after 7 days (the
    /// default); tests set it short so they need not wait.
    pub authorization_expiry_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            webhook_url: None,
            refund_delay_ms: 200,
            processing_ms: 0,
            search_lag_ms: 0,
            notify_scale_ppm: 1_000_000,
            notify_timeout_ms: 5_000,
            timeout_hold_ms: 60_000,
            fee_ppm: 29_000,
            rate_limit_retry_after_secs: 1,
            authorization_expiry_ms: 7 * 24 * 3_600 * 1_000,
        }
    }
}

/// Everything the simulator starts with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`127.0.0.1:0`: a free port).
    pub addr: SocketAddr,
    /// The base URL written into 3-D Secure redirect URLs [default: http://<addr>].
    pub public_url: Option<String>,
    /// The account id (`acct_…`).
    pub account: String,
    /// The secret key requests must carry as `Authorization: Bearer …`.
    pub secret_key: String,
    /// The publishable key a client may confirm with (with the client secret).
    pub publishable_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: String,
    pub faults: FaultSettings,
    pub settings: Settings,
}

impl Config {
    /// A configuration on a free local port with these keys.
    pub fn new(secret_key: &str, webhook_secret: &str) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            account: "acct_1StripeSimTest".to_owned(),
            secret_key: secret_key.to_owned(),
            publishable_key: crate::testkit::PUBLISHABLE_KEY.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
            faults: FaultSettings::default(),
            settings: Settings::default(),
        }
    }
}
