//! The simulator's domain: payments, refunds and their states, independent of the wire format.

use crate::codes::ReturnCode;
use chrono::{DateTime, Utc};
pub(crate) use simkit::RefundFate;

/// A payment is identified by the merchant and the merchant's order id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PaymentKey {
    pub merchant_id: String,
    pub order_id: String,
}

/// A refund is identified by the merchant and the merchant's refund id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RefundKey {
    pub merchant_id: String,
    pub refund_id: String,
}

/// How the customer is asked to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayMethod {
    Redirect,
    Form,
    Qr,
    ClientSecret,
    /// A POS one-time key: the charge happens at once.
    Direct,
}

impl PayMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::Redirect => "redirect",
            PayMethod::Form => "form",
            PayMethod::Qr => "qr",
            PayMethod::ClientSecret => "client_secret",
            PayMethod::Direct => "direct",
        }
    }
}

/// A payment's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaymentStatus {
    Waiting,
    /// Paid with `captureMethod: manual`: the money is held, not taken, until a capture.
    Authorized,
    Succeeded,
    Declined,
    Closed,
    Expired,
    /// An authorisation released by a void, without a capture.
    Voided,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Waiting => "WAITING",
            PaymentStatus::Authorized => "AUTHORIZED",
            PaymentStatus::Voided => "VOIDED",
            PaymentStatus::Succeeded => "SUCCEEDED",
            PaymentStatus::Declined => "DECLINED",
            PaymentStatus::Closed => "CLOSED",
            PaymentStatus::Expired => "EXPIRED",
        }
    }
}

/// A refund's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefundStatus {
    Processing,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Succeeded => "SUCCEEDED",
            RefundStatus::Failed => "FAILED",
        }
    }
}

/// The parameters of a new payment, validated.
#[derive(Debug, Clone)]
pub(crate) struct NewPayment {
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub pay_method: PayMethod,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `captureMethod: manual`: paying authorises; a capture takes the money.
    pub capture_manual: bool,
}

/// A payment as the provider knows it.
#[derive(Debug, Clone)]
pub(crate) struct Payment {
    pub key: PaymentKey,
    pub transaction_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub pay_method: PayMethod,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub client_secret: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: PaymentStatus,
    pub paid_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub decline_code: Option<ReturnCode>,
    /// `captureMethod: manual`.
    pub capture_manual: bool,
    /// When an AUTHORIZED payment not captured by then becomes EXPIRED (released).
    pub authorization_expires_at: Option<DateTime<Utc>>,
    /// What a capture took (at most the amount; the rest was released).
    pub captured_amount: Option<i64>,
    /// How many times money was actually taken (the invariant is at most 1).
    pub charges: u32,
    /// Refund ids, in creation order.
    pub refund_ids: Vec<String>,
    /// Notification ids, in creation order.
    pub notification_ids: Vec<String>,
}

impl Payment {
    /// The money taken: the captured amount of a manual-capture payment, the amount otherwise.
    pub fn taken(&self) -> i64 {
        self.captured_amount.unwrap_or(self.amount)
    }

    /// The first parameter that differs from a repeated request, if any.
    /// notifyUrl, returnUrl and expiresAt are taken from the first request and not compared.
    pub fn differing_param(&self, new: &NewPayment) -> Option<&'static str> {
        if self.amount != new.amount {
            Some("amount")
        } else if self.currency != new.currency {
            Some("currency")
        } else if self.description != new.description {
            Some("description")
        } else if self.pay_method != new.pay_method {
            Some("payMethod")
        } else if self.capture_manual != new.capture_manual {
            Some("captureMethod")
        } else {
            None
        }
    }
}

/// A refund as the provider knows it.
#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub key: RefundKey,
    pub order_id: String,
    pub refund_transaction_id: String,
    pub amount: i64,
    pub reason: Option<String>,
    pub notify_url: Option<String>,
    pub status: RefundStatus,
    pub fate: RefundFate,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A payment with its refunds, as read at one moment.
#[derive(Debug, Clone)]
pub(crate) struct PaymentView {
    pub payment: Payment,
    pub refunds: Vec<Refund>,
}

impl PaymentView {
    /// The sum of the SUCCEEDED refunds.
    pub fn refunded_amount(&self) -> i64 {
        self.refunds.iter().filter(|r| r.status == RefundStatus::Succeeded).map(|r| r.amount).sum()
    }

    /// What can still be refunded: PROCESSING refunds hold their amount, FAILED ones release it.
    pub fn refundable_amount(&self) -> i64 {
        if self.payment.status != PaymentStatus::Succeeded {
            return 0;
        }
        let held: i64 =
            self.refunds.iter().filter(|r| r.status != RefundStatus::Failed).map(|r| r.amount).sum();
        self.payment.taken() - held
    }
}

/// The kinds of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    PaymentSucceeded,
    PaymentDeclined,
    PaymentClosed,
    PaymentExpired,
    RefundSucceeded,
    RefundFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentSucceeded => "PAYMENT.SUCCEEDED",
            EventType::PaymentDeclined => "PAYMENT.DECLINED",
            EventType::PaymentClosed => "PAYMENT.CLOSED",
            EventType::PaymentExpired => "PAYMENT.EXPIRED",
            EventType::RefundSucceeded => "REFUND.SUCCEEDED",
            EventType::RefundFailed => "REFUND.FAILED",
        }
    }
}
