//! mockpay request signing (tests/mockpay/README.md, "Signing requests"): lowercase hex of
//! HMAC-SHA256 with the merchant secret over `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY`,
//! sent in four `X-Mockpay-*` headers. Every request gets a fresh nonce (a UUID v4) and timestamp,
//! so a retry is signed again rather than replayed.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const HEADER_MERCHANT: &str = "X-Mockpay-Merchant";
pub const HEADER_TIMESTAMP: &str = "X-Mockpay-Timestamp";
pub const HEADER_NONCE: &str = "X-Mockpay-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Mockpay-Signature";

/// The merchant secret. Its `Debug` never shows the value, so a config can be logged.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The four signing headers of one request, in the order they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub merchant: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs, ready to send.
    pub fn pairs(&self) -> Vec<(String, String)> {
        vec![
            (HEADER_MERCHANT.to_owned(), self.merchant.clone()),
            (HEADER_TIMESTAMP.to_owned(), self.timestamp.clone()),
            (HEADER_NONCE.to_owned(), self.nonce.clone()),
            (HEADER_SIGNATURE.to_owned(), self.signature.clone()),
        ]
    }
}

/// The exact message mockpay signs. `body` is empty for a GET, and the message then ends with
/// `NONCE\n`.
pub fn message(method: &str, path_and_query: &str, timestamp: &str, nonce: &str, body: &str) -> String {
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}")
}

/// Lowercase hex HMAC-SHA256 of `message` under `secret`.
pub fn signature(secret: &Secret, message: &str) -> String {
    // HMAC accepts a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs one request with the given timestamp and nonce (tests pin them; see [`sign_now`]).
pub fn sign_with(
    merchant: &str,
    secret: &Secret,
    method: &str,
    path_and_query: &str,
    body: &str,
    at: DateTime<Utc>,
    nonce: &str,
) -> SignedHeaders {
    let timestamp = at.timestamp().to_string();
    let signature = signature(secret, &message(method, path_and_query, &timestamp, nonce, body));
    SignedHeaders { merchant: merchant.to_owned(), timestamp, nonce: nonce.to_owned(), signature }
}

/// Signs one request now, with a fresh UUID v4 nonce.
pub fn sign_now(
    merchant: &str,
    secret: &Secret,
    method: &str,
    path_and_query: &str,
    body: &str,
) -> SignedHeaders {
    let nonce = uuid::Uuid::new_v4().to_string();
    sign_with(merchant, secret, method, path_and_query, body, Utc::now(), &nonce)
}

/// The exact message mockpay signs for a notification: `TIMESTAMP\nNONCE\nBODY`, over the body's
/// bytes as received.
pub fn notification_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 2);
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(nonce.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    message
}

/// Lowercase hex HMAC-SHA256 of a notification (what mockpay sends in `X-Mockpay-Signature`);
/// for tests and the benchmark, which play mockpay.
pub fn notification_signature(secret: &Secret, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).expect("HMAC takes a key of any length");
    mac.update(&notification_message(timestamp, nonce, body));
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` (hex, either case) is the HMAC of the notification under `secret`,
/// compared in constant time (`Mac::verify_slice`).
pub fn verify_notification(
    secret: &Secret,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let Ok(expected) = hex::decode(signature) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose()).expect("HMAC takes a key of any length");
    mac.update(&notification_message(timestamp, nonce, body));
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secret() -> Secret {
        Secret::new("secret1")
    }

    #[test]
    fn the_readmes_post_example() {
        let body = r#"{"orderId":"ord-1001","amount":1500,"currency":"JPY","description":"coffee beans","payMethod":"redirect","notifyUrl":"http://127.0.0.1:8083/notify/mockpay"}"#;
        let at = Utc.timestamp_opt(1_767_225_600, 0).unwrap();
        let signed = sign_with(
            "m1",
            &secret(),
            "POST",
            "/v1/payments",
            body,
            at,
            "6f1c2a9e-0b7d-4b8e-9a51-2f3c4d5e6f70",
        );
        assert_eq!(signed.timestamp, "1767225600");
        assert_eq!(signed.signature, "a68897a1a3eae3fb00c6b1151cda1e33a45868f29da8ce2815de3726cdbdc571");
    }

    #[test]
    fn the_readmes_get_example() {
        assert_eq!(
            message("GET", "/v1/payments/ord-1001", "1767225601", "n-2", ""),
            "GET\n/v1/payments/ord-1001\n1767225601\nn-2\n"
        );
        let at = Utc.timestamp_opt(1_767_225_601, 0).unwrap();
        let signed = sign_with("m1", &secret(), "GET", "/v1/payments/ord-1001", "", at, "n-2");
        assert_eq!(signed.signature, "8ff246aef9a146ff00c3912131c079b7d8be2b318d6399d0f239663494e9efb4");
    }

    #[test]
    fn every_request_gets_a_fresh_nonce() {
        let a = sign_now("m1", &secret(), "GET", "/v1/payments/o", "");
        let b = sign_now("m1", &secret(), "GET", "/v1/payments/o", "");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.signature, b.signature);
    }

    #[test]
    fn the_readmes_notification_example() {
        let body = br#"{"notificationId":"ntf_0199a0c0e7d07c3f8e7a4b5c6d7e8f90","eventType":"PAYMENT.SUCCEEDED","merchantId":"m1","orderId":"ord-1001","transactionId":"2000000123456789012","amount":1500,"currency":"JPY","occurredAt":"2026-01-01T00:00:05.123Z"}"#;
        let (ts, nonce) = ("1767225606", "b1946ac92492d2347c6235b4d2611184");
        let sig = "a688d860df29f594f07b7237074fabd54bf16948bceeb5bbc93100aad4a6da26";
        assert_eq!(notification_signature(&secret(), ts, nonce, body), sig);
        assert!(verify_notification(&secret(), ts, nonce, body, sig));
        assert!(verify_notification(&secret(), ts, nonce, body, &sig.to_uppercase()));
        assert!(!verify_notification(&secret(), ts, nonce, &body[1..], sig));
        assert!(!verify_notification(&secret(), ts, nonce, body, "zz"));
        assert!(!verify_notification(&Secret::new("other"), ts, nonce, body, sig));
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        assert!(!format!("{:?}", secret()).contains("secret1"));
    }
}
