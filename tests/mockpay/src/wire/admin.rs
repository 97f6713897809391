//! Admin API shapes: the internal truth of a payment, run statistics, and the admin requests.

use crate::model::{PaymentView, Refund};
use crate::wire::time;
use serde::{Deserialize, Serialize};
use simkit::notify::Notification;
pub use simkit::notify::{AttemptTruth, NotificationTruth};
pub use simkit::stats::{NotificationStats, RefundStats, Stats};

/// `GET /admin/payments/{orderId}`: what really happened to a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentTruth {
    pub merchant_id: String,
    pub order_id: String,
    pub transaction_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub pay_method: String,
    pub status: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub paid_at: Option<String>,
    pub closed_at: Option<String>,
    pub decline_code: Option<String>,
    /// How many times money was actually taken. Exactly-once means this is 1 (or 0).
    pub charges: u32,
    /// The sum of the SUCCEEDED refunds.
    pub refunded_amount: i64,
    /// What can still be refunded (PROCESSING refunds hold their amount).
    pub refundable_amount: i64,
    /// What a capture took of a manual-capture payment (`captureMethod: manual`), once captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_amount: Option<i64>,
    pub notify_url: Option<String>,
    pub refunds: Vec<RefundTruth>,
    pub notifications: Vec<NotificationTruth>,
}

/// A refund as mockpay knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundTruth {
    pub refund_id: String,
    pub refund_transaction_id: String,
    pub amount: i64,
    pub status: String,
    pub reason: Option<String>,
    /// `succeed`, `fail` or `processing_forever`, decided at creation.
    pub fate: String,
    pub created_at: String,
    pub completed_at: Option<String>,
}

/// `POST /admin/merchants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddMerchant {
    pub merchant_id: String,
    pub secret: String,
}

/// `POST /admin/payments/{orderId}/decline` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeclineRequest {
    /// `1101` (default) or `1102`.
    #[serde(default)]
    pub decline_code: Option<String>,
}

/// `POST /admin/refunds/{refundId}/complete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteRefund {
    /// `SUCCEEDED` or `FAILED`.
    pub status: String,
}

pub(crate) fn payment_truth(view: &PaymentView, notifications: Vec<&Notification>) -> PaymentTruth {
    let p = &view.payment;
    PaymentTruth {
        merchant_id: p.key.merchant_id.clone(),
        order_id: p.key.order_id.clone(),
        transaction_id: p.transaction_id.clone(),
        amount: p.amount,
        currency: p.currency.clone(),
        description: p.description.clone(),
        pay_method: p.pay_method.as_str().to_owned(),
        status: p.status.as_str().to_owned(),
        created_at: time(p.created_at),
        expires_at: p.expires_at.map(time),
        paid_at: p.paid_at.map(time),
        closed_at: p.closed_at.map(time),
        decline_code: p.decline_code.map(|c| c.code().to_owned()),
        charges: p.charges,
        refunded_amount: view.refunded_amount(),
        refundable_amount: view.refundable_amount(),
        captured_amount: view.payment.captured_amount,
        notify_url: p.notify_url.clone(),
        refunds: view.refunds.iter().map(refund_truth).collect(),
        notifications: notifications.into_iter().map(NotificationTruth::from).collect(),
    }
}

fn refund_truth(r: &Refund) -> RefundTruth {
    RefundTruth {
        refund_id: r.key.refund_id.clone(),
        refund_transaction_id: r.refund_transaction_id.clone(),
        amount: r.amount,
        status: r.status.as_str().to_owned(),
        reason: r.reason.clone(),
        fate: r.fate.as_str().to_owned(),
        created_at: time(r.created_at),
        completed_at: r.completed_at.map(time),
    }
}
