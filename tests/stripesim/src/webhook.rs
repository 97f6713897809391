//! Events as Stripe sends them to a webhook endpoint: `{id: "evt_…", object: "event", type,
//! created, livemode, data: {object}}`, POSTed as JSON with `Stripe-Signature: t=…,v1=…` signed
//! afresh (new `t`) on every attempt with the endpoint's secret. Any 2xx acknowledges; anything
//! else, or no answer in time, is retried with an exponential back-off for up to three days
//! (Stripe's documentation for live mode; the exact waits are not published, those here are
//! chosen to fit), scaled by `notifyScalePpm`. simkit's engine does the delivery and the
//! lost / duplicate / late / reordered faults (order is not guaranteed at Stripe either).

use crate::app::App;
use serde_json::{Value, json};
use simkit::Kit;
use simkit::notify::{self, Channel, NewNotification, Notification, Schedule, scaled};
use std::time::Duration;

/// The waits between webhook attempts, in seconds: an exponential back-off over about 2.8 days.
pub const RETRY_SECS: [u64; 10] = [60, 300, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 57600];

#[derive(Clone)]
pub(crate) struct StripeChannel(pub App);

impl Channel for StripeChannel {
    fn kit(&self) -> &Kit {
        &self.0.kit
    }

    fn schedule(&self) -> Schedule {
        let s = self.0.settings();
        let scale = s.notify_scale_ppm;
        Schedule {
            retry: RETRY_SECS.iter().map(|secs| scaled(Duration::from_secs(*secs), scale)).collect(),
            attempt_timeout: Duration::from_millis(s.notify_timeout_ms),
            reorder_max_hold: scaled(Duration::from_secs(30), scale),
        }
    }

    fn request(&self, n: &Notification, _copy: u32, _attempt: u32) -> reqwest::RequestBuilder {
        let t = chrono::Utc::now().timestamp();
        let secret = paygate::providers::stripe::signing::Secret::new(self.0.webhook_secret.clone());
        let v1 = paygate::providers::stripe::signing::sign(&secret, t, n.body.as_bytes());
        self.0
            .kit
            .http
            .post(&n.url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks) stripesim")
            .header("Stripe-Signature", paygate::providers::stripe::signing::header(t, &[v1]))
            .body(n.body.clone())
    }

    fn is_ack(&self, status: u16, _body: &str) -> bool {
        (200..300).contains(&status)
    }
}

/// Sends the event `kind` about `object` (a PaymentIntent's or a Refund's JSON) for the order
/// `trade_no`, if a webhook endpoint is set. Call without holding the ledger's lock.
pub(crate) fn send(app: &App, kind: &str, trade_no: &str, refund_no: Option<&str>, object: Value) {
    let Some(url) = app.settings().webhook_url else { return };
    let id = app.ledger().id("evt");
    let body = json!({
        "id": id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind,
        "data": { "object": object },
    })
    .to_string();
    if let Some(pi) = app.ledger().intents.values_mut().find(|p| p.trade_no() == trade_no) {
        pi.events.push(id.clone());
    }
    notify::dispatch(
        &StripeChannel(app.clone()),
        NewNotification {
            id,
            merchant_id: app.account.clone(),
            order_id: trade_no.to_owned(),
            event_type: kind.to_owned(),
            refund_id: refund_no.map(str::to_owned),
            url,
            body,
            content_type: "application/json".to_owned(),
        },
    );
}
