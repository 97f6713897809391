//! The running simulator's shared state.

use crate::config::{Config, Settings};
use crate::model::Ledger;
use simkit::{Kit, lock};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

pub(crate) struct AppInner {
    pub base_url: String,
    pub channel_id: String,
    pub channel_secret: String,
    pub currency: String,
    pub initial_settings: Settings,
    pub settings: RwLock<Settings>,
    pub ledger: Mutex<Ledger>,
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
        Ok(App(Arc::new(AppInner {
            base_url,
            channel_id: config.channel_id.clone(),
            channel_secret: config.channel_secret.clone(),
            currency: config.currency.clone(),
            initial_settings: config.settings.clone(),
            settings: RwLock::new(config.settings.clone()),
            ledger: Mutex::new(Ledger::default()),
            kit: Kit::new(config.faults.clone())?,
        })))
    }

    /// The books, with requests past their time expired.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        let ttl = self.settings().request_ttl_ms;
        let mut l = lock(&self.ledger);
        l.expire(ttl, chrono::Utc::now());
        l
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_settings(&self, s: Settings) {
        *self.settings.write().unwrap_or_else(PoisonError::into_inner) = s;
    }

    /// Forgets every payment, scripted fault and statistic; back to the start-up settings.
    pub fn reset(&self) {
        lock(&self.ledger).reset();
        self.kit.reset();
        self.set_settings(self.initial_settings.clone());
    }
}
