//! The running simulator's shared state: merchants, settings, ledger, nonces, and the shared
//! fault core (faults, notifications, bill faults, statistics, and the cancellation token every
//! background task watches).

use crate::config::{Config, Settings};
use crate::ids::IdGenerator;
use crate::ledger::Ledger;
use crate::nonce::NonceCache;
pub(crate) use simkit::lock;
use simkit::{FaultState, Kit, StatsCounters};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

pub(crate) struct AppInner {
    pub base_url: String,
    pub timestamp_tolerance_secs: i64,
    pub initial_settings: Settings,
    pub merchants: RwLock<HashMap<String, String>>,
    pub settings: RwLock<Settings>,
    pub ledger: Mutex<Ledger>,
    pub nonces: Mutex<NonceCache>,
    /// Idempotency keys of requests being processed right now (for 1198 / 1145).
    pub in_flight: Mutex<HashSet<String>>,
    pub ids: IdGenerator,
    /// Faults, notifications, bill faults, statistics, background tasks.
    pub kit: Kit,
}

/// A cheap handle on the shared state.
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
            timestamp_tolerance_secs: i64::try_from(config.timestamp_tolerance_secs).unwrap_or(i64::MAX),
            initial_settings: config.settings.clone(),
            merchants: RwLock::new(config.merchants.clone().into_iter().collect()),
            settings: RwLock::new(config.settings.clone()),
            ledger: Mutex::new(Ledger::default()),
            nonces: Mutex::new(NonceCache::new(config.nonce_capacity)),
            in_flight: Mutex::new(HashSet::new()),
            ids: IdGenerator::new(),
            kit: Kit::new(config.faults.clone())?,
        })))
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.kit.faults()
    }

    pub fn stats(&self) -> MutexGuard<'_, StatsCounters> {
        self.kit.stats()
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(PoisonError::into_inner) = settings;
    }

    pub fn secret(&self, merchant_id: &str) -> Option<String> {
        self.merchants.read().unwrap_or_else(PoisonError::into_inner).get(merchant_id).cloned()
    }

    pub fn add_merchant(&self, merchant_id: String, secret: String) {
        self.merchants.write().unwrap_or_else(PoisonError::into_inner).insert(merchant_id, secret);
    }

    pub fn merchant_ids(&self) -> Vec<String> {
        let mut ids: Vec<_> =
            self.merchants.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Forgets every payment, refund, notification, scripted fault, bill fault, nonce and statistic, and
    /// goes back to the start-up faults and settings. Merchants stay.
    pub fn reset(&self) {
        self.ledger().reset();
        self.kit.reset();
        lock(&self.nonces).clear();
        self.set_settings(self.initial_settings.clone());
    }

    /// Sleeps unless shutting down; false if shutdown interrupted the sleep.
    pub async fn sleep(&self, d: Duration) -> bool {
        self.kit.sleep(d).await
    }

    /// Runs a background task that stops at shutdown.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.kit.spawn(task);
    }

    /// Marks an idempotency key as being processed; None if it already is.
    pub fn enter(&self, key: String) -> Option<InFlight> {
        if lock(&self.in_flight).insert(key.clone()) {
            Some(InFlight { app: self.clone(), key })
        } else {
            None
        }
    }

    pub fn is_in_flight(&self, key: &str) -> bool {
        lock(&self.in_flight).contains(key)
    }
}

/// Removes its key from the in-flight set when dropped.
pub(crate) struct InFlight {
    app: App,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.app.in_flight).remove(&self.key);
    }
}
