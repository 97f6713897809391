//! mockpay's return codes mapped to ours (tests/mockpay/README.md, "Return codes" and "Notes for
//! adapter authors"). This table is the one reviewed place for them (docs/architecture.md, decision
//! 10); what a code means for each operation is decided in `mod.rs` from its row.
//!
//! `definitive` follows the README's guidance: the code settles what happened to the request
//! (it happened, or it certainly did not). `retryable`: asking again later may give another
//! answer. `1106` is definitive (nothing was processed) but not retryable as it is: the signing or
//! the clock needs fixing first. `9000` is neither definitive nor safe to take at its word: the
//! call is UNKNOWN and is queried.

use crate::providers::codes::{CodeRule, UnifiedCode};

pub const SUCCESS: &str = "0000";
pub const NOT_FOUND: &str = "1150";
pub const ALREADY_PAID: &str = "1160";

const fn rule(
    provider_code: &'static str,
    unified: UnifiedCode,
    retryable: bool,
    definitive: bool,
    meaning: &'static str,
) -> CodeRule {
    CodeRule { provider_code, unified, retryable, definitive, meaning }
}

/// Every code mockpay documents, once each.
pub static CODES: &[CodeRule] = &[
    rule("0000", UnifiedCode::Success, false, true, "success"),
    rule("1101", UnifiedCode::DeclinedInsufficientFunds, false, true, "declined: insufficient funds (final)"),
    rule("1102", UnifiedCode::DeclinedAccountSuspended, false, true, "declined: account suspended (final)"),
    rule(
        "1106",
        UnifiedCode::AuthenticationFailed,
        false,
        true,
        "header or signature error; nothing was processed (fix signing or the clock)",
    ),
    rule(
        "1110",
        UnifiedCode::InvalidRequest,
        false,
        true,
        "invalid request; nothing was processed (a bug in the caller)",
    ),
    rule(
        "1145",
        UnifiedCode::InProcess,
        true,
        false,
        "the pay request for this order is still being processed",
    ),
    rule("1150", UnifiedCode::NotFound, false, true, "no such transaction, or a refund of an unpaid payment"),
    rule("1160", UnifiedCode::AlreadyPaid, false, true, "already paid: a SUCCEEDED payment cannot be closed"),
    rule("1164", UnifiedCode::ExceedsRefundable, false, true, "the refund exceeds the refundable amount"),
    rule("1165", UnifiedCode::AlreadyRefunded, false, true, "already fully refunded"),
    rule(
        "1172",
        UnifiedCode::IdempotencyConflict,
        false,
        true,
        "the orderId or refundId exists with different parameters; nothing was processed",
    ),
    rule("1180", UnifiedCode::ExpiredOrClosed, false, true, "the payment is CLOSED or EXPIRED"),
    rule(
        "1198",
        UnifiedCode::DuplicateInProgress,
        true,
        false,
        "the same orderId or refundId is being processed now",
    ),
    rule("9000", UnifiedCode::ProviderError, true, false, "internal error; query to learn what happened"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::codes::MappedCode;

    /// The codes the README's table documents.
    const DOCUMENTED: [&str; 14] = [
        "0000", "1101", "1102", "1106", "1110", "1145", "1150", "1160", "1164", "1165", "1172", "1180",
        "1198", "9000",
    ];

    #[test]
    fn every_documented_code_is_in_the_table_exactly_once() {
        for code in DOCUMENTED {
            let n = CODES.iter().filter(|r| r.provider_code == code).count();
            assert_eq!(n, 1, "code {code} appears {n} times in the mockpay table");
        }
        assert_eq!(CODES.len(), DOCUMENTED.len(), "the table has codes the README does not document");
    }

    #[test]
    fn only_busy_codes_and_internal_errors_are_not_definitive() {
        let not_definitive: Vec<_> =
            CODES.iter().filter(|r| !r.definitive).map(|r| r.provider_code).collect();
        assert_eq!(not_definitive, ["1145", "1198", "9000"]);
    }

    #[test]
    fn an_undocumented_code_is_unknown_never_success_or_failure() {
        let m = MappedCode::lookup(CODES, "1234", "what");
        assert_eq!(m.unified, UnifiedCode::UnknownCode);
        assert!(!m.definitive);
    }
}
