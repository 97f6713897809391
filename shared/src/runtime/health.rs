//! The operational HTTP endpoints every service serves on `HTTP_ADDR`:
//! - `GET /healthz`: the process is alive (always 200 while it serves);
//! - `GET /readyz`: PostgreSQL answers and the broker connection is up (200), else 503 with which
//!   one is not;
//! - `GET /metrics`: Prometheus text exposition of the service's registry.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// How long /readyz waits for PostgreSQL before calling it unreachable.
const DB_PING_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct HealthState {
    pub service: &'static str,
    pub db: PgPool,
    /// Whether the supervised broker connection is up.
    pub broker: tokio::sync::watch::Receiver<bool>,
    pub registry: Arc<Registry>,
}

pub fn router(state: HealthState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(s): State<HealthState>) -> Json<serde_json::Value> {
    Json(json!({"service": s.service, "status": "alive"}))
}

async fn readyz(State(s): State<HealthState>) -> Response {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&s.db);
    let database = matches!(tokio::time::timeout(DB_PING_TIMEOUT, ping).await, Ok(Ok(1)));
    let broker = *s.broker.borrow();
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    let body = json!({
        "service": s.service,
        "status": if database && broker { "ready" } else { "not ready" },
        "database": word(database),
        "broker": word(broker),
    });
    let status = if database && broker { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn metrics(State(s): State<HealthState>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &s.registry) {
        Ok(()) => {
            ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
                .into_response()
        }
        Err(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics failed: {e}")).into_response()
        }
    }
}
