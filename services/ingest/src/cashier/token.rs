//! The cashier URL's token: a session id and an expiry, signed with the server's secret
//! (`CASHIER_SECRET`, HMAC-SHA256), so that a URL cannot be made up, changed or stretched.
//!
//! Form: `<session id, 32 hex>.<expiry, Unix seconds>.<signature, 32 hex>`, the signature the
//! first 128 bits of HMAC-SHA256(secret, `paygate-cashier\n<session id>\n<expiry>`). Checked in
//! this order: the form and the signature (else [`TokenError::Tampered`], a 403 page), then the
//! expiry (else [`TokenError::Expired`], a 410 page). Nothing is stored: the session row holds the
//! same expiry, and its single use (docs/cashier.md).

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = hmac::Hmac<Sha256>;

/// How many bytes of the HMAC the token carries.
const SIGNATURE_BYTES: usize = 16;

/// The secret tokens are signed with.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(…)")
    }
}

impl TokenKey {
    pub fn new(secret: &[u8]) -> Self {
        TokenKey(secret.to_vec())
    }

    fn mac(&self, session: Uuid, expires: i64) -> [u8; SIGNATURE_BYTES] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(format!("paygate-cashier\n{}\n{expires}", session.simple()).as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; SIGNATURE_BYTES];
        out.copy_from_slice(&full[..SIGNATURE_BYTES]);
        out
    }

    /// The token of `session`, valid until `expires_at`.
    pub fn sign(&self, session: Uuid, expires_at: DateTime<Utc>) -> String {
        let expires = expires_at.timestamp();
        format!("{}.{expires}.{}", session.simple(), hex::encode(self.mac(session, expires)))
    }

    /// The session a token names, if it is ours and not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Uuid, TokenError> {
        let mut parts = token.split('.');
        let (Some(id), Some(expires), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Tampered);
        };
        let session = Uuid::try_parse(id).map_err(|_| TokenError::Tampered)?;
        let expires: i64 = expires.parse().map_err(|_| TokenError::Tampered)?;
        let signature = hex::decode(signature).map_err(|_| TokenError::Tampered)?;
        // Constant time: HMAC's own verification of the truncated tag.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(format!("paygate-cashier\n{}\n{expires}", session.simple()).as_bytes());
        if signature.len() != SIGNATURE_BYTES || mac.verify_truncated_left(&signature).is_err() {
            return Err(TokenError::Tampered);
        }
        if now.timestamp() >= expires {
            return Err(TokenError::Expired);
        }
        Ok(session)
    }
}

/// Why a token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token this server signed (or changed since): 403.
    Tampered,
    /// Ours, but past its expiry: 410.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_token_holds_until_it_expires_and_any_change_breaks_it() {
        let key = TokenKey::new(b"a test secret of enough length!!");
        let session = Uuid::now_v7();
        let now = Utc::now();
        let token = key.sign(session, now + Duration::minutes(5));
        assert_eq!(key.verify(&token, now), Ok(session));
        assert_eq!(key.verify(&token, now + Duration::minutes(6)), Err(TokenError::Expired));
        // Another secret, another expiry, another session, another signature: all tampered.
        assert_eq!(TokenKey::new(b"another secret").verify(&token, now), Err(TokenError::Tampered));
        let (rest, _) = token.rsplit_once('.').unwrap();
        let (id, expiry) = rest.split_once('.').unwrap();
        let stretched =
            format!("{id}.{}.{}", expiry.parse::<i64>().unwrap() + 3600, token.rsplit('.').next().unwrap());
        assert_eq!(key.verify(&stretched, now), Err(TokenError::Tampered));
        let mut flipped = token.clone();
        let last = if flipped.ends_with('0') { '1' } else { '0' };
        flipped.pop();
        flipped.push(last);
        assert_eq!(key.verify(&flipped, now), Err(TokenError::Tampered));
        for bad in ["", "x", "a.b.c", &format!("{token}.x")] {
            assert_eq!(key.verify(bad, now), Err(TokenError::Tampered), "{bad}");
        }
    }
}
