//! The few calls of mockpay's admin API the demo needs to play the customer (tests/mockpay/README.md,
//! "Admin API"): pay or decline a waiting payment, and read mockpay's own truth about a payment
//! (how many times it charged, its refunds' transaction ids). Unsigned, as the admin API is.

use paygate::providers::mockpay::codes::ReturnCode;
use serde_json::{Value, json};

/// A client for `<mockpay>/admin/...`.
pub struct MockpayAdmin {
    base_url: String,
    http: reqwest::Client,
}

impl MockpayAdmin {
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let http =
            reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(10)).build()?;
        Ok(Self { base_url: base_url.trim_end_matches('/').to_owned(), http })
    }

    /// Checks mockpay answers `/healthz`.
    pub async fn check(&self) -> anyhow::Result<()> {
        let url = format!("{}/healthz", self.base_url);
        let answer = self.http.get(&url).send().await.and_then(|r| r.error_for_status());
        answer.map(|_| ()).map_err(|e| {
            anyhow::anyhow!(
                "cannot reach mockpay at {url} ({e}); MOCKPAY_URL / --mockpay-url must be the mockpay the \
                 provider-dispatcher uses"
            )
        })
    }

    /// The customer pays the waiting payment `trade_no`.
    pub async fn pay(&self, trade_no: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, &format!("/admin/payments/{trade_no}/pay"), Some(json!({}))).await?;
        Ok(())
    }

    /// The customer's payment `trade_no` is declined with `decline` (insufficient funds or a
    /// suspended account): mockpay answers with that code when it declined.
    pub async fn decline(&self, trade_no: &str, decline: ReturnCode) -> anyhow::Result<()> {
        let body = json!({"declineCode": decline.wire()});
        let path = format!("/admin/payments/{trade_no}/decline");
        self.call_accepting(reqwest::Method::POST, &path, Some(body), &[ReturnCode::Success, decline])
            .await?;
        Ok(())
    }

    /// mockpay's truth about payment `trade_no` (`charges`, `refunds`, …).
    pub async fn truth(&self, trade_no: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, &format!("/admin/payments/{trade_no}"), None).await
    }

    /// Calls `path` and returns the envelope's `info`, or an error with mockpay's return code.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.call_accepting(method, path, body, &[ReturnCode::Success]).await
    }

    /// Calls `path` and returns the envelope's `info` when the return code is one of `accepted`.
    async fn call_accepting(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        accepted: &[ReturnCode],
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let envelope: Value = request
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| anyhow::anyhow!("mockpay admin {method} {url}: {e}"))?
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("mockpay admin {method} {url}: the answer is not JSON: {e}"))?;
        match envelope["returnCode"].as_str() {
            Some(code) if accepted.iter().any(|a| a.wire() == code) => {
                Ok(envelope.get("info").cloned().unwrap_or(Value::Null))
            }
            code => anyhow::bail!(
                "mockpay admin {method} {url} answered {}: {}",
                code.unwrap_or("no returnCode"),
                envelope["returnMessage"].as_str().unwrap_or("")
            ),
        }
    }
}
