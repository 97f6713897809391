//! The rules of a capture: how much of an authorisation may be captured, and when. One capture
//! per payment, of more than zero and at most the authorised amount, in the payment's currency,
//! and only while the provider holds the authorisation uncaptured (`authorized`). A partial
//! capture releases the rest: nothing more can be captured afterwards.
//!
//! Ingest checks a `capture` command with [`check`] to refuse early (reading without a lock);
//! the dispatcher checks again under the payment's lock before it sends anything.
//! A void is allowed exactly where a capture is: the authorisation must be held and untouched.

use super::PaymentState;
use crate::domain::{Money, ValidationError};

/// Whether `amount` may be captured from a payment in `state` that authorised `authorized`.
/// The error names the field (`amount`, `currency` or `merchant_order_no`) and the rule.
pub fn check(state: PaymentState, authorized: Money, amount: Money) -> Result<(), ValidationError> {
    if amount.currency() != authorized.currency() {
        return Err(ValidationError::new(
            "currency",
            format!("must be the payment's currency {} (got {})", authorized.currency(), amount.currency()),
        ));
    }
    if state != PaymentState::Authorized {
        return Err(not_authorized("captured", state));
    }
    if amount.is_zero() {
        return Err(ValidationError::new(
            "amount",
            format!("a capture must be more than zero (got {amount})"),
        ));
    }
    if amount.minor_units() > authorized.minor_units() {
        return Err(ValidationError::new(
            "amount",
            format!("a capture of {amount} exceeds the authorised {authorized}"),
        ));
    }
    Ok(())
}

/// Whether a payment in `state` may be voided: only an authorisation held uncaptured.
pub fn check_void(state: PaymentState) -> Result<(), ValidationError> {
    if state == PaymentState::Authorized { Ok(()) } else { Err(not_authorized("voided", state)) }
}

fn not_authorized(what: &str, state: PaymentState) -> ValidationError {
    let rule = match state {
        PaymentState::Succeeded | PaymentState::PartiallyRefunded | PaymentState::Refunded => {
            format!(
                "the payment is {state}: it was captured already, and is captured once; only an authorized payment can be {what}"
            )
        }
        PaymentState::Capturing | PaymentState::Voiding => {
            format!(
                "the payment is {state}: a capture or void of it is on its way; only an authorized payment can be {what}"
            )
        }
        _ => format!(
            "the payment is {state}; only an authorized payment (one paid with capture manual) can be {what}"
        ),
    };
    ValidationError::new("merchant_order_no", rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;
    use crate::state_machine::{PaymentEvent, PaymentState as S, payment};

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD).expect("valid")
    }

    #[test]
    fn a_capture_up_to_the_authorised_amount_is_allowed() {
        assert_eq!(check(S::Authorized, usd(1_000), usd(1_000)), Ok(()));
        assert_eq!(check(S::Authorized, usd(1_000), usd(1)), Ok(()));
    }

    #[test]
    fn a_capture_above_the_authorised_amount_is_refused() {
        let e = check(S::Authorized, usd(1_000), usd(1_001)).expect_err("too much");
        assert_eq!(e.to_string(), "amount: a capture of 10.01 USD exceeds the authorised 10.00 USD");
        let zero = check(S::Authorized, usd(1_000), usd(0)).expect_err("zero");
        assert_eq!(zero.field(), "amount");
        let jpy = Money::from_minor(5, Currency::JPY).expect("valid");
        assert_eq!(check(S::Authorized, usd(1_000), jpy).expect_err("currency").field(), "currency");
    }

    #[test]
    fn a_second_capture_is_refused() {
        // After the first capture the payment is capturing, then succeeded: neither takes another.
        let capturing = payment::transition(S::Authorized, PaymentEvent::CaptureSubmitted).expect("first");
        assert_eq!(capturing, S::Capturing);
        let captured = payment::transition(capturing, PaymentEvent::ProviderSucceeded).expect("captured");
        for state in [capturing, captured] {
            let e = check(state, usd(1_000), usd(100)).expect_err("a second capture");
            assert_eq!(e.field(), "merchant_order_no");
            assert!(e.rule().starts_with(&format!("the payment is {state}")), "{e}");
        }
        let again =
            payment::transition(captured, PaymentEvent::CaptureSubmitted).expect_err("the machine too");
        assert!(!again.is_already_applied());
    }

    #[test]
    fn a_void_after_a_capture_is_refused() {
        assert_eq!(check_void(S::Authorized), Ok(()));
        let e = check_void(S::Succeeded).expect_err("captured");
        assert_eq!(
            e.to_string(),
            "merchant_order_no: the payment is succeeded: it was captured already, and is captured once; \
             only an authorized payment can be voided"
        );
        let refused =
            payment::transition(S::Succeeded, PaymentEvent::VoidSubmitted).expect_err("the machine too");
        assert!(!refused.is_already_applied());
        assert!(check_void(S::Pending).is_err());
        assert!(check_void(S::Voided).is_err());
    }

    #[test]
    fn only_an_authorised_payment_takes_a_capture_or_a_void() {
        for &state in PaymentState::ALL {
            let capture = payment::transition(state, PaymentEvent::CaptureSubmitted);
            let void = payment::transition(state, PaymentEvent::VoidSubmitted);
            assert_eq!(capture.is_ok(), state == S::Authorized, "{state}");
            assert_eq!(void.is_ok(), state == S::Authorized, "{state}");
            assert_eq!(check(state, usd(10), usd(10)).is_ok(), state == S::Authorized, "{state}");
        }
    }
}
