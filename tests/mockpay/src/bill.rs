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
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The header line of bills and settlements.
pub const HEADER: &str =
    "type,orderId,refundId,transactionId,refundTransactionId,amount,fee,currency,status,completedAt";

/// The fee of a payment of `amount` minor units at `ppm` parts per million, rounded half up.
pub fn fee(amount: i64, ppm: u64) -> i64 {
    let ppm = i128::from(ppm);
    let product = i128::from(amount) * ppm;
    let rounded = (product + 500_000).div_euclid(1_000_000);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// What a bill fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillFaultKind {
    /// Leave out the payment line of `orderId`, or the refund line of `refundId`.
    DropLine,
    /// Change the `amount` of the payment line of `orderId`, or of the refund line of `refundId`.
    Amount,
    /// Change the `fee` of the payment line of `orderId`.
    Fee,
    /// Change the `status` of the payment line of `orderId`, or of the refund line of `refundId`.
    Status,
    /// A second payment line for `orderId` with a new transaction id (the customer paid twice).
    DuplicatePayment,
    /// A payment line on `date` for an `orderId` mockpay never processed.
    AddPayment,
    /// A refund line on `date` for `orderId` with a `refundId` the merchant never asked for.
    AddRefund,
    /// A refund the customer's bank made (a chargeback), in the settlement of `date` only.
    BankRefund,
    /// The settlement of `date` pays `amount` less in `currency` than its lines add up to.
    SettlementShort,
}

/// One bill fault, as `POST /admin/bill-faults` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BillFault {
    pub kind: BillFaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `yyyy-mm-dd`: the day of an added line or of a short settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Set by mockpay: the transaction id of a line this fault adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
}

impl BillFault {
    /// A fault of `kind` with nothing else set (fill the fields with the builders).
    pub fn new(kind: BillFaultKind) -> Self {
        BillFault {
            kind,
            order_id: None,
            refund_id: None,
            amount: None,
            fee: None,
            status: None,
            currency: None,
            date: None,
            transaction_id: None,
        }
    }

    pub fn order(mut self, order_id: impl Into<String>) -> Self {
        self.order_id = Some(order_id.into());
        self
    }

    pub fn refund(mut self, refund_id: impl Into<String>) -> Self {
        self.refund_id = Some(refund_id.into());
        self
    }

    pub fn amount(mut self, amount: i64) -> Self {
        self.amount = Some(amount);
        self
    }

    pub fn fee(mut self, fee: i64) -> Self {
        self.fee = Some(fee);
        self
    }

    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    pub fn currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    pub fn date(mut self, date: NaiveDate) -> Self {
        self.date = Some(date);
        self
    }

    /// Checks that the fields `kind` needs are there and no others matter; the message names the
    /// missing or invalid field.
    pub fn validate(&self) -> Result<(), String> {
        use BillFaultKind::*;
        let need = |present: bool, field: &str| {
            if present { Ok(()) } else { Err(format!("{field}: required for kind {:?}", self.kind)) }
        };
        let order_or_refund = self.order_id.is_some() || self.refund_id.is_some();
        match self.kind {
            DropLine => need(order_or_refund, "orderId or refundId")?,
            Amount => {
                need(order_or_refund, "orderId or refundId")?;
                need(self.amount.is_some(), "amount")?;
            }
            Fee => {
                need(self.order_id.is_some(), "orderId")?;
                need(self.fee.is_some(), "fee")?;
            }
            Status => {
                need(order_or_refund, "orderId or refundId")?;
                need(self.status.is_some(), "status")?;
            }
            DuplicatePayment => need(self.order_id.is_some(), "orderId")?,
            AddPayment | BankRefund => {
                need(self.order_id.is_some(), "orderId")?;
                need(self.amount.is_some(), "amount")?;
                need(self.currency.is_some(), "currency")?;
                need(self.date.is_some(), "date")?;
            }
            AddRefund => {
                need(self.order_id.is_some(), "orderId")?;
                need(self.refund_id.is_some(), "refundId")?;
                need(self.amount.is_some(), "amount")?;
                need(self.currency.is_some(), "currency")?;
                need(self.date.is_some(), "date")?;
            }
            SettlementShort => {
                need(self.amount.is_some(), "amount")?;
                need(self.currency.is_some(), "currency")?;
                need(self.date.is_some(), "date")?;
            }
        }
        if self.amount.is_some_and(|a| a <= 0) && self.kind != Amount {
            return Err("amount: must be > 0".into());
        }
        if self.fee.is_some_and(|f| f < 0) {
            return Err("fee: must be >= 0".into());
        }
        for (field, id) in [("orderId", &self.order_id), ("refundId", &self.refund_id)] {
            if let Some(id) = id {
                crate::wire::check_id(field, id)?;
            }
        }
        if let Some(s) = &self.status
            && (s.is_empty() || !s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        {
            return Err("status: must be upper-case letters and '_'".into());
        }
        if let Some(c) = &self.currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err("currency: must be three upper-case letters".into());
        }
        Ok(())
    }
}

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
        faults.iter().rev().find(move |f| {
            f.kind == kind
                && match refund {
                    Some(r) => f.refund_id.as_deref() == Some(r),
                    None => f.refund_id.is_none() && f.order_id.as_deref() == order,
                }
        })
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
        let amount = find(BillFaultKind::Amount, order, None).and_then(|f| f.amount).unwrap_or(p.amount);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_in_integers() {
        assert_eq!(fee(1000, 6000), 6);
        assert_eq!(fee(1250, 6000), 8); // 7.5 → 8
        assert_eq!(fee(1249, 6000), 7); // 7.494 → 7
        assert_eq!(fee(1, 6000), 0);
        assert_eq!(fee(84, 6000), 1); // 0.504 → 1
        assert_eq!(fee(1500, 0), 0);
    }

    #[test]
    fn a_fault_names_the_field_it_misses() {
        let e = BillFault::new(BillFaultKind::Amount).order("o1").validate().unwrap_err();
        assert!(e.starts_with("amount:"), "{e}");
        let e = BillFault::new(BillFaultKind::AddPayment).order("o1").amount(5).validate().unwrap_err();
        assert!(e.starts_with("currency:"), "{e}");
        assert!(BillFault::new(BillFaultKind::DropLine).refund("r1").validate().is_ok());
    }
}
