//! What requests and answers look like on the wire: the signed headers, and the
//! `{returnCode, returnMessage, info}` envelope (HTTP 200 for business errors, as LINE Pay's).

use axum::Json;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use paygate::providers::linepay::signing::{self, ChannelSecret};
use serde_json::{Value, json};

/// An answer before it is sent.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(info: Value) -> Self {
        Answer { status: 200, body: json!({"returnCode": "0000", "returnMessage": "Success.", "info": info}) }
    }

    /// A return code without info.
    pub fn code(code: &str, message: &str) -> Self {
        Answer { status: 200, body: json!({"returnCode": code, "returnMessage": message}) }
    }

    /// The code, for statistics.
    pub fn outcome(&self) -> String {
        self.body["returnCode"].as_str().unwrap_or("").to_owned()
    }
}

pub fn respond(a: Answer) -> Response {
    let status = axum::http::StatusCode::from_u16(a.status).unwrap_or(axum::http::StatusCode::OK);
    (status, Json(a.body)).into_response()
}

/// Checks the signed headers of a request to `path` with `body_or_query`; the `1106` answer if
/// they are missing or wrong.
pub fn check_signature(
    headers: &HeaderMap,
    channel_id: &str,
    secret: &str,
    path: &str,
    body_or_query: &str,
) -> Result<(), Answer> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if get(signing::CHANNEL_ID_HEADER) != channel_id {
        return Err(Answer::code("1106", "Header information error. (X-LINE-ChannelId)"));
    }
    let nonce = get(signing::NONCE_HEADER);
    if nonce.is_empty() {
        return Err(Answer::code("1106", "Header information error. (X-LINE-Authorization-Nonce)"));
    }
    let secret = ChannelSecret::new(secret);
    if !signing::verify(&secret, path, body_or_query, nonce, get(signing::SIGNATURE_HEADER)) {
        return Err(Answer::code("1106", "Header information error. (X-LINE-Authorization)"));
    }
    Ok(())
}

/// Checks the offline (POS) API's headers: the channel id and the plain secret
/// (`X-LINE-ChannelSecret`); the `1106` answer otherwise.
pub fn check_secret(headers: &HeaderMap, channel_id: &str, secret: &str) -> Result<(), Answer> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if get(signing::CHANNEL_ID_HEADER) != channel_id {
        return Err(Answer::code("1106", "Header information error. (X-LINE-ChannelId)"));
    }
    let given = get(signing::CHANNEL_SECRET_HEADER).as_bytes();
    // Constant time, as any secret comparison.
    let same = given.len() == secret.len()
        && given.iter().zip(secret.as_bytes()).fold(0_u8, |d, (a, b)| d | (a ^ b)) == 0;
    if !same {
        return Err(Answer::code("1106", "Header information error. (X-LINE-ChannelSecret)"));
    }
    Ok(())
}
