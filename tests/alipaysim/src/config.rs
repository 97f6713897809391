//! Start-up configuration ([`Config`]) and the behaviour settings that can change at run time
//! ([`Settings`], `PUT /admin/settings`).

use serde::{Deserialize, Serialize};
use simkit::FaultSettings;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Alipay's notification retry schedule: the waits after the first attempt (8 attempts over
/// about 25 h).
pub const ALIPAY_NOTIFY_RETRY_MINUTES: [u64; 7] = [4, 10, 10, 60, 120, 360, 900];

/// Behaviour settings; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    /// Waits between notification attempts, in minutes of Alipay's time.
    pub notify_retry_minutes: Vec<u64>,
    /// How fast the simulator's clock runs for notification retries, in parts per million of
    /// real time: 1 000 000 is Alipay's schedule as is; 100 turns 4 min into 24 ms.
    pub notify_time_scale_ppm: u64,
    /// How long one notification attempt waits for the answer, in ms.
    pub notify_timeout_ms: u64,
    /// How long a timed-out or lost response is held before the connection is dropped, in ms.
    pub timeout_hold_ms: u64,
    /// Barcode payments above this amount (fen) wait for the customer to confirm on the phone
    /// (`10003`); `null`: none do (unless scripted with the `in_process` fault).
    pub bar_code_confirm_above_fen: Option<i64>,
    /// A barcode payment waiting for confirmation is confirmed by the "customer" this long after
    /// it was made; `null`: only through the admin API.
    pub bar_code_confirm_after_ms: Option<u64>,
    /// Every unpaid QR / page / wap trade is paid by the "customer" this long after it was
    /// created (demo, benchmark); `null`: only through the admin API or the pay page.
    pub auto_pay_after_ms: Option<u64>,
    /// Unpaid trades close this long after creation when the request gave no `timeout_express`.
    pub default_timeout_minutes: u64,
    /// How long a refund stays in process before it completes, in ms (0: at once, the refund
    /// answer says `fund_change=Y`).
    pub refund_delay_ms: u64,
    /// The service fee on payments, in parts per million (6000 = 0.6 %), as bills show it.
    pub fee_ppm: u64,
    /// Whether today's bill can be downloaded (Alipay's is ready the next day; tests want it).
    pub bill_today: bool,
    /// How long a bill download URL works, in seconds.
    pub bill_url_ttl_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            notify_retry_minutes: ALIPAY_NOTIFY_RETRY_MINUTES.to_vec(),
            notify_time_scale_ppm: 1_000_000,
            notify_timeout_ms: 5_000,
            timeout_hold_ms: 60_000,
            bar_code_confirm_above_fen: None,
            bar_code_confirm_after_ms: None,
            auto_pay_after_ms: None,
            default_timeout_minutes: 120,
            refund_delay_ms: 0,
            fee_ppm: 6_000,
            bill_today: false,
            bill_url_ttl_secs: 30,
        }
    }
}

/// One app (merchant application) the gateway accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppConfig {
    /// The app's RSA public key (SPKI or PKCS#1 PEM, or bare Base64 SPKI): checks its requests.
    pub public_key: String,
    /// The seller id (PID, `2088…`) of the app's merchant account.
    pub seller_id: String,
}

/// Everything alipaysim starts with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// Where to listen (127.0.0.1:0 picks a free port).
    pub addr: SocketAddr,
    /// The base URL put in QR codes, pay pages and bill URLs [default: http://<bound addr>].
    pub public_url: Option<String>,
    /// app_id → its key and seller id.
    pub apps: BTreeMap<String, AppConfig>,
    /// "Alipay's" private key (PKCS#8 or PKCS#1 PEM) that signs answers and notifications;
    /// `null`: a new one is generated at start (its public key at `GET /admin/alipay-public-key`).
    pub alipay_private_key: Option<String>,
    pub settings: Settings,
    pub faults: FaultSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            apps: BTreeMap::new(),
            alipay_private_key: None,
            settings: Settings::default(),
            faults: FaultSettings::default(),
        }
    }
}

impl Config {
    /// Adds an app.
    pub fn with_app(mut self, app_id: &str, public_key: &str, seller_id: &str) -> Self {
        self.apps.insert(
            app_id.to_owned(),
            AppConfig { public_key: public_key.to_owned(), seller_id: seller_id.to_owned() },
        );
        self
    }

    /// Sets Alipay's private key.
    pub fn with_alipay_key(mut self, pem: &str) -> Self {
        self.alipay_private_key = Some(pem.to_owned());
        self
    }

    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    pub fn with_faults(mut self, faults: FaultSettings) -> Self {
        self.faults = faults;
        self
    }
}
