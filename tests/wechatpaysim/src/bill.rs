//! The trade bill (交易账单): `GET /v3/bill/tradebill?bill_date=yyyy-MM-DD[&bill_type=ALL|SUCCESS|
//! REFUND]` answers `{hash_type: "SHA1", hash_value, download_url}`; the signed
//! `GET /v3/billdownload/file?token=…` answers the file, unsigned (its SHA-1 is the proof).
//!
//! The file (WeChat Pay's "交易账单文件格式说明"): the detail header, one line per payment
//! (its day: the payment's success time) and per refund (its day: the time the refund was
//! accepted; its status a snapshot at download), the totals header and the totals row, fields
//! separated by commas, every detail and totals field prefixed with a backtick, amounts in yuan
//! with two decimals, times in Beijing time, lines ending `\r\n`. A day without lines answers
//! `400 NO_STATEMENT_EXIST`. simkit's bill faults are planted in the lines (and so in the totals,
//! which always add up: a planted discrepancy is between the bill and the merchant, not inside
//! the file).

use crate::api::serve;
use crate::app::App;
use crate::model::{Order, Refund, beijing};
use crate::wire::{Answer, param_error};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::Response;
use axum::routing::get;
use chrono::{NaiveDate, Utc};
use serde_json::json;
use sha1::{Digest, Sha1};
use simkit::bill::{self as kit_bill, BillFault, BillFaultKind};
use simkit::{Operation, lock};

/// The detail header of an ALL bill, as WeChat Pay writes it.
pub const HEADER: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

/// The totals header.
pub const TOTALS_HEADER: [&str; 7] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
];

pub(crate) fn routes() -> Router<App> {
    Router::new().route("/v3/bill/tradebill", get(tradebill)).route("/v3/billdownload/file", get(download))
}

pub(crate) fn query_param(uri: &Uri, key: &str) -> Option<String> {
    uri.query()?
        .split('&')
        .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.to_owned()))
}

/// Yuan with two decimals from fen (`-0.03` for -3).
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn rate(ppm: u64) -> String {
    // 6000 ppm is 0.60%.
    format!("{}.{:02}%", ppm / 10_000, (ppm % 10_000) / 100)
}

/// One detail line's values, in HEADER order.
struct Line {
    time: String,
    appid: String,
    mchid: String,
    txn: String,
    out_trade_no: String,
    openid: String,
    trade_type: String,
    trade_state: String,
    settlement: i64,
    refund_id: String,
    out_refund_no: String,
    refund: i64,
    refund_type: String,
    refund_status: String,
    product: String,
    attach: String,
    fee: i64,
    order: i64,
    requested_refund: i64,
}

fn payment_line(o: &Order, fee_ppm: u64) -> Line {
    let time = o.success_time.unwrap_or(o.created_at).with_timezone(&beijing());
    Line {
        time: time.format("%Y-%m-%d %H:%M:%S").to_string(),
        appid: o.appid.clone(),
        mchid: o.mchid.clone(),
        txn: o.transaction_id.clone().unwrap_or_default(),
        out_trade_no: o.out_trade_no.clone(),
        openid: o.payer_openid.clone().unwrap_or_default(),
        trade_type: o.kind.trade_type().to_owned(),
        trade_state: "SUCCESS".to_owned(),
        settlement: o.total,
        refund_id: "0".to_owned(),
        out_refund_no: "0".to_owned(),
        refund: 0,
        refund_type: String::new(),
        refund_status: String::new(),
        product: o.description.clone(),
        attach: o.attach.clone().unwrap_or_default(),
        fee: kit_bill::fee(o.total, fee_ppm),
        order: o.total,
        requested_refund: 0,
    }
}

fn refund_line(r: &Refund, o: Option<&Order>, fee_ppm: u64) -> Line {
    let time = r.created_at.with_timezone(&beijing());
    Line {
        time: time.format("%Y-%m-%d %H:%M:%S").to_string(),
        appid: o.map(|o| o.appid.clone()).unwrap_or_default(),
        mchid: r.mchid.clone(),
        txn: r.transaction_id.clone(),
        out_trade_no: r.out_trade_no.clone(),
        openid: o.and_then(|o| o.payer_openid.clone()).unwrap_or_default(),
        trade_type: o.map(|o| o.kind.trade_type().to_owned()).unwrap_or_default(),
        trade_state: "REFUND".to_owned(),
        settlement: 0,
        refund_id: r.refund_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        refund: r.refund,
        refund_type: "ORIGINAL".to_owned(),
        refund_status: r.status.as_str().to_owned(),
        product: o.map(|o| o.description.clone()).unwrap_or_default(),
        attach: o.and_then(|o| o.attach.clone()).unwrap_or_default(),
        fee: -kit_bill::fee(r.refund, fee_ppm),
        order: 0,
        requested_refund: r.refund,
    }
}

/// A CSV field with its backtick; quoted when it holds a comma or a quote.
pub(crate) fn field(v: &str) -> String {
    let v = format!("`{v}");
    if v.contains(',') || v.contains('"') { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
}

fn render_line(l: &Line, fee_ppm: u64) -> String {
    let values = [
        l.time.clone(),
        l.appid.clone(),
        l.mchid.clone(),
        "0".into(),
        String::new(),
        l.txn.clone(),
        l.out_trade_no.clone(),
        l.openid.clone(),
        l.trade_type.clone(),
        l.trade_state.clone(),
        "OTHERS".into(),
        "CNY".into(),
        yuan(l.settlement),
        yuan(0),
        l.refund_id.clone(),
        l.out_refund_no.clone(),
        yuan(l.refund),
        yuan(0),
        l.refund_type.clone(),
        l.refund_status.clone(),
        l.product.clone(),
        l.attach.clone(),
        yuan(l.fee),
        rate(fee_ppm),
        yuan(l.order),
        yuan(l.requested_refund),
        String::new(),
    ];
    values.iter().map(|v| field(v)).collect::<Vec<_>>().join(",")
}

/// The lines of `mchid`'s bill of `day` (Beijing), with the bill faults planted.
fn lines(app: &App, mchid: &str, day: NaiveDate, bill_type: &str, fee_ppm: u64) -> Vec<Line> {
    let faults = app.kit.bill_faults().clone();
    let ledger = app.ledger();
    let on_day = |t: chrono::DateTime<Utc>| t.with_timezone(&beijing()).date_naive() == day;
    let mut out: Vec<(String, Line)> = Vec::new();
    if bill_type != "REFUND" {
        for o in ledger.orders.values().filter(|o| o.mchid == mchid && o.charges > 0) {
            if !o.success_time.is_some_and(on_day) {
                continue;
            }
            let no = Some(o.out_trade_no.as_str());
            if kit_bill::find(&faults, BillFaultKind::DropLine, no, None).is_some() {
                continue;
            }
            let mut l = payment_line(o, fee_ppm);
            if let Some(f) = kit_bill::find(&faults, BillFaultKind::Amount, no, None) {
                l.order = f.amount.unwrap_or(l.order);
                l.settlement = l.order;
            }
            if let Some(f) = kit_bill::find(&faults, BillFaultKind::Fee, no, None) {
                l.fee = f.fee.unwrap_or(l.fee);
            }
            if let Some(f) = kit_bill::find(&faults, BillFaultKind::Status, no, None) {
                l.trade_state = f.status.clone().unwrap_or(l.trade_state);
            }
            if let Some(f) = kit_bill::find(&faults, BillFaultKind::DuplicatePayment, no, None) {
                let mut dup = payment_line(o, fee_ppm);
                dup.txn = f.transaction_id.clone().unwrap_or_default();
                out.push((dup.time.clone(), dup));
            }
            out.push((l.time.clone(), l));
        }
    }
    if bill_type != "SUCCESS" {
        for r in ledger.refunds.values().filter(|r| r.mchid == mchid && on_day(r.created_at)) {
            let rid = Some(r.out_refund_no.as_str());
            if kit_bill::find(&faults, BillFaultKind::DropLine, None, rid).is_some() {
                continue;
            }
            let o = ledger.order(mchid, &r.out_trade_no);
            let mut l = refund_line(r, o, fee_ppm);
            if let Some(f) = kit_bill::find(&faults, BillFaultKind::Amount, None, rid) {
                l.refund = f.amount.unwrap_or(l.refund);
                l.requested_refund = l.refund;
            }
            if let Some(f) = kit_bill::find(&faults, BillFaultKind::Status, None, rid) {
                l.refund_status = f.status.clone().unwrap_or(l.refund_status);
            }
            out.push((l.time.clone(), l));
        }
    }
    for f in faults.iter().filter(|f| f.date == Some(day)) {
        let now = format!("{day} 12:00:00");
        let amount = f.amount.unwrap_or(0);
        let template = Line {
            time: now.clone(),
            appid: String::new(),
            mchid: mchid.to_owned(),
            txn: f.transaction_id.clone().unwrap_or_default(),
            out_trade_no: f.order_id.clone().unwrap_or_default(),
            openid: String::new(),
            trade_type: "NATIVE".into(),
            trade_state: "SUCCESS".into(),
            settlement: amount,
            refund_id: "0".into(),
            out_refund_no: "0".into(),
            refund: 0,
            refund_type: String::new(),
            refund_status: String::new(),
            product: "planted".into(),
            attach: String::new(),
            fee: kit_bill::fee(amount, fee_ppm),
            order: amount,
            requested_refund: 0,
        };
        match f.kind {
            BillFaultKind::AddPayment if bill_type != "REFUND" => out.push((now, template)),
            BillFaultKind::AddRefund if bill_type != "SUCCESS" => out.push((
                now,
                Line {
                    trade_state: "REFUND".into(),
                    settlement: 0,
                    refund_id: format!("50{}", f.transaction_id.clone().unwrap_or_default()),
                    out_refund_no: f.refund_id.clone().unwrap_or_default(),
                    refund: amount,
                    refund_type: "ORIGINAL".into(),
                    refund_status: "SUCCESS".into(),
                    fee: -kit_bill::fee(amount, fee_ppm),
                    order: 0,
                    requested_refund: amount,
                    ..template
                },
            )),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.out_trade_no.cmp(&b.1.out_trade_no)));
    out.into_iter().map(|(_, l)| l).collect()
}

/// The bill file of `mchid`'s `day`, or None when the day has no lines.
pub(crate) fn render(app: &App, mchid: &str, day: NaiveDate, bill_type: &str) -> Option<Vec<u8>> {
    let s = app.settings();
    let lines = lines(app, mchid, day, bill_type, s.fee_ppm);
    if lines.is_empty() {
        return None;
    }
    let mut out = String::new();
    if s.bill_utf8_bom {
        out.push('\u{feff}');
    }
    out.push_str(&HEADER.join(","));
    out.push_str("\r\n");
    let (mut settlement, mut refund, mut fee, mut order, mut requested) = (0i64, 0i64, 0i64, 0i64, 0i64);
    for l in &lines {
        out.push_str(&render_line(l, s.fee_ppm));
        out.push_str("\r\n");
        settlement += l.settlement;
        refund += l.refund;
        fee += l.fee;
        order += l.order;
        requested += l.requested_refund;
    }
    out.push_str(&TOTALS_HEADER.join(","));
    out.push_str("\r\n");
    let totals = [
        lines.len().to_string(),
        yuan(settlement),
        yuan(refund),
        yuan(0),
        yuan(fee),
        yuan(order),
        yuan(requested),
    ];
    out.push_str(&totals.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    Some(out.into_bytes())
}

async fn tradebill(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let date = query_param(&uri, "bill_date");
    let bill_type = query_param(&uri, "bill_type").unwrap_or_else(|| "ALL".into());
    let tar = query_param(&uri, "tar_type");
    serve(
        &app,
        Operation::Query,
        |_, _| None,
        (method, uri, headers, body),
        |app, authed| {
            let Some(date) = date else { return param_error("bill_date: 必填, yyyy-MM-DD") };
            let Ok(day) = NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
                return param_error("bill_date: must be yyyy-MM-DD");
            };
            if !matches!(bill_type.as_str(), "ALL" | "SUCCESS" | "REFUND") {
                return param_error("bill_type: ALL, SUCCESS or REFUND");
            }
            if tar.is_some() {
                return param_error("tar_type: GZIP is not simulated; leave it out");
            }
            if day > Utc::now().with_timezone(&beijing()).date_naive() {
                return Answer::error(400, "INVALID_REQUEST", "账单日期不能晚于今天");
            }
            located(app, render(app, &authed.mchid, day, &bill_type))
        },
    )
    .await
}

/// The bill APIs' answer for a rendered file: kept under a fresh token, `{hash_type: "SHA1",
/// hash_value, download_url}`; no file is `400 NO_STATEMENT_EXIST`.
pub(crate) fn located(app: &App, file: Option<Vec<u8>>) -> Answer {
    let Some(file) = file else {
        return Answer::error(400, "NO_STATEMENT_EXIST", "账单文件不存在");
    };
    let hash = hex::encode(Sha1::digest(&file));
    let token = crate::wire::nonce();
    lock(&app.bills).insert(token.clone(), file);
    Answer::ok(json!({
        "hash_type": "SHA1",
        "hash_value": hash,
        "download_url": format!("{}/v3/billdownload/file?token={token}", app.base_url),
    }))
}

async fn download(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(answer) = crate::wire::authenticate(&app, &method, &uri, &headers, &body) {
        return crate::wire::respond(&app, answer);
    }
    let file = query_param(&uri, "token").and_then(|t| lock(&app.bills).get(&t).cloned());
    match file {
        Some(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert("Content-Type", HeaderValue::from_static("text/plain; charset=utf-8"));
            r
        }
        None => crate::wire::respond(&app, Answer::error(404, "RESOURCE_NOT_EXISTS", "下载链接无效或已过期")),
    }
}

/// Checks a bill fault and gives an added line its WeChat-style transaction id.
pub(crate) fn register_fault(app: &App, mut f: BillFault) -> Result<BillFault, String> {
    f.validate()?;
    if let Some(c) = &f.currency
        && c != "CNY"
    {
        return Err("currency: WeChat Pay bills are CNY only".into());
    }
    if matches!(
        f.kind,
        BillFaultKind::DuplicatePayment | BillFaultKind::AddPayment | BillFaultKind::AddRefund
    ) {
        f.transaction_id = Some(app.ledger().next_id("4200", Utc::now()));
    }
    app.kit.bill_faults().push(f.clone());
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_and_rates() {
        assert_eq!(yuan(1999), "19.99");
        assert_eq!(yuan(-3), "-0.03");
        assert_eq!(yuan(0), "0.00");
        assert_eq!(rate(6000), "0.60%");
        assert_eq!(rate(38_000), "3.80%");
        assert_eq!(field("a,b"), "\"`a,b\"");
    }
}
