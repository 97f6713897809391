//! LINE Pay's request signature (Online API v3) and its channel secret.
//!
//! Every v3 request carries `X-LINE-ChannelId`, `X-LINE-Authorization-Nonce` (a fresh UUID v4 per
//! request) and `X-LINE-Authorization` = Base64(HMAC-SHA256(key = channel secret, message =
//! channel secret + API path + X + nonce)), where X is the exact body of a POST, or the query
//! string without `?` of a GET (empty when there is none). The path is the API path only
//! (`/v3/payments/request`), without host or query. Nothing in the answer is signed.
//!
//! The offline (POS) API v2 signs nothing: it sends the secret itself in `X-LINE-ChannelSecret`
//! (redacted in the exchange log like `X-LINE-Authorization`).
//!
//! Tested against vectors computed by an independent Python script (tests/vectors/linepay/).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The channel id header.
pub const CHANNEL_ID_HEADER: &str = "X-LINE-ChannelId";
/// The nonce header.
pub const NONCE_HEADER: &str = "X-LINE-Authorization-Nonce";
/// The signature header (redacted in the exchange log).
pub const SIGNATURE_HEADER: &str = "X-LINE-Authorization";
/// The POS API's plain secret header (redacted in the exchange log).
pub const CHANNEL_SECRET_HEADER: &str = "X-LINE-ChannelSecret";

/// The channel secret: never shown by `Debug`.
#[derive(Clone)]
pub struct ChannelSecret(String);

impl ChannelSecret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The secret itself, for the POS API's `X-LINE-ChannelSecret` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ChannelSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelSecret([redacted])")
    }
}

/// The message a request's signature is made over: secret + path + body-or-query + nonce.
fn message(secret: &ChannelSecret, path: &str, body_or_query: &str, nonce: &str) -> Vec<u8> {
    [secret.0.as_bytes(), path.as_bytes(), body_or_query.as_bytes(), nonce.as_bytes()].concat()
}

/// `X-LINE-Authorization` for a request to `path` whose body (POST) or query string without `?`
/// (GET) is `body_or_query`, under `nonce`.
pub fn sign(secret: &ChannelSecret, path: &str, body_or_query: &str, nonce: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(&message(secret, path, body_or_query, nonce));
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is the request's, compared in constant time (the simulator's check, and
/// the tests').
pub fn verify(secret: &ChannelSecret, path: &str, body_or_query: &str, nonce: &str, signature: &str) -> bool {
    let Ok(given) = STANDARD.decode(signature.trim()) else { return false };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(&message(secret, path, body_or_query, nonce));
    mac.verify_slice(&given).is_ok()
}

/// A fresh nonce: a random UUID v4, as LINE Pay's reference recommends.
pub fn nonce() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let s = ChannelSecret::new("secret");
        let sig = sign(&s, "/v3/payments/request", "{\"a\":1}", "n-1");
        assert!(verify(&s, "/v3/payments/request", "{\"a\":1}", "n-1", &sig));
        assert!(!verify(&s, "/v3/payments/request", "{\"a\":2}", "n-1", &sig));
        assert!(!verify(&s, "/v3/payments/request", "{\"a\":1}", "n-2", &sig));
        assert!(!verify(&s, "/v3/payments/requests", "{\"a\":1}", "n-1", &sig));
        assert!(!verify(&ChannelSecret::new("other"), "/v3/payments/request", "{\"a\":1}", "n-1", &sig));
        assert!(!verify(&s, "/v3/payments/request", "{\"a\":1}", "n-1", "not base64!"));
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        assert_eq!(format!("{:?}", ChannelSecret::new("s3cr3t")), "ChannelSecret([redacted])");
    }
}
