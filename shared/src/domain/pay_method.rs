//! How the customer pays: what kind of answer a provider should give (a URL to visit, a form to
//! post, a QR code, a client secret, or none: a direct charge, or a charge of the customer's
//! payment code scanned at a till). A pay command names it, the
//! payment stores it (`payments.pay_method`), and the adapter asks its provider for it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// How the customer pays. Serialises as its name, `"client_secret"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    /// The customer is sent to a URL (GET).
    Redirect,
    /// The customer's browser submits a form (POST).
    Form,
    /// The customer scans a QR code.
    Qr,
    /// The client confirms with a secret (Stripe-style).
    ClientSecret,
    /// Charged at once, no customer action (POS one-time key).
    Direct,
    /// Face to face: the till scans the payment code on the customer's phone (the pay command's
    /// `auth_code`) and charges it; the customer may have to confirm on the phone first, so the
    /// answer may be "in process" (Alipay `alipay.trade.pay`).
    Barcode,
}

/// Each method and its name: in commands, in the store's `pay_method` column, in JSON.
const NAMES: [(PayMethod, &str); 6] = [
    (PayMethod::Redirect, "redirect"),
    (PayMethod::Form, "form"),
    (PayMethod::Qr, "qr"),
    (PayMethod::ClientSecret, "client_secret"),
    (PayMethod::Direct, "direct"),
    (PayMethod::Barcode, "barcode"),
];

impl PayMethod {
    /// The field name errors are reported against.
    pub const FIELD: &'static str = "pay_method";

    pub const ALL: [PayMethod; 6] =
        [Self::Redirect, Self::Form, Self::Qr, Self::ClientSecret, Self::Direct, Self::Barcode];

    pub fn as_str(self) -> &'static str {
        NAMES.iter().find(|(method, _)| *method == self).map_or("", |(_, name)| name)
    }

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        NAMES.iter().find(|(_, name)| *name == input).map(|(method, _)| *method).ok_or_else(|| {
            let names: Vec<&str> = NAMES.iter().map(|(_, name)| *name).collect();
            ValidationError::new(Self::FIELD, format!("must be one of {} (got {input:?})", names.join(", ")))
        })
    }
}

impl fmt::Display for PayMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayMethod {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_parses_from_its_name() {
        for method in PayMethod::ALL {
            assert_eq!(PayMethod::parse(method.as_str()), Ok(method));
            assert_eq!(serde_json::to_value(method).unwrap(), method.as_str(), "serde names it the same");
        }
        assert_eq!(NAMES.map(|(method, _)| method), PayMethod::ALL, "every method has a name, in order");
        let err = PayMethod::parse("card").unwrap_err().to_string();
        assert_eq!(
            err,
            r#"pay_method: must be one of redirect, form, qr, client_secret, direct, barcode (got "card")"#
        );
    }
}
