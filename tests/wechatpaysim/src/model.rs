//! The simulator's books: orders (交易) and refunds (退款) by the merchant's numbers, amounts in
//! integer fen, CNY only.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// Beijing time, the zone of every time WeChat Pay writes.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// RFC 3339 in Beijing time, to the second (`2026-01-01T10:00:05+08:00`).
pub fn wechat_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Which create API made an order; its `trade_type` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    Native,
    Jsapi,
    H5,
}

impl Kind {
    pub fn trade_type(self) -> &'static str {
        match self {
            Kind::Native => "NATIVE",
            Kind::Jsapi => "JSAPI",
            // H5's trade_type is MWEB (the v2 name kept by v3).
            Kind::H5 => "MWEB",
        }
    }
}

/// `trade_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    Success,
    Refund,
    Notpay,
    Closed,
    /// Only a reversed 付款码 (micropay) payment; none of the simulated products makes it.
    #[allow(dead_code)]
    Revoked,
    Userpaying,
    Payerror,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::Notpay => "NOTPAY",
            TradeState::Closed => "CLOSED",
            TradeState::Revoked => "REVOKED",
            TradeState::Userpaying => "USERPAYING",
            TradeState::Payerror => "PAYERROR",
        }
    }

    pub fn desc(self) -> &'static str {
        match self {
            TradeState::Success => "支付成功",
            TradeState::Refund => "转入退款",
            TradeState::Notpay => "未支付",
            TradeState::Closed => "已关闭",
            TradeState::Revoked => "已撤销",
            TradeState::Userpaying => "用户支付中",
            TradeState::Payerror => "支付失败",
        }
    }

    /// Paid: money was taken (a refund may have followed).
    pub fn is_paid(self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }
}

/// A refund's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Success,
    Closed,
    Processing,
    Abnormal,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Closed => "CLOSED",
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Abnormal => "ABNORMAL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [RefundStatus::Success, RefundStatus::Closed, RefundStatus::Processing, RefundStatus::Abnormal]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One order.
#[derive(Debug, Clone)]
pub struct Order {
    pub mchid: String,
    pub appid: String,
    pub out_trade_no: String,
    pub kind: Kind,
    pub description: String,
    pub total: i64,
    pub notify_url: String,
    pub attach: Option<String>,
    pub time_expire: Option<DateTime<FixedOffset>>,
    /// The create's parameters that must be the same on a repeat (else OUT_TRADE_NO_USED).
    pub fingerprint: String,
    pub payer_openid: Option<String>,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    pub success_time: Option<DateTime<Utc>>,
    /// `code_url`, `prepay_id` or `h5_url`.
    pub action: String,
    pub created_at: DateTime<Utc>,
    /// Times money was taken (must stay at most 1).
    pub charges: u32,
    pub refunds: Vec<String>,
    pub notifications: Vec<String>,
}

/// One refund.
#[derive(Debug, Clone)]
pub struct Refund {
    pub mchid: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub refund: i64,
    pub total: i64,
    pub notify_url: Option<String>,
    pub status: RefundStatus,
    pub created_at: DateTime<Utc>,
    pub success_time: Option<DateTime<Utc>>,
}

/// Orders and refunds, keyed by (mchid, number).
#[derive(Debug, Default)]
pub struct Ledger {
    pub orders: HashMap<(String, String), Order>,
    pub refunds: HashMap<(String, String), Refund>,
    seq: u64,
}

impl Ledger {
    /// A fresh number with `prefix` and 28 digits in all, like WeChat Pay's ids.
    pub fn next_id(&mut self, prefix: &str, now: DateTime<Utc>) -> String {
        self.seq += 1;
        let date = now.with_timezone(&beijing()).format("%Y%m%d");
        let width = 28usize.saturating_sub(prefix.len() + 8);
        format!("{prefix}{date}{:0width$}", self.seq, width = width)
    }

    pub fn order(&self, mchid: &str, no: &str) -> Option<&Order> {
        self.orders.get(&(mchid.to_owned(), no.to_owned()))
    }

    pub fn order_mut(&mut self, mchid: &str, no: &str) -> Option<&mut Order> {
        self.orders.get_mut(&(mchid.to_owned(), no.to_owned()))
    }

    /// The order of any merchant (admin API).
    pub fn find_order(&self, no: &str) -> Option<&Order> {
        let mut found: Vec<&Order> = self.orders.values().filter(|o| o.out_trade_no == no).collect();
        found.sort_by(|a, b| a.mchid.cmp(&b.mchid));
        found.into_iter().next()
    }

    pub fn find_refund(&self, no: &str) -> Option<&Refund> {
        let mut found: Vec<&Refund> = self.refunds.values().filter(|r| r.out_refund_no == no).collect();
        found.sort_by(|a, b| a.mchid.cmp(&b.mchid));
        found.into_iter().next()
    }

    /// Fen of the order already refunded or being refunded (a CLOSED refund gives its amount back).
    pub fn committed_refunds(&self, mchid: &str, out_trade_no: &str) -> i64 {
        self.refunds
            .values()
            .filter(|r| {
                r.mchid == mchid && r.out_trade_no == out_trade_no && r.status != RefundStatus::Closed
            })
            .map(|r| r.refund)
            .sum()
    }

    pub fn reset(&mut self) {
        *self = Ledger::default();
    }
}
