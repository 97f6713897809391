//! LINE Pay's return codes, as data (docs/architecture.md, decision 10): each code's unified
//! code, whether asking again may answer otherwise, whether it settles what happened, what it
//! means for the call ([`Meaning`]), and what it means when the call was a repeat of ours.
//!
//! Every answer of both APIs is `{returnCode, returnMessage, info}`; `0000` is success. The codes
//! and their descriptions are LINE Pay's published list (developers.line.biz, "LINE Pay
//! Appendix: LINE Pay error codes"; PROVIDERS.md). The `check` API's own statuses
//! ([`CHECK_STATUSES`]) reuse `0000` for "not authorised yet", so they are a table of their own.
//!
//! A code missing from the table maps to `unknown_code`, [`Meaning::Undecided`]: never taken as
//! success or failure of a call that may move money.

use crate::providers::codes::{CodeRule, MappedCode, UnifiedCode};

/// What a code says about the call it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Done: the answer's `info` holds the facts.
    Done,
    /// The request is refused and nothing happened (a bad request, our account's configuration,
    /// exceeds refundable): definitive.
    Refused,
    /// The customer's payment was declined (balance, card, account): definitive, nothing charged.
    Declined,
    /// LINE Pay is busy with the same transaction; nothing decided yet: ask again later.
    RetryLater,
    /// A one-time-key (POS) payment is being processed, e.g. waiting for the customer's
    /// password: poll it (`check`), like Alipay's barcode `10003`.
    InProcess,
    /// No such transaction or request.
    NotFound,
    /// A repeat of a call of ours that got through earlier (the order id or transaction is
    /// already used by it): read back what happened, never a failure.
    AlreadyDone,
    /// The payment request or one-time key expired: nothing was charged.
    Expired,
    /// The customer has not approved the payment yet (a confirm too early): check again later.
    NotApproved,
    /// Decides nothing (an internal error): the outcome of a money-moving call is unknown.
    Undecided,
}

/// One row: the code, its mapping, and what it means.
#[derive(Debug, Clone, Copy)]
pub struct LinePayCode {
    pub rule: CodeRule,
    pub meaning: Meaning,
    /// What the code means when the call was a repeat of ours (after an unknown outcome).
    pub on_repeat: &'static str,
}

const fn row(
    code: &'static str,
    unified: UnifiedCode,
    retryable: bool,
    definitive: bool,
    meaning: Meaning,
    text: &'static str,
    on_repeat: &'static str,
) -> LinePayCode {
    LinePayCode {
        rule: CodeRule { provider_code: code, unified, retryable, definitive, meaning: text },
        meaning,
        on_repeat,
    }
}

use Meaning as M;
use UnifiedCode as U;

/// Every code paygate knows.
pub static CODES: &[LinePayCode] = &[
    row("0000", U::Success, false, true, M::Done, "success", "the same answer as the first call"),
    row("1101", U::DeclinedOther, false, true, M::Declined, "not a LINE Pay member", "still declined"),
    row(
        "1102",
        U::DeclinedAccountSuspended,
        false,
        true,
        M::Declined,
        "the member cannot proceed with the transaction",
        "still declined",
    ),
    row(
        "1104",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "the store is not an affiliated store",
        "our configuration: a person must look",
    ),
    row(
        "1105",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "the store cannot use LINE Pay",
        "our configuration: a person must look",
    ),
    row(
        "1106",
        U::AuthenticationFailed,
        false,
        true,
        M::Refused,
        "header information error (channel id, signature, nonce)",
        "our credentials or signing: nothing happened",
    ),
    row(
        "1110",
        U::DeclinedOther,
        false,
        true,
        M::Declined,
        "the credit card cannot be used",
        "still declined",
    ),
    row(
        "1124",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "amount information error (scale)",
        "nothing happened",
    ),
    row(
        "1141",
        U::DeclinedAccountSuspended,
        false,
        true,
        M::Declined,
        "payment account status error",
        "still declined",
    ),
    row("1142", U::DeclinedInsufficientFunds, false, true, M::Declined, "low balance", "still declined"),
    row(
        "1145",
        U::InProcess,
        true,
        false,
        M::InProcess,
        "payment in process",
        "our earlier call is still being processed: poll",
    ),
    row(
        "1150",
        U::NotFound,
        false,
        true,
        M::NotFound,
        "transaction history does not exist",
        "our earlier call never reached LINE Pay (believed only past the not-found delay)",
    ),
    row(
        "1152",
        U::AlreadyPaid,
        false,
        true,
        M::AlreadyDone,
        "a transaction with the same transactionId exists",
        "our earlier confirm got through: read the payment back",
    ),
    row(
        "1153",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "the amount differs from the requested amount",
        "nothing happened",
    ),
    row(
        "1155",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "this transaction type cannot be refunded",
        "nothing happened",
    ),
    row(
        "1159",
        U::NotFound,
        false,
        true,
        M::NotFound,
        "payment request information not found",
        "the request is unknown or gone",
    ),
    row(
        "1163",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "the refundable period is over",
        "nothing happened",
    ),
    row(
        "1164",
        U::ExceedsRefundable,
        false,
        true,
        M::Refused,
        "exceeds the refundable amount",
        "if ours was a repeat, the earlier refund may have got through: read the refund list",
    ),
    row(
        "1165",
        U::AlreadyRefunded,
        false,
        true,
        M::Refused,
        "the transaction is already refunded",
        "if ours was a repeat, the earlier refund got through: read the refund list",
    ),
    row(
        "1169",
        U::InvalidRequest,
        false,
        true,
        M::NotApproved,
        "the customer has not chosen a payment method and entered the password at LINE Pay",
        "the customer has not approved yet: check again",
    ),
    row(
        "1170",
        U::ProviderError,
        true,
        false,
        M::Undecided,
        "the member's balance changed",
        "unknown: read back",
    ),
    row(
        "1172",
        U::IdempotencyConflict,
        false,
        true,
        M::AlreadyDone,
        "a transaction with the same order id exists",
        "our earlier request got through: query, never a failure",
    ),
    row(
        "1177",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "more than 100 transactions asked for",
        "nothing happened",
    ),
    row(
        "1178",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "the store does not take this currency",
        "nothing happened",
    ),
    row(
        "1179",
        U::DeclinedOther,
        false,
        true,
        M::Declined,
        "the transaction cannot proceed",
        "still declined",
    ),
    row(
        "1180",
        U::ExpiredOrClosed,
        false,
        true,
        M::Expired,
        "the payment has expired",
        "nothing was charged",
    ),
    row(
        "1183",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "the amount must be more than 0",
        "nothing happened",
    ),
    row(
        "1184",
        U::InvalidRequest,
        false,
        true,
        M::Refused,
        "the amount exceeds the requested amount",
        "nothing happened",
    ),
    row(
        "1198",
        U::DuplicateInProgress,
        true,
        false,
        M::RetryLater,
        "the same request is being processed",
        "our earlier call is still running: ask again later",
    ),
    row("1199", U::ProviderError, true, false, M::Undecided, "internal request error", "unknown: read back"),
    row(
        "1280",
        U::ProviderError,
        true,
        false,
        M::Undecided,
        "a temporary error during the credit card payment",
        "unknown: read back",
    ),
    row("1281", U::DeclinedOther, false, true, M::Declined, "credit card payment error", "still declined"),
    row(
        "1282",
        U::DeclinedOther,
        false,
        true,
        M::Declined,
        "credit card authorisation error",
        "still declined",
    ),
    row(
        "1283",
        U::DeclinedOther,
        false,
        true,
        M::Declined,
        "the payment was refused (suspected fraud)",
        "still declined",
    ),
    row("2101", U::InvalidRequest, false, true, M::Refused, "parameter error", "nothing happened"),
    row("2102", U::InvalidRequest, false, true, M::Refused, "JSON data format error", "nothing happened"),
    row("9000", U::ProviderError, true, false, M::Undecided, "internal error", "unknown: read back"),
];

/// The row of `code`, if paygate knows it.
pub fn lookup(code: &str) -> Option<&'static LinePayCode> {
    CODES.iter().find(|c| c.rule.provider_code == code)
}

/// `code` mapped (with the provider's message) and what it means; an unknown code decides
/// nothing.
pub fn map(code: &str, message: &str) -> (MappedCode, Meaning) {
    let mapped = MappedCode::lookup(CODES.iter().map(|c| &c.rule), code, message);
    (mapped, lookup(code).map_or(Meaning::Undecided, |c| c.meaning))
}

/// What an answer to a capture or void of an authorisation
/// (`POST /v3/payments/authorizations/{transactionId}/capture|void`) comes to, by its code's
/// [`Meaning`]. A capture or void is never repeated blindly: whatever says the authorisation is
/// not (or no longer) held is read back from the payment details, which say what it is now
/// (captured by our earlier call, voided, expired, or not there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterCapture {
    /// `0000`: captured (capture) or released (void).
    Done,
    /// The request itself is refused, nothing happened (`1184` above the authorised amount,
    /// `1183`, `1178`, `1106`, parameter errors).
    Refused,
    /// Not held as an authorisation any more, or never was: our earlier capture or void got
    /// through (`1172`, `1152`), the status does not allow it (`1179`, e.g. captured or voided
    /// already), it expired (`1180`), or there is no such transaction (`1150`): read the details.
    ReadBack,
    /// LINE Pay is busy with it (`1198`, `1145`): ask again later.
    Later,
    /// Decides nothing (`9000`, an unknown code): UNKNOWN, the dispatcher queries.
    Unknown,
}

/// The reading of a capture's or void's answer (see [`AfterCapture`]).
pub fn after_capture(meaning: Meaning) -> AfterCapture {
    match meaning {
        Meaning::Done => AfterCapture::Done,
        Meaning::Refused => AfterCapture::Refused,
        Meaning::AlreadyDone
        | Meaning::Declined
        | Meaning::Expired
        | Meaning::NotFound
        | Meaning::NotApproved => AfterCapture::ReadBack,
        Meaning::RetryLater | Meaning::InProcess => AfterCapture::Later,
        Meaning::Undecided => AfterCapture::Unknown,
    }
}

/// A payment request's status as the `check` API says it
/// (`GET /v3/payments/requests/{transactionId}/check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Not authorised yet: the customer has not approved.
    Waiting,
    /// Authorised by the customer: confirm now (the money moves only with our confirm).
    Approved,
    /// Cancelled by the customer, or expired: final, nothing charged.
    Cancelled,
    /// The authorisation failed: final, nothing charged.
    Failed,
    /// Confirmed (paid): final.
    Completed,
}

/// The `check` API's return codes (LINE Pay's reference, "Check payment request status";
/// PROVIDERS.md). Any other code is an error code of [`CODES`].
/// Each with its unified code: a failed payment is a decline (definitive, nothing charged),
/// the others answer the question successfully.
pub static CHECK_STATUSES: &[(&str, CheckStatus, UnifiedCode, &str)] = &[
    ("0000", CheckStatus::Waiting, U::Success, "the customer has not authorised the payment yet"),
    ("0110", CheckStatus::Approved, U::Success, "authorised: the merchant may confirm now"),
    ("0121", CheckStatus::Cancelled, U::Success, "cancelled by the customer, or the payment request expired"),
    ("0122", CheckStatus::Failed, U::DeclinedOther, "the payment failed"),
    ("0123", CheckStatus::Completed, U::Success, "the payment is completed (confirmed)"),
];

/// The `check` status of `code`, if it is one.
pub fn check_status(code: &str) -> Option<CheckStatus> {
    CHECK_STATUSES.iter().find(|(c, ..)| *c == code).map(|(_, s, ..)| *s)
}

/// The mapped code of a `check` status: definitive (a failed payment a decline).
pub fn check_code(code: &str, message: &str) -> MappedCode {
    let row = CHECK_STATUSES.iter().find(|(c, ..)| *c == code);
    let (unified, text) = row.map_or((UnifiedCode::UnknownCode, ""), |(_, _, u, t)| (*u, *t));
    MappedCode {
        provider_code: code.to_owned(),
        unified,
        retryable: false,
        definitive: true,
        message: if message.is_empty() { text.to_owned() } else { format!("{text}: {message}") },
    }
}

/// A one-time-key (POS) payment's `info.status` at `GET /v2/payments/orders/{orderId}/check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosStatus {
    /// Paid.
    Complete,
    /// Failed: nothing charged.
    Fail,
}

/// The POS check's statuses paygate knows: `COMPLETE` (PROVIDERS.md) and `FAIL`. The published
/// list beyond `COMPLETE` was not found (docs/providers/linepay.md): any other status is read as
/// UNKNOWN, never guessed.
pub static POS_STATUSES: &[(&str, PosStatus, UnifiedCode, &str)] = &[
    ("COMPLETE", PosStatus::Complete, U::Success, "the one-time-key payment is complete"),
    ("FAIL", PosStatus::Fail, U::DeclinedOther, "the one-time-key payment failed"),
];

pub fn pos_status(status: &str) -> Option<PosStatus> {
    POS_STATUSES.iter().find(|(s, ..)| *s == status).map(|(_, p, ..)| *p)
}

/// The mapped code of a POS check status (definitive).
pub fn pos_code(status: &str, message: &str) -> MappedCode {
    let row = POS_STATUSES.iter().find(|(s, ..)| *s == status);
    let (unified, text) = row.map_or((UnifiedCode::UnknownCode, ""), |(_, _, u, t)| (*u, *t));
    MappedCode {
        provider_code: status.to_owned(),
        unified,
        retryable: false,
        definitive: true,
        message: if message.is_empty() { text.to_owned() } else { format!("{text}: {message}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_reads_consistently() {
        for (i, c) in CODES.iter().enumerate() {
            assert_eq!(c.rule.provider_code.len(), 4, "{:?}", c.rule);
            assert!(
                CODES[i + 1..].iter().all(|d| d.rule.provider_code != c.rule.provider_code),
                "{} twice",
                c.rule.provider_code
            );
            // Whatever decides nothing is not definitive; whatever is definitive is not retried.
            if matches!(c.meaning, Meaning::Undecided | Meaning::RetryLater | Meaning::InProcess) {
                assert!(!c.rule.definitive && c.rule.retryable, "{:?}", c.rule);
            } else {
                assert!(c.rule.definitive && !c.rule.retryable, "{:?}", c.rule);
            }
            assert!(!c.on_repeat.is_empty());
        }
    }

    #[test]
    fn the_codes_the_flow_relies_on_mean_what_it_expects() {
        let meaning = |c: &str| map(c, "").1;
        assert_eq!(meaning("0000"), Meaning::Done);
        assert_eq!(meaning("1145"), Meaning::InProcess);
        assert_eq!(meaning("1150"), Meaning::NotFound);
        assert_eq!(meaning("1172"), Meaning::AlreadyDone, "a repeated request got through: query");
        assert_eq!(meaning("1198"), Meaning::RetryLater);
        assert_eq!(meaning("9000"), Meaning::Undecided);
        assert_eq!(meaning("1180"), Meaning::Expired);
        assert_eq!(map("1164", "").0.unified, UnifiedCode::ExceedsRefundable);
        assert_eq!(map("1165", "").0.unified, UnifiedCode::AlreadyRefunded);
        assert_eq!(map("1106", "").0.unified, UnifiedCode::AuthenticationFailed);
        let (unknown, m) = map("4242", "what");
        assert_eq!(
            (unknown.unified, unknown.definitive, m),
            (UnifiedCode::UnknownCode, false, Meaning::Undecided)
        );
    }

    #[test]
    fn a_capture_or_void_is_read_back_whenever_the_authorisation_may_have_moved() {
        let after = |c: &str| after_capture(map(c, "").1);
        assert_eq!(after("0000"), AfterCapture::Done);
        assert_eq!(after("1184"), AfterCapture::Refused, "above the authorised amount");
        for code in ["1150", "1152", "1172", "1179", "1180"] {
            assert_eq!(after(code), AfterCapture::ReadBack, "{code}");
        }
        assert_eq!(after("1198"), AfterCapture::Later);
        assert_eq!(after("9000"), AfterCapture::Unknown);
        assert_eq!(after("4242"), AfterCapture::Unknown, "an unknown code decides nothing");
    }

    #[test]
    fn check_statuses_are_their_own_table() {
        assert_eq!(check_status("0000"), Some(CheckStatus::Waiting));
        assert_eq!(check_status("0110"), Some(CheckStatus::Approved));
        assert_eq!(check_status("0121"), Some(CheckStatus::Cancelled));
        assert_eq!(check_status("0122"), Some(CheckStatus::Failed));
        assert_eq!(check_status("0123"), Some(CheckStatus::Completed));
        assert_eq!(check_status("1150"), None);
        assert_eq!(check_code("0122", "").unified, UnifiedCode::DeclinedOther);
        assert_eq!(check_code("0110", "").unified, UnifiedCode::Success);
    }
}
