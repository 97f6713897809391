//! Bills and settlements: what mockpay's books say happened on one day (UTC), as the CSV files
//! `GET /v1/bills/{date}` and `GET /v1/settlements/{date}` stream, and the bill-fault knobs
//! (`POST /admin/bill-faults`) that make those files disagree with the merchant's records.
//!
//! A bill lists one line per payment that became SUCCEEDED that day and one per refund that
//! became SUCCEEDED that day, sorted by `orderId`, then payments before refunds, then `refundId`.
//! A settlement lists the same lines (plus bank-initiated refunds) and ends with one `#TOTAL`
//! trailer line per currency. Every payment carries a fee of `feePpm` parts per million of its
//! amount, in integer minor units rounded half up; refunds carry no fee (the payment's fee is not
//! returned).
//!
//! Bill faults are kept per merchant-independent order/refund id, like scripted faults, and apply
//! to every download until `DELETE /admin/bill-faults` or `POST /admin/reset`. Lines a fault adds
//! get their transaction ids when the fault is registered, so every download of the same day is
//! byte-identical.

use crate::ledger::Ledger;
use crate::model::{PaymentStatus, RefundStatus};
use chrono::{DateTime, NaiveDate, Utc};
pub use simkit::bill::fee;
pub use simkit::{BillFault, BillFaultKind};
use std::collections::BTreeMap;

/// The header line of bills and settlements.
pub const HEADER: &str =
    "type,orderId,refundId,transactionId,refundTransactionId,amount,fee,currency,status,completedAt";

/// The kind of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LineType {
    Payment,
    Refund,
    BankRefund,
}

impl LineType {
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Payment => "PAYMENT",
            LineType::Refund => "REFUND",
            LineType::BankRefund => "BANK_REFUND",
        }
    }
}

/// One line of a bill or settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_type: LineType,
    pub order_id: String,
    pub refund_id: String,
    pub transaction_id: String,
    pub refund_transaction_id: String,
    pub amount: i64,
    pub fee: i64,
    pub currency: String,
    pub status: String,
    pub completed_at: DateTime<Utc>,
}

impl Line {
    fn sort_key(&self) -> (&str, LineType, &str, &str) {
        (&self.order_id, self.line_type, &self.refund_id, &self.transaction_id)
    }

    /// The CSV line, with its newline.
    pub fn render(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            self.line_type.as_str(),
            self.order_id,
            self.refund_id,
            self.transaction_id,
            self.refund_transaction_id,
            self.amount,
            self.fee,
            self.currency,
            self.status,
            crate::wire::time(self.completed_at)
        )
    }
}

/// A settlement's totals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Total {
    pub gross: i64,
    pub refunds: i64,
    pub fees: i64,
    pub net: i64,
    pub count: u64,
}

fn on_day(t: Option<DateTime<Utc>>, day: NaiveDate) -> bool {
    t.is_some_and(|t| t.date_naive() == day)
}

/// The day's lines for `merchant_id`, with the bill faults applied, sorted. With `settlement`,
/// bank-initiated refunds are included too.
pub(crate) fn lines(
    ledger: &Ledger,
    merchant_id: &str,
    day: NaiveDate,
    fee_ppm: u64,
    faults: &[BillFault],
    settlement: bool,
) -> Vec<Line> {
    let find = |kind: BillFaultKind, order: Option<&str>, refund: Option<&str>| {
        simkit::bill::find(faults, kind, order, refund)
    };
    let mut out = Vec::new();
    for p in ledger.payments.values() {
        if p.key.merchant_id != merchant_id || p.status != PaymentStatus::Succeeded || !on_day(p.paid_at, day)
        {
            continue;
        }
        let order = Some(p.key.order_id.as_str());
        if find(BillFaultKind::DropLine, order, None).is_some() {
            continue;
        }
        let amount = find(BillFaultKind::Amount, order, None).and_then(|f| f.amount).unwrap_or(p.taken());
        let line = Line {
            line_type: LineType::Payment,
            order_id: p.key.order_id.clone(),
            refund_id: String::new(),
            transaction_id: p.transaction_id.clone(),
            refund_transaction_id: String::new(),
            amount,
            fee: find(BillFaultKind::Fee, order, None)
                .and_then(|f| f.fee)
                .unwrap_or_else(|| fee(amount, fee_ppm)),
            currency: p.currency.clone(),
            status: find(BillFaultKind::Status, order, None)
                .and_then(|f| f.status.clone())
                .unwrap_or_else(|| "SUCCEEDED".into()),
            completed_at: p.paid_at.unwrap_or_default(),
        };
        if let Some(dup) = find(BillFaultKind::DuplicatePayment, order, None) {
            let mut second = line.clone();
            second.transaction_id = dup.transaction_id.clone().unwrap_or_default();
            second.fee = fee(second.amount, fee_ppm);
            second.status = "SUCCEEDED".into();
            out.push(second);
        }
        out.push(line);
    }
    for r in ledger.refunds.values() {
        if r.key.merchant_id != merchant_id
            || r.status != RefundStatus::Succeeded
            || !on_day(r.completed_at, day)
        {
            continue;
        }
        let refund = Some(r.key.refund_id.as_str());
        if find(BillFaultKind::DropLine, None, refund).is_some() {
            continue;
        }
        let payment = ledger.payments.get(&crate::model::PaymentKey {
            merchant_id: merchant_id.to_owned(),
            order_id: r.order_id.clone(),
        });
        out.push(Line {
            line_type: LineType::Refund,
            order_id: r.order_id.clone(),
            refund_id: r.key.refund_id.clone(),
            transaction_id: payment.map(|p| p.transaction_id.clone()).unwrap_or_default(),
            refund_transaction_id: r.refund_transaction_id.clone(),
            amount: find(BillFaultKind::Amount, None, refund).and_then(|f| f.amount).unwrap_or(r.amount),
            fee: 0,
            currency: payment.map(|p| p.currency.clone()).unwrap_or_default(),
            status: find(BillFaultKind::Status, None, refund)
                .and_then(|f| f.status.clone())
                .unwrap_or_else(|| "SUCCEEDED".into()),
            completed_at: r.completed_at.unwrap_or_default(),
        });
    }
    for f in faults.iter().filter(|f| f.date == Some(day)) {
        let at = day.and_hms_opt(12, 0, 0).map(|t| t.and_utc()).unwrap_or_default();
        let base = |line_type, refund_id: String, refund_txn: String, fee_of: i64| Line {
            line_type,
            order_id: f.order_id.clone().unwrap_or_default(),
            refund_id,
            transaction_id: String::new(),
            refund_transaction_id: refund_txn,
            amount: f.amount.unwrap_or_default(),
            fee: fee_of,
            currency: f.currency.clone().unwrap_or_default(),
            status: "SUCCEEDED".into(),
            completed_at: at,
        };
        match f.kind {
            BillFaultKind::AddPayment => {
                let mut l = base(
                    LineType::Payment,
                    String::new(),
                    String::new(),
                    fee(f.amount.unwrap_or(0), fee_ppm),
                );
                l.transaction_id = f.transaction_id.clone().unwrap_or_default();
                out.push(l);
            }
            BillFaultKind::AddRefund => out.push(base(
                LineType::Refund,
                f.refund_id.clone().unwrap_or_default(),
                f.transaction_id.clone().unwrap_or_default(),
                0,
            )),
            BillFaultKind::BankRefund if settlement => {
                out.push(base(
                    LineType::BankRefund,
                    String::new(),
                    f.transaction_id.clone().unwrap_or_default(),
                    0,
                ));
            }
            _ => {}
        }
    }
    for line in &mut out {
        if line.transaction_id.is_empty()
            && let Some(p) = ledger.payments.get(&crate::model::PaymentKey {
                merchant_id: merchant_id.to_owned(),
                order_id: line.order_id.clone(),
            })
        {
            line.transaction_id = p.transaction_id.clone();
        }
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out
}

/// The settlement's totals per currency for `lines`, less any `settlement_short` of that day.
pub fn totals(lines: &[Line], faults: &[BillFault], day: NaiveDate) -> BTreeMap<String, Total> {
    let mut totals: BTreeMap<String, Total> = BTreeMap::new();
    for l in lines {
        let t = totals.entry(l.currency.clone()).or_default();
        t.count += 1;
        match l.line_type {
            LineType::Payment if l.status == "SUCCEEDED" => t.gross += l.amount,
            LineType::Payment => {}
            LineType::Refund | LineType::BankRefund => t.refunds += l.amount,
        }
        t.fees += l.fee;
    }
    for t in totals.values_mut() {
        t.net = t.gross - t.refunds - t.fees;
    }
    for f in faults.iter().filter(|f| f.kind == BillFaultKind::SettlementShort && f.date == Some(day)) {
        let currency = f.currency.clone().unwrap_or_default();
        let t = totals.entry(currency).or_default();
        t.net -= f.amount.unwrap_or(0);
    }
    totals
}

/// The trailer line of one currency: `#TOTAL,currency,gross,refunds,fees,net,count`.
pub fn render_total(currency: &str, t: &Total) -> String {
    format!("#TOTAL,{currency},{},{},{},{},{}\n", t.gross, t.refunds, t.fees, t.net, t.count)
}
