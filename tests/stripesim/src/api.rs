//! Stripe's API as the simulator serves it: PaymentIntents (create, retrieve, search, confirm,
//! cancel), Refunds (create, retrieve, list), and the customer's 3-D Secure page. Each request
//! is authenticated (`Authorization: Bearer <secret key>`), its transport fault drawn (simkit),
//! its `Idempotency-Key` honoured (POST), processed under the ledger's lock, and its events sent
//! once the lock is released.
//!
//! Idempotency (Stripe's reference): the first answer to a key is saved once the endpoint starts
//! executing, errors and 500s included; the same key with the same endpoint and parameters
//! answers the saved one (`Idempotent-Replayed: true`), with anything else
//! `400 idempotency_error`. A request refused before it executes (authentication, a simulated
//! 500 or timeout) saves nothing. Keys are never pruned here (Stripe prunes after 24 h).

use crate::app::App;
use crate::cards::{self, CardOutcome};
use crate::model::{PaymentError, PaymentIntent, PiStatus, Refund, RefundStatus, Saved};
use crate::webhook;
use crate::wire::{self, Answer, respond};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use simkit::stats::Event;
use simkit::{Operation, RefundFate, TransportFault};
use std::time::{Duration, Instant};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/search", get(search))
        .route("/v1/payment_intents/{id}", get(retrieve_intent))
        .route("/v1/payment_intents/{id}/confirm", post(confirm_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/payment_intents/{id}/capture", post(capture_intent))
        .route("/v1/refunds", post(create_refund).get(list_refunds))
        .route("/v1/refunds/{id}", get(retrieve_refund))
        .route("/3ds/{id}", get(three_d_secure))
}

/// An event to send once the ledger's lock is released.
pub(crate) struct Pending {
    kind: &'static str,
    trade_no: String,
    refund_no: Option<String>,
    object: Value,
}

pub(crate) fn send_all(app: &App, events: Vec<Pending>) {
    for e in events {
        webhook::send(app, e.kind, &e.trade_no, e.refund_no.as_deref(), e.object);
    }
}

type Outcome = (Answer, Vec<Pending>);

/// One API request: authenticated, its fault drawn, idempotency applied, processed by `f`.
async fn serve(
    app: &App,
    op: Operation,
    endpoint: &str,
    headers: &HeaderMap,
    params: Vec<(String, String)>,
    order_of: impl FnOnce(&App, &[(String, String)]) -> Option<String>,
    f: impl FnOnce(&App, &[(String, String)]) -> Outcome,
) -> Response {
    let key = wire::bearer(headers);
    if key.as_deref() == Some(app.publishable_key.as_str()) {
        // Stripe: a publishable key may only confirm (with the client secret) and tokenise.
        let answer = wire::publishable_key_refused();
        app.kit.stats().request(op.as_str(), &answer.outcome());
        return respond(answer);
    }
    if key.as_deref() != Some(app.secret_key.as_str()) {
        let answer = wire::bad_key(key.as_deref());
        app.kit.stats().request(op.as_str(), &answer.outcome());
        return respond(answer);
    }
    let order = order_of(app, &params);
    let decision = app.kit.faults().transport(op, &app.account, order.as_deref());
    if !app.kit.sleep(decision.latency).await {
        return simkit::dropped_response();
    }
    let hold = Duration::from_millis(app.settings().timeout_hold_ms);
    let early = match decision.fault {
        Some(TransportFault::Timeout) => {
            app.kit.stats().request(op.as_str(), "timeout");
            return app.kit.hold_and_drop(hold).await;
        }
        Some(TransportFault::Http500) => {
            Some(Answer::error(500, "api_error", None, "An unknown error occurred (simulated)", None))
        }
        Some(TransportFault::HeaderError) => Some(wire::bad_key(Some("simulated"))),
        Some(TransportFault::NotFound) => {
            Some(Answer::missing("object", order.as_deref().unwrap_or(""), "id"))
        }
        Some(TransportFault::InProcess) => Some(Answer::error(
            429,
            "invalid_request_error",
            Some("rate_limit"),
            "Too many requests hit the API too quickly (simulated).",
            None,
        )),
        Some(TransportFault::LostResponse) | None => None,
    };
    if let Some(answer) = early {
        app.kit.stats().request(op.as_str(), &answer.outcome());
        let rate_limited = answer.status == 429;
        let mut response = respond(answer);
        // Stripe's libraries honour Retry-After on a 429; the simulator sends it when set.
        let retry_after = app.settings().rate_limit_retry_after_secs;
        if rate_limited && retry_after > 0 {
            response.headers_mut().insert("Retry-After", axum::http::HeaderValue::from(retry_after));
        }
        return response;
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|k| !k.is_empty());
    let answer = match idempotency_key {
        Some(k) if k.len() > 255 => {
            Answer::invalid(None, "Idempotency-Key must be at most 255 characters", None)
        }
        Some(k) => {
            let saved = app.ledger().idempotency.get(&k).cloned();
            match saved {
                Some(s) if s.endpoint == endpoint && s.params == params => Answer {
                    status: s.status,
                    body: serde_json::from_str(&s.body).unwrap_or(Value::Null),
                    replayed: true,
                },
                Some(_) => Answer::error(
                    400,
                    "idempotency_error",
                    None,
                    &format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."
                    ),
                    None,
                ),
                None => {
                    let (answer, events) = f(app, &params);
                    app.ledger().idempotency.insert(
                        k,
                        Saved {
                            endpoint: endpoint.to_owned(),
                            params: params.clone(),
                            status: answer.status,
                            body: answer.body.to_string(),
                        },
                    );
                    send_all(app, events);
                    answer
                }
            }
        }
        None => {
            let (answer, events) = f(app, &params);
            send_all(app, events);
            answer
        }
    };
    if decision.fault == Some(TransportFault::LostResponse) {
        app.kit.stats().request(op.as_str(), "lost_response");
        return app.kit.hold_and_drop(hold).await;
    }
    app.kit.stats().request(op.as_str(), &answer.outcome());
    respond(answer)
}

fn body_pairs(body: &Bytes) -> Vec<(String, String)> {
    wire::pairs(&String::from_utf8_lossy(body))
}

fn trade_no_of_intent(app: &App, id: &str) -> Option<String> {
    app.ledger().intents.get(id).map(|p| p.trade_no().to_owned())
}

async fn create_intent(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let params = body_pairs(&body);
    serve(
        &app,
        Operation::Pay,
        "POST /v1/payment_intents",
        &headers,
        params,
        |_, p| wire::get(p, "metadata[trade_no]").map(str::to_owned),
        create,
    )
    .await
}

fn create(app: &App, p: &[(String, String)]) -> Outcome {
    let made = (|| {
        let amount = wire::amount(p, true)?.unwrap_or_default();
        let currency = match wire::get(p, "currency") {
            None => {
                return Err(Answer::invalid(
                    Some("parameter_missing"),
                    "Missing required param: currency.",
                    Some("currency"),
                ));
            }
            Some(c)
                if c.len() == 3
                    && c.bytes().all(|b| b.is_ascii_lowercase())
                    && paygate::domain::Currency::parse(&c.to_ascii_uppercase()).is_ok() =>
            {
                c.to_owned()
            }
            Some(c) => {
                return Err(Answer::invalid(None, &format!("Invalid currency: {c}."), Some("currency")));
            }
        };
        let capture_manual = match wire::get(p, "capture_method") {
            None | Some("automatic") | Some("automatic_async") => false,
            Some("manual") => true,
            Some(other) => {
                return Err(Answer::invalid(
                    None,
                    &format!("Invalid capture_method: {other}"),
                    Some("capture_method"),
                ));
            }
        };
        let metadata = wire::metadata(p)?;
        Ok((amount, currency, metadata, capture_manual))
    })();
    let (amount, currency, metadata, capture_manual) = match made {
        Ok(m) => m,
        Err(a) => return (a, Vec::new()),
    };
    let mut ledger = app.ledger();
    let id = ledger.id("pi");
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let payment_method = wire::get(p, "payment_method").map(str::to_owned);
    let pi = PaymentIntent {
        client_secret: format!("{id}_secret_{}", &secret[..24]),
        id: id.clone(),
        amount,
        currency,
        description: wire::get(p, "description").map(str::to_owned),
        metadata,
        status: if payment_method.is_some() {
            PiStatus::RequiresConfirmation
        } else {
            PiStatus::RequiresPaymentMethod
        },
        payment_method: payment_method.clone(),
        last_payment_error: None,
        redirect_url: None,
        return_url: wire::get(p, "return_url").map(str::to_owned),
        created: chrono::Utc::now().timestamp(),
        changed: Instant::now(),
        charges: 0,
        refunds: Vec::new(),
        events: Vec::new(),
        cancellation_reason: None,
        charged_at: None,
        capture_manual,
        amount_received: 0,
    };
    ledger.intents.insert(id.clone(), pi.clone());
    drop(ledger);
    if wire::get(p, "confirm") == Some("true")
        && let Some(pm) = payment_method
    {
        return confirm(app, &id, &pm);
    }
    (Answer::ok(pi.json()), Vec::new())
}

/// Confirms the PaymentIntent `id` with the test payment method `pm` (what Stripe.js does with
/// the client secret, or `confirm=true` on create).
pub(crate) fn confirm(app: &App, id: &str, pm: &str) -> Outcome {
    let Some(outcome) = cards::outcome(pm) else {
        return (Answer::missing("PaymentMethod", pm, "payment_method"), Vec::new());
    };
    confirm_as(app, id, pm, outcome)
}

/// Confirms with raw card details (`payment_method_data[type]=card` and
/// `payment_method_data[card][number|exp_month|exp_year|cvc]`, what Stripe.js sends): a
/// malformed card is a 402 `card_error` that leaves the PaymentIntent as it was; a test card
/// number confirms as its test payment method; any other number is declined as a real card in
/// test mode.
fn confirm_card(app: &App, id: &str, p: &[(String, String)]) -> Outcome {
    if wire::get(p, "payment_method_data[type]") != Some("card") {
        let a = Answer::invalid(
            None,
            "stripesim models only payment_method_data[type]=card.",
            Some("payment_method_data[type]"),
        );
        return (a, Vec::new());
    }
    let field = |name: &str| wire::get(p, &format!("payment_method_data[card][{name}]")).unwrap_or("");
    let now = chrono::Utc::now();
    let today = (chrono::Datelike::year(&now), chrono::Datelike::month(&now));
    match cards::of_card(field("number"), field("exp_month"), field("exp_year"), field("cvc"), today) {
        Err(r) => {
            let a = Answer::error(402, "card_error", Some(r.code), r.message, Some(r.param));
            (a, Vec::new())
        }
        Ok(known) => {
            let outcome = match known {
                Ok(pm) => cards::outcome(pm).unwrap_or(cards::LIVE_CARD_IN_TEST_MODE),
                Err(declined) => declined,
            };
            let pm_id = app.ledger().id("pm");
            confirm_as(app, id, &pm_id, outcome)
        }
    }
}

/// Confirms the PaymentIntent `id` with the payment method `pm`, whose charge does `outcome`.
fn confirm_as(app: &App, id: &str, pm: &str, mut outcome: CardOutcome) -> Outcome {
    let trade_no = trade_no_of_intent(app, id).unwrap_or_default();
    if outcome == CardOutcome::Succeeds {
        let decline = app.kit.faults().charge(&app.account, &trade_no);
        if let Some(d) = decline {
            outcome = cards::scripted_decline(d.code.as_deref()).unwrap_or(CardOutcome::Declined {
                code: "card_declined",
                decline_code: Some("insufficient_funds"),
                message: "Your card has insufficient funds.",
            });
        }
    }
    let mut ledger = app.ledger();
    let Some(pi) = ledger.intents.get_mut(id) else {
        return (Answer::missing("payment_intent", id, "intent"), Vec::new());
    };
    if !matches!(
        pi.status,
        PiStatus::RequiresPaymentMethod | PiStatus::RequiresConfirmation | PiStatus::RequiresAction
    ) {
        let mut a = Answer::invalid(
            Some("payment_intent_unexpected_state"),
            &format!(
                "You cannot confirm this PaymentIntent because it has a status of {}.",
                pi.status.as_str()
            ),
            None,
        );
        a.body["error"]["payment_intent"] = pi.json();
        return (a, Vec::new());
    }
    pi.payment_method = Some(pm.to_owned());
    pi.changed = Instant::now();
    let mut events = Vec::new();
    let processing_ms = app.settings().processing_ms;
    let answer = match outcome {
        CardOutcome::Succeeds if processing_ms > 0 => {
            pi.status = PiStatus::Processing;
            pi.last_payment_error = None;
            let (app2, id2) = (app.clone(), id.to_owned());
            app.kit.spawn(async move {
                if app2.kit.sleep(Duration::from_millis(processing_ms)).await {
                    let events = succeed(&app2, &id2);
                    send_all(&app2, events);
                }
            });
            Answer::ok(pi.json())
        }
        CardOutcome::Succeeds => {
            drop(ledger);
            events = succeed(app, id);
            let pi = app.ledger().intents.get(id).map(PaymentIntent::json).unwrap_or_default();
            return (Answer::ok(pi), events);
        }
        CardOutcome::RequiresAuthentication => {
            pi.status = PiStatus::RequiresAction;
            pi.redirect_url = Some(format!("{}/3ds/{id}", app.base_url));
            Answer::ok(pi.json())
        }
        CardOutcome::Declined { code, decline_code, message } => {
            pi.status = PiStatus::RequiresPaymentMethod;
            pi.last_payment_error = Some(PaymentError {
                code: code.to_owned(),
                decline_code: decline_code.map(str::to_owned),
                message: message.to_owned(),
            });
            app.kit.stats().event(Event::Decline);
            events.push(Pending {
                kind: "payment_intent.payment_failed",
                trade_no: trade_no.clone(),
                refund_no: None,
                object: pi.json(),
            });
            let mut a = Answer::error(402, "card_error", Some(code), message, Some("payment_method"));
            if let Some(d) = decline_code {
                a.body["error"]["decline_code"] = json!(d);
            }
            a.body["error"]["payment_intent"] = pi.json();
            a
        }
    };
    (answer, events)
}

/// The charge succeeds: the PaymentIntent is `succeeded` and `payment_intent.succeeded` is due.
fn succeed(app: &App, id: &str) -> Vec<Pending> {
    let mut ledger = app.ledger();
    let Some(pi) = ledger.intents.get_mut(id) else { return Vec::new() };
    if !matches!(
        pi.status,
        PiStatus::Processing
            | PiStatus::RequiresPaymentMethod
            | PiStatus::RequiresConfirmation
            | PiStatus::RequiresAction
    ) {
        return Vec::new();
    }
    pi.last_payment_error = None;
    pi.redirect_url = None;
    pi.changed = Instant::now();
    if pi.capture_manual {
        // Authorised only: nothing is charged until a capture; released at the expiry.
        pi.status = PiStatus::RequiresCapture;
        let expiry = Duration::from_millis(app.settings().authorization_expiry_ms);
        let (app2, id2) = (app.clone(), id.to_owned());
        app.kit.spawn(async move {
            if app2.kit.sleep(expiry).await {
                let events = release_expired(&app2, &id2);
                send_all(&app2, events);
            }
        });
        return Vec::new();
    }
    pi.status = PiStatus::Succeeded;
    pi.charges += 1;
    pi.amount_received = pi.amount;
    pi.charged_at = Some(chrono::Utc::now().timestamp());
    app.kit.stats().event(Event::Charge);
    vec![Pending {
        kind: "payment_intent.succeeded",
        trade_no: pi.trade_no().to_owned(),
        refund_no: None,
        object: pi.json(),
    }]
}

/// Stripe's own release of an authorisation left uncaptured past its expiry: `canceled` with
/// `cancellation_reason: automatic` (nothing if it was captured or cancelled meanwhile).
fn release_expired(app: &App, id: &str) -> Vec<Pending> {
    let mut ledger = app.ledger();
    let Some(pi) = ledger.intents.get_mut(id) else { return Vec::new() };
    if pi.status != PiStatus::RequiresCapture {
        return Vec::new();
    }
    pi.status = PiStatus::Canceled;
    pi.cancellation_reason = Some("automatic".to_owned());
    pi.changed = Instant::now();
    vec![Pending {
        kind: "payment_intent.canceled",
        trade_no: pi.trade_no().to_owned(),
        refund_no: None,
        object: pi.json(),
    }]
}

async fn capture_intent(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = body_pairs(&body);
    let id2 = id.clone();
    let endpoint = format!("POST /v1/payment_intents/{id}/capture");
    serve(
        &app,
        Operation::Capture,
        &endpoint,
        &headers,
        params,
        |a, _| trade_no_of_intent(a, &id2),
        |a, p| {
            let to_capture = match wire::get(p, "amount_to_capture").map(str::parse::<i64>) {
                None => None,
                Some(Ok(n)) if n > 0 => Some(n),
                Some(_) => {
                    let a = Answer::invalid(None, "Invalid integer: amount_to_capture", Some("amount_to_capture"));
                    return (a, Vec::new());
                }
            };
            let mut ledger = a.ledger();
            let Some(pi) = ledger.intents.get_mut(&id) else {
                return (Answer::missing("payment_intent", &id, "intent"), Vec::new());
            };
            if pi.status != PiStatus::RequiresCapture {
                let mut answer = Answer::invalid(
                    Some("payment_intent_unexpected_state"),
                    &format!(
                        "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                        pi.status.as_str()
                    ),
                    None,
                );
                answer.body["error"]["payment_intent"] = pi.json();
                return (answer, Vec::new());
            }
            let amount = to_capture.unwrap_or(pi.amount);
            if amount > pi.amount {
                let answer = Answer::invalid(
                    Some("amount_too_large"),
                    &format!("The amount_to_capture ({amount}) is greater than the amount_capturable ({}).", pi.amount),
                    Some("amount_to_capture"),
                );
                return (answer, Vec::new());
            }
            pi.status = PiStatus::Succeeded;
            pi.amount_received = amount;
            pi.charges += 1;
            pi.charged_at = Some(chrono::Utc::now().timestamp());
            pi.changed = Instant::now();
            a.kit.stats().event(Event::Charge);
            let events = vec![Pending {
                kind: "payment_intent.succeeded",
                trade_no: pi.trade_no().to_owned(),
                refund_no: None,
                object: pi.json(),
            }];
            (Answer::ok(pi.json()), events)
        },
    )
    .await
}

/// The customer's 3-D Secure outcome for a PaymentIntent in `requires_action`.
pub(crate) fn authenticate(app: &App, id: &str, ok: bool) -> Result<Value, String> {
    let status =
        app.ledger().intents.get(id).map(|p| p.status).ok_or_else(|| format!("no PaymentIntent {id}"))?;
    if status != PiStatus::RequiresAction {
        return Err(format!("the PaymentIntent is {}, not requires_action", status.as_str()));
    }
    let events = if ok {
        succeed(app, id)
    } else {
        let mut ledger = app.ledger();
        let pi = ledger.intents.get_mut(id).ok_or("gone")?;
        pi.status = PiStatus::RequiresPaymentMethod;
        pi.redirect_url = None;
        pi.changed = Instant::now();
        pi.last_payment_error = Some(PaymentError {
            code: "payment_intent_authentication_failure".into(),
            decline_code: None,
            message: "The provided PaymentMethod has failed authentication.".into(),
        });
        vec![Pending {
            kind: "payment_intent.payment_failed",
            trade_no: pi.trade_no().to_owned(),
            refund_no: None,
            object: pi.json(),
        }]
    };
    send_all(app, events);
    app.ledger().intents.get(id).map(PaymentIntent::json).ok_or_else(|| "gone".into())
}

/// The customer's 3-D Secure page: completes (or with `?result=fail` fails) the authentication,
/// then, as Stripe does, sends the customer to the confirm's `return_url` with
/// `payment_intent`, `payment_intent_client_secret` and `redirect_status` in the query (a page
/// that says what happened when there is none).
async fn three_d_secure(State(app): State<App>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let pairs = wire::pairs(q.as_deref().unwrap_or(""));
    let ok = wire::get(&pairs, "result") != Some("fail");
    let back = app.ledger().intents.get(&id).and_then(|pi| {
        let url = pi.return_url.clone()?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("payment_intent", &pi.id)
            .append_pair("payment_intent_client_secret", &pi.client_secret)
            .append_pair("redirect_status", if ok { "succeeded" } else { "failed" })
            .finish();
        Some(format!("{url}{}{query}", if url.contains('?') { '&' } else { '?' }))
    });
    match authenticate(&app, &id, ok) {
        Ok(_) if back.is_some() => {
            let to = back.unwrap_or_default();
            (axum::http::StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, to)]).into_response()
        }
        Ok(v) => format!(
            "3-D Secure {}: the PaymentIntent is {}",
            if ok { "completed" } else { "failed" },
            v["status"].as_str().unwrap_or("")
        )
        .into_response(),
        Err(e) => (axum::http::StatusCode::CONFLICT, e).into_response(),
    }
}

async fn confirm_intent(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The customer's call (Stripe.js: the publishable key as `key` in the form, or as the
    // Bearer token, and the client secret), or the server's (the secret key). No transport
    // fault: it is not paygate's call.
    let params = body_pairs(&body);
    let by_browser = match confirm_caller(&app, &id, &headers, &params) {
        Ok(b) => b,
        Err(refused) => return respond(refused),
    };
    if let Some(url) = wire::get(&params, "return_url")
        && let Some(pi) = app.ledger().intents.get_mut(&id)
    {
        pi.return_url = Some(url.to_owned());
    }
    let (mut answer, events) = if let Some(pm) = wire::get(&params, "payment_method") {
        confirm(&app, &id, pm)
    } else if wire::get(&params, "payment_method_data[type]").is_some() {
        confirm_card(&app, &id, &params)
    } else {
        let a = Answer::invalid(
            Some("parameter_missing"),
            "Missing required param: payment_method.",
            Some("payment_method"),
        );
        (a, Vec::new())
    };
    send_all(&app, events);
    if by_browser {
        // A publishable key sees the PaymentIntent without its metadata (Stripe answers a
        // client-side subset of the object).
        let embedded = answer.body.get_mut("error").and_then(|e| e.get_mut("payment_intent"));
        if let Some(map) = embedded.and_then(|pi| pi.as_object_mut()) {
            map.remove("metadata");
        }
        if let Some(map) = answer.body.as_object_mut() {
            map.remove("metadata");
        }
    }
    respond(answer)
}

/// Who confirms: `Ok(false)` the secret key (the server), `Ok(true)` the publishable key with
/// the PaymentIntent's client secret (a browser); else Stripe's refusal: an unknown key 401, a
/// publishable key without the right client secret 400 `invalid_request_error`.
fn confirm_caller(
    app: &App,
    id: &str,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<bool, Answer> {
    let key = wire::bearer(headers).or_else(|| wire::get(params, "key").map(str::to_owned));
    if key.as_deref() == Some(app.secret_key.as_str()) {
        return Ok(false);
    }
    if key.as_deref() != Some(app.publishable_key.as_str()) {
        return Err(wire::bad_key(key.as_deref()));
    }
    let Some(given) = wire::get(params, "client_secret") else {
        return Err(Answer::invalid(
            Some("parameter_missing"),
            "Missing required param: client_secret.",
            Some("client_secret"),
        ));
    };
    let ledger = app.ledger();
    let Some(pi) = ledger.intents.get(id) else {
        return Err(Answer::missing("payment_intent", id, "intent"));
    };
    if pi.client_secret != given {
        return Err(Answer::invalid(
            None,
            "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
            Some("client_secret"),
        ));
    }
    Ok(true)
}

async fn retrieve_intent(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let id2 = id.clone();
    serve(
        &app,
        Operation::Query,
        "GET /v1/payment_intents/{id}",
        &headers,
        Vec::new(),
        |a, _| trade_no_of_intent(a, &id2),
        |a, _| {
            let answer = match a.ledger().intents.get(&id) {
                Some(pi) => Answer::ok(pi.json()),
                None => Answer::missing("payment_intent", &id, "intent"),
            };
            (answer, Vec::new())
        },
    )
    .await
}

/// `metadata['KEY']:'VALUE'`, the one query form the simulator models.
fn metadata_query(q: &str) -> Option<(String, String)> {
    let rest = q.trim().strip_prefix("metadata['")?;
    let (key, rest) = rest.split_once("']:'")?;
    let value = rest.strip_suffix('\'')?;
    (!key.contains('\'') && !value.contains('\'')).then(|| (key.to_owned(), value.to_owned()))
}

async fn search(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let params = wire::pairs(q.as_deref().unwrap_or(""));
    let wanted = wire::get(&params, "query").and_then(metadata_query);
    serve(
        &app,
        Operation::Query,
        "GET /v1/payment_intents/search",
        &headers,
        params.clone(),
        |_, _| wanted.as_ref().filter(|(k, _)| k == "trade_no").map(|(_, v)| v.clone()),
        |a, p| {
            let Some((key, value)) = wanted.clone() else {
                let a = Answer::invalid(None, "stripesim models only queries of the form metadata['key']:'value'", Some("query"));
                return (a, Vec::new());
            };
            let limit = wire::get(p, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
            let lag = Duration::from_millis(a.settings().search_lag_ms);
            let ledger = a.ledger();
            let mut found: Vec<&PaymentIntent> = ledger
                .intents
                .values()
                .filter(|pi| pi.metadata.get(&key) == Some(&value) && pi.changed.elapsed() >= lag)
                .collect();
            found.sort_by(|x, y| y.created.cmp(&x.created).then(y.id.cmp(&x.id)));
            let has_more = found.len() > limit;
            let data: Vec<Value> = found.into_iter().take(limit).map(PaymentIntent::json).collect();
            let body = json!({ "object": "search_result", "url": "/v1/payment_intents/search", "has_more": has_more, "next_page": null, "data": data });
            (Answer::ok(body), Vec::new())
        },
    )
    .await
}

async fn cancel_intent(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = body_pairs(&body);
    let id2 = id.clone();
    let endpoint = format!("POST /v1/payment_intents/{id}/cancel");
    serve(
        &app,
        Operation::Close,
        &endpoint,
        &headers,
        params,
        |a, _| trade_no_of_intent(a, &id2),
        |a, p| {
            let mut ledger = a.ledger();
            let Some(pi) = ledger.intents.get_mut(&id) else {
                return (Answer::missing("payment_intent", &id, "intent"), Vec::new());
            };
            if !matches!(
                pi.status,
                PiStatus::RequiresPaymentMethod
                    | PiStatus::RequiresConfirmation
                    | PiStatus::RequiresAction
                    | PiStatus::RequiresCapture
            ) {
                let mut answer = Answer::invalid(
                    Some("payment_intent_unexpected_state"),
                    &format!(
                        "You cannot cancel this PaymentIntent because it has a status of {}.",
                        pi.status.as_str()
                    ),
                    None,
                );
                answer.body["error"]["payment_intent"] = pi.json();
                return (answer, Vec::new());
            }
            pi.status = PiStatus::Canceled;
            pi.redirect_url = None;
            pi.changed = Instant::now();
            pi.cancellation_reason =
                Some(wire::get(p, "cancellation_reason").unwrap_or("requested_by_customer").to_owned());
            let events = vec![Pending {
                kind: "payment_intent.canceled",
                trade_no: pi.trade_no().to_owned(),
                refund_no: None,
                object: pi.json(),
            }];
            (Answer::ok(pi.json()), events)
        },
    )
    .await
}

async fn create_refund(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let params = body_pairs(&body);
    serve(
        &app,
        Operation::Refund,
        "POST /v1/refunds",
        &headers,
        params,
        |a, p| wire::get(p, "payment_intent").and_then(|id| trade_no_of_intent(a, id)),
        refund,
    )
    .await
}

fn refund(app: &App, p: &[(String, String)]) -> Outcome {
    let checked = (|| {
        let Some(pi_id) = wire::get(p, "payment_intent") else {
            return Err(Answer::invalid(
                Some("parameter_missing"),
                "Missing required param: payment_intent (refunds by charge are not modelled).",
                Some("payment_intent"),
            ));
        };
        let amount = wire::amount(p, false)?;
        let metadata = wire::metadata(p)?;
        Ok((pi_id.to_owned(), amount, metadata))
    })();
    let (pi_id, amount, metadata) = match checked {
        Ok(c) => c,
        Err(a) => return (a, Vec::new()),
    };
    let mut ledger = app.ledger();
    let Some(pi) = ledger.intents.get(&pi_id).cloned() else {
        return (Answer::missing("payment_intent", &pi_id, "payment_intent"), Vec::new());
    };
    if pi.status != PiStatus::Succeeded {
        let a = Answer::invalid(
            None,
            &format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
            Some("payment_intent"),
        );
        return (a, Vec::new());
    }
    let left = pi.amount_received - ledger.refunds_held(&pi_id);
    if left <= 0 {
        let a = Answer::invalid(
            Some("charge_already_refunded"),
            &format!("Charge for PaymentIntent {pi_id} has already been refunded."),
            None,
        );
        return (a, Vec::new());
    }
    let amount = amount.unwrap_or(left);
    if amount > left {
        let a = Answer::invalid(
            Some("amount_too_large"),
            &format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"),
            Some("amount"),
        );
        return (a, Vec::new());
    }
    let id = ledger.id("re");
    let r = Refund {
        id: id.clone(),
        payment_intent: pi_id.clone(),
        amount,
        currency: pi.currency.clone(),
        metadata,
        status: RefundStatus::Pending,
        failure_reason: None,
        created: chrono::Utc::now().timestamp(),
    };
    let refund_no = r.refund_no().to_owned();
    ledger.refunds.insert(id.clone(), r);
    app.kit.stats().event(Event::RefundCreated);
    if let Some(pi) = ledger.intents.get_mut(&pi_id) {
        pi.refunds.push(id.clone());
    }
    drop(ledger);
    let fate = app.kit.faults().refund_fate(&app.account, pi.trade_no(), &refund_no);
    let delay = app.settings().refund_delay_ms;
    let mut events = Vec::new();
    let end = match fate {
        RefundFate::Succeed => Some(RefundStatus::Succeeded),
        RefundFate::Fail => Some(RefundStatus::Failed),
        RefundFate::ProcessingForever => None,
    };
    if let Some(end) = end {
        if delay == 0 {
            events = complete_refund(app, &id, end);
        } else {
            let (app2, id2) = (app.clone(), id.clone());
            app.kit.spawn(async move {
                if app2.kit.sleep(Duration::from_millis(delay)).await {
                    let events = complete_refund(&app2, &id2, end);
                    send_all(&app2, events);
                }
            });
        }
    }
    let body = app.ledger().refunds.get(&id).map(Refund::json).unwrap_or_default();
    (Answer::ok(body), events)
}

/// Ends a pending refund with `status` and says which events are due (none if it had ended).
pub(crate) fn complete_refund(app: &App, id: &str, status: RefundStatus) -> Vec<Pending> {
    let mut ledger = app.ledger();
    let trade_no = {
        let Some(r) = ledger.refunds.get(id) else { return Vec::new() };
        ledger.intents.get(&r.payment_intent).map(|p| p.trade_no().to_owned()).unwrap_or_default()
    };
    let Some(r) = ledger.refunds.get_mut(id) else { return Vec::new() };
    if r.status != RefundStatus::Pending || status == RefundStatus::Pending {
        return Vec::new();
    }
    r.status = status;
    if status == RefundStatus::Failed {
        r.failure_reason = Some("declined".into());
    }
    app.kit.stats().event(match status {
        RefundStatus::Succeeded => Event::RefundSucceeded,
        _ => Event::RefundFailed,
    });
    let kind = if status == RefundStatus::Failed { "refund.failed" } else { "refund.updated" };
    vec![Pending { kind, trade_no, refund_no: Some(r.refund_no().to_owned()), object: r.json() }]
}

async fn retrieve_refund(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let id2 = id.clone();
    serve(
        &app,
        Operation::RefundQuery,
        "GET /v1/refunds/{id}",
        &headers,
        Vec::new(),
        |a, _| {
            let ledger = a.ledger();
            let pi = ledger.refunds.get(&id2).map(|r| r.payment_intent.clone())?;
            ledger.intents.get(&pi).map(|p| p.trade_no().to_owned())
        },
        |a, _| {
            let answer = match a.ledger().refunds.get(&id) {
                Some(r) => Answer::ok(r.json()),
                None => Answer::missing("refund", &id, "id"),
            };
            (answer, Vec::new())
        },
    )
    .await
}

async fn list_refunds(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let params = wire::pairs(q.as_deref().unwrap_or(""));
    serve(
        &app,
        Operation::RefundQuery,
        "GET /v1/refunds",
        &headers,
        params,
        |a, p| wire::get(p, "payment_intent").and_then(|id| trade_no_of_intent(a, id)),
        |a, p| {
            let limit =
                wire::get(p, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(10).clamp(1, 100);
            let pi = wire::get(p, "payment_intent");
            let ledger = a.ledger();
            if let Some(pi) = pi
                && !ledger.intents.contains_key(pi)
            {
                return (Answer::missing("payment_intent", pi, "payment_intent"), Vec::new());
            }
            let mut refunds: Vec<&Refund> =
                ledger.refunds.values().filter(|r| pi.is_none_or(|pi| r.payment_intent == pi)).collect();
            refunds.sort_by(|x, y| y.created.cmp(&x.created).then(y.id.cmp(&x.id)));
            let has_more = refunds.len() > limit;
            let data: Vec<Value> = refunds.into_iter().take(limit).map(Refund::json).collect();
            (
                Answer::ok(
                    json!({ "object": "list", "url": "/v1/refunds", "has_more": has_more, "data": data }),
                ),
                Vec::new(),
            )
        },
    )
    .await
}
