//! Authentication of every `/v1` request: the key it names must exist and not be revoked, its
//! signature must be the HMAC-SHA256 of the request ([`super::signature`]) with that key, its
//! timestamp within the window of the server's clock, and its nonce new for the key (kept in
//! PostgreSQL until the timestamp leaves the window). Then the key's rate limit applies. The
//! request goes on with the [`Caller`] (its merchant) as an extension; every handler acts for
//! that merchant only.
//!
//! Checked in this order so that nothing is written for a request that is not the key holder's:
//! the nonce is recorded only once the signature holds.

use super::ApiState;
use super::codes;
use super::rate_limit::retry_after_secs;
use super::response::{Answer, db_error};
use super::signature::{self, KEY, NONCE, SIGNATURE, TIMESTAMP};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use paygate::domain::{MerchantId, ValidationError};
use paygate::store::api_keys;
use std::sync::Arc;

/// Who is calling: the key and its merchant.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub merchant_id: MerchantId,
}

/// The largest body the API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

fn unauthenticated(field: &'static str, rule: impl Into<String>) -> Response {
    let error = ValidationError::new(field, rule);
    // The header and the rule only: never a signature, a key's secret or a body.
    tracing::info!(field = error.field(), rule = error.rule(), "API request refused: unauthenticated");
    Answer::refused(codes::UNAUTHENTICATED, &error)
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Paygate-HMAC-SHA256"))
        .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, (&'static str, &'static str)> {
    match headers.get(name).map(|v| v.to_str()) {
        Some(Ok(v)) if !v.is_empty() => Ok(v),
        Some(_) => Err((name, "must be printable ASCII")),
        None => Err((name, "is required: every /v1 request is signed (docs/http-api.md)")),
    }
}

fn nonce_ok(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The middleware: authenticates, rate-limits, and passes the request on with its [`Caller`].
pub async fn authenticate(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let headers = &parts.headers;
    let (key_id, timestamp, nonce, sig) = match (
        header(headers, KEY),
        header(headers, TIMESTAMP),
        header(headers, NONCE),
        header(headers, SIGNATURE),
    ) {
        (Ok(k), Ok(t), Ok(n), Ok(s)) => (k.to_owned(), t.to_owned(), n.to_owned(), s.to_owned()),
        (Err((name, rule)), ..)
        | (_, Err((name, rule)), ..)
        | (_, _, Err((name, rule)), _)
        | (.., Err((name, rule))) => {
            return unauthenticated(name, rule);
        }
    };

    let key = {
        let mut conn = match state.db.acquire().await {
            Ok(c) => c,
            Err(e) => return db_error(e).into_response(),
        };
        match api_keys::signing_key(&mut conn, &key_id).await {
            Ok(k) => k,
            Err(e) => return db_error(e).into_response(),
        }
    };
    let now = Utc::now();
    let Some(key) = key.filter(|k| k.revoked_at.is_none_or(|at| at > now)) else {
        return unauthenticated(KEY, "must name an API key that exists and is not revoked");
    };

    let bytes: Bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            let error = ValidationError::new("body", format!("must be at most {BODY_LIMIT} bytes"));
            return Answer::refused(codes::MALFORMED, &error).into_response();
        }
    };
    let path =
        parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let to_sign = signature::string_to_sign(parts.method.as_str(), &path, &timestamp, &nonce, &bytes);
    if !signature::verify(&key.secret_sha256, &to_sign, &sig) {
        return unauthenticated(
            SIGNATURE,
            "must be the hex HMAC-SHA256 of METHOD, path, timestamp, nonce and the body's SHA-256, \
             keyed with the SHA-256 of the key's secret (docs/http-api.md)",
        );
    }

    let window = state.settings.signature_window_secs;
    let Ok(signed_at) = timestamp.parse::<i64>() else {
        return unauthenticated(TIMESTAMP, format!("must be Unix seconds (got {:?})", cut(&timestamp)));
    };
    let skew = now.timestamp().saturating_sub(signed_at);
    if skew.unsigned_abs() > window {
        let how = if skew > 0 { "old" } else { "ahead" };
        return unauthenticated(
            TIMESTAMP,
            format!("must be within {window} s of the server's clock (got {} s {how})", skew.unsigned_abs()),
        );
    }
    if !nonce_ok(&nonce) {
        return unauthenticated(NONCE, "must be 16 to 64 characters of A-Z a-z 0-9 - _");
    }
    let expires = chrono::DateTime::from_timestamp(signed_at, 0).unwrap_or(now)
        + chrono::Duration::seconds(i64::try_from(window).unwrap_or(i64::MAX / 2));
    let fresh = match state.db.acquire().await {
        Ok(mut conn) => api_keys::use_nonce(&mut conn, &key.id, &nonce, expires).await,
        Err(e) => Err(e),
    };
    match fresh {
        Ok(true) => {}
        Ok(false) => {
            return unauthenticated(NONCE, "must not have been used before by this key (a replayed request)");
        }
        Err(e) => return db_error(e).into_response(),
    }

    if let Err(wait) = state.limit.check(&key.id) {
        let secs = retry_after_secs(wait);
        let error = ValidationError::new(
            KEY,
            format!(
                "must send at most {} requests a second (bursts of {}); retry after {secs} s",
                state.settings.rate_per_second, state.settings.rate_burst
            ),
        );
        return Answer::refused(codes::RATE_LIMITED, &error)
            .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
            .into_response();
    }

    let merchant_id = match MerchantId::parse(&key.merchant_id) {
        Ok(m) => m,
        Err(e) => return Answer::internal("read the key's merchant", &e).into_response(),
    };
    parts.extensions.insert(Caller { key_id: key.id, merchant_id });
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_have_a_form() {
        assert!(nonce_ok("0123456789abcdef"));
        assert!(nonce_ok(&"a".repeat(64)));
        assert!(!nonce_ok("short"));
        assert!(!nonce_ok(&"a".repeat(65)));
        assert!(!nonce_ok("0123456789abcdef with space"));
    }
}
