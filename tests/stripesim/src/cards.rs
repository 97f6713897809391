//! Stripe's test payment methods and test card numbers (its testing guide): what confirming a
//! PaymentIntent with each one does. A method not listed is refused as a missing resource; a card
//! number not listed is declined as Stripe's test mode declines a real card; a malformed one is
//! Stripe's `incorrect_number`, `invalid_expiry_month|year` or `invalid_cvc`.

/// What a confirm with a test payment method leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    /// The charge succeeds.
    Succeeds,
    /// The charge is declined: `code` (`card_declined`, `expired_card`, …) and `decline_code`.
    Declined { code: &'static str, decline_code: Option<&'static str>, message: &'static str },
    /// 3-D Secure is required: `requires_action` with a redirect.
    RequiresAuthentication,
}

use CardOutcome::*;

/// The test payment methods the simulator knows.
pub static CARDS: &[(&str, CardOutcome)] = &[
    ("pm_card_visa", Succeeds),
    ("pm_card_mastercard", Succeeds),
    ("pm_card_amex", Succeeds),
    ("pm_card_jcb", Succeeds),
    ("pm_card_visa_debit", Succeeds),
    (
        "pm_card_chargeDeclined",
        Declined {
            code: "card_declined",
            decline_code: Some("generic_decline"),
            message: "Your card was declined.",
        },
    ),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        Declined {
            code: "card_declined",
            decline_code: Some("insufficient_funds"),
            message: "Your card has insufficient funds.",
        },
    ),
    (
        "pm_card_chargeDeclinedLostCard",
        Declined {
            code: "card_declined",
            decline_code: Some("lost_card"),
            message: "Your card was declined.",
        },
    ),
    (
        "pm_card_chargeDeclinedStolenCard",
        Declined {
            code: "card_declined",
            decline_code: Some("stolen_card"),
            message: "Your card was declined.",
        },
    ),
    (
        "pm_card_chargeDeclinedFraudulent",
        Declined {
            code: "card_declined",
            decline_code: Some("fraudulent"),
            message: "Your card was declined.",
        },
    ),
    (
        "pm_card_chargeDeclinedExpiredCard",
        Declined { code: "expired_card", decline_code: None, message: "Your card has expired." },
    ),
    (
        "pm_card_chargeDeclinedIncorrectCvc",
        Declined {
            code: "incorrect_cvc",
            decline_code: None,
            message: "Your card's security code is incorrect.",
        },
    ),
    ("pm_card_threeDSecure2Required", RequiresAuthentication),
    ("pm_card_authenticationRequired", RequiresAuthentication),
];

/// What `payment_method` does, if the simulator knows it.
pub fn outcome(payment_method: &str) -> Option<CardOutcome> {
    CARDS.iter().find(|(pm, _)| *pm == payment_method).map(|(_, o)| *o)
}

/// The decline of a scripted or random decline fault: `decline_code` (default
/// `insufficient_funds`), if it is one the simulator knows.
pub fn scripted_decline(decline_code: Option<&str>) -> Result<CardOutcome, String> {
    let wanted = decline_code.unwrap_or("insufficient_funds");
    CARDS
        .iter()
        .map(|(_, o)| *o)
        .find(|o| {
            matches!(o, Declined { decline_code: Some(d), .. } if *d == wanted)
                || matches!(o, Declined { code, decline_code: None, .. } if *code == wanted)
        })
        .ok_or_else(|| format!("declineCode: {wanted:?} is not a decline the simulator knows"))
}

/// Stripe's test card numbers (docs.stripe.com/testing, checked with the `search` tool; see
/// docs/providers/stripe.md) and the test payment method each behaves as.
pub static CARD_NUMBERS: &[(&str, &str)] = &[
    ("4242424242424242", "pm_card_visa"),
    ("4000056655665556", "pm_card_visa_debit"),
    ("5555555555554444", "pm_card_mastercard"),
    ("378282246310005", "pm_card_amex"),
    ("3566002020360505", "pm_card_jcb"),
    ("4000000000000002", "pm_card_chargeDeclined"),
    ("4000000000009995", "pm_card_chargeDeclinedInsufficientFunds"),
    ("4000000000009987", "pm_card_chargeDeclinedLostCard"),
    ("4000000000009979", "pm_card_chargeDeclinedStolenCard"),
    ("4100000000000019", "pm_card_chargeDeclinedFraudulent"),
    ("4000000000000069", "pm_card_chargeDeclinedExpiredCard"),
    ("4000000000000127", "pm_card_chargeDeclinedIncorrectCvc"),
    ("4000002500003155", "pm_card_authenticationRequired"),
    ("4000002760003184", "pm_card_authenticationRequired"),
    ("4000000000003220", "pm_card_threeDSecure2Required"),
];

/// Why raw card details are refused before any charge: Stripe's `card_error` code, its message
/// and the parameter it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardRefusal {
    pub code: &'static str,
    pub message: &'static str,
    pub param: &'static str,
}

/// A card number Stripe's test mode does not know: declined as a real card would be in test mode.
pub const LIVE_CARD_IN_TEST_MODE: CardOutcome = Declined {
    code: "card_declined",
    decline_code: Some("test_mode_live_card"),
    message: "Your card was declined. Your request was in test mode, but used a non test (live) card. For a list of valid test cards, visit: https://stripe.com/docs/testing.",
};

/// Whether `number` passes the Luhn check every card number does.
fn luhn(number: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in number.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Raw card details (`payment_method_data[card][…]`, what Stripe.js sends with the publishable
/// key) as the test payment method they behave as, or the `card_error` Stripe answers.
/// `(year, month)` is today's, for the expiry.
pub fn of_card(
    number: &str,
    exp_month: &str,
    exp_year: &str,
    cvc: &str,
    today: (i32, u32),
) -> Result<Result<&'static str, CardOutcome>, CardRefusal> {
    let refuse = |code, message, param| Err(CardRefusal { code, message, param });
    if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) || !luhn(number) {
        return refuse(
            "incorrect_number",
            "Your card number is incorrect.",
            "payment_method_data[card][number]",
        );
    }
    let month = exp_month.parse::<u32>().ok().filter(|m| (1..=12).contains(m));
    let Some(month) = month else {
        return refuse(
            "invalid_expiry_month",
            "Your card's expiration month is invalid.",
            "payment_method_data[card][exp_month]",
        );
    };
    let year = match exp_year.parse::<i32>() {
        Ok(y) if exp_year.len() == 2 => Some(2000 + y),
        Ok(y) if exp_year.len() == 4 => Some(y),
        _ => None,
    };
    let Some(year) = year.filter(|y| *y >= today.0 && *y <= today.0 + 50) else {
        return refuse(
            "invalid_expiry_year",
            "Your card's expiration year is invalid.",
            "payment_method_data[card][exp_year]",
        );
    };
    if year == today.0 && month < today.1 {
        return refuse(
            "invalid_expiry_month",
            "Your card's expiration month is invalid.",
            "payment_method_data[card][exp_month]",
        );
    }
    if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return refuse(
            "invalid_cvc",
            "Your card's security code is invalid.",
            "payment_method_data[card][cvc]",
        );
    }
    Ok(CARD_NUMBERS.iter().find(|(n, _)| *n == number).map(|(_, pm)| *pm).ok_or(LIVE_CARD_IN_TEST_MODE))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (i32, u32) = (2026, 12);

    fn card(number: &str) -> Result<Result<&'static str, CardOutcome>, CardRefusal> {
        of_card(number, "12", "2030", "123", TODAY)
    }

    #[test]
    fn stripes_test_card_numbers_behave_as_their_test_payment_methods() {
        let outcome_of = |n: &str| outcome(card(n).unwrap().unwrap()).unwrap();
        assert_eq!(outcome_of("4242424242424242"), Succeeds);
        assert!(matches!(
            outcome_of("4000000000000002"),
            Declined { code: "card_declined", decline_code: Some("generic_decline"), .. }
        ));
        assert!(matches!(
            outcome_of("4000000000009995"),
            Declined { decline_code: Some("insufficient_funds"), .. }
        ));
        assert!(matches!(outcome_of("4000000000000069"), Declined { code: "expired_card", .. }));
        assert_eq!(outcome_of("4000002500003155"), RequiresAuthentication);
        // Every listed number is a card number, and every payment method it names is known.
        for (n, pm) in CARD_NUMBERS {
            assert!(luhn(n), "{n}");
            assert!(outcome(pm).is_some(), "{pm}");
        }
    }

    #[test]
    fn malformed_details_are_stripes_card_errors_and_unknown_numbers_live_cards() {
        assert_eq!(card("4242424242424241").unwrap_err().code, "incorrect_number");
        assert_eq!(card("4242 4242 4242 4242").unwrap_err().code, "incorrect_number");
        assert_eq!(card("4111111111111111").unwrap(), Err(LIVE_CARD_IN_TEST_MODE));
        let d = |m: &str, y: &str, c: &str| of_card("4242424242424242", m, y, c, TODAY).map(|_| ());
        assert_eq!(d("13", "2030", "123").unwrap_err().code, "invalid_expiry_month");
        assert_eq!(d("11", "2026", "123").unwrap_err().code, "invalid_expiry_month");
        assert_eq!(d("12", "2025", "123").unwrap_err().code, "invalid_expiry_year");
        assert_eq!(d("12", "x", "123").unwrap_err().code, "invalid_expiry_year");
        assert_eq!(d("12", "2026", "12").unwrap_err().code, "invalid_cvc");
        assert!(d("12", "26", "1234").is_ok(), "two-digit years and four-digit codes");
    }
}
