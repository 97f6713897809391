//! W3C trace context carried in the envelope, so one trace follows a payment across services.
//!
//! [`TraceContext::current`] injects the current tracing span's OpenTelemetry context (through
//! `tracing-opentelemetry`) with the W3C [`TraceContextPropagator`]; a consumer calls
//! [`TraceContext::set_parent_of`] on the span it opens for the delivery. Without an OpenTelemetry
//! layer in the subscriber there is no context: injection yields `None`s and extraction does
//! nothing, which is fine.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::envelope::headers;

/// The `traceparent` and `tracestate` of the span that created a message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The context of the current tracing span.
    pub fn current() -> Self {
        Self::of_span(&tracing::Span::current())
    }

    /// The context of `span`.
    pub fn of_span(span: &tracing::Span) -> Self {
        Self::from_otel(&span.context())
    }

    /// The W3C form of an OpenTelemetry context (`None`s if it has no valid span).
    pub fn from_otel(cx: &opentelemetry::Context) -> Self {
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(cx, &mut carrier);
        Self {
            traceparent: carrier.remove(headers::TRACEPARENT).filter(|s| !s.is_empty()),
            tracestate: carrier.remove(headers::TRACESTATE).filter(|s| !s.is_empty()),
        }
    }

    /// The trace id, as the 32 hex digits of the `traceparent` (`None` without one).
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent.as_deref()?.split('-').nth(1).filter(|id| id.len() == 32)
    }

    /// This context if it is in `cause`'s trace (or `cause` has none), else `cause`'s: a message
    /// made because of another stays in that message's trace, even when it was made under a span
    /// that is not (a batch's span starts a trace of its own; so does no span at all).
    #[must_use]
    pub fn within(self, cause: &TraceContext) -> Self {
        match cause.trace_id() {
            Some(theirs) if self.trace_id() != Some(theirs) => cause.clone(),
            _ => self,
        }
    }

    /// The OpenTelemetry context this trace context describes (empty if none, or if malformed).
    pub fn to_otel(&self) -> opentelemetry::Context {
        let mut carrier = HashMap::new();
        if let Some(tp) = &self.traceparent {
            carrier.insert(headers::TRACEPARENT.to_owned(), tp.clone());
        }
        if let Some(ts) = &self.tracestate {
            carrier.insert(headers::TRACESTATE.to_owned(), ts.clone());
        }
        TraceContextPropagator::new().extract(&carrier)
    }

    /// Makes this context the parent of `span`, which must not have been entered yet. Does
    /// nothing when there is no context or no OpenTelemetry layer.
    pub fn set_parent_of(&self, span: &tracing::Span) {
        if self.traceparent.is_none() {
            return;
        }
        if let Err(e) = span.set_parent(self.to_otel()) {
            tracing::trace!(error = %e, "trace context not applied");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn without_an_otel_layer_there_is_no_context() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("no otel");
            let _g = span.enter();
            assert_eq!(TraceContext::current(), TraceContext::default());
            TraceContext::default().set_parent_of(&tracing::info_span!("child"));
        });
    }

    #[test]
    fn a_message_stays_in_its_causes_trace() {
        let tc = |tp: &str| TraceContext { traceparent: Some(tp.to_owned()), tracestate: None };
        let cause = tc("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let same_trace = tc("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
        let other_trace = tc("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(cause.trace_id(), Some("0af7651916cd43dd8448eb211c80319c"));
        assert_eq!(same_trace.clone().within(&cause), same_trace);
        assert_eq!(other_trace.within(&cause), cause);
        assert_eq!(TraceContext::default().within(&cause), cause);
        assert_eq!(same_trace.clone().within(&TraceContext::default()), same_trace);
    }

    #[test]
    fn a_span_context_round_trips_through_the_envelope() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let producer = tracing::info_span!("produce");
            let sent = {
                let _g = producer.enter();
                crate::broker::envelope::Envelope::new("t", "k", ())
            };
            let tp = sent.trace.traceparent.clone().expect("a traceparent");
            assert!(tp.starts_with("00-"), "{tp}");
            let producer_trace = producer.context().span().span_context().trace_id();

            // The consumer side: the JSON body is all it has.
            let body = sent.to_json().unwrap();
            let received: crate::broker::envelope::Envelope<()> =
                crate::broker::envelope::Envelope::from_json(&body).unwrap();
            let consumer = tracing::info_span!("consume");
            received.trace.set_parent_of(&consumer);
            let consumer_cx = consumer.context();
            let consumer_span = consumer_cx.span();
            let sc = consumer_span.span_context();
            assert_eq!(sc.trace_id(), producer_trace);
            assert_ne!(sc.span_id(), producer.context().span().span_context().span_id());
            assert_eq!(TraceContext::of_span(&consumer).traceparent.unwrap()[3..35], tp[3..35]);
        });
    }
}
