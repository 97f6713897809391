//! The provider's books, in memory: payments, refunds and their indexes (notifications are in
//! simkit's book, `app.kit.notifications()`).
//!
//! One mutex guards the ledger; nothing awaits while holding it. `generation` changes on
//! `POST /admin/reset`, so that timers started before a reset (refund completion, auto-pay,
//! notification retries) recognise that their world is gone.

use crate::model::{Payment, PaymentKey, PaymentView, Refund, RefundKey};
use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Why an order could not be found by its id alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    NotFound,
    /// Several merchants use this order id; name the merchant.
    Ambiguous,
}

#[derive(Default)]
pub(crate) struct Ledger {
    pub generation: u64,
    pub payments: HashMap<PaymentKey, Payment>,
    pub by_transaction: HashMap<String, PaymentKey>,
    by_order: HashMap<String, Vec<String>>,
    pub refunds: HashMap<RefundKey, Refund>,
    expiry: BinaryHeap<Reverse<(DateTime<Utc>, PaymentKey)>>,
}

impl Ledger {
    pub fn insert_payment(&mut self, payment: Payment) {
        let key = payment.key.clone();
        if let Some(at) = payment.expires_at {
            self.expiry.push(Reverse((at, key.clone())));
        }
        self.by_transaction.insert(payment.transaction_id.clone(), key.clone());
        self.by_order.entry(key.order_id.clone()).or_default().push(key.merchant_id.clone());
        self.payments.insert(key, payment);
    }

    pub fn view(&self, key: &PaymentKey) -> Option<PaymentView> {
        let payment = self.payments.get(key)?.clone();
        let refunds = payment
            .refund_ids
            .iter()
            .filter_map(|id| {
                self.refunds.get(&RefundKey { merchant_id: key.merchant_id.clone(), refund_id: id.clone() })
            })
            .cloned()
            .collect();
        Some(PaymentView { payment, refunds })
    }

    /// Finds an order by its id, for the admin and customer side (which are not per merchant).
    pub fn find_order(&self, order_id: &str, merchant_id: Option<&str>) -> Result<PaymentKey, Lookup> {
        let merchants = self.by_order.get(order_id).ok_or(Lookup::NotFound)?;
        let merchant = match merchant_id {
            Some(m) => merchants.iter().find(|x| x.as_str() == m).ok_or(Lookup::NotFound)?,
            None if merchants.len() == 1 => &merchants[0],
            None => return Err(Lookup::Ambiguous),
        };
        Ok(PaymentKey { merchant_id: merchant.clone(), order_id: order_id.to_owned() })
    }

    /// The order a refund belongs to.
    pub fn refund_order(&self, key: &RefundKey) -> Option<String> {
        self.refunds.get(key).map(|r| r.order_id.clone())
    }

    /// Remembers that `key` expires at `at` (an authorisation's expiry).
    pub fn schedule_expiry(&mut self, at: DateTime<Utc>, key: PaymentKey) {
        self.expiry.push(Reverse((at, key)));
    }

    /// Pops the payments whose expiry time has come (they may have moved on already).
    pub fn due_expiries(&mut self, now: DateTime<Utc>) -> Vec<PaymentKey> {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.expiry.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.expiry.pop() {
                due.push(key);
            }
        }
        due
    }

    /// Forgets everything and starts a new generation.
    pub fn reset(&mut self) {
        let generation = self.generation + 1;
        *self = Ledger { generation, ..Ledger::default() };
    }
}
