//! Stripe's error codes, and its PaymentIntent and Refund `status`: the one table of what each
//! means, to us and to each operation (docs/architecture.md, decision 10). The adapter reads a
//! code's [`Treatment`] for its operation from here and never names a code itself.
//!
//! A Stripe answer is an HTTP status and, for an error, `{"error": {type, code, decline_code,
//! message, param}}`. The row of an error is found by the most specific name it carries
//! ([`wire_code`]): its `decline_code` (a `card_error`), else its `code`, else `http_<status>`,
//! else its `type`. A 2xx answer is [`ErrorCode::Success`] (`success` is our name, not Stripe's).
//! Whatever the code, a 5xx is never definitive: the call is UNKNOWN and queried.
//!
//! `definitive`: the code settles what happened to the request (here: nothing was processed).
//! `retryable`: asking again later may give another answer. `person` says what a person should
//! do when the code stays.
//!
//! ## Sources, and what could not be confirmed
//! Checked (with the `search` tool) against Stripe's API reference and guides: the error object
//! (`type`, `code`, `decline_code`, `message`, `param`), the HTTP statuses (400, 401, 402, 403,
//! 404, 409, 424, 429, 5xx), `idempotency_error` for a key reused with other parameters, the
//! decline codes named here, the PaymentIntent statuses and the Refund statuses. **Not
//! confirmed**: which `code` a 409 carries for a key still in flight (`idempotency_key_in_use` is
//! assumed), and that a 401 carries no `code` (it is found by `http_401` either way). A code not in
//! the table is UNKNOWN, never success or failure, so an unconfirmed row can only make a call less
//! certain than it could be.
//!
//! `Retry-After`: Stripe may send it with a 429. It is not a code and is not read here: the
//! dispatcher reads it from the exchange (`Exchange::retry_after`) and holds Stripe's work that
//! long (its bulkhead's breaker).

use super::transformers::{PaymentIntentStatus, RefundState};
use crate::providers::answers::{PaymentStatus, RefundStatus};
use crate::providers::codes::{CodeRule, MappedCode, UnifiedCode};
use ErrorCode::*;
use Treatment::*;
use UnifiedCode as U;

/// A code Stripe documents, by what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A 2xx answer (not a wire code).
    Success,
    IdempotencyError,
    IdempotencyKeyInUse,
    ResourceMissing,
    UnexpectedState,
    ChargeAlreadyRefunded,
    AmountTooLarge,
    RateLimit,
    Http400,
    Http401,
    Http403,
    Http404,
    Http429,
    ApiError,
    InvalidRequest,
    CardError,
    InsufficientFunds,
    GenericDecline,
    DoNotHonor,
    LostCard,
    StolenCard,
    Fraudulent,
    ExpiredCard,
    IncorrectCvc,
    CardVelocityExceeded,
    AuthenticationRequired,
}

// The table's columns. Here `Pay` is `POST /v1/payment_intents`, `Query`
// `GET /v1/payment_intents/search` then `GET /v1/payment_intents/{id}`, `Close`
// `POST /v1/payment_intents/{id}/cancel`, `Refund` `POST /v1/refunds`, `RefundQuery`
// `GET /v1/refunds?payment_intent=…`.
pub use crate::providers::operation::Operation;

/// What a code in the answer to one operation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// The operation's facts are in the body.
    Facts,
    /// No such object (an answer: the caller decides when to believe it).
    NotFound,
    /// The PaymentIntent's state does not allow the operation (a cancel of a paid one): the
    /// adapter reads the PaymentIntent to say which state.
    StateConflict,
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
/// Nothing was processed, and asking again later may succeed.
const LATER: Flags = (true, true);
/// Settles nothing: ask again or query.
const AGAIN: Flags = (true, false);

const fn row(
    name: ErrorCode,
    provider_code: &'static str,
    unified: UnifiedCode,
    (retryable, definitive): Flags,
    treatments: [Treatment; 7],
    meaning: &'static str,
    person: &'static str,
) -> Code {
    Code {
        name,
        rule: CodeRule { provider_code, unified, retryable, definitive, meaning },
        person,
        treatments,
    }
}

/// A card decline: the customer's card was refused; nothing was charged. Stripe puts the
/// PaymentIntent back to `requires_payment_method`, so the customer may try another card.
const DECLINE: [Treatment; 7] = [Refused, Unknown, Unknown, Unknown, Unknown, Unknown, Unknown];

/// Every code the adapter knows, once each.
#[rustfmt::skip]
pub static CODES: &[Code] = &[
    //  name                    wire code                          ours                          flags
    //   pay         query          close          refund      refund query   capture        void
    row(Success,                "success",                         U::Success,                   FINAL,
        [Facts,      Facts,         Facts,         Facts,      Facts, Facts,         Facts],
        "success (a 2xx answer)", "nothing"),
    row(IdempotencyError,       "idempotency_error",               U::IdempotencyConflict,       FINAL,
        [Refused,    Unknown,       Refused,       Refused,    Unknown, Refused,       Refused],
        "the Idempotency-Key was used before with other parameters; nothing was processed",
        "a repeated request must carry the same parameters; find who else sends this trade or refund number"),
    row(IdempotencyKeyInUse,    "idempotency_key_in_use",          U::DuplicateInProgress,       LATER,
        [RetryLater, Unknown,       RetryLater,    RetryLater, Unknown, RetryLater,    RetryLater],
        "a request with the same Idempotency-Key is still executing (409; code unconfirmed)",
        "nothing: it is asked again later"),
    row(ResourceMissing,        "resource_missing",                U::NotFound,                  FINAL,
        [Unknown,    NotFound,      NotFound,      Refused,    NotFound, NotFound,      NotFound],
        "no such object (404)", "nothing: the caller decides when a not-found is believed"),
    row(UnexpectedState,        "payment_intent_unexpected_state", U::ExpiredOrClosed,           FINAL,
        [Refused,    Unknown,       StateConflict, Refused,    Unknown, StateConflict, StateConflict],
        "the PaymentIntent's status does not allow the operation (e.g. cancelling a succeeded one, capturing one captured or cancelled)",
        "nothing: the PaymentIntent is read to record its state"),
    row(ChargeAlreadyRefunded,  "charge_already_refunded",         U::AlreadyRefunded,           FINAL,
        [Unknown,    Unknown,       Unknown,       Refused,    Unknown, Unknown,       Unknown],
        "the charge is already fully refunded; nothing was processed",
        "compare the refunds at Stripe with ours"),
    row(AmountTooLarge,         "amount_too_large",                U::ExceedsRefundable,         FINAL,
        [Refused,    Unknown,       Unknown,       Refused,    Unknown, Refused,       Unknown],
        "the amount is above what is allowed (for a refund: above what is left to refund; for a capture: above amount_capturable)",
        "compare the refunds at Stripe with ours"),
    row(RateLimit,              "rate_limit",                      U::ProviderError,             AGAIN,
        [RetryLater, RetryLater,    RetryLater,    RetryLater, RetryLater, RetryLater,    RetryLater],
        "too many requests (429); the request was not taken",
        "nothing, unless it persists: then lower the call rate (PROVIDER_MAX_IN_FLIGHT)"),
    row(Http400,                "http_400",                        U::InvalidRequest,            FINAL,
        [Refused,    Refused,       Refused,       Refused,    Refused, Refused,       Refused],
        "a bad request (400) without a more specific code; nothing was processed",
        "read the message and param: a bug in the request"),
    row(Http401,                "http_401",                        U::AuthenticationFailed,      FINAL,
        [Refused,    Refused,       Refused,       Refused,    Refused, Refused,       Refused],
        "the secret key was not accepted (401); nothing was processed",
        "check the SECRET_KEY setting (test and live keys differ)"),
    row(Http403,                "http_403",                        U::InvalidRequest,            FINAL,
        [Refused,    Refused,       Refused,       Refused,    Refused, Refused,       Refused],
        "the key has no permission for this request (403; a restricted key); nothing was processed",
        "give the restricted key write access to PaymentIntents and Refunds"),
    row(Http404,                "http_404",                        U::NotFound,                  FINAL,
        [Unknown,    NotFound,      NotFound,      Refused,    NotFound, NotFound,      NotFound],
        "not found (404) without a more specific code", "nothing"),
    row(Http429,                "http_429",                        U::ProviderError,             AGAIN,
        [RetryLater, RetryLater,    RetryLater,    RetryLater, RetryLater, RetryLater,    RetryLater],
        "too many requests (429) without a code; the request was not taken",
        "as rate_limit"),
    row(ApiError,               "api_error",                       U::ProviderError,             AGAIN,
        [Unknown,    Unknown,       Unknown,       Unknown,    Unknown, Unknown,       Unknown],
        "Stripe's own error (5xx); the outcome is unknown",
        "nothing: it is queried; never change the trade or refund number"),
    row(InvalidRequest,         "invalid_request_error",           U::InvalidRequest,            FINAL,
        [Refused,    Refused,       Refused,       Refused,    Refused, Refused,       Refused],
        "invalid parameters; nothing was processed", "read the message and param: a bug in the request"),
    row(CardError,              "card_error",                      U::DeclinedOther,             FINAL,
        DECLINE,
        "the card was refused without a decline_code", "nothing: the customer may pay with another card"),
    row(InsufficientFunds,      "insufficient_funds",              U::DeclinedInsufficientFunds, FINAL,
        DECLINE,
        "declined: insufficient funds", "nothing: the customer may pay with another card"),
    row(GenericDecline,         "generic_decline",                 U::DeclinedOther,             FINAL,
        DECLINE,
        "declined by the issuer without a reason", "nothing: the customer may pay with another card"),
    row(DoNotHonor,             "do_not_honor",                    U::DeclinedOther,             FINAL,
        DECLINE,
        "declined by the issuer (do not honor)", "nothing: the customer should call their bank"),
    row(LostCard,               "lost_card",                       U::DeclinedAccountSuspended,  FINAL,
        DECLINE,
        "declined: the card is reported lost", "nothing; do not tell the customer the reason"),
    row(StolenCard,             "stolen_card",                     U::DeclinedAccountSuspended,  FINAL,
        DECLINE,
        "declined: the card is reported stolen", "nothing; do not tell the customer the reason"),
    row(Fraudulent,             "fraudulent",                      U::DeclinedOther,             FINAL,
        DECLINE,
        "declined as suspected fraud", "review the order; do not tell the customer the reason"),
    row(ExpiredCard,            "expired_card",                    U::DeclinedOther,             FINAL,
        DECLINE,
        "declined: the card has expired", "nothing: the customer may pay with another card"),
    row(IncorrectCvc,           "incorrect_cvc",                   U::DeclinedOther,             FINAL,
        DECLINE,
        "declined: the CVC is wrong", "nothing: the customer may try again"),
    row(CardVelocityExceeded,   "card_velocity_exceeded",          U::DeclinedOther,             FINAL,
        DECLINE,
        "declined: the card's limit or its rate is exceeded", "nothing: the customer should call their bank"),
    row(AuthenticationRequired, "authentication_required",         U::DeclinedOther,             FINAL,
        DECLINE,
        "declined: the issuer wants 3D Secure", "nothing: the customer confirms again with authentication"),
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

/// The most specific name of an error the table has: `decline_code`, `code`, a specific `type`
/// (`idempotency_error`, `card_error`, `api_error`), `http_<status>`, then the generic
/// `invalid_request_error`; the first one it has (or, if none, the `code` or `type` as given,
/// which maps to [`UnifiedCode::UnknownCode`]).
pub fn wire_code(status: u16, error_type: &str, code: Option<&str>, decline_code: Option<&str>) -> String {
    let by_status = format!("http_{status}");
    let specific_type = (error_type != ErrorCode::InvalidRequest.wire()).then_some(error_type);
    let candidates = [decline_code, code, specific_type, Some(by_status.as_str()), Some(error_type)];
    candidates
        .iter()
        .flatten()
        .find(|c| find(c).is_some())
        .map(|c| (*c).to_owned())
        .unwrap_or_else(|| code.unwrap_or(error_type).to_owned())
}

/// A wire code mapped to ours; one the table does not have is [`UnifiedCode::UnknownCode`].
pub fn map(wire: &str, message: impl Into<String>) -> MappedCode {
    MappedCode::lookup(CODES.iter().map(|c| &c.rule), wire, message)
}

/// What an answer with `status` and `wire` code says to `operation`: a 5xx is
/// [`Treatment::Unknown`] whatever its code, a 429 is [`Treatment::RetryLater`], and a code the
/// table does not have is unknown.
pub fn treatment(operation: Operation, status: u16, wire: &str) -> Treatment {
    if status >= 500 {
        return Treatment::Unknown;
    }
    if status == 429 {
        return Treatment::RetryLater;
    }
    find(wire).map_or(Treatment::Unknown, |c| c.treatment(operation))
}

/// One row of [`PAYMENT_STATES`].
#[derive(Debug)]
pub struct PaymentStateRow {
    pub state: PaymentIntentStatus,
    pub ours: PaymentStatus,
    pub meaning: &'static str,
}

/// A PaymentIntent's `status` in our terms.
pub static PAYMENT_STATES: &[PaymentStateRow] = &[
    PaymentStateRow {
        state: PaymentIntentStatus::RequiresPaymentMethod,
        ours: PaymentStatus::WaitingForCustomer,
        meaning: "waiting for the customer's payment method (new, or after a declined attempt)",
    },
    PaymentStateRow {
        state: PaymentIntentStatus::RequiresConfirmation,
        ours: PaymentStatus::WaitingForCustomer,
        meaning: "a payment method is attached; waiting for the customer's confirmation",
    },
    PaymentStateRow {
        state: PaymentIntentStatus::RequiresAction,
        ours: PaymentStatus::WaitingForCustomer,
        meaning: "the customer must authenticate (3D Secure): next_action.redirect_to_url",
    },
    PaymentStateRow {
        state: PaymentIntentStatus::Processing,
        ours: PaymentStatus::Processing,
        meaning: "Stripe is processing the payment; nothing for the customer to do",
    },
    PaymentStateRow {
        state: PaymentIntentStatus::RequiresCapture,
        ours: PaymentStatus::Authorized,
        meaning: "authorised, waiting for a capture (capture_method manual): the customer's money is \
                  held, not taken; a capture takes it, a cancel releases it, and Stripe cancels it \
                  itself after 7 days (cancellation_reason automatic)",
    },
    PaymentStateRow {
        state: PaymentIntentStatus::Succeeded,
        ours: PaymentStatus::Succeeded,
        meaning: "paid (final)",
    },
    PaymentStateRow {
        state: PaymentIntentStatus::Canceled,
        ours: PaymentStatus::Closed,
        meaning: "cancelled unpaid, or an authorisation released (final); cancellation_reason \
                  automatic (Stripe's own release of an authorisation past its expiry) reads as expired",
    },
];

/// The row of a PaymentIntent status (every status has one, tested).
pub fn payment_state(state: PaymentIntentStatus) -> &'static PaymentStateRow {
    PAYMENT_STATES.iter().find(|r| r.state == state).expect("every status has a row (tested)")
}

/// One row of [`REFUND_STATES`].
#[derive(Debug)]
pub struct RefundStateRow {
    pub state: RefundState,
    pub ours: RefundStatus,
    pub meaning: &'static str,
}

/// A Refund's `status` in our terms.
pub static REFUND_STATES: &[RefundStateRow] = &[
    RefundStateRow { state: RefundState::Pending, ours: RefundStatus::Processing, meaning: "on its way" },
    RefundStateRow {
        state: RefundState::RequiresAction,
        ours: RefundStatus::Processing,
        meaning: "Stripe needs something (e.g. the customer's bank details) before it can finish",
    },
    RefundStateRow { state: RefundState::Succeeded, ours: RefundStatus::Succeeded, meaning: "refunded" },
    RefundStateRow {
        state: RefundState::Failed,
        ours: RefundStatus::Failed,
        meaning: "failed (see failure_reason): the amount may be refunded again",
    },
    RefundStateRow {
        state: RefundState::Canceled,
        ours: RefundStatus::Failed,
        meaning: "cancelled before it finished: nothing was refunded",
    },
];

/// The row of a Refund status (every status has one, tested).
pub fn refund_state(state: RefundState) -> &'static RefundStateRow {
    REFUND_STATES.iter().find(|r| r.state == state).expect("every status has a row (tested)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [ErrorCode; 26] = [
        Success,
        IdempotencyError,
        IdempotencyKeyInUse,
        ResourceMissing,
        UnexpectedState,
        ChargeAlreadyRefunded,
        AmountTooLarge,
        RateLimit,
        Http400,
        Http401,
        Http403,
        Http404,
        Http429,
        ApiError,
        InvalidRequest,
        CardError,
        InsufficientFunds,
        GenericDecline,
        DoNotHonor,
        LostCard,
        StolenCard,
        Fraudulent,
        ExpiredCard,
        IncorrectCvc,
        CardVelocityExceeded,
        AuthenticationRequired,
    ];

    #[test]
    fn every_code_has_exactly_one_row_and_every_wire_code_is_unique() {
        assert_eq!(CODES.len(), NAMES.len());
        for name in NAMES {
            assert_eq!(CODES.iter().filter(|c| c.name == name).count(), 1, "{name:?}");
            assert_eq!(find(name.wire()).map(|c| c.name), Some(name));
        }
    }

    #[test]
    fn the_most_specific_name_wins() {
        assert_eq!(
            wire_code(402, "card_error", Some("card_declined"), Some("insufficient_funds")),
            "insufficient_funds"
        );
        assert_eq!(wire_code(402, "card_error", Some("card_declined"), Some("no_such_reason")), "card_error");
        assert_eq!(wire_code(400, "idempotency_error", None, None), "idempotency_error");
        assert_eq!(wire_code(401, "invalid_request_error", None, None), "http_401");
        assert_eq!(
            wire_code(404, "invalid_request_error", Some("resource_missing"), None),
            "resource_missing"
        );
        assert_eq!(wire_code(500, "api_error", None, None), "api_error");
        assert_eq!(wire_code(400, "invalid_request_error", Some("parameter_missing"), None), "http_400");
        assert_eq!(wire_code(402, "card_error", None, None), "card_error");
        assert_eq!(wire_code(418, "brand_new_type", Some("brand_new"), None), "brand_new");
    }

    #[test]
    fn decline_codes_map_to_unified_declines_and_are_definitive() {
        let m = map("insufficient_funds", "Your card has insufficient funds.");
        assert_eq!((m.unified, m.definitive, m.retryable), (U::DeclinedInsufficientFunds, true, false));
        assert_eq!(map("stolen_card", "").unified, U::DeclinedAccountSuspended);
        assert_eq!(treatment(Operation::Pay, 402, "generic_decline"), Refused);
    }

    #[test]
    fn an_idempotency_conflict_is_refused_never_retried() {
        let m = map(
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters",
        );
        assert_eq!((m.unified, m.retryable, m.definitive), (U::IdempotencyConflict, false, true));
        assert_eq!(treatment(Operation::Pay, 400, "idempotency_error"), Refused);
        assert_eq!(treatment(Operation::Refund, 400, "idempotency_error"), Refused);
    }

    #[test]
    fn server_errors_are_unknown_and_429_is_later_whatever_the_code() {
        for op in Operation::ALL {
            assert_eq!(treatment(op, 500, "invalid_request_error"), Unknown, "{op:?}");
            assert_eq!(treatment(op, 503, "api_error"), Unknown, "{op:?}");
            assert_eq!(treatment(op, 429, "rate_limit"), RetryLater, "{op:?}");
            assert_eq!(treatment(op, 429, "lock_timeout"), RetryLater, "{op:?}");
            assert_eq!(treatment(op, 400, "never_heard_of_it"), Unknown, "{op:?}");
        }
        assert_eq!(map("never_heard_of_it", "").unified, U::UnknownCode);
    }

    #[test]
    fn a_definitive_refusal_on_a_money_call_is_never_retryable_without_a_person() {
        for c in CODES {
            if c.rule.unified == U::Success {
                continue;
            }
            if c.treatment(Operation::Pay) == Refused || c.treatment(Operation::Refund) == Refused {
                assert!(c.rule.definitive, "{:?} is refused but not definitive", c.name);
            }
            if c.treatment(Operation::Pay) == Unknown && c.treatment(Operation::Refund) == Unknown {
                continue;
            }
            assert!(!c.person.is_empty() && !c.rule.meaning.is_empty(), "{:?}", c.name);
        }
    }

    #[test]
    fn every_status_has_a_row_and_requires_capture_is_authorised_never_paid() {
        for s in PaymentIntentStatus::ALL {
            let row = payment_state(s);
            assert!(!row.meaning.is_empty());
        }
        assert_eq!(payment_state(PaymentIntentStatus::RequiresCapture).ours, PaymentStatus::Authorized);
        assert_eq!(payment_state(PaymentIntentStatus::Canceled).ours, PaymentStatus::Closed);
        for s in RefundState::ALL {
            assert!(!refund_state(s).meaning.is_empty());
        }
        assert_eq!(refund_state(RefundState::Canceled).ours, RefundStatus::Failed);
    }
}
