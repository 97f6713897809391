//! What happens to an API call on the wire: in-flight duplicates (1198, 1145), latency, and the
//! injected timeouts, HTTP 500s, refusals, lagging records and lost responses.
//!
//! A timeout holds the request for `timeoutHoldMs` without processing it, then drops the
//! connection. A lost response processes and commits the request, then does the same. An
//! HTTP 500 answers `9000` without processing anything.

use crate::app::App;
use crate::codes::ReturnCode;
use crate::wire::envelope::respond;
use axum::response::Response;
use simkit::{Operation, TransportFault, dropped_response as dropped};
use std::time::Duration;

/// Which idempotency keys a call occupies and which it must wait for.
pub(crate) struct Guard {
    /// Held while the call is processed; a second call with it gets 1198.
    pub key: Option<String>,
    /// If this key is being processed, the call gets 1145 (e.g. a close during the pay).
    pub blocked_by: Option<String>,
}

impl Guard {
    pub fn none() -> Guard {
        Guard { key: None, blocked_by: None }
    }
}

/// The in-flight key of a pay request.
pub(crate) fn pay_key(merchant_id: &str, order_id: &str) -> String {
    format!("pay/{merchant_id}/{order_id}")
}

/// Runs `exec` (the flow, already parsed) under the transport faults for `op`.
pub(crate) async fn run(
    app: &App,
    op: Operation,
    merchant_id: &str,
    order_id: Option<&str>,
    guard: Guard,
    exec: impl FnOnce() -> (ReturnCode, Response),
) -> Response {
    let in_flight = match guard.key {
        Some(key) => match app.enter(key) {
            Some(g) => Some(g),
            None => {
                return answer(
                    app,
                    op,
                    ReturnCode::DuplicateInProgress,
                    "a request with the same id is in progress",
                );
            }
        },
        None => None,
    };
    if guard.blocked_by.is_some_and(|b| app.is_in_flight(&b)) {
        return answer(app, op, ReturnCode::PaymentInProcess, "the payment is being processed; try again");
    }
    let decision = app.faults().transport(op, merchant_id, order_id);
    if !app.sleep(decision.latency).await {
        return dropped();
    }
    match decision.fault {
        Some(TransportFault::Timeout) => {
            drop(in_flight);
            app.stats().request(op.as_str(), "timeout");
            return hold_and_drop(app).await;
        }
        Some(TransportFault::Http500) => {
            app.stats().request(op.as_str(), "http_500");
            return respond::<()>(ReturnCode::InternalError, None, None);
        }
        Some(TransportFault::HeaderError) => {
            return answer(app, op, ReturnCode::HeaderError, "scripted: header or signature error");
        }
        Some(TransportFault::NotFound) => {
            return answer(app, op, ReturnCode::NoSuchTransaction, "scripted: no such transaction (yet)");
        }
        Some(TransportFault::InProcess) => {
            return answer(app, op, ReturnCode::PaymentInProcess, "scripted: the payment is being processed");
        }
        _ => {}
    }
    let (code, response) = exec();
    drop(in_flight);
    if decision.fault == Some(TransportFault::LostResponse) {
        app.stats().request(op.as_str(), "lost_response");
        return hold_and_drop(app).await;
    }
    app.stats().request(op.as_str(), code.code());
    response
}

/// Answers a code without running anything (and counts it).
pub(crate) fn answer(app: &App, op: Operation, code: ReturnCode, message: impl Into<String>) -> Response {
    app.stats().request(op.as_str(), code.code());
    respond::<()>(code, Some(message.into()), None)
}

async fn hold_and_drop(app: &App) -> Response {
    app.kit.hold_and_drop(Duration::from_millis(app.settings().timeout_hold_ms)).await
}
