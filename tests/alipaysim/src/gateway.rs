//! `POST /gateway.do`: the open platform's one endpoint. Common parameters and the RSA2 request
//! signature are checked first (Alipay's `40001` / `40002` codes), then the method runs under
//! simkit's transport faults, and the answer is `{"<method>_response": {...}, "sign": "..."}`,
//! signed with Alipay's key over the exact text of the `_response` value.

use crate::app::{App, Product, Refund, RefundState, Trade, TradeKey, TradeStatus, bj, fen, yuan};
use crate::notify::{self, About};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use simkit::notify::NewNotification;
use simkit::{Event, Operation, RefundFate, TransportFault};
use std::time::Duration;

pub const PAGE_PAY: &str = "alipay.trade.page.pay";
pub const WAP_PAY: &str = "alipay.trade.wap.pay";
pub const METHODS: [&str; 10] = [
    "alipay.trade.precreate",
    "alipay.trade.pay",
    "alipay.trade.query",
    "alipay.trade.close",
    "alipay.trade.cancel",
    "alipay.trade.refund",
    "alipay.trade.fastpay.refund.query",
    "alipay.data.dataservice.bill.downloadurl.query",
    PAGE_PAY,
    WAP_PAY,
];

pub fn routes() -> Router<App> {
    Router::new().route("/gateway.do", get(gateway_get).post(gateway_post))
}

/// `{"code":…, "msg":…}` plus the sub-code for failures.
pub fn content(code: &str, sub: Option<(&str, &str)>) -> Map<String, Value> {
    let msg = match code {
        "10000" => "Success",
        "10003" => "order success pay inprocess",
        "20000" => "Service Currently Unavailable",
        "40001" => "Missing Required Arguments",
        "40002" => "Invalid Arguments",
        "40006" => "Insufficient Permissions",
        _ => "Business Failed",
    };
    let mut m = Map::new();
    m.insert("code".into(), code.into());
    m.insert("msg".into(), msg.into());
    if let Some((sub_code, sub_msg)) = sub {
        m.insert("sub_code".into(), sub_code.into());
        m.insert("sub_msg".into(), sub_msg.into());
    }
    m
}

fn business(sub_code: &str, sub_msg: &str) -> Map<String, Value> {
    content("40004", Some((sub_code, sub_msg)))
}

/// The signed answer.
pub fn signed(app: &App, method: Option<&str>, content: &Map<String, Value>) -> Response {
    let key = match method {
        Some(m) => format!("{}_response", m.replace('.', "_")),
        None => "error_response".into(),
    };
    let text = Value::Object(content.clone()).to_string();
    let sign = crate::keys::sign(&app.alipay_key, &text);
    let body = format!("{{\"{key}\":{text},\"sign\":\"{sign}\"}}");
    ([("content-type", "text/html;charset=utf-8")], body).into_response()
}

/// Query string and form body parameters together (SDKs put the common ones in either).
/// A request's parameters: the form body's, and the query's that the body does not repeat (the
/// SDKs' page-pay form posts to `gateway.do?charset=utf-8` with `charset` among its fields too:
/// one parameter, not two).
fn params_of(query: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let mut p: Vec<(String, String)> = Vec::new();
    if let Some(q) = query {
        p.extend(
            form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .filter(|(k, _)| !form.iter().any(|(f, _)| f == k)),
        );
    }
    p.extend(form);
    p
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> &'a str {
    p.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str())
}

/// The checked request: app, method and business parameters.
pub struct Request {
    pub app_id: String,
    pub method: String,
    pub biz: Map<String, Value>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
}

/// Checks the common parameters and the signature; the error is the answer's content.
pub fn check(app: &App, p: &[(String, String)]) -> Result<Request, (Option<String>, Map<String, Value>)> {
    let method = param(p, "method");
    if method.is_empty() {
        return Err((None, content("40001", Some(("isv.missing-method", "缺少方法名参数")))));
    }
    if !METHODS.contains(&method) {
        return Err((None, content("40002", Some(("isv.invalid-method", "不存在的方法名")))));
    }
    let m = Some(method.to_owned());
    let missing = |sub: &str, msg: &str| Err((m.clone(), content("40001", Some((sub, msg)))));
    let invalid = |sub: &str, msg: &str| Err((m.clone(), content("40002", Some((sub, msg)))));
    let app_id = param(p, "app_id");
    if app_id.is_empty() {
        return missing("isv.missing-app-id", "缺少AppID参数");
    }
    let apps = app.apps.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(app_key) = apps.get(app_id) else {
        return invalid("isv.invalid-app-id", "无效的AppID参数");
    };
    if param(p, "sign").is_empty() {
        return missing("isv.missing-signature", "缺少签名参数");
    }
    match param(p, "sign_type") {
        "" => return missing("isv.missing-signature-type", "缺少签名类型参数"),
        "RSA2" => {}
        _ => return invalid("isv.invalid-signature-type", "无效的签名类型参数"),
    }
    let timestamp = param(p, "timestamp");
    if timestamp.is_empty() {
        return missing("isv.missing-timestamp", "缺少时间戳参数");
    }
    if NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%d %H:%M:%S").is_err() {
        return invalid("isv.invalid-timestamp", "非法的时间戳参数");
    }
    match param(p, "version") {
        "" => return missing("isv.missing-version", "缺少版本参数"),
        "1.0" => {}
        _ => return invalid("isv.invalid-parameter", "version must be 1.0"),
    }
    let charset = param(p, "charset");
    if !charset.is_empty() && !charset.eq_ignore_ascii_case("utf-8") {
        return invalid("isv.invalid-charset", "字符集错误 (alipaysim accepts utf-8 only)");
    }
    let format = param(p, "format");
    if !format.is_empty() && !format.eq_ignore_ascii_case("json") {
        return invalid("isv.invalid-format", "无效的数据格式参数");
    }
    let signed_string = crate::keys::request_string(p);
    if !crate::keys::verify(&app_key.public_key, &signed_string, param(p, "sign")) {
        return invalid("isv.invalid-signature", "验签出错");
    }
    drop(apps);
    let biz = match serde_json::from_str::<Value>(param(p, "biz_content")) {
        Ok(Value::Object(o)) => o,
        _ => return invalid("isv.invalid-parameter", "biz_content must be a JSON object"),
    };
    let opt = |k: &str| Some(param(p, k).to_owned()).filter(|v| !v.is_empty());
    Ok(Request {
        app_id: app_id.to_owned(),
        method: method.to_owned(),
        biz,
        notify_url: opt("notify_url"),
        return_url: opt("return_url"),
    })
}

async fn gateway_post(State(app): State<App>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = params_of(q.as_deref(), &body);
    handle(&app, &p).await
}

/// A GET of the gateway: the signed URL of a page or wap pay (the customer's browser).
async fn gateway_get(State(app): State<App>, RawQuery(q): RawQuery) -> Response {
    let p = params_of(q.as_deref(), b"");
    handle(&app, &p).await
}

async fn handle(app: &App, p: &[(String, String)]) -> Response {
    let req = match check(app, p) {
        Ok(r) => r,
        Err((method, c)) => {
            app.kit.stats().request("auth", c["sub_code"].as_str().unwrap_or(""));
            if matches!(method.as_deref(), Some(PAGE_PAY | WAP_PAY)) {
                return crate::pages::error_page(&c);
            }
            return signed(app, method.as_deref(), &c);
        }
    };
    let method = req.method.clone();
    if method == PAGE_PAY || method == WAP_PAY {
        return crate::pages::cashier_from_request(app, req);
    }
    let op = match method.as_str() {
        "alipay.trade.precreate" | "alipay.trade.pay" => Some(Operation::Pay),
        "alipay.trade.query" => Some(Operation::Query),
        "alipay.trade.close" => Some(Operation::Close),
        "alipay.trade.cancel" => Some(Operation::Cancel),
        "alipay.trade.refund" => Some(Operation::Refund),
        "alipay.trade.fastpay.refund.query" => Some(Operation::RefundQuery),
        _ => None,
    };
    let order = str_of(&req.biz, "out_trade_no").to_owned();
    let decision = op.map(|op| {
        app.kit.faults().transport(
            op,
            &req.app_id,
            Some(&order).filter(|o| !o.is_empty()).map(String::as_str),
        )
    });
    let stat_op = op.map_or("bill", Operation::as_str);
    if let Some(d) = decision {
        if !app.kit.sleep(d.latency).await {
            return simkit::dropped_response();
        }
        let hold = Duration::from_millis(app.settings().timeout_hold_ms);
        match d.fault {
            Some(TransportFault::Timeout) => {
                app.kit.stats().request(stat_op, "timeout");
                return app.kit.hold_and_drop(hold).await;
            }
            Some(TransportFault::Http500) => {
                app.kit.stats().request(stat_op, "http_500");
                return signed(
                    app,
                    Some(&method),
                    &content("20000", Some(("isp.unknow-error", "服务暂不可用"))),
                );
            }
            Some(TransportFault::HeaderError) => {
                app.kit.stats().request(stat_op, "isv.invalid-signature");
                return signed(
                    app,
                    Some(&method),
                    &content("40002", Some(("isv.invalid-signature", "验签出错"))),
                );
            }
            Some(TransportFault::NotFound) => {
                app.kit.stats().request(stat_op, "ACQ.TRADE_NOT_EXIST");
                return signed(app, Some(&method), &business("ACQ.TRADE_NOT_EXIST", "交易不存在"));
            }
            Some(TransportFault::InProcess) if op != Some(Operation::Pay) => {
                app.kit.stats().request(stat_op, "ACQ.SYSTEM_ERROR");
                return signed(app, Some(&method), &business("ACQ.SYSTEM_ERROR", "系统错误"));
            }
            _ => {}
        }
    }
    let force_confirm = decision.is_some_and(|d| d.fault == Some(TransportFault::InProcess));
    let mut notes = Vec::new();
    let c = run(app, &req, force_confirm, &mut notes);
    notify::dispatch(app, notes);
    let outcome =
        c.get("sub_code").or_else(|| c.get("code")).and_then(Value::as_str).unwrap_or("").to_owned();
    if decision.is_some_and(|d| d.fault == Some(TransportFault::LostResponse)) {
        app.kit.stats().request(stat_op, "lost_response");
        return app.kit.hold_and_drop(Duration::from_millis(app.settings().timeout_hold_ms)).await;
    }
    app.kit.stats().request(stat_op, &outcome);
    signed(app, Some(&method), &c)
}

pub fn str_of<'a>(biz: &'a Map<String, Value>, k: &str) -> &'a str {
    biz.get(k).and_then(Value::as_str).unwrap_or("")
}

fn run(
    app: &App,
    req: &Request,
    force_confirm: bool,
    notes: &mut Vec<NewNotification>,
) -> Map<String, Value> {
    match req.method.as_str() {
        "alipay.trade.precreate" => create(app, req, Product::Qr, false, notes),
        "alipay.trade.pay" => create(app, req, Product::BarCode, force_confirm, notes),
        "alipay.trade.query" => query(app, req),
        "alipay.trade.close" => close(app, req, notes),
        "alipay.trade.cancel" => cancel(app, req, notes),
        "alipay.trade.refund" => refund(app, req, notes),
        "alipay.trade.fastpay.refund.query" => refund_query(app, req),
        _ => crate::bill::download_url(app, req),
    }
}

fn invalid_param(what: &str) -> Map<String, Value> {
    business("ACQ.INVALID_PARAMETER", &format!("参数无效: {what}"))
}

/// `timeout_express`: `1m`–`15d`, or `h`, `d`, `c` (the day's end, Beijing time; taken as 1 d).
fn timeout_minutes(value: &str) -> Option<i64> {
    let (n, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let m = match unit {
        "m" => n,
        "h" => n * 60,
        "d" | "c" => n * 1440,
        _ => return None,
    };
    (m <= 15 * 1440).then_some(m)
}

/// `time_expire`: the absolute time the trade closes unpaid, `yyyy-MM-dd HH:mm:ss` Beijing time.
fn time_expire(value: &str) -> Option<DateTime<Utc>> {
    let local = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(local.and_local_timezone(crate::app::beijing()).single()?.with_timezone(&Utc))
}

/// Validated parameters of a new trade.
pub struct NewTrade {
    pub out_trade_no: String,
    pub total_amount: i64,
    pub subject: String,
    pub timeout_minutes: i64,
    /// `time_expire`, which takes precedence over `timeout_express` (and its default).
    pub time_expire: Option<DateTime<Utc>>,
}

pub fn new_trade(app: &App, biz: &Map<String, Value>) -> Result<NewTrade, Map<String, Value>> {
    let out_trade_no = str_of(biz, "out_trade_no");
    if out_trade_no.is_empty() || out_trade_no.len() > 64 {
        return Err(invalid_param("out_trade_no"));
    }
    let amount = match biz.get("total_amount") {
        Some(Value::String(s)) => fen(s),
        Some(Value::Number(n)) => fen(&n.to_string()),
        _ => None,
    };
    let Some(total_amount) = amount.filter(|a| (1..=10_000_000_000).contains(a)) else {
        return Err(invalid_param("total_amount"));
    };
    let subject = str_of(biz, "subject");
    if subject.is_empty() || subject.chars().count() > 256 {
        return Err(invalid_param("subject"));
    }
    let timeout_minutes = match str_of(biz, "timeout_express") {
        "" => i64::try_from(app.settings().default_timeout_minutes).unwrap_or(120),
        v => timeout_minutes(v).ok_or_else(|| invalid_param("timeout_express"))?,
    };
    let time_expire = match str_of(biz, "time_expire") {
        "" => None,
        v => Some(time_expire(v).ok_or_else(|| invalid_param("time_expire"))?),
    };
    Ok(NewTrade {
        out_trade_no: out_trade_no.to_owned(),
        total_amount,
        subject: subject.to_owned(),
        timeout_minutes,
        time_expire,
    })
}

/// An existing trade asked to be created again.
fn repeated(t: &Trade, new: &NewTrade) -> Option<Map<String, Value>> {
    if t.total_amount != new.total_amount || t.subject != new.subject {
        return Some(business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"));
    }
    match t.status {
        TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
            Some(business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"))
        }
        TradeStatus::TradeClosed => Some(business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
        TradeStatus::WaitBuyerPay => None,
    }
}

/// Inserts a new trade (the book locked).
pub fn insert(
    app: &App,
    book: &mut crate::app::Book,
    req: &Request,
    new: &NewTrade,
    product: Product,
    visible: bool,
) -> TradeKey {
    let now = Utc::now();
    let n = app.next();
    let trade = Trade {
        app_id: req.app_id.clone(),
        out_trade_no: new.out_trade_no.clone(),
        trade_no: app.trade_no(),
        product,
        total_amount: new.total_amount,
        subject: new.subject.clone(),
        notify_url: req.notify_url.clone(),
        return_url: req.return_url.clone(),
        visible,
        status: TradeStatus::WaitBuyerPay,
        created_at: now,
        expires_at: new.time_expire.unwrap_or(now + ChronoDuration::minutes(new.timeout_minutes)),
        paid_at: None,
        closed_at: None,
        buyer_user_id: format!("2088{:012}", 102_000_000_000 + n),
        buyer_logon_id: format!("sim***@example.com{}", n % 10),
        confirming: false,
        cancel_action: None,
        charges: 0,
        refunds: Vec::new(),
        notification_ids: Vec::new(),
    };
    let key = (req.app_id.clone(), new.out_trade_no.clone());
    book.by_trade_no.insert(trade.trade_no.clone(), key.clone());
    book.trades.insert(key.clone(), trade);
    key
}

/// precreate (QR) and pay (bar_code).
fn create(
    app: &App,
    req: &Request,
    product: Product,
    force_confirm: bool,
    notes: &mut Vec<NewNotification>,
) -> Map<String, Value> {
    let new = match new_trade(app, &req.biz) {
        Ok(n) => n,
        Err(c) => return c,
    };
    if product == Product::BarCode {
        let scene = str_of(&req.biz, "scene");
        if scene != "bar_code" {
            return invalid_param("scene (alipaysim supports bar_code)");
        }
        let code = str_of(&req.biz, "auth_code");
        let ok = (16..=24).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_digit())
            && matches!(&code[..2], "25" | "26" | "27" | "28" | "29" | "30");
        if !ok {
            return business(
                "ACQ.PAYMENT_AUTH_CODE_INVALID",
                "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款",
            );
        }
    }
    let settings = app.settings();
    let mut book = app.book();
    let key = (req.app_id.clone(), new.out_trade_no.clone());
    let existing = book.trades.get(&key).cloned();
    let key = match existing {
        Some(t) => {
            if let Some(c) = repeated(&t, &new) {
                return c;
            }
            if product == Product::BarCode && !t.confirming {
                return business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭");
            }
            key
        }
        None => {
            let visible = product == Product::BarCode;
            let key = insert(app, &mut book, req, &new, product, visible);
            if product == Product::BarCode {
                let confirm = force_confirm
                    || settings.bar_code_confirm_above_fen.is_some_and(|above| new.total_amount > above);
                if confirm {
                    if let Some(t) = book.trades.get_mut(&key) {
                        t.confirming = true;
                    }
                    if let Some(ms) = settings.bar_code_confirm_after_ms {
                        schedule_pay(app, &key, book.generation, ms);
                    }
                } else if let Some(c) = pay_now(app, &mut book, &key, notes) {
                    return c;
                }
            } else if let Some(ms) = settings.auto_pay_after_ms {
                schedule_pay(app, &key, book.generation, ms);
            }
            key
        }
    };
    let Some(t) = book.trades.get(&key) else {
        return business("ACQ.SYSTEM_ERROR", "系统错误");
    };
    let mut c = content(if t.confirming { "10003" } else { "10000" }, None);
    c.insert("out_trade_no".into(), t.out_trade_no.clone().into());
    if product == Product::Qr {
        c.insert("qr_code".into(), format!("{}/qr/{}", app.base_url, t.trade_no).into());
        return c;
    }
    c.insert("trade_no".into(), t.trade_no.clone().into());
    c.insert("buyer_logon_id".into(), t.buyer_logon_id.clone().into());
    c.insert("total_amount".into(), yuan(t.total_amount).into());
    if t.status == TradeStatus::TradeSuccess {
        c.insert("receipt_amount".into(), yuan(t.total_amount).into());
        c.insert("buyer_pay_amount".into(), yuan(t.total_amount).into());
        c.insert("point_amount".into(), "0.00".into());
        c.insert("invoice_amount".into(), yuan(t.total_amount).into());
        c.insert("gmt_payment".into(), t.paid_at.map(bj).unwrap_or_default().into());
        c.insert("buyer_user_id".into(), t.buyer_user_id.clone().into());
        c.insert(
            "fund_bill_list".into(),
            json!([{"fund_channel": "ALIPAYACCOUNT", "amount": yuan(t.total_amount)}]),
        );
    }
    c
}

/// The customer pays (or is declined) now. `Some(answer)` when a barcode pay is declined.
pub fn pay_now(
    app: &App,
    book: &mut crate::app::Book,
    key: &TradeKey,
    notes: &mut Vec<NewNotification>,
) -> Option<Map<String, Value>> {
    let decline = app.kit.faults().charge(&key.0, &key.1);
    let t = book.trades.get_mut(key)?;
    if t.status != TradeStatus::WaitBuyerPay {
        return None;
    }
    let now = Utc::now();
    t.visible = true;
    t.confirming = false;
    if let Some(d) = decline {
        app.kit.stats().event(Event::Decline);
        let sub = d.code.unwrap_or_else(|| "ACQ.BUYER_BALANCE_NOT_ENOUGH".into());
        if t.product == Product::BarCode {
            t.status = TradeStatus::TradeClosed;
            t.closed_at = Some(now);
            notes.extend(notify::build(app, t, About::State));
        }
        // A QR or cashier payment that fails leaves the trade waiting: the customer may try again.
        return Some(business(&sub, "买家余额不足"));
    }
    t.status = TradeStatus::TradeSuccess;
    t.paid_at = Some(now);
    t.charges += 1;
    app.kit.stats().event(Event::Charge);
    notes.extend(notify::build(app, t, About::State));
    None
}

fn schedule_pay(app: &App, key: &TradeKey, generation: u64, ms: u64) {
    let (app2, key) = (app.clone(), key.clone());
    app.kit.spawn(async move {
        if app2.kit.sleep(Duration::from_millis(ms)).await {
            let mut notes = Vec::new();
            {
                let mut book = app2.book();
                if book.generation == generation {
                    pay_now(&app2, &mut book, &key, &mut notes);
                }
            }
            notify::dispatch(&app2, notes);
        }
    });
}

/// Closes the waiting trades whose time has come (the sweeper).
pub fn expire_due(app: &App) {
    let now = Utc::now();
    let mut notes = Vec::new();
    {
        let mut book = app.book();
        for t in book.trades.values_mut() {
            if t.status == TradeStatus::WaitBuyerPay && t.expires_at <= now {
                t.status = TradeStatus::TradeClosed;
                t.closed_at = Some(now);
                t.confirming = false;
                if t.visible {
                    notes.extend(notify::build(app, t, About::State));
                }
            }
        }
    }
    notify::dispatch(app, notes);
}

fn not_exist() -> Map<String, Value> {
    business("ACQ.TRADE_NOT_EXIST", "交易不存在")
}

/// The visible trade the request names.
fn located(book: &crate::app::Book, req: &Request) -> Option<TradeKey> {
    let key = book.find(&req.app_id, str_of(&req.biz, "out_trade_no"), str_of(&req.biz, "trade_no"))?;
    book.trades.get(&key).filter(|t| t.visible).map(|_| key)
}

fn ids(c: &mut Map<String, Value>, t: &Trade) {
    c.insert("trade_no".into(), t.trade_no.clone().into());
    c.insert("out_trade_no".into(), t.out_trade_no.clone().into());
}

fn query(app: &App, req: &Request) -> Map<String, Value> {
    let book = app.book();
    let Some(t) = located(&book, req).and_then(|k| book.trades.get(&k)) else {
        return not_exist();
    };
    let mut c = content("10000", None);
    ids(&mut c, t);
    c.insert("buyer_logon_id".into(), t.buyer_logon_id.clone().into());
    c.insert("trade_status".into(), t.status.as_str().into());
    c.insert("total_amount".into(), yuan(t.total_amount).into());
    if let Some(paid) = t.paid_at {
        c.insert("buyer_pay_amount".into(), yuan(t.total_amount).into());
        c.insert("receipt_amount".into(), yuan(t.total_amount).into());
        c.insert("point_amount".into(), "0.00".into());
        c.insert("invoice_amount".into(), yuan(t.total_amount).into());
        c.insert("send_pay_date".into(), bj(paid).into());
        c.insert("buyer_user_id".into(), t.buyer_user_id.clone().into());
    }
    c
}

fn close(app: &App, req: &Request, notes: &mut Vec<NewNotification>) -> Map<String, Value> {
    let mut book = app.book();
    let Some(key) = located(&book, req) else {
        return not_exist();
    };
    let Some(t) = book.trades.get_mut(&key) else {
        return not_exist();
    };
    if t.status != TradeStatus::WaitBuyerPay {
        return business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
    }
    t.status = TradeStatus::TradeClosed;
    t.closed_at = Some(Utc::now());
    t.confirming = false;
    notes.extend(notify::build(app, t, About::State));
    let mut c = content("10000", None);
    ids(&mut c, t);
    c
}

/// Cancel (reverse): closes an unpaid trade, refunds a paid one in full.
fn cancel(app: &App, req: &Request, notes: &mut Vec<NewNotification>) -> Map<String, Value> {
    let mut book = app.book();
    let Some(key) = located(&book, req) else {
        return not_exist();
    };
    let Some(t) = book.trades.get_mut(&key) else {
        return not_exist();
    };
    let now = Utc::now();
    let action = match (t.status, t.cancel_action) {
        (TradeStatus::TradeClosed, Some(a)) => a,
        (TradeStatus::WaitBuyerPay, _) => {
            t.status = TradeStatus::TradeClosed;
            t.closed_at = Some(now);
            t.confirming = false;
            t.cancel_action = Some("close");
            notes.extend(notify::build(app, t, About::State));
            "close"
        }
        (TradeStatus::TradeSuccess, _) if t.paid_at.is_some_and(|p| now - p < ChronoDuration::hours(24)) => {
            let rest = t.total_amount - t.refund_held();
            if rest > 0 {
                t.refunds.push(Refund {
                    out_request_no: t.out_trade_no.clone(),
                    amount: rest,
                    reason: Some("cancel".into()),
                    state: RefundState::Success,
                    fate: RefundFate::Succeed,
                    created_at: now,
                    completed_at: Some(now),
                    by_cancel: true,
                });
                app.kit.stats().event(Event::RefundCreated);
                app.kit.stats().event(Event::RefundSucceeded);
            }
            t.status = TradeStatus::TradeClosed;
            t.closed_at = Some(now);
            t.cancel_action = Some("refund");
            notes.extend(notify::build(app, t, About::Refund(&t.out_trade_no.clone(), now)));
            "refund"
        }
        _ => return business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
    };
    let mut c = content("10000", None);
    ids(&mut c, t);
    c.insert("retry_flag".into(), "N".into());
    c.insert("action".into(), action.into());
    c
}

fn refund(app: &App, req: &Request, notes: &mut Vec<NewNotification>) -> Map<String, Value> {
    let amount = match req.biz.get("refund_amount") {
        Some(Value::String(s)) => fen(s),
        Some(Value::Number(n)) => fen(&n.to_string()),
        _ => None,
    };
    let Some(amount) = amount.filter(|a| *a > 0) else {
        return invalid_param("refund_amount");
    };
    let given_request_no = str_of(&req.biz, "out_request_no");
    let reason = Some(str_of(&req.biz, "refund_reason").to_owned()).filter(|r| !r.is_empty());
    let settings = app.settings();
    let mut book = app.book();
    let generation = book.generation;
    let Some(key) = located(&book, req) else {
        return not_exist();
    };
    let request_no = if given_request_no.is_empty() { key.1.clone() } else { given_request_no.to_owned() };
    let Some(t) = book.trades.get_mut(&key) else {
        return not_exist();
    };
    let answer = |t: &Trade, fund_change: bool| {
        let mut c = content("10000", None);
        ids(&mut c, t);
        c.insert("buyer_logon_id".into(), t.buyer_logon_id.clone().into());
        c.insert("fund_change".into(), if fund_change { "Y" } else { "N" }.into());
        c.insert("refund_fee".into(), yuan(t.refunded()).into());
        c.insert("gmt_refund_pay".into(), bj(Utc::now()).into());
        c
    };
    if let Some(r) = t.refunds.iter().find(|r| r.out_request_no == request_no) {
        if r.amount != amount {
            return business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与原退款请求不一致");
        }
        return answer(t, false);
    }
    if t.status != TradeStatus::TradeSuccess {
        return business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
    }
    if given_request_no.is_empty() && amount != t.total_amount {
        return business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "撤销或退款金额与订单金额不一致");
    }
    if amount > t.total_amount - t.refund_held() {
        return business("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额超限");
    }
    let fate = app.kit.faults().refund_fate(&key.0, &key.1, &request_no);
    if fate == RefundFate::Fail {
        app.kit.stats().event(Event::RefundFailed);
        return business("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足");
    }
    let now = Utc::now();
    let at_once = fate == RefundFate::Succeed && settings.refund_delay_ms == 0;
    t.refunds.push(Refund {
        out_request_no: request_no.clone(),
        amount,
        reason,
        state: if at_once { RefundState::Success } else { RefundState::Processing },
        fate,
        created_at: now,
        completed_at: at_once.then_some(now),
        by_cancel: false,
    });
    app.kit.stats().event(Event::RefundCreated);
    if at_once {
        app.kit.stats().event(Event::RefundSucceeded);
        finish_refund_effects(app, t, &request_no, now, notes);
    } else if fate == RefundFate::Succeed {
        let (app2, key2, req2) = (app.clone(), key.clone(), request_no.clone());
        let ms = settings.refund_delay_ms;
        app.kit.spawn(async move {
            if app2.kit.sleep(Duration::from_millis(ms)).await {
                complete_refund(&app2, &key2, &req2, Some(generation));
            }
        });
    }
    answer(t, at_once)
}

/// After a refund succeeded: a full refund closes the trade; the notification.
fn finish_refund_effects(
    app: &App,
    t: &mut Trade,
    request_no: &str,
    at: chrono::DateTime<Utc>,
    notes: &mut Vec<NewNotification>,
) {
    if t.refunded() >= t.total_amount {
        t.status = TradeStatus::TradeClosed;
        t.closed_at = Some(at);
    }
    notes.extend(notify::build(app, t, About::Refund(request_no, at)));
}

/// Ends a refund in process (the delay timer, or the admin API with `generation` None).
pub fn complete_refund(app: &App, key: &TradeKey, request_no: &str, generation: Option<u64>) -> bool {
    let mut notes = Vec::new();
    let done = {
        let mut book = app.book();
        if generation.is_some_and(|g| g != book.generation) {
            return false;
        }
        let Some(t) = book.trades.get_mut(key) else {
            return false;
        };
        let now = Utc::now();
        let Some(r) = t.refunds.iter_mut().find(|r| r.out_request_no == request_no) else {
            return false;
        };
        if r.state != RefundState::Processing {
            return false;
        }
        r.state = RefundState::Success;
        r.completed_at = Some(now);
        app.kit.stats().event(Event::RefundSucceeded);
        finish_refund_effects(app, t, request_no, now, &mut notes);
        true
    };
    notify::dispatch(app, notes);
    done
}

fn refund_query(app: &App, req: &Request) -> Map<String, Value> {
    let book = app.book();
    let Some(t) = located(&book, req).and_then(|k| book.trades.get(&k)) else {
        return not_exist();
    };
    let request_no = match str_of(&req.biz, "out_request_no") {
        "" => t.out_trade_no.clone(),
        r => r.to_owned(),
    };
    let mut c = content("10000", None);
    ids(&mut c, t);
    c.insert("out_request_no".into(), request_no.clone().into());
    if let Some(r) =
        t.refunds.iter().find(|r| r.out_request_no == request_no && r.state == RefundState::Success)
    {
        c.insert("total_amount".into(), yuan(t.total_amount).into());
        c.insert("refund_amount".into(), yuan(r.amount).into());
        c.insert("refund_status".into(), "REFUND_SUCCESS".into());
        if let Some(at) = r.completed_at {
            c.insert("gmt_refund_pay".into(), bj(at).into());
        }
        if let Some(reason) = &r.reason {
            c.insert("refund_reason".into(), reason.clone().into());
        }
    }
    c
}

/// An HTTP status with a short text body.
pub fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    (status, text.into()).into_response()
}

/// A small HTML page.
pub fn html(body: String) -> Response {
    Html(format!("<!doctype html><meta charset=\"utf-8\"><title>alipaysim</title>{body}")).into_response()
}
