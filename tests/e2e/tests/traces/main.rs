//! Traces that leave the process: the services run as processes exporting over OTLP/HTTP to a
//! receiver in this test, and one payment's spans — ingest's, the dispatcher's and its provider
//! call — form one trace under the upstream's `traceparent`, linked across RabbitMQ, with the
//! event back out in it too. A collector that is down costs the money path nothing, and what is
//! still queued at a graceful shutdown is sent before the process exits.

mod otlp_receiver;

use otlp_receiver::{OtlpReceiver, ReceivedSpan};
use paygate::broker::envelope::Envelope;
use paygate::broker::trace_context::TraceContext;
use paygate_e2e::system::pay_command;
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::{eventually, eventually_some};
use std::time::Duration;
use uuid::Uuid;

const WITHIN: Duration = Duration::from_secs(60);
/// OTLP's `SpanKind` for a client span.
const CLIENT: i32 = 3;

/// Services as processes exporting to `endpoint`, batches sent soon after their spans end (the
/// default waits 5 s).
fn exporting_to(endpoint: &str) -> SystemOptions {
    SystemOptions {
        processes: true,
        service_env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ],
        ..SystemOptions::default()
    }
}

/// A pay command for `order` sent under the upstream span `00-{trace_id}-{span_id}-01`.
async fn pay_traced(system: &System, order: &str, trace_id: &str, span_id: &str) {
    let mut command = Envelope::new("command.pay", order, pay_command(order, "12.34", "direct"));
    command.trace =
        TraceContext { traceparent: Some(format!("00-{trace_id}-{span_id}-01")), tracestate: None };
    system.upstream.send(command).await;
}

/// `span` and its exported ancestors, nearest first, and the parent id the chain leaves the
/// exported spans at (the upstream's span, for a complete chain).
fn ancestry<'a>(
    span: &'a ReceivedSpan,
    spans: &'a [ReceivedSpan],
) -> (Vec<&'a ReceivedSpan>, Option<String>) {
    let mut chain = vec![span];
    let mut parent = span.parent_span_id.clone();
    while let Some(id) = &parent {
        let Some(up) = spans.iter().find(|s| &s.span_id == id) else { break };
        if chain.len() > spans.len() {
            panic!("a parent cycle in {spans:#?}");
        }
        chain.push(up);
        parent = up.parent_span_id.clone();
    }
    (chain, parent)
}

/// Whether `chain` (nearest first) goes from a dispatcher span straight to an ingest span: the
/// link that crossed the orders exchange.
fn crosses_from_ingest_to_the_dispatcher(chain: &[&ReceivedSpan]) -> bool {
    chain.windows(2).any(|w| w[0].service == "provider-dispatcher" && w[1].service == "ingest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_payment_from_the_upstream_through_the_provider_call_and_back() {
    let receiver = OtlpReceiver::start().await;
    let system = System::with(exporting_to(receiver.endpoint())).await;
    let trace_id = Uuid::new_v4().simple().to_string();
    let upstream_span = Uuid::new_v4().simple().to_string()[..16].to_owned();
    pay_traced(&system, "o-traced", &trace_id, &upstream_span).await;
    system.wait_for("o-traced", "payment.succeeded", WITHIN).await;

    // The event back out carries the trace, from a span of the dispatcher's work.
    let event = system
        .upstream
        .events()
        .into_iter()
        .find(|e| e.message_type == "payment.succeeded" && e.payload["merchant_order_no"] == "o-traced")
        .expect("the event envelope");
    assert_eq!(event.trace.trace_id(), Some(trace_id.as_str()), "the event is in the payment's trace");
    let event_parent = event.trace.traceparent.as_deref().unwrap().split('-').nth(2).unwrap().to_owned();

    // Spans arrive in batches, from two processes: wait until the chains are whole.
    let spans = eventually_some(
        "the payment's spans, from the provider call and the event to the upstream",
        WITHIN,
        || async {
            let spans: Vec<ReceivedSpan> =
                receiver.spans().into_iter().filter(|s| s.trace_id == trace_id).collect();
            let call = spans
                .iter()
                .find(|s| s.name == "provider_call" && s.attribute("operation") == Some("pay"))?;
            let event_span = spans.iter().find(|s| s.span_id == event_parent)?;
            let whole = |span: &ReceivedSpan| {
                let (chain, left_at) = ancestry(span, &spans);
                left_at.as_deref() == Some(upstream_span.as_str())
                    && crosses_from_ingest_to_the_dispatcher(&chain)
            };
            (whole(call) && whole(event_span)).then_some(spans.clone())
        },
    )
    .await;

    // Ingest's span for the command is the upstream span's child.
    let ingest = spans
        .iter()
        .find(|s| s.service == "ingest" && s.parent_span_id.as_deref() == Some(upstream_span.as_str()))
        .unwrap_or_else(|| panic!("an ingest span under the upstream's: {spans:#?}"));
    assert_eq!(ingest.name, "handle_message");
    assert_eq!(ingest.attribute("message_type"), Some("command.pay"));

    // The provider call: a client span of the dispatcher, naming the provider and the outcome,
    // and nothing of the request.
    let call = spans.iter().find(|s| s.name == "provider_call").unwrap();
    assert_eq!(call.service, "provider-dispatcher");
    assert_eq!(call.kind, CLIENT, "{call:#?}");
    assert_eq!(call.attribute("provider"), Some("mockpay"));
    assert_eq!(call.attribute("operation"), Some("pay"));
    assert_eq!(call.attribute("outcome"), Some("ok"));
    assert_eq!(call.attribute("http.response.status_code"), Some("200"));
    let (chain, _) = ancestry(call, &spans);
    assert!(
        chain.iter().any(|s| s.span_id == ingest.span_id),
        "the call's ancestry reaches ingest's span: {chain:#?}"
    );
    for s in &spans {
        for (key, value) in &s.attributes {
            assert!(!value.contains(paygate_e2e::system::MOCKPAY_SECRET), "a secret in {}.{key}", s.name);
        }
    }

    // Every span of the trace came from a service that says its name.
    assert!(spans.iter().all(|s| s.service == "ingest" || s.service == "provider-dispatcher"), "{spans:#?}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_costs_the_money_path_nothing() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut system = System::with(exporting_to(&format!("http://{closed}"))).await;
    let trace_id = Uuid::new_v4().simple().to_string();
    pay_traced(&system, "o-untraced", &trace_id, &Uuid::new_v4().simple().to_string()[..16]).await;
    system.wait_for("o-untraced", "payment.succeeded", WITHIN).await;

    // The failure is said, once, and the dispatcher still stops cleanly and promptly.
    let said = |output: Vec<String>| output.iter().filter(|l| l.contains("spans cannot be exported")).count();
    eventually("the dispatcher to say its spans cannot be exported", WITHIN, || async {
        said(system.dispatcher_process(0).output()) > 0
    })
    .await;
    system.pay("o-untraced-2", "1.00", "direct").await;
    system.wait_for("o-untraced-2", "payment.succeeded", WITHIN).await;
    let started = std::time::Instant::now();
    system.stop_dispatcher(0).await;
    assert!(started.elapsed() < Duration::from_secs(15), "stopping took {:?}", started.elapsed());
    assert_eq!(said(system.dispatcher_process(0).output()), 1, "said once, however many exports fail");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spans_still_queued_leave_at_a_graceful_shutdown() {
    let receiver = OtlpReceiver::start().await;
    let mut options = exporting_to(receiver.endpoint());
    // Batches would wait ten minutes: only the shutdown's flush can send them in this test.
    for (key, value) in &mut options.service_env {
        if key == "OTEL_BSP_SCHEDULE_DELAY" {
            *value = "600000".into();
        }
    }
    let mut system = System::with(options).await;
    let trace_id = Uuid::new_v4().simple().to_string();
    pay_traced(&system, "o-flushed", &trace_id, &Uuid::new_v4().simple().to_string()[..16]).await;
    system.wait_for("o-flushed", "payment.succeeded", WITHIN).await;
    let of_the_payment =
        |spans: Vec<ReceivedSpan>| spans.into_iter().filter(|s| s.trace_id == trace_id).count();
    assert_eq!(of_the_payment(receiver.spans()), 0, "nothing is sent before a batch is due");

    system.stop_dispatcher(0).await;
    eventually("the dispatcher's queued spans to arrive after its shutdown", WITHIN, || async {
        receiver.spans().iter().any(|s| {
            s.trace_id == trace_id && s.service == "provider-dispatcher" && s.name == "provider_call"
        })
    })
    .await;
    system.stop().await;
}
