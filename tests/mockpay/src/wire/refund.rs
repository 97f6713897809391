//! Refund requests and answers on the wire, and their conversions.

use crate::model::Refund;
use crate::wire::{check_id, check_url};
use serde::{Deserialize, Serialize};

/// `POST /v1/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRefundRequest {
    /// The payment's orderId.
    pub order_id: String,
    /// The merchant's refund number; the idempotency key of the refund.
    pub refund_id: String,
    /// Integer minor units, > 0, in the payment's currency.
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the REFUND.* notification goes; defaults to the payment's notifyUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

/// A validated refund request.
#[derive(Debug, Clone)]
pub(crate) struct NewRefund {
    pub order_id: String,
    pub refund_id: String,
    pub amount: i64,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
}

impl CreateRefundRequest {
    pub(crate) fn into_new_refund(self) -> Result<NewRefund, String> {
        check_id("orderId", &self.order_id)?;
        check_id("refundId", &self.refund_id)?;
        if self.amount <= 0 {
            return Err("amount: must be a positive integer in minor units".into());
        }
        check_url("notifyUrl", &self.notify_url)?;
        Ok(NewRefund {
            order_id: self.order_id,
            refund_id: self.refund_id,
            amount: self.amount,
            reason: self.reason,
            notify_url: self.notify_url,
        })
    }
}

/// `info` of `POST /v1/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRefundInfo {
    /// 19 digits: keep it a string.
    pub refund_transaction_id: String,
    pub refund_id: String,
    pub order_id: String,
    /// PROCESSING or SUCCEEDED (or FAILED when a refund that already failed is asked again).
    pub status: String,
}

/// `info` of `GET /v1/refunds/{refundId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundInfo {
    pub refund_id: String,
    pub refund_transaction_id: String,
    pub order_id: String,
    pub amount: i64,
    /// PROCESSING, SUCCEEDED or FAILED.
    pub status: String,
}

pub(crate) fn create_info(r: &Refund) -> CreateRefundInfo {
    CreateRefundInfo {
        refund_transaction_id: r.refund_transaction_id.clone(),
        refund_id: r.key.refund_id.clone(),
        order_id: r.order_id.clone(),
        status: r.status.as_str().to_owned(),
    }
}

pub(crate) fn refund_info(r: &Refund) -> RefundInfo {
    RefundInfo {
        refund_id: r.key.refund_id.clone(),
        refund_transaction_id: r.refund_transaction_id.clone(),
        order_id: r.order_id.clone(),
        amount: r.amount,
        status: r.status.as_str().to_owned(),
    }
}
