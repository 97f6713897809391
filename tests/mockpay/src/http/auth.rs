//! Authentication of merchant API requests: merchant, timestamp window, nonce, HMAC signature.
//!
//! Headers: `X-Mockpay-Merchant`, `X-Mockpay-Timestamp` (Unix seconds), `X-Mockpay-Nonce`,
//! `X-Mockpay-Signature` = hex HMAC-SHA256(secret, `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY`),
//! where PATH_AND_QUERY is exactly as on the request line. Any failure is HTTP 401 with 1106.

use crate::app::{App, lock};
use crate::codes::ReturnCode;
use crate::signing;
use crate::wire::envelope::respond;
use crate::wire::headers::{
    MERCHANT as HEADER_MERCHANT, NONCE as HEADER_NONCE, SIGNATURE as HEADER_SIGNATURE,
    TIMESTAMP as HEADER_TIMESTAMP,
};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

const MAX_BODY: usize = 1 << 20;

/// An authenticated request: who sent it and its raw body.
pub(crate) struct Signed {
    pub merchant_id: String,
    pub body: Bytes,
}

impl FromRequest<App> for Signed {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
            app.stats().request("auth", ReturnCode::InvalidRequest.code());
            return Err(respond::<()>(
                ReturnCode::InvalidRequest,
                Some("body: larger than 1 MiB".into()),
                None,
            ));
        };
        match authenticate(app, &parts.method, &parts.uri, &parts.headers, &body) {
            Ok(merchant_id) => Ok(Signed { merchant_id, body }),
            Err(why) => {
                tracing::debug!(%why, "request rejected");
                app.stats().request("auth", ReturnCode::HeaderError.code());
                Err(respond::<()>(
                    ReturnCode::HeaderError,
                    Some(format!("Header or signature error: {why}")),
                    None,
                ))
            }
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    let v = headers.get(name).ok_or_else(|| format!("{name} is missing"))?;
    let v = v.to_str().map_err(|_| format!("{name} is not ASCII"))?;
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    Ok(v)
}

fn authenticate(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, String> {
    let merchant_id = header(headers, HEADER_MERCHANT)?;
    let timestamp = header(headers, HEADER_TIMESTAMP)?;
    let nonce = header(headers, HEADER_NONCE)?;
    let signature = header(headers, HEADER_SIGNATURE)?;
    let secret = app.secret(merchant_id).ok_or_else(|| format!("unknown merchant {merchant_id}"))?;
    let ts: i64 = timestamp.parse().map_err(|_| format!("{HEADER_TIMESTAMP} is not Unix seconds"))?;
    let now = chrono::Utc::now().timestamp();
    let tolerance = app.timestamp_tolerance_secs;
    if ts.abs_diff(now) > tolerance.unsigned_abs() {
        return Err(format!(
            "{HEADER_TIMESTAMP} {ts} is more than {tolerance} s away from the server's {now}"
        ));
    }
    if nonce.len() > 128 {
        return Err(format!("{HEADER_NONCE} is longer than 128 characters"));
    }
    let path_and_query = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or_else(|| uri.path());
    let message = signing::request_message(method.as_str(), path_and_query, timestamp, nonce, body);
    if !signing::verify(&secret, &message, signature) {
        return Err(format!("{HEADER_SIGNATURE} does not match"));
    }
    if !lock(&app.nonces).insert(merchant_id, nonce, ts.saturating_add(tolerance), now) {
        return Err(format!("{HEADER_NONCE} {nonce} was already used"));
    }
    Ok(merchant_id.to_owned())
}
