//! What a pay command may say about the customer beyond the amount: the payment code the
//! customer shows at a till ([`AuthCode`], for `barcode` payments) and who the payer is
//! ([`Payer`]: WeChat Pay's JSAPI needs the payer's `openid`, its H5 pay the payer's IP).
//!
//! An [`AuthCode`] is a one-time credential: whoever holds it within its minute can take money
//! from the customer's wallet. It is never printed (`Debug` redacts it, there is no `Display`),
//! never serialised by serde (a command's fingerprint, a stored payment as JSON, logs), never
//! repeated in an error message, and read only through [`AuthCode::expose`] by the code that
//! stores it and the adapter that sends it.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// The customer's payment code (barcode or QR on the customer's phone), read by the till's
/// scanner: ASCII digits only. Each provider has its own stricter rule for its codes
/// (`providers::registry::ProviderKind::auth_code`).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthCode(String);

impl AuthCode {
    pub const FIELD: &'static str = "auth_code";
    /// The shortest and longest codes any provider issues (WeChat Pay's are 18 digits, Alipay's
    /// 16 to 24, LINE Pay's one-time keys 12 or 18).
    pub const MIN_DIGITS: usize = 10;
    pub const MAX_DIGITS: usize = 32;

    /// A code of 10 to 32 ASCII digits. The error never repeats the input (only its length).
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let digits = input.bytes().all(|b| b.is_ascii_digit());
        let len = input.chars().count();
        if digits && (Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&len) {
            Ok(Self(input.to_owned()))
        } else {
            Err(ValidationError::new(
                Self::FIELD,
                format!(
                    "must be the customer's payment code: {} to {} digits 0-9 (got {len} characters{})",
                    Self::MIN_DIGITS,
                    Self::MAX_DIGITS,
                    if digits { "" } else { ", not all digits" }
                ),
            ))
        }
    }

    /// The refusal of a barcode payment without its code.
    pub fn required() -> ValidationError {
        ValidationError::new(
            Self::FIELD,
            "is required for pay_method barcode: the customer's payment code, as the till scanned it",
        )
    }

    /// The code itself, for the store and for the request to the provider. Nothing else may
    /// print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthCode([redacted, {} digits])", self.0.len())
    }
}

impl TryFrom<String> for AuthCode {
    type Error = ValidationError;

    fn try_from(s: String) -> Result<Self, ValidationError> {
        Self::parse(&s)
    }
}

/// Who pays, where a provider needs to know: WeChat Pay's JSAPI / mini-program pay needs the
/// payer's `openid` under the merchant's app id, its H5 pay the payer's IP address. Both
/// optional; which one a payment needs is its provider's rule. Serialises with absent fields
/// left out (the command's fingerprint of a payer with only an openid does not change when a
/// field is added).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<IpAddr>,
}

impl Payer {
    /// WeChat Pay's `openid` is at most 128 characters; the ones it issues are 28 of
    /// `A-Z a-z 0-9 _ -`.
    pub const OPENID_MAX_CHARS: usize = 128;

    pub fn parse_openid(input: &str) -> Result<String, ValidationError> {
        let ok = (1..=Self::OPENID_MAX_CHARS).contains(&input.len())
            && input.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(input.to_owned())
        } else {
            Err(ValidationError::new(
                "payer.openid",
                format!(
                    "must be the payer's openid: 1 to {} characters of A-Z a-z 0-9 _ - (got {})",
                    Self::OPENID_MAX_CHARS,
                    super::quote(input)
                ),
            ))
        }
    }

    pub fn parse_client_ip(input: &str) -> Result<IpAddr, ValidationError> {
        input.parse().map_err(|_| {
            ValidationError::new(
                "payer.client_ip",
                format!(
                    "must be the payer's IP address, IPv4 (203.0.113.7) or IPv6 (2001:db8::7) (got {})",
                    super::quote(input)
                ),
            )
        })
    }

    pub fn is_empty(&self) -> bool {
        self.openid.is_none() && self.client_ip.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auth_code_is_digits_and_never_shown() {
        let code = AuthCode::parse("281234567890123456").unwrap();
        assert_eq!(code.expose(), "281234567890123456");
        let shown = format!("{code:?}");
        assert!(!shown.contains("2812345"), "{shown}");
        for bad in ["", "123456789", "2812345678901234x6", &"1".repeat(33)] {
            let e = AuthCode::parse(bad).unwrap_err();
            assert_eq!(e.field(), "auth_code");
            assert!(!bad.is_empty() && !e.rule().contains(bad) || bad.is_empty(), "{e} repeats the code");
        }
        assert_eq!(
            AuthCode::parse("28123456789012345x").unwrap_err().to_string(),
            "auth_code: must be the customer's payment code: 10 to 32 digits 0-9 (got 18 characters, not all digits)"
        );
    }

    #[test]
    fn a_payer_names_its_fields() {
        assert!(Payer::parse_openid("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").is_ok());
        assert!(Payer::parse_openid("o x").unwrap_err().to_string().starts_with("payer.openid: must be"));
        assert!(Payer::parse_client_ip("2001:db8::7").is_ok());
        assert_eq!(
            Payer::parse_client_ip("203.0.113").unwrap_err().to_string(),
            r#"payer.client_ip: must be the payer's IP address, IPv4 (203.0.113.7) or IPv6 (2001:db8::7) (got "203.0.113")"#
        );
        let json = serde_json::to_value(Payer { openid: Some("o1".into()), client_ip: None }).unwrap();
        assert_eq!(json, serde_json::json!({"openid": "o1"}));
    }
}
