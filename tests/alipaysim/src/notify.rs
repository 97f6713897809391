//! Asynchronous notifications (`notify_type=trade_status_sync`): a form POST to the trade's
//! `notify_url`, RSA2-signed with Alipay's key over the sorted parameters (all but `sign` and
//! `sign_type`), acknowledged only by HTTP 200 and the body `success`. Retried on Alipay's
//! schedule (4m, 10m, 10m, 1h, 2h, 6h, 15h, scaled by `notifyTimeScalePpm`) by simkit's engine,
//! with its faults (lost, duplicate, late, reordered). The body is the same on every attempt.

use crate::app::{App, Trade, TradeStatus, bj, yuan};
use chrono::{DateTime, Utc};
use simkit::Kit;
use simkit::notify::{Channel, NewNotification, Notification, Schedule, scaled};
use std::time::Duration;

/// What a notification is about.
#[derive(Clone, Copy)]
pub enum About<'a> {
    /// The trade's current state (paid, closed).
    State,
    /// A refund: its request number, and when it succeeded.
    Refund(&'a str, DateTime<Utc>),
}

impl Channel for App {
    fn kit(&self) -> &Kit {
        &self.kit
    }

    fn schedule(&self) -> Schedule {
        let s = self.settings();
        Schedule {
            retry: s
                .notify_retry_minutes
                .iter()
                .map(|m| scaled(Duration::from_secs(m.saturating_mul(60)), s.notify_time_scale_ppm))
                .collect(),
            attempt_timeout: Duration::from_millis(s.notify_timeout_ms),
            reorder_max_hold: scaled(Duration::from_secs(240), s.notify_time_scale_ppm),
        }
    }

    fn request(&self, n: &Notification, _copy: u32, _attempt: u32) -> reqwest::RequestBuilder {
        self.kit.http.post(&n.url).header("Content-Type", &n.content_type).body(n.body.clone())
    }

    fn is_ack(&self, status: u16, body: &str) -> bool {
        status == 200 && body == "success"
    }
}

/// The notification about `trade` (None without a notify_url). Call with the book locked, then
/// dispatch after unlocking.
pub fn build(app: &App, trade: &mut Trade, about: About<'_>) -> Option<NewNotification> {
    let url = trade.notify_url.clone()?;
    let now = Utc::now();
    let id = format!("{}", uuid::Uuid::new_v4().simple());
    let mut p: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| p.push((k.to_owned(), v));
    put("notify_time", bj(now));
    put("notify_type", "trade_status_sync".into());
    put("notify_id", id.clone());
    put("charset", "utf-8".into());
    put("version", "1.0".into());
    put("sign_type", "RSA2".into());
    put("app_id", trade.app_id.clone());
    put("auth_app_id", trade.app_id.clone());
    put("trade_no", trade.trade_no.clone());
    put("out_trade_no", trade.out_trade_no.clone());
    put("seller_id", app.seller_id(&trade.app_id));
    put("buyer_id", trade.buyer_user_id.clone());
    put("buyer_logon_id", trade.buyer_logon_id.clone());
    put("trade_status", trade.status.as_str().into());
    put("total_amount", yuan(trade.total_amount));
    put("subject", trade.subject.clone());
    put("gmt_create", bj(trade.created_at));
    if let Some(t) = trade.paid_at {
        put("receipt_amount", yuan(trade.total_amount));
        put("invoice_amount", yuan(trade.total_amount));
        put("buyer_pay_amount", yuan(trade.total_amount));
        put("point_amount", "0.00".into());
        put("gmt_payment", bj(t));
    }
    if trade.status == TradeStatus::TradeClosed
        && let Some(t) = trade.closed_at
    {
        put("gmt_close", bj(t));
    }
    if let About::Refund(request_no, at) = about {
        put("refund_fee", yuan(trade.refunded()));
        put("gmt_refund", format!("{}.000", bj(at)));
        put("out_biz_no", request_no.to_owned());
    }
    let sign = crate::keys::sign(&app.alipay_key, &crate::keys::notification_string(&p));
    p.push(("sign".into(), sign));
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(p.iter()).finish();
    trade.notification_ids.push(id.clone());
    Some(NewNotification {
        id,
        merchant_id: trade.app_id.clone(),
        order_id: trade.out_trade_no.clone(),
        event_type: trade.status.as_str().to_owned(),
        refund_id: match about {
            About::Refund(r, _) => Some(r.to_owned()),
            About::State => None,
        },
        url,
        body,
        content_type: "application/x-www-form-urlencoded; charset=utf-8".into(),
    })
}

/// Starts the deliveries. Call without the book locked.
pub fn dispatch(app: &App, notes: Vec<NewNotification>) {
    for n in notes {
        simkit::notify::dispatch(app, n);
    }
}
