//! Money: a non-negative amount in integer minor units of a [`Currency`] (fen for CNY, cents for
//! USD, yen for JPY, fils for KWD). No floating point anywhere.
//!
//! **Representation:** `i64` minor units with the invariant `>= 0`, enforced by every constructor
//! and operation. We use `i64` rather than `u64` because it is what the database stores (`bigint`)
//! and what providers' integer amounts are (WeChat fen, Stripe minor units): every valid `Money`
//! fits a column and a wire field unchanged, and `i64::MAX` minor units is the overflow limit
//! everywhere. A refund is money too; direction lives in the operation, never in a sign.
//!
//! **Edges:** [`Money::parse`] reads a client's decimal string strictly (plain digits, at most the
//! currency's exponent of decimal places, no sign, no exponent, no whitespace);
//! [`Money::from_decimal`] takes a `rust_decimal::Decimal` an adapter already has and accepts it if
//! it is exact in minor units (so `100.00` JPY is 100 yen). [`Money::to_decimal_string`] gives the
//! form Alipay wants (`"123.45"`), [`Money::whole_units`] the form LINE Pay wants.
//!
//! **Serde:** `{"amount_minor": 12345, "currency": "CNY"}`; deserialising checks both fields and
//! refuses unknown ones. Display is `123.45 CNY`.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Currency, ValidationError, quote};

/// The field name amount errors are reported against; see [`ValidationError::with_field`].
const FIELD: &str = "amount";

/// A non-negative amount of one currency, in integer minor units.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr", into = "MoneyRepr")]
pub struct Money {
    /// Minor units; never negative.
    minor: i64,
    currency: Currency,
}

/// The serialised form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MoneyRepr {
    amount_minor: i64,
    currency: Currency,
}

/// Arithmetic that cannot give a valid [`Money`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine an amount in {left} with an amount in {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("{left} + {right} exceeds the largest amount we can hold")]
    Overflow { left: Money, right: Money },
    #[error("{left} - {right} would be negative")]
    Negative { left: Money, right: Money },
}

impl Money {
    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// From integer minor units, e.g. `from_minor(12345, Currency::CNY)` is 123.45 CNY.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, ValidationError> {
        if minor < 0 {
            return Err(ValidationError::new(
                FIELD,
                format!("must not be negative (got {minor} minor units of {currency})"),
            ));
        }
        Ok(Money { minor, currency })
    }

    /// Parses a decimal string in whole units, e.g. `"123.45"` CNY is 12345 fen.
    ///
    /// Strict, because this reads what clients send: digits with an optional `.` followed by
    /// digits; no sign, exponent, separators or whitespace; and at most the currency's exponent of
    /// decimal places, counting trailing zeros (`"1.230"` CNY is refused: a client sending three
    /// places has misunderstood something). Leading zeros are accepted.
    pub fn parse(input: &str, currency: Currency) -> Result<Money, ValidationError> {
        let error = |rule: String| ValidationError::new(FIELD, rule);
        if input.is_empty() {
            return Err(error("must not be empty".to_owned()));
        }
        if input.chars().any(char::is_whitespace) {
            return Err(error(format!("must not contain spaces or other whitespace (got {})", quote(input))));
        }
        if input.starts_with('-') {
            return Err(error(format!("must not be negative (got {})", quote(input))));
        }
        let (whole, fraction) = match input.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (input, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
            return Err(error(format!(
                "must be a plain decimal number such as 123.45, digits with an optional '.' (got {})",
                quote(input)
            )));
        }
        let fraction = fraction.unwrap_or("");
        let exponent = usize::from(currency.exponent());
        if fraction.len() > exponent {
            return Err(error(too_many_places(currency, fraction.len())));
        }
        let padding = std::iter::repeat_n(b'0', exponent - fraction.len());
        let mut minor: i64 = 0;
        for digit in whole.bytes().chain(fraction.bytes()).chain(padding) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(digit - b'0')))
                .ok_or_else(|| error(too_large(currency, &quote(input))))?;
        }
        Ok(Money { minor, currency })
    }

    /// From a decimal in whole units, as an adapter holds one after reading a provider's number.
    /// Accepted if it is exact in minor units: `100.00` JPY is 100 yen, `1.005` CNY is refused.
    pub fn from_decimal(value: Decimal, currency: Currency) -> Result<Money, ValidationError> {
        let error = |rule: String| ValidationError::new(FIELD, rule);
        if value.is_sign_negative() && !value.is_zero() {
            return Err(error(format!("must not be negative (got {value})")));
        }
        let normalized = value.normalize();
        let places = normalized.scale();
        let exponent = u32::from(currency.exponent());
        if places > exponent {
            return Err(error(too_many_places(currency, places as usize)));
        }
        // A Decimal's mantissa has at most 96 bits, so abs() cannot overflow an i128.
        let mantissa = normalized.mantissa().abs();
        let minor = 10_i128
            .checked_pow(exponent - places)
            .and_then(|factor| mantissa.checked_mul(factor))
            .and_then(|minor| i64::try_from(minor).ok())
            .ok_or_else(|| error(too_large(currency, &value.to_string())))?;
        Ok(Money { minor, currency })
    }

    /// Integer minor units, never negative.
    pub const fn minor_units(self) -> i64 {
        self.minor
    }

    pub const fn currency(self) -> Currency {
        self.currency
    }

    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// The amount in whole units as an exact decimal: 12345 fen is `123.45`.
    pub fn to_decimal(self) -> Decimal {
        // The exponent is at most 3, far below Decimal's maximum scale of 28.
        Decimal::new(self.minor, u32::from(self.currency.exponent()))
    }

    /// Whole units with exactly the currency's exponent of decimal places: `"123.45"` for CNY,
    /// `"100"` for JPY, `"1.500"` for KWD. This is Alipay's `total_amount` form.
    pub fn to_decimal_string(self) -> String {
        let exponent = usize::from(self.currency.exponent());
        if exponent == 0 {
            return self.minor.to_string();
        }
        let per_unit = self.currency.minor_per_unit();
        let (whole, fraction) = (self.minor / per_unit, self.minor % per_unit);
        format!("{whole}.{fraction:0exponent$}")
    }

    /// The amount in whole currency units, if it has no fractional part: 10000 TWD minor units is
    /// `Some(100)`, 10050 is `None`. For providers that take whole units (LINE Pay's TWD).
    pub const fn whole_units(self) -> Option<i64> {
        let per_unit = self.currency.minor_per_unit();
        if self.minor % per_unit == 0 { Some(self.minor / per_unit) } else { None }
    }

    /// The sum, in the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        match self.minor.checked_add(other.minor) {
            Some(minor) => Ok(Money { minor, currency: self.currency }),
            None => Err(MoneyError::Overflow { left: self, right: other }),
        }
    }

    /// The difference, in the same currency; an error if it would be negative.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        match self.minor.checked_sub(other.minor) {
            Some(minor) if minor >= 0 => Ok(Money { minor, currency: self.currency }),
            _ => Err(MoneyError::Negative { left: self, right: other }),
        }
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }
}

fn too_many_places(currency: Currency, places: usize) -> String {
    match currency.exponent() {
        0 => format!("{currency} allows no decimal places (got {places})"),
        exponent => format!("{currency} allows at most {exponent} decimal places (got {places})"),
    }
}

fn too_large(currency: Currency, got: &str) -> String {
    let largest = Money { minor: i64::MAX, currency };
    format!("must be at most {largest} (got {got})")
}

impl fmt::Display for Money {
    /// `123.45 CNY`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl TryFrom<MoneyRepr> for Money {
    type Error = ValidationError;

    fn try_from(repr: MoneyRepr) -> Result<Self, Self::Error> {
        Money::from_minor(repr.amount_minor, repr.currency).map_err(|e| e.with_field("amount_minor"))
    }
}

impl From<Money> for MoneyRepr {
    fn from(money: Money) -> Self {
        MoneyRepr { amount_minor: money.minor, currency: money.currency }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::CNY).expect("valid")
    }

    #[test]
    fn parse_accepts_plain_decimals() {
        let cases = [
            ("0", Currency::CNY, 0),
            ("0.01", Currency::CNY, 1),
            ("1", Currency::CNY, 100),
            ("1.5", Currency::CNY, 150),
            ("123.45", Currency::CNY, 12345),
            ("007.10", Currency::CNY, 710),
            ("100", Currency::JPY, 100),
            ("1.234", Currency::KWD, 1234),
            ("1.2", Currency::KWD, 1200),
            ("100.50", Currency::TWD, 10050),
            ("92233720368547758.07", Currency::CNY, i64::MAX),
            ("9223372036854775807", Currency::JPY, i64::MAX),
        ];
        for (input, currency, minor) in cases {
            let money = Money::parse(input, currency).expect(input);
            assert_eq!((money.minor_units(), money.currency()), (minor, currency), "{input}");
        }
    }

    #[test]
    fn parse_refuses_with_the_rule() {
        let cases = [
            ("", Currency::CNY, "amount: must not be empty"),
            (" 1.00", Currency::CNY, r#"amount: must not contain spaces or other whitespace (got " 1.00")"#),
            (
                "1.00\n",
                Currency::CNY,
                r#"amount: must not contain spaces or other whitespace (got "1.00\n")"#,
            ),
            ("1 000", Currency::CNY, r#"amount: must not contain spaces or other whitespace (got "1 000")"#),
            ("-1.00", Currency::CNY, r#"amount: must not be negative (got "-1.00")"#),
            ("-0", Currency::CNY, r#"amount: must not be negative (got "-0")"#),
            (
                "+1.00",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "+1.00")"#,
            ),
            (
                "1e5",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "1e5")"#,
            ),
            (
                "1E-2",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "1E-2")"#,
            ),
            (
                ".5",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got ".5")"#,
            ),
            (
                "5.",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "5.")"#,
            ),
            (
                "1.2.3",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "1.2.3")"#,
            ),
            (
                "1,000.00",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "1,000.00")"#,
            ),
            (
                "1_000",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "1_000")"#,
            ),
            (
                "abc",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "abc")"#,
            ),
            (
                "１２",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "１２")"#,
            ),
            (
                "NaN",
                Currency::CNY,
                r#"amount: must be a plain decimal number such as 123.45, digits with an optional '.' (got "NaN")"#,
            ),
            ("1.234", Currency::CNY, "amount: CNY allows at most 2 decimal places (got 3)"),
            ("1.230", Currency::CNY, "amount: CNY allows at most 2 decimal places (got 3)"),
            ("100.0", Currency::JPY, "amount: JPY allows no decimal places (got 1)"),
            ("1.2345", Currency::KWD, "amount: KWD allows at most 3 decimal places (got 4)"),
            (
                "92233720368547758.08",
                Currency::CNY,
                r#"amount: must be at most 92233720368547758.07 CNY (got "92233720368547758.08")"#,
            ),
            (
                "9223372036854775808",
                Currency::JPY,
                r#"amount: must be at most 9223372036854775807 JPY (got "9223372036854775808")"#,
            ),
            (
                "99999999999999999999999999999999999999999999",
                Currency::CNY,
                r#"amount: must be at most 92233720368547758.07 CNY (got "9999999999999999999999999999999999999999"… (44 characters))"#,
            ),
        ];
        for (input, currency, message) in cases {
            assert_eq!(
                Money::parse(input, currency).map_err(|e| e.to_string()),
                Err(message.to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn from_minor_refuses_negative() {
        assert_eq!(Money::from_minor(0, Currency::USD), Ok(Money::zero(Currency::USD)));
        assert_eq!(
            Money::from_minor(-5, Currency::USD).map_err(|e| e.to_string()),
            Err("amount: must not be negative (got -5 minor units of USD)".to_owned())
        );
    }

    #[test]
    fn from_decimal_accepts_exact_values() {
        let d = |s: &str| Decimal::from_str(s).expect(s);
        let good = [
            ("123.45", Currency::CNY, 12345),
            ("100.00", Currency::JPY, 100),
            ("1.230", Currency::CNY, 123),
            ("0", Currency::CNY, 0),
            ("-0", Currency::CNY, 0),
            ("92233720368547758.07", Currency::CNY, i64::MAX),
        ];
        for (input, currency, minor) in good {
            assert_eq!(Money::from_decimal(d(input), currency).map(Money::minor_units), Ok(minor), "{input}");
        }
        let bad = [
            ("-0.01", Currency::CNY, "amount: must not be negative (got -0.01)"),
            ("1.005", Currency::CNY, "amount: CNY allows at most 2 decimal places (got 3)"),
            ("100.5", Currency::JPY, "amount: JPY allows no decimal places (got 1)"),
            (
                "92233720368547758.08",
                Currency::CNY,
                "amount: must be at most 92233720368547758.07 CNY (got 92233720368547758.08)",
            ),
            (
                "79228162514264337593543950335",
                Currency::KWD,
                "amount: must be at most 9223372036854775.807 KWD (got 79228162514264337593543950335)",
            ),
        ];
        for (input, currency, message) in bad {
            assert_eq!(
                Money::from_decimal(d(input), currency).map_err(|e| e.to_string()),
                Err(message.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn formats_with_exactly_the_exponent() {
        let cases = [
            (Money::from_minor(12345, Currency::CNY), "123.45", "123.45 CNY"),
            (Money::from_minor(5, Currency::CNY), "0.05", "0.05 CNY"),
            (Money::from_minor(0, Currency::CNY), "0.00", "0.00 CNY"),
            (Money::from_minor(100, Currency::CNY), "1.00", "1.00 CNY"),
            (Money::from_minor(100, Currency::JPY), "100", "100 JPY"),
            (Money::from_minor(1500, Currency::KWD), "1.500", "1.500 KWD"),
            (Money::from_minor(i64::MAX, Currency::CNY), "92233720368547758.07", "92233720368547758.07 CNY"),
        ];
        for (money, decimal, display) in cases {
            let money = money.expect("valid");
            assert_eq!(money.to_decimal_string(), decimal);
            assert_eq!(money.to_string(), display);
            assert_eq!(money.to_decimal().to_string(), decimal);
            assert_eq!(Money::parse(decimal, money.currency()), Ok(money), "round trip {decimal}");
        }
        assert_eq!(format!("{:?}", cny(1)), "Money(0.01 CNY)");
    }

    #[test]
    fn whole_units_only_when_exact() {
        let twd = |minor| Money::from_minor(minor, Currency::TWD).expect("valid");
        assert_eq!(twd(10000).whole_units(), Some(100));
        assert_eq!(twd(10050).whole_units(), None);
        assert_eq!(Money::from_minor(7, Currency::JPY).expect("valid").whole_units(), Some(7));
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(cny(100).checked_add(cny(23)), Ok(cny(123)));
        assert_eq!(cny(100).checked_sub(cny(100)), Ok(cny(0)));
        let usd = Money::from_minor(1, Currency::USD).expect("valid");
        let cases = [
            (cny(1).checked_add(usd), "cannot combine an amount in CNY with an amount in USD"),
            (cny(1).checked_sub(usd), "cannot combine an amount in CNY with an amount in USD"),
            (
                cny(i64::MAX).checked_add(cny(1)),
                "92233720368547758.07 CNY + 0.01 CNY exceeds the largest amount we can hold",
            ),
            (cny(100).checked_sub(cny(101)), "1.00 CNY - 1.01 CNY would be negative"),
        ];
        for (result, message) in cases {
            assert_eq!(result.map_err(|e| e.to_string()), Err(message.to_owned()));
        }
    }

    #[test]
    fn serde_shape_and_validation() {
        let json = serde_json::to_string(&cny(12345)).expect("serialises");
        assert_eq!(json, r#"{"amount_minor":12345,"currency":"CNY"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).expect("parses"), cny(12345));
        let bad = [
            (r#"{"amount_minor":-1,"currency":"CNY"}"#, "amount_minor: must not be negative"),
            (r#"{"amount_minor":1,"currency":"cny"}"#, "currency: must be 3 uppercase letters"),
            (r#"{"amount_minor":1.5,"currency":"CNY"}"#, "invalid type: floating point"),
            (r#"{"amount_minor":1,"currency":"CNY","x":1}"#, "unknown field `x`"),
            (r#"{"currency":"CNY"}"#, "missing field `amount_minor`"),
        ];
        for (input, start) in bad {
            let err = serde_json::from_str::<Money>(input).expect_err(input).to_string();
            assert!(err.starts_with(start), "{input}: {err}");
        }
    }
}
