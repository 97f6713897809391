//! The notification (webhook) body mockpay POSTs to a notifyUrl, and the acknowledgement it
//! expects back.

use crate::codes::ReturnCode;
use serde::{Deserialize, Serialize};

/// The JSON body of a notification. The body bytes are identical on every attempt and duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationBody {
    /// Stable across retries and duplicates: deduplicate on it.
    pub notification_id: String,
    /// PAYMENT.SUCCEEDED, PAYMENT.DECLINED, PAYMENT.CLOSED, PAYMENT.EXPIRED, REFUND.SUCCEEDED,
    /// REFUND.FAILED.
    pub event_type: String,
    pub merchant_id: String,
    pub order_id: String,
    pub transaction_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// The payment's amount, or the refund's for REFUND.*, in minor units.
    pub amount: i64,
    pub currency: String,
    /// RFC 3339, UTC, milliseconds: when the event happened (not when it was sent).
    pub occurred_at: String,
}

/// The body a receiver answers with (HTTP 200) to acknowledge a notification.
pub const ACK_BODY: &str = r#"{"returnCode":"0000"}"#;

/// Whether a receiver's answer acknowledges the notification: HTTP 200 and a JSON body whose
/// `returnCode` is `"0000"`.
pub(crate) fn is_ack(status: u16, body: &str) -> bool {
    status == 200
        && serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("returnCode").and_then(|c| c.as_str().map(|c| c == ReturnCode::Success.code()))
            })
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgement() {
        assert!(is_ack(200, ACK_BODY));
        assert!(is_ack(200, r#"{"returnCode":"0000","returnMessage":"ok"}"#));
        assert!(!is_ack(200, "success"));
        assert!(!is_ack(200, r#"{"returnCode":"9000"}"#));
        assert!(!is_ack(204, ACK_BODY));
        assert!(!is_ack(500, ACK_BODY));
    }
}
