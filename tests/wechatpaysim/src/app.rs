//! The running simulator's shared state.

use crate::config::{Config, MerchantConfig, Settings};
use crate::keys::{self, PlatformSide};
use crate::model::Ledger;
use rsa::PublicKey;
use simkit::{Kit, lock};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

/// A merchant as the simulator holds it.
#[derive(Clone)]
pub(crate) struct Merchant {
    pub config: MerchantConfig,
    pub key: PublicKey,
}

pub(crate) struct AppInner {
    pub base_url: String,
    pub timestamp_tolerance_secs: i64,
    pub platform: PlatformSide,
    pub merchants: RwLock<HashMap<String, Merchant>>,
    pub initial_settings: Settings,
    pub settings: RwLock<Settings>,
    pub ledger: Mutex<Ledger>,
    /// Rendered bill files by download token: (bytes).
    pub bills: Mutex<HashMap<String, Vec<u8>>>,
    pub kit: Kit,
}

#[derive(Clone)]
pub(crate) struct App(Arc<AppInner>);

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    pub fn new(config: &Config, base_url: String) -> anyhow::Result<App> {
        let platform =
            PlatformSide::new(&config.platform_serial, &config.platform_private_pem, &config.apiv3_key)?;
        let mut merchants = HashMap::new();
        for m in &config.merchants {
            let key = keys::merchant_public_key(&m.public_key_pem)
                .map_err(|e| anyhow::anyhow!("merchant {}: {e}", m.mchid))?;
            merchants.insert(m.mchid.clone(), Merchant { config: m.clone(), key });
        }
        Ok(App(Arc::new(AppInner {
            base_url,
            timestamp_tolerance_secs: i64::try_from(config.timestamp_tolerance_secs).unwrap_or(i64::MAX),
            platform,
            merchants: RwLock::new(merchants),
            initial_settings: config.settings.clone(),
            settings: RwLock::new(config.settings.clone()),
            ledger: Mutex::new(Ledger::default()),
            bills: Mutex::new(HashMap::new()),
            kit: Kit::new(config.faults.clone())?,
        })))
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_settings(&self, s: Settings) {
        *self.settings.write().unwrap_or_else(PoisonError::into_inner) = s;
    }

    pub fn merchant(&self, mchid: &str) -> Option<Merchant> {
        self.merchants.read().unwrap_or_else(PoisonError::into_inner).get(mchid).cloned()
    }

    /// Forgets every order, refund, bill, notification, scripted fault and statistic; back to
    /// the start-up faults and settings. Merchants and keys stay.
    pub fn reset(&self) {
        self.ledger().reset();
        lock(&self.bills).clear();
        self.kit.reset();
        self.set_settings(self.initial_settings.clone());
    }
}
