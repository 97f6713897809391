//! For alipaysim's own tests and for tests that play the customer: an admin client, and a raw
//! app client that signs gateway requests with an app key. paygate must not use the app client:
//! its Alipay adapter implements the protocol from Alipay's reference, so that the simulator can
//! catch its mistakes.

use serde_json::Value;
use std::time::Duration;

/// The admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        AdminClient { base: base_url.trim_end_matches('/').to_owned(), http }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            anyhow::bail!("{path}: HTTP {status}: {v}");
        }
        Ok(v)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// The truth about a trade.
    pub async fn trade(&self, out_trade_no: &str) -> anyhow::Result<Value> {
        self.get(&format!("/admin/trades/{out_trade_no}")).await
    }

    /// `scan`, `pay`, `decline`, `expire` or `finish`.
    pub async fn act(&self, out_trade_no: &str, action: &str) -> anyhow::Result<Value> {
        self.post(&format!("/admin/trades/{out_trade_no}/{action}"), Value::Null).await
    }

    /// Replaces the settings (read them first to change one field).
    pub async fn settings(&self, settings: &crate::Settings) -> anyhow::Result<Value> {
        self.put("/admin/settings", serde_json::to_value(settings)?).await
    }

    pub async fn script(&self, entry: &simkit::ScriptEntry) -> anyhow::Result<Value> {
        self.post("/admin/script", serde_json::to_value(entry)?).await
    }

    pub async fn bill_fault(&self, fault: &simkit::BillFault) -> anyhow::Result<Value> {
        self.post("/admin/bill-faults", serde_json::to_value(fault)?).await
    }
}

/// An app's raw client: signs `POST /gateway.do` requests with the app's private key.
pub struct AppClient {
    pub gateway_url: String,
    pub app_id: String,
    key: crate::keys::Signer,
    http: reqwest::Client,
}

impl AppClient {
    pub fn new(gateway_url: &str, app_id: &str, app_private_key_pem: &str) -> anyhow::Result<Self> {
        Ok(AppClient {
            gateway_url: gateway_url.to_owned(),
            app_id: app_id.to_owned(),
            key: crate::keys::private_key(app_private_key_pem)?,
            http: reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build()?,
        })
    }

    /// The signed common parameters of a call, with `extra` changes applied before signing
    /// (a value of "" removes the parameter).
    pub fn params(&self, method: &str, biz: &Value, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = vec![
            ("app_id".into(), self.app_id.clone()),
            ("method".into(), method.into()),
            ("format".into(), "JSON".into()),
            ("charset".into(), "utf-8".into()),
            ("sign_type".into(), "RSA2".into()),
            ("timestamp".into(), crate::app::bj(chrono::Utc::now())),
            ("version".into(), "1.0".into()),
            ("biz_content".into(), biz.to_string()),
        ];
        for (k, v) in extra {
            p.retain(|(n, _)| n != k);
            if !v.is_empty() {
                p.push(((*k).into(), (*v).into()));
            }
        }
        let sign = crate::keys::sign(&self.key, &crate::keys::request_string(&p));
        p.push(("sign".into(), sign));
        p
    }

    /// Posts `params` and returns the raw answer text.
    pub async fn post(&self, params: &[(String, String)]) -> anyhow::Result<String> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        let r = self
            .http
            .post(&self.gateway_url)
            .header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
            .body(body)
            .send()
            .await?;
        Ok(r.text().await?)
    }

    /// A signed call; the answer's `_response` object.
    pub async fn call(&self, method: &str, biz: Value) -> anyhow::Result<Value> {
        let text = self.post(&self.params(method, &biz, &[])).await?;
        let v: Value = serde_json::from_str(&text)?;
        Ok(v[format!("{}_response", method.replace('.', "_"))].clone())
    }
}
