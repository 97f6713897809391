//! simkit: the provider-independent fault core of paygate's provider simulators.
//!
//! mockpay (our own sandbox protocol), alipaysim (Alipay's open platform) and wechatpaysim (WeChat
//! Pay API v3) share it:
//!
//! - [`FaultSettings`] and [`FaultState`]: seeded fault rates (latency, timeouts, HTTP 500s,
//!   "charged but the response was lost", declines, refunds that stay processing or fail, lost,
//!   duplicate, late and reordered notifications), drawn per order so that the same seed gives
//!   the same faults whatever the interleaving;
//! - [`ScriptEntry`]: deterministic per-order faults ("the next N pays of order X time out");
//! - [`notify`]: the notification delivery engine (retry schedule, acknowledgement, faults,
//!   delivery history), with the wire format left to each simulator's [`notify::Channel`];
//! - [`BillFault`]: planted discrepancies in the provider's bills;
//! - [`stats`]: run totals;
//! - [`listen`]: binding a simulator's socket and the base URL it names; [`serve`]: serving it
//!   until its kit's cancellation;
//! - [`admin_http`]: the HTTP half of every simulator's admin client;
//! - [`Kit`]: all of it behind locks, with the cancellation every background task watches.
//!
//! What a fault looks like on the wire (which return code a "system error" is, how a response
//! is dropped) is each simulator's business; [`dropped_response`] is the common way to drop one.

pub mod admin_http;
pub mod bill;
mod faults;
pub mod listen;
pub mod notify;
mod script;
pub mod serve;
pub mod stats;

pub use bill::{BillFault, BillFaultKind};
pub use faults::{
    Decline, FaultSettings, FaultState, Latency, LatencyPoint, NotificationFault, PPM, RefundFate,
    TransportDecision, TransportFault,
};
pub use script::{Fault, FaultClass, Operation, ScriptBook, ScriptEntry};
pub use stats::{Event, Stats, StatsCounters};

use axum::body::{Body, Bytes};
use axum::response::Response;
use notify::NotificationBook;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Locks a mutex; a panic elsewhere while it was held does not make the data unusable here.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fault core of one running simulator: faults, notifications, bill faults, statistics, the
/// HTTP client notifications go out with, and the cancellation token of its background tasks.
pub struct Kit {
    initial_faults: FaultSettings,
    faults: Mutex<FaultState>,
    stats: Mutex<StatsCounters>,
    notifications: Mutex<NotificationBook>,
    bill_faults: Mutex<Vec<BillFault>>,
    /// The client notifications are sent with (no proxy).
    pub http: reqwest::Client,
    cancel: CancellationToken,
}

impl Kit {
    /// A core starting with `faults` (and going back to them on [`Kit::reset`]).
    pub fn new(faults: FaultSettings) -> Result<Kit, reqwest::Error> {
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(Kit {
            initial_faults: faults.clone(),
            faults: Mutex::new(FaultState::new(faults)),
            stats: Mutex::new(StatsCounters::default()),
            notifications: Mutex::new(NotificationBook::default()),
            bill_faults: Mutex::new(Vec::new()),
            http,
            cancel: CancellationToken::new(),
        })
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    pub fn stats(&self) -> MutexGuard<'_, StatsCounters> {
        lock(&self.stats)
    }

    pub fn notifications(&self) -> MutexGuard<'_, NotificationBook> {
        lock(&self.notifications)
    }

    /// The bill faults, oldest first.
    pub fn bill_faults(&self) -> MutexGuard<'_, Vec<BillFault>> {
        lock(&self.bill_faults)
    }

    /// Back to the start-up faults; forgets scripted faults, bill faults, notifications (their
    /// deliveries stop) and statistics.
    pub fn reset(&self) {
        self.faults().reset(self.initial_faults.clone());
        *self.stats() = StatsCounters::default();
        self.notifications().reset();
        self.bill_faults().clear();
    }

    /// The token cancelled at shutdown.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Stops every background task and held response.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Resolves at shutdown.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
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

    /// Holds a response for `hold` (or until shutdown), then drops the connection: what the
    /// timeout and lost-response faults do.
    pub async fn hold_and_drop(&self, hold: Duration) -> Response {
        self.sleep(hold).await;
        dropped_response()
    }
}

/// A response whose body fails at once: the server closes the connection without a complete
/// answer, as a dead provider or a broken network would.
pub fn dropped_response() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("the simulator dropped the response"))
    });
    Response::new(Body::from_stream(failing))
}

/// Timestamps in admin answers: RFC 3339, UTC, milliseconds.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Checks a merchant-chosen id (order id, refund id): 1 to 64 characters of `A-Z a-z 0-9 - _ . :`,
/// so that it can travel in a URL path unescaped.
pub fn check_id(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 64 {
        return Err(format!("{field}: must be 1 to 64 characters"));
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
        return Err(format!("{field}: only A-Z, a-z, 0-9, '-', '_', '.' and ':' are allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("orderId", "ord-1_2.3:4").is_ok());
        assert!(check_id("orderId", "").is_err());
        assert!(check_id("orderId", "a/b").is_err());
        assert!(check_id("orderId", &"x".repeat(65)).is_err());
    }
}
