//! The running simulator's shared state.

use crate::config::{Config, Settings};
use crate::model::Ledger;
use simkit::{Kit, lock};
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

pub(crate) struct AppInner {
    pub base_url: String,
    pub account: String,
    pub secret_key: String,
    pub publishable_key: String,
    pub webhook_secret: String,
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
            account: config.account.clone(),
            secret_key: config.secret_key.clone(),
            publishable_key: config.publishable_key.clone(),
            webhook_secret: config.webhook_secret.clone(),
            initial_settings: config.settings.clone(),
            settings: RwLock::new(config.settings.clone()),
            ledger: Mutex::new(Ledger::default()),
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

    /// Forgets every PaymentIntent, refund, idempotent answer, event, scripted fault and
    /// statistic; back to the start-up faults and settings.
    pub fn reset(&self) {
        self.ledger().reset();
        self.kit.reset();
        self.set_settings(self.initial_settings.clone());
    }
}
