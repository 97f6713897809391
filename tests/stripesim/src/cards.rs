//! Stripe's test payment methods (its testing guide): what confirming a PaymentIntent with each
//! one does. A method not listed is refused as a missing resource.

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
