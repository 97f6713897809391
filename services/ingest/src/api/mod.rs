//! The upstream HTTP API (docs/http-api.md): the commands of the AMQP contract and the queries
//! upstream needs, over signed JSON requests, per merchant, on its own listener (`API_ADDR`).
//!
//! - [`auth`]: every `/v1` request's signature, timestamp, nonce and rate limit; the [`auth::Caller`];
//! - [`signature`]: the string to sign and its HMAC;
//! - [`writes`]: the one path of every write: the same command parser and `crate::commands::apply`
//!   as the AMQP handler, with the [`idempotency`] key in the same transaction;
//! - [`payments`], [`refunds`], [`recon`]: the routes;
//! - [`response`], [`codes`], [`views`]: the one answer shape, its codes, and what it shows;
//! - [`openapi`]: the document, generated from the routes, at `/openapi.json`;
//! - [`rate_limit`]: the per-key limiter;
//! - [`provider_wait`]: the creates waiting for their provider's answer, read together.
//!
//! The hosted cashier (`crate::cashier`) is served by the same router, under `/cashier`, unsigned.

pub mod auth;
pub mod codes;
pub mod idempotency;
pub mod openapi;
pub mod payments;
pub mod provider_wait;
pub mod rate_limit;
pub mod recon;
pub mod refunds;
pub mod response;
pub mod signature;
pub mod views;
pub mod writes;

use crate::metrics::CommandMetrics;
use axum::Router;
use paygate::broker::topology::Topology;
use paygate::providers::ProviderNames;
use rate_limit::KeyLimit;
use sqlx::PgPool;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The API's settings (ingest's `API_…` configuration).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// How long a create waits for the provider's answer before answering 202.
    pub create_wait: Duration,
    /// How far a request's timestamp may be from the server's clock, seconds.
    pub signature_window_secs: u64,
    pub rate_per_second: NonZeroU32,
    pub rate_burst: NonZeroU32,
    /// The hosted cashier's (`CASHIER_…`).
    pub cashier: crate::cashier::CashierSettings,
}

/// What every route needs.
pub struct ApiState {
    pub db: PgPool,
    pub topology: Arc<Topology>,
    pub providers: ProviderNames,
    /// Woken after a write commits, so that the outbox relay publishes its work at once.
    pub relay_waker: Arc<Notify>,
    pub settings: ApiSettings,
    pub limit: KeyLimit,
    /// The cashier's limit per client address ([`crate::cashier::client_limit`]).
    pub cashier_limit: KeyLimit,
    /// The creates waiting for their provider's answer, read together.
    pub provider_wait: provider_wait::ProviderWait,
    /// `paygate_ingest_commands_total`, shared with the AMQP handler.
    pub metrics: CommandMetrics,
}

impl ApiState {
    pub fn new(
        db: PgPool,
        topology: Arc<Topology>,
        providers: ProviderNames,
        relay_waker: Arc<Notify>,
        settings: ApiSettings,
        metrics: CommandMetrics,
    ) -> Self {
        let limit = KeyLimit::new(settings.rate_per_second, settings.rate_burst);
        let cashier_limit = KeyLimit::new(settings.cashier.rate_per_second, settings.cashier.rate_burst);
        let provider_wait = provider_wait::ProviderWait::default();
        Self { db, topology, providers, relay_waker, settings, limit, cashier_limit, provider_wait, metrics }
    }
}

/// The `/v1` routes and their OpenAPI document.
fn v1() -> OpenApiRouter<Arc<ApiState>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(payments::create))
        .routes(routes!(payments::get))
        .routes(routes!(payments::close))
        .routes(routes!(payments::capture))
        .routes(routes!(payments::void))
        .routes(routes!(refunds::create))
        .routes(routes!(refunds::get))
        .routes(routes!(refunds::approve))
        .routes(routes!(refunds::reject))
        .routes(routes!(recon::bill))
        .routes(routes!(recon::settlement))
}

/// The OpenAPI document, as `/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    v1().split_for_parts().1
}

/// The API's router: `/v1` behind [`auth::authenticate`], and `/openapi.json` open.
pub fn router(state: Arc<ApiState>) -> Router {
    let (v1, doc) = v1().split_for_parts();
    let doc = Arc::new(doc);
    let v1 = v1.layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    Router::new()
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(v1.with_state(state.clone()))
        .merge(
            crate::cashier::routes::router()
                .route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    crate::cashier::client_limit::limit,
                ))
                .with_state(state),
        )
        .method_not_allowed_fallback(|| async {
            let error = paygate::domain::ValidationError::new(
                "method",
                "must be one this path takes (/openapi.json lists them)",
            );
            response::Answer::refused(codes::METHOD_NOT_ALLOWED, &error)
        })
        .fallback(|| async {
            let error = paygate::domain::ValidationError::new(
                "path",
                "must be one of the API's routes (/openapi.json lists them)",
            );
            response::Answer::refused(codes::NOT_FOUND, &error)
        })
}
