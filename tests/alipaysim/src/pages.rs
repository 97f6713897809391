//! The customer's side: the cashier a page / wap pay URL (or auto-submitted form) opens, the page
//! a QR code leads to (the "scan"), and the pay button on both. Paying from a page redirects to
//! the trade's `return_url` with signed synchronous-return parameters (which never move money).

use crate::app::{App, Product, TradeKey, TradeStatus, bj, yuan};
use crate::gateway::{self, Request, html, plain};
use crate::notify;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Map, Value};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/qr/{trade_no}", get(scan))
        .route("/cashier/{trade_no}", get(cashier))
        .route("/cashier/{trade_no}/pay", post(pay))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn error_page(c: &Map<String, Value>) -> Response {
    let text = Value::Object(c.clone()).to_string();
    let mut r = html(format!("<h1>错误</h1><pre id=\"error\">{}</pre>", escape(&text)));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

fn page(app: &App, key: &TradeKey) -> Response {
    let book = app.book();
    let Some(t) = book.trades.get(key) else {
        return plain(StatusCode::NOT_FOUND, "no such trade");
    };
    let state = t.status.as_str();
    html(format!(
        "<h1>{}</h1><p id=\"amount\">¥{}</p><p id=\"trade\" data-out-trade-no=\"{}\" data-trade-no=\"{}\">{}</p>\
         <form method=\"post\" action=\"{}/cashier/{}/pay\"><button>确认付款</button></form>",
        escape(&t.subject),
        yuan(t.total_amount),
        escape(&t.out_trade_no),
        t.trade_no,
        state,
        app.base_url,
        t.trade_no
    ))
}

/// The cashier of `alipay.trade.page.pay` / `wap.pay`: opening it creates the trade.
pub fn cashier_from_request(app: &App, req: Request) -> Response {
    let new = match gateway::new_trade(app, &req.biz) {
        Ok(n) => n,
        Err(c) => return error_page(&c),
    };
    let product = if req.method == gateway::PAGE_PAY { Product::Page } else { Product::Wap };
    let key = {
        let mut book = app.book();
        let key = (req.app_id.clone(), new.out_trade_no.clone());
        match book.trades.get(&key) {
            Some(t) if t.total_amount != new.total_amount || t.subject != new.subject => {
                return error_page(&gateway::content(
                    "40004",
                    Some(("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")),
                ));
            }
            Some(_) => key,
            None => {
                let key = gateway::insert(app, &mut book, &req, &new, product, true);
                if let Some(ms) = app.settings().auto_pay_after_ms {
                    let (app2, key2, generation) = (app.clone(), key.clone(), book.generation);
                    app.kit.spawn(async move {
                        if app2.kit.sleep(std::time::Duration::from_millis(ms)).await {
                            let mut notes = Vec::new();
                            {
                                let mut book = app2.book();
                                if book.generation == generation {
                                    gateway::pay_now(&app2, &mut book, &key2, &mut notes);
                                }
                            }
                            notify::dispatch(&app2, notes);
                        }
                    });
                }
                key
            }
        }
    };
    page(app, &key)
}

fn by_trade_no(app: &App, trade_no: &str) -> Option<TradeKey> {
    app.book().by_trade_no.get(trade_no).cloned()
}

/// The customer scans a QR code: the trade now exists for queries.
async fn scan(State(app): State<App>, Path(trade_no): Path<String>) -> Response {
    let Some(key) = by_trade_no(&app, &trade_no) else {
        return plain(StatusCode::NOT_FOUND, "no such QR code");
    };
    if let Some(t) = app.book().trades.get_mut(&key)
        && t.status == TradeStatus::WaitBuyerPay
    {
        t.visible = true;
    }
    page(&app, &key)
}

async fn cashier(State(app): State<App>, Path(trade_no): Path<String>) -> Response {
    match by_trade_no(&app, &trade_no) {
        Some(key) => page(&app, &key),
        None => plain(StatusCode::NOT_FOUND, "no such trade"),
    }
}

/// The pay button.
async fn pay(State(app): State<App>, Path(trade_no): Path<String>) -> Response {
    let Some(key) = by_trade_no(&app, &trade_no) else {
        return plain(StatusCode::NOT_FOUND, "no such trade");
    };
    let mut notes = Vec::new();
    let (declined, ret) = {
        let mut book = app.book();
        let declined = gateway::pay_now(&app, &mut book, &key, &mut notes);
        let ret = book.trades.get(&key).and_then(|t| {
            let url = t.return_url.clone()?;
            (t.status == TradeStatus::TradeSuccess).then(|| (url, t.clone()))
        });
        (declined, ret)
    };
    notify::dispatch(&app, notes);
    if let Some(c) = declined {
        return error_page(&c);
    }
    let Some((url, t)) = ret else {
        return page(&app, &key);
    };
    let method = if t.product == Product::Wap {
        "alipay.trade.wap.pay.return"
    } else {
        "alipay.trade.page.pay.return"
    };
    let mut p: Vec<(String, String)> = [
        ("app_id", t.app_id.clone()),
        ("auth_app_id", t.app_id.clone()),
        ("charset", "utf-8".to_owned()),
        ("method", method.to_owned()),
        ("out_trade_no", t.out_trade_no.clone()),
        ("seller_id", app.seller_id(&t.app_id)),
        ("timestamp", bj(Utc::now())),
        ("total_amount", yuan(t.total_amount)),
        ("trade_no", t.trade_no.clone()),
        ("version", "1.0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let sign = crate::keys::sign(&app.alipay_key, &crate::keys::notification_string(&p));
    p.push(("sign".into(), sign));
    p.push(("sign_type".into(), "RSA2".into()));
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(p.iter()).finish();
    let sep = if url.contains('?') { '&' } else { '?' };
    (StatusCode::FOUND, [("location", format!("{url}{sep}{query}"))]).into_response()
}
