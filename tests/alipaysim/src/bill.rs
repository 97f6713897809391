//! Bills: `alipay.data.dataservice.bill.downloadurl.query` (`bill_type=trade`, a day
//! `bill_date=yyyy-MM-dd`) answers a download URL that works for `billUrlTtlSecs` (30 s); the
//! URL serves a ZIP of two GBK-encoded CSV files, `<seller>_<yyyyMMdd>_业务明细.csv` (one line per
//! payment 交易 and refund 退款 completed that Beijing day; refunds negative; amounts in yuan;
//! times Beijing) and `…_业务明细(汇总).csv` (the day's totals), each opening with `#` comment
//! lines (header on line 5) and closing with a `#-----…结束` line, the totals and the export time.
//!
//! simkit's bill faults apply (amounts and fees in fen): `drop_line`, `amount`, `fee`,
//! `duplicate_payment`, `add_payment`, `add_refund`; `status` writes its status into 备注 (this
//! bill has no status column); `bank_refund` and `settlement_short` have no settlement to act on
//! and are refused.

use crate::app::{App, RefundState, bj, yuan};
use crate::gateway::{Request, content, plain, str_of};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use simkit::bill::{fee, find};
use simkit::{BillFault, BillFaultKind};
use std::io::{Cursor, Write};

pub fn routes() -> Router<App> {
    Router::new().route("/downloadBillFile.resource", get(download))
}

pub const DETAIL_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
const SUMMARY_HEADER: &str = "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）";

/// Checks a bill fault for this simulator.
pub fn validate_fault(f: &BillFault) -> Result<(), String> {
    f.validate()?;
    if matches!(f.kind, BillFaultKind::BankRefund | BillFaultKind::SettlementShort) {
        return Err(format!("kind {:?}: alipaysim has no settlement file", f.kind));
    }
    if f.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err("currency: Alipay bills are CNY".into());
    }
    Ok(())
}

fn today_bj() -> NaiveDate {
    Utc::now().with_timezone(&crate::app::beijing()).date_naive()
}

/// The download-URL method.
pub fn download_url(app: &App, req: &Request) -> Map<String, Value> {
    if str_of(&req.biz, "bill_type") != "trade" {
        return content(
            "40004",
            Some(("ACQ.INVALID_PARAMETER", "参数无效: bill_type (alipaysim serves trade)")),
        );
    }
    let Ok(day) = NaiveDate::parse_from_str(str_of(&req.biz, "bill_date"), "%Y-%m-%d") else {
        return content("40004", Some(("ACQ.INVALID_PARAMETER", "参数无效: bill_date (yyyy-MM-dd)")));
    };
    let settings = app.settings();
    let today = today_bj();
    if day > today || (day == today && !settings.bill_today) {
        return content("40004", Some(("isp.bill_not_exist", "账单不存在")));
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let expires =
        Utc::now() + chrono::Duration::seconds(i64::try_from(settings.bill_url_ttl_secs).unwrap_or(30));
    app.book().bill_tokens.insert(token.clone(), (req.app_id.clone(), day, expires));
    let d = day.format("%Y%m%d");
    let mut c = content("10000", None);
    c.insert(
        "bill_download_url".into(),
        format!(
            "{}/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates={d}&downloadFileName={d}.csv.zip&token={token}",
            app.base_url
        )
        .into(),
    );
    c
}

#[derive(Deserialize)]
struct DownloadQuery {
    token: String,
}

async fn download(State(app): State<App>, Query(q): Query<DownloadQuery>) -> Response {
    let Some((app_id, day, expires)) = app.book().bill_tokens.get(&q.token).cloned() else {
        return plain(StatusCode::NOT_FOUND, "no such bill file");
    };
    if Utc::now() > expires {
        return plain(StatusCode::FORBIDDEN, "the download link has expired");
    }
    match zip_for(&app, &app_id, day) {
        Ok(bytes) => ([("content-type", "application/octet-stream")], bytes).into_response(),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// One detail line.
struct Line {
    txn: String,
    order: String,
    refund: bool,
    subject: String,
    created: String,
    completed: String,
    amount: i64,
    fee: i64,
    request_no: String,
    note: String,
}

impl Line {
    fn render(&self) -> String {
        let kind = if self.refund { "退款" } else { "交易" };
        let a = yuan(self.amount);
        format!(
            "{}\t,{}\t,{kind},{},{},{},,,,,sim***@example.com,{a},{a},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,{},{},0.00,{}",
            self.txn,
            self.order,
            self.subject.replace(',', "，"),
            self.created,
            self.completed,
            self.request_no,
            yuan(self.fee),
            self.note
        )
    }
}

/// The day's lines for `app_id`, bill faults applied, in completion order.
fn lines(app: &App, app_id: &str, day: NaiveDate) -> Vec<Line> {
    let faults = app.kit.bill_faults().clone();
    let fee_ppm = app.settings().fee_ppm;
    let on_day = |t: Option<chrono::DateTime<Utc>>| {
        t.is_some_and(|t| t.with_timezone(&crate::app::beijing()).date_naive() == day)
    };
    let mut out: Vec<(chrono::DateTime<Utc>, Line)> = Vec::new();
    let book = app.book();
    for t in book.trades.values().filter(|t| t.app_id == app_id) {
        let order = Some(t.out_trade_no.as_str());
        if on_day(t.paid_at) && find(&faults, BillFaultKind::DropLine, order, None).is_none() {
            let amount = find(&faults, BillFaultKind::Amount, order, None)
                .and_then(|f| f.amount)
                .unwrap_or(t.total_amount);
            let line = Line {
                txn: t.trade_no.clone(),
                order: t.out_trade_no.clone(),
                refund: false,
                subject: t.subject.clone(),
                created: bj(t.created_at),
                completed: t.paid_at.map(bj).unwrap_or_default(),
                amount,
                fee: -find(&faults, BillFaultKind::Fee, order, None)
                    .and_then(|f| f.fee)
                    .unwrap_or_else(|| fee(amount, fee_ppm)),
                request_no: String::new(),
                note: find(&faults, BillFaultKind::Status, order, None)
                    .and_then(|f| f.status.clone())
                    .unwrap_or_default(),
            };
            if let Some(dup) = find(&faults, BillFaultKind::DuplicatePayment, order, None) {
                out.push((
                    t.paid_at.unwrap_or_default(),
                    Line {
                        txn: dup.transaction_id.clone().unwrap_or_default(),
                        note: String::new(),
                        ..clone_line(&line)
                    },
                ));
            }
            out.push((t.paid_at.unwrap_or_default(), line));
        }
        for r in t.refunds.iter().filter(|r| r.state == RefundState::Success && on_day(r.completed_at)) {
            let rq = Some(r.out_request_no.as_str());
            if find(&faults, BillFaultKind::DropLine, None, rq).is_some() {
                continue;
            }
            let amount =
                find(&faults, BillFaultKind::Amount, None, rq).and_then(|f| f.amount).unwrap_or(r.amount);
            out.push((
                r.completed_at.unwrap_or_default(),
                Line {
                    txn: t.trade_no.clone(),
                    order: t.out_trade_no.clone(),
                    refund: true,
                    subject: t.subject.clone(),
                    created: bj(t.created_at),
                    completed: r.completed_at.map(bj).unwrap_or_default(),
                    amount: -amount,
                    fee: 0,
                    request_no: r.out_request_no.clone(),
                    note: find(&faults, BillFaultKind::Status, None, rq)
                        .and_then(|f| f.status.clone())
                        .unwrap_or_default(),
                },
            ));
        }
    }
    drop(book);
    let noon = day.and_hms_opt(4, 0, 0).map(|t| t.and_utc()).unwrap_or_default();
    for f in faults.iter().filter(|f| f.date == Some(day)) {
        let amount = f.amount.unwrap_or(0);
        let base = Line {
            txn: f.transaction_id.clone().unwrap_or_default(),
            order: f.order_id.clone().unwrap_or_default(),
            refund: false,
            subject: "planted".into(),
            created: bj(noon),
            completed: bj(noon),
            amount,
            fee: -fee(amount, fee_ppm),
            request_no: String::new(),
            note: String::new(),
        };
        match f.kind {
            BillFaultKind::AddPayment => out.push((noon, base)),
            BillFaultKind::AddRefund => out.push((
                noon,
                Line {
                    refund: true,
                    amount: -amount,
                    fee: 0,
                    request_no: f.refund_id.clone().unwrap_or_default(),
                    ..base
                },
            )),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.order.cmp(&b.1.order)));
    out.into_iter().map(|(_, l)| l).collect()
}

fn clone_line(l: &Line) -> Line {
    Line {
        txn: l.txn.clone(),
        order: l.order.clone(),
        refund: l.refund,
        subject: l.subject.clone(),
        created: l.created.clone(),
        completed: l.completed.clone(),
        amount: l.amount,
        fee: l.fee,
        request_no: l.request_no.clone(),
        note: l.note.clone(),
    }
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

/// The bill ZIP of `app_id` for `day`.
pub fn zip_for(app: &App, app_id: &str, day: NaiveDate) -> anyhow::Result<Vec<u8>> {
    let seller = app.seller_id(app_id);
    let lines = lines(app, app_id, day);
    let next = day.succ_opt().unwrap_or(day);
    let period = format!(
        "#起始日期：[{}年{:02}月{:02}日 00:00:00]   终止日期：[{}年{:02}月{:02}日 00:00:00]",
        day.year(),
        day.month(),
        day.day(),
        next.year(),
        next.month(),
        next.day()
    );
    let exported = format!("#导出时间：[{}]", bj(Utc::now()));
    let payments = lines.iter().filter(|l| !l.refund).count();
    let refunds = lines.len() - payments;
    let mut detail = String::new();
    detail.push_str("#支付宝业务明细查询\r\n");
    detail.push_str(&format!("#账号：[{seller}0156]\r\n{period}\r\n"));
    detail.push_str(
        "#-----------------------------------------业务明细列表----------------------------------------\r\n",
    );
    detail.push_str(DETAIL_HEADER);
    detail.push_str("\r\n");
    for l in &lines {
        detail.push_str(&l.render());
        detail.push_str("\r\n");
    }
    detail.push_str(
        "#-----------------------------------------业务明细列表结束------------------------------------\r\n",
    );
    detail.push_str(&format!("#交易合计：{payments}笔，退款合计：{refunds}笔\r\n{exported}\r\n"));

    let total: i64 = lines.iter().map(|l| l.amount).sum();
    let fees: i64 = lines.iter().map(|l| l.fee).sum();
    let mut summary = String::new();
    summary.push_str("#支付宝业务汇总查询\r\n");
    summary.push_str(&format!("#账号：[{seller}0156]\r\n{period}\r\n"));
    summary.push_str(
        "#-----------------------------------------业务汇总列表----------------------------------------\r\n",
    );
    summary.push_str(SUMMARY_HEADER);
    summary.push_str("\r\n");
    let row = |name: &str| {
        format!(
            "{name},,{payments},{refunds},{},{},0.00,0.00,0.00,{},0.00,{}\r\n",
            yuan(total),
            yuan(total),
            yuan(fees),
            yuan(total + fees)
        )
    };
    summary.push_str(&row(""));
    summary.push_str(&row("合计"));
    summary.push_str(
        "#-----------------------------------------业务汇总列表结束------------------------------------\r\n",
    );
    summary.push_str(&format!("{exported}\r\n"));

    let d = day.format("%Y%m%d");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(format!("{seller}_{d}_业务明细.csv"), options)?;
    zip.write_all(&gbk(&detail))?;
    zip.start_file(format!("{seller}_{d}_业务明细(汇总).csv"), options)?;
    zip.write_all(&gbk(&summary))?;
    Ok(zip.finish()?.into_inner())
}
