//! Currencies: the ISO 4217 codes we accept, each with its exponent (how many decimal places its
//! minor unit has: CNY 2, JPY 0, KWD 3).
//!
//! **The exponent is always ISO 4217's**, including where a provider disagrees. TWD has an ISO
//! exponent of 2, but LINE Pay takes TWD (like JPY) in whole currency units. We keep ISO because
//! an amount is compared across upstream commands, notifications, bills and several providers,
//! and those comparisons need one meaning for "minor unit"; other providers (Stripe's minor units,
//! bill files) follow ISO or state their own rule. A provider's quirk belongs in its adapter
//! (docs/architecture.md, 7): the LINE Pay adapter sends [`Money::whole_units`](super::Money::whole_units) and refuses an amount
//! with a fractional part it cannot express, rather than rounding money away.
//!
//! Parsing is strict: exactly three uppercase ASCII letters (`cny` is refused, not normalised, so
//! a client learns the canonical form once), and the code must be in our table. Funds codes,
//! precious metals and test codes (XAU, XTS, XXX) are not currencies anyone pays in and are not
//! in the table.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::{ValidationError, quote};

/// The field name a currency error is reported against; see [`ValidationError::with_field`].
const FIELD: &str = "currency";

/// An ISO 4217 currency we accept. Only the associated constants exist, so a value always has a
/// known code and exponent. Serialises as its code, `"CNY"`; deserialising parses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

macro_rules! currencies {
    ($($code:ident = $exponent:literal),+ $(,)?) => {
        impl Currency {
            $(
                #[doc = concat!("ISO 4217 ", stringify!($code), ", exponent ", stringify!($exponent), ".")]
                pub const $code: Currency = Currency { code: stringify!($code), exponent: $exponent };
            )+

            /// Every currency we accept, in alphabetical order.
            pub const ALL: &'static [Currency] = &[$(Currency::$code),+];
        }
    };
}

currencies! {
    AED = 2, AUD = 2, BHD = 3, BRL = 2, CAD = 2, CHF = 2, CLP = 0, CNY = 2, CZK = 2, DKK = 2,
    EUR = 2, GBP = 2, HKD = 2, HUF = 2, IDR = 2, ILS = 2, INR = 2, IQD = 3, ISK = 0, JOD = 3,
    JPY = 0, KRW = 0, KWD = 3, LYD = 3, MOP = 2, MXN = 2, MYR = 2, NOK = 2, NZD = 2, OMR = 3,
    PHP = 2, PLN = 2, PYG = 0, SAR = 2, SEK = 2, SGD = 2, THB = 2, TND = 3, TRY = 2, TWD = 2,
    UGX = 0, USD = 2, VND = 0, XAF = 0, XOF = 0, ZAR = 2,
}

impl Currency {
    /// Parses a code: exactly three uppercase ASCII letters, and one we accept.
    pub fn parse(code: &str) -> Result<Currency, ValidationError> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ValidationError::new(
                FIELD,
                format!("must be 3 uppercase letters, an ISO 4217 code such as CNY (got {})", quote(code)),
            ));
        }
        Self::ALL.iter().copied().find(|c| c.code == code).ok_or_else(|| {
            ValidationError::new(
                FIELD,
                format!("must be an ISO 4217 currency code we support (got {})", quote(code)),
            )
        })
    }

    /// The ISO 4217 code, e.g. `"CNY"`.
    pub const fn code(self) -> &'static str {
        self.code
    }

    /// Same as [`code`](Self::code).
    pub const fn as_str(self) -> &'static str {
        self.code
    }

    /// The ISO 4217 exponent: decimal places of the minor unit. Always 0 to 3.
    pub const fn exponent(self) -> u8 {
        self.exponent
    }

    /// Minor units in one whole unit: 10 to the power of the exponent (100 for CNY, 1 for JPY).
    pub const fn minor_per_unit(self) -> i64 {
        // The exponent is at most 3 (see the table), so this cannot overflow.
        10_i64.pow(self.exponent as u32)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl AsRef<str> for Currency {
    fn as_ref(&self) -> &str {
        self.code
    }
}

impl FromStr for Currency {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// Written out because the derive would tie the `&'static str` field to the input's lifetime.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_are_iso_4217() {
        // Written out independently of the table: a changed exponent must fail here.
        let expected = [
            ("CNY", 2),
            ("USD", 2),
            ("EUR", 2),
            ("GBP", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("TWD", 2),
            ("THB", 2),
            ("HKD", 2),
            ("SGD", 2),
            ("AUD", 2),
            ("CAD", 2),
            ("CHF", 2),
            ("KWD", 3),
            ("BHD", 3),
            ("JOD", 3),
            ("OMR", 3),
            ("VND", 0),
            ("CLP", 0),
            ("ISK", 0),
            ("HUF", 2),
            ("IDR", 2),
        ];
        for (code, exponent) in expected {
            let c = Currency::parse(code).expect(code);
            assert_eq!((c.code(), c.exponent()), (code, exponent), "{code}");
        }
        assert_eq!(Currency::JPY.minor_per_unit(), 1);
        assert_eq!(Currency::CNY.minor_per_unit(), 100);
        assert_eq!(Currency::KWD.minor_per_unit(), 1000);
    }

    #[test]
    fn the_table_is_sorted_unique_and_well_formed() {
        for pair in Currency::ALL.windows(2) {
            assert!(pair[0].code < pair[1].code, "{:?} then {:?}", pair[0], pair[1]);
        }
        for c in Currency::ALL {
            assert!(c.code.len() == 3 && c.code.bytes().all(|b| b.is_ascii_uppercase()), "{c:?}");
            // Money relies on this: 10^exponent times i64 arithmetic stays small.
            assert!(c.exponent <= 3, "{c:?}");
            assert_eq!(Currency::parse(c.code), Ok(*c));
        }
    }

    #[test]
    fn bad_codes_name_the_rule() {
        let cases = [
            ("", r#"currency: must be 3 uppercase letters, an ISO 4217 code such as CNY (got "")"#),
            ("cny", r#"currency: must be 3 uppercase letters, an ISO 4217 code such as CNY (got "cny")"#),
            ("Cny", r#"currency: must be 3 uppercase letters, an ISO 4217 code such as CNY (got "Cny")"#),
            ("CNY ", r#"currency: must be 3 uppercase letters, an ISO 4217 code such as CNY (got "CNY ")"#),
            ("CN", r#"currency: must be 3 uppercase letters, an ISO 4217 code such as CNY (got "CN")"#),
            ("RMB1", r#"currency: must be 3 uppercase letters, an ISO 4217 code such as CNY (got "RMB1")"#),
            ("ÄBC", r#"currency: must be 3 uppercase letters, an ISO 4217 code such as CNY (got "ÄBC")"#),
            ("XYZ", r#"currency: must be an ISO 4217 currency code we support (got "XYZ")"#),
            ("RMB", r#"currency: must be an ISO 4217 currency code we support (got "RMB")"#),
            ("XAU", r#"currency: must be an ISO 4217 currency code we support (got "XAU")"#),
        ];
        for (input, message) in cases {
            assert_eq!(
                Currency::parse(input).map_err(|e| e.to_string()),
                Err(message.to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn serde_uses_the_code_and_parses() {
        assert_eq!(serde_json::to_string(&Currency::JPY).expect("serialises"), r#""JPY""#);
        assert_eq!(serde_json::from_str::<Currency>(r#""KWD""#).expect("parses"), Currency::KWD);
        let err = serde_json::from_str::<Currency>(r#""usd""#).expect_err("lowercase is refused");
        assert!(err.to_string().starts_with("currency: must be 3 uppercase letters"), "{err}");
    }

    #[test]
    fn display_and_strings() {
        assert_eq!(Currency::EUR.to_string(), "EUR");
        assert_eq!(format!("{:?}", Currency::EUR), "EUR");
        assert_eq!(Currency::EUR.as_ref(), "EUR");
        assert_eq!("TWD".parse::<Currency>(), Ok(Currency::TWD));
        assert_eq!(String::from(Currency::TWD), "TWD");
    }
}
