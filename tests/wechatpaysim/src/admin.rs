//! The admin API (unsigned, plain JSON; keep the simulator on a private address): faults,
//! scripted faults, settings, bill faults, the customer's actions, the internal truth of an
//! order, statistics and reset. [`AdminClient`] drives it.
//!
//! | route | what |
//! |---|---|
//! | `GET/PUT /admin/faults` | simkit's fault rates, seed and latency |
//! | `GET/POST/DELETE /admin/script` | scripted per-order faults (`{orderId, operation, fault, times}`) |
//! | `GET/PUT /admin/settings` | refund delay, notification scale and timeout, fee rate, … |
//! | `POST /admin/orders/{out_trade_no}/pay` | the customer pays (`{openid}` optional) |
//! | `POST /admin/orders/{out_trade_no}/paying` | the customer is paying: USERPAYING |
//! | `GET /admin/orders/{out_trade_no}` | the truth: state, charges, refunds, notifications and their attempts |
//! | `POST /admin/refunds/{out_refund_no}/complete` | `{status: SUCCESS|ABNORMAL|CLOSED}` |
//! | `GET/POST/DELETE /admin/bill-faults` | planted bill discrepancies (simkit's kinds) |
//! | `GET /admin/stats`, `POST /admin/reset` | totals; forget everything but merchants and keys |

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
        .route("/admin/orders/{no}/paying", post(paying))
        .route("/admin/refunds/{no}/complete", post(complete))
        .route("/admin/bill-faults", get(get_bill_faults).post(post_bill_fault).delete(delete_bill_faults))
        .route("/admin/stats", get(get_stats))
        .route("/admin/reset", post(reset))
}

fn bad(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message.into() }))).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
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
    if let Err(m) = e.validate(|_| Err("WeChat Pay's decline is PAYERROR: declineCode is not taken".into())) {
        return bad(m);
    }
    if e.operation == simkit::Operation::Cancel {
        return bad("WeChat Pay API v3 has no cancel for these products");
    }
    if matches!(e.operation, simkit::Operation::Capture | simkit::Operation::Void) {
        return bad("WeChat Pay takes the money when the customer pays: it has no capture or void");
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

/// The internal truth of an order.
fn order_truth(app: &App, no: &str) -> Option<Value> {
    let ledger = app.ledger();
    let o = ledger.find_order(no)?.clone();
    let refunds: Vec<Value> = o
        .refunds
        .iter()
        .filter_map(|r| ledger.refunds.get(&(o.mchid.clone(), r.clone())))
        .map(api::refund_json)
        .collect();
    drop(ledger);
    let notifications: Vec<NotificationTruth> =
        app.kit.notifications().get_all(&o.notifications).iter().map(NotificationTruth::from).collect();
    Some(json!({
        "mchid": o.mchid,
        "outTradeNo": o.out_trade_no,
        "tradeType": o.kind.trade_type(),
        "tradeState": o.state.as_str(),
        "total": o.total,
        "transactionId": o.transaction_id,
        "charges": o.charges,
        "notifyUrl": o.notify_url,
        "refunds": refunds,
        "notifications": notifications,
    }))
}

async fn get_order(State(app): State<App>, Path(no): Path<String>) -> Response {
    match order_truth(&app, &no) {
        Some(v) => Json(v).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no order {no}") }))).into_response(),
    }
}

async fn pay(State(app): State<App>, Path(no): Path<String>, body: Bytes) -> Response {
    let openid =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["openid"].as_str().map(str::to_owned));
    match api::customer_pays(&app, &no, openid) {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({ "error": e }))).into_response(),
    }
}

async fn paying(State(app): State<App>, Path(no): Path<String>) -> Response {
    match api::customer_paying(&app, &no) {
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
        v["status"].as_str().and_then(RefundStatus::parse).filter(|s| *s != RefundStatus::Processing)
    else {
        return bad("status: SUCCESS, ABNORMAL or CLOSED");
    };
    let mchid = app.ledger().find_refund(&no).map(|r| r.mchid.clone());
    let Some(mchid) = mchid else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no refund {no}") }))).into_response();
    };
    let ended = api::complete_refund(&app, &mchid, &no, status);
    Json(json!({ "status": ended.map(|s| s.as_str()) })).into_response()
}

async fn get_bill_faults(State(app): State<App>) -> Response {
    Json(app.kit.bill_faults().clone()).into_response()
}

async fn post_bill_fault(State(app): State<App>, body: Bytes) -> Response {
    let f: BillFault = match parse(&body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match crate::bill::register_fault(&app, f) {
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

    /// The customer pays the order; the transaction as the query would show it.
    pub async fn pay(&self, out_trade_no: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, &format!("/admin/orders/{out_trade_no}/pay"), Some(json!({}))).await
    }

    /// The internal truth of an order (None if unknown).
    pub async fn order(&self, out_trade_no: &str) -> anyhow::Result<Option<Value>> {
        match self.call(reqwest::Method::GET, &format!("/admin/orders/{out_trade_no}"), None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.downcast_ref::<AdminError>().is_some_and(|a| a.status == 404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn complete_refund(&self, out_refund_no: &str, status: &str) -> anyhow::Result<Value> {
        let path = format!("/admin/refunds/{out_refund_no}/complete");
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
