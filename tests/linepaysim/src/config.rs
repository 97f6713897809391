//! Configuration: the channel's id and secret, faults and run-time settings.

use serde::{Deserialize, Serialize};
use simkit::FaultSettings;
use std::net::SocketAddr;

/// Settings that may change at run time (`PUT /admin/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// How long a payment request may be approved and confirmed before it expires. LINE Pay's
    /// reference does not state one for v3 requests; 20 minutes here.
    pub request_ttl_ms: u64,
    /// Whether the customer's approval is followed by the browser's redirect to `confirmUrl`
    /// (false: every redirect is lost, as when the customer closes the browser).
    pub redirect: bool,
    /// How long a timed-out or lost response is held before the connection is dropped.
    pub timeout_hold_ms: u64,
    /// Whether a one-time-key (POS) payment waits for the customer to confirm on the phone
    /// (`1145` until approved through the admin API) instead of completing at once.
    pub pos_waits_for_customer: bool,
    /// How long an authorisation (`options.payment.capture: false`, confirmed) is held before
    /// LINE Pay releases it. LINE Pay's reference says an authorisation is held "until it
    /// expires" without a figure found here: 7 days by default, a setting.
    pub authorization_ttl_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_ttl_ms: 20 * 60 * 1000,
            redirect: true,
            timeout_hold_ms: 60_000,
            pos_waits_for_customer: false,
            authorization_ttl_ms: 7 * 24 * 3_600 * 1_000,
        }
    }
}

/// Everything the simulator starts with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`127.0.0.1:0`: a free port).
    pub addr: SocketAddr,
    /// The base URL written into payment URLs [default: http://<addr>].
    pub public_url: Option<String>,
    /// The channel id requests must carry (`X-LINE-ChannelId`).
    pub channel_id: String,
    /// The channel secret requests are signed with.
    pub channel_secret: String,
    /// The one currency the channel takes (LINE Pay: one per merchant channel).
    pub currency: String,
    pub faults: FaultSettings,
    pub settings: Settings,
}

impl Config {
    pub fn new(channel_id: &str, channel_secret: &str, currency: &str) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            channel_id: channel_id.to_owned(),
            channel_secret: channel_secret.to_owned(),
            currency: currency.to_owned(),
            faults: FaultSettings::default(),
            settings: Settings::default(),
        }
    }
}
