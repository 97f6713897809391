//! The wire: checking a merchant's `Authorization`, answering with WeChat Pay's signature
//! headers, and the `{code, message}` error body.
//!
//! - A request is signed over `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n` with SHA256withRSA
//!   under the merchant's key; `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
//!   signature="…",timestamp="…",serial_no="…"` (parameters in any order). Anything wrong (no
//!   header, another scheme, unknown mchid or serial, a timestamp outside the tolerance, a bad
//!   signature) is `401 SIGN_ERROR`.
//! - Every answer, errors and 204s included, carries `Wechatpay-Serial`, `-Timestamp`, `-Nonce`,
//!   `-Signature` (over `TIMESTAMP\nNONCE\nBODY\n` under the platform key) and
//!   `-Signature-Type`, and a `Request-ID`.

use crate::app::App;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use paygate::providers::rsa_sha256;
use paygate::providers::wechatpay::signing::{self, SCHEME};
use std::collections::HashMap;

/// An answer before it is signed.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn ok(body: serde_json::Value) -> Self {
        Answer { status: 200, body: body.to_string() }
    }

    pub fn no_content() -> Self {
        Answer { status: 204, body: String::new() }
    }

    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Answer { status, body: serde_json::json!({ "code": code, "message": message }).to_string() }
    }

    /// The code of an error answer, for statistics.
    pub fn outcome(&self) -> String {
        if self.status < 300 {
            return "SUCCESS".into();
        }
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.status.to_string())
    }
}

pub(crate) fn sign_error(message: &str) -> Answer {
    Answer::error(401, "SIGN_ERROR", message)
}

pub(crate) fn param_error(message: &str) -> Answer {
    Answer::error(400, "PARAM_ERROR", message)
}

pub(crate) fn invalid_request(message: &str) -> Answer {
    Answer::error(400, "INVALID_REQUEST", message)
}

pub(crate) fn system_error() -> Answer {
    Answer::error(500, "SYSTEM_ERROR", "系统错误")
}

/// A fresh nonce: 32 upper-case hex characters.
pub(crate) fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

/// The signature headers of `body`, signed now with the platform key.
pub(crate) fn signature_headers(app: &App, body: &[u8]) -> Vec<(&'static str, String)> {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let nonce = nonce();
    let signature = app.platform.signer.sign(&signing::response_message(&timestamp, &nonce, body));
    vec![
        (signing::HEADER_SERIAL, app.platform.serial().to_owned()),
        (signing::HEADER_TIMESTAMP, timestamp),
        (signing::HEADER_NONCE, nonce),
        (signing::HEADER_SIGNATURE, signature),
        (signing::HEADER_SIGNATURE_TYPE, SCHEME.to_owned()),
    ]
}

/// The signed HTTP response of an answer.
pub(crate) fn respond(app: &App, answer: Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body.clone()));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    if answer.status != 204 {
        h.insert("Content-Type", HeaderValue::from_static("application/json; charset=utf-8"));
    }
    h.insert(
        "Request-ID",
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("a uuid is ASCII"),
    );
    for (name, value) in signature_headers(app, answer.body.as_bytes()) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    response
}

/// A request that passed the signature check.
#[derive(Debug, Clone)]
pub(crate) struct Authed {
    pub mchid: String,
    pub body: String,
}

/// The `key="value"` parameters of an `Authorization` header after its scheme.
fn auth_params(header: &str) -> Result<HashMap<String, String>, String> {
    let rest = header
        .strip_prefix(SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| format!("Authorization must start with {SCHEME}"))?;
    let mut out = HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or("Authorization parameters are key=\"value\"")?;
        let v = v.trim();
        let v =
            v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or("Authorization values are quoted")?;
        out.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(out)
}

/// Checks a request's `Authorization` against its merchant's public key.
pub(crate) fn authenticate(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Authed, Answer> {
    let header = headers
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| sign_error("Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》"))?;
    let p = auth_params(header).map_err(|e| sign_error(&e))?;
    let get = |k: &str| p.get(k).cloned().ok_or_else(|| sign_error(&format!("Authorization lacks {k}")));
    let (mchid, nonce, signature, timestamp, serial) =
        (get("mchid")?, get("nonce_str")?, get("signature")?, get("timestamp")?, get("serial_no")?);
    let merchant = app.merchant(&mchid).ok_or_else(|| sign_error("商户号不存在或未配置证书"))?;
    if merchant.config.serial_no != serial {
        return Err(sign_error("商户证书序列号有误"));
    }
    let ts: i64 = timestamp.parse().map_err(|_| sign_error("timestamp must be Unix seconds"))?;
    let now = chrono::Utc::now().timestamp();
    if ts.abs_diff(now) > app.timestamp_tolerance_secs.unsigned_abs() {
        return Err(sign_error("请求时间戳与服务器时间相差过大"));
    }
    let body = std::str::from_utf8(body).map_err(|_| param_error("the body must be UTF-8"))?;
    let path = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let message = signing::request_message(method.as_str(), &path, ts, &nonce, body);
    rsa_sha256::verify(&merchant.key, message.as_bytes(), &signature)
        .map_err(|_| sign_error("签名错误，请检查签名参数和方法是否都符合签名算法要求"))?;
    Ok(Authed { mchid, body: body.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_parameters_in_any_order() {
        let p = auth_params(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1\",nonce_str=\"n\",signature=\"s=\",timestamp=\"2\",serial_no=\"S\"",
        )
        .unwrap();
        assert_eq!(p["signature"], "s=");
        assert_eq!(p["serial_no"], "S");
        assert!(auth_params("Bearer x").is_err());
    }
}
