//! A provider's name as payments, settings and notification URLs spell it (`mockpay`): 1 to 32
//! of `a-z 0-9 _`, so it fits in routing keys, metric labels and environment variable names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// A provider's name. Serialises as the string; deserialising parses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderName(String);

impl ProviderName {
    /// The field name errors are reported against.
    pub const FIELD: &'static str = "provider";
    /// The most characters allowed.
    pub const MAX_LEN: usize = 32;

    /// Parses `provider`: 1 to 32 characters of `a-z 0-9 _`.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let ok = (1..=Self::MAX_LEN).contains(&input.len())
            && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(ValidationError::new(
                Self::FIELD,
                format!("must be 1 to {} characters of a-z 0-9 _ (got {input:?})", Self::MAX_LEN),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ProviderName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ProviderName {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ProviderName {
    type Error = ValidationError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ProviderName> for String {
    fn from(name: ProviderName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_lower_case_letters_digits_and_underscores() {
        assert_eq!(ProviderName::parse("mock_pay2").unwrap().as_str(), "mock_pay2");
        for bad in ["", "MockPay", "mock-pay", &"p".repeat(33)] {
            let err = ProviderName::parse(bad).unwrap_err();
            assert_eq!(err.field(), "provider");
        }
        let err = ProviderName::parse("Stripe").unwrap_err().to_string();
        assert_eq!(err, r#"provider: must be 1 to 32 characters of a-z 0-9 _ (got "Stripe")"#);
    }
}
