//! `POST /notify/{provider}/{trade no}`: a provider's signed notification; and
//! `POST /notify/{provider}`, the same for a provider whose webhook URL is fixed per account and
//! cannot carry our trade number (Stripe: one endpoint URL for every event): there the trade
//! number is the one the verified body names, and there is no path to check it against.
//!
//! In order, each step's refusal a clear 4xx whose raw request is kept (`rejected`, with the
//! reason) and counted (`paygate_notifications_rejected_total{provider, reason}`):
//! 1. the provider is configured (404 `unknown_provider`);
//! 2. the body is at most `NOTIFY_BODY_LIMIT_BYTES` (413 `body_too_large`; kept truncated) and has
//!    one of the provider's content types (415 `unsupported_media_type`);
//! 3. the signature verifies, in constant time, and the timestamp is inside the window (401
//!    `bad_signature`, `stale_timestamp`, `missing_header`); the body parses (400
//!    `malformed_body`, naming the field) and names the URL's trade number (400 `path_mismatch`);
//! 4. the order (and refund) exists (404 `unknown_order`, `unknown_refund`); it is stored in the
//!    inbox in the same statement, de-duplicated on the provider's notification id;
//! 5. `order.notification` is published to the order's shard with a publisher confirm.
//!
//! Only then is the answer the provider's acknowledgement. If the database or the broker is down
//! (or does not answer within `NOTIFY_CONFIRM_TIMEOUT_MS`) the answer is 503 in the provider's failure format, so that it retries; nothing is lost. A
//! row left `received` (the provider gave up retrying, or the forward was dead-lettered) is
//! forwarded again by the compensation scheduler's sweep of undecided notifications. Every
//! forward of one notification carries the same message id (`OrderWork::stable_message_id`). A
//! duplicate of a notification still undecided is forwarded again (the first forward may have
//! failed; the dispatcher ignores a row already decided), one already decided is acknowledged.

use super::{AppState, payment_id_of, truncated};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use paygate::messages::orders::OrderWork;
use paygate::providers::notification::{Acknowledgement, content_type_accepted};
use paygate::providers::{NotificationVerifier, RejectReason};
use paygate::store::notifications::{self, Received, Rejected, Status, Stored};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// The longest trade number or provider name kept from a request's path.
const MAX_PATH_PART: usize = 128;

pub async fn handle(
    State(app): State<Arc<AppState>>,
    Path((provider, trade_no)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(app, provider, Some(trade_no), headers, body).await
}

/// `POST /notify/{provider}`: the trade number is the verified body's.
pub async fn handle_fixed(
    State(app): State<Arc<AppState>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(app, provider, None, headers, body).await
}

async fn receive(
    app: Arc<AppState>,
    provider: String,
    path_trade_no: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (body, too_large) = read_limited(body, app.body_limit).await;
    let path_part = path_trade_no.clone().unwrap_or_default();
    let raw = Raw { provider: &provider, trade_no: &path_part, headers: headers_json(&headers), body: &body };
    let Some((name, verifier)) = app.verifier(&provider) else {
        return reject(
            &app,
            None,
            &raw,
            RejectReason::UnknownProvider(truncated(&provider, 64).to_owned()),
            started,
        )
        .await;
    };
    if !verifier.has_webhook() {
        let reason = RejectReason::NoWebhook(name.to_owned());
        return reject(&app, Some((name, verifier)), &raw, reason, started).await;
    }
    if too_large {
        return reject(
            &app,
            Some((name, verifier)),
            &raw,
            RejectReason::BodyTooLarge { limit: app.body_limit },
            started,
        )
        .await;
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type_accepted(content_type, verifier.content_types()) {
        let reason = RejectReason::UnsupportedMediaType {
            expected: verifier.content_types().join(", "),
            got: truncated(content_type, 64).to_owned(),
        };
        return reject(&app, Some((name, verifier)), &raw, reason, started).await;
    }
    let notification = match verifier.verify(&headers, &body, chrono::Utc::now()) {
        Ok(n) => n,
        Err(reason) => return reject(&app, Some((name, verifier)), &raw, reason, started).await,
    };
    let trade_no = match path_trade_no {
        Some(trade_no) if notification.trade_no != trade_no => {
            let reason = RejectReason::PathMismatch {
                field: "orderId",
                expected: truncated(&trade_no, MAX_PATH_PART).to_owned(),
                got: notification.trade_no.clone(),
            };
            return reject(&app, Some((name, verifier)), &raw, reason, started).await;
        }
        Some(trade_no) => trade_no,
        None => notification.trade_no.clone(),
    };
    let Some(payment_id) = payment_id_of(&trade_no) else {
        return reject(
            &app,
            Some((name, verifier)),
            &raw,
            RejectReason::UnknownOrder(trade_no.clone()),
            started,
        )
        .await;
    };
    let refund_id = match &notification.refund_trade_no {
        None => None,
        Some(refund) => match payment_id_of(refund) {
            Some(id) => Some(id),
            None => {
                let reason =
                    RejectReason::UnknownRefund { trade_no: trade_no.clone(), refund: refund.clone() };
                return reject(&app, Some((name, verifier)), &raw, reason, started).await;
            }
        },
    };
    let body_text = String::from_utf8_lossy(&body);
    let received = Received {
        provider: name,
        notification_id: &notification.notification_id,
        payment_id,
        refund_id,
        merchant_trade_no: &trade_no,
        headers: &raw.headers,
        body: &body_text,
    };
    let stored = match store(&app, &received).await {
        Ok(stored) => stored,
        Err(e) => {
            return unavailable(
                &app,
                name,
                verifier,
                &format!("storing the notification failed: {e}"),
                started,
            );
        }
    };
    let (id, outcome) = match stored {
        Stored::New { id } => (id, "stored"),
        Stored::Duplicate { status: Status::Received, id } => (id, "duplicate"),
        Stored::Duplicate { .. } => {
            app.metrics.outcome(name, "duplicate", started.elapsed());
            return answer(verifier.acknowledgement());
        }
        Stored::UnknownOrder => {
            return reject(
                &app,
                Some((name, verifier)),
                &raw,
                RejectReason::UnknownOrder(trade_no.clone()),
                started,
            )
            .await;
        }
        Stored::UnknownRefund => {
            let refund = notification.refund_trade_no.clone().unwrap_or_default();
            let reason = RejectReason::UnknownRefund { trade_no: trade_no.clone(), refund };
            return reject(&app, Some((name, verifier)), &raw, reason, started).await;
        }
    };
    let work = OrderWork::Notification { payment_id, notification_id: id };
    if let Err(e) = app.publisher.forward(&work).await {
        app.metrics.forward_failed(name);
        return unavailable(
            &app,
            name,
            verifier,
            &format!("forwarding the notification failed: {e}"),
            started,
        );
    }
    tracing::debug!(provider = name, %payment_id, notification = id, outcome, "notification stored and forwarded");
    app.metrics.outcome(name, outcome, started.elapsed());
    answer(verifier.acknowledgement())
}

async fn store(app: &AppState, received: &Received<'_>) -> Result<Stored, String> {
    let stored = async {
        let mut conn = app.db.acquire().await?;
        notifications::store_received(&mut conn, received).await
    };
    match tokio::time::timeout(app.store_timeout, stored).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer from the database within {:?}", app.store_timeout)),
    }
}

/// The request as received, for the inbox.
struct Raw<'a> {
    provider: &'a str,
    trade_no: &'a str,
    headers: Value,
    body: &'a [u8],
}

/// Keeps a refused request and answers it with the reason's 4xx. If it cannot be kept (the
/// database is down) the answer is 503, so that a genuine sender tries again.
async fn reject(
    app: &AppState,
    provider: Option<(&'static str, &dyn NotificationVerifier)>,
    raw: &Raw<'_>,
    reason: RejectReason,
    started: Instant,
) -> Response {
    let label = provider.map_or("unknown", |(name, _)| name);
    let text = reason.to_string();
    let body = String::from_utf8_lossy(raw.body);
    let rejected = Rejected {
        provider: provider.map_or_else(|| truncated(raw.provider, 64), |(name, _)| name),
        merchant_trade_no: Some(truncated(raw.trade_no, MAX_PATH_PART)),
        payment_id: payment_id_of(raw.trade_no),
        headers: &raw.headers,
        body: &body,
        reason: &text,
    };
    let kept = async {
        let mut conn = app.db.acquire().await.map_err(|e| e.to_string())?;
        notifications::store_rejected(&mut conn, &rejected).await.map_err(|e| e.to_string())
    };
    let kept = tokio::time::timeout(app.store_timeout, kept)
        .await
        .unwrap_or_else(|_| Err(format!("no answer from the database within {:?}", app.store_timeout)));
    if let Err(e) = kept {
        tracing::error!(provider = label, reason = %text, error = %e, "could not keep a refused notification");
        let message = format!("refused ({text}), and keeping the evidence failed");
        return match provider {
            Some((name, verifier)) => unavailable(app, name, verifier, &message, started),
            None => (StatusCode::SERVICE_UNAVAILABLE, message).into_response(),
        };
    }
    tracing::warn!(provider = label, trade_no = %rejected.merchant_trade_no.unwrap_or(""), reason = %text, "notification refused");
    app.metrics.rejected(label, reason.token());
    app.metrics.outcome(label, "rejected", started.elapsed());
    let status = reason.http_status();
    match provider {
        Some((_, verifier)) => answer(verifier.failure(status, &text)),
        None => {
            let body = serde_json::json!({"error": reason.token(), "message": text}).to_string();
            answer(Acknowledgement { status, content_type: "application/json", body })
        }
    }
}

fn unavailable(
    app: &AppState,
    name: &'static str,
    verifier: &dyn NotificationVerifier,
    message: &str,
    started: Instant,
) -> Response {
    tracing::warn!(provider = name, error = message, "notification not taken; the provider will retry");
    app.metrics.outcome(name, "unavailable", started.elapsed());
    answer(verifier.failure(503, "temporarily unavailable; retry later"))
}

fn answer(ack: Acknowledgement) -> Response {
    let status = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response()
}

/// Reads at most `limit` bytes of the body. Returns the bytes read (cut at `limit`) and whether
/// there was more. A body that breaks off is taken as far as it came (it will not verify).
async fn read_limited(body: Body, limit: usize) -> (Vec<u8>, bool) {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        if out.len() + chunk.len() > limit {
            let room = limit - out.len();
            out.extend_from_slice(&chunk[..room]);
            return (out, true);
        }
        out.extend_from_slice(&chunk);
    }
    (out, false)
}

/// The headers as a JSON object, name → value (repeated headers joined with `, `). The signing
/// secret never travels in a request, so nothing here is secret; signatures are kept as
/// evidence.
fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match map.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                map.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    Value::Object(map)
}
