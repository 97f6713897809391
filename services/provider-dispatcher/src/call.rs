//! A provider call, made while the dispatcher holds nothing: no transaction, no row lock, no
//! pooled connection (docs/architecture.md, "A provider call holds nothing").
//!
//! A piece of work plans its call under the order's lock ([`crate::plan`]): it takes a
//! [`Pass`] from the provider's bulkhead, and commits the attempt if the call may move money (a
//! pay or refund sent is `pending` or `submitted` before it leaves). Then [`Planned::make`] calls
//! the provider, logs the raw exchange (committed on its own, `exchange_log`), tells the
//! provider's breaker how the call ended, and hands the [`Answered`] call back for the work to
//! apply in its transaction.

use crate::bulkhead::Pass;
use crate::deps::Deps;
use crate::fault_points;
use crate::order::WorkError;
use paygate::domain::Currency;
use paygate::domain::Money;
use paygate::providers::adapter::{RefundRef, TradeRef, trade_no};
use paygate::providers::exchange::{Exchange, ExchangeOutcome};
use paygate::providers::{
    CallOutcome, CaptureRequest, PayRequest, PaymentFacts, ProviderAdapter, RefundFacts, RefundRequest,
    ReversalFacts,
};
use std::sync::Arc;
use tracing::Instrument;
use uuid::Uuid;

/// What a piece of work asks its provider.
#[derive(Debug, Clone)]
pub enum Call {
    /// Send the payment. `repeat`: the attempt was committed by an earlier delivery, which may
    /// have sent it already (the call carries the same trade number).
    Pay { request: Box<PayRequest>, repeat: bool },
    /// Ask about the payment.
    Query,
    /// Close the unpaid payment at the provider.
    Close,
    /// Capture an authorised payment (`work::capture`), `repeat` as for a pay.
    Capture { request: CaptureRequest, repeat: bool },
    /// Void (release) an authorised payment (`work::void`), `repeat` as for a pay.
    Void { repeat: bool },
    /// Reverse a barcode payment that did not finish in time: the provider closes it if unpaid,
    /// refunds it in full if paid (`work::reverse`).
    Reverse,
    /// Send the refund, `repeat` as for a pay. `since`: the refund's version before this plan
    /// moved it (its events count from there), for a first send.
    Refund { refund_id: Uuid, request: RefundRequest, repeat: bool, since: Option<i64> },
    /// Ask about one of the payment's refunds: its amount and the provider's refund id, as our
    /// row has them, go with the question ([`RefundRef`]).
    RefundQuery { refund_id: Uuid, amount: Money, provider_refund_id: Option<String> },
}

impl Call {
    /// The operation's name at the provider, as the exchange log and the metrics say it.
    pub fn operation(&self) -> &'static str {
        match self {
            Call::Pay { .. } => "pay",
            Call::Query => "query",
            Call::Close => "close",
            Call::Capture { .. } => "capture",
            Call::Void { .. } => "void",
            Call::Reverse => "reverse",
            Call::Refund { .. } => "refund",
            Call::RefundQuery { .. } => "refund_query",
        }
    }

    /// Whether the call may move money (and so commits its attempt first; a reversal's attempt
    /// is the payment's `reversal_sent` flag, `work::reverse`).
    pub fn moves_money(&self) -> bool {
        matches!(
            self,
            Call::Pay { .. } | Call::Refund { .. } | Call::Reverse | Call::Capture { .. } | Call::Void { .. }
        )
    }
}

/// What the provider answered, for the work to apply.
#[derive(Debug, Clone)]
pub enum Answered {
    /// To a pay, query, close, capture or void.
    Payment { called: CallOutcome<PaymentFacts>, repeat: bool },
    /// To a reversal.
    Reversal { called: CallOutcome<ReversalFacts> },
    /// To a refund or refund query (`since` as in [`Call::Refund`]).
    Refund { refund_id: Uuid, called: CallOutcome<RefundFacts>, repeat: bool, since: Option<i64> },
}

/// A call ready to be made: what to ask, of whom, for which payment, with the bulkhead's leave.
pub struct Planned {
    pub call: Call,
    pub payment_id: Uuid,
    pub currency: Currency,
    /// The payment as our row knows it, for the provider's query and close
    /// ([`ProviderAdapter::query_trade`]).
    pub trade: TradeRef,
    pub adapter: Arc<dyn ProviderAdapter>,
    pub pass: Pass,
}

impl Planned {
    /// Makes the call (holding nothing but the bulkhead's pass), logs its exchange and returns
    /// the answer. A failure to log is an error: the work is retried rather than an exchange
    /// going unrecorded, and its attempt, already committed, makes the retry ask again under
    /// the same idempotency key.
    pub async fn make(self, deps: &Deps) -> Result<Answered, WorkError> {
        let Planned { call, payment_id, currency, trade: trade_ref, adapter, pass } = self;
        let trade = trade_no(payment_id);
        let span = call_span(adapter.name(), call.operation());
        let (answered, (earlier, exchange)) = async {
            match &call {
                Call::Pay { request, repeat } => {
                    let called = adapter.pay(request).await;
                    (
                        Answered::Payment { called: called.outcome, repeat: *repeat },
                        (called.earlier, called.exchange),
                    )
                }
                Call::Query => {
                    let called = adapter.query_trade(&trade_ref).await;
                    (
                        Answered::Payment { called: called.outcome, repeat: false },
                        (called.earlier, called.exchange),
                    )
                }
                Call::Close => {
                    let called = adapter.close_trade(&trade_ref).await;
                    (
                        Answered::Payment { called: called.outcome, repeat: false },
                        (called.earlier, called.exchange),
                    )
                }
                Call::Capture { request, repeat } => {
                    let called = adapter.capture(request).await;
                    (
                        Answered::Payment { called: called.outcome, repeat: *repeat },
                        (called.earlier, called.exchange),
                    )
                }
                Call::Void { repeat } => {
                    let called = adapter.void(&trade, currency).await;
                    (
                        Answered::Payment { called: called.outcome, repeat: *repeat },
                        (called.earlier, called.exchange),
                    )
                }
                Call::Reverse => {
                    let called = adapter.reverse(&trade, currency).await;
                    (Answered::Reversal { called: called.outcome }, (called.earlier, called.exchange))
                }
                Call::Refund { refund_id, request, repeat, since } => {
                    let called = adapter.refund(request).await;
                    let (refund_id, repeat, since) = (*refund_id, *repeat, *since);
                    let answered = Answered::Refund { refund_id, called: called.outcome, repeat, since };
                    (answered, (called.earlier, called.exchange))
                }
                Call::RefundQuery { refund_id, amount, provider_refund_id } => {
                    let refund = RefundRef {
                        trade_no: trade.clone(),
                        refund_trade_no: trade_no(*refund_id),
                        amount: *amount,
                        provider_refund_id: provider_refund_id.clone(),
                    };
                    let called = adapter.refund_query_ref(&refund).await;
                    let answered = Answered::Refund {
                        refund_id: *refund_id,
                        called: called.outcome,
                        repeat: false,
                        since: None,
                    };
                    (answered, (called.earlier, called.exchange))
                }
            }
        }
        .instrument(span.clone())
        .await;
        record_outcome(&span, &exchange);
        drop(span); // the client span is the call, not the logging after it
        let refund_id = match &answered {
            Answered::Refund { refund_id, .. } => Some(*refund_id),
            Answered::Payment { .. } | Answered::Reversal { .. } => None,
        };
        // A provider that asked for a wait (Retry-After) gets it: its breaker opens that long.
        match exchange.retry_after(chrono::Utc::now()) {
            Some(wait) => pass.back_off(wait),
            None => pass.record(!matches!(
                &answered,
                Answered::Payment { called: CallOutcome::Unknown { .. }, .. }
                    | Answered::Reversal { called: CallOutcome::Unknown { .. } }
                    | Answered::Refund { called: CallOutcome::Unknown { .. }, .. }
            )),
        }
        for made in earlier.iter().chain(std::iter::once(&exchange)) {
            deps.metrics.call(made);
            deps.exchanges.record(payment_id, refund_id, made).await.map_err(WorkError::ExchangeLog)?;
        }
        if call.moves_money() {
            fault_points::reached(fault_points::AFTER_PROVIDER_CALL);
        }
        Ok(answered)
    }
}

/// The client span around a provider call: which provider, which operation; how it ended is
/// recorded by [`record_outcome`]. Nothing of the request or the answer (bodies, signatures,
/// URLs with merchant ids) goes on it: the exchange log holds those, redacted.
fn call_span(provider: &str, operation: &'static str) -> tracing::Span {
    tracing::info_span!(
        "provider_call",
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        provider = provider,
        operation = operation,
        outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        unified_code = tracing::field::Empty,
    )
}

/// Records on `span` how the call `exchange` logs ended.
fn record_outcome(span: &tracing::Span, exchange: &Exchange) {
    span.record("outcome", exchange.outcome.as_str());
    if let Some(status) = exchange.response_status {
        span.record("http.response.status_code", i64::from(status));
    }
    if let Some(code) = &exchange.unified_code {
        span.record("unified_code", code.as_str());
    }
    if matches!(
        exchange.outcome,
        ExchangeOutcome::Error | ExchangeOutcome::Timeout | ExchangeOutcome::TransportError
    ) {
        span.record("otel.status_code", "ERROR");
    }
}
