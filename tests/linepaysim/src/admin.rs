//! The admin API (unauthenticated, plain JSON; keep the simulator on a private address): faults,
//! scripted faults, settings, the customer's actions, the internal truth of an order (by its
//! `orderId`, our trade number), statistics and reset. [`AdminClient`] drives it.
//!
//! | route | what |
//! |---|---|
//! | `GET/PUT /admin/faults` | simkit's fault rates, seed and latency |
//! | `GET/POST/DELETE /admin/script` | scripted per-order faults (`{orderId, operation, fault, times, declineCode}`; confirm is the order's `pay`) |
//! | `GET/PUT /admin/settings` | request lifetime, whether approvals redirect, hold time |
//! | `POST /admin/orders/{order_id}/approve` | the customer approves (`{redirect: bool}`, default true: the browser GETs confirmUrl) |
//! | `POST /admin/orders/{order_id}/cancel` | the customer cancels |
//! | `POST /admin/orders/{order_id}/expire` | the request expires now |
//! | `GET /admin/orders/{order_id}` | the truth: state, charges, refunds, redirects |
//! | `GET /admin/stats`, `POST /admin/reset` | totals; forget everything but the channel |

use crate::api;
use crate::app::App;
use crate::config::Settings;
use crate::model::State;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use simkit::{FaultSettings, ScriptEntry, Stats};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/admin/faults", get(get_faults).put(put_faults))
        .route("/admin/script", get(get_script).post(post_script).delete(delete_script))
        .route("/admin/settings", get(get_settings).put(put_settings))
        .route("/admin/orders/{no}", get(get_order))
        .route("/admin/orders/{no}/approve", post(approve))
        .route("/admin/orders/{no}/cancel", post(cancel))
        .route("/admin/orders/{no}/expire", post(expire))
        .route("/admin/stats", get(get_stats))
        .route("/admin/reset", post(reset))
}

fn bad(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message.into() }))).into_response()
}

fn not_found(message: impl Into<String>) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": message.into() }))).into_response()
}

fn conflict(message: impl Into<String>) -> Response {
    (StatusCode::CONFLICT, Json(json!({ "error": message.into() }))).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    if body.is_empty() {
        return serde_json::from_str("{}").map_err(|e| Box::new(bad(e.to_string())));
    }
    serde_json::from_slice(body).map_err(|e| Box::new(bad(e.to_string())))
}

async fn get_faults(AxState(app): AxState<App>) -> Response {
    Json(app.kit.faults().settings.clone()).into_response()
}

async fn put_faults(AxState(app): AxState<App>, body: Bytes) -> Response {
    let f: FaultSettings = match parse(&body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Err(e) = f.validate() {
        return bad(e);
    }
    app.kit.faults().set(f.clone());
    Json(f).into_response()
}

async fn get_script(AxState(app): AxState<App>) -> Response {
    Json(app.kit.faults().script.pending()).into_response()
}

async fn post_script(AxState(app): AxState<App>, body: Bytes) -> Response {
    let e: ScriptEntry = match parse(&body) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let decline = |code: &str| {
        if api::DECLINE_CODES.contains(&code) {
            Ok(())
        } else {
            Err(format!("declineCode: one of {}", api::DECLINE_CODES.join(", ")))
        }
    };
    if let Err(m) = e.validate(decline) {
        return bad(m);
    }
    if matches!(e.operation, simkit::Operation::Cancel | simkit::Operation::Close | simkit::Operation::Notify)
    {
        return bad(
            "LINE Pay's Online API has no cancel, close or notification: script pay (request and confirm), query (check and details), refund",
        );
    }
    app.kit.faults().script.push(e.clone());
    Json(e).into_response()
}

async fn delete_script(AxState(app): AxState<App>) -> Response {
    app.kit.faults().script.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_settings(AxState(app): AxState<App>) -> Response {
    Json(app.settings()).into_response()
}

async fn put_settings(AxState(app): AxState<App>, body: Bytes) -> Response {
    match parse::<Settings>(&body) {
        Ok(s) => {
            app.set_settings(s.clone());
            Json(s).into_response()
        }
        Err(r) => *r,
    }
}

async fn get_order(AxState(app): AxState<App>, Path(no): Path<String>) -> Response {
    match app.ledger().by_order(&no) {
        Some(p) => Json(p.json()).into_response(),
        None => not_found(format!("no payment request for order {no}")),
    }
}

async fn approve(AxState(app): AxState<App>, Path(no): Path<String>, body: Bytes) -> Response {
    let v: Value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let redirect = v.get("redirect").and_then(Value::as_bool).unwrap_or(true);
    match api::approve(&app, &no, redirect).await {
        Ok(v) => Json(v).into_response(),
        Err(e) if e.starts_with("no payment") => not_found(e),
        Err(e) => conflict(e),
    }
}

async fn cancel(AxState(app): AxState<App>, Path(no): Path<String>) -> Response {
    match api::cancel(&app, &no) {
        Ok(v) => Json(v).into_response(),
        Err(e) if e.starts_with("no payment") => not_found(e),
        Err(e) => conflict(e),
    }
}

async fn expire(AxState(app): AxState<App>, Path(no): Path<String>) -> Response {
    let mut ledger = app.ledger();
    let Some(p) = ledger.by_order_mut(&no) else {
        return not_found(format!("no payment request for order {no}"));
    };
    if matches!(p.state, State::Waiting | State::Approved) {
        p.state = State::Expired;
    }
    Json(p.json()).into_response()
}

async fn get_stats(AxState(app): AxState<App>) -> Response {
    Json(app.kit.stats().snapshot()).into_response()
}

async fn reset(AxState(app): AxState<App>) -> Response {
    app.reset();
    StatusCode::NO_CONTENT.into_response()
}

pub use simkit::admin_http::AdminError;

/// A client of the admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: simkit::admin_http::AdminHttp,
}

impl AdminClient {
    pub fn new(base: impl Into<String>) -> Self {
        AdminClient { http: simkit::admin_http::AdminHttp::new(base) }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.http.call(method, path, body).await
    }

    /// The customer approves the order's request; `redirect`: the browser then GETs confirmUrl.
    pub async fn approve(&self, order_id: &str, redirect: bool) -> anyhow::Result<Value> {
        let path = format!("/admin/orders/{order_id}/approve");
        self.call(reqwest::Method::POST, &path, Some(json!({ "redirect": redirect }))).await
    }

    /// The customer cancels.
    pub async fn cancel(&self, order_id: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, &format!("/admin/orders/{order_id}/cancel"), None).await
    }

    /// The request expires now.
    pub async fn expire(&self, order_id: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, &format!("/admin/orders/{order_id}/expire"), None).await
    }

    /// The internal truth of an order (None if unknown).
    pub async fn order(&self, order_id: &str) -> anyhow::Result<Option<Value>> {
        match self.call(reqwest::Method::GET, &format!("/admin/orders/{order_id}"), None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.downcast_ref::<AdminError>().is_some_and(|a| a.status == 404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()> {
        self.call(reqwest::Method::PUT, "/admin/faults", Some(serde_json::to_value(faults)?)).await.map(drop)
    }

    pub async fn script(&self, entry: &ScriptEntry) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/admin/script", Some(serde_json::to_value(entry)?)).await.map(drop)
    }

    pub async fn settings(&self) -> anyhow::Result<Settings> {
        Ok(serde_json::from_value(self.call(reqwest::Method::GET, "/admin/settings", None).await?)?)
    }

    pub async fn set_settings(&self, s: &Settings) -> anyhow::Result<()> {
        self.call(reqwest::Method::PUT, "/admin/settings", Some(serde_json::to_value(s)?)).await.map(drop)
    }

    pub async fn stats(&self) -> anyhow::Result<Stats> {
        Ok(serde_json::from_value(self.call(reqwest::Method::GET, "/admin/stats", None).await?)?)
    }

    pub async fn reset(&self) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/admin/reset", None).await.map(drop)
    }
}
