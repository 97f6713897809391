//! A signed client of the upstream HTTP API for the tests: a key made in the test's database, and
//! requests signed as docs/http-api.md says (`ingest::api::signature`).

use paygate::store::api_keys;
use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;
use std::net::SocketAddr;

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub key_id: String,
    pub secret: String,
    pub http: reqwest::Client,
}

/// An answer: status, headers and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
    pub fn field(&self) -> &str {
        self.body["field"].as_str().unwrap_or_default()
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How a request is signed: normally right; a test changes one part to break it.
#[derive(Clone, Debug, Default)]
pub struct Signing {
    /// Seconds added to the current time.
    pub clock_offset: i64,
    /// A nonce to use instead of a fresh one.
    pub nonce: Option<String>,
    /// Sign with this secret instead of the key's.
    pub secret: Option<String>,
    /// Leave out this header.
    pub without: Option<&'static str>,
    /// More headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Client {
    /// A new key for `merchant` in `pool`'s database, and a client using it.
    pub async fn for_merchant(pool: &PgPool, api: SocketAddr, merchant: &str) -> Self {
        let mut conn = pool.acquire().await.unwrap();
        let created = api_keys::create(&mut conn, merchant, "test", None).await.unwrap();
        Client {
            base: format!("http://{api}"),
            key_id: created.key.id,
            secret: created.secret,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &Signing::default()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(body.to_string().into_bytes()), &Signing::default()).await
    }

    pub async fn post_with(&self, path: &str, body: &Value, headers: &[(&'static str, &str)]) -> Answer {
        let signing = Signing {
            headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            ..Signing::default()
        };
        self.send(Method::POST, path, Some(body.to_string().into_bytes()), &signing).await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>, signing: &Signing) -> Answer {
        let body = body.unwrap_or_default();
        let nonce = signing.nonce.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let now = chrono::Utc::now().timestamp() + signing.clock_offset;
        let secret = signing.secret.as_deref().unwrap_or(&self.secret);
        let signed =
            ingest::api::signature::headers(&self.key_id, secret, method.as_str(), path, now, &nonce, &body);
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in signed {
            if signing.without != Some(name) {
                request = request.header(name, value);
            }
        }
        for (name, value) in &signing.headers {
            request = request.header(*name, value);
        }
        if !body.is_empty() {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { status, headers, body }
    }
}
