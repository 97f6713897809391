//! The provider-facing HTTP routes, and what they share.
//!
//! - [`notify`]: `POST /notify/{provider}/{trade no}`: the signed webhook;
//! - [`return_`]: `GET|POST /return/{provider}/{trade no}`: the customer's browser coming back.

pub mod notify;
pub mod return_;

use crate::metrics::NotifyMetrics;
use crate::publisher::ShardPublisher;
use axum::Router;
use axum::routing::{get, post};
use paygate::providers::{NotificationVerifier, ProviderRegistry};
use sqlx::PgPool;
use std::sync::Arc;

/// Everything a request needs.
pub struct AppState {
    pub db: PgPool,
    /// The configured providers (their notification verifiers), by name.
    pub providers: ProviderRegistry,
    pub publisher: ShardPublisher,
    pub metrics: NotifyMetrics,
    pub body_limit: usize,
    /// How long storing a notification may take before the provider is told to retry.
    pub store_timeout: std::time::Duration,
    /// The customer's return: each client address's rate.
    pub client_limit: crate::client_limit::ClientLimit,
    /// The customer's return: at most one query asked for per order within this.
    pub return_query_interval: std::time::Duration,
}

impl AppState {
    /// The configured provider of this name, with its `'static` name (for metric labels).
    pub fn verifier(&self, provider: &str) -> Option<(&'static str, &dyn NotificationVerifier)> {
        self.providers.get(provider).map(|adapter| (adapter.name(), adapter.notifications()))
    }
}

/// The routes, ready to merge into the service's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/notify/{provider}/{trade_no}", post(notify::handle))
        .route("/notify/{provider}", post(notify::handle_fixed))
        .route("/return/{provider}/{trade_no}", get(return_::handle_get).post(return_::handle_post))
        .with_state(state)
}

/// The payment id of one of our trade numbers (the UUID in 32 lower-case hex digits), if it is
/// one.
pub fn payment_id_of(trade_no: &str) -> Option<uuid::Uuid> {
    let id = uuid::Uuid::try_parse(trade_no).ok()?;
    (paygate::providers::adapter::trade_no(id) == trade_no).then_some(id)
}

/// At most `max` characters of `s` (for what a caller controls before we store it).
pub fn truncated(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
