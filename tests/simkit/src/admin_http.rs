//! The HTTP half of every simulator's admin client: one JSON call to the admin API, a non-2xx
//! answer turned into an [`AdminError`] with its status and body. Each simulator's
//! `AdminClient` wraps it with its own routes (`pay`, `approve`, `settings`, …).

use serde_json::Value;

/// An error from a simulator's admin API: its status and message.
#[derive(Debug, thiserror::Error)]
#[error("admin API: HTTP {status}: {body}")]
pub struct AdminError {
    pub status: u16,
    pub body: String,
}

/// Calls one simulator's admin API at its base URL.
#[derive(Debug, Clone)]
pub struct AdminHttp {
    base: String,
    http: reqwest::Client,
}

impl AdminHttp {
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
        AdminHttp { base: base.into().trim_end_matches('/').to_owned(), http }
    }

    /// `method path` with `body` as JSON: the answer's JSON (`Null` when empty), or an
    /// [`AdminError`] for a status of 300 or more.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        if status >= 300 {
            return Err(AdminError { status, body: text }.into());
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }
}
