//! Signing helpers and a raw signed client, for mockpay's OWN tests only.
//!
//! paygate must not use this module: its mockpay adapter implements the signing from the
//! README, so that the adapter is tested against the protocol rather than against mockpay's
//! own code.

use crate::signing;
use crate::wire::headers;
use std::time::Duration;

/// Hex HMAC-SHA256 over `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY`.
pub fn sign_request(
    secret: &str,
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    signing::sign(secret, &signing::request_message(method, path_and_query, timestamp, nonce, body))
}

/// Checks a notification's signature over `TIMESTAMP\nNONCE\nBODY`, in constant time.
pub fn verify_notification(secret: &str, timestamp: &str, nonce: &str, body: &[u8], signature: &str) -> bool {
    signing::verify(secret, &signing::notification_message(timestamp, nonce, body), signature)
}

/// Changes to a request's authentication, to test the rejections.
#[derive(Debug, Clone, Default)]
pub struct Tweak {
    /// Use this timestamp instead of now.
    pub timestamp: Option<i64>,
    /// Use this nonce instead of a fresh one.
    pub nonce: Option<String>,
    /// Send this signature instead of the right one.
    pub signature: Option<String>,
}

/// An answer: HTTP status and the JSON body (Null if the body was not JSON).
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl RawAnswer {
    /// `returnCode`, or "" if absent.
    pub fn code(&self) -> &str {
        self.body["returnCode"].as_str().unwrap_or("")
    }

    /// `info`.
    pub fn info(&self) -> &serde_json::Value {
        &self.body["info"]
    }
}

/// A merchant's signed client.
#[derive(Debug, Clone)]
pub struct SignedClient {
    base_url: String,
    merchant_id: String,
    secret: String,
    http: reqwest::Client,
}

impl SignedClient {
    /// A client with a 10 s timeout.
    pub fn new(base_url: &str, merchant_id: &str, secret: &str) -> Self {
        Self::with_timeout(base_url, merchant_id, secret, Duration::from_secs(10))
    }

    /// A client that gives up after `timeout`.
    pub fn with_timeout(base_url: &str, merchant_id: &str, secret: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().no_proxy().timeout(timeout).build().unwrap_or_default();
        SignedClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            merchant_id: merchant_id.to_owned(),
            secret: secret.to_owned(),
            http,
        }
    }

    /// Signed POST of a JSON body.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Result<RawAnswer, reqwest::Error> {
        self.send("POST", path, body.to_string().into_bytes(), Tweak::default()).await
    }

    /// Signed GET.
    pub async fn get(&self, path: &str) -> Result<RawAnswer, reqwest::Error> {
        self.send("GET", path, Vec::new(), Tweak::default()).await
    }

    /// Signed GET of a text answer (a bill or settlement CSV): the HTTP status and the body.
    pub async fn get_text(&self, path: &str) -> Result<(u16, String), reqwest::Error> {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let nonce = uuid::Uuid::new_v4().to_string();
        let signature = sign_request(&self.secret, "GET", path, &timestamp, &nonce, b"");
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header(headers::MERCHANT, &self.merchant_id)
            .header(headers::TIMESTAMP, &timestamp)
            .header(headers::NONCE, &nonce)
            .header(headers::SIGNATURE, &signature)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// A request with the given method, path (and query) and body, signed with `tweak` applied.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        tweak: Tweak,
    ) -> Result<RawAnswer, reqwest::Error> {
        let timestamp = tweak.timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp()).to_string();
        let nonce = tweak.nonce.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let signature = tweak
            .signature
            .unwrap_or_else(|| sign_request(&self.secret, method, path, &timestamp, &nonce, &body));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("Content-Type", "application/json")
            .header(headers::MERCHANT, &self.merchant_id)
            .header(headers::TIMESTAMP, &timestamp)
            .header(headers::NONCE, &nonce)
            .header(headers::SIGNATURE, &signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok(RawAnswer { status, body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null) })
    }
}
