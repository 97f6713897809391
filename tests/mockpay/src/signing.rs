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
