//! The admin API (plain JSON, unsigned; keep alipaysim on a private address). Errors are HTTP
//! 400/404 with `{"error": "…"}`.
//!
//! | call | what |
//! |---|---|
//! | `GET`/`PUT /admin/faults` | simkit fault rates, seed, latency |
//! | `GET`/`POST`/`DELETE /admin/script` | scripted per-order faults (simkit `ScriptEntry`) |
//! | `GET`/`PUT /admin/settings` | [`crate::Settings`] |
//! | `GET /admin/trades/{out_trade_no}[?app_id=]` | the truth: state, charges, refunds, notifications |
//! | `POST /admin/trades/{out_trade_no}/scan` | the customer scans the QR code (the trade now exists) |
//! | `POST /admin/trades/{out_trade_no}/pay` | the customer pays (scans first if needed; confirms a barcode payment) |
//! | `POST /admin/trades/{out_trade_no}/decline` | the customer's payment fails (a confirming barcode payment closes) |
//! | `POST /admin/trades/{out_trade_no}/expire` | the unpaid trade's time is up now |
//! | `POST /admin/trades/{out_trade_no}/finish` | a paid trade becomes TRADE_FINISHED (no more refunds) |
//! | `POST /admin/trades/{out_trade_no}/refunds/{out_request_no}/complete` | a refund in process succeeds |
//! | `GET`/`POST`/`DELETE /admin/bill-faults` | planted bill discrepancies (simkit `BillFault`) |
//! | `GET /admin/alipay-public-key` | the public key to verify answers and notifications with (PEM) |
//! | `GET /admin/stats`, `POST /admin/reset` | run totals; forget everything |

use crate::app::{App, RefundState, TradeKey, TradeStatus, bj};
use crate::config::Settings;
use crate::gateway;
use crate::notify::{self, About};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use simkit::notify::NotificationTruth;
use simkit::{BillFault, BillFaultKind, FaultSettings, ScriptEntry};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/faults", get(get_faults).put(put_faults))
        .route("/admin/script", get(get_script).post(post_script).delete(delete_script))
        .route("/admin/settings", get(get_settings).put(put_settings))
        .route("/admin/trades/{out_trade_no}", get(get_trade))
        .route("/admin/trades/{out_trade_no}/{action}", post(trade_action))
        .route("/admin/trades/{out_trade_no}/refunds/{out_request_no}/complete", post(complete_refund))
        .route("/admin/bill-faults", get(get_bill_faults).post(post_bill_fault).delete(delete_bill_faults))
        .route("/admin/alipay-public-key", get(public_key))
        .route("/admin/stats", get(stats))
        .route("/admin/reset", post(reset))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, e.to_string())))
}

async fn get_faults(State(app): State<App>) -> Response {
    Json(app.kit.faults().settings.clone()).into_response()
}

async fn put_faults(State(app): State<App>, body: Bytes) -> Response {
    match parse::<FaultSettings>(&body) {
        Ok(f) => match f.validate() {
            Ok(()) => {
                app.kit.faults().set(f.clone());
                Json(f).into_response()
            }
            Err(m) => error(StatusCode::BAD_REQUEST, m),
        },
        Err(r) => *r,
    }
}

async fn get_script(State(app): State<App>) -> Response {
    Json(app.kit.faults().script.pending()).into_response()
}

async fn post_script(State(app): State<App>, body: Bytes) -> Response {
    let e = match parse::<ScriptEntry>(&body) {
        Ok(e) => e,
        Err(r) => return *r,
    };
    let checked = e.validate(|code| {
        if code.starts_with("ACQ.") {
            Ok(())
        } else {
            Err(format!(
                "declineCode must be an ACQ.* sub-code such as ACQ.BUYER_BALANCE_NOT_ENOUGH, got {code}"
            ))
        }
    });
    if let Err(m) = checked {
        return error(StatusCode::BAD_REQUEST, m);
    }
    if matches!(e.operation, simkit::Operation::Capture | simkit::Operation::Void) {
        let m = "Alipay takes the money when the customer pays: alipaysim has no capture or void".to_owned();
        return error(StatusCode::BAD_REQUEST, m);
    }
    app.kit.faults().add_script(e.clone());
    Json(e).into_response()
}

async fn delete_script(State(app): State<App>) -> Response {
    app.kit.faults().script.clear();
    Json(json!([])).into_response()
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

#[derive(Deserialize)]
struct AppQuery {
    app_id: Option<String>,
}

/// The trade with this out_trade_no (of `app_id`, or of the only app that has one).
fn key_of(app: &App, out_trade_no: &str, app_id: Option<&str>) -> Result<TradeKey, Box<Response>> {
    let book = app.book();
    let keys: Vec<&TradeKey> =
        book.trades.keys().filter(|k| k.1 == out_trade_no && app_id.is_none_or(|a| a == k.0)).collect();
    match keys.as_slice() {
        [k] => Ok((*k).clone()),
        [] => Err(Box::new(error(StatusCode::NOT_FOUND, format!("no trade {out_trade_no}")))),
        _ => {
            Err(Box::new(error(StatusCode::BAD_REQUEST, "several apps have this out_trade_no: name app_id")))
        }
    }
}

async fn get_trade(
    State(app): State<App>,
    Path(out_trade_no): Path<String>,
    Query(q): Query<AppQuery>,
) -> Response {
    let key = match key_of(&app, &out_trade_no, q.app_id.as_deref()) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let Some(t) = app.book().trades.get(&key).cloned() else {
        return error(StatusCode::NOT_FOUND, "gone");
    };
    let notes: Vec<NotificationTruth> =
        app.kit.notifications().get_all(&t.notification_ids).iter().map(NotificationTruth::from).collect();
    Json(json!({
        "appId": t.app_id,
        "outTradeNo": t.out_trade_no,
        "tradeNo": t.trade_no,
        "product": t.product.as_str(),
        "totalAmount": t.total_amount,
        "subject": t.subject,
        "visible": t.visible,
        "tradeStatus": t.status.as_str(),
        "confirming": t.confirming,
        "cancelAction": t.cancel_action,
        "createdAt": bj(t.created_at),
        "expiresAt": bj(t.expires_at),
        "paidAt": t.paid_at.map(bj),
        "closedAt": t.closed_at.map(bj),
        "charges": t.charges,
        "refunded": t.refunded(),
        "refunds": t.refunds.iter().map(|r| json!({
            "outRequestNo": r.out_request_no,
            "amount": r.amount,
            "state": if r.state == RefundState::Success { "REFUND_SUCCESS" } else { "PROCESSING" },
            "fate": r.fate.as_str(),
            "byCancel": r.by_cancel,
            "createdAt": bj(r.created_at),
            "completedAt": r.completed_at.map(bj),
        })).collect::<Vec<_>>(),
        "notifyUrl": t.notify_url,
        "notifications": notes,
    }))
    .into_response()
}

async fn trade_action(
    State(app): State<App>,
    Path((out_trade_no, action)): Path<(String, String)>,
    Query(q): Query<AppQuery>,
) -> Response {
    let key = match key_of(&app, &out_trade_no, q.app_id.as_deref()) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    // A trade past its expiry closes before the customer can act on it (the sweep may not have
    // come round yet).
    gateway::expire_due(&app);
    let mut notes = Vec::new();
    let result = {
        let mut book = app.book();
        let status = book.trades.get(&key).map(|t| t.status);
        match (action.as_str(), status) {
            (_, None) => Err("gone".to_owned()),
            ("scan", Some(TradeStatus::WaitBuyerPay)) => {
                if let Some(t) = book.trades.get_mut(&key) {
                    t.visible = true;
                }
                Ok(json!({"declined": false}))
            }
            ("pay", Some(TradeStatus::WaitBuyerPay)) => {
                let declined = gateway::pay_now(&app, &mut book, &key, &mut notes);
                Ok(json!({"declined": declined.is_some()}))
            }
            ("decline", Some(TradeStatus::WaitBuyerPay)) => {
                if let Some(t) = book.trades.get_mut(&key) {
                    t.visible = true;
                    if t.confirming {
                        t.confirming = false;
                        t.status = TradeStatus::TradeClosed;
                        t.closed_at = Some(Utc::now());
                        notes.extend(notify::build(&app, t, About::State));
                    }
                }
                app.kit.stats().event(simkit::Event::Decline);
                Ok(json!({"declined": true}))
            }
            ("expire", Some(TradeStatus::WaitBuyerPay)) => {
                if let Some(t) = book.trades.get_mut(&key) {
                    t.expires_at = Utc::now();
                }
                Ok(json!({}))
            }
            ("finish", Some(TradeStatus::TradeSuccess)) => {
                if let Some(t) = book.trades.get_mut(&key) {
                    t.status = TradeStatus::TradeFinished;
                    notes.extend(notify::build(&app, t, About::State));
                }
                Ok(json!({}))
            }
            ("scan" | "pay" | "decline" | "expire" | "finish", Some(s)) => {
                Err(format!("{action}: the trade is {}", s.as_str()))
            }
            _ => return error(StatusCode::NOT_FOUND, format!("no action {action}")),
        }
    };
    notify::dispatch(&app, notes);
    if action == "expire" {
        gateway::expire_due(&app);
    }
    match result {
        Ok(v) => Json(v).into_response(),
        Err(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

async fn complete_refund(
    State(app): State<App>,
    Path((out_trade_no, out_request_no)): Path<(String, String)>,
    Query(q): Query<AppQuery>,
) -> Response {
    let key = match key_of(&app, &out_trade_no, q.app_id.as_deref()) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    if gateway::complete_refund(&app, &key, &out_request_no, None) {
        Json(json!({})).into_response()
    } else {
        error(StatusCode::BAD_REQUEST, "no refund in process with this out_request_no")
    }
}

async fn get_bill_faults(State(app): State<App>) -> Response {
    Json(app.kit.bill_faults().clone()).into_response()
}

async fn post_bill_fault(State(app): State<App>, body: Bytes) -> Response {
    let mut f = match parse::<BillFault>(&body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Err(m) = crate::bill::validate_fault(&f) {
        return error(StatusCode::BAD_REQUEST, m);
    }
    if matches!(
        f.kind,
        BillFaultKind::AddPayment | BillFaultKind::DuplicatePayment | BillFaultKind::AddRefund
    ) {
        f.transaction_id = Some(app.trade_no());
    }
    app.kit.bill_faults().push(f.clone());
    Json(f).into_response()
}

async fn delete_bill_faults(State(app): State<App>) -> Response {
    app.kit.bill_faults().clear();
    Json(json!([])).into_response()
}

async fn public_key(State(app): State<App>) -> Response {
    crate::keys::public_pem(&app.alipay_key.to_public_key()).into_response()
}

async fn stats(State(app): State<App>) -> Response {
    Json(app.kit.stats().snapshot()).into_response()
}

async fn reset(State(app): State<App>) -> Response {
    app.reset();
    Json(json!({})).into_response()
}
