//! Bill faults: planted discrepancies between a provider's bill and the merchant's records
//! (`POST /admin/bill-faults`). Each simulator applies them to its own bill format, through
//! [`find`]; lines a fault adds get their transaction ids when the fault is registered, so that
//! every download of the same day is byte-identical.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
    /// A payment line on `date` for an `orderId` the provider never processed.
    AddPayment,
    /// A refund line on `date` for `orderId` with a `refundId` the merchant never asked for.
    AddRefund,
    /// A refund the customer's bank made (a chargeback), in the settlement of `date` only.
    BankRefund,
    /// The settlement of `date` pays `amount` less in `currency` than its lines add up to
    /// (simulators without settlements ignore it).
    SettlementShort,
}

/// One bill fault, as `POST /admin/bill-faults` takes it. Amounts are in minor units.
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
    /// Set by the simulator: the transaction id of a line this fault adds.
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
                crate::check_id(field, id)?;
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

/// The latest fault of `kind` for the payment line of `order` (`refund` None) or the refund line
/// of `refund`.
pub fn find<'a>(
    faults: &'a [BillFault],
    kind: BillFaultKind,
    order: Option<&str>,
    refund: Option<&str>,
) -> Option<&'a BillFault> {
    faults.iter().rev().find(move |f| {
        f.kind == kind
            && match refund {
                Some(r) => f.refund_id.as_deref() == Some(r),
                None => f.refund_id.is_none() && f.order_id.as_deref() == order,
            }
    })
}

/// The fee of a payment of `amount` minor units at `ppm` parts per million, rounded half up.
pub fn fee(amount: i64, ppm: u64) -> i64 {
    let ppm = i128::from(ppm);
    let product = i128::from(amount) * ppm;
    let rounded = (product + 500_000).div_euclid(1_000_000);
    i64::try_from(rounded).unwrap_or(i64::MAX)
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

    #[test]
    fn find_takes_the_latest_and_separates_payment_and_refund_lines() {
        let faults = vec![
            BillFault::new(BillFaultKind::Amount).order("o").amount(1),
            BillFault::new(BillFaultKind::Amount).order("o").amount(2),
            BillFault::new(BillFaultKind::Amount).order("o").refund("r").amount(3),
        ];
        assert_eq!(find(&faults, BillFaultKind::Amount, Some("o"), None).and_then(|f| f.amount), Some(2));
        assert_eq!(find(&faults, BillFaultKind::Amount, None, Some("r")).and_then(|f| f.amount), Some(3));
        assert!(find(&faults, BillFaultKind::DropLine, Some("o"), None).is_none());
    }
}
