//! The signed merchant API: Native / JSAPI / H5 create, query by out_trade_no, close, refund and
//! refund query (the trade bill is in [`crate::bill`]). Each request is authenticated, then its
//! transport fault is drawn (simkit), then it is processed under the ledger's lock and the
//! answer is signed.
//!
//! State rules (WeChat Pay's v3 pages): an order is `NOTPAY` until the customer pays
//! (`SUCCESS`, or `PAYERROR` when the charge fails); `time_expire` stops the customer paying but
//! does not close the order (only the close API does: `CLOSED`); a paid order cannot be closed
//! (`ORDERPAID`); a repeated create with the same parameters answers the same `code_url` /
//! `prepay_id` / `h5_url`, with other parameters `OUT_TRADE_NO_USED`. Refunds are accepted as
//! `PROCESSING` and end `SUCCESS`, `ABNORMAL` (or `CLOSED` through the admin API); the refunds of
//! an order never exceed its total (a CLOSED refund gives its amount back); `out_refund_no` is
//! the idempotency key. Only a successful payment is notified; a refund is notified when it ends.

use crate::app::App;
use crate::model::{Kind, Order, Refund, RefundStatus, TradeState, wechat_time};
use crate::notify;
use crate::wire::{self, Answer, Authed, invalid_request, param_error, respond};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use simkit::stats::Event;
use simkit::{Operation, RefundFate, TransportFault};
use std::time::Duration;

/// At most this many refunds per order (WeChat Pay: 50 partial refunds).
pub const MAX_REFUNDS_PER_ORDER: usize = 50;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v3/pay/transactions/native", post(native))
        .route("/v3/pay/transactions/jsapi", post(jsapi))
        .route("/v3/pay/transactions/h5", post(h5))
        .route("/v3/pay/transactions/out-trade-no/{no}", get(query))
        .route("/v3/pay/transactions/out-trade-no/{no}/close", post(close))
        .route("/v3/refund/domestic/refunds", post(refund))
        .route("/v3/refund/domestic/refunds/{no}", get(refund_query))
}

/// One request: authenticated, its transport fault applied, processed by `f`, signed.
pub(crate) async fn serve(
    app: &App,
    op: Operation,
    order_of: impl FnOnce(&App, &Authed) -> Option<String>,
    (method, uri, headers, body): (Method, Uri, HeaderMap, Bytes),
    f: impl FnOnce(&App, Authed) -> Answer,
) -> Response {
    let authed = match wire::authenticate(app, &method, &uri, &headers, &body) {
        Ok(a) => a,
        Err(answer) => {
            app.kit.stats().request(op.as_str(), &answer.outcome());
            return respond(app, answer);
        }
    };
    let order = order_of(app, &authed);
    let decision = app.kit.faults().transport(op, &authed.mchid, order.as_deref());
    if !app.kit.sleep(decision.latency).await {
        return simkit::dropped_response();
    }
    let hold = Duration::from_millis(app.settings().timeout_hold_ms);
    let early = match decision.fault {
        Some(TransportFault::Timeout) => {
            app.kit.stats().request(op.as_str(), "timeout");
            return app.kit.hold_and_drop(hold).await;
        }
        Some(TransportFault::Http500) => Some(wire::system_error()),
        Some(TransportFault::HeaderError) => Some(wire::sign_error("签名错误")),
        Some(TransportFault::NotFound) if op == Operation::RefundQuery => {
            Some(Answer::error(404, "RESOURCE_NOT_EXISTS", "退款单不存在"))
        }
        Some(TransportFault::NotFound) => Some(Answer::error(404, "ORDER_NOT_EXIST", "订单不存在")),
        Some(TransportFault::InProcess) => Some(Answer::error(429, "FREQUENCY_LIMITED", "频率超限")),
        Some(TransportFault::LostResponse) | None => None,
    };
    if let Some(answer) = early {
        app.kit.stats().request(op.as_str(), &answer.outcome());
        return respond(app, answer);
    }
    let answer = f(app, authed);
    if decision.fault == Some(TransportFault::LostResponse) {
        app.kit.stats().request(op.as_str(), "lost_response");
        return app.kit.hold_and_drop(hold).await;
    }
    app.kit.stats().request(op.as_str(), &answer.outcome());
    respond(app, answer)
}

fn json_of(body: &str) -> Result<Value, Answer> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| param_error(&format!("the body is not JSON: {e}")))?;
    if v.is_object() { Ok(v) } else { Err(param_error("the body must be a JSON object")) }
}

fn text(v: &Value, field: &str, max_chars: usize) -> Result<String, Answer> {
    let mut cur = v;
    for part in field.split('.') {
        cur = &cur[part];
    }
    match cur.as_str() {
        Some(s) if !s.trim().is_empty() && s.chars().count() <= max_chars => Ok(s.to_owned()),
        Some(s) if !s.trim().is_empty() => {
            Err(param_error(&format!("{field}: at most {max_chars} characters")))
        }
        _ => Err(param_error(&format!(
            "输入源“/body/{}”映射到字段“{field}”必填性规则校验失败，此字段为必填项",
            field.replace('.', "/")
        ))),
    }
}

fn optional_text(v: &Value, field: &str, max_chars: usize) -> Result<Option<String>, Answer> {
    match &v[field] {
        Value::Null => Ok(None),
        _ => text(v, field, max_chars).map(Some),
    }
}

/// `out_trade_no` (6 to 32) or `out_refund_no` (1 to 64): A-Z a-z 0-9 and `_ - | * @`.
fn check_number(field: &str, n: &str, min: usize, max: usize) -> Result<(), Answer> {
    let ok = (min..=max).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(param_error(&format!("{field}: {min} to {max} characters of A-Z a-z 0-9 _-|*@")))
    }
}

fn amount_field(v: &Value, field: &str) -> Result<i64, Answer> {
    let mut cur = v;
    for part in field.split('.') {
        cur = &cur[part];
    }
    match cur.as_i64() {
        Some(n) if n >= 1 => Ok(n),
        Some(_) => Err(param_error(&format!("{field}: must be at least 1 (fen)"))),
        None => Err(param_error(&format!("{field}: must be an integer number of fen"))),
    }
}

fn check_currency(v: &Value, field: &str) -> Result<(), Answer> {
    match v["amount"]["currency"].as_str() {
        None | Some("CNY") => Ok(()),
        Some(other) => Err(param_error(&format!("{field}: only CNY is accepted (got {other})"))),
    }
}

fn check_notify_url(url: &str) -> Result<(), Answer> {
    let parsed = reqwest::Url::parse(url).map_err(|_| param_error("notify_url: must be a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.query().is_some() {
        return Err(param_error("notify_url: an http(s) URL without parameters (通知URL不能携带参数)"));
    }
    Ok(())
}

fn check_mchid(authed: &Authed, mchid: &str) -> Result<(), Answer> {
    if mchid == authed.mchid {
        Ok(())
    } else {
        Err(param_error("mchid: must be the merchant that signs the request"))
    }
}

fn out_trade_no_of_body(body: &str) -> Option<String> {
    serde_json::from_str::<Value>(body).ok().and_then(|v| v["out_trade_no"].as_str().map(str::to_owned))
}

type Parts = (Method, Uri, HeaderMap, Bytes);

async fn native(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(app, Kind::Native, (method, uri, headers, body)).await
}

async fn jsapi(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(app, Kind::Jsapi, (method, uri, headers, body)).await
}

async fn h5(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    create(app, Kind::H5, (method, uri, headers, body)).await
}

async fn create(app: App, kind: Kind, parts: Parts) -> Response {
    serve(
        &app,
        Operation::Pay,
        |_, a| out_trade_no_of_body(&a.body),
        parts,
        |app, authed| create_order(app, kind, &authed).unwrap_or_else(|e| e),
    )
    .await
}

fn create_order(app: &App, kind: Kind, authed: &Authed) -> Result<Answer, Answer> {
    let v = json_of(&authed.body)?;
    let appid = text(&v, "appid", 32)?;
    let mchid = text(&v, "mchid", 32)?;
    let description = text(&v, "description", 127)?;
    let out_trade_no = text(&v, "out_trade_no", 32)?;
    let notify_url = text(&v, "notify_url", 255)?;
    let total = amount_field(&v, "amount.total")?;
    check_currency(&v, "amount.currency")?;
    let attach = optional_text(&v, "attach", 128)?;
    check_mchid(authed, &mchid)?;
    check_number("out_trade_no", &out_trade_no, 6, 32)?;
    check_notify_url(&notify_url)?;
    let time_expire = match v["time_expire"].as_str() {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| param_error("time_expire: must be RFC 3339, yyyy-MM-DDTHH:mm:ss+TIMEZONE"))?,
        ),
    };
    let openid = match kind {
        Kind::Jsapi => Some(text(&v, "payer.openid", 128)?),
        _ => None,
    };
    if kind == Kind::H5 {
        let ip = text(&v, "scene_info.payer_client_ip", 45)?;
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(param_error("scene_info.payer_client_ip: must be an IPv4 or IPv6 address"));
        }
        text(&v, "scene_info.h5_info.type", 32)?;
    }
    let merchant =
        app.merchant(&mchid).ok_or_else(|| Answer::error(400, "MCH_NOT_EXISTS", "商户号不存在"))?;
    if !merchant.config.appids.iter().any(|a| a == &appid) {
        return Err(Answer::error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配"));
    }
    let fingerprint =
        json!([kind.trade_type(), appid, description, total, notify_url, openid, attach]).to_string();
    let now = Utc::now();
    let mut ledger = app.ledger();
    if let Some(o) = ledger.order(&mchid, &out_trade_no) {
        if o.state.is_paid() {
            return Err(Answer::error(400, "ORDERPAID", "该订单已支付"));
        }
        if matches!(o.state, TradeState::Closed | TradeState::Revoked) {
            return Err(Answer::error(400, "ORDER_CLOSED", "订单已关闭"));
        }
        if o.fingerprint != fingerprint {
            return Err(Answer::error(403, "OUT_TRADE_NO_USED", "商户订单号重复"));
        }
        return Ok(created(o));
    }
    let prepay = ledger.next_id("wx", now);
    let action = match kind {
        Kind::Native => format!("weixin://wxpay/bizpayurl?pr={}", &wire::nonce()[..9]),
        Kind::Jsapi => prepay,
        Kind::H5 => format!(
            "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay}&package={}",
            &wire::nonce()[..10]
        ),
    };
    let order = Order {
        mchid: mchid.clone(),
        appid,
        out_trade_no: out_trade_no.clone(),
        kind,
        description,
        total,
        notify_url,
        attach,
        time_expire,
        fingerprint,
        payer_openid: openid,
        state: TradeState::Notpay,
        transaction_id: None,
        success_time: None,
        action,
        created_at: now,
        charges: 0,
        refunds: Vec::new(),
        notifications: Vec::new(),
    };
    let answer = created(&order);
    ledger.orders.insert((mchid, out_trade_no), order);
    Ok(answer)
}

fn created(o: &Order) -> Answer {
    match o.kind {
        Kind::Native => Answer::ok(json!({ "code_url": o.action })),
        Kind::Jsapi => Answer::ok(json!({ "prepay_id": o.action })),
        Kind::H5 => Answer::ok(json!({ "h5_url": o.action })),
    }
}

/// A transaction as the query answers it and the notification carries it.
pub(crate) fn transaction_json(o: &Order) -> Value {
    let mut t = json!({
        "appid": o.appid,
        "mchid": o.mchid,
        "out_trade_no": o.out_trade_no,
        "trade_state": o.state.as_str(),
        "trade_state_desc": o.state.desc(),
        "amount": { "total": o.total, "currency": "CNY" },
    });
    if let Some(a) = &o.attach {
        t["attach"] = json!(a);
    }
    if let Some(id) = &o.transaction_id {
        t["transaction_id"] = json!(id);
    }
    if o.state.is_paid() {
        t["trade_type"] = json!(o.kind.trade_type());
        t["bank_type"] = json!("OTHERS");
        t["amount"] =
            json!({ "total": o.total, "payer_total": o.total, "currency": "CNY", "payer_currency": "CNY" });
        t["payer"] = json!({ "openid": o.payer_openid.clone().unwrap_or_default() });
    }
    if let Some(s) = o.success_time {
        t["success_time"] = json!(wechat_time(s));
    }
    t
}

fn mchid_query(uri: &Uri) -> Option<String> {
    let q = uri.query()?;
    q.split('&').find_map(|kv| kv.strip_prefix("mchid=").map(str::to_owned))
}

async fn query(
    State(app): State<App>,
    Path(no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let q = mchid_query(&uri);
    serve(
        &app,
        Operation::Query,
        |_, _| Some(no.clone()),
        (method, uri, headers, body),
        |app, authed| {
            match q {
                None => return param_error("mchid: 必填 (query)"),
                Some(m) if m != authed.mchid => {
                    return param_error("mchid: must be the merchant that signs the request");
                }
                Some(_) => {}
            }
            match app.ledger().order(&authed.mchid, &no) {
                Some(o) => Answer::ok(transaction_json(o)),
                None => Answer::error(404, "ORDER_NOT_EXIST", "订单不存在"),
            }
        },
    )
    .await
}

async fn close(
    State(app): State<App>,
    Path(no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(
        &app,
        Operation::Close,
        |_, _| Some(no.clone()),
        (method, uri, headers, body),
        |app, authed| {
            let mchid = match json_of(&authed.body).and_then(|v| text(&v, "mchid", 32)) {
                Ok(m) => m,
                Err(e) => return e,
            };
            if let Err(e) = check_mchid(&authed, &mchid) {
                return e;
            }
            let mut ledger = app.ledger();
            match ledger.order_mut(&mchid, &no) {
                // A close of a number WeChat Pay does not know answers 204 too (reported by
                // developers on WeChat's own community; the pages document no error for it).
                None => Answer::no_content(),
                Some(o) if o.state.is_paid() => Answer::error(400, "ORDERPAID", "订单已支付"),
                Some(o) => {
                    if !matches!(o.state, TradeState::Closed | TradeState::Revoked) {
                        o.state = TradeState::Closed;
                    }
                    Answer::no_content()
                }
            }
        },
    )
    .await
}

/// A refund as the create and the query answer it.
pub(crate) fn refund_json(r: &Refund) -> Value {
    let mut v = json!({
        "refund_id": r.refund_id,
        "out_refund_no": r.out_refund_no,
        "transaction_id": r.transaction_id,
        "out_trade_no": r.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": wechat_time(r.created_at),
        "status": r.status.as_str(),
        "funds_account": "AVAILABLE",
        "amount": {
            "total": r.total, "refund": r.refund, "from": [], "payer_total": r.total, "payer_refund": r.refund,
            "settlement_refund": r.refund, "settlement_total": r.total, "discount_refund": 0,
            "currency": "CNY", "refund_fee": 0
        },
        "promotion_detail": [],
    });
    if let Some(t) = r.success_time {
        v["success_time"] = json!(wechat_time(t));
    }
    v
}

async fn refund(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(
        &app,
        Operation::Refund,
        |_, a| out_trade_no_of_body(&a.body),
        (method, uri, headers, body),
        |app, authed| create_refund(app, &authed).unwrap_or_else(|e| e),
    )
    .await
}

fn create_refund(app: &App, authed: &Authed) -> Result<Answer, Answer> {
    let v = json_of(&authed.body)?;
    let out_refund_no = text(&v, "out_refund_no", 64)?;
    check_number("out_refund_no", &out_refund_no, 1, 64)?;
    optional_text(&v, "reason", 80)?;
    let notify_url = optional_text(&v, "notify_url", 256)?;
    if let Some(u) = &notify_url {
        check_notify_url(u)?;
    }
    let refund = amount_field(&v, "amount.refund")?;
    let total = amount_field(&v, "amount.total")?;
    match v["amount"]["currency"].as_str() {
        Some("CNY") => {}
        _ => return Err(param_error("amount.currency: 必填, CNY")),
    }
    let by_txn = v["transaction_id"].as_str().map(str::to_owned);
    let by_no = v["out_trade_no"].as_str().map(str::to_owned);
    let mchid = authed.mchid.clone();
    let now = Utc::now();
    let mut ledger = app.ledger();
    let order = match (&by_txn, &by_no) {
        (Some(t), _) => {
            ledger.orders.values().find(|o| o.mchid == mchid && o.transaction_id.as_deref() == Some(t))
        }
        (None, Some(n)) => ledger.order(&mchid, n),
        (None, None) => return Err(param_error("transaction_id或out_trade_no必填其一")),
    }
    .cloned()
    .ok_or_else(|| Answer::error(404, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
    if let Some(existing) = ledger.refunds.get(&(mchid.clone(), out_refund_no.clone())) {
        if existing.out_trade_no == order.out_trade_no && existing.refund == refund && existing.total == total
        {
            return Ok(Answer::ok(refund_json(existing)));
        }
        return Err(invalid_request("同一商户退款单号的退款参数与原请求不一致"));
    }
    if !order.state.is_paid() {
        return Err(invalid_request("订单未支付，不能退款"));
    }
    if total != order.total {
        return Err(invalid_request("amount.total与原订单金额不一致"));
    }
    if order.refunds.len() >= MAX_REFUNDS_PER_ORDER {
        return Err(invalid_request("订单退款次数超过限制"));
    }
    let refundable = order.total - ledger.committed_refunds(&mchid, &order.out_trade_no);
    if refund > refundable {
        return Err(invalid_request("申请退款金额超过订单可退金额"));
    }
    let fate = app.kit.faults().refund_fate(&mchid, &order.out_trade_no, &out_refund_no);
    let r = Refund {
        mchid: mchid.clone(),
        out_refund_no: out_refund_no.clone(),
        refund_id: ledger.next_id("50", now),
        out_trade_no: order.out_trade_no.clone(),
        transaction_id: order.transaction_id.clone().unwrap_or_default(),
        refund,
        total,
        notify_url,
        status: RefundStatus::Processing,
        created_at: now,
        success_time: None,
    };
    ledger.refunds.insert((mchid.clone(), out_refund_no.clone()), r);
    if let Some(o) = ledger.order_mut(&mchid, &order.out_trade_no) {
        o.refunds.push(out_refund_no.clone());
    }
    drop(ledger);
    app.kit.stats().event(Event::RefundCreated);
    let delay = app.settings().refund_delay_ms;
    let end = match fate {
        RefundFate::Succeed => Some(RefundStatus::Success),
        RefundFate::Fail => Some(RefundStatus::Abnormal),
        RefundFate::ProcessingForever => None,
    };
    if let Some(status) = end {
        if delay == 0 {
            complete_refund(app, &mchid, &out_refund_no, status);
        } else {
            let (app2, no) = (app.clone(), out_refund_no.clone());
            app.kit.spawn(async move {
                if app2.kit.sleep(Duration::from_millis(delay)).await {
                    complete_refund(&app2, &mchid, &no, status);
                }
            });
        }
    }
    let ledger = app.ledger();
    let r = ledger.refunds.get(&(authed.mchid.clone(), out_refund_no)).expect("just inserted");
    Ok(Answer::ok(refund_json(r)))
}

/// Ends a PROCESSING refund (a no-op on one that ended); notifies it. Returns its status.
pub(crate) fn complete_refund(
    app: &App,
    mchid: &str,
    out_refund_no: &str,
    status: RefundStatus,
) -> Option<RefundStatus> {
    let mut ledger = app.ledger();
    let r = ledger.refunds.get_mut(&(mchid.to_owned(), out_refund_no.to_owned()))?;
    if r.status != RefundStatus::Processing || status == RefundStatus::Processing {
        return Some(r.status);
    }
    r.status = status;
    if status == RefundStatus::Success {
        r.success_time = Some(Utc::now());
    }
    let r = r.clone();
    if status == RefundStatus::Success
        && let Some(o) = ledger.order_mut(mchid, &r.out_trade_no)
    {
        o.state = TradeState::Refund;
    }
    drop(ledger);
    app.kit.stats().event(if status == RefundStatus::Success {
        Event::RefundSucceeded
    } else {
        Event::RefundFailed
    });
    notify::refund_ended(app, &r);
    Some(status)
}

async fn refund_query(
    State(app): State<App>,
    Path(no): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let no2 = no.clone();
    serve(
        &app,
        Operation::RefundQuery,
        move |app, a| app.ledger().refunds.get(&(a.mchid.clone(), no2)).map(|r| r.out_trade_no.clone()),
        (method, uri, headers, body),
        |app, authed| match app.ledger().refunds.get(&(authed.mchid.clone(), no)) {
            Some(r) => Answer::ok(refund_json(r)),
            None => Answer::error(404, "RESOURCE_NOT_EXISTS", "退款单不存在"),
        },
    )
    .await
}

/// The customer pays an order (admin API): SUCCESS and TRANSACTION.SUCCESS, or PAYERROR when
/// the charge is declined (a fault). Refused for an order that cannot be paid now.
pub(crate) fn customer_pays(app: &App, no: &str, openid: Option<String>) -> Result<Value, String> {
    let now = Utc::now();
    let mut ledger = app.ledger();
    let o = ledger.find_order(no).cloned().ok_or_else(|| format!("no order {no}"))?;
    if !matches!(o.state, TradeState::Notpay | TradeState::Userpaying | TradeState::Payerror) {
        return Err(format!("order {no} is {}: it cannot be paid", o.state.as_str()));
    }
    if o.time_expire.is_some_and(|t| t.with_timezone(&Utc) < now) {
        return Err(format!("order {no} expired at its time_expire: it cannot be paid"));
    }
    let declined = app.kit.faults().charge(&o.mchid, no);
    let txn = ledger.next_id("4200", now);
    let o = ledger.order_mut(&o.mchid, no).expect("found above");
    if declined.is_some() {
        o.state = TradeState::Payerror;
        let t = transaction_json(o);
        drop(ledger);
        app.kit.stats().event(Event::Decline);
        return Ok(t);
    }
    o.state = TradeState::Success;
    o.transaction_id = Some(txn);
    o.success_time = Some(now);
    o.charges += 1;
    if o.payer_openid.is_none() {
        o.payer_openid = Some(openid.unwrap_or_else(|| format!("oSim{}", &wire::nonce()[..24])));
    }
    let o = o.clone();
    drop(ledger);
    app.kit.stats().event(Event::Charge);
    notify::transaction_success(app, &o);
    Ok(transaction_json(&o))
}

/// Sets an unpaid order USERPAYING (admin API; the customer is entering the password).
pub(crate) fn customer_paying(app: &App, no: &str) -> Result<Value, String> {
    let mut ledger = app.ledger();
    let mchid = ledger.find_order(no).map(|o| o.mchid.clone()).ok_or_else(|| format!("no order {no}"))?;
    let o = ledger.order_mut(&mchid, no).expect("found above");
    if o.state != TradeState::Notpay {
        return Err(format!("order {no} is {}", o.state.as_str()));
    }
    o.state = TradeState::Userpaying;
    Ok(transaction_json(o))
}
