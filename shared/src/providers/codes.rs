//! Return codes: each provider's codes mapped to ours, as data (docs/architecture.md, decision 10).
//!
//! A provider module holds one `static` table of its codes, reviewed in one place and tested, each
//! row with a [`CodeRule`]: its code, our [`UnifiedCode`], and two flags. `retryable`: asking again
//! later may give another answer (busy, in process). `definitive`: the answer settles what
//! happened to the request (it happened, or it certainly did not); a non-definitive answer on a
//! money-moving call makes the outcome UNKNOWN.

use serde::{Deserialize, Serialize};

/// paygate's own return codes, the same for every provider. The strings appear in events, the
/// exchange log (`provider_exchanges.unified_code`) and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnifiedCode {
    Success,
    DeclinedInsufficientFunds,
    DeclinedAccountSuspended,
    DeclinedOther,
    AuthenticationFailed,
    InvalidRequest,
    InProcess,
    DuplicateInProgress,
    NotFound,
    AlreadyPaid,
    ExceedsRefundable,
    AlreadyRefunded,
    IdempotencyConflict,
    ExpiredOrClosed,
    ProviderError,
    Timeout,
    TransportError,
    UnreadableAnswer,
    UnknownCode,
}

impl UnifiedCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::DeclinedInsufficientFunds => "declined_insufficient_funds",
            Self::DeclinedAccountSuspended => "declined_account_suspended",
            Self::DeclinedOther => "declined_other",
            Self::AuthenticationFailed => "authentication_failed",
            Self::InvalidRequest => "invalid_request",
            Self::InProcess => "in_process",
            Self::DuplicateInProgress => "duplicate_in_progress",
            Self::NotFound => "not_found",
            Self::AlreadyPaid => "already_paid",
            Self::ExceedsRefundable => "exceeds_refundable",
            Self::AlreadyRefunded => "already_refunded",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::ExpiredOrClosed => "expired_or_closed",
            Self::ProviderError => "provider_error",
            Self::Timeout => "timeout",
            Self::TransportError => "transport_error",
            Self::UnreadableAnswer => "unreadable_answer",
            Self::UnknownCode => "unknown_code",
        }
    }
}

/// One row of a provider's code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRule {
    pub provider_code: &'static str,
    pub unified: UnifiedCode,
    pub retryable: bool,
    pub definitive: bool,
    /// What the code means, for people.
    pub meaning: &'static str,
}

/// A provider's code as mapped for one answer: the table's row plus the provider's own message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedCode {
    pub provider_code: String,
    pub unified: UnifiedCode,
    pub retryable: bool,
    pub definitive: bool,
    pub message: String,
}

impl MappedCode {
    /// Maps `provider_code` through `table`. A code missing from the table is
    /// [`UnifiedCode::UnknownCode`], neither retryable nor definitive: it is treated as UNKNOWN
    /// and queried, never taken as success or failure.
    pub fn lookup<'a>(
        table: impl IntoIterator<Item = &'a CodeRule>,
        provider_code: &str,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        match table.into_iter().find(|r| r.provider_code == provider_code) {
            Some(r) => Self {
                provider_code: r.provider_code.to_owned(),
                unified: r.unified,
                retryable: r.retryable,
                definitive: r.definitive,
                message,
            },
            None => Self {
                provider_code: provider_code.to_owned(),
                unified: UnifiedCode::UnknownCode,
                retryable: false,
                definitive: false,
                message,
            },
        }
    }

    /// A code for an end without a provider answer (timeout, transport error, unreadable body).
    pub fn local(unified: UnifiedCode, message: impl Into<String>) -> Self {
        Self {
            provider_code: unified.as_str().to_owned(),
            unified,
            retryable: true,
            definitive: false,
            message: message.into(),
        }
    }

    /// `<unified> (<provider code>: <message>)`, for events and logs.
    pub fn describe(&self) -> String {
        format!("{} ({}: {})", self.unified.as_str(), self.provider_code, self.message)
    }
}
