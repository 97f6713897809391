//! How a request to the HTTP API is signed (docs/http-api.md, "Authentication"): the string to
//! sign and its HMAC-SHA256, as the server checks it and as a client (the tests, the docs'
//! `curl` example) makes it.
//!
//! The string to sign is five lines joined by `\n`:
//! `METHOD`, the path with its query string as sent (`/v1/payments/o-1`), the timestamp (Unix
//! seconds), the nonce, and the hex SHA-256 of the body (of nothing for a GET). The signature is
//! the hex HMAC-SHA256 of that string, keyed with the SHA-256 of the key's secret
//! ([`paygate::store::api_keys::signing_key_of`]).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The headers of a signed request (header names are case-insensitive; errors name them so).
/// The key id.
pub const KEY: &str = "Paygate-Key";
/// Unix seconds when the request was signed.
pub const TIMESTAMP: &str = "Paygate-Timestamp";
/// A value the key never used before (16 to 64 characters of `A-Z a-z 0-9 - _`).
pub const NONCE: &str = "Paygate-Nonce";
/// The hex HMAC-SHA256 of the string to sign.
pub const SIGNATURE: &str = "Paygate-Signature";

type HmacSha256 = Hmac<Sha256>;

/// The string a request's signature is the HMAC of.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let body_sha256 = hex::encode(Sha256::digest(body));
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body_sha256}")
}

fn mac(signing_key: &[u8], string_to_sign: &str) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(signing_key).expect("HMAC takes a key of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}

/// The hex signature of `string_to_sign` with `signing_key` (the SHA-256 of the secret).
pub fn sign(signing_key: &[u8], string_to_sign: &str) -> String {
    hex::encode(mac(signing_key, string_to_sign).finalize().into_bytes())
}

/// Whether `signature_hex` is the signature of `string_to_sign` (compared in constant time).
pub fn verify(signing_key: &[u8], string_to_sign: &str, signature_hex: &str) -> bool {
    match hex::decode(signature_hex) {
        Ok(bytes) => mac(signing_key, string_to_sign).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// The four headers of a request signed with `secret` by key `key_id` at `timestamp`.
pub fn headers(
    key_id: &str,
    secret: &str,
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> [(&'static str, String); 4] {
    let ts = timestamp.to_string();
    let key = paygate::store::api_keys::signing_key_of(secret);
    let signature = sign(&key, &string_to_sign(method, path_and_query, &ts, nonce, body));
    [(KEY, key_id.to_owned()), (TIMESTAMP, ts), (NONCE, nonce.to_owned()), (SIGNATURE, signature)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let key = paygate::store::api_keys::signing_key_of("pgsk_secret");
        let s = string_to_sign("POST", "/v1/payments", "1700000000", "nonce-0123456789ab", b"{}");
        assert_eq!(
            s,
            "POST\n/v1/payments\n1700000000\nnonce-0123456789ab\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let sig = sign(&key, &s);
        assert_eq!(sig.len(), 64);
        assert!(verify(&key, &s, &sig));
        assert!(!verify(&key, &s.replace("POST", "PUT"), &sig));
        assert!(!verify(&paygate::store::api_keys::signing_key_of("pgsk_other"), &s, &sig));
        assert!(!verify(&key, &s, "not hex"));
        assert!(!verify(&key, &s, &sig[..62]));
    }

    /// docs/http-api.md's worked example, so the numbers there are the ones the server computes.
    #[test]
    fn the_worked_example_of_the_docs_holds() {
        let secret = "pgsk_8f1c0d5e2b7a4c3f9e6d1b0a5c4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f";
        let key = paygate::store::api_keys::signing_key_of(secret);
        assert_eq!(hex::encode(key), "2e0cf1e962d9b215614896d5fa33b7003cd5ddcdd497ca68a54b3bb18d1bb76b");
        let body = r#"{"merchant_order_no":"order-1001","amount":"12.34","currency":"CNY","provider":"mockpay","pay_method":"qr","order_type":"retail","subject":"Coffee"}"#;
        let s = string_to_sign("POST", "/v1/payments", "1796630400", "3f2b9c1e6a4d4e0f8b7a", body.as_bytes());
        assert!(s.ends_with("\n2f25efb2e8e3514a07c5832b2555e6c3cc5900e0899fa41aec78ab7c12e09d5e"), "{s}");
        assert_eq!(sign(&key, &s), "44f286c8af78a7bab5a321f4654fb2714d3d2c5f6a4b4a85e552fe582fd52ba5");
        let doc = include_str!("../../../../docs/http-api.md");
        assert!(doc.contains("44f286c8af78a7bab5a321f4654fb2714d3d2c5f6a4b4a85e552fe582fd52ba5"));
    }
}
