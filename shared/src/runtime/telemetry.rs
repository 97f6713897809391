//! Logging and tracing for a service: `tracing` with a text or JSON formatter, filtered by
//! `RUST_LOG` (default `info`), and an OpenTelemetry layer so that every span has a W3C trace
//! context that messages carry across services (see `broker::trace_context`).
//!
//! Spans leave the process when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! see [`super::trace_export`]); without one they still get real trace and span ids and the
//! context still travels in the AMQP headers, but nothing is exported. [`Telemetry::shutdown`]
//! sends what is still queued before the process exits.

use super::config::LogFormat;
use super::trace_export::ExportSettings;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How long [`Telemetry::shutdown`] waits for the last spans to be sent: a collector that does
/// not answer must not hold the process.
pub const FLUSH_BOUND: Duration = Duration::from_secs(5);

/// The tracer provider a service runs with; shut it down on the way out.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting_to: Option<String>,
}

/// Installs the global subscriber and the W3C propagator, and an OTLP exporter if the
/// environment names an endpoint. Call once, first thing in `main`, on the tokio runtime.
/// Calling it again (as tests that build several applications do) is harmless.
pub fn init(service: &'static str, format: LogFormat) -> Telemetry {
    init_with(service, format, ExportSettings::from_env(service))
}

/// [`init`] with the export settings given (`None`: nothing is exported).
pub fn init_with(service: &'static str, format: LogFormat, export: Option<ExportSettings>) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let (telemetry, export_error) = Telemetry::build(export);
    let tracer = telemetry.provider.tracer(service);
    opentelemetry::global::set_tracer_provider(telemetry.provider.clone());

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_current_span(true).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
    // Said after the subscriber is installed, so that it is seen; never fatal: the service runs
    // without exporting rather than not at all.
    match (&telemetry.exporting_to, export_error) {
        (Some(endpoint), _) => tracing::info!(%endpoint, "exporting spans over OTLP/HTTP"),
        (None, Some((endpoint, error))) => {
            tracing::warn!(%endpoint, %error, "spans cannot be exported: the exporter did not build")
        }
        (None, None) => {}
    }
    telemetry
}

impl Telemetry {
    /// The tracer provider for `export`, and why it does not export if it should but cannot
    /// (endpoint, error).
    fn build(export: Option<ExportSettings>) -> (Self, Option<(String, String)>) {
        let mut builder = SdkTracerProvider::builder();
        let (mut exporting_to, mut export_error) = (None, None);
        if let Some(settings) = &export {
            let resource = Resource::builder().with_service_name(settings.service_name.clone()).build();
            builder = builder.with_resource(resource);
            match settings.processor() {
                Ok(processor) => {
                    builder = builder.with_span_processor(processor);
                    exporting_to = Some(settings.endpoint_for_logs());
                }
                Err(e) => export_error = Some((settings.endpoint_for_logs(), e)),
            }
        }
        (Self { provider: builder.build(), exporting_to }, export_error)
    }

    /// Where spans are exported, if anywhere (credentials left out).
    pub fn exporting_to(&self) -> Option<&str> {
        self.exporting_to.as_deref()
    }

    /// Sends the spans still queued and stops the exporter, waiting at most [`FLUSH_BOUND`].
    /// Nothing to do when nothing is exported.
    pub async fn shutdown(self) {
        if self.exporting_to.is_none() {
            return;
        }
        // The SDK blocks the calling thread until the batch task has answered: off the runtime's
        // workers, so that the task can run.
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_BOUND));
        match tokio::time::timeout(FLUSH_BOUND, done).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the last spans may not have been exported"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the last spans may not have been exported"),
            Err(_) => tracing::warn!(bound = ?FLUSH_BOUND, "the last spans were not exported in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer as _};

    #[tokio::test]
    async fn without_an_endpoint_nothing_is_exported_and_shutdown_is_immediate() {
        let (telemetry, error) = Telemetry::build(None);
        assert_eq!((telemetry.exporting_to(), error), (None, None));
        // Spans still get valid ids: the context travels even when nothing leaves the process.
        let span = telemetry.provider.tracer("t").start("work");
        assert!(span.span_context().is_valid());
        drop(span);
        tokio::time::timeout(Duration::from_millis(100), telemetry.shutdown())
            .await
            .expect("nothing to flush");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_collector_that_is_down_neither_fails_nor_holds_the_service() {
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let settings =
            ExportSettings { endpoint: format!("http://{closed}/v1/traces"), service_name: "t".into() };
        let (telemetry, error) = Telemetry::build(Some(settings));
        assert_eq!(error, None);
        assert_eq!(telemetry.exporting_to(), Some(format!("http://{closed}/v1/traces").as_str()));
        let started = std::time::Instant::now();
        let tracer = telemetry.provider.tracer("t");
        for _ in 0..100 {
            drop(tracer.start("work"));
        }
        tokio::time::timeout(FLUSH_BOUND + Duration::from_secs(1), telemetry.shutdown())
            .await
            .expect("shutdown is bounded");
        assert!(started.elapsed() < FLUSH_BOUND + Duration::from_secs(1));
    }
}
