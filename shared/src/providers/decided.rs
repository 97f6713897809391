//! What a provider's answer means for its operation: the call's outcome, and what the exchange
//! log says of it. Every adapter reads an answer through its code table into a [`Decided`], then
//! finishes the call's exchange record with it ([`Decided::called`]). The common readings live
//! here; a provider adds its own (an answer its documentation does not give for the operation,
//! an answer it cannot read) as functions of its flow, in its own words.

use super::answers::{CallOutcome, Called};
use super::codes::{MappedCode, UnifiedCode};
use super::exchange::ExchangeOutcome;
use super::http::{ExchangeDraft, HttpAnswer, HttpEnd};

/// An answer read for its operation.
pub struct Decided<T> {
    pub outcome: CallOutcome<T>,
    /// What the exchange log records of the call.
    pub exchange: ExchangeOutcome,
    /// Why, when it did not go well, for the exchange log.
    pub error: Option<String>,
}

impl<T> Decided<T> {
    /// The provider's answer, or, when the call ended without one (timed out, the connection
    /// failed, the answer was longer than the client reads), UNKNOWN: the request may or may not
    /// have been processed. `timeout` is the client's, for the reason's words.
    pub fn answer_of(op: &str, end: HttpEnd, timeout: std::time::Duration) -> Result<HttpAnswer, Self> {
        match end {
            HttpEnd::Answered(answer) => Ok(answer),
            HttpEnd::TimedOut { error } => Err(Decided::unknown(
                format!("no answer to {op} within {timeout:?}; it may or may not have happened"),
                MappedCode::local(UnifiedCode::Timeout, error),
                ExchangeOutcome::Timeout,
            )),
            HttpEnd::TransportFailed { error } => Err(Decided::unknown(
                format!("the connection failed during {op} ({error}); it may or may not have happened"),
                MappedCode::local(UnifiedCode::TransportError, error),
                ExchangeOutcome::TransportError,
            )),
            HttpEnd::Cut { limit, error } => Err(Decided::unknown(
                format!("the answer to {op} was longer than {limit} bytes; it may or may not have happened"),
                MappedCode::local(UnifiedCode::UnreadableAnswer, error),
                ExchangeOutcome::Error,
            )),
        }
    }

    /// The provider answered with facts: `Ok` on success, `Declined` with the code's description
    /// otherwise (a declined payment is an answer too).
    pub fn answer(facts: T, code: MappedCode) -> Self {
        let success = code.unified == UnifiedCode::Success;
        let exchange = if success { ExchangeOutcome::Ok } else { ExchangeOutcome::Declined };
        let error = (!success).then(|| code.describe());
        Self { outcome: CallOutcome::Answer { facts, code }, exchange, error }
    }

    /// The provider refused the request, definitively. A refused signature decides nothing about
    /// the business: the log calls it an error, not a decline.
    pub fn refused(code: MappedCode) -> Self {
        let exchange = if code.unified == UnifiedCode::AuthenticationFailed {
            ExchangeOutcome::Error
        } else {
            ExchangeOutcome::Declined
        };
        Self { error: Some(code.describe()), outcome: CallOutcome::Refused { code }, exchange }
    }

    /// Not now: asking again later may give another answer.
    pub fn retry_later(code: MappedCode) -> Self {
        Self {
            error: Some(code.describe()),
            outcome: CallOutcome::RetryLater { code },
            exchange: ExchangeOutcome::Error,
        }
    }

    /// The outcome is unknown (the dispatcher queries): `reason` says why.
    pub fn unknown(reason: String, code: MappedCode, exchange: ExchangeOutcome) -> Self {
        Self {
            error: Some(reason.clone()),
            outcome: CallOutcome::Unknown { reason, code: Some(code) },
            exchange,
        }
    }

    /// An answer that could not be read (`why`), to an operation named `operation`, whose code
    /// was `provider_code` if it had one: unknown.
    pub fn unreadable(operation: &str, provider_code: Option<&str>, why: impl std::fmt::Display) -> Self {
        let reason = match provider_code {
            Some(code) => format!("{operation} answered {code} but {why}; the outcome is unknown"),
            None => format!("{operation} answered but {why}; the outcome is unknown"),
        };
        Self::unknown(
            reason,
            MappedCode::local(UnifiedCode::UnreadableAnswer, why.to_string()),
            ExchangeOutcome::Error,
        )
    }

    /// The call, its exchange record finished with what the answer meant.
    pub fn called(self, draft: ExchangeDraft) -> Called<T> {
        let exchange = draft.finish(self.exchange, self.outcome.code(), self.error);
        Called::new(self.outcome, exchange)
    }
}

/// A request refused before it was sent: nothing reached the provider `provider`. The outcome is
/// a definitive refusal (`invalid_request`, with `why`), and its exchange is logged as not sent,
/// with the reason, under `operation`, `method` and `url`.
pub fn refused_locally<T>(
    provider: &'static str,
    operation: &'static str,
    method: &str,
    url: &str,
    why: &str,
) -> Called<T> {
    let code = MappedCode {
        provider_code: UnifiedCode::InvalidRequest.as_str().to_owned(),
        unified: UnifiedCode::InvalidRequest,
        retryable: false,
        definitive: true,
        message: why.to_owned(),
    };
    let draft = ExchangeDraft::not_sent(provider, operation, method, url, why);
    let exchange = draft.finish(ExchangeOutcome::Error, Some(&code), None);
    Called::new(CallOutcome::Refused { code }, exchange)
}
