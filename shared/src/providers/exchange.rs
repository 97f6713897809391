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

/// The longest wait a provider's `Retry-After` is taken at: a larger one (or a date far ahead)
/// is cut to it, so that a broken header cannot stop a provider's work for hours.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

impl Exchange {
    /// How long the provider asked us to wait before calling it again: the `Retry-After` of a
    /// 429 or 503 answer (RFC 9110: whole seconds, or an HTTP date), at most
    /// [`MAX_RETRY_AFTER`]. `None` without one, for any other status, or for a header that does
    /// not read (a date in the past is no wait).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<std::time::Duration> {
        if !matches!(self.response_status, Some(429 | 503)) {
            return None;
        }
        let value = self.response_headers.as_ref()?.get("retry-after")?.as_str()?.trim();
        let wait = match value.parse::<u64>() {
            Ok(secs) => std::time::Duration::from_secs(secs),
            Err(_) => {
                let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
                (at - now).to_std().unwrap_or_default()
            }
        };
        Some(wait.min(MAX_RETRY_AFTER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answered(status: u16, retry_after: Option<&str>) -> Exchange {
        Exchange {
            provider: "p",
            operation: "pay",
            request_method: "POST".into(),
            request_url: "http://p/pay".into(),
            request_headers: Value::Null,
            request_body: None,
            response_status: Some(status),
            response_headers: Some(match retry_after {
                Some(v) => serde_json::json!({"retry-after": v, "content-type": "application/json"}),
                None => serde_json::json!({"content-type": "application/json"}),
            }),
            response_body: None,
            latency_us: 1,
            outcome: ExchangeOutcome::Error,
            error: None,
            unified_code: None,
            started_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_of_a_429_or_503_only() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T06:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(answered(429, Some("3")).retry_after(now), Some(Duration::from_secs(3)));
        assert_eq!(answered(503, Some(" 0 ")).retry_after(now), Some(Duration::ZERO));
        assert_eq!(
            answered(429, Some("Mon, 07 Dec 2026 06:00:30 GMT")).retry_after(now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            answered(429, Some("Mon, 07 Dec 2026 05:00:00 GMT")).retry_after(now),
            Some(Duration::ZERO)
        );
        assert_eq!(answered(429, Some("86400")).retry_after(now), Some(MAX_RETRY_AFTER));
        assert_eq!(answered(429, Some("soon")).retry_after(now), None);
        assert_eq!(answered(429, None).retry_after(now), None);
        assert_eq!(answered(500, Some("3")).retry_after(now), None, "only a 429 or 503 asks for a wait");
        assert_eq!(answered(200, Some("3")).retry_after(now), None);
    }
}
