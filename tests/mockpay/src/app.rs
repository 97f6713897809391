//! The running simulator's shared state: merchants, settings, ledger, faults, nonces, statistics,
//! and the cancellation token every background task watches.

use crate::config::{Config, Settings};
use crate::faults::{FaultSettings, FaultState};
use crate::ids::IdGenerator;
use crate::ledger::Ledger;
use crate::nonce::NonceCache;
use crate::stats::StatsCounters;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(crate) struct AppInner {
    pub base_url: String,
    pub timestamp_tolerance_secs: i64,
    pub initial_faults: FaultSettings,
    pub initial_settings: Settings,
    pub merchants: RwLock<HashMap<String, String>>,
    pub settings: RwLock<Settings>,
    pub ledger: Mutex<Ledger>,
    pub faults: Mutex<FaultState>,
    pub nonces: Mutex<NonceCache>,
    pub stats: Mutex<StatsCounters>,
    /// Idempotency keys of requests being processed right now (for 1198 / 1145).
    pub in_flight: Mutex<HashSet<String>>,
    /// The bill faults (`/admin/bill-faults`), oldest first.
    pub bill_faults: Mutex<Vec<crate::bill::BillFault>>,
    pub ids: IdGenerator,
    pub http: reqwest::Client,
    pub cancel: CancellationToken,
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

/// Locks a mutex; a panic elsewhere while it was held does not make the data unusable here.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl App {
    pub fn new(config: &Config, base_url: String) -> anyhow::Result<App> {
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(App(Arc::new(AppInner {
            base_url,
            timestamp_tolerance_secs: i64::try_from(config.timestamp_tolerance_secs).unwrap_or(i64::MAX),
            initial_faults: config.faults.clone(),
            initial_settings: config.settings.clone(),
            merchants: RwLock::new(config.merchants.clone().into_iter().collect()),
            settings: RwLock::new(config.settings.clone()),
            ledger: Mutex::new(Ledger::default()),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            nonces: Mutex::new(NonceCache::new(config.nonce_capacity)),
            stats: Mutex::new(StatsCounters::default()),
            in_flight: Mutex::new(HashSet::new()),
            bill_faults: Mutex::new(Vec::new()),
            ids: IdGenerator::new(),
            http,
            cancel: CancellationToken::new(),
        })))
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    pub fn stats(&self) -> MutexGuard<'_, StatsCounters> {
        lock(&self.stats)
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
        self.faults().reset(self.initial_faults.clone());
        *self.stats() = StatsCounters::default();
        lock(&self.nonces).clear();
        lock(&self.bill_faults).clear();
        self.set_settings(self.initial_settings.clone());
    }

    /// Sleeps unless shutting down; false if shutdown interrupted the sleep.
    pub async fn sleep(&self, d: Duration) -> bool {
        if d.is_zero() {
            return !self.cancel.is_cancelled();
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.cancel.cancelled() => false,
        }
    }

    /// Runs a background task that stops at shutdown.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = task => {}
                _ = cancel.cancelled() => {}
            }
        });
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
