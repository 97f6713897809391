//! mockpay's payment and refund statuses as they travel in `info.status` (tests/mockpay/README.md,
//! "Payments", "Refunds"), and what each is in our terms.
//!
//! A status mockpay does not document still reads (an answer is not refused for it), as
//! `Undocumented`; turning it into ours is an [`Unreadable`] error, so the call is UNKNOWN.

use super::transformers::Unreadable;
use crate::providers::answers::{PaymentStatus, RefundStatus};
use serde::{Deserialize, Serialize};

/// A payment's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MockpayPaymentStatus {
    Waiting,
    /// Paid with `captureMethod: manual`: the money is held, not taken.
    Authorized,
    Succeeded,
    Declined,
    /// An authorisation released without a capture.
    Voided,
    Closed,
    Expired,
    #[serde(other)]
    Undocumented,
}

impl MockpayPaymentStatus {
    /// Ours.
    pub fn ours(self) -> Result<PaymentStatus, Unreadable> {
        match self {
            Self::Waiting => Ok(PaymentStatus::WaitingForCustomer),
            Self::Authorized => Ok(PaymentStatus::Authorized),
            Self::Succeeded => Ok(PaymentStatus::Succeeded),
            Self::Voided => Ok(PaymentStatus::Closed),
            Self::Declined => Ok(PaymentStatus::Failed),
            Self::Closed => Ok(PaymentStatus::Closed),
            Self::Expired => Ok(PaymentStatus::Expired),
            Self::Undocumented => Err(Unreadable("unknown payment status".to_owned())),
        }
    }
}

/// A refund's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MockpayRefundStatus {
    Processing,
    Succeeded,
    Failed,
    #[serde(other)]
    Undocumented,
}

impl MockpayRefundStatus {
    /// Ours.
    pub fn ours(self) -> Result<RefundStatus, Unreadable> {
        match self {
            Self::Processing => Ok(RefundStatus::Processing),
            Self::Succeeded => Ok(RefundStatus::Succeeded),
            Self::Failed => Ok(RefundStatus::Failed),
            Self::Undocumented => Err(Unreadable("unknown refund status".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(s: &str) -> MockpayPaymentStatus {
        serde_json::from_value(serde_json::Value::String(s.into())).unwrap()
    }

    fn refund(s: &str) -> MockpayRefundStatus {
        serde_json::from_value(serde_json::Value::String(s.into())).unwrap()
    }

    #[test]
    fn statuses_map_and_unknown_ones_are_unreadable() {
        assert_eq!(payment("DECLINED").ours().unwrap(), PaymentStatus::Failed);
        assert_eq!(payment("EXPIRED").ours().unwrap(), PaymentStatus::Expired);
        assert_eq!(payment("WAITING").ours().unwrap(), PaymentStatus::WaitingForCustomer);
        assert!(payment("PAID").ours().is_err());
        assert_eq!(payment("AUTHORIZED").ours().unwrap(), PaymentStatus::Authorized);
        assert_eq!(payment("VOIDED").ours().unwrap(), PaymentStatus::Closed);
        assert_eq!(refund("PROCESSING").ours().unwrap(), RefundStatus::Processing);
        assert!(refund("CANCELLED").ours().is_err());
    }
}
