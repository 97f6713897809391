//! Notifications (回调通知) as WeChat Pay sends them: a JSON envelope whose `resource` is sealed
//! with AES-256-GCM under the APIv3 key (`associated_data` = the resource type, a 12-character
//! nonce), POSTed to `notify_url` with the platform signature headers, signed afresh on every
//! attempt. A 200 or 204 acknowledges it (the body is not read); anything else, or no answer in
//! time, is retried on WeChat's schedule, 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h
//! (24h4m in all), scaled by `notifyScalePpm`. simkit's engine does the delivery and the
//! lost/duplicate/late/reordered faults.

use crate::app::App;
use crate::model::{Order, Refund, RefundStatus, wechat_time};
use crate::wire;
use paygate::providers::wechatpay::notification::seal_resource;
use serde_json::json;
use simkit::Kit;
use simkit::notify::{self, Channel, NewNotification, Notification, Schedule, scaled};
use std::time::Duration;

/// WeChat Pay's waits between notification attempts, in seconds.
pub const RETRY_SECS: [u64; 15] =
    [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600];

#[derive(Clone)]
pub(crate) struct WechatChannel(pub App);

impl Channel for WechatChannel {
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
        let mut request = self
            .0
            .kit
            .http
            .post(&n.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "Mozilla/4.0 (wechatpaysim)")
            .body(n.body.clone());
        for (name, value) in wire::signature_headers(&self.0, n.body.as_bytes()) {
            request = request.header(name, value);
        }
        request
    }

    fn is_ack(&self, status: u16, _body: &str) -> bool {
        status == 200 || status == 204
    }
}

fn seal(
    app: &App,
    original_type: &str,
    event_type: &str,
    summary: &str,
    plaintext: &serde_json::Value,
) -> String {
    let nonce: String = wire::nonce().chars().take(12).collect();
    let resource =
        seal_resource(&app.platform.apiv3, original_type, &plaintext.to_string(), &nonce, original_type);
    let now = chrono::Utc::now();
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "create_time": wechat_time(now),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": resource,
    })
    .to_string()
}

fn send(
    app: &App,
    mchid: &str,
    out_trade_no: &str,
    event_type: &str,
    refund: Option<&str>,
    url: &str,
    body: String,
) {
    let id = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Some(o) = app.ledger().order_mut(mchid, out_trade_no) {
        o.notifications.push(id.clone());
    }
    notify::dispatch(
        &WechatChannel(app.clone()),
        NewNotification {
            id,
            merchant_id: mchid.to_owned(),
            order_id: out_trade_no.to_owned(),
            event_type: event_type.to_owned(),
            refund_id: refund.map(str::to_owned),
            url: url.to_owned(),
            body,
            content_type: "application/json".to_owned(),
        },
    );
}

/// `TRANSACTION.SUCCESS` for a paid order.
pub(crate) fn transaction_success(app: &App, o: &Order) {
    let resource = crate::api::transaction_json(o);
    let body = seal(app, "transaction", "TRANSACTION.SUCCESS", "支付成功", &resource);
    send(app, &o.mchid, &o.out_trade_no, "TRANSACTION.SUCCESS", None, &o.notify_url, body);
}

/// `REFUND.SUCCESS`, `REFUND.ABNORMAL` or `REFUND.CLOSED` for a refund that ended, if it named a
/// notify_url (WeChat Pay would otherwise use the one set in the merchant platform, which the
/// simulator does not have).
pub(crate) fn refund_ended(app: &App, r: &Refund) {
    let Some(url) = r.notify_url.clone() else { return };
    let (event, summary) = match r.status {
        RefundStatus::Success => ("REFUND.SUCCESS", "退款成功"),
        RefundStatus::Abnormal => ("REFUND.ABNORMAL", "退款异常"),
        RefundStatus::Closed => ("REFUND.CLOSED", "退款关闭"),
        RefundStatus::Processing => return,
    };
    let mut resource = json!({
        "mchid": r.mchid,
        "out_trade_no": r.out_trade_no,
        "transaction_id": r.transaction_id,
        "out_refund_no": r.out_refund_no,
        "refund_id": r.refund_id,
        "refund_status": r.status.as_str(),
        "user_received_account": "支付用户零钱",
        "amount": {"total": r.total, "refund": r.refund, "payer_total": r.total, "payer_refund": r.refund},
    });
    if let Some(t) = r.success_time {
        resource["success_time"] = json!(wechat_time(t));
    }
    let body = seal(app, "refund", event, summary, &resource);
    send(app, &r.mchid, &r.out_trade_no, event, Some(&r.out_refund_no), &url, body);
}
