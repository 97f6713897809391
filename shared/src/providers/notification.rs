//! Inbound provider notifications (webhooks): what a provider claims, how a claim is verified,
//! and how the provider wants to be answered (docs/architecture.md, decisions 5 and 8).
//!
//! A [`NotificationVerifier`] is the provider-specific part of the webhook: the content types the
//! provider sends, the signature and timestamp check (constant time), the parse of the body into
//! a [`Notification`] in our terms, and the acknowledgement bodies in the provider's own format.
//! It needs the provider's notification-signing secret or public key only, never the credentials
//! used to call the provider, so notify-handler can hold it without being able to move money.
//!
//! A notification is a *claim*: a verified one proves the provider sent it, not that it is true
//! for our order. The dispatcher checks the claim against the order (account, amount, currency)
//! and, unless the provider's [`NotificationPolicy`] says a verified notification is enough,
//! queries the provider back before money state changes.
//!
//! Every refusal is a [`NotificationRejection`] whose [`RejectReason`] names a stable token (for
//! the stored row and the metric label) and what exactly was wrong (the field and the rule).

use crate::domain::Money;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

/// What a notification claims happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimedEvent {
    PaymentSucceeded,
    PaymentDeclined,
    PaymentClosed,
    PaymentExpired,
    RefundSucceeded,
    RefundFailed,
}

impl ClaimedEvent {
    /// Whether the claim is about a refund (it then names the refund's trade number).
    pub fn is_refund(self) -> bool {
        matches!(self, Self::RefundSucceeded | Self::RefundFailed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentSucceeded => "payment_succeeded",
            Self::PaymentDeclined => "payment_declined",
            Self::PaymentClosed => "payment_closed",
            Self::PaymentExpired => "payment_expired",
            Self::RefundSucceeded => "refund_succeeded",
            Self::RefundFailed => "refund_failed",
        }
    }
}

/// A verified (or, for the dispatcher, re-read) notification, in our terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The provider's id of this notification: stable across its retries and duplicates, so
    /// the inbox de-duplicates on it.
    pub notification_id: String,
    /// Our trade number for the payment ([`super::adapter::trade_no`]).
    pub trade_no: String,
    /// Our trade number for the refund, for refund events.
    pub refund_trade_no: Option<String>,
    pub event: ClaimedEvent,
    /// The payment's amount, or the refund's for refund events.
    pub amount: Money,
    /// The provider account the notification is for (merchant id, app id, account id).
    pub account: String,
    /// The provider's transaction id of the payment, if it says.
    pub provider_txn_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// Why a notification was refused. [`RejectReason::token`] is stable (stored reason prefix,
/// metric label); the `Display` text says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("unsupported_media_type: Content-Type must be one of {expected} (got {got:?})")]
    UnsupportedMediaType { expected: String, got: String },
    #[error("body_too_large: the body must be at most {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("unknown_provider: no notification verifier for provider {0:?}")]
    UnknownProvider(String),
    #[error(
        "no_webhook: provider {0:?} sends no notifications (it has no webhook); its payments are followed by queries"
    )]
    NoWebhook(String),
    #[error("missing_header: {0} is required and must not be empty")]
    MissingHeader(&'static str),
    #[error("bad_signature: {0}")]
    BadSignature(String),
    #[error("stale_timestamp: {header} must be within {window_secs} s of our clock (got {got}, now {now})")]
    StaleTimestamp { header: &'static str, window_secs: i64, got: String, now: i64 },
    #[error("malformed_body: {field}: {rule}")]
    MalformedBody { field: String, rule: String },
    #[error("path_mismatch: {field} {got:?} must equal the trade number in the URL ({expected:?})")]
    PathMismatch { field: &'static str, expected: String, got: String },
    #[error("unknown_order: no payment with trade number {0:?}")]
    UnknownOrder(String),
    #[error("unknown_refund: no refund with trade number {refund:?} of payment {trade_no:?}")]
    UnknownRefund { trade_no: String, refund: String },
}

impl RejectReason {
    /// The reason's token: `bad_signature`, `stale_timestamp`, ….
    pub fn token(&self) -> &'static str {
        match self {
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::UnknownProvider(_) => "unknown_provider",
            Self::NoWebhook(_) => "no_webhook",
            Self::MissingHeader(_) => "missing_header",
            Self::BadSignature(_) => "bad_signature",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::MalformedBody { .. } => "malformed_body",
            Self::PathMismatch { .. } => "path_mismatch",
            Self::UnknownOrder(_) => "unknown_order",
            Self::UnknownRefund { .. } => "unknown_refund",
        }
    }

    /// The HTTP status the webhook answers with: 401 for authentication (signature, timestamp,
    /// its headers), 404 for what we do not know, 413, 415, and 400 for a malformed body.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingHeader(_) | Self::BadSignature(_) | Self::StaleTimestamp { .. } => 401,
            Self::UnknownProvider(_)
            | Self::NoWebhook(_)
            | Self::UnknownOrder(_)
            | Self::UnknownRefund { .. } => 404,
            Self::BodyTooLarge { .. } => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::MalformedBody { .. } | Self::PathMismatch { .. } => 400,
        }
    }

    pub fn malformed(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::MalformedBody { field: field.into(), rule: rule.into() }
    }
}

/// A refused notification.
pub type NotificationRejection = RejectReason;

/// An answer to the provider in its own format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Whether a verified notification may change money state by itself, or the provider must be
/// asked first. Configured with the adapter; the dispatcher follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotificationPolicy {
    /// Query the provider back; the answer, not the notification, moves the order.
    #[default]
    AlwaysQueryBack,
    /// A verified notification whose account, amount and currency match is applied as facts.
    VerifiedIsEnough,
}

impl NotificationPolicy {
    /// `query_back` or `verified`, as the configuration spells it.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "query_back" => Ok(Self::AlwaysQueryBack),
            "verified" => Ok(Self::VerifiedIsEnough),
            other => Err(format!("expected query_back or verified (got {other:?})")),
        }
    }
}

/// One provider's notification format. See the module documentation.
pub trait NotificationVerifier: Send + Sync + 'static {
    /// The provider's name, as in the webhook's path.
    fn provider(&self) -> &'static str;

    /// Whether the provider sends notifications at all. One without a webhook (LINE Pay) has a
    /// [`NoWebhook`] verifier: notify-handler refuses anything posted for it (404 `no_webhook`)
    /// before reading it, and its payments are followed by queries only.
    fn has_webhook(&self) -> bool {
        true
    }

    /// The media types (without parameters, lower case) the provider posts notifications with.
    fn content_types(&self) -> &'static [&'static str];

    /// The account (merchant id, app id) a genuine notification for us names.
    fn account(&self) -> &str;

    /// Checks the signature and the timestamp window against `now`, then parses the body.
    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotificationRejection>;

    /// Parses a body that was verified before (the dispatcher re-reads the stored raw body).
    fn parse(&self, body: &[u8]) -> Result<Notification, NotificationRejection>;

    /// The answer that acknowledges a stored notification (the provider stops retrying).
    fn acknowledgement(&self) -> Acknowledgement;

    /// The answer to a notification we could not take (the provider retries), with `status`.
    fn failure(&self, status: u16, message: &str) -> Acknowledgement;
}

/// The verifier of a provider that sends no notifications (LINE Pay: the customer's redirect
/// and the `check` API replace them): it refuses every body as [`RejectReason::NoWebhook`].
#[derive(Debug, Clone)]
pub struct NoWebhook {
    provider: &'static str,
    account: String,
}

impl NoWebhook {
    pub fn new(provider: &'static str, account: impl Into<String>) -> Self {
        Self { provider, account: account.into() }
    }

    fn refusal(&self) -> NotificationRejection {
        RejectReason::NoWebhook(self.provider.to_owned())
    }
}

impl NotificationVerifier for NoWebhook {
    fn provider(&self) -> &'static str {
        self.provider
    }

    fn has_webhook(&self) -> bool {
        false
    }

    fn content_types(&self) -> &'static [&'static str] {
        &[]
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn verify(
        &self,
        _: &HeaderMap,
        _: &[u8],
        _: DateTime<Utc>,
    ) -> Result<Notification, NotificationRejection> {
        Err(self.refusal())
    }

    fn parse(&self, _: &[u8]) -> Result<Notification, NotificationRejection> {
        Err(self.refusal())
    }

    fn acknowledgement(&self) -> Acknowledgement {
        self.failure(404, &self.refusal().to_string())
    }

    fn failure(&self, status: u16, message: &str) -> Acknowledgement {
        Acknowledgement { status, content_type: "text/plain; charset=utf-8", body: message.to_owned() }
    }
}

/// Whether `content_type` (a header value, possibly with parameters) names one of `accepted`.
pub fn content_type_accepted(content_type: &str, accepted: &[&str]) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    accepted.iter().any(|a| a.eq_ignore_ascii_case(media))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_ignore_parameters_and_case() {
        let json = &["application/json"];
        assert!(content_type_accepted("application/json", json));
        assert!(content_type_accepted("Application/JSON; charset=utf-8", json));
        assert!(!content_type_accepted("text/plain", json));
        assert!(!content_type_accepted("", json));
    }

    #[test]
    fn every_reason_has_a_token_prefix_and_a_4xx() {
        let reasons = [
            RejectReason::BadSignature("x".into()),
            RejectReason::MissingHeader("X-Mockpay-Nonce"),
            RejectReason::malformed("amount", "must be an integer"),
            RejectReason::UnknownOrder("t".into()),
            RejectReason::BodyTooLarge { limit: 1 },
            RejectReason::NoWebhook("linepay".into()),
        ];
        for r in reasons {
            assert!(r.to_string().starts_with(r.token()), "{r}");
            assert!((400..500).contains(&r.http_status()));
        }
    }

    #[test]
    fn a_provider_without_a_webhook_refuses_everything() {
        let v = NoWebhook::new("linepay", "1234567890");
        assert!(!v.has_webhook());
        let e = v.verify(&HeaderMap::new(), b"{}", Utc::now()).unwrap_err();
        assert_eq!((e.token(), e.http_status()), ("no_webhook", 404));
        assert!(e.to_string().contains("linepay"), "{e}");
        assert_eq!(v.parse(b"{}").unwrap_err(), e);
    }

    #[test]
    fn the_policy_parses_its_two_spellings() {
        assert_eq!(NotificationPolicy::parse("verified"), Ok(NotificationPolicy::VerifiedIsEnough));
        assert_eq!(NotificationPolicy::parse("query_back"), Ok(NotificationPolicy::AlwaysQueryBack));
        assert!(NotificationPolicy::parse("yes").is_err());
    }
}
