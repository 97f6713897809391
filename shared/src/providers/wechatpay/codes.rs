//! WeChat Pay API v3's error codes, and its `trade_state` and refund `status`: the one table of
//! what each means, to us and to each operation (docs/architecture.md, decision 10). The adapter
//! reads a code's [`Treatment`] for its operation from here and never names a code itself.
//!
//! An API v3 answer is an HTTP status and, for an error, a JSON body `{code, message}`. A 2xx
//! answer is a success; its row here is [`ErrorCode::Success`] (`SUCCESS` is our name for it, not
//! a wire code). Rows are found by `code`; the status beside it is the one WeChat Pay documents.
//! Whatever the code, an answer with a 5xx status is never taken as definitive: the call is
//! UNKNOWN and is queried (WeChat Pay's own rule: "5xx: call again with the same parameters").
//!
//! `definitive`: the code settles what happened to the request (here: nothing was processed).
//! `retryable`: asking again later may give another answer. `person` says what a person should
//! do when the code stays.
//!
//! ## Sources, and what could not be confirmed
//! Checked (with the `search` tool) against WeChat Pay's published v3 pages: the common codes
//! (400 PARAM_ERROR / INVALID_REQUEST, 401 SIGN_ERROR, 403 NO_AUTH, 404 ORDER_NOT_EXIST, 429,
//! 500 SYSTEM_ERROR; "4xx: a request or permission error, 5xx: retry with the same parameters"),
//! and, through copies of the per-API tables in public repositories, the codes of the JSAPI /
//! Native create (APPID_MCHID_NOT_MATCH, MCH_NOT_EXISTS, OUT_TRADE_NO_USED, FREQUENCY_LIMITED),
//! the query and close (RULE_LIMIT, TRADE_ERROR, ORDER_NOT_EXIST) and the refund and refund query
//! (NOT_ENOUGH and USER_ACCOUNT_ABNORMAL 403, RESOURCE_NOT_EXISTS and MCH_NOT_EXISTS 404).
//! **Not confirmed** against a primary source: `BANK_ERROR` (an older page lists `BANKERROR`
//! with 500; 502 is assumed here), `ORDER_CLOSED` and `ORDERPAID` (listed by the older v3 pages
//! and API v2, with 400 assumed; whether v3's close answers them at all, or 204 again, is not
//! known), the English pages' `429 RATE_LIMITED` (the Chinese tables say `FREQUENCY_LIMITED`:
//! both are rows), and whether `INVALID_REQUEST` is what a refund above the refundable amount
//! gets. A code not in the table, or not documented for an operation, is UNKNOWN, never success
//! or failure, so an unconfirmed row can only make a call less certain than it could be.
//!
//! `trade_state` and refund `status` are [`TRADE_STATES`] and [`REFUND_STATES`]: the enums are
//! [`super::notification`]'s, so a notification and a query read a state the same way.

use super::notification::{RefundState, TradeState};
use crate::providers::answers::{PaymentStatus, RefundStatus};
use crate::providers::codes::{CodeRule, MappedCode, UnifiedCode};
use ErrorCode::*;
use Treatment::*;
use UnifiedCode as U;

/// A code WeChat Pay API v3 documents, by what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A 2xx answer (not a wire code).
    Success,
    ParamError,
    InvalidRequest,
    AppidMchidNotMatch,
    MchNotExists,
    SignError,
    NoAuth,
    OutTradeNoUsed,
    TradeError,
    RuleLimit,
    OrderNotExist,
    ResourceNotExists,
    FrequencyLimited,
    RateLimited,
    NotEnough,
    UserAccountAbnormal,
    OrderClosed,
    OrderPaid,
    SystemError,
    BankError,
}

// The table's columns. Here `Pay` is the Native, JSAPI or H5 create
// (`POST /v3/pay/transactions/{native,jsapi,h5}`), `Query`
// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=`, `Close`
// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`, `Refund`
// `POST /v3/refund/domestic/refunds`, `RefundQuery` `GET /v3/refund/domestic/refunds/{out_refund_no}`.
pub use crate::providers::operation::Operation;

/// What a code in the answer to one operation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// The operation's facts are in the body (or, for a close, the 204 itself).
    Facts,
    /// No such payment or refund (an answer: the caller decides when to believe it).
    NotFound,
    /// The payment was paid before the close arrived: it is recorded instead of the close.
    Paid,
    /// The payment is already closed: a close's answer.
    Closed,
    /// Refused: nothing was processed.
    Refused,
    /// Busy or rate-limited: nothing was processed, asking again later is safe.
    RetryLater,
    /// Not documented for this operation, or a server error: the outcome is unknown and queried.
    Unknown,
}

/// One row of [`CODES`].
#[derive(Debug)]
pub struct Code {
    pub name: ErrorCode,
    /// The HTTP status WeChat Pay documents with the code.
    pub status: u16,
    /// The wire code, ours, the flags and what it means.
    pub rule: CodeRule,
    /// What a person should do when the code stays.
    pub person: &'static str,
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
/// Settles what happened (nothing was processed, or the answer is the facts).
const FINAL: Flags = (false, true);
/// Nothing was processed, and asking again later may succeed (after a person acts).
const LATER: Flags = (true, true);
/// Settles nothing: ask again or query.
const AGAIN: Flags = (true, false);

#[allow(clippy::too_many_arguments)]
const fn row(
    name: ErrorCode,
    status: u16,
    provider_code: &'static str,
    unified: UnifiedCode,
    (retryable, definitive): Flags,
    treatments: [Treatment; 7],
    meaning: &'static str,
    person: &'static str,
) -> Code {
    Code {
        name,
        status,
        rule: CodeRule { provider_code, unified, retryable, definitive, meaning },
        person,
        treatments,
    }
}

/// Every code the adapter knows, once each.
#[rustfmt::skip]
pub static CODES: &[Code] = &[
    //  name                 status code                     ours                           flags
    //   pay         query       close       refund      refund query
    //   meaning; what a person should do
    row(Success,             200, "SUCCESS",               U::Success,                    FINAL,
        [Facts,      Facts,      Facts,      Facts,      Facts, Unknown,    Unknown],
        "success (a 2xx answer)",
        "nothing"),
    row(ParamError,          400, "PARAM_ERROR",           U::InvalidRequest,             FINAL,
        [Refused,    Refused,    Refused,    Refused,    Refused, Unknown,    Unknown],
        "parameter error; nothing was processed",
        "read the message: a bug in the request, or a setting such as the notify URL (https, no query)"),
    row(InvalidRequest,      400, "INVALID_REQUEST",       U::InvalidRequest,             FINAL,
        [Refused,    Refused,    Refused,    Refused,    Refused, Unknown,    Unknown],
        "well-formed, but against a business rule or the API's rules; nothing was processed",
        "read the message (e.g. a refund above what is refundable, a refund of an unpaid order)"),
    row(AppidMchidNotMatch,  400, "APPID_MCHID_NOT_MATCH", U::InvalidRequest,             FINAL,
        [Refused,    Unknown,    Unknown,    Unknown,    Unknown, Unknown,    Unknown],
        "the appid is not bound to the mchid; nothing was processed",
        "bind the app to the merchant id in the merchant platform, or fix the APPID setting"),
    row(MchNotExists,        400, "MCH_NOT_EXISTS",        U::InvalidRequest,             FINAL,
        [Refused,    Refused,    Refused,    Refused,    Refused, Unknown,    Unknown],
        "no such merchant id; nothing was processed (the refund pages document it with 404)",
        "fix the MCHID setting"),
    row(SignError,           401, "SIGN_ERROR",            U::AuthenticationFailed,       FINAL,
        [Refused,    Refused,    Refused,    Refused,    Refused, Unknown,    Unknown],
        "the request's signature did not verify; nothing was processed",
        "check the merchant private key, its serial (MERCHANT_SERIAL) and the clock"),
    row(NoAuth,              403, "NO_AUTH",               U::InvalidRequest,             FINAL,
        [Refused,    Refused,    Refused,    Refused,    Refused, Unknown,    Unknown],
        "the merchant has no permission for this API or product; nothing was processed",
        "apply for the product (Native, JSAPI, H5, refunds) in the merchant platform"),
    row(OutTradeNoUsed,      403, "OUT_TRADE_NO_USED",     U::IdempotencyConflict,        FINAL,
        [Refused,    Unknown,    Unknown,    Unknown,    Unknown, Unknown,    Unknown],
        "the out_trade_no exists with other parameters; nothing was processed",
        "a repeated pay must be byte-identical; find who else uses the number"),
    row(TradeError,          403, "TRADE_ERROR",           U::DeclinedOther,              FINAL,
        [Unknown,    Refused,    Refused,    Unknown,    Unknown, Unknown,    Unknown],
        "refused for a business reason; read the message",
        "read the message; the order's state is found by a later query"),
    row(RuleLimit,           403, "RULE_LIMIT",            U::ProviderError,              AGAIN,
        [Unknown,    RetryLater, RetryLater, Unknown,    Unknown, Unknown,    Unknown],
        "limited by a business rule (request frequency for this order)",
        "nothing, unless it persists: then slow the follow-up queries (STUCK_SCHEDULE)"),
    row(OrderNotExist,       404, "ORDER_NOT_EXIST",       U::NotFound,                   FINAL,
        [Unknown,    NotFound,   NotFound,   Refused,    Unknown, Unknown,    Unknown],
        "no such order",
        "nothing: the caller decides when a not-found is believed"),
    row(ResourceNotExists,   404, "RESOURCE_NOT_EXISTS",   U::NotFound,                   FINAL,
        [Unknown,    Unknown,    Unknown,    Refused,    NotFound, Unknown,    Unknown],
        "no such refund, or (to a refund) no such paid order: an unpaid order cannot be refunded",
        "check that the payment was paid before refunding it"),
    row(FrequencyLimited,    429, "FREQUENCY_LIMITED",     U::ProviderError,              AGAIN,
        [RetryLater, RetryLater, RetryLater, RetryLater, RetryLater, Unknown,    Unknown],
        "rate limited; the request was not taken",
        "nothing, unless it persists: then lower the call rate (PROVIDER_MAX_IN_FLIGHT)"),
    row(RateLimited,         429, "RATE_LIMITED",          U::ProviderError,              AGAIN,
        [RetryLater, RetryLater, RetryLater, RetryLater, RetryLater, Unknown,    Unknown],
        "rate limited (the English pages' name of FREQUENCY_LIMITED); the request was not taken",
        "as FREQUENCY_LIMITED"),
    row(NotEnough,           403, "NOT_ENOUGH",            U::DeclinedInsufficientFunds,  LATER,
        [Unknown,    Unknown,    Unknown,    Refused,    Unknown, Unknown,    Unknown],
        "the merchant's available balance cannot cover the refund; the refund was not taken",
        "top up the merchant account's available balance (or wait for settlement), then refund again"),
    row(UserAccountAbnormal, 403, "USER_ACCOUNT_ABNORMAL", U::DeclinedAccountSuspended,   FINAL,
        [Unknown,    Unknown,    Unknown,    Refused,    Unknown, Unknown,    Unknown],
        "the payer's account is abnormal: WeChat Pay will not refund to it",
        "refund the customer another way (outside WeChat Pay) and record it"),
    row(OrderClosed,         400, "ORDER_CLOSED",          U::ExpiredOrClosed,            FINAL,
        [Refused,    Unknown,    Closed,     Refused,    Unknown, Unknown,    Unknown],
        "the order is closed (status unconfirmed)",
        "nothing; a new payment needs a new order"),
    row(OrderPaid,           400, "ORDERPAID",             U::AlreadyPaid,                FINAL,
        [Unknown,    Unknown,    Paid,       Unknown,    Unknown, Unknown,    Unknown],
        "the order is already paid: it cannot be closed (status unconfirmed)",
        "nothing: the payment is recorded; refund it if it should not have been paid"),
    row(SystemError,         500, "SYSTEM_ERROR",          U::ProviderError,              AGAIN,
        [Unknown,    Unknown,    Unknown,    Unknown,    Unknown, Unknown,    Unknown],
        "system error; the outcome is unknown",
        "nothing: it is queried; never change the out_trade_no or out_refund_no"),
    row(BankError,           502, "BANK_ERROR",            U::ProviderError,              AGAIN,
        [Unknown,    Unknown,    Unknown,    Unknown,    Unknown, Unknown,    Unknown],
        "the bank's system failed; the outcome is unknown (status unconfirmed)",
        "nothing: it is queried"),
];

impl ErrorCode {
    /// Its row in [`CODES`].
    pub fn row(self) -> &'static Code {
        CODES.iter().find(|c| c.name == self).expect("every error code has a row (tested)")
    }

    /// The code on the wire.
    pub fn wire(self) -> &'static str {
        self.row().rule.provider_code
    }
}

/// The row of a wire code, if the table has it.
pub fn find(wire: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.rule.provider_code == wire)
}

/// A wire code mapped to ours; one the table does not have is [`UnifiedCode::UnknownCode`].
pub fn map(wire: &str, message: impl Into<String>) -> MappedCode {
    MappedCode::lookup(CODES.iter().map(|c| &c.rule), wire, message)
}

/// What an answer with `status` and `wire` code says to `operation`: a 5xx is
/// [`Treatment::Unknown`] whatever its code, and so is a code the table does not have.
pub fn treatment(operation: Operation, status: u16, wire: &str) -> Treatment {
    if status >= 500 {
        return Treatment::Unknown;
    }
    find(wire).map_or(Treatment::Unknown, |c| c.treatment(operation))
}

/// One row of [`TRADE_STATES`].
#[derive(Debug)]
pub struct TradeStateRow {
    pub state: TradeState,
    pub ours: PaymentStatus,
    /// For a state that ends the payment unpaid by the payer's side (a decline), its unified
    /// code: the answer that found it says why, as a declined pay's answer would.
    pub declined: Option<UnifiedCode>,
    pub meaning: &'static str,
}

/// `trade_state` in our terms.
pub static TRADE_STATES: &[TradeStateRow] = &[
    TradeStateRow {
        state: TradeState::Success,
        ours: PaymentStatus::Succeeded,
        declined: None,
        meaning: "paid",
    },
    TradeStateRow {
        state: TradeState::Refund,
        ours: PaymentStatus::Succeeded,
        declined: None,
        meaning: "paid, and a refund was started (转入退款): the payment itself succeeded",
    },
    TradeStateRow {
        state: TradeState::NotPay,
        ours: PaymentStatus::WaitingForCustomer,
        declined: None,
        meaning: "not paid yet: the customer has not acted",
    },
    TradeStateRow {
        state: TradeState::Closed,
        ours: PaymentStatus::Closed,
        declined: None,
        meaning: "closed unpaid",
    },
    TradeStateRow {
        state: TradeState::Revoked,
        ours: PaymentStatus::Closed,
        declined: None,
        meaning: "revoked (payment-code payments only): closed unpaid",
    },
    TradeStateRow {
        state: TradeState::UserPaying,
        ours: PaymentStatus::Processing,
        declined: None,
        meaning: "the customer is paying (entering a password): not final",
    },
    TradeStateRow {
        state: TradeState::PayError,
        ours: PaymentStatus::Failed,
        declined: Some(UnifiedCode::DeclinedOther),
        meaning: "the payment failed (e.g. the bank declined it)",
    },
];

/// One row of [`REFUND_STATES`].
#[derive(Debug)]
pub struct RefundStateRow {
    pub state: RefundState,
    pub ours: RefundStatus,
    pub meaning: &'static str,
}

/// Refund `status` in our terms. `ABNORMAL` is not final: the money could not reach the payer
/// (a closed card, an abnormal account) and WeChat Pay holds it until the merchant redirects it
/// (in the merchant platform, or `apply-abnormal-refund`), after which it becomes `SUCCESS`. It
/// is read as [`RefundStatus::Processing`], so the amount stays reserved (it is not refundable
/// again, which could pay it twice) and the follow-up queries bring it to a person.
pub static REFUND_STATES: &[RefundStateRow] = &[
    RefundStateRow { state: RefundState::Success, ours: RefundStatus::Succeeded, meaning: "refunded" },
    RefundStateRow {
        state: RefundState::Closed,
        ours: RefundStatus::Failed,
        meaning: "closed: not refunded, the amount may be refunded again",
    },
    RefundStateRow {
        state: RefundState::Processing,
        ours: RefundStatus::Processing,
        meaning: "accepted, on its way; a notification or a query tells the end",
    },
    RefundStateRow {
        state: RefundState::Abnormal,
        ours: RefundStatus::Processing,
        meaning: "abnormal: the money could not reach the payer; a person must redirect it in the \
                  merchant platform (it stays reserved until then)",
    },
];

/// A `trade_state` in our terms.
pub fn payment_status(state: TradeState) -> PaymentStatus {
    TRADE_STATES
        .iter()
        .find(|r| r.state == state)
        .map(|r| r.ours.clone())
        .expect("every trade_state has a row (tested)")
}

/// The code of an answer that found a payment in `state`: for a decline (`PAYERROR`), the
/// decline, definitive, with WeChat Pay's `trade_state_desc`; otherwise none (the answer's own
/// code stands).
pub fn declined_code(state: TradeState, desc: Option<&str>) -> Option<MappedCode> {
    let row = TRADE_STATES.iter().find(|r| r.state == state)?;
    row.declined.map(|unified| MappedCode {
        provider_code: state.as_str().to_owned(),
        unified,
        retryable: false,
        definitive: true,
        message: desc.filter(|d| !d.trim().is_empty()).unwrap_or(row.meaning).to_owned(),
    })
}

/// A refund `status` in our terms.
pub fn refund_status(state: RefundState) -> RefundStatus {
    REFUND_STATES
        .iter()
        .find(|r| r.state == state)
        .map(|r| r.ours)
        .expect("every refund status has a row (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_row_and_every_name_one_code() {
        for (i, c) in CODES.iter().enumerate() {
            let n = CODES.iter().filter(|r| r.rule.provider_code == c.rule.provider_code).count();
            assert_eq!(n, 1, "{} appears {n} times", c.rule.provider_code);
            assert!(std::ptr::eq(c.name.row(), &CODES[i]), "{:?}", c.name);
            assert!(!c.person.is_empty() && !c.rule.meaning.is_empty());
        }
        assert_eq!(SystemError.wire(), "SYSTEM_ERROR");
    }

    #[test]
    fn the_statuses_are_the_documented_classes() {
        for c in CODES {
            let expected = match c.name {
                Success => 200,
                ParamError | InvalidRequest | AppidMchidNotMatch | MchNotExists | OrderClosed | OrderPaid => {
                    400
                }
                SignError => 401,
                NoAuth | OutTradeNoUsed | TradeError | RuleLimit | NotEnough | UserAccountAbnormal => 403,
                OrderNotExist | ResourceNotExists => 404,
                FrequencyLimited | RateLimited => 429,
                SystemError => 500,
                BankError => 502,
            };
            assert_eq!(c.status, expected, "{:?}", c.name);
        }
    }

    #[test]
    fn server_errors_and_unknown_codes_are_unknown_never_success_or_failure() {
        for op in Operation::ALL {
            assert_eq!(treatment(op, 500, "SYSTEM_ERROR"), Unknown);
            assert_eq!(treatment(op, 503, "PARAM_ERROR"), Unknown, "a 5xx decides nothing whatever its code");
            assert_eq!(treatment(op, 400, "SOMETHING_NEW"), Unknown);
        }
        let m = map("SOMETHING_NEW", "what");
        assert_eq!(m.unified, UnifiedCode::UnknownCode);
        assert!(!m.definitive);
    }

    #[test]
    fn treatments_agree_with_the_flags() {
        for c in CODES {
            for op in Operation::ALL {
                let t = c.treatment(op);
                if t == RetryLater {
                    assert!(c.rule.retryable && !c.rule.definitive, "{:?} {op:?}", c.name);
                }
                if !c.rule.definitive {
                    assert!(matches!(t, RetryLater | Unknown), "{:?} {op:?}", c.name);
                }
                if c.status >= 500 {
                    assert_eq!(t, Unknown, "{:?} {op:?}", c.name);
                }
                if matches!(op, Operation::Refund | Operation::RefundQuery) {
                    assert!(!matches!(t, Paid | Closed), "{:?} {op:?}", c.name);
                }
                if op == Operation::Pay {
                    assert!(!matches!(t, NotFound | Paid | Closed), "{:?} {op:?}", c.name);
                }
            }
        }
    }

    #[test]
    fn the_codes_the_brief_names_map_as_expected() {
        assert_eq!(treatment(Operation::Query, 404, "ORDER_NOT_EXIST"), NotFound);
        assert_eq!(treatment(Operation::RefundQuery, 404, "RESOURCE_NOT_EXISTS"), NotFound);
        assert_eq!(treatment(Operation::Refund, 403, "NOT_ENOUGH"), Refused);
        assert!(NotEnough.row().rule.retryable, "refundable again once topped up");
        assert_eq!(treatment(Operation::Pay, 429, "FREQUENCY_LIMITED"), RetryLater);
        assert_eq!(treatment(Operation::Pay, 401, "SIGN_ERROR"), Refused);
        assert_eq!(treatment(Operation::Pay, 403, "OUT_TRADE_NO_USED"), Refused);
        assert_eq!(treatment(Operation::Close, 400, "ORDERPAID"), Paid);
        assert_eq!(map("USER_ACCOUNT_ABNORMAL", "m").unified, UnifiedCode::DeclinedAccountSuspended);
    }

    #[test]
    fn every_state_has_one_row() {
        for s in TradeState::ALL {
            assert_eq!(TRADE_STATES.iter().filter(|r| r.state == s).count(), 1, "{s:?}");
        }
        for s in RefundState::ALL {
            assert_eq!(REFUND_STATES.iter().filter(|r| r.state == s).count(), 1, "{s:?}");
        }
        assert_eq!(payment_status(TradeState::Refund), PaymentStatus::Succeeded);
        assert_eq!(payment_status(TradeState::NotPay), PaymentStatus::WaitingForCustomer);
        assert_eq!(payment_status(TradeState::UserPaying), PaymentStatus::Processing);
        assert_eq!(payment_status(TradeState::PayError), PaymentStatus::Failed);
        let declined = declined_code(TradeState::PayError, Some("银行卡余额不足")).unwrap();
        assert_eq!((declined.unified, declined.definitive), (UnifiedCode::DeclinedOther, true));
        assert_eq!(
            (declined.provider_code.as_str(), declined.message.as_str()),
            ("PAYERROR", "银行卡余额不足")
        );
        for state in TradeState::ALL.iter().copied().filter(|s| *s != TradeState::PayError) {
            assert_eq!(declined_code(state, None), None, "{state:?} is no decline");
        }
        assert_eq!(refund_status(RefundState::Closed), RefundStatus::Failed);
        assert_eq!(refund_status(RefundState::Abnormal), RefundStatus::Processing, "never refundable twice");
    }
}
