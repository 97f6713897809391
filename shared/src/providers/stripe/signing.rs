//! Stripe's secrets and webhook signatures.
//!
//! - Requests are authenticated with the secret key as a Bearer token ([`SecretKey`]); nothing is
//!   signed. The `Authorization` header is redacted in the exchange log.
//! - Webhooks carry `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes,
//!   such as `v0`, are ignored). The signed payload is `t + "." + raw body`; each `v1` is the
//!   lower-case hex HMAC-SHA256 of it under the endpoint's signing secret (`whsec_…`, used as
//!   given, not decoded). The webhook is accepted if any `v1` matches, compared in constant time
//!   (`Mac::verify_slice`), and `t` is within the tolerance (300 s, Stripe's SDK default) of our
//!   clock. Stripe's SDKs refuse only a `t` too far in the past; paygate refuses one too far in
//!   the future as well (as for WeChat Pay): a clock that far off is a fault to see.
//!
//! Tested against vectors made with Stripe's Python SDK (tests/vectors/stripe/).

use crate::providers::notification::RejectReason;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The webhook's signature header.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";
/// Stripe's SDKs' default tolerance, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// The most `v1` values we look at in one header (Stripe sends one per active secret).
const MAX_SIGNATURES: usize = 16;

/// A secret that never shows in `Debug`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The API secret key (`sk_live_…`, `sk_test_…` or a restricted `rk_…`).
pub type SecretKey = Secret;
/// A webhook endpoint's signing secret (`whsec_…`).
pub type WebhookSecret = Secret;

/// `Authorization: Bearer <secret key>`.
pub fn bearer(key: &SecretKey) -> String {
    format!("Bearer {}", key.expose())
}

/// The lower-case hex `v1` signature of `body` at `timestamp`.
pub fn sign(secret: &WebhookSecret, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// A `Stripe-Signature` header value with one `v1` per signature.
pub fn header(timestamp: i64, signatures: &[String]) -> String {
    let mut h = format!("t={timestamp}");
    for s in signatures {
        h.push_str(",v1=");
        h.push_str(s);
    }
    h
}

fn mac(secret: &WebhookSecret, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// A parsed `Stripe-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    /// The `v1` values, hex-decoded; values that are not hex are dropped (they match nothing).
    pub v1: Vec<Vec<u8>>,
}

impl SignatureHeader {
    /// Parses `t=…,v1=…[,v1=…]`, ignoring other schemes.
    pub fn parse(value: &str) -> Result<Self, RejectReason> {
        let bad = |rule: &str| RejectReason::BadSignature(format!("{SIGNATURE_HEADER}: {rule}"));
        let mut timestamp = None;
        let mut v1 = Vec::new();
        let mut seen_v1 = 0usize;
        for part in value.split(',') {
            let Some((k, v)) = part.trim().split_once('=') else { continue };
            match k {
                "t" => {
                    if timestamp.is_some() {
                        return Err(bad("must carry exactly one t="));
                    }
                    let t =
                        v.parse::<i64>().map_err(|_| bad(&format!("t must be Unix seconds (got {v:?})")))?;
                    timestamp = Some(t);
                }
                "v1" => {
                    seen_v1 += 1;
                    if seen_v1 > MAX_SIGNATURES {
                        return Err(bad(&format!("must carry at most {MAX_SIGNATURES} v1 signatures")));
                    }
                    if let Ok(bytes) = hex::decode(v) {
                        v1.push(bytes);
                    }
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or_else(|| bad("must carry t=<unix seconds>"))?;
        if seen_v1 == 0 {
            return Err(bad("must carry at least one v1= signature"));
        }
        Ok(Self { timestamp, v1 })
    }
}

/// Verifies a webhook: any `v1` of `header` matches `body` under `secret` (constant time), and
/// its `t` is within `tolerance_secs` of `now`. The signature is checked first, so a stale
/// forgery is reported as a bad signature.
pub fn verify(
    secret: &WebhookSecret,
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<i64, RejectReason> {
    let parsed = SignatureHeader::parse(header)?;
    let matched = parsed.v1.iter().any(|sig| mac(secret, parsed.timestamp, body).verify_slice(sig).is_ok());
    if !matched {
        return Err(RejectReason::BadSignature(format!(
            "no v1 signature of {SIGNATURE_HEADER} is the HMAC-SHA256 of t.body under our signing secret"
        )));
    }
    let now_secs = now.timestamp();
    if (now_secs - parsed.timestamp).abs() > tolerance_secs {
        return Err(RejectReason::StaleTimestamp {
            header: SIGNATURE_HEADER,
            window_secs: tolerance_secs,
            got: parsed.timestamp.to_string(),
            now: now_secs,
        });
    }
    Ok(parsed.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn secret() -> WebhookSecret {
        Secret::new("whsec_test_only_0123456789")
    }

    #[test]
    fn a_signature_made_here_verifies_and_any_v1_may_match() {
        let body = br#"{"id":"evt_1"}"#;
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let good = sign(&secret(), 1_700_000_000, body);
        let other = sign(&Secret::new("whsec_other"), 1_700_000_000, body);
        assert_eq!(
            verify(&secret(), &header(1_700_000_000, std::slice::from_ref(&good)), body, now, 300),
            Ok(1_700_000_000)
        );
        assert!(
            verify(&secret(), &header(1_700_000_000, &[other.clone(), good.clone()]), body, now, 300).is_ok()
        );
        let h = format!("t=1700000000,v0=abc,v1={good},scheme=x");
        assert!(verify(&secret(), &h, body, now, 300).is_ok());
        let e = verify(&secret(), &header(1_700_000_000, &[other]), body, now, 300).unwrap_err();
        assert_eq!(e.token(), "bad_signature");
    }

    #[test]
    fn a_tampered_body_or_timestamp_is_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let sig = sign(&secret(), 1_700_000_000, body);
        assert!(
            verify(
                &secret(),
                &header(1_700_000_000, std::slice::from_ref(&sig)),
                br#"{"id":"evt_2"}"#,
                now,
                300
            )
            .is_err()
        );
        assert!(verify(&secret(), &header(1_700_000_001, &[sig]), body, now, 300).is_err());
    }

    #[test]
    fn the_tolerance_is_300_seconds_either_way() {
        let body = b"{}";
        let t = 1_700_000_000;
        let h = header(t, &[sign(&secret(), t, body)]);
        for (offset, ok) in [(300, true), (301, false), (-300, true), (-301, false)] {
            let now = Utc.timestamp_opt(t + offset, 0).unwrap();
            let r = verify(&secret(), &h, body, now, DEFAULT_TOLERANCE_SECS);
            assert_eq!(r.is_ok(), ok, "{offset}: {r:?}");
            if !ok {
                assert_eq!(r.unwrap_err().token(), "stale_timestamp");
            }
        }
    }

    #[test]
    fn malformed_headers_name_the_rule() {
        for (h, rule) in [
            ("v1=00", "must carry t="),
            ("t=1", "at least one v1"),
            ("t=abc,v1=00", "Unix seconds"),
            ("t=1,t=2,v1=00", "exactly one t="),
            ("", "must carry t="),
        ] {
            let e = SignatureHeader::parse(h).unwrap_err().to_string();
            assert!(e.contains(rule) && e.contains(SIGNATURE_HEADER), "{h:?}: {e}");
        }
        let many = format!("t=1{}", ",v1=00".repeat(17));
        assert!(SignatureHeader::parse(&many).is_err());
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = Secret::new("sk_test_abc");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(bearer(&s), "Bearer sk_test_abc");
    }
}
