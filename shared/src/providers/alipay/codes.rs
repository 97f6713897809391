//! Alipay's return codes: the one table of what each means, to us and to each operation
//! (docs/architecture.md, decision 10). The adapter reads a code's [`Treatment`] for its operation
//! from here and never names a code itself.
//!
//! An answer carries `code` (the gateway's public code: `10000` success, `10003` in process,
//! `20000` service unavailable, `20001` authorisation, `40001` missing parameter, `40002` invalid
//! parameter, `40004` business failure, `40006` insufficient permissions) and, on a failure,
//! `sub_code`. A business failure (`40004`) means nothing without its `sub_code` (`ACQ.…`): the
//! table is keyed by the `sub_code` where one decides, and by the `code` otherwise ([`key`]). A
//! `sub_code` the table does not list, under any code, is [`UnifiedCode::UnknownCode`]: the call is
//! UNKNOWN and queried, never success or failure.
//!
//! `retryable`: asking again later may give another answer. `definitive`: the answer settles what
//! happened to the request. `20000` and `ACQ.SYSTEM_ERROR` are neither definitive nor safe to take
//! at their word: Alipay's own guidance is to query (or, for a barcode payment, cancel) after them.
//!
//! Sources: the gateway's public code table (`10000`, `20000` with `isp.unknow-error` /
//! `aop.unknow-error`, `20001` with its `aop.*-token` sub-codes, `40001` with its `isv.missing-*`
//! sub-codes) was confirmed against Alipay's published "公共错误码" page (a mirror on
//! open.alitrip.com). The cancel sub-codes (`ACQ.CANCEL_NOT_ALLOWED`, `ACQ.TRADE_CANCEL_TIME_OUT`,
//! `ACQ.REASON_TRADE_REFUND_FEE_ERR`, `ACQ.REASON_TRADE_BEEN_FREEZEN`,
//! `ACQ.SELLER_BALANCE_NOT_ENOUGH`, `ACQ.SYSTEM_ERROR`, `ACQ.TRADE_HAS_FINISHED`, and the misspelt
//! `AQC.SYSTEM_ERROR` that the cancel reference itself lists) were confirmed against a published
//! copy of the `alipay.trade.cancel` reference; the guidance to query or cancel after a timeout or
//! `SYSTEM_ERROR` against Alipay's face-to-face error-handling page (docs.antom.com). **Not
//! confirmed** against a reference we could read: `10003`'s exact wording, `40002`, `40004`,
//! `40006`, and the sub-codes `ACQ.TRADE_NOT_EXIST`, `ACQ.TRADE_HAS_SUCCESS`, `ACQ.TRADE_HAS_CLOSE`,
//! `ACQ.TRADE_STATUS_ERROR`, `ACQ.REFUND_AMT_NOT_EQUAL_TOTAL`, `ACQ.BUYER_BALANCE_NOT_ENOUGH`,
//! `ACQ.PAYMENT_AUTH_CODE_INVALID`, `ACQ.INVALID_PARAMETER`, `ACQ.CONTEXT_INCONSISTENT`,
//! `ACQ.TRADE_BUYER_NOT_MATCH` (taken from ../shared/PROVIDERS.md, issue 14 and common knowledge
//! of the API; their meanings here are our reading, to check against the open-platform API pages
//! of each method).
//!
//! The bill URL method (`alipay.data.dataservice.bill.downloadurl.query`): an English copy of its
//! reference (open.alitrip.com, "当面付-英文版") lists the errors `BILL_NOT_EXIST` ("there is no
//! report for the day"), `INVAILID_ARGUMENTS` (sic) and `UNKNOW_ERROR`, and the URL's 30 s life.
//! Answers seen in practice (and the simulator's) carry `40004` with `sub_code`
//! `isp.bill_not_exist`, which is **not confirmed** against the reference: both spellings are
//! listed. Every other code is an error of the download with its meaning (retryable or not).

use crate::providers::codes::{CodeRule, MappedCode, UnifiedCode};
use Treatment::*;
use UnifiedCode as U;

/// An operation of Alipay's API whose answer carries a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `alipay.trade.precreate` (a QR code).
    Precreate,
    /// `alipay.trade.pay` with the customer's barcode.
    BarcodePay,
    /// `alipay.trade.query`.
    Query,
    /// `alipay.trade.close`.
    Close,
    /// `alipay.trade.cancel`.
    Cancel,
    /// `alipay.trade.refund`.
    Refund,
    /// `alipay.trade.fastpay.refund.query`.
    RefundQuery,
    /// `alipay.data.dataservice.bill.downloadurl.query` (the day's bill's download URL).
    BillUrl,
}

impl Operation {
    /// In the table's column order.
    pub const ALL: [Operation; 8] = [
        Operation::Precreate,
        Operation::BarcodePay,
        Operation::Query,
        Operation::Close,
        Operation::Cancel,
        Operation::Refund,
        Operation::RefundQuery,
        Operation::BillUrl,
    ];

    /// Its name in the exchange log.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Precreate | Operation::BarcodePay => "pay",
            Operation::Query => "query",
            Operation::Close => "close",
            Operation::Cancel => "cancel",
            Operation::Refund => "refund",
            Operation::RefundQuery => "refund_query",
            Operation::BillUrl => "bill",
        }
    }

    /// The open-platform method.
    pub fn method(self) -> &'static str {
        match self {
            Operation::Precreate => "alipay.trade.precreate",
            Operation::BarcodePay => "alipay.trade.pay",
            Operation::Query => "alipay.trade.query",
            Operation::Close => "alipay.trade.close",
            Operation::Cancel => "alipay.trade.cancel",
            Operation::Refund => "alipay.trade.refund",
            Operation::RefundQuery => "alipay.trade.fastpay.refund.query",
            Operation::BillUrl => "alipay.data.dataservice.bill.downloadurl.query",
        }
    }
}

/// What a code in the answer to one operation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// The operation's facts are in the answer.
    Facts,
    /// A barcode payment the customer has still to confirm: it is PROCESSING, polled by query.
    InProcess,
    /// The payment is declined, final.
    Declined,
    /// No such trade or refund (an answer: the caller decides when to believe it); for the bill,
    /// no bill for that day yet.
    NotFound,
    /// The trade was paid before the close arrived: it is SUCCEEDED, and recorded instead.
    Paid,
    /// The trade is closed: a close finds it done, a repeated pay finds it unpayable.
    Closed,
    /// The trade is settled one way or the other (paid, finished or closed) and the answer does
    /// not say which: a query does.
    Settled,
    /// Refused: nothing was processed.
    Refused,
    /// Not documented for this operation, or not decisive: the outcome is unknown and is queried.
    Unknown,
}

/// One row of [`CODES`].
#[derive(Debug)]
pub struct Code {
    /// The wire code (`code`, or the `sub_code` where it decides), ours, the flags and the
    /// meaning.
    pub rule: CodeRule,
    /// What it says to each operation, in [`Operation::ALL`] order.
    treatments: [Treatment; 8],
    /// What a person should do about it.
    pub action: &'static str,
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
/// Settles what happened (nothing), but may go through later, once a person acted.
const LATER: Flags = (true, true);
/// Settles nothing: ask again or query.
const AGAIN: Flags = (true, false);

const fn row(
    provider_code: &'static str,
    unified: UnifiedCode,
    (retryable, definitive): Flags,
    treatments: [Treatment; 8],
    meaning: &'static str,
    action: &'static str,
) -> Code {
    Code { rule: CodeRule { provider_code, unified, retryable, definitive, meaning }, treatments, action }
}

/// Every code the adapter knows, once each.
#[rustfmt::skip]
pub static CODES: &[Code] = &[
    //  code                               ours                          flags
    //   precreate  barcode    query      close      cancel     refund     refund query  bill URL
    //   meaning, then what a person should do
    row("10000",                           U::Success,                   FINAL,
        [Facts,     Facts,     Facts,     Facts,     Facts,     Facts,     Facts, Facts],
        "success: the call was processed (read the answer's fields for the trade's or refund's state)",
        "nothing"),
    row("10003",                           U::InProcess,                 AGAIN,
        [Unknown,   InProcess, Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "payment in process: the customer is confirming the barcode payment on the phone",
        "nothing: paygate polls it by query; a payment not finished in time is cancelled"),
    row("20000",                           U::ProviderError,             AGAIN,
        [Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "service unavailable (isp.unknow-error, aop.unknow-error): the outcome is unknown",
        "nothing at first: paygate queries; if it persists, check Alipay's status and contact Alipay support"),
    row("20001",                           U::AuthenticationFailed,      FINAL,
        [Refused,   Refused,   Refused,   Refused,   Refused,   Refused,   Refused, Refused],
        "insufficient authorisation (an invalid or expired auth token); nothing was processed",
        "check the app's authorisation at the open platform (app_auth_token for a service provider)"),
    row("40001",                           U::InvalidRequest,            FINAL,
        [Refused,   Refused,   Refused,   Refused,   Refused,   Refused,   Refused, Refused],
        "a required parameter is missing; nothing was processed",
        "a bug in paygate's request, or a missing key configuration at Alipay (isv.missing-signature-key): report it"),
    row("40002",                           U::InvalidRequest,            FINAL,
        [Refused,   Refused,   Refused,   Refused,   Refused,   Refused,   Refused, Refused],
        "a parameter is invalid (isv.invalid-signature among them); nothing was processed",
        "check the app id, the keys (our private key against the public key uploaded to Alipay) and the request"),
    row("40006",                           U::AuthenticationFailed,      FINAL,
        [Refused,   Refused,   Refused,   Refused,   Refused,   Refused,   Refused, Refused],
        "insufficient permissions: the app has not signed up for this product or method",
        "sign the product (face-to-face, PC/mobile web pay) for the app at the open platform"),
    row("ACQ.SYSTEM_ERROR",                U::ProviderError,             AGAIN,
        [Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "Alipay's system error: the outcome is unknown",
        "nothing at first: paygate queries (a barcode payment is cancelled if it stays unknown); if it persists, contact Alipay support"),
    row("AQC.SYSTEM_ERROR",                U::ProviderError,             AGAIN,
        [Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "Alipay's system error (spelt so in the cancel reference): the outcome is unknown",
        "as ACQ.SYSTEM_ERROR"),
    row("ACQ.TRADE_NOT_EXIST",             U::NotFound,                  FINAL,
        [Unknown,   Unknown,   NotFound,  NotFound,  NotFound,  Refused,   NotFound, Unknown],
        "no such trade (a page or QR trade exists only once the customer opened or scanned it)",
        "nothing for a query or close; for a refund, check the payment was made through this app"),
    row("ACQ.TRADE_HAS_SUCCESS",           U::AlreadyPaid,               FINAL,
        [Unknown,   Unknown,   Unknown,   Paid,      Unknown,   Unknown,   Unknown, Unknown],
        "the trade is already paid",
        "nothing: paygate records the payment (a pay answered so is queried for its facts)"),
    row("ACQ.TRADE_HAS_CLOSE",             U::ExpiredOrClosed,           FINAL,
        [Closed,    Closed,    Unknown,   Closed,    Unknown,   Refused,   Unknown, Unknown],
        "the trade is closed (unpaid until it timed out, closed, or fully refunded)",
        "a new payment needs a new order; a refund of it is impossible"),
    row("ACQ.TRADE_HAS_FINISHED",          U::ExpiredOrClosed,           FINAL,
        [Unknown,   Unknown,   Unknown,   Unknown,   Refused,   Refused,   Unknown, Unknown],
        "the trade is finished (TRADE_FINISHED): it can no longer be refunded or cancelled",
        "settle with the customer outside Alipay"),
    row("ACQ.TRADE_STATUS_ERROR",          U::ExpiredOrClosed,           FINAL,
        [Unknown,   Unknown,   Unknown,   Settled,   Refused,   Refused,   Unknown, Unknown],
        "the trade's status does not allow the operation (not paid for a refund; paid or finished for a close)",
        "nothing: paygate queries a close answered so, and records what the query finds (paid or closed)"),
    row("ACQ.REASON_TRADE_BEEN_FREEZEN",   U::DeclinedAccountSuspended,  FINAL,
        [Unknown,   Unknown,   Unknown,   Unknown,   Refused,   Refused,   Unknown, Unknown],
        "the trade is frozen: no refund or cancel",
        "contact Alipay support about the frozen trade"),
    row("ACQ.SELLER_BALANCE_NOT_ENOUGH",   U::DeclinedInsufficientFunds, LATER,
        [Unknown,   Unknown,   Unknown,   Unknown,   Refused,   Refused,   Unknown, Unknown],
        "our (the seller's) Alipay balance cannot cover the refund; nothing was refunded",
        "top up the merchant's Alipay balance, then send the refund again with the same refund number"),
    row("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",  U::IdempotencyConflict,       FINAL,
        [Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Refused,   Unknown, Unknown],
        "the refund number was used before with another amount; nothing was refunded",
        "a bug: a refund number must be sent with one amount only; report it"),
    row("ACQ.REASON_TRADE_REFUND_FEE_ERR", U::AlreadyRefunded,           FINAL,
        [Unknown,   Unknown,   Unknown,   Unknown,   Refused,   Unknown,   Unknown, Unknown],
        "the trade was refunded before, so it cannot be cancelled",
        "refund what is left instead of cancelling"),
    row("ACQ.CANCEL_NOT_ALLOWED",          U::InvalidRequest,            FINAL,
        [Unknown,   Unknown,   Unknown,   Unknown,   Refused,   Unknown,   Unknown, Unknown],
        "this trade cannot be cancelled",
        "refund it instead if it was paid, close it if not"),
    row("ACQ.TRADE_CANCEL_TIME_OUT",       U::ExpiredOrClosed,           FINAL,
        [Unknown,   Unknown,   Unknown,   Unknown,   Refused,   Unknown,   Unknown, Unknown],
        "too late to cancel the trade",
        "refund it instead if it was paid"),
    row("ACQ.BUYER_BALANCE_NOT_ENOUGH",    U::DeclinedInsufficientFunds, FINAL,
        [Unknown,   Declined,  Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "the customer's balance is not enough; declined",
        "ask the customer to pay another way or top up"),
    row("ACQ.PAYMENT_AUTH_CODE_INVALID",   U::DeclinedOther,             FINAL,
        [Unknown,   Declined,  Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "the customer's barcode (auth_code) is invalid or expired; declined",
        "ask the customer to refresh the payment code and scan it again (a new order)"),
    row("ACQ.INVALID_PARAMETER",           U::InvalidRequest,            FINAL,
        [Refused,   Refused,   Refused,   Refused,   Refused,   Refused,   Refused, Refused],
        "a business parameter is invalid; nothing was processed",
        "a bug in paygate's request: report it with the exchange log"),
    row("ACQ.CONTEXT_INCONSISTENT",        U::IdempotencyConflict,       FINAL,
        [Refused,   Refused,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "the trade number was used before with other parameters; nothing was processed",
        "a bug: a trade number must be sent with one amount and subject only; report it"),
    row("ACQ.TRADE_BUYER_NOT_MATCH",       U::DeclinedOther,             FINAL,
        [Refused,   Refused,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown, Unknown],
        "the trade belongs to another buyer; nothing was processed for this one",
        "the order must be paid by the buyer who started it, or as a new order"),
    row("isp.bill_not_exist",              U::NotFound,                  LATER,
        [Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown, NotFound],
        "no bill for that day yet: a day's bill is made the next day (usually by 09:00 Beijing time), never for today",
        "nothing: reconciliation runs again later; if it persists past noon the next day, check the day and contact Alipay support"),
    row("BILL_NOT_EXIST",                  U::NotFound,                  LATER,
        [Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown,   Unknown, NotFound],
        "no bill for that day yet (the bill URL reference's spelling of isp.bill_not_exist)",
        "as isp.bill_not_exist"),
];

/// The key of an answer in [`CODES`]: its `sub_code` where the table lists it, else its `code`.
/// A `sub_code` the table does not list is the key itself (and maps to
/// [`UnifiedCode::UnknownCode`]), except under `10000`, `10003`, `20000` and `20001`, whose
/// sub-codes only detail the code.
pub fn key<'a>(code: &'a str, sub_code: Option<&'a str>) -> &'a str {
    match sub_code.filter(|s| !s.is_empty()) {
        Some(sub) if find(sub).is_some() => sub,
        Some(_) if matches!(code, "10000" | "10003" | "20000" | "20001" | "40001" | "40002" | "40006") => {
            code
        }
        Some(sub) => sub,
        None => code,
    }
}

/// The row of a key, if the table lists it.
pub fn find(key: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.rule.provider_code == key)
}

/// An answer's `code` and `sub_code` mapped to ours, with `message` (`msg` and `sub_msg`).
pub fn map(code: &str, sub_code: Option<&str>, message: impl Into<String>) -> MappedCode {
    MappedCode::lookup(CODES.iter().map(|c| &c.rule), key(code, sub_code), message)
}

/// What a mapped code says in an answer to `operation`.
pub fn treatment(operation: Operation, provider_code: &str) -> Treatment {
    find(provider_code).map_or(Treatment::Unknown, |c| c.treatment(operation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_table_once_with_a_meaning_and_an_action() {
        for c in CODES {
            let n = CODES.iter().filter(|r| r.rule.provider_code == c.rule.provider_code).count();
            assert_eq!(n, 1, "{} appears {n} times", c.rule.provider_code);
            assert!(!c.rule.meaning.is_empty() && !c.action.is_empty(), "{}", c.rule.provider_code);
        }
        for code in ["10000", "10003", "20000", "20001", "40001", "40002", "40006"] {
            assert!(find(code).is_some(), "{code}");
        }
    }

    #[test]
    fn a_business_failure_is_keyed_by_its_sub_code_and_an_unlisted_one_is_unknown() {
        let m = map("40004", Some("ACQ.TRADE_NOT_EXIST"), "Business Failed: 交易不存在");
        assert_eq!((m.unified, m.provider_code.as_str()), (U::NotFound, "ACQ.TRADE_NOT_EXIST"));
        assert_eq!(treatment(Operation::Query, &m.provider_code), NotFound);
        let m = map("40004", Some("ACQ.SOMETHING_NEW"), "?");
        assert_eq!((m.unified, m.definitive), (U::UnknownCode, false));
        for op in Operation::ALL {
            assert_eq!(treatment(op, &m.provider_code), Unknown);
        }
        // 40004 without a sub_code decides nothing either.
        assert_eq!(map("40004", None, "").unified, U::UnknownCode);
        // A gateway code's own sub-codes only detail it.
        assert_eq!(map("20000", Some("isp.unknow-error"), "").unified, U::ProviderError);
        assert_eq!(map("40002", Some("isv.invalid-signature"), "").unified, U::InvalidRequest);
        assert_eq!(map("10000", None, "Success").unified, U::Success);
        // A bill not made yet: not found, retryable, for the bill URL only.
        let m = map("40004", Some("isp.bill_not_exist"), "Business Failed: 账单不存在");
        assert_eq!((m.unified, m.retryable), (U::NotFound, true));
        assert_eq!(treatment(Operation::BillUrl, &m.provider_code), NotFound);
        assert_eq!(treatment(Operation::Query, &m.provider_code), Unknown);
    }

    #[test]
    fn system_errors_and_service_unavailable_are_never_taken_at_their_word() {
        for key in ["20000", "ACQ.SYSTEM_ERROR", "AQC.SYSTEM_ERROR", "10003"] {
            let c = find(key).unwrap();
            assert!(c.rule.retryable && !c.rule.definitive, "{key}");
        }
        let not_definitive: Vec<_> =
            CODES.iter().filter(|r| !r.rule.definitive).map(|r| r.rule.provider_code).collect();
        assert_eq!(not_definitive, ["10003", "20000", "ACQ.SYSTEM_ERROR", "AQC.SYSTEM_ERROR"]);
        for c in CODES.iter().filter(|c| !c.rule.definitive) {
            for op in Operation::ALL {
                assert!(matches!(c.treatment(op), Unknown | InProcess), "{} {op:?}", c.rule.provider_code);
            }
        }
    }

    #[test]
    fn only_a_barcode_payment_declines_or_waits_and_refund_operations_never_pay_or_close() {
        for c in CODES {
            for op in Operation::ALL {
                let t = c.treatment(op);
                if matches!(t, Declined | InProcess) {
                    assert_eq!(op, Operation::BarcodePay, "{}", c.rule.provider_code);
                }
                if matches!(op, Operation::Refund | Operation::RefundQuery) {
                    assert!(
                        !matches!(t, Declined | Paid | Closed | InProcess),
                        "{} {op:?}",
                        c.rule.provider_code
                    );
                }
            }
        }
    }
}
