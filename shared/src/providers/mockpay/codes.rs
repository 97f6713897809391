//! mockpay's return codes: the one table of what each means, to us and to each operation
//! (tests/mockpay/README.md, "Return codes" and "Notes for adapter authors"; docs/architecture.md,
//! decision 10). The adapter reads a code's [`Treatment`] for its operation from here and never
//! names a code itself.
//!
//! `definitive` follows the README's guidance: the code settles what happened to the request
//! (it happened, or it certainly did not). `retryable`: asking again later may give another
//! answer. `1106` is definitive (nothing was processed) but not retryable as it is: the signing or
//! the clock needs fixing first. `9000` is neither definitive nor safe to take at its word: the
//! call is UNKNOWN and is queried.
//!
//! An operation's column says what the code means in its answer. [`Treatment::Unknown`] (a code
//! mockpay does not document for that operation, or any code it does not document at all) is
//! never success or failure: the call is UNKNOWN. So is an answer that cannot be read, an answer
//! about another order, an HTTP 5xx, a timeout and a broken connection, whatever their code.

use crate::providers::codes::{CodeRule, MappedCode, UnifiedCode};
use ReturnCode::*;
use Treatment::*;
use UnifiedCode as U;

/// A code mockpay documents, by what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnCode {
    Success,
    InsufficientFunds,
    AccountSuspended,
    HeaderError,
    InvalidRequest,
    PaymentInProcess,
    NoSuchTransaction,
    AlreadyPaid,
    ExceedsRefundable,
    AlreadyRefunded,
    ExistingTransaction,
    ExpiredOrClosed,
    DuplicateInProgress,
    InternalError,
}

// The table's columns: mockpay's pay, query, close, refund and refund query.
pub use crate::providers::operation::Operation;

/// What a code in the answer to one operation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// The operation's facts are in `info`.
    Facts,
    /// The payment is DECLINED, final; `info`, when present, must agree.
    Declined,
    /// No such payment or refund (an answer: the caller decides when to believe it).
    NotFound,
    /// The payment was paid before the close arrived: it is SUCCEEDED, and is recorded instead.
    Paid,
    /// Refused: nothing was processed.
    Refused,
    /// Busy: asking again later may give another answer.
    RetryLater,
    /// Not documented for this operation: the outcome is unknown and is queried.
    Unknown,
}

/// One row of [`CODES`].
#[derive(Debug)]
pub struct Code {
    pub name: ReturnCode,
    /// The wire code, ours, the flags and the meaning for people.
    pub rule: CodeRule,
    /// What it says to each operation, in [`Operation::ALL`] order.
    treatments: [Treatment; 7],
}

impl Code {
    /// What this code says in an answer to `operation`.
    pub fn treatment(&self, operation: Operation) -> Treatment {
        self.treatments[operation as usize]
    }
}

/// `retryable`, `definitive`.
type Flags = (bool, bool);
/// Settles what happened to the request.
const FINAL: Flags = (false, true);
/// Settles nothing: ask again or query.
const AGAIN: Flags = (true, false);

const fn row(
    name: ReturnCode,
    provider_code: &'static str,
    unified: UnifiedCode,
    (retryable, definitive): Flags,
    treatments: [Treatment; 7],
    meaning: &'static str,
) -> Code {
    Code { name, rule: CodeRule { provider_code, unified, retryable, definitive, meaning }, treatments }
}

/// Every code mockpay documents, once each.
#[rustfmt::skip]
pub static CODES: &[Code] = &[
    //  name                 code    ours                          flags
    //   pay         query       close       refund      refund query capture     void
    //   meaning
    row(Success,             "0000", U::Success,                   FINAL,
        [Facts,      Facts,      Facts,      Facts,      Facts, Facts,      Facts],
        "success"),
    row(InsufficientFunds,   "1101", U::DeclinedInsufficientFunds, FINAL,
        [Declined,   Unknown,    Unknown,    Unknown,    Unknown, Unknown,    Unknown],
        "declined: insufficient funds (final)"),
    row(AccountSuspended,    "1102", U::DeclinedAccountSuspended,  FINAL,
        [Declined,   Unknown,    Unknown,    Unknown,    Unknown, Unknown,    Unknown],
        "declined: account suspended (final)"),
    row(HeaderError,         "1106", U::AuthenticationFailed,      FINAL,
        [Refused,    Refused,    Refused,    Refused,    Refused, Refused,    Refused],
        "header or signature error; nothing was processed (fix signing or the clock)"),
    row(InvalidRequest,      "1110", U::InvalidRequest,            FINAL,
        [Refused,    Refused,    Refused,    Refused,    Refused, Refused,    Refused],
        "invalid request; nothing was processed (a bug in the caller)"),
    row(PaymentInProcess,    "1145", U::InProcess,                 AGAIN,
        [RetryLater, Unknown,    RetryLater, RetryLater, Unknown, RetryLater, RetryLater],
        "the pay request for this order is still being processed"),
    row(NoSuchTransaction,   "1150", U::NotFound,                  FINAL,
        [Unknown,    NotFound,   NotFound,   Refused,    NotFound, NotFound,   NotFound],
        "no such transaction, or a refund of an unpaid payment"),
    row(AlreadyPaid,         "1160", U::AlreadyPaid,               FINAL,
        [Unknown,    Unknown,    Paid,       Unknown,    Unknown, Unknown,    Paid],
        "already paid: a SUCCEEDED payment cannot be closed or voided"),
    row(ExceedsRefundable,   "1164", U::ExceedsRefundable,         FINAL,
        [Unknown,    Unknown,    Unknown,    Refused,    Unknown, Refused,    Unknown],
        "the refund exceeds the refundable amount, or the capture the authorised amount"),
    row(AlreadyRefunded,     "1165", U::AlreadyRefunded,           FINAL,
        [Unknown,    Unknown,    Unknown,    Refused,    Unknown, Unknown,    Unknown],
        "already fully refunded"),
    row(ExistingTransaction, "1172", U::IdempotencyConflict,       FINAL,
        [Refused,    Unknown,    Unknown,    Refused,    Unknown, Refused,    Unknown],
        "the orderId or refundId exists with different parameters, or the payment was captured for another amount; nothing was processed"),
    row(ExpiredOrClosed,     "1180", U::ExpiredOrClosed,           FINAL,
        [Unknown,    Unknown,    Unknown,    Refused,    Unknown, Unknown,    Unknown],
        "the payment is CLOSED, EXPIRED or VOIDED (a capture of a released authorisation: a query says how)"),
    row(DuplicateInProgress, "1198", U::DuplicateInProgress,       AGAIN,
        [RetryLater, Unknown,    RetryLater, RetryLater, Unknown, RetryLater, RetryLater],
        "the same orderId or refundId is being processed now"),
    row(InternalError,       "9000", U::ProviderError,             AGAIN,
        [Unknown,    Unknown,    Unknown,    Unknown,    Unknown, Unknown,    Unknown],
        "internal error; query to learn what happened"),
];

impl ReturnCode {
    /// Its row in [`CODES`].
    pub fn row(self) -> &'static Code {
        CODES.iter().find(|c| c.name == self).expect("every return code has a row (tested)")
    }

    /// The four digits on the wire.
    pub fn wire(self) -> &'static str {
        self.row().rule.provider_code
    }
}

/// The row of a wire code, if mockpay documents it.
pub fn find(wire: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.rule.provider_code == wire)
}

/// A wire code mapped to ours; one mockpay does not document is [`UnifiedCode::UnknownCode`].
pub fn map(wire: &str, message: impl Into<String>) -> MappedCode {
    MappedCode::lookup(CODES.iter().map(|c| &c.rule), wire, message)
}

/// What `wire` says in an answer to `operation`.
pub fn treatment(operation: Operation, wire: &str) -> Treatment {
    find(wire).map_or(Treatment::Unknown, |c| c.treatment(operation))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes the README's table documents.
    const DOCUMENTED: [&str; 14] = [
        "0000", "1101", "1102", "1106", "1110", "1145", "1150", "1160", "1164", "1165", "1172", "1180",
        "1198", "9000",
    ];

    #[test]
    fn every_documented_code_is_in_the_table_exactly_once() {
        for code in DOCUMENTED {
            let n = CODES.iter().filter(|r| r.rule.provider_code == code).count();
            assert_eq!(n, 1, "code {code} appears {n} times in the mockpay table");
        }
        assert_eq!(CODES.len(), DOCUMENTED.len(), "the table has codes the README does not document");
    }

    #[test]
    fn every_name_has_one_row() {
        for (i, c) in CODES.iter().enumerate() {
            assert_eq!(CODES.iter().filter(|r| r.name == c.name).count(), 1, "{:?}", c.name);
            assert!(std::ptr::eq(c.name.row(), &CODES[i]));
        }
        assert_eq!(InternalError.wire(), "9000");
    }

    #[test]
    fn only_busy_codes_and_internal_errors_are_not_definitive() {
        let not_definitive: Vec<_> =
            CODES.iter().filter(|r| !r.rule.definitive).map(|r| r.rule.provider_code).collect();
        assert_eq!(not_definitive, ["1145", "1198", "9000"]);
    }

    #[test]
    fn an_undocumented_code_is_unknown_never_success_or_failure() {
        let m = map("1234", "what");
        assert_eq!(m.unified, UnifiedCode::UnknownCode);
        assert!(!m.definitive);
        for op in Operation::ALL {
            assert_eq!(treatment(op, "1234"), Treatment::Unknown);
        }
    }

    #[test]
    fn only_busy_codes_say_retry_later_and_no_refund_operation_declines_or_pays() {
        for c in CODES {
            for op in Operation::ALL {
                let t = c.treatment(op);
                if t == RetryLater {
                    assert!(c.rule.retryable && !c.rule.definitive, "{:?} {op:?}", c.name);
                }
                if matches!(op, Operation::Refund | Operation::RefundQuery) {
                    assert!(!matches!(t, Declined | Paid), "{:?} {op:?}", c.name);
                }
                if !c.rule.definitive {
                    assert!(matches!(t, RetryLater | Unknown), "{:?} {op:?}", c.name);
                }
            }
        }
    }
}
