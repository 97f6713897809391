//! HMAC-SHA256 signatures: the messages that are signed and the constant-time check.
//!
//! API request: `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY`.
//! Notification: `TIMESTAMP\nNONCE\nBODY`.
//! The signature is the lowercase hex of HMAC-SHA256 keyed with the merchant's secret.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The bytes signed for an API request.
pub(crate) fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(
        method.len() + path_and_query.len() + timestamp.len() + nonce.len() + body.len() + 4,
    );
    for part in [method.as_bytes(), path_and_query.as_bytes(), timestamp.as_bytes(), nonce.as_bytes()] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m.extend_from_slice(body);
    m
}

/// The bytes signed for a notification.
pub(crate) fn notification_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 2);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m
}

fn mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length")
}

/// Lowercase hex HMAC-SHA256 of `message` keyed with `secret`.
pub(crate) fn sign(secret: &str, message: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(message);
    hex::encode(m.finalize().into_bytes())
}

/// Checks a hex signature in constant time. A signature that is not hex, or has the wrong
/// length, is simply wrong.
pub(crate) fn verify(secret: &str, message: &[u8], signature_hex: &str) -> bool {
    let Ok(sig) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut m = mac(secret);
    m.update(message);
    m.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_readme_examples_are_right() {
        let body = r#"{"orderId":"ord-1001","amount":1500,"currency":"JPY","description":"coffee beans","payMethod":"redirect","notifyUrl":"http://127.0.0.1:8083/notify/mockpay"}"#;
        let readme = include_str!("../README.md");
        assert!(readme.contains(body));
        let m = request_message(
            "POST",
            "/v1/payments",
            "1767225600",
            "6f1c2a9e-0b7d-4b8e-9a51-2f3c4d5e6f70",
            body.as_bytes(),
        );
        let sig = sign("secret1", &m);
        assert_eq!(sig, "a68897a1a3eae3fb00c6b1151cda1e33a45868f29da8ce2815de3726cdbdc571");
        assert!(readme.contains(&sig));
        let sig = sign("secret1", &request_message("GET", "/v1/payments/ord-1001", "1767225601", "n-2", b""));
        assert_eq!(sig, "8ff246aef9a146ff00c3912131c079b7d8be2b318d6399d0f239663494e9efb4");
        assert!(readme.contains(&sig));
        let n = r#"{"notificationId":"ntf_0199a0c0e7d07c3f8e7a4b5c6d7e8f90","eventType":"PAYMENT.SUCCEEDED","merchantId":"m1","orderId":"ord-1001","transactionId":"2000000123456789012","amount":1500,"currency":"JPY","occurredAt":"2026-01-01T00:00:05.123Z"}"#;
        assert!(readme.contains(n));
        let sig = sign(
            "secret1",
            &notification_message("1767225606", "b1946ac92492d2347c6235b4d2611184", n.as_bytes()),
        );
        assert_eq!(sig, "a688d860df29f594f07b7237074fabd54bf16948bceeb5bbc93100aad4a6da26");
        assert!(readme.contains(&sig));
    }

    #[test]
    fn verify_accepts_only_the_right_signature() {
        let msg = request_message("POST", "/v1/payments", "1700000000", "n1", b"{}");
        assert_eq!(msg, b"POST\n/v1/payments\n1700000000\nn1\n{}");
        let sig = sign("s", &msg);
        assert!(verify("s", &msg, &sig));
        assert!(verify("s", &msg, &sig.to_uppercase()), "hex decoding is case-insensitive");
        assert!(!verify("t", &msg, &sig));
        assert!(!verify("s", b"other", &sig));
        assert!(!verify("s", &msg, "zz"));
        assert!(!verify("s", &msg, &sig[..10]));
    }
}
