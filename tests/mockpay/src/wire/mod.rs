//! Wire types: the JSON shapes of requests, answers, notifications and the admin API, and the
//! conversions between them and the domain. Flow logic never sees these types.

pub mod admin;
pub mod envelope;
pub mod headers;
pub mod notification;
pub mod payment;
pub mod refund;

use serde::de::DeserializeOwned;

/// Parses a JSON request body; the error message names the offending field.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut msg = inner.to_string();
        // serde_json appends " at line L column C"; the field name says more.
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        if path.is_empty() || path == "." { msg } else { format!("{path}: {msg}") }
    })
}

pub(crate) use simkit::check_id;

/// Checks an optional callback URL.
pub(crate) fn check_url(field: &str, value: &Option<String>) -> Result<(), String> {
    match value {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            Err(format!("{field}: must be an http:// or https:// URL"))
        }
        _ => Ok(()),
    }
}

/// Timestamps on the wire: RFC 3339, UTC, milliseconds.
pub(crate) use simkit::time;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::payment::CreatePaymentRequest;

    #[test]
    fn parse_errors_name_the_field() {
        let e = parse::<CreatePaymentRequest>(
            br#"{"orderId":"o","currency":"JPY","description":"d","payMethod":"qr"}"#,
        )
        .unwrap_err();
        assert!(e.contains("amount"), "{e}");
        let e = parse::<CreatePaymentRequest>(
            br#"{"orderId":"o","amount":"1","currency":"JPY","description":"d","payMethod":"qr"}"#,
        )
        .unwrap_err();
        assert!(e.starts_with("amount:"), "{e}");
        let e = parse::<CreatePaymentRequest>(
            br#"{"orderId":"o","amount":1,"currency":"JPY","description":"d","payMethod":"card"}"#,
        )
        .unwrap_err();
        assert!(e.starts_with("payMethod:"), "{e}");
        assert!(parse::<CreatePaymentRequest>(b"not json").is_err());
    }
}
