//! The fund-flow bill (资金账单), the settlement: `GET /v3/bill/fundflowbill?bill_date=yyyy-MM-DD
//! [&account_type=BASIC]` answers `{hash_type: "SHA1", hash_value, download_url}` like the trade
//! bill, and the file downloads from the same `GET /v3/billdownload/file?token=…` ([`crate::bill`]).
//!
//! The file, as WeChat Pay's "资金账单结构说明" page describes it: the header [`HEADER`]; one
//! line per movement of the basic account's money, every value prefixed with a backtick; the
//! totals title [`TOTALS_HEADER`] and one totals row whose counts are written `20.0` as in the
//! page's example; amounts in yuan, always positive, their direction in `收支类型`; times in
//! Beijing time; lines ending `\r\n`.
//!
//! What the books put in it, on the Beijing day: each charged order at its success time, a `交易`
//! income line (微信支付业务单号 the transaction id, 业务凭证号 the `out_trade_no`) followed by its
//! `扣除交易手续费` expense line (the fee at `fee_ppm`); each refund that succeeded, at its success
//! time, a `退款` expense line (the refund id, the `out_refund_no`) followed by its
//! `退回交易手续费` income line (the fee of the refunded amount given back, as the trade bill's
//! negative refund fee says). The 业务类型 values other than 退款 and the meaning of 业务凭证号
//! are not on WeChat's page (paygate's `wechatpay/fundflow.rs` says where they come from); the
//! simulator writes what that describes. 账户结余 runs from 0.00 at the day's start.
//!
//! Bill faults: `drop_line` (a payment with its fee line, or a refund with its fee line),
//! `amount`, `fee` (the fee line's amount; 0 leaves it out), `duplicate_payment`, `add_payment`
//! and `add_refund` apply. `status` does not (the file has no status: every line is money
//! booked), nor do `bank_refund` and `settlement_short` (no such business type is documented,
//! and the file states no payout figure apart from its lines). `account_type` `OPERATION` and
//! `FEES` hold nothing here (`NO_STATEMENT_EXIST`); `tar_type` is refused.

use crate::api::serve;
use crate::app::App;
use crate::bill::{field, located, query_param, yuan};
use crate::model::{RefundStatus, beijing};
use crate::wire::{Answer, param_error};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use simkit::Operation;
use simkit::bill::{self as kit_bill, BillFaultKind};

/// The detail header, as WeChat Pay's page and SDKs write it.
pub const HEADER: [&str; 11] = [
    "记账时间",
    "微信支付业务单号",
    "资金流水单号",
    "业务名称",
    "业务类型",
    "收支类型",
    "收支金额（元）",
    "账户结余（元）",
    "资金变更提交申请人",
    "备注",
    "业务凭证号",
];

/// The totals title.
pub const TOTALS_HEADER: [&str; 5] = ["资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额"];

/// A 业务类型 the simulator writes, and the way its money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Business {
    Payment,
    Fee,
    Refund,
    FeeReturned,
}

/// 业务类型 → (its word, income or not): the one table.
const BUSINESS: [(Business, &str, bool); 4] = [
    (Business::Payment, "交易", true),
    (Business::Fee, "扣除交易手续费", false),
    (Business::Refund, "退款", false),
    (Business::FeeReturned, "退回交易手续费", true),
];

fn business(b: Business) -> (&'static str, bool) {
    BUSINESS.iter().find(|(x, _, _)| *x == b).map(|(_, word, income)| (*word, *income)).expect("in the table")
}

/// One movement, before the balance and the serial number are given.
struct Movement {
    at: DateTime<Utc>,
    business: Business,
    /// 微信支付业务单号: the transaction id, or the refund id.
    business_no: String,
    /// 业务凭证号: the `out_trade_no`, or the `out_refund_no`.
    voucher_no: String,
    amount: i64,
}

/// A payment's lines: the 交易 line and its fee line (left out when the fee is 0).
fn payment(out: &mut Vec<Movement>, at: DateTime<Utc>, txn: &str, no: &str, amount: i64, fee: i64) {
    let line = |business, amount| Movement {
        at,
        business,
        business_no: txn.to_owned(),
        voucher_no: no.to_owned(),
        amount,
    };
    out.push(line(Business::Payment, amount));
    if fee > 0 {
        out.push(line(Business::Fee, fee));
    }
}

/// A refund's lines: the 退款 line and the fee given back (left out when it is 0).
fn refund(out: &mut Vec<Movement>, at: DateTime<Utc>, refund_id: &str, no: &str, amount: i64, fee: i64) {
    let line = |business, amount| Movement {
        at,
        business,
        business_no: refund_id.to_owned(),
        voucher_no: no.to_owned(),
        amount,
    };
    out.push(line(Business::Refund, amount));
    if fee > 0 {
        out.push(line(Business::FeeReturned, fee));
    }
}

/// The movements of `mchid`'s basic account on `day` (Beijing), with the bill faults planted.
fn movements(app: &App, mchid: &str, day: NaiveDate, fee_ppm: u64) -> Vec<Movement> {
    let faults = app.kit.bill_faults().clone();
    let ledger = app.ledger();
    let on_day = |t: DateTime<Utc>| t.with_timezone(&beijing()).date_naive() == day;
    let mut out = Vec::new();
    for o in ledger.orders.values().filter(|o| o.mchid == mchid && o.charges > 0) {
        let Some(at) = o.success_time.filter(|t| on_day(*t)) else { continue };
        let no = Some(o.out_trade_no.as_str());
        if kit_bill::find(&faults, BillFaultKind::DropLine, no, None).is_some() {
            continue;
        }
        let txn = o.transaction_id.clone().unwrap_or_default();
        let amount = kit_bill::find(&faults, BillFaultKind::Amount, no, None)
            .and_then(|f| f.amount)
            .unwrap_or(o.total);
        let fee = kit_bill::find(&faults, BillFaultKind::Fee, no, None)
            .and_then(|f| f.fee)
            .unwrap_or_else(|| kit_bill::fee(amount, fee_ppm));
        payment(&mut out, at, &txn, &o.out_trade_no, amount, fee);
        if let Some(f) = kit_bill::find(&faults, BillFaultKind::DuplicatePayment, no, None) {
            let dup = f.transaction_id.clone().unwrap_or_default();
            payment(&mut out, at, &dup, &o.out_trade_no, o.total, kit_bill::fee(o.total, fee_ppm));
        }
    }
    for r in ledger.refunds.values().filter(|r| r.mchid == mchid && r.status == RefundStatus::Success) {
        let at = r.success_time.unwrap_or(r.created_at);
        if !on_day(at) {
            continue;
        }
        let rid = Some(r.out_refund_no.as_str());
        if kit_bill::find(&faults, BillFaultKind::DropLine, None, rid).is_some() {
            continue;
        }
        let amount = kit_bill::find(&faults, BillFaultKind::Amount, None, rid)
            .and_then(|f| f.amount)
            .unwrap_or(r.refund);
        refund(&mut out, at, &r.refund_id, &r.out_refund_no, amount, kit_bill::fee(amount, fee_ppm));
    }
    let noon =
        day.and_hms_opt(12, 0, 0).expect("noon").and_local_timezone(beijing()).single().expect("fixed");
    for f in faults.iter().filter(|f| f.date == Some(day)) {
        let (amount, txn) = (f.amount.unwrap_or(0), f.transaction_id.clone().unwrap_or_default());
        let fee = kit_bill::fee(amount, fee_ppm);
        let at = noon.with_timezone(&Utc);
        match f.kind {
            BillFaultKind::AddPayment => {
                payment(&mut out, at, &txn, f.order_id.as_deref().unwrap_or(""), amount, fee)
            }
            BillFaultKind::AddRefund => {
                let no = f.refund_id.as_deref().unwrap_or("");
                refund(&mut out, at, &format!("50{txn}"), no, amount, fee);
            }
            _ => {}
        }
    }
    // In booking order; a line's fee line stays right after it (a stable sort).
    out.sort_by_key(|m| m.at);
    out
}

/// The fund-flow file of `mchid`'s `day`, or None when the day has no movement.
pub(crate) fn render(app: &App, mchid: &str, day: NaiveDate) -> Option<Vec<u8>> {
    let s = app.settings();
    let movements = movements(app, mchid, day, s.fee_ppm);
    if movements.is_empty() {
        return None;
    }
    let mut out = String::new();
    out.push_str(&HEADER.join(","));
    out.push_str("\r\n");
    let (mut balance, mut income, mut income_lines, mut expense, mut expense_lines) =
        (0i64, 0i64, 0u64, 0i64, 0u64);
    for (i, m) in movements.iter().enumerate() {
        let (word, is_income) = business(m.business);
        if is_income {
            balance += m.amount;
            income += m.amount;
            income_lines += 1;
        } else {
            balance -= m.amount;
            expense += m.amount;
            expense_lines += 1;
        }
        let values = [
            m.at.with_timezone(&beijing()).format("%Y-%m-%d %H:%M:%S").to_string(),
            m.business_no.clone(),
            format!("{mchid}{}{:010}", day.format("%Y%m%d"), i + 1),
            word.to_owned(),
            word.to_owned(),
            if is_income { "收入" } else { "支出" }.to_owned(),
            yuan(m.amount),
            yuan(balance),
            "system".to_owned(),
            String::new(),
            m.voucher_no.clone(),
        ];
        out.push_str(&values.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out.push_str(&TOTALS_HEADER.join(","));
    out.push_str("\r\n");
    let totals = [
        format!("{}.0", movements.len()),
        format!("{income_lines}.0"),
        yuan(income),
        format!("{expense_lines}.0"),
        yuan(expense),
    ];
    out.push_str(&totals.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    Some(out.into_bytes())
}

pub(crate) fn routes() -> Router<App> {
    Router::new().route("/v3/bill/fundflowbill", get(fundflowbill))
}

async fn fundflowbill(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let date = query_param(&uri, "bill_date");
    let account = query_param(&uri, "account_type").unwrap_or_else(|| "BASIC".into());
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
            if !matches!(account.as_str(), "BASIC" | "OPERATION" | "FEES") {
                return param_error("account_type: BASIC, OPERATION or FEES");
            }
            if tar.is_some() {
                return param_error("tar_type: GZIP is not simulated; leave it out");
            }
            if day > Utc::now().with_timezone(&beijing()).date_naive() {
                return Answer::error(400, "INVALID_REQUEST", "账单日期不能晚于今天");
            }
            let file = if account == "BASIC" { render(app, &authed.mchid, day) } else { None };
            located(app, file)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_business_type_is_in_the_table_once() {
        for b in [Business::Payment, Business::Fee, Business::Refund, Business::FeeReturned] {
            assert_eq!(BUSINESS.iter().filter(|(x, _, _)| *x == b).count(), 1, "{b:?}");
        }
        assert_eq!(business(Business::Refund), ("退款", false));
    }
}
