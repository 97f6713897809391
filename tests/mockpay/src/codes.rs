//! The return codes mockpay answers with (LINE Pay style), as one table.
//!
//! Every API answer carries a `returnCode`. The HTTP status only separates three cases:
//! 401 for a header or signature error (`1106`), 5xx for an injected server error (`9000`),
//! and 200 for everything else, including declines and rejected requests. The README's table
//! is checked against [`ReturnCode::ALL`] by a unit test.

use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A mockpay return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnCode {
    /// `0000`: success.
    Success,
    /// `1101`: declined, insufficient funds.
    InsufficientFunds,
    /// `1102`: declined, the customer's account is suspended.
    AccountSuspended,
    /// `1106`: a missing or wrong header, signature, timestamp or nonce.
    HeaderError,
    /// `1110`: invalid request (bad JSON, a missing or invalid field; the message names it).
    InvalidRequest,
    /// `1145`: the payment is being processed; try again later.
    PaymentInProcess,
    /// `1150`: no such transaction (or no paid transaction to refund).
    NoSuchTransaction,
    /// `1160`: already paid, so it cannot be closed.
    AlreadyPaid,
    /// `1164`: the amount exceeds the refundable amount.
    ExceedsRefundable,
    /// `1165`: already fully refunded.
    AlreadyRefunded,
    /// `1172`: a transaction with the same orderId (or refundId) exists with different parameters.
    ExistingTransaction,
    /// `1180`: the payment is expired or closed.
    Expired,
    /// `1198`: a request with the same idempotency key is still being processed.
    DuplicateInProgress,
    /// `9000`: internal error (only ever injected).
    InternalError,
}

impl ReturnCode {
    /// Every code, in table order.
    pub const ALL: [ReturnCode; 14] = [
        ReturnCode::Success,
        ReturnCode::InsufficientFunds,
        ReturnCode::AccountSuspended,
        ReturnCode::HeaderError,
        ReturnCode::InvalidRequest,
        ReturnCode::PaymentInProcess,
        ReturnCode::NoSuchTransaction,
        ReturnCode::AlreadyPaid,
        ReturnCode::ExceedsRefundable,
        ReturnCode::AlreadyRefunded,
        ReturnCode::ExistingTransaction,
        ReturnCode::Expired,
        ReturnCode::DuplicateInProgress,
        ReturnCode::InternalError,
    ];

    /// The four-digit wire code.
    pub fn code(self) -> &'static str {
        self.row().0
    }

    /// The default `returnMessage`.
    pub fn message(self) -> &'static str {
        self.row().1
    }

    /// The HTTP status this code is sent with.
    pub fn http_status(self) -> StatusCode {
        self.row().2
    }

    /// Whether this code is a decline of the charge (the payment is then DECLINED, final).
    pub fn is_decline(self) -> bool {
        matches!(self, ReturnCode::InsufficientFunds | ReturnCode::AccountSuspended)
    }

    /// Parses a wire code.
    pub fn from_code(code: &str) -> Option<ReturnCode> {
        ReturnCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Parses a wire code that is a decline (a `declineCode`).
    pub fn decline(code: &str) -> Option<ReturnCode> {
        ReturnCode::from_code(code).filter(|c| c.is_decline())
    }

    fn row(self) -> (&'static str, &'static str, StatusCode) {
        match self {
            ReturnCode::Success => ("0000", "Success", StatusCode::OK),
            ReturnCode::InsufficientFunds => ("1101", "Declined: insufficient funds", StatusCode::OK),
            ReturnCode::AccountSuspended => ("1102", "Declined: account suspended", StatusCode::OK),
            ReturnCode::HeaderError => ("1106", "Header or signature error", StatusCode::UNAUTHORIZED),
            ReturnCode::InvalidRequest => ("1110", "Invalid request", StatusCode::OK),
            ReturnCode::PaymentInProcess => ("1145", "Payment in process", StatusCode::OK),
            ReturnCode::NoSuchTransaction => ("1150", "No such transaction", StatusCode::OK),
            ReturnCode::AlreadyPaid => ("1160", "Already paid: cannot close", StatusCode::OK),
            ReturnCode::ExceedsRefundable => ("1164", "Exceeds the refundable amount", StatusCode::OK),
            ReturnCode::AlreadyRefunded => ("1165", "Already fully refunded", StatusCode::OK),
            ReturnCode::ExistingTransaction => {
                ("1172", "Existing transaction with the same id but different parameters", StatusCode::OK)
            }
            ReturnCode::Expired => ("1180", "Expired or closed", StatusCode::OK),
            ReturnCode::DuplicateInProgress => ("1198", "Duplicate request in progress", StatusCode::OK),
            ReturnCode::InternalError => ("9000", "Internal error", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl std::fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for ReturnCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for ReturnCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        ReturnCode::from_code(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown return code {s}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for c in ReturnCode::ALL {
            assert_eq!(ReturnCode::from_code(c.code()), Some(c));
            assert_eq!(c.code().len(), 4);
        }
        let mut codes: Vec<_> = ReturnCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ReturnCode::ALL.len());
    }

    #[test]
    fn readme_documents_every_code() {
        let readme = include_str!("../README.md");
        for c in ReturnCode::ALL {
            let row = format!("| `{}` |", c.code());
            assert!(readme.contains(&row), "README.md has no table row for {}", c.code());
        }
    }
}
