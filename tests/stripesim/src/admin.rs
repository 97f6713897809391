//! The admin API (unauthenticated, plain JSON; keep the simulator on a private address): faults,
//! scripted faults, settings, the customer's actions, the internal truth of an order (by our
//! trade number, `metadata[trade_no]`), statistics and reset. [`AdminClient`] drives it.
//!
//! | route | what |
//! |---|---|
//! | `GET/PUT /admin/faults` | simkit's fault rates, seed and latency |
//! | `GET/POST/DELETE /admin/script` | scripted per-order faults (`{orderId: trade_no, operation, fault, times, declineCode}`) |
//! | `GET/PUT /admin/settings` | webhook URL, refund delay, processing time, search lag, webhook scale and timeout, authorisation expiry (`authorizationExpiryMs`) |
//! | `POST /admin/orders/{trade_no}/pay` | the customer confirms with `{paymentMethod}` (default `pm_card_visa`) |
//! | `POST /admin/orders/{trade_no}/authenticate` | the customer's 3-D Secure: `{result: succeed|fail}` |
//! | `GET /admin/orders/{trade_no}` | the truth: PaymentIntent, charges, refunds, events and their attempts |
//! | `POST /admin/refunds/{refund_no}/complete` | `{status: succeeded|failed|canceled}` |
//! | `GET/POST/DELETE /admin/bill-faults` | planted payout discrepancies (simkit's `amount`, `drop_line`, `fee`) |
//! | `GET /admin/stats`, `POST /admin/reset` | totals; forget everything but the keys |

use crate::api;
use crate::app::App;
use crate::config::Settings;
use crate::model::RefundStatus;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use simkit::notify::NotificationTruth;
use simkit::{BillFault, FaultSettings, ScriptEntry, Stats};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/admin/faults", get(get_faults).put(put_faults))
        .route("/admin/script", get(get_script).post(post_script).delete(delete_script))
        .route("/admin/settings", get(get_settings).put(put_settings))
        .route("/admin/orders/{no}", get(get_order))
        .route("/admin/orders/{no}/pay", post(pay))
        .route("/admin/orders/{no}/authenticate", post(authenticate))
        .route("/admin/refunds/{no}/complete", post(complete))
        .route("/admin/bill-faults", get(get_bill_faults).post(post_bill_fault).delete(delete_bill_faults))
        .route("/admin/stats", get(get_stats))
        .route("/admin/reset", post(reset))
}

fn bad(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message.into() }))).into_response()
}

fn not_found(message: impl Into<String>) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": message.into() }))).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    if body.is_empty() {
        return serde_json::from_str("{}").map_err(|e| Box::new(bad(e.to_string())));
    }
    serde_json::from_slice(body).map_err(|e| Box::new(bad(e.to_string())))
}

async fn get_faults(State(app): State<App>) -> Response {
    Json(app.kit.faults().settings.clone()).into_response()
}

async fn put_faults(State(app): State<App>, body: Bytes) -> Response {
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

async fn get_script(State(app): State<App>) -> Response {
    Json(app.kit.faults().script.pending()).into_response()
}

async fn post_script(State(app): State<App>, body: Bytes) -> Response {
    let e: ScriptEntry = match parse(&body) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    if let Err(m) = e.validate(|code| crate::cards::scripted_decline(Some(code)).map(drop)) {
        return bad(m);
    }
    if e.operation == simkit::Operation::Cancel {
        return bad("Stripe has no reversal: cancel is the close operation here");
    }
    app.kit.faults().script.push(e.clone());
    Json(e).into_response()
}

async fn delete_script(State(app): State<App>) -> Response {
    app.kit.faults().script.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_settings(State(app): State<App>) -> Response {
    Json(app.settings()).into_response()
}

async fn put_settings(State(app): State<App>, body: Bytes) -> Response {
    match parse::<Settings>(&body) {
        Ok(s) => {
            app.set_settings(s.clone());
            Json(s).into_response()
        }
        Err(r) => *r,
    }
}

/// The internal truth of the order with trade number `no`.
fn order_truth(app: &App, no: &str) -> Option<Value> {
    let ledger = app.ledger();
    let pi = ledger.by_trade_no(no)?.clone();
    let refunds: Vec<Value> =
        pi.refunds.iter().filter_map(|id| ledger.refunds.get(id)).map(crate::model::Refund::json).collect();
    drop(ledger);
    let events: Vec<NotificationTruth> =
        app.kit.notifications().get_all(&pi.events).iter().map(NotificationTruth::from).collect();
    Some(json!({
        "tradeNo": no,
        "paymentIntent": pi.json(),
        "charges": pi.charges,
        "refunds": refunds,
        "events": events,
    }))
}

async fn get_order(State(app): State<App>, Path(no): Path<String>) -> Response {
    match order_truth(&app, &no) {
        Some(v) => Json(v).into_response(),
        None => not_found(format!("no PaymentIntent with trade number {no}")),
    }
}

fn intent_id(app: &App, no: &str) -> Option<String> {
    app.ledger().by_trade_no(no).map(|p| p.id.clone())
}

async fn pay(State(app): State<App>, Path(no): Path<String>, body: Bytes) -> Response {
    let v: Value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let pm = v["paymentMethod"].as_str().unwrap_or("pm_card_visa").to_owned();
    let Some(id) = intent_id(&app, &no) else {
        return not_found(format!("no PaymentIntent with trade number {no}"));
    };
    let (answer, events) = api::confirm(&app, &id, &pm);
    api::send_all(&app, events);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    (status, Json(answer.body)).into_response()
}

async fn authenticate(State(app): State<App>, Path(no): Path<String>, body: Bytes) -> Response {
    let v: Value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let ok = match v["result"].as_str().unwrap_or("succeed") {
        "succeed" => true,
        "fail" => false,
        other => return bad(format!("result: succeed or fail (got {other:?})")),
    };
    let Some(id) = intent_id(&app, &no) else {
        return not_found(format!("no PaymentIntent with trade number {no}"));
    };
    match api::authenticate(&app, &id, ok) {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({ "error": e }))).into_response(),
    }
}

async fn complete(State(app): State<App>, Path(no): Path<String>, body: Bytes) -> Response {
    let v: Value = match parse(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(status) =
        v["status"].as_str().and_then(RefundStatus::parse).filter(|s| *s != RefundStatus::Pending)
    else {
        return bad("status: succeeded, failed or canceled");
    };
    let id = app.ledger().refund_by_no(&no).map(|r| r.id.clone());
    let Some(id) = id else { return not_found(format!("no refund with refund number {no}")) };
    let events = api::complete_refund(&app, &id, status);
    api::send_all(&app, events);
    let now = app.ledger().refunds.get(&id).map(|r| r.status.as_str());
    Json(json!({ "status": now })).into_response()
}

async fn get_bill_faults(State(app): State<App>) -> Response {
    Json(app.kit.bill_faults().clone()).into_response()
}

async fn post_bill_fault(State(app): State<App>, body: Bytes) -> Response {
    let f: BillFault = match parse(&body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match crate::balance::register_fault(&app, f) {
        Ok(f) => Json(f).into_response(),
        Err(e) => bad(e),
    }
}

async fn delete_bill_faults(State(app): State<App>) -> Response {
    app.kit.bill_faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_stats(State(app): State<App>) -> Response {
    Json(app.kit.stats().snapshot()).into_response()
}

async fn reset(State(app): State<App>) -> Response {
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

    /// The customer confirms the order's PaymentIntent with `payment_method`; the PaymentIntent
    /// as Stripe.js would see it (an `AdminError` with 402 for a decline).
    pub async fn pay(&self, trade_no: &str, payment_method: &str) -> anyhow::Result<Value> {
        let path = format!("/admin/orders/{trade_no}/pay");
        self.call(reqwest::Method::POST, &path, Some(json!({ "paymentMethod": payment_method }))).await
    }

    /// The customer's 3-D Secure outcome.
    pub async fn authenticate(&self, trade_no: &str, succeed: bool) -> anyhow::Result<Value> {
        let path = format!("/admin/orders/{trade_no}/authenticate");
        let result = if succeed { "succeed" } else { "fail" };
        self.call(reqwest::Method::POST, &path, Some(json!({ "result": result }))).await
    }

    /// The internal truth of an order (None if unknown).
    pub async fn order(&self, trade_no: &str) -> anyhow::Result<Option<Value>> {
        match self.call(reqwest::Method::GET, &format!("/admin/orders/{trade_no}"), None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.downcast_ref::<AdminError>().is_some_and(|a| a.status == 404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn complete_refund(&self, refund_no: &str, status: &str) -> anyhow::Result<Value> {
        let path = format!("/admin/refunds/{refund_no}/complete");
        self.call(reqwest::Method::POST, &path, Some(json!({ "status": status }))).await
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

    pub async fn add_bill_fault(&self, f: &BillFault) -> anyhow::Result<BillFault> {
        Ok(serde_json::from_value(
            self.call(reqwest::Method::POST, "/admin/bill-faults", Some(serde_json::to_value(f)?)).await?,
        )?)
    }

    pub async fn stats(&self) -> anyhow::Result<Stats> {
        Ok(serde_json::from_value(self.call(reqwest::Method::GET, "/admin/stats", None).await?)?)
    }

    pub async fn reset(&self) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/admin/reset", None).await.map(drop)
    }
}
