//! Sending one provider request over HTTP and keeping its raw exchange, redacted.
//!
//! Every adapter does the same around its own wire format: send a signed request with a timeout,
//! measure the latency in microseconds, tell a timeout from a broken connection (both leave the
//! outcome UNKNOWN, but operators want to tell them apart), and record the request and response
//! for the exchange log with secrets removed (docs/architecture.md, decision 11). [`ProviderHttp`]
//! does that once; the adapter decides what the answer means and then finishes the record with
//! [`ExchangeDraft::finish`].
//!
//! Redaction ([`Redaction`]): the values of the named headers (compared case-insensitively) are
//! replaced by `"[redacted]"`, in the request and the response; bodies pass through an optional
//! hook, e.g. [`Redaction::with_json_fields`] for card numbers. The secret itself never reaches
//! this module: adapters sign before they call it and pass only the resulting headers.
//!
//! Size: an answer's body is read chunk by chunk and never beyond [`MAX_RESPONSE_BODY`] (or the
//! client's own limit, [`ProviderHttp::with_max_body`]), so a provider (or anything between us)
//! sending an endless body costs at most that much memory. A body cut at the limit ends the call
//! as [`HttpEnd::Cut`]: the request may well have been processed, so for the money path the
//! outcome is UNKNOWN, never a success; the exchange log records the cut in its `error`, with
//! the part that was read as the response body.

use super::codes::MappedCode;
use super::exchange::{Exchange, ExchangeOutcome};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What redacted values are replaced with.
pub const REDACTED: &str = "[redacted]";

/// The most bytes of a provider's answer that are read (1 MiB): far above any API answer, far
/// below what would hurt a process.
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

type BodyHook = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// What is removed before an exchange is kept.
#[derive(Clone, Default)]
pub struct Redaction {
    /// Lower-case header names whose values are replaced.
    headers: Vec<String>,
    body: Option<BodyHook>,
}

impl Redaction {
    /// Redacts the values of these headers (case-insensitive), and nothing in bodies.
    pub fn headers(names: &[&str]) -> Self {
        Self { headers: names.iter().map(|n| n.to_ascii_lowercase()).collect(), body: None }
    }

    /// Passes every request and response body through `hook` before it is kept.
    pub fn with_body(mut self, hook: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.body = Some(Arc::new(hook));
        self
    }

    /// Replaces the value of every JSON object member named in `fields`, at any depth, by
    /// `"[redacted]"`. A body that is not JSON is replaced whole, since we cannot tell what is
    /// in it.
    pub fn with_json_fields(self, fields: &[&str]) -> Self {
        let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        self.with_body(move |body| redact_json_fields(body, &fields))
    }

    fn header(&self, name: &str, value: &str) -> String {
        if self.headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            REDACTED.to_owned()
        } else {
            value.to_owned()
        }
    }

    fn body(&self, body: &str) -> String {
        match &self.body {
            Some(hook) => hook(body),
            None => body.to_owned(),
        }
    }

    fn headers_json<'a>(&self, headers: impl IntoIterator<Item = (&'a str, String)>) -> Value {
        let mut map = Map::new();
        for (name, value) in headers {
            let value = self.header(name, &value);
            let key = name.to_ascii_lowercase();
            // A repeated header keeps all its values, as HTTP would join them.
            let joined = match map.remove(&key) {
                Some(Value::String(before)) => format!("{before}, {value}"),
                _ => value,
            };
            map.insert(key, Value::String(joined));
        }
        Value::Object(map)
    }
}

impl std::fmt::Debug for Redaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redaction")
            .field("headers", &self.headers)
            .field("body_hook", &self.body.is_some())
            .finish()
    }
}

fn redact_json_fields(body: &str, fields: &[String]) -> String {
    fn walk(value: &mut Value, fields: &[String]) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if fields.iter().any(|f| f == key) {
                        *v = Value::String(REDACTED.to_owned());
                    } else {
                        walk(v, fields);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, fields)),
            _ => {}
        }
    }
    if body.is_empty() {
        return String::new();
    }
    match serde_json::from_str::<Value>(body) {
        Ok(mut value) => {
            walk(&mut value, fields);
            value.to_string()
        }
        Err(_) => REDACTED.to_owned(),
    }
}

/// One request, already signed.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// `pay`, `query`, `close`, `refund`, `refund_query`, … (a snake_case token).
    pub operation: &'static str,
    pub method: reqwest::Method,
    pub url: String,
    /// Sent as given, signature included; kept redacted.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes to send (and that were signed); `None` sends no body.
    pub body: Option<String>,
}

/// The provider's HTTP answer (status and body; the headers are in the draft, redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// The body as text (invalid UTF-8 replaced), unredacted, for the adapter to read.
    pub body: String,
    /// The response's headers, unredacted, for an adapter that verifies a signature in them
    /// (WeChat Pay's `Wechatpay-*`); the exchange log keeps the redacted copy in the draft.
    pub headers: reqwest::header::HeaderMap,
}

/// How the HTTP part of a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpEnd {
    /// A complete response arrived.
    Answered(HttpAnswer),
    /// No complete answer within the timeout.
    TimedOut { error: String },
    /// The connection failed: refused, reset, closed without an answer (`IncompleteMessage`), or
    /// the body broke off.
    TransportFailed { error: String },
    /// The body went on past `limit` bytes and was cut there: whatever the provider did with the
    /// request is unknown.
    Cut { limit: usize, error: String },
}

/// A sent request: how it ended, and the record to finish once the adapter has read the answer.
#[derive(Debug)]
pub struct Sent {
    pub end: HttpEnd,
    pub draft: ExchangeDraft,
}

/// An exchange record still missing its outcome and unified code, which only the adapter can
/// decide. Everything in it is already redacted.
#[derive(Debug, Clone)]
pub struct ExchangeDraft {
    provider: &'static str,
    operation: &'static str,
    request_method: String,
    request_url: String,
    request_headers: Value,
    request_body: Option<String>,
    response_status: Option<u16>,
    response_headers: Option<Value>,
    response_body: Option<String>,
    latency_us: i64,
    error: Option<String>,
    started_at: DateTime<Utc>,
}

impl ExchangeDraft {
    /// The record of a request that was never sent (the adapter refused it locally), so that the
    /// attempt still appears in the exchange log.
    pub fn not_sent(
        provider: &'static str,
        operation: &'static str,
        method: &str,
        url: &str,
        why: &str,
    ) -> Self {
        Self {
            provider,
            operation,
            request_method: method.to_owned(),
            request_url: url.to_owned(),
            request_headers: Value::Object(Map::new()),
            request_body: None,
            response_status: None,
            response_headers: None,
            response_body: None,
            latency_us: 0,
            error: Some(format!("not sent: {why}")),
            started_at: Utc::now(),
        }
    }

    /// The finished record. `error` adds to a transport error already recorded, if any.
    pub fn finish(
        self,
        outcome: ExchangeOutcome,
        code: Option<&MappedCode>,
        error: Option<String>,
    ) -> Exchange {
        let error = match (self.error, error) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        Exchange {
            provider: self.provider,
            operation: self.operation,
            request_method: self.request_method,
            request_url: self.request_url,
            request_headers: self.request_headers,
            request_body: self.request_body,
            response_status: self.response_status,
            response_headers: self.response_headers,
            response_body: self.response_body,
            latency_us: self.latency_us,
            outcome,
            error,
            unified_code: code.map(|c| c.unified.as_str().to_owned()),
            started_at: self.started_at,
        }
    }
}

/// An HTTP client for one provider: its timeout and its redaction rules. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    provider: &'static str,
    client: reqwest::Client,
    redaction: Redaction,
    max_body: usize,
}

impl ProviderHttp {
    /// A client whose every request (connect, send, and reading the whole answer) ends after
    /// `timeout`.
    pub fn new(
        provider: &'static str,
        timeout: Duration,
        redaction: Redaction,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { provider, client, redaction, max_body: MAX_RESPONSE_BODY })
    }

    /// The same client reading at most `bytes` of an answer (default [`MAX_RESPONSE_BODY`]).
    #[must_use]
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The most bytes of an answer this client reads.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The redacted record of `request` so far, and the request ready to send.
    fn prepare(&self, request: OutboundRequest) -> (ExchangeDraft, reqwest::RequestBuilder) {
        let draft = ExchangeDraft {
            provider: self.provider,
            operation: request.operation,
            request_method: request.method.as_str().to_owned(),
            request_url: request.url.clone(),
            request_headers: self
                .redaction
                .headers_json(request.headers.iter().map(|(n, v)| (n.as_str(), v.clone()))),
            request_body: request.body.as_deref().map(|b| self.redaction.body(b)),
            response_status: None,
            response_headers: None,
            response_body: None,
            latency_us: 0,
            error: None,
            started_at: Utc::now(),
        };
        let mut builder = self.client.request(request.method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        (draft, builder)
    }

    /// Sends `request` once. Never retries: whether a retry is safe is the caller's decision.
    pub async fn send(&self, request: OutboundRequest) -> Sent {
        let started = Instant::now();
        let (mut draft, builder) = self.prepare(request);

        let end =
            match builder.send().await {
                Err(e) => failure(&e),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    draft.response_status = Some(status);
                    draft.response_headers =
                        Some(self.redaction.headers_json(
                            response.headers().iter().map(|(n, v)| {
                                (n.as_str(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                            }),
                        ));
                    match read_capped(response, self.max_body).await {
                        Ok(Capped::Whole(body)) => {
                            draft.response_body = Some(self.redaction.body(&body));
                            HttpEnd::Answered(HttpAnswer { status, body, headers })
                        }
                        Ok(Capped::Cut(part)) => {
                            draft.response_body = Some(self.redaction.body(&part));
                            HttpEnd::Cut { limit: self.max_body, error: cut_error(self.max_body) }
                        }
                        Err(e) => failure(&e),
                    }
                }
            };
        draft.latency_us = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
        if let HttpEnd::TimedOut { error } | HttpEnd::TransportFailed { error } | HttpEnd::Cut { error, .. } =
            &end
        {
            draft.error = Some(error.clone());
        }
        Sent { end, draft }
    }
}

/// A download whose body the caller reads itself, chunk by chunk (bills, settlements).
#[derive(Debug)]
pub struct Opened {
    /// The response with its body unread, or how the request ended without one.
    pub response: Result<reqwest::Response, HttpEnd>,
    /// The record so far (request, status, headers, latency to the headers); the body is never
    /// kept: [`ExchangeDraft::summarise_body`] says what it was.
    pub draft: ExchangeDraft,
}

impl ExchangeDraft {
    /// Records `summary` in place of a response body that was streamed and not kept.
    pub fn summarise_body(mut self, summary: impl Into<String>) -> Self {
        self.response_body = Some(summary.into());
        self
    }

    /// The HTTP status, if an answer arrived.
    pub fn response_status(&self) -> Option<u16> {
        self.response_status
    }
}

impl ProviderHttp {
    /// A client for long downloads: `timeout` bounds connecting and each wait for the next bytes,
    /// not the whole transfer (a big bill may take minutes).
    pub fn for_downloads(
        provider: &'static str,
        timeout: Duration,
        redaction: Redaction,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder().connect_timeout(timeout).read_timeout(timeout).build()?;
        Ok(Self { provider, client, redaction, max_body: MAX_RESPONSE_BODY })
    }

    /// Sends `request` once and returns as soon as the response head is in, leaving the body to
    /// the caller ([`reqwest::Response::chunk`]).
    pub async fn open(&self, request: OutboundRequest) -> Opened {
        let started = Instant::now();
        let (mut draft, builder) = self.prepare(request);
        let response =
            match builder.send().await {
                Err(e) => Err(failure(&e)),
                Ok(response) => {
                    draft.response_status = Some(response.status().as_u16());
                    draft.response_headers =
                        Some(self.redaction.headers_json(
                            response.headers().iter().map(|(n, v)| {
                                (n.as_str(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                            }),
                        ));
                    Ok(response)
                }
            };
        draft.latency_us = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
        if let Err(HttpEnd::TimedOut { error } | HttpEnd::TransportFailed { error }) = &response {
            draft.error = Some(error.clone());
        }
        Opened { response, draft }
    }
}

/// A body read up to a limit, as text (invalid UTF-8 replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capped {
    /// The whole body, within the limit.
    Whole(String),
    /// The first `limit` bytes: the body went on, and the rest was not read.
    Cut(String),
}

/// Reads `response`'s body chunk by chunk, stopping at `limit` bytes: an endless body is never
/// buffered. Dropping the response after a cut closes the connection.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Capped, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok(Capped::Cut(String::from_utf8_lossy(&body).into_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Capped::Whole(String::from_utf8_lossy(&body).into_owned()))
}

/// What the exchange log says of a body cut at `limit`.
pub fn cut_error(limit: usize) -> String {
    format!("response body cut: longer than the limit of {limit} bytes; the rest was not read")
}

/// Classifies a reqwest error: a timeout, or anything else that broke the connection.
fn failure(e: &reqwest::Error) -> HttpEnd {
    let error = error_chain(e);
    if e.is_timeout() { HttpEnd::TimedOut { error } } else { HttpEnd::TransportFailed { error } }
}

/// The error and its sources, `outer: inner: innermost`, so `IncompleteMessage` or "connection
/// refused" is visible rather than only "error sending request".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A request body as JSON. Adapters' request bodies are plain structs of strings and integers,
/// whose serialisation cannot fail.
pub fn json_body<B: serde::Serialize>(body: &B) -> String {
    serde_json::to_string(body).expect("a provider request body of strings and integers serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_headers_are_redacted_whatever_their_case() {
        let r = Redaction::headers(&["X-Signature"]);
        let json = r.headers_json([("x-signature", "abc".to_owned()), ("X-Other", "keep".to_owned())]);
        assert_eq!(json, serde_json::json!({"x-signature": REDACTED, "x-other": "keep"}));
    }

    #[test]
    fn json_fields_are_redacted_at_any_depth() {
        let r = Redaction::default().with_json_fields(&["cardNumber"]);
        let out = r.body(r#"{"a":1,"card":{"cardNumber":"4111111111111111"},"list":[{"cardNumber":5}]}"#);
        assert!(!out.contains("4111"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 2, "{out}");
        assert_eq!(r.body("not json"), REDACTED);
    }

    #[test]
    fn bodies_are_kept_without_a_hook() {
        assert_eq!(Redaction::headers(&[]).body("{\"x\":1}"), "{\"x\":1}");
    }

    /// Real providers are reached over https only: an `https://` URL opens a TLS handshake (the
    /// first bytes on the wire are a TLS handshake record, 0x16 0x03), never plain HTTP and
    /// never "scheme is not http" (a client built without a TLS backend). The listener answers
    /// nothing, so the call ends as a transport failure after its ClientHello was seen.
    #[tokio::test]
    async fn an_https_url_is_spoken_to_over_tls() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("its address").port();
        let seen = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("the client connects");
            let mut first = [0u8; 2];
            socket.read_exact(&mut first).await.expect("the client speaks first");
            first
        });
        let http =
            ProviderHttp::new("tls_test", Duration::from_secs(5), Redaction::default()).expect("a client");
        let request = OutboundRequest {
            operation: "query",
            method: reqwest::Method::GET,
            url: format!("https://127.0.0.1:{port}/v1/x"),
            headers: Vec::new(),
            body: None,
        };
        let sent = http.send(request).await;
        let end = format!("{:?}", sent.end);
        assert!(!end.contains("scheme is not http"), "the client has a TLS backend: {end}");
        let first = tokio::time::timeout(Duration::from_secs(5), seen)
            .await
            .expect("the client connected")
            .expect("the listener ran");
        assert_eq!(first, [0x16, 0x03], "a TLS handshake record");
    }
}
