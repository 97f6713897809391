//! Where spans leave the process: an OTLP exporter (HTTP, protobuf) behind a batch span
//! processor on the tokio runtime, configured by the standard OpenTelemetry variables and off
//! when no endpoint is given.
//!
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL spans are posted to, used as is;
//! - else `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL, `/v1/traces` appended;
//! - neither (or empty): nothing is exported, which is the default;
//! - `OTEL_SERVICE_NAME`: the `service.name` resource attribute, the binary's name by default.
//!
//! The exporter's other standard variables (`OTEL_EXPORTER_OTLP_TIMEOUT`, `…_HEADERS`,
//! `…_COMPRESSION`) are read by `opentelemetry-otlp` itself.
//!
//! Exporting never touches the money path: a finished span is handed to the batch processor's
//! bounded queue without waiting (dropped if the queue is full), and the batch is posted from a
//! task of its own. An export that fails is said once at `warn` and again only after an export
//! has succeeded (see [`Reporting`]).

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// The standard variable naming the traces endpoint in full.
pub const TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The standard variable naming the collector's base URL.
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard variable naming the service.
pub const SERVICE_NAME_VAR: &str = "OTEL_SERVICE_NAME";
/// The path OTLP/HTTP receivers take traces on, under the base URL.
const TRACES_PATH: &str = "/v1/traces";

/// Where to export spans, and under which service name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// The URL the spans are posted to.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
}

impl ExportSettings {
    /// The settings the process environment describes, or `None` when no endpoint is set.
    pub fn from_env(service: &str) -> Option<Self> {
        Self::from_lookup(service, |name| std::env::var(name).ok())
    }

    /// The settings `lookup` (a variable's value by name) describes, or `None` when no endpoint
    /// is set. `service` is the service name unless `OTEL_SERVICE_NAME` says otherwise.
    pub fn from_lookup(service: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let set = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let endpoint = set(TRACES_ENDPOINT_VAR).or_else(|| {
            set(ENDPOINT_VAR).map(|base| format!("{}{TRACES_PATH}", base.trim_end_matches('/')))
        })?;
        let service_name = set(SERVICE_NAME_VAR).unwrap_or_else(|| service.to_owned());
        Some(Self { endpoint, service_name })
    }

    /// The endpoint without any user or password it names, for logs.
    pub fn endpoint_for_logs(&self) -> String {
        let Some((scheme, rest)) = self.endpoint.split_once("://") else { return self.endpoint.clone() };
        let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        match authority.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://[redacted]@{host}{tail}"),
            None => self.endpoint.clone(),
        }
    }

    /// The batch span processor exporting to [`ExportSettings::endpoint`] over OTLP/HTTP with
    /// protobuf bodies. Must be called on the tokio runtime the batches are to be sent from.
    pub fn processor(&self) -> Result<BatchSpanProcessor<runtime::Tokio>, String> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.endpoint.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let exporter = Reporting::new(exporter, self.endpoint_for_logs());
        Ok(BatchSpanProcessor::builder(exporter, runtime::Tokio).build())
    }
}

/// An exporter that says when exporting starts failing (once, at `warn`) and when it works
/// again (at `info`), and nothing in between: a collector that is down does not flood the logs.
#[derive(Debug)]
pub struct Reporting<E> {
    inner: E,
    endpoint: String,
    failing: AtomicBool,
}

impl<E> Reporting<E> {
    pub fn new(inner: E, endpoint: String) -> Self {
        Self { inner, endpoint, failing: AtomicBool::new(false) }
    }

    /// Notes how an export ended; says so if that changes whether exports fail.
    fn note(&self, result: &OTelSdkResult) {
        match result {
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(endpoint = %self.endpoint, error = %e,
                        "spans cannot be exported: they are dropped until the collector answers (said once)");
                }
            }
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint, "spans are exported again");
                }
            }
        }
    }

    /// Whether the last export failed.
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.note(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Option<ExportSettings> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ExportSettings::from_lookup("ingest", |name| vars.get(name).cloned())
    }

    #[test]
    fn no_endpoint_means_no_export() {
        assert_eq!(settings(&[]), None);
        assert_eq!(settings(&[(ENDPOINT_VAR, ""), (TRACES_ENDPOINT_VAR, "  ")]), None);
        assert_eq!(settings(&[(SERVICE_NAME_VAR, "gateway")]), None);
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_used_as_is() {
        let base = settings(&[(ENDPOINT_VAR, "http://jaeger:4318/")]).unwrap();
        assert_eq!(base.endpoint, "http://jaeger:4318/v1/traces");
        assert_eq!(base.service_name, "ingest");
        let full = settings(&[
            (ENDPOINT_VAR, "http://jaeger:4318"),
            (TRACES_ENDPOINT_VAR, "http://collector:9999/custom"),
            (SERVICE_NAME_VAR, "ingest-eu"),
        ])
        .unwrap();
        assert_eq!(full.endpoint, "http://collector:9999/custom");
        assert_eq!(full.service_name, "ingest-eu");
    }

    #[test]
    fn credentials_in_the_endpoint_stay_out_of_logs() {
        let s = settings(&[(TRACES_ENDPOINT_VAR, "https://user:pw@collector:4318/v1/traces")]).unwrap();
        assert_eq!(s.endpoint_for_logs(), "https://[redacted]@collector:4318/v1/traces");
        let plain = settings(&[(TRACES_ENDPOINT_VAR, "http://collector:4318/v1/traces?a=b@c")]).unwrap();
        assert_eq!(plain.endpoint_for_logs(), "http://collector:4318/v1/traces?a=b@c");
    }

    /// An exporter that fails or succeeds as told.
    #[derive(Debug)]
    struct Scripted(AtomicBool);

    impl SpanExporter for Scripted {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            if self.0.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure("refused".into()))
            }
        }
    }

    #[tokio::test]
    async fn failures_are_noted_until_an_export_succeeds() {
        let reporting = Reporting::new(Scripted(AtomicBool::new(false)), "http://x".into());
        assert!(reporting.export(Vec::new()).await.is_err());
        assert!(reporting.failing());
        assert!(reporting.export(Vec::new()).await.is_err());
        assert!(reporting.failing());
        reporting.inner.0.store(true, Ordering::Relaxed);
        assert!(reporting.export(Vec::new()).await.is_ok());
        assert!(!reporting.failing());
    }
}
