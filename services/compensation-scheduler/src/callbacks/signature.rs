//! The `Paygate-Signature` header of a delivery (docs/callbacks.md), in the style of Stripe's
//! webhooks:
//!
//! ```text
//! Paygate-Signature: t=1765101234,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//!
//! `t` is when the attempt was signed (Unix seconds; every attempt is signed afresh, so a
//! receiver can refuse old timestamps), and `v1` the lowercase hex HMAC-SHA256 of
//! `"{t}.{body}"`, keyed with the endpoint's secret (`whsec_…`, its bytes as they are). The HMAC
//! is RustCrypto's `hmac` over `sha2`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header's name.
pub const HEADER: &str = "Paygate-Signature";

/// The header's value for `body` sent at `timestamp` (Unix seconds), signed with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
}

/// Whether `header` is a valid signature of `body` with `secret` (constant-time comparison).
/// What a receiver does; paygate uses it in its own tests.
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return false };
    signatures.iter().any(|sig| {
        let mut m = keyed(secret);
        m.update(format!("{timestamp}.").as_bytes());
        m.update(body);
        m.verify_slice(sig).is_ok()
    })
}

fn keyed(secret: &str) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length")
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = keyed(secret);
    m.update(format!("{timestamp}.").as_bytes());
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector computed independently: `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test`.
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        let header = sign("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(header, format!("t=1700000000,v1={}", EXPECTED));
        assert!(verify("whsec_test", &header, br#"{"a":1}"#));
        assert!(!verify("whsec_test", &header, br#"{"a":2}"#), "another body");
        assert!(!verify("whsec_other", &header, br#"{"a":1}"#), "another secret");
        let other_time = header.replace("t=1700000000", "t=1700000001");
        assert!(!verify("whsec_test", &other_time, br#"{"a":1}"#), "another timestamp");
    }

    const EXPECTED: &str = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
}
