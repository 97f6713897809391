//! The one path of every write of the HTTP API: the body becomes the same command an upstream
//! would publish (the key's merchant as its `merchant_id`), parsed by the commands' own parser
//! and applied by `crate::commands::apply` (the AMQP handler's function), in one transaction
//! with the `Idempotency-Key` when there is one. The work goes out through the outbox, as a
//! command's does; the relay is woken once it commits.
//!
//! A refusal is answered with its code (a rule broken: 422; the order not found: 404; a number
//! reused with other parameters: 409; a state that does not allow it: 409); it emits no
//! `command.rejected` event: the caller has the answer.

use super::ApiState;
use super::auth::Caller;
use super::codes::{self, ApiCode};
use super::idempotency::{self, Began};
use super::response::{Answer, Body, db_error};
use super::views::{PaymentView, RefundView};
use crate::commands::{self, CommandOutcome, Context, RejectionKind};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use paygate::broker::envelope::Envelope;
use paygate::domain::ValidationError;
use paygate::messages::commands::Command;
use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use paygate::store::refunds::Refund;
use serde_json::{Map, Value};
use sqlx::PgConnection;

/// A write as a route hands it over.
pub struct Write<'a> {
    /// The command it is (`command.pay`, …).
    pub message_type: &'static str,
    /// `POST` and the path as signed, for the Idempotency-Key's fingerprint.
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    /// Fields taken from the path (`merchant_order_no`, `refund_no`), put into the command.
    pub path_fields: Vec<(&'static str, String)>,
    /// What the answer shows once the command is accepted.
    pub shows: Shows,
}

/// What a write's answer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shows {
    /// The payment the command names (`merchant_order_no`).
    Payment,
    /// The refund the command names (`refund_no`).
    Refund,
}

/// How a write ended.
pub struct Written {
    pub answer: Answer,
    /// The command was new and accepted (not a repeat, a replay or a refusal).
    pub accepted_new: bool,
    /// The payment or refund number the command named, when it parsed.
    pub number: Option<String>,
}

/// The body as a JSON object with the key's merchant and the path's fields, or why not.
pub(crate) fn payload(caller: &Caller, write: &Write<'_>) -> Result<Value, (ApiCode, ValidationError)> {
    let mut object: Map<String, Value> = if write.body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(write.body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err((codes::MALFORMED, ValidationError::new("body", "must be a JSON object")));
            }
            Err(e) => {
                return Err((codes::MALFORMED, ValidationError::new("body", format!("must be JSON ({e})"))));
            }
        }
    };
    let merchant = caller.merchant_id.as_str();
    match object.get("merchant_id") {
        None => {}
        Some(Value::String(m)) if m == merchant => {}
        Some(_) => {
            let rule = format!("must be left out, or be the API key's merchant {merchant}");
            return Err((codes::INVALID_FIELD, ValidationError::new("merchant_id", rule)));
        }
    }
    object.insert("merchant_id".into(), Value::String(merchant.to_owned()));
    for (name, value) in &write.path_fields {
        if let Some(sent) = object.get(*name)
            && sent != &Value::String(value.clone())
        {
            let rule = "must be left out of the body, or be the same as in the path".to_owned();
            return Err((codes::INVALID_FIELD, ValidationError::new(*name, rule)));
        }
        object.insert((*name).to_owned(), Value::String(value.clone()));
    }
    Ok(Value::Object(object))
}

fn rejection_code(kind: RejectionKind) -> ApiCode {
    match kind {
        RejectionKind::Invalid => codes::INVALID_FIELD,
        RejectionKind::NotFound => codes::NOT_FOUND,
        RejectionKind::IdempotencyConflict => codes::IDEMPOTENCY_CONFLICT,
        RejectionKind::WrongState => codes::WRONG_STATE,
    }
}

/// Runs `write` for `caller`.
pub async fn run(state: &ApiState, caller: &Caller, headers: &HeaderMap, write: Write<'_>) -> Written {
    let refused = |answer: Answer| Written { answer, accepted_new: false, number: None };
    let idempotency_key = match headers.get(idempotency::HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => match idempotency::parse_key(v) {
            Ok(k) => Some(k),
            Err(e) => return refused(Answer::refused(codes::INVALID_FIELD, &e)),
        },
        Some(Err(_)) => {
            let e = ValidationError::new("Idempotency-Key", "must be printable ASCII");
            return refused(Answer::refused(codes::INVALID_FIELD, &e));
        }
    };
    let payload = match payload(caller, &write) {
        Ok(p) => p,
        Err((code, error)) => return refused(Answer::refused(code, &error)),
    };
    let command = match Command::parse(write.message_type, payload.clone()) {
        Ok(c) => c,
        Err(e) => return refused(Answer::refused(codes::INVALID_FIELD, &e)),
    };
    let number = match (&command, write.shows) {
        (Command::Pay(c), Shows::Payment) => c.merchant_order_no.as_str().to_owned(),
        (Command::Close(c) | Command::Void(c), Shows::Payment) => c.merchant_order_no.as_str().to_owned(),
        (Command::Capture(c), Shows::Payment) => c.merchant_order_no.as_str().to_owned(),
        (Command::Refund(c), Shows::Refund) => c.refund_no.as_str().to_owned(),
        (Command::ApproveRefund(c) | Command::RejectRefund(c), Shows::Refund) => {
            c.refund_no.as_str().to_owned()
        }
        _ => {
            return refused(Answer::internal(
                "route the request",
                &"a route shows what its command does not name",
            ));
        }
    };
    let order_key = format!("{}:{}", caller.merchant_id.as_str(), number);
    let request_id = format!("http-{}", uuid::Uuid::now_v7());
    let cause = Envelope::new(write.message_type, order_key, payload).with_correlation_id(request_id.clone());

    let result = async {
        let mut tx = state.db.begin().await?;
        if let Some(key) = &idempotency_key {
            let fingerprint = idempotency::fingerprint(write.method, write.path, write.body);
            match idempotency::begin(&mut tx, caller.merchant_id.as_str(), key, &fingerprint).await? {
                Began::New => {}
                Began::Replay { status, body } => {
                    tx.commit().await?;
                    return Ok::<_, sqlx::Error>(Ok((replayed(status, body), false)));
                }
                Began::Conflict => {
                    tx.rollback().await?;
                    let e = ValidationError::new(
                        "Idempotency-Key",
                        "was used before for another request (another method, path or body)",
                    );
                    return Ok(Ok((Answer::refused(codes::IDEMPOTENCY_CONFLICT, &e), false)));
                }
            }
        }
        let ctx = Context { topology: &state.topology, providers: &state.providers, cause: &cause };
        let outcome = match commands::apply(&mut tx, &ctx, &command).await {
            Ok(o) => o,
            Err(e) => return Ok(Err(Answer::internal("apply the command", &e))),
        };
        let (answer, accepted_new) = match &outcome {
            CommandOutcome::Rejected(r) => {
                tracing::info!(
                    command = write.message_type,
                    merchant = caller.merchant_id.as_str(),
                    field = r.error.field(),
                    rule = r.error.rule(),
                    "command refused over HTTP"
                );
                (Answer::refused(rejection_code(r.kind), &r.error), false)
            }
            CommandOutcome::Accepted | CommandOutcome::Duplicate => {
                let code = if outcome == CommandOutcome::Accepted { codes::ACCEPTED } else { codes::OK };
                match show(&mut tx, caller, write.shows, &number).await {
                    Ok(Some(data)) => (Answer::data(code, data), outcome == CommandOutcome::Accepted),
                    Ok(None) => {
                        return Ok(Err(Answer::internal("read back what it wrote", &"the row is missing")));
                    }
                    Err(e) => return Ok(Err(Answer::internal("read back what it wrote", &e))),
                }
            }
        };
        if let Some(key) = &idempotency_key {
            idempotency::save(&mut tx, caller.merchant_id.as_str(), key, answer.code.status, &answer.body)
                .await?;
        }
        tx.commit().await?;
        // Counted once committed, as the AMQP handler's are (a failed commit is not a command done).
        state.metrics.count(write.message_type, outcome.label());
        Ok(Ok((answer, accepted_new)))
    };
    // The correlation id every event of the command's work carries (`Request-Id`).
    let request_id_header = |answer: Answer| match HeaderValue::from_str(&request_id) {
        Ok(v) => answer.with_header(HeaderName::from_static("request-id"), v),
        Err(_) => answer,
    };
    match result.await {
        Ok(Ok((answer, accepted_new))) => {
            // Whatever committed may have put work in the outbox (a repeat queues a report).
            state.relay_waker.notify_one();
            Written { answer: request_id_header(answer), accepted_new, number: Some(number) }
        }
        Ok(Err(answer)) => refused(request_id_header(answer)),
        Err(e) => refused(db_error(e)),
    }
}

/// The answer a request with a used Idempotency-Key gets: the first one's, marked.
fn replayed(status: u16, body: Body) -> Answer {
    let code =
        codes::ALL.into_iter().find(|c| c.name == body.code && c.status == status).unwrap_or(codes::INTERNAL);
    Answer { code, body, headers: Vec::new() }
        .with_header(HeaderName::from_static("idempotent-replayed"), HeaderValue::from_static("true"))
}

/// The payment or refund `number` of `caller`, as its view.
pub async fn show(
    conn: &mut PgConnection,
    caller: &Caller,
    shows: Shows,
    number: &str,
) -> Result<Option<Value>, paygate::store::StoreError> {
    let merchant = caller.merchant_id.as_str();
    let view = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
    Ok(match shows {
        Shows::Payment => Payment::find_by_number(conn, merchant, number)
            .await?
            .map(|p| view(serde_json::to_value(PaymentView::of(&p)))),
        Shows::Refund => Refund::find_by_number(conn, merchant, number)
            .await?
            .map(|r| view(serde_json::to_value(RefundView::of(&r)))),
    })
}
