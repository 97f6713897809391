//! The simulator's books: payment requests by transaction id and order id, their states, and
//! their refunds. Amounts are LINE Pay's: whole units of the channel's currency.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Where a payment request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the customer to approve.
    Waiting,
    /// The customer approved: the merchant may confirm.
    Approved,
    /// The customer cancelled.
    Cancelled,
    /// Not approved or confirmed in time.
    Expired,
    /// The customer's approval failed (declined), with LINE Pay's code.
    Failed(&'static str),
    /// Confirmed: the money moved.
    Completed,
    /// A one-time-key (POS) payment waiting for the customer to confirm on the phone (`1145`).
    InProcess,
    /// A one-time-key payment voided before it completed, or an online authorisation
    /// (`capture: false`) voided before it was captured.
    Voided,
    /// Confirmed with `options.payment.capture: false`: authorised, nothing taken yet; captured
    /// or voided by the merchant, or released at its expiry.
    Authorized,
    /// An authorisation neither captured nor voided before it expired: released, nothing taken.
    AuthorizationExpired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "WAITING",
            State::Approved => "APPROVED",
            State::Cancelled => "CANCELLED",
            State::Expired => "EXPIRED",
            State::Failed(_) => "FAILED",
            State::Completed => "COMPLETED",
            State::InProcess => "IN_PROCESS",
            State::Voided => "VOIDED",
            State::Authorized => "AUTHORIZED",
            State::AuthorizationExpired => "AUTHORIZATION_EXPIRED",
        }
    }
}

/// One refund.
#[derive(Debug, Clone)]
pub struct Refund {
    pub id: u64,
    pub amount: i64,
    pub at: DateTime<Utc>,
}

/// One payment request and what became of it.
#[derive(Debug, Clone)]
pub struct Payment {
    pub txn: u64,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub product_name: String,
    pub confirm_url: String,
    pub state: State,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// How many times money was taken (0 or 1).
    pub charges: u32,
    pub refunds: Vec<Refund>,
    /// Redirects to confirmUrl made for the customer, and how each ended.
    pub redirects: Vec<String>,
    /// Made by the offline (POS) API with a one-time key.
    pub pos: bool,
    /// Whether confirm captures (`options.payment.capture`, true unless the request said false).
    pub capture: bool,
    /// When an authorisation (`capture: false`, confirmed) is released if not captured.
    pub authorization_expires_at: Option<DateTime<Utc>>,
    /// What a capture of an authorisation took (at most the amount; the rest released).
    pub captured: Option<i64>,
}

impl Payment {
    pub fn refunded(&self) -> i64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }

    /// What was taken: the capture of an authorisation, or the whole amount at confirm.
    pub fn paid(&self) -> i64 {
        self.captured.unwrap_or(self.amount)
    }

    /// Whether the payment details list it: confirmed (captured at once), or confirmed as an
    /// authorisation (held, captured, voided or expired).
    pub fn listed(&self) -> bool {
        match self.state {
            State::Completed | State::Authorized | State::AuthorizationExpired => !self.pos,
            State::Voided => !self.pos && !self.capture,
            _ => false,
        }
    }

    /// The details' `payStatus` of an authorisation: `AUTHORIZATION` while held,
    /// `VOIDED_AUTHORIZATION`, `EXPIRED_AUTHORIZATION`; none once captured (as a payment
    /// captured at confirm).
    pub fn pay_status(&self) -> Option<&'static str> {
        match self.state {
            State::Authorized => Some("AUTHORIZATION"),
            State::Voided => Some("VOIDED_AUTHORIZATION"),
            State::AuthorizationExpired => Some("EXPIRED_AUTHORIZATION"),
            _ => None,
        }
    }

    /// The admin truth.
    pub fn json(&self) -> Value {
        json!({
            "transactionId": self.txn.to_string(),
            "orderId": self.order_id,
            "amount": self.amount,
            "currency": self.currency,
            "productName": self.product_name,
            "state": self.state.as_str(),
            "charges": self.charges,
            "createdAt": simkit::time(self.created_at),
            "refunds": self.refunds.iter().map(|r| json!({
                "refundTransactionId": r.id.to_string(), "refundAmount": r.amount, "at": simkit::time(r.at),
            })).collect::<Vec<_>>(),
            "redirects": self.redirects,
            "pos": self.pos,
            "capture": self.capture,
            "captured": self.captured,
            "authorizationExpiresAt": self.authorization_expires_at.map(simkit::time),
        })
    }

    /// As the payment details API lists a confirmed payment.
    pub fn details(&self) -> Value {
        let date = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut v = json!({
            "transactionId": self.txn,
            "transactionDate": date(self.confirmed_at.unwrap_or(self.created_at)),
            "transactionType": "PAYMENT",
            "payInfo": [{"method": "BALANCE", "amount": self.paid()}],
            "productName": self.product_name,
            "currency": self.currency,
            "orderId": self.order_id,
            "refundList": self.refunds.iter().map(|r| json!({
                "refundTransactionId": r.id,
                "transactionType": if self.refunded() == self.paid() && self.refunds.len() == 1 { "PAYMENT_REFUND" } else { "PARTIAL_REFUND" },
                "refundAmount": r.amount,
                "refundTransactionDate": date(r.at),
            })).collect::<Vec<_>>(),
        });
        if let Some(status) = self.pay_status() {
            v["payStatus"] = json!(status);
        }
        if let Some(at) = self.authorization_expires_at.filter(|_| self.state == State::Authorized) {
            v["authorizationExpireDate"] = json!(date(at));
        }
        v
    }
}

/// Every payment request.
#[derive(Debug, Default)]
pub struct Ledger {
    pub payments: BTreeMap<u64, Payment>,
    pub by_order: HashMap<String, u64>,
    counter: u64,
}

impl Ledger {
    /// A fresh 19-digit transaction id (above 2^53, as LINE Pay's are).
    pub fn next_id(&mut self) -> u64 {
        self.counter += 1;
        // yyyymmdd then 11 digits: 19 digits in all.
        let day: u64 = Utc::now().format("%Y%m%d").to_string().parse().unwrap_or(20_260_101);
        day * 100_000_000_000 + self.counter
    }

    pub fn by_order(&self, order_id: &str) -> Option<&Payment> {
        self.by_order.get(order_id).and_then(|t| self.payments.get(t))
    }

    pub fn by_order_mut(&mut self, order_id: &str) -> Option<&mut Payment> {
        let t = *self.by_order.get(order_id)?;
        self.payments.get_mut(&t)
    }

    /// Moves requests past their time to `Expired`, and authorisations past theirs to
    /// `AuthorizationExpired` (released: nothing taken).
    pub fn expire(&mut self, ttl_ms: u64, now: DateTime<Utc>) {
        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        for p in self.payments.values_mut() {
            if matches!(p.state, State::Waiting | State::Approved) && now - p.created_at >= ttl {
                p.state = State::Expired;
            }
            if p.state == State::Authorized && p.authorization_expires_at.is_some_and(|at| at <= now) {
                p.state = State::AuthorizationExpired;
            }
        }
    }

    pub fn reset(&mut self) {
        *self = Ledger::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_have_19_digits_and_exceed_2_pow_53() {
        let mut l = Ledger::default();
        let id = l.next_id();
        assert_eq!(id.to_string().len(), 19);
        assert!(id > (1_u64 << 53));
        assert_ne!(l.next_id(), id);
    }
}
