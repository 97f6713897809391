//! WeChat Pay's notifications behind the common [`NotificationVerifier`] trait: what
//! [`super::notification`] verified and decrypted, in our terms ([`Notification`]), so that
//! notify-handler and the dispatcher read WeChat Pay like any provider. Holds the platform public
//! keys and the APIv3 key only: nothing here can sign a request or move money.
//!
//! A transaction's claim carries its order amount (`amount.total`, in its currency); a refund's,
//! the refund amount in CNY (a refund notification states no currency). The time is
//! `success_time`, or the notification's `create_time` when there is none (a closed or abnormal
//! refund).

use super::notification::{Resource, WechatNotification, WechatpayNotifications};
use crate::domain::{Currency, Money};
use crate::providers::notification::{
    Acknowledgement, Notification, NotificationRejection, NotificationVerifier, RejectReason,
};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

/// The webhook side of the WeChat Pay adapter for one merchant.
#[derive(Debug, Clone)]
pub struct WechatpayVerifier {
    name: &'static str,
    mchid: String,
    inner: WechatpayNotifications,
}

impl WechatpayVerifier {
    pub fn new(name: &'static str, mchid: impl Into<String>, inner: WechatpayNotifications) -> Self {
        Self { name, mchid: mchid.into(), inner }
    }
}

fn money(field: &str, fen: i64, currency: &str) -> Result<Money, RejectReason> {
    let currency = Currency::parse(currency).map_err(|e| RejectReason::malformed(field, e.to_string()))?;
    Money::from_minor(fen, currency).map_err(|e| RejectReason::malformed(field, e.to_string()))
}

/// A verified WeChat Pay notification in our terms.
pub fn ours(n: WechatNotification) -> Result<Notification, RejectReason> {
    let claimed = n.claimed();
    let created = n.create_time.with_timezone(&Utc);
    Ok(match n.resource {
        Resource::Transaction(t) => Notification {
            notification_id: n.id,
            trade_no: t.out_trade_no,
            refund_trade_no: None,
            event: claimed,
            amount: money("resource.amount.total", t.total, &t.currency)?,
            account: t.mchid,
            provider_txn_id: Some(t.transaction_id),
            occurred_at: t.success_time.map_or(created, |s| s.with_timezone(&Utc)),
        },
        Resource::Refund(r) => Notification {
            notification_id: n.id,
            trade_no: r.out_trade_no,
            refund_trade_no: Some(r.out_refund_no),
            event: claimed,
            amount: money("resource.amount.refund", r.refund, "CNY")?,
            account: r.mchid,
            provider_txn_id: Some(r.transaction_id),
            occurred_at: r.success_time.map_or(created, |s| s.with_timezone(&Utc)),
        },
    })
}

impl NotificationVerifier for WechatpayVerifier {
    fn provider(&self) -> &'static str {
        self.name
    }

    fn content_types(&self) -> &'static [&'static str] {
        &[super::notification::CONTENT_TYPE]
    }

    fn account(&self) -> &str {
        &self.mchid
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotificationRejection> {
        ours(self.inner.verify(headers, body, now)?)
    }

    fn parse(&self, body: &[u8]) -> Result<Notification, NotificationRejection> {
        ours(self.inner.parse(body)?)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        self.inner.acknowledgement()
    }

    fn failure(&self, status: u16, message: &str) -> Acknowledgement {
        self.inner.failure(status, message)
    }
}
