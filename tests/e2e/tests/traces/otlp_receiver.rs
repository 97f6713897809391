//! A small OTLP/HTTP receiver for the trace tests: accepts `POST /v1/traces` with a protobuf
//! `ExportTraceServiceRequest`, as a collector would, and keeps every span it was sent, flattened
//! with its service's name, for the test to look at.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The protobuf content type of OTLP/HTTP.
const PROTOBUF: &str = "application/x-protobuf";

/// One span as received, ids in lower-case hex.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The `service.name` of the resource it came with.
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    /// OTLP's `SpanKind` (3: client).
    pub kind: i32,
    /// Every attribute, its value as text.
    pub attributes: BTreeMap<String, String>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

type Received = Arc<Mutex<Vec<ReceivedSpan>>>;

/// The receiver, serving until dropped.
pub struct OtlpReceiver {
    base: String,
    spans: Received,
    server: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Listens on a free local port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let spans = Received::default();
        let app = Router::new().route("/v1/traces", post(receive)).with_state(spans.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the receiver serves");
        });
        Self { base, spans, server }
    }

    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` should say to send spans here.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(spans): State<Received>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<([(header::HeaderName, &'static str); 1], Vec<u8>), (StatusCode, String)> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if content_type != Some(PROTOBUF) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected {PROTOBUF}, got {content_type:?}"),
        ));
    }
    let request =
        ExportTraceServiceRequest::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| attributes(&r.attributes)).unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(ReceivedSpan {
                service: service.clone(),
                trace_id: hex::encode(&span.trace_id),
                span_id: hex::encode(&span.span_id),
                parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex::encode(&span.parent_span_id)),
                name: span.name,
                kind: span.kind,
                attributes: attributes(&span.attributes),
            });
        }
    }
    spans.lock().unwrap().extend(received);
    Ok(([(header::CONTENT_TYPE, PROTOBUF)], ExportTraceServiceResponse::default().encode_to_vec()))
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map(text).unwrap_or_default())).collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
