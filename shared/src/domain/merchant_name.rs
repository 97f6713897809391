//! The name a merchant's customers know it by (`merchant_names`, migration 0036): what the hosted
//! cashier shows instead of the merchant id. 1 to 100 characters after trimming, none of them a
//! control character (it is printed on a customer's page, one line).

use std::fmt;

use super::{ValidationError, quote};

/// A merchant's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantName(String);

impl MerchantName {
    pub const MAX_CHARS: usize = 100;

    /// Parses a name, trimmed; the error is reported against `display_name`.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let name = input.trim();
        let count = name.chars().count();
        if count == 0 || count > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "display_name",
                format!("must be 1 to {} characters (got {count} after trimming)", Self::MAX_CHARS),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "display_name",
                format!("must not contain control characters such as line breaks (got {})", quote(name)),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_kept_with_its_own_characters() {
        assert_eq!(MerchantName::parse("  Café 咖啡 & Co. ").unwrap().as_str(), "Café 咖啡 & Co.");
        assert_eq!(MerchantName::parse(&"名".repeat(100)).unwrap().as_str().chars().count(), 100);
    }

    #[test]
    fn empty_long_and_multi_line_names_are_refused_naming_the_rule() {
        let empty = MerchantName::parse("   ").unwrap_err();
        assert_eq!(empty.to_string(), "display_name: must be 1 to 100 characters (got 0 after trimming)");
        let long = MerchantName::parse(&"x".repeat(101)).unwrap_err();
        assert!(long.rule().contains("got 101"), "{long}");
        let two_lines = MerchantName::parse("Shop\nEvil").unwrap_err();
        assert!(two_lines.rule().starts_with("must not contain control characters"), "{two_lines}");
    }
}
