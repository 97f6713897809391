//! Configuration: merchants and their public keys, the platform key, the APIv3 key, faults and
//! run-time settings.

use serde::{Deserialize, Serialize};
use simkit::FaultSettings;
use std::net::SocketAddr;

/// A merchant the simulator knows: its `mchid`, the app ids bound to it, and the serial number
/// and public key of its API certificate (what `Authorization` is checked against).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MerchantConfig {
    pub mchid: String,
    pub appids: Vec<String>,
    pub serial_no: String,
    pub public_key_pem: String,
}

/// Settings that may change at run time (`PUT /admin/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// How long a refund stays PROCESSING before its fate (0: decided before the create answers).
    pub refund_delay_ms: u64,
    /// WeChat's notification retry schedule runs at this many parts per million of real time
    /// (1 000 000: real time, 15 s to 6 h; 1 000: milliseconds instead of seconds).
    pub notify_scale_ppm: u64,
    /// How long one notification attempt waits for the receiver's answer.
    pub notify_timeout_ms: u64,
    /// How long a timed-out or lost response is held before the connection is dropped.
    pub timeout_hold_ms: u64,
    /// The fee rate written in the trade bill, in parts per million (6000: 0.60 %).
    pub fee_ppm: u64,
    /// Start the bill file with a UTF-8 byte order mark (reported by a third-party write-up of
    /// real downloads; not confirmed by WeChat Pay's pages, so off by default).
    pub bill_utf8_bom: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            refund_delay_ms: 200,
            notify_scale_ppm: 1_000_000,
            notify_timeout_ms: 5_000,
            timeout_hold_ms: 60_000,
            fee_ppm: 6_000,
            bill_utf8_bom: false,
        }
    }
}

/// Everything the simulator starts with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`127.0.0.1:0`: a free port).
    pub addr: SocketAddr,
    /// The base URL written into `download_url`, `code_url`'s host stays WeChat's scheme.
    pub public_url: Option<String>,
    pub merchants: Vec<MerchantConfig>,
    /// `Wechatpay-Serial` of the platform key.
    pub platform_serial: String,
    /// WeChat Pay's platform private key (PKCS#8 or PKCS#1 PEM) that signs answers.
    pub platform_private_pem: String,
    /// The APIv3 key (32 bytes) notifications are sealed with.
    pub apiv3_key: String,
    /// How far a request's `timestamp` may be from the simulator's clock.
    pub timestamp_tolerance_secs: u64,
    pub faults: FaultSettings,
    pub settings: Settings,
}

impl Config {
    /// A configuration on a free local port with the given keys and no merchants.
    pub fn new(platform_serial: &str, platform_private_pem: &str, apiv3_key: &str) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            merchants: Vec::new(),
            platform_serial: platform_serial.to_owned(),
            platform_private_pem: platform_private_pem.to_owned(),
            apiv3_key: apiv3_key.to_owned(),
            timestamp_tolerance_secs: 300,
            faults: FaultSettings::default(),
            settings: Settings::default(),
        }
    }

    pub fn with_merchant(mut self, m: MerchantConfig) -> Self {
        self.merchants.push(m);
        self
    }
}
