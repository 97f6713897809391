//! The raw exchange of one provider call, as the exchange log keeps it (docs/architecture.md, decision
//! 11; table `provider_exchanges`). Everything in an [`Exchange`] is already redacted: the adapter
//! that builds it removes signatures, keys and secrets before it leaves the adapter.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// How the call ended, as the log records it (the table's `outcome` check lists the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeOutcome {
    /// The provider answered and accepted or answered the operation.
    Ok,
    /// The provider answered with a definitive business refusal.
    Declined,
    /// The provider answered with an error that decides nothing (5xx, busy, unreadable).
    Error,
    /// No answer in time.
    Timeout,
    /// The connection failed.
    TransportError,
}

impl ExchangeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Declined => "declined",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::TransportError => "transport_error",
        }
    }
}

/// One request and its response (if any), redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub provider: &'static str,
    /// `pay`, `query`, `close`, `refund`, `refund_query`, …
    pub operation: &'static str,
    pub request_method: String,
    pub request_url: String,
    /// Header name → value, with secrets and signatures replaced by `"[redacted]"`.
    pub request_headers: Value,
    pub request_body: Option<String>,
    pub response_status: Option<u16>,
    pub response_headers: Option<Value>,
    pub response_body: Option<String>,
    pub latency_us: i64,
    pub outcome: ExchangeOutcome,
    pub error: Option<String>,
    pub unified_code: Option<String>,
    pub started_at: DateTime<Utc>,
}
