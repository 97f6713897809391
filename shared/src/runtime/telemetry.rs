//! Logging and tracing for a service: `tracing` with a text or JSON formatter, filtered by
//! `RUST_LOG` (default `info`), and an OpenTelemetry layer so that every span has a W3C trace
//! context that messages carry across services (see `broker::trace_context`).
//!
//! No exporter is configured here: spans get real trace and span ids, and the context travels in
//! the AMQP headers; shipping spans to a collector is a deployment choice for later.

use super::config::LogFormat;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber and the W3C propagator. Call once, first thing in `main`.
/// Calling it again (as tests that build several applications do) is harmless.
pub fn init(service: &'static str, format: LogFormat) {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer(service);
    opentelemetry::global::set_tracer_provider(provider);

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
}
