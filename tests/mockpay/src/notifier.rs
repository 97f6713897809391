//! mockpay's notifications (webhooks): the JSON body, and the channel that signs each attempt.
//! Delivery, retries and the notification faults are simkit's (`simkit::notify`).
//!
//! A notification's body is serialised once and sent byte-identical on every attempt and
//! duplicate; each attempt has a fresh timestamp, nonce and signature. The receiver
//! acknowledges with HTTP 200 and `{"returnCode":"0000"}`; anything else (another status or
//! body, a connection error, no answer within `notifyTimeoutMs`) is retried after each wait of
//! `notifyRetryMs`, then given up.

use crate::app::App;
use crate::ids;
use crate::model::{EventType, Payment, PaymentKey, Refund};
use crate::signing;
use crate::wire::headers::{
    NONCE as HEADER_NONCE, SIGNATURE as HEADER_SIGNATURE, TIMESTAMP as HEADER_TIMESTAMP,
};
use crate::wire::notification::{NotificationBody, is_ack};
use chrono::{DateTime, Utc};
use simkit::Kit;
use simkit::notify::{self, Channel, NewNotification, Notification, Schedule};
use std::time::Duration;

/// A notification to create, built by the flows while they hold the ledger.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    key: PaymentKey,
    event: EventType,
    refund_id: Option<String>,
    amount: i64,
    url: Option<String>,
    at: DateTime<Utc>,
}

impl Draft {
    pub fn payment(p: &Payment, event: EventType, at: DateTime<Utc>) -> Draft {
        Draft { key: p.key.clone(), event, refund_id: None, amount: p.amount, url: p.notify_url.clone(), at }
    }

    pub fn refund(p: &Payment, r: &Refund, event: EventType, at: DateTime<Utc>) -> Draft {
        Draft {
            key: p.key.clone(),
            event,
            refund_id: Some(r.key.refund_id.clone()),
            amount: r.amount,
            url: r.notify_url.clone(),
            at,
        }
    }
}

impl Channel for App {
    fn kit(&self) -> &Kit {
        &self.kit
    }

    fn schedule(&self) -> Schedule {
        let s = self.settings();
        Schedule {
            retry: s.notify_retry_ms.iter().copied().map(Duration::from_millis).collect(),
            attempt_timeout: Duration::from_millis(s.notify_timeout_ms),
            reorder_max_hold: Duration::from_millis(s.reorder_max_hold_ms),
        }
    }

    fn request(&self, n: &Notification, _copy: u32, _attempt: u32) -> reqwest::RequestBuilder {
        let secret = self.secret(&n.merchant_id).unwrap_or_default();
        let timestamp = Utc::now().timestamp().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature =
            signing::sign(&secret, &signing::notification_message(&timestamp, &nonce, n.body.as_bytes()));
        self.kit
            .http
            .post(&n.url)
            .header("Content-Type", &n.content_type)
            .header(HEADER_TIMESTAMP, &timestamp)
            .header(HEADER_NONCE, &nonce)
            .header(HEADER_SIGNATURE, &signature)
            .body(n.body.clone())
    }

    fn is_ack(&self, status: u16, body: &str) -> bool {
        is_ack(status, body)
    }
}

/// Creates the notifications and starts their delivery. Call without holding the ledger.
pub(crate) fn dispatch(app: &App, drafts: Vec<Draft>) {
    for d in drafts {
        dispatch_one(app, d);
    }
}

fn dispatch_one(app: &App, d: Draft) {
    let Some(url) = d.url.clone() else {
        return;
    };
    let mut ledger = app.ledger();
    let Some(p) = ledger.payments.get_mut(&d.key) else {
        return;
    };
    let id = ids::notification_id();
    let body = NotificationBody {
        notification_id: id.clone(),
        event_type: d.event.as_str().to_owned(),
        merchant_id: d.key.merchant_id.clone(),
        order_id: d.key.order_id.clone(),
        transaction_id: p.transaction_id.clone(),
        refund_id: d.refund_id.clone(),
        amount: d.amount,
        currency: p.currency.clone(),
        occurred_at: crate::wire::time(d.at),
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    p.notification_ids.push(id.clone());
    drop(ledger);
    notify::dispatch(
        app,
        NewNotification {
            id,
            merchant_id: d.key.merchant_id,
            order_id: d.key.order_id,
            event_type: d.event.as_str().to_owned(),
            refund_id: d.refund_id,
            url,
            body,
            content_type: "application/json".into(),
        },
    );
}
