//! What a provider said, in our terms, and how a call ended.
//!
//! [`CallOutcome`] separates the four ways a call can end, because each asks something different
//! of the dispatcher:
//! - [`CallOutcome::Answer`]: the provider answered about the payment or refund; the facts decide
//!   the transition (a decline is an answer with [`PaymentStatus::Failed`]);
//! - [`CallOutcome::Refused`]: the provider definitively refused the request and nothing happened
//!   (exceeds refundable, a conflicting reuse of our number, a bad request);
//! - [`CallOutcome::RetryLater`]: the provider is busy with the same order (LINE Pay 1145, 1198);
//!   nothing happened yet, asking again later is safe;
//! - [`CallOutcome::Unknown`]: a timeout, a 5xx, a dropped connection, an answer we cannot
//!   read: it may or may not have happened. Never re-sent blindly; queried.

use super::codes::MappedCode;
use super::exchange::Exchange;
use crate::domain::Money;
use crate::messages::events::CustomerAction;
use chrono::{DateTime, Utc};

/// A payment's status at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Waiting for the customer to act (redirect, form, QR code, client secret).
    WaitingForCustomer,
    /// The provider has it and is working on it; nothing for the customer to do.
    Processing,
    /// The provider holds the customer's money for a capture (a pay that asked for manual
    /// capture); none of it has moved yet.
    Authorized,
    /// The money moved (for a manual capture: it was captured).
    Succeeded,
    /// Definitively refused (a decline).
    Failed,
    /// Closed without payment.
    Closed,
    /// Expired without payment.
    Expired,
    /// The provider has no payment with this trade number (a query or close only).
    NotFound,
}

/// What a provider said about a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFacts {
    pub status: PaymentStatus,
    /// The provider's transaction id, once it has one; a string (LINE Pay ids exceed 2^53).
    pub provider_txn_id: Option<String>,
    /// What the customer must do, while [`PaymentStatus::WaitingForCustomer`].
    pub action: Option<CustomerAction>,
    /// The amount the provider has for this payment, when it says (checked against ours).
    pub amount: Option<Money>,
    /// How much the provider has refunded, when it says.
    pub refunded: Option<Money>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl PaymentFacts {
    /// Facts with only a status.
    pub fn status(status: PaymentStatus) -> Self {
        Self { status, provider_txn_id: None, action: None, amount: None, refunded: None, paid_at: None }
    }
}

/// A refund's status at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Accepted; the money is on its way.
    Processing,
    Succeeded,
    /// Definitively not refunded: the amount may be refunded again.
    Failed,
    /// The provider has no refund with this number (a refund query only).
    NotFound,
}

/// What a provider said about a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFacts {
    pub status: RefundStatus,
    pub provider_refund_id: Option<String>,
    pub amount: Option<Money>,
}

impl RefundFacts {
    /// Facts with only a status.
    pub fn status(status: RefundStatus) -> Self {
        Self { status, provider_refund_id: None, amount: None }
    }
}

/// What the provider did to a payment it was asked to reverse ([`super::ProviderAdapter::reverse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalStatus {
    /// The payment was unpaid: the provider closed it; no money moved.
    Closed,
    /// The payment had been paid: the provider refunded it in full and closed it.
    Refunded,
    /// The provider has no payment with this trade number (the caller decides when to believe it).
    NotFound,
}

/// What a provider said to a reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalFacts {
    pub status: ReversalStatus,
    /// The provider's transaction id, when it says.
    pub provider_txn_id: Option<String>,
}

/// How a call ended. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome<T> {
    Answer { facts: T, code: MappedCode },
    Refused { code: MappedCode },
    RetryLater { code: MappedCode },
    Unknown { reason: String, code: Option<MappedCode> },
}

impl<T> CallOutcome<T> {
    /// The unified code, where the provider gave one.
    pub fn code(&self) -> Option<&MappedCode> {
        match self {
            CallOutcome::Answer { code, .. }
            | CallOutcome::Refused { code }
            | CallOutcome::RetryLater { code } => Some(code),
            CallOutcome::Unknown { code, .. } => code.as_ref(),
        }
    }
}

/// A call's outcome together with its raw exchange (redacted), which the caller logs whatever the
/// outcome.
#[derive(Debug, Clone)]
pub struct Called<T> {
    pub outcome: CallOutcome<T>,
    pub exchange: Exchange,
    /// Exchanges the adapter made before `exchange` to reach the outcome, logged before it: e.g.
    /// Alipay's close answered "the trade's state does not allow it", before the query that says
    /// which state.
    pub earlier: Vec<Exchange>,
}

impl<T> Called<T> {
    /// A call of one exchange.
    pub fn new(outcome: CallOutcome<T>, exchange: Exchange) -> Self {
        Called { outcome, exchange, earlier: Vec::new() }
    }
}
