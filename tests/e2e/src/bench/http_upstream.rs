//! The bench's upstream over HTTP (`--via http`): pay and refund commands sent to ingest's
//! upstream API (`POST /v1/payments`, `POST /v1/refunds`, docs/http-api.md) instead of published
//! to RabbitMQ, each signed with a merchant key the bench makes in the system's database, as a
//! shop's backend would. The final events still arrive on upstream's events queue, so a payment's
//! time is measured the same way as over AMQP; each create's own answer time (what the shop
//! waits for) is measured too.

use anyhow::{Context, bail};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// How the bench's upstream sends its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Via {
    /// Published to the commands exchange, as the AMQP contract says.
    #[default]
    Amqp,
    /// Sent to ingest's HTTP API, signed.
    Http,
}

/// Where ingest's API is and the key it is called with.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub key_id: String,
    pub secret: String,
}

/// A signed client of ingest's API.
pub struct HttpUpstream {
    target: ApiTarget,
    client: reqwest::Client,
    nonces: AtomicU64,
}

impl HttpUpstream {
    pub fn new(target: ApiTarget) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self { target, client, nonces: AtomicU64::new(0) })
    }

    /// POSTs `body` to `path`, signed; an answer other than 200, 201 or 202 is an error naming
    /// its status and body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<u16> {
        let bytes = serde_json::to_vec(body)?;
        // Unique per request of this run: the API refuses a nonce it has seen for the key.
        let nonce = format!("bench-{:016x}-{}", self.nonces.fetch_add(1, Relaxed), std::process::id());
        let timestamp = chrono::Utc::now().timestamp();
        let headers = ingest::api::signature::headers(
            &self.target.key_id,
            &self.target.secret,
            "POST",
            path,
            timestamp,
            &nonce,
            &bytes,
        );
        let mut request = self
            .client
            .post(format!("{}{path}", self.target.base))
            .header("content-type", "application/json")
            .body(bytes);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.with_context(|| format!("POST {path}"))?;
        let status = response.status().as_u16();
        if !(200..=202).contains(&status) {
            let text = response.text().await.unwrap_or_default();
            bail!("POST {path} answered {status}: {}", text.chars().take(300).collect::<String>());
        }
        Ok(status)
    }
}

/// Makes an API key for `merchant` in the system's database (as `payctl api-key create` does).
pub async fn make_key(pool: &sqlx::PgPool, merchant: &str, base: String) -> anyhow::Result<ApiTarget> {
    let mut conn = pool.acquire().await?;
    let created = paygate::store::api_keys::create(&mut conn, merchant, "bench", None).await?;
    Ok(ApiTarget { base, key_id: created.key.id.clone(), secret: created.secret.clone() })
}
