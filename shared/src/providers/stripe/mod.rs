//! The Stripe adapter: PaymentIntents and Refunds (shared PROVIDERS.md, "Stripe"; written from
//! Stripe's API reference, checked with the `search` tool; docs/providers/stripe.md).
//!
//! This file is the flow: build the form ([`transformers`]), send it with the secret key as a
//! Bearer token and our number as the `Idempotency-Key` ([`ProviderHttp`]), and read the answer
//! for the operation through the code table ([`codes::CODES`]; the adapter names no code itself).
//!
//! - **Pay** (`client_secret` only): `POST /v1/payment_intents` with the amount in minor units, the
//!   lower-case currency, `capture_method` (`automatic`, or `manual` when the pay asks for manual
//!   capture: the confirmed PaymentIntent is then `requires_capture`, ours `Authorized`) and our
//!   trade number in `metadata[trade_no]` and as the `Idempotency-Key`. The answer's
//!   `client_secret` is the customer's action: the client confirms with it (Stripe.js, or
//!   paygate's cashier, which posts the card to Stripe itself), and a 3-D Secure
//!   `requires_action` shows as a redirect to `next_action.redirect_to_url.url`. With a
//!   publishable key configured ([`browser`]), the action carries it and the API's base URL as
//!   the browser reaches it: `{client_secret, publishable_key, api_base}`.
//!   A key reused with other parameters is `idempotency_error`: refused, never re-sent.
//! - **Query**: we know our trade number, not Stripe's `pi_…` id (the trait passes only the
//!   trade number). The PaymentIntent is found with the Search API
//!   (`GET /v1/payment_intents/search?query=metadata['trade_no']:'…'`), then read with
//!   `GET /v1/payment_intents/{id}`, which is consistent (the search result may be stale). Search
//!   is eventually consistent: a new PaymentIntent is searchable "in under a minute", up to an
//!   hour during outages (Stripe's reference). So "not found" is believed only after
//!   [`DEFAULT_NOT_FOUND_FINAL_AFTER`] (one hour), and a refund or refund query of a payment the
//!   search does not find yet is "retry later", never "no such payment".
//! - **Close**: find, then `POST /v1/payment_intents/{id}/cancel`. A PaymentIntent that can no
//!   longer be cancelled (`payment_intent_unexpected_state`) is read back, so a paid one is
//!   recorded as paid.
//! - **Capture**: find, then `POST /v1/payment_intents/{id}/capture` with `amount_to_capture`
//!   (the rest is released), under the `Idempotency-Key` `<trade_no>-capture`. A PaymentIntent
//!   that can no longer be captured (`payment_intent_unexpected_state`: captured already, or
//!   cancelled) is read back, so a capture made before is recorded.
//! - **Void**: find, then `POST /v1/payment_intents/{id}/cancel` (`requested_by_customer`) under
//!   `<trade_no>-void`; a PaymentIntent that can no longer be cancelled is read back. Stripe
//!   cancels an uncaptured PaymentIntent itself after 7 days (`cancellation_reason: automatic`),
//!   which reads as expired.
//! - **Refund**: find, then `POST /v1/refunds` with `payment_intent`, `amount`,
//!   `metadata[trade_no]`, `metadata[refund_no]`, and our refund number as the `Idempotency-Key`.
//!   Refunds are asynchronous (`pending` until `succeeded`, `failed` or `canceled`).
//! - **Refund query**: find, then `GET /v1/refunds?payment_intent=…&limit=100`, and take the one
//!   whose `metadata.refund_no` is ours.
//! - **Bill**: Stripe has no trade bill; `bill` answers "not implemented" without sending anything.
//! - **Settlement**: the payouts that arrived on the day and their balance transactions
//!   ([`settlement`]): payout = Σ net of its transactions, each matched to our payment or refund.
//!
//! Whatever is not an answer (a timeout, a broken connection, a 5xx, a code not in the table or
//! not documented for the operation, an answer about another payment) is UNKNOWN, and the
//! dispatcher queries. Every exchange is logged with `Authorization` redacted; the secret key and
//! the webhook secret never reach the log.
//!
//! - [`browser`]: the publishable key and the browser's API base, for the customer's action;
//! - [`codes`]: the one table of error codes, and the PaymentIntent and Refund statuses;
//! - [`notification`]: webhook events, verified and read into our terms;
//! - [`settings`]: the adapter from `PAYGATE_PROVIDER_<NAME>_*`;
//! - [`settlement`]: payouts and their balance transactions as settlement lines and totals;
//! - [`signing`]: the secrets, and `Stripe-Signature` (HMAC-SHA256, several `v1`, 300 s);
//! - [`transformers`]: the wire types and forms, and their conversions.

pub mod browser;
pub mod codes;
pub mod notification;
pub mod settings;
pub mod settlement;
pub mod signing;
pub mod transformers;
#[cfg(test)]
mod vectors;

use crate::domain::{Currency, ValidationError};
use crate::messages::commands::PayMethod;
use crate::providers::adapter::{CaptureRequest, PayRequest, PayTerms, ProviderAdapter, RefundRequest};
use crate::providers::answers::{
    CallOutcome, Called, PaymentFacts, PaymentStatus, RefundFacts, RefundStatus,
};
use crate::providers::bill::{BillDownload, BillError};
use crate::providers::codes::{MappedCode, UnifiedCode};
use crate::providers::decided::{Decided, refused_locally};
use crate::providers::exchange::{Exchange, ExchangeOutcome};
use crate::providers::http::{HttpEnd, OutboundRequest, ProviderHttp, Redaction};
use crate::providers::notification::{NotificationPolicy, NotificationVerifier};
use chrono::NaiveDate;
use codes::{Operation, Treatment};
use reqwest::Method;
use signing::{SecretKey, WebhookSecret};
use std::time::Duration;
use transformers::{ErrorObject, Form, Listing, NotSendable, PaymentIntent, Refund, Unreadable};

/// The provider's name in commands, rows and the registry.
pub const NAME: &str = "stripe";
/// Stripe's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// The request timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after our last pay request a "no such PaymentIntent" is believed: the Search API
/// may be up to an hour behind during an outage (Stripe's reference for search).
pub const DEFAULT_NOT_FOUND_FINAL_AFTER: Duration = Duration::from_secs(3600);
/// Stripe's longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// The header our requests are authenticated with; redacted in the exchange log.
const AUTHORIZATION: &str = "Authorization";

/// What Stripe (PaymentIntents) takes: `client_secret` only. Checked by ingest at the door and
/// by the adapter before it sends.
pub fn pay_terms(terms: &PayTerms<'_>) -> Result<(), ValidationError> {
    match terms.pay_method {
        PayMethod::ClientSecret => Ok(()),
        other => Err(ValidationError::new(
            PayMethod::FIELD,
            format!(
                "Stripe takes client_secret only (the customer confirms the PaymentIntent with Stripe.js); got {}",
                other.as_str()
            ),
        )),
    }
}

/// How to reach Stripe as one account.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub name: &'static str,
    /// `https://api.stripe.com`, or a test server (a path prefix is allowed).
    pub base_url: String,
    pub secret_key: SecretKey,
    pub webhook_secret: WebhookSecret,
    /// The account notifications are for (`acct_…`), as claims name it.
    pub account: String,
    /// `Stripe-Version`, when pinned.
    pub api_version: Option<String>,
    pub request_timeout: Duration,
    pub notification_policy: NotificationPolicy,
    pub not_found_final_after: Duration,
    /// The webhook signature's tolerance, in seconds.
    pub tolerance_secs: i64,
    /// The publishable key and API base a customer's browser confirms with; none: the action is
    /// the client secret alone.
    pub browser: Option<browser::BrowserConfirm>,
}

impl StripeConfig {
    pub fn new(secret_key: SecretKey, webhook_secret: WebhookSecret, account: impl Into<String>) -> Self {
        Self {
            name: NAME,
            base_url: DEFAULT_BASE_URL.to_owned(),
            secret_key,
            webhook_secret,
            account: account.into(),
            api_version: None,
            request_timeout: DEFAULT_TIMEOUT,
            notification_policy: NotificationPolicy::AlwaysQueryBack,
            not_found_final_after: DEFAULT_NOT_FOUND_FINAL_AFTER,
            tolerance_secs: signing::DEFAULT_TOLERANCE_SECS,
            browser: None,
        }
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum StripeSetupError {
    #[error("Stripe base URL {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("Stripe {field} must not be empty")]
    Empty { field: &'static str },
    #[error("Stripe request timeout must be more than zero")]
    ZeroTimeout,
    #[error("building the HTTP client for Stripe failed: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// The Stripe adapter. Cheap to share: `Arc<StripeAdapter>` in the registry.
#[derive(Debug)]
pub struct StripeAdapter {
    name: &'static str,
    base_url: String,
    secret_key: SecretKey,
    api_version: Option<String>,
    timeout: Duration,
    http: ProviderHttp,
    verifier: notification::StripeVerifier,
    notification_policy: NotificationPolicy,
    not_found_final_after: Duration,
    browser: Option<browser::BrowserConfirm>,
}

/// A body as the exchange log keeps it: every `client_secret` in a JSON answer replaced (Stripe:
/// whoever has it can confirm the payment, so it is never logged; the customer gets it in the
/// pay answer's action, not from the log). Form bodies (our requests) carry no secret and are
/// kept as sent.
fn redact_client_secrets(body: &str) -> String {
    fn walk(v: &mut serde_json::Value) -> bool {
        let mut changed = false;
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "client_secret" && v.is_string() {
                        *v = serde_json::Value::String(crate::providers::http::REDACTED.to_owned());
                        changed = true;
                    } else {
                        changed |= walk(v);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    changed |= walk(v);
                }
            }
            _ => {}
        }
        changed
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            if walk(&mut v) {
                v.to_string()
            } else {
                body.to_owned()
            }
        }
        Err(_) => body.to_owned(),
    }
}

/// A code that decides nothing for this operation.
fn undecided<T>(operation: Operation, status: u16, code: MappedCode) -> Decided<T> {
    let reason = format!(
        "Stripe answered {} with HTTP {status} {}; that decides nothing, the outcome is unknown",
        operation.as_str(),
        code.describe()
    );
    Decided::unknown(reason, code, ExchangeOutcome::Error)
}

fn unreadable<T>(operation: Operation, e: Unreadable) -> Decided<T> {
    Decided::unreadable(operation.as_str(), None, e.0)
}

/// The usual reading of a treatment that is not the operation's facts.
fn otherwise<T>(operation: Operation, status: u16, treatment: Treatment, code: MappedCode) -> Decided<T> {
    match treatment {
        Treatment::Refused => Decided::refused(code),
        Treatment::RetryLater => Decided::retry_later(code),
        _ => undecided(operation, status, code),
    }
}

/// An answer: its status, its code as mapped, and what the code says to the operation.
struct Read {
    status: u16,
    treatment: Treatment,
    code: MappedCode,
    body: String,
}

/// The PaymentIntent of a trade number, as the search found it.
enum Found {
    Intent(String),
    /// The search has none (yet: it lags).
    Nothing(MappedCode),
}

impl StripeAdapter {
    pub fn new(config: StripeConfig) -> Result<Self, StripeSetupError> {
        let url = reqwest::Url::parse(&config.base_url)
            .map_err(|e| StripeSetupError::BaseUrl { url: config.base_url.clone(), reason: e.to_string() })?;
        let bad = |reason: &str| StripeSetupError::BaseUrl {
            url: config.base_url.clone(),
            reason: reason.to_owned(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it must not have a query or a fragment"));
        }
        if config.secret_key.is_empty() {
            return Err(StripeSetupError::Empty { field: "secret key" });
        }
        if config.webhook_secret.is_empty() {
            return Err(StripeSetupError::Empty { field: "webhook signing secret" });
        }
        if config.account.trim().is_empty() {
            return Err(StripeSetupError::Empty { field: "account" });
        }
        if config.request_timeout.is_zero() {
            return Err(StripeSetupError::ZeroTimeout);
        }
        let redaction = Redaction::headers(&[AUTHORIZATION]).with_body(redact_client_secrets);
        let http = ProviderHttp::new(config.name, config.request_timeout, redaction)?;
        let verifier =
            notification::StripeVerifier::new(config.name, config.account.clone(), config.webhook_secret)
                .with_tolerance_secs(config.tolerance_secs);
        Ok(Self {
            name: config.name,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            secret_key: config.secret_key,
            api_version: config.api_version,
            timeout: config.request_timeout,
            http,
            verifier,
            notification_policy: config.notification_policy,
            not_found_final_after: config.not_found_final_after,
            browser: config.browser,
        })
    }

    fn headers(&self, idempotency_key: Option<&str>, form: bool) -> Vec<(String, String)> {
        let mut headers = vec![
            (AUTHORIZATION.to_owned(), signing::bearer(&self.secret_key)),
            ("Accept".to_owned(), "application/json".to_owned()),
            ("User-Agent".to_owned(), concat!("paygate/", env!("CARGO_PKG_VERSION")).to_owned()),
        ];
        if form {
            headers.push(("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned()));
        }
        if let Some(key) = idempotency_key {
            headers.push(("Idempotency-Key".to_owned(), key.to_owned()));
        }
        if let Some(v) = &self.api_version {
            headers.push(("Stripe-Version".to_owned(), v.clone()));
        }
        headers
    }

    /// Reads a transport end into an answer, or the undecided outcome.
    fn read<T>(&self, operation: Operation, end: HttpEnd) -> Result<Read, Decided<T>> {
        let op = operation.as_str();
        let answer = Decided::answer_of(op, end, self.timeout)?;
        let status = answer.status;
        if (200..300).contains(&status) {
            let code = codes::map(codes::ErrorCode::Success.wire(), "");
            return Ok(Read { status, treatment: Treatment::Facts, code, body: answer.body });
        }
        match ErrorObject::parse(&answer.body) {
            Ok(e) => {
                let wire = codes::wire_code(status, &e.kind, e.code.as_deref(), e.decline_code.as_deref());
                let code = codes::map(&wire, e.describe());
                let treatment = codes::treatment(operation, status, &wire);
                Ok(Read { status, treatment, code, body: answer.body })
            }
            Err(e) if status == 429 => {
                let code = codes::map(codes::ErrorCode::Http429.wire(), e.0);
                Ok(Read { status, treatment: Treatment::RetryLater, code, body: answer.body })
            }
            Err(e) => Err(Decided::unknown(
                format!("HTTP {status} to {op}: {e}; the outcome is unknown"),
                MappedCode::local(UnifiedCode::UnreadableAnswer, e.0),
                ExchangeOutcome::Error,
            )),
        }
    }

    /// Sends one request and reads it; `decide` turns an answer into the outcome.
    async fn call<T>(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        form: Option<&Form>,
        idempotency_key: Option<&str>,
        decide: impl FnOnce(Read) -> Decided<T>,
    ) -> Called<T> {
        let headers = self.headers(idempotency_key, form.is_some());
        let url = format!("{}{path}", self.base_url);
        let body = form.map(Form::encode);
        let sent = self
            .http
            .send(OutboundRequest { operation: operation.as_str(), method, url, headers, body })
            .await;
        let decided = match self.read(operation, sent.end) {
            Ok(read) => decide(read),
            Err(undecided) => undecided,
        };
        decided.called(sent.draft)
    }

    /// A request refused before it was sent (nothing reached Stripe).
    fn refuse_locally<T>(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        why: &NotSendable,
    ) -> Called<T> {
        let url = format!("{}{path}", self.base_url);
        refused_locally(self.name, operation.as_str(), method.as_str(), &url, &why.to_string())
    }

    fn check_number(field: &'static str, n: &str) -> Result<(), NotSendable> {
        let ok = !n.is_empty()
            && n.len() <= MAX_IDEMPOTENCY_KEY
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(NotSendable {
                field,
                rule: format!(
                    "{n:?} must be 1 to {MAX_IDEMPOTENCY_KEY} characters of A-Z a-z 0-9 _ - (it is the Idempotency-Key, and is quoted in a search query)"
                ),
            })
        }
    }

    /// Finds the PaymentIntent of `trade_no` with the Search API. `Err` is the call's outcome
    /// when the search itself did not answer (its exchange is in the `Called`).
    async fn find(&self, operation: Operation, trade_no: &str) -> Result<(Found, Exchange), Called<()>> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &transformers::search_query(trade_no))
            .append_pair("limit", "10")
            .finish();
        let path = format!("/v1/payment_intents/search?{query}");
        let mut found = None;
        let called = self
            .call(operation, Method::GET, &path, None, None, |read| match read.treatment {
                Treatment::Facts => match transformers::read::<Listing<PaymentIntent>>(&read.body, "a search result") {
                    Ok(list) => {
                        let ours: Vec<PaymentIntent> =
                            list.data.into_iter().filter(|pi| pi.check_trade_no(trade_no).is_ok()).collect();
                        match ours.as_slice() {
                            [] => {
                                found = Some(Found::Nothing(codes::map(
                                    codes::ErrorCode::ResourceMissing.wire(),
                                    "the search found no PaymentIntent with this trade number (yet)",
                                )));
                                Decided::answer((), read.code)
                            }
                            [one] => {
                                found = Some(Found::Intent(one.id.clone()));
                                Decided::answer((), read.code)
                            }
                            many => {
                                let ids: Vec<&str> = many.iter().map(|p| p.id.as_str()).collect();
                                unreadable(
                                    operation,
                                    Unreadable(format!(
                                        "the search found {} PaymentIntents with trade number {trade_no:?} ({}): a person must look",
                                        ids.len(),
                                        ids.join(", ")
                                    )),
                                )
                            }
                        }
                    }
                    Err(e) => unreadable(operation, e),
                },
                t => otherwise(operation, read.status, t, read.code),
            })
            .await;
        match (found, called.outcome) {
            (Some(found), CallOutcome::Answer { .. }) => Ok((found, called.exchange)),
            (_, outcome) => Err(Called { outcome, exchange: called.exchange, earlier: called.earlier }),
        }
    }

    /// The call's outcome of a failed search, for another type of facts.
    fn search_failed<T>(called: Called<()>) -> Called<T> {
        let outcome = match called.outcome {
            CallOutcome::Answer { code, .. } | CallOutcome::Refused { code } => CallOutcome::Refused { code },
            CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
            CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
        };
        Called { outcome, exchange: called.exchange, earlier: called.earlier }
    }

    /// `GET /v1/payment_intents/{id}` in our terms.
    async fn retrieve(&self, operation: Operation, id: &str, trade_no: &str) -> Called<PaymentFacts> {
        let path = format!("/v1/payment_intents/{id}");
        self.call(operation, Method::GET, &path, None, None, |read| {
            intent_answer(operation, read, trade_no, self.browser.as_ref())
        })
        .await
    }

    /// Finds the PaymentIntent of `trade_no`, then `POST /v1/payment_intents/{id}/{action}` with
    /// `form` under the Idempotency-Key `key` (a capture or a void). A PaymentIntent whose status
    /// no longer allows it is read back, so what happened before (a capture made, a cancel) is
    /// what the answer says; a PaymentIntent the search does not find yet is "retry later".
    async fn on_the_intent(
        &self,
        operation: Operation,
        trade_no: &str,
        action: &str,
        form: &Form,
        key: &str,
    ) -> Called<PaymentFacts> {
        let (id, search) = match self.find(operation, trade_no).await {
            Err(failed) => return Self::search_failed(failed),
            Ok((Found::Nothing(code), search)) => return self.not_yet_searchable(operation, search, code),
            Ok((Found::Intent(id), search)) => (id, search),
        };
        let path = format!("/v1/payment_intents/{id}/{action}");
        let mut conflict = false;
        let called = self
            .call(operation, Method::POST, &path, Some(form), Some(key), |read| {
                if read.treatment == Treatment::StateConflict {
                    conflict = true;
                }
                intent_answer(operation, read, trade_no, self.browser.as_ref())
            })
            .await;
        if !conflict {
            return with_earlier(called, search);
        }
        let mut read_back = self.retrieve(operation, &id, trade_no).await;
        read_back.earlier = vec![search, called.exchange];
        read_back
    }

    fn not_yet_searchable<T>(&self, operation: Operation, search: Exchange, code: MappedCode) -> Called<T> {
        let code = MappedCode { retryable: true, definitive: false, ..code };
        let reason = format!(
            "Stripe's search has no PaymentIntent for this payment yet (search lags, up to an hour in an outage); {} is asked again later",
            operation.as_str()
        );
        let code = MappedCode { message: reason, ..code };
        Called::new(CallOutcome::RetryLater { code }, search)
    }
}

impl StripeAdapter {
    /// One GET of a settlement download: its body if Stripe answered 2xx, and its exchange.
    async fn fetch(
        &self,
        operation: &'static str,
        path: &str,
    ) -> Result<(String, Exchange), (BillError, Option<Exchange>)> {
        let headers = self.headers(None, false);
        let url = format!("{}{path}", self.base_url);
        let sent = self
            .http
            .send(OutboundRequest { operation, method: Method::GET, url, headers, body: None })
            .await;
        match self.read::<()>(Operation::Query, sent.end) {
            Ok(read) if read.treatment == Treatment::Facts => {
                let exchange = sent.draft.finish(ExchangeOutcome::Ok, Some(&read.code), None);
                Ok((read.body, exchange))
            }
            Ok(read) => {
                let reason = format!("HTTP {} {}", read.status, read.code.describe());
                let exchange =
                    sent.draft.finish(ExchangeOutcome::Error, Some(&read.code), Some(reason.clone()));
                Err((BillError::Download { operation, reason }, Some(exchange)))
            }
            Err(undecided) => {
                let reason = undecided.error.clone().unwrap_or_default();
                let exchange =
                    sent.draft.finish(undecided.exchange, undecided.outcome.code(), Some(reason.clone()));
                Err((BillError::Download { operation, reason }, Some(exchange)))
            }
        }
    }

    fn download_error(
        &self,
        operation: &'static str,
        reason: String,
        mut exchanges: Vec<Exchange>,
    ) -> (BillError, Option<Exchange>) {
        (BillError::Download { operation, reason }, exchanges.pop())
    }
}

/// Reads an answer holding a PaymentIntent (create, retrieve, cancel).
/// A PaymentIntent answer in our terms; a client secret action completed with what a browser
/// needs (`browser`), when the account has it.
fn intent_answer(
    operation: Operation,
    read: Read,
    trade_no: &str,
    browser: Option<&browser::BrowserConfirm>,
) -> Decided<PaymentFacts> {
    match read.treatment {
        Treatment::Facts => {
            match transformers::read::<PaymentIntent>(&read.body, "a PaymentIntent").and_then(|pi| {
                let decline = pi.last_decline();
                let mut facts = pi.into_facts(trade_no)?;
                if let Some(b) = browser {
                    facts.action = facts.action.map(|a| b.complete(a));
                }
                Ok((facts, decline))
            }) {
                // A declined attempt leaves the PaymentIntent waiting for another payment method:
                // the answer says so, with the decline's code for the log and the events.
                Ok((facts, Some(decline))) => {
                    Decided::answer(facts, codes::map(&decline, "the last attempt was declined"))
                }
                Ok((facts, None)) => Decided::answer(facts, read.code),
                Err(e) => unreadable(operation, e),
            }
        }
        Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), read.code),
        t => otherwise(operation, read.status, t, read.code),
    }
}

fn with_earlier<T>(mut called: Called<T>, earlier: Exchange) -> Called<T> {
    called.earlier.insert(0, earlier);
    called
}

#[async_trait::async_trait]
impl ProviderAdapter for StripeAdapter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn refunds_are_asynchronous(&self) -> bool {
        true
    }

    fn notifications(&self) -> &dyn NotificationVerifier {
        &self.verifier
    }

    fn notification_policy(&self) -> NotificationPolicy {
        self.notification_policy
    }

    fn not_found_is_final_after(&self) -> Duration {
        self.not_found_final_after
    }

    async fn pay(&self, request: &PayRequest) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Pay;
        let path = "/v1/payment_intents";
        let form = pay_terms(&request.terms())
            .map_err(|e| NotSendable { field: PayMethod::FIELD, rule: e.to_string() })
            .and_then(|()| Self::check_number("trade_no", &request.trade_no))
            .and_then(|()| transformers::create_form(request));
        let form = match form {
            Ok(form) => form,
            Err(why) => return self.refuse_locally(OP, Method::POST, path, &why),
        };
        let trade_no = request.trade_no.as_str();
        self.call(OP, Method::POST, path, Some(&form), Some(trade_no), |read| {
            intent_answer(OP, read, trade_no, self.browser.as_ref())
        })
        .await
    }

    async fn query(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Query;
        if let Err(why) = Self::check_number("trade_no", trade_no) {
            return self.refuse_locally(OP, Method::GET, "/v1/payment_intents/search", &why);
        }
        match self.find(OP, trade_no).await {
            Err(failed) => Self::search_failed(failed),
            Ok((Found::Nothing(code), search)) => Called::new(
                CallOutcome::Answer { facts: PaymentFacts::status(PaymentStatus::NotFound), code },
                search,
            ),
            Ok((Found::Intent(id), search)) => with_earlier(self.retrieve(OP, &id, trade_no).await, search),
        }
    }

    async fn close(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Close;
        if let Err(why) = Self::check_number("trade_no", trade_no) {
            return self.refuse_locally(OP, Method::POST, "/v1/payment_intents/{id}/cancel", &why);
        }
        let (id, search) = match self.find(OP, trade_no).await {
            Err(failed) => return Self::search_failed(failed),
            Ok((Found::Nothing(code), search)) => {
                let facts = PaymentFacts::status(PaymentStatus::NotFound);
                return Called::new(CallOutcome::Answer { facts, code }, search);
            }
            Ok((Found::Intent(id), search)) => (id, search),
        };
        let path = format!("/v1/payment_intents/{id}/cancel");
        let form = Form::new().with("cancellation_reason", "abandoned");
        let mut conflict = false;
        let key = format!("{trade_no}-cancel");
        let cancelled = self
            .call(OP, Method::POST, &path, Some(&form), Some(&key), |read| {
                if read.treatment == Treatment::StateConflict {
                    conflict = true;
                }
                intent_answer(OP, read, trade_no, self.browser.as_ref())
            })
            .await;
        if !conflict {
            return with_earlier(cancelled, search);
        }
        // Paid (or processing) before the cancel arrived: read it, so the caller records it.
        let mut called = self.retrieve(OP, &id, trade_no).await;
        called.earlier = vec![search, cancelled.exchange];
        called
    }

    async fn capture(&self, request: &CaptureRequest) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Capture;
        let trade_no = request.trade_no.as_str();
        let form =
            Self::check_number("trade_no", trade_no).and_then(|()| transformers::capture_form(request));
        let form = match form {
            Ok(form) => form,
            Err(why) => {
                return self.refuse_locally(OP, Method::POST, "/v1/payment_intents/{id}/capture", &why);
            }
        };
        let key = format!("{trade_no}-capture");
        self.on_the_intent(OP, trade_no, "capture", &form, &key).await
    }

    async fn void(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Void;
        if let Err(why) = Self::check_number("trade_no", trade_no) {
            return self.refuse_locally(OP, Method::POST, "/v1/payment_intents/{id}/cancel", &why);
        }
        let form = Form::new().with("cancellation_reason", "requested_by_customer");
        let key = format!("{trade_no}-void");
        self.on_the_intent(OP, trade_no, "cancel", &form, &key).await
    }

    async fn refund(&self, request: &RefundRequest) -> Called<RefundFacts> {
        const OP: Operation = Operation::Refund;
        let path = "/v1/refunds";
        if let Err(why) = Self::check_number("trade_no", &request.trade_no)
            .and_then(|()| Self::check_number("refund_trade_no", &request.refund_trade_no))
        {
            return self.refuse_locally(OP, Method::POST, path, &why);
        }
        let (id, search) = match self.find(OP, &request.trade_no).await {
            Err(failed) => return Self::search_failed(failed),
            Ok((Found::Nothing(code), search)) => return self.not_yet_searchable(OP, search, code),
            Ok((Found::Intent(id), search)) => (id, search),
        };
        let form = match transformers::refund_form(request, &id) {
            Ok(form) => form,
            Err(why) => return with_earlier(self.refuse_locally(OP, Method::POST, path, &why), search),
        };
        let refund_no = request.refund_trade_no.as_str();
        let called = self
            .call(OP, Method::POST, path, Some(&form), Some(refund_no), |read| match read.treatment {
                Treatment::Facts => match transformers::read::<Refund>(&read.body, "a Refund")
                    .and_then(|r| r.into_facts(refund_no))
                {
                    Ok(facts) => Decided::answer(facts, read.code),
                    Err(e) => unreadable(OP, e),
                },
                t => otherwise(OP, read.status, t, read.code),
            })
            .await;
        with_earlier(called, search)
    }

    async fn refund_query(
        &self,
        trade_no: &str,
        refund_trade_no: &str,
        _currency: Currency,
    ) -> Called<RefundFacts> {
        const OP: Operation = Operation::RefundQuery;
        if let Err(why) = Self::check_number("trade_no", trade_no)
            .and_then(|()| Self::check_number("refund_trade_no", refund_trade_no))
        {
            return self.refuse_locally(OP, Method::GET, "/v1/refunds", &why);
        }
        let (id, search) = match self.find(OP, trade_no).await {
            Err(failed) => return Self::search_failed(failed),
            Ok((Found::Nothing(code), search)) => return self.not_yet_searchable(OP, search, code),
            Ok((Found::Intent(id), search)) => (id, search),
        };
        let path = format!("/v1/refunds?payment_intent={id}&limit=100");
        let called = self
            .call(OP, Method::GET, &path, None, None, |read| match read.treatment {
                Treatment::Facts => match transformers::read::<Listing<Refund>>(&read.body, "a list of Refunds") {
                    Ok(list) => {
                        let has_more = list.has_more;
                        let ours = list.data.into_iter().find(|r| {
                            r.metadata.get(transformers::META_REFUND_NO).map(String::as_str) == Some(refund_trade_no)
                        });
                        match ours.map(|r| r.into_facts(refund_trade_no)) {
                            Some(Ok(facts)) => Decided::answer(facts, read.code),
                            Some(Err(e)) => unreadable(OP, e),
                            None if has_more => unreadable(
                                OP,
                                Unreadable("the payment has more than 100 refunds and ours is not among the first 100".into()),
                            ),
                            None => Decided::answer(
                                RefundFacts::status(RefundStatus::NotFound),
                                codes::map(codes::ErrorCode::ResourceMissing.wire(), "no refund with this refund number"),
                            ),
                        }
                    }
                    Err(e) => unreadable(OP, e),
                },
                Treatment::NotFound => Decided::answer(RefundFacts::status(RefundStatus::NotFound), read.code),
                t => otherwise(OP, read.status, t, read.code),
            })
            .await;
        with_earlier(called, search)
    }

    /// Stripe has no trade bill: every payment is a PaymentIntent, listed by the API, not a file.
    async fn bill(&self, _day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        Err((
            BillError::Download {
                operation: "bill",
                reason: "not implemented: Stripe has no trade bill (reconcile Stripe by its settlement: the balance transactions of each payout)".into(),
            },
            None,
        ))
    }

    /// The payouts that arrived on `day` (UTC) and the balance transactions each pays out
    /// ([`settlement`]); read page by page, checked, then streamed as lines and totals.
    async fn settlement(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        const OP: &str = "settlement";
        let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp();
        let end = start + 86_400;
        let mut exchanges: Vec<Exchange> = Vec::new();
        let path = format!("/v1/payouts?arrival_date%5Bgte%5D={start}&arrival_date%5Blt%5D={end}&limit=100");
        let (body, exchange) = self.fetch(OP, &path).await?;
        exchanges.push(exchange);
        let payouts = match transformers::read::<Listing<settlement::Payout>>(&body, "a list of payouts") {
            Ok(l) if l.has_more => {
                return Err(self.download_error(
                    OP,
                    "more than 100 payouts arrived on the day: not read".into(),
                    exchanges,
                ));
            }
            Ok(l) => l.data,
            Err(e) => return Err(self.download_error(OP, e.0, exchanges)),
        };
        let mut lines = Vec::new();
        for payout in payouts.iter().filter(|p| !matches!(p.status.as_str(), "failed" | "canceled")) {
            let mut txns: Vec<settlement::BalanceTransaction> = Vec::new();
            loop {
                let mut path = format!(
                    "/v1/balance_transactions?payout={}&limit=100&expand%5B%5D=data.source&expand%5B%5D=data.source.payment_intent",
                    payout.id
                );
                if let Some(last) = txns.last() {
                    path.push_str(&format!("&starting_after={}", last.id));
                }
                let (body, exchange) = self.fetch(OP, &path).await?;
                exchanges.push(exchange);
                match transformers::read::<Listing<settlement::BalanceTransaction>>(
                    &body,
                    "a list of balance transactions",
                ) {
                    Ok(page) => {
                        let more = page.has_more && !page.data.is_empty();
                        txns.extend(page.data);
                        if !more {
                            break;
                        }
                    }
                    Err(e) => return Err(self.download_error(OP, e.0, exchanges)),
                }
            }
            let first = u64::try_from(lines.len()).unwrap_or(u64::MAX) + 1;
            match settlement::lines(payout, &txns, first) {
                Ok(mut l) => lines.append(&mut l),
                Err(e) => {
                    let last = exchanges.pop();
                    return Err((e, last));
                }
            }
        }
        let exchange = exchanges.pop().expect("the payouts call at least");
        let items = settlement::items(lines);
        Ok(BillDownload {
            items: Box::pin(futures_util::stream::iter(items.into_iter().map(Ok))),
            exchange,
            earlier: exchanges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthCode, Payer};

    #[test]
    fn stripe_takes_client_secret_only() {
        let payer = Payer::default();
        let terms = |pay_method| PayTerms {
            pay_method,
            auth_code: None::<&AuthCode>,
            payer: &payer,
            capture: Default::default(),
        };
        assert!(pay_terms(&terms(PayMethod::ClientSecret)).is_ok());
        for m in [PayMethod::Redirect, PayMethod::Qr, PayMethod::Form, PayMethod::Direct, PayMethod::Barcode]
        {
            let e = pay_terms(&terms(m)).unwrap_err().to_string();
            assert!(e.contains("pay_method") && e.contains("client_secret only"), "{e}");
        }
    }

    #[test]
    fn client_secrets_never_reach_the_exchange_log_and_forms_pass_as_sent() {
        let body =
            r#"{"id":"pi_1","client_secret":"pi_1_secret_abc","data":[{"client_secret":"pi_2_secret_x"}]}"#;
        let kept = redact_client_secrets(body);
        assert!(!kept.contains("_secret_") && kept.contains("pi_1"), "{kept}");
        let form = "amount=1&metadata%5Btrade_no%5D=t";
        assert_eq!(redact_client_secrets(form), form);
        assert_eq!(
            redact_client_secrets(r#"{"error":{"type":"api_error"}}"#),
            r#"{"error":{"type":"api_error"}}"#
        );
    }

    #[test]
    fn numbers_are_idempotency_keys_safe_to_quote_in_a_search() {
        assert!(StripeAdapter::check_number("trade_no", "0190a1b2c3d4e5f60718293a4b5c6d7e").is_ok());
        for bad in ["", "a'b", "a b", &"x".repeat(256)] {
            let e = StripeAdapter::check_number("trade_no", bad).unwrap_err();
            assert_eq!(e.field, "trade_no");
        }
    }
}
