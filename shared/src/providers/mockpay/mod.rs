//! The mockpay adapter: paygate's side of the sandbox provider's protocol
//! (tests/mockpay/README.md, written from that document only).
//!
//! This file is the flow: build the wire request ([`transformers`]), sign it ([`signing`]), send
//! it ([`ProviderHttp`]), and read the answer's code for the operation through the code table
//! ([`codes::CODES`]: what each code means to us, and to each operation, is written there only).
//!
//! Bills and settlements (`GET /v1/bills/{date}`, `GET /v1/settlements/{date}`) are streamed CSV
//! downloads, read by [`bill`]; an answer that is not `200 text/csv` is read as the envelope and
//! its code reported as the download's failure. Their exchanges keep a summary, not the file.
//!
//! An ambiguous end never looks like success or failure: a code mockpay does not document for an
//! operation is UNKNOWN, and so is an answer about another order. Every call returns its exchange,
//! with the signature redacted, whatever happened.

pub mod bill;
pub mod codes;
pub mod notification;
pub mod settings;
pub mod signing;
pub mod statuses;
pub mod transformers;

use crate::domain::{Currency, PayMethod, ValidationError};
use crate::providers::adapter::{CaptureRequest, PayRequest, PayTerms, ProviderAdapter, RefundRequest};
use crate::providers::answers::{Called, PaymentFacts, PaymentStatus, RefundFacts, RefundStatus};
use crate::providers::bill::{BillDownload, BillError};
use crate::providers::codes::{MappedCode, UnifiedCode};
use crate::providers::decided::{Decided, refused_locally};
use crate::providers::exchange::{Exchange, ExchangeOutcome};
use crate::providers::http::json_body;
use crate::providers::http::{
    Capped, ExchangeDraft, HttpAnswer, HttpEnd, Opened, OutboundRequest, ProviderHttp, Redaction, Sent,
    cut_error, read_capped,
};
use crate::providers::notification::{NotificationPolicy, NotificationVerifier};
use chrono::NaiveDate;
use codes::{Operation, Treatment};
use reqwest::Method;
use signing::Secret;
use std::time::Duration;
use transformers::{
    CaptureCreate, PaymentCreate, PaymentCreated, PaymentInfo, PaymentStatusInfo, RefundCreate, RefundInfo,
    ResponseEnvelope, Unreadable,
};

/// The provider's name in commands, rows and the registry.
pub const NAME: &str = "mockpay";

/// What mockpay takes: every pay method but `barcode` (its `direct` is a POS one-time key
/// charged at once; it has no payment-code flow). The payer is not needed. Checked by ingest at
/// the door and by the adapter before it sends.
pub fn pay_terms(terms: &PayTerms<'_>) -> Result<(), ValidationError> {
    match terms.pay_method {
        PayMethod::Barcode => Err(ValidationError::new(
            PayMethod::FIELD,
            "mockpay takes redirect, form, qr, client_secret or direct, not barcode",
        )),
        _ => Ok(()),
    }
}

/// The request timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach mockpay as one merchant.
#[derive(Debug, Clone)]
pub struct MockpayConfig {
    /// The provider's configured name: `mockpay`, or another for a second account.
    pub name: &'static str,
    /// mockpay's base URL, e.g. `http://127.0.0.1:7070` (a path prefix is allowed and signed).
    pub base_url: String,
    pub merchant_id: String,
    pub secret: Secret,
    /// How long one request may take, connect to last byte; after it the call is UNKNOWN.
    pub request_timeout: Duration,
    /// notify-handler's public base URL. When a request names no notification URL, mockpay is
    /// told `<notify_url_base>/notify/<name>`; without either, it sends no notifications.
    pub notify_url_base: Option<String>,
    /// Whether a verified notification is enough, or mockpay is queried back (the default).
    pub notification_policy: NotificationPolicy,
    /// How long after our last pay request mockpay's "no such trade" is believed
    /// ([`ProviderAdapter::not_found_is_final_after`]).
    pub not_found_final_after: Duration,
    /// How far a notification's timestamp may be from our clock, in seconds.
    pub notify_window_secs: i64,
    /// The most bytes of an answer that are read; a longer one is cut and its call UNKNOWN
    /// ([`crate::providers::http::MAX_RESPONSE_BODY`] by default).
    pub max_response_bytes: usize,
}

/// [`MockpayConfig::not_found_final_after`] by default: mockpay's own reads are consistent, but a
/// pay request we timed out on may still be held by it (its `timeoutHoldMs`) or on the way, so a
/// "no such trade" is believed only once the request is well past every such hold.
pub const DEFAULT_NOT_FOUND_FINAL_AFTER: Duration = Duration::from_secs(60);

impl MockpayConfig {
    /// A configuration with the default timeout and no notification URL.
    pub fn new(
        base_url: impl Into<String>,
        merchant_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self {
            name: NAME,
            base_url: base_url.into(),
            merchant_id: merchant_id.into(),
            secret: Secret::new(secret),
            request_timeout: DEFAULT_TIMEOUT,
            notify_url_base: None,
            notification_policy: NotificationPolicy::AlwaysQueryBack,
            not_found_final_after: DEFAULT_NOT_FOUND_FINAL_AFTER,
            notify_window_secs: notification::DEFAULT_WINDOW_SECS,
            max_response_bytes: crate::providers::http::MAX_RESPONSE_BODY,
        }
    }

    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    pub fn with_notify_window_secs(mut self, secs: i64) -> Self {
        self.notify_window_secs = secs;
        self
    }

    pub fn with_not_found_final_after(mut self, after: Duration) -> Self {
        self.not_found_final_after = after;
        self
    }

    pub fn with_notification_policy(mut self, policy: NotificationPolicy) -> Self {
        self.notification_policy = policy;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn with_notify_url_base(mut self, base: impl Into<String>) -> Self {
        self.notify_url_base = Some(base.into());
        self
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum MockpaySetupError {
    #[error("mockpay base URL {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("mockpay merchant id must not be empty")]
    EmptyMerchantId,
    #[error("mockpay merchant secret must not be empty")]
    EmptySecret,
    #[error("mockpay request timeout must be more than zero")]
    ZeroTimeout,
    #[error("building the HTTP client for mockpay failed: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// The mockpay adapter. Cheap to share: `Arc<MockpayAdapter>` in the registry.
#[derive(Debug)]
pub struct MockpayAdapter {
    name: &'static str,
    /// Without a trailing slash.
    base_url: String,
    /// The base URL's path, without a trailing slash: signed in front of every API path.
    path_prefix: String,
    merchant_id: String,
    secret: Secret,
    notify_url_base: Option<String>,
    timeout: Duration,
    http: ProviderHttp,
    notifications: notification::MockpayNotifications,
    notification_policy: NotificationPolicy,
    not_found_final_after: Duration,
    /// For bills: the timeout bounds each wait for bytes, not the whole download.
    downloads: ProviderHttp,
}

/// The valid form of `orderId` and `refundId`: 1 to 64 characters of `A-Z a-z 0-9 - _ . :`.
fn valid_number(n: &str) -> bool {
    (1..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// How the transport and envelope part of an answer reads, before the operation gives the code a
/// meaning.
enum Read {
    /// An envelope with its mapped code, from a non-5xx answer.
    Coded { code: MappedCode, envelope: ResponseEnvelope },
    /// Nothing decided: no answer, a broken one, or a 5xx.
    Undecided { reason: String, code: MappedCode, exchange: ExchangeOutcome },
}

/// A provider code this operation does not expect.
fn unexpected<T>(operation: Operation, code: MappedCode) -> Decided<T> {
    let operation = operation.as_str();
    let reason = format!(
        "mockpay answered {operation} with {}, which it does not document for {operation}; the outcome is unknown",
        code.describe()
    );
    Decided::unknown(reason, code, ExchangeOutcome::Error)
}

/// An answer we cannot read.
fn unreadable<T>(operation: Operation, code: &MappedCode, e: Unreadable) -> Decided<T> {
    Decided::unreadable(operation.as_str(), Some(&code.provider_code), e.0)
}

impl MockpayAdapter {
    pub fn new(config: MockpayConfig) -> Result<Self, MockpaySetupError> {
        let url = reqwest::Url::parse(&config.base_url).map_err(|e| MockpaySetupError::BaseUrl {
            url: config.base_url.clone(),
            reason: e.to_string(),
        })?;
        let bad = |reason: &str| MockpaySetupError::BaseUrl {
            url: config.base_url.clone(),
            reason: reason.to_owned(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it must not have a query or a fragment"));
        }
        if config.merchant_id.is_empty() {
            return Err(MockpaySetupError::EmptyMerchantId);
        }
        if config.secret.is_empty() {
            return Err(MockpaySetupError::EmptySecret);
        }
        if config.request_timeout.is_zero() {
            return Err(MockpaySetupError::ZeroTimeout);
        }
        let http = ProviderHttp::new(
            config.name,
            config.request_timeout,
            Redaction::headers(&[signing::HEADER_SIGNATURE]),
        )?
        .with_max_body(config.max_response_bytes);
        let downloads = ProviderHttp::for_downloads(
            config.name,
            config.request_timeout,
            Redaction::headers(&[signing::HEADER_SIGNATURE]),
        )?;
        Ok(Self {
            name: config.name,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            path_prefix: url.path().trim_end_matches('/').to_owned(),
            notifications: notification::MockpayNotifications::new(
                config.merchant_id.clone(),
                config.secret.clone(),
            )
            .named(config.name)
            .with_window_secs(config.notify_window_secs),
            notification_policy: config.notification_policy,
            not_found_final_after: config.not_found_final_after,
            merchant_id: config.merchant_id,
            secret: config.secret,
            notify_url_base: config.notify_url_base.map(|b| b.trim_end_matches('/').to_owned()),
            timeout: config.request_timeout,
            http,
            downloads,
        })
    }

    fn notify_url(&self, asked: &Option<String>) -> Option<String> {
        asked
            .clone()
            .or_else(|| self.notify_url_base.as_ref().map(|base| format!("{base}/notify/{}", self.name)))
    }

    /// Signs and sends one request. `path` is below the base URL, e.g. `/v1/payments`.
    async fn send(&self, operation: &'static str, method: Method, path: &str, body: Option<String>) -> Sent {
        let path_and_query = format!("{}{path}", self.path_prefix);
        let signed = signing::sign_now(
            &self.merchant_id,
            &self.secret,
            method.as_str(),
            &path_and_query,
            body.as_deref().unwrap_or(""),
        );
        let mut headers = Vec::with_capacity(5);
        if body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        headers.extend(signed.pairs());
        let url = format!("{}{path}", self.base_url);
        self.http.send(OutboundRequest { operation, method, url, headers, body }).await
    }

    /// Reads the transport end and the envelope.
    fn read(&self, operation: &str, end: HttpEnd) -> Read {
        match end {
            HttpEnd::TimedOut { error } => Read::Undecided {
                reason: format!(
                    "no answer to {operation} within {:?}; it may or may not have happened",
                    self.timeout
                ),
                code: MappedCode::local(UnifiedCode::Timeout, error),
                exchange: ExchangeOutcome::Timeout,
            },
            HttpEnd::TransportFailed { error } => Read::Undecided {
                reason: format!(
                    "the connection failed during {operation} ({error}); it may or may not have happened"
                ),
                code: MappedCode::local(UnifiedCode::TransportError, error),
                exchange: ExchangeOutcome::TransportError,
            },
            HttpEnd::Cut { limit, error } => Read::Undecided {
                reason: format!(
                    "the answer to {operation} was longer than {limit} bytes and was cut; it may or may not have happened"
                ),
                code: MappedCode::local(UnifiedCode::UnreadableAnswer, error),
                exchange: ExchangeOutcome::Error,
            },
            HttpEnd::Answered(answer) => {
                let envelope = match ResponseEnvelope::parse(&answer.body) {
                    Ok(envelope) => envelope,
                    Err(e) => {
                        return Read::Undecided {
                            reason: format!(
                                "HTTP {} to {operation}: {e}; the outcome is unknown",
                                answer.status
                            ),
                            code: MappedCode::local(UnifiedCode::UnreadableAnswer, e.0),
                            exchange: ExchangeOutcome::Error,
                        };
                    }
                };
                let code = codes::map(&envelope.return_code, envelope.return_message.clone());
                if answer.status >= 500 {
                    // Nothing the body says is taken at its word from a server error.
                    return Read::Undecided {
                        reason: format!(
                            "HTTP {} with {} to {operation}; the outcome is unknown",
                            answer.status,
                            code.describe()
                        ),
                        code,
                        exchange: ExchangeOutcome::Error,
                    };
                }
                Read::Coded { code, envelope }
            }
        }
    }

    /// Sends, reads, gives the code the meaning the code table has for `operation` (letting
    /// `answer` read the facts of an answer), and finishes the exchange.
    async fn call<T>(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        body: Option<String>,
        answer: impl FnOnce(Treatment, MappedCode, ResponseEnvelope) -> Decided<T>,
    ) -> Called<T> {
        let Sent { end, draft } = self.send(operation.as_str(), method, path, body).await;
        let decided = match self.read(operation.as_str(), end) {
            Read::Undecided { reason, code, exchange } => Decided::unknown(reason, code, exchange),
            Read::Coded { code, envelope } => match codes::treatment(operation, &code.provider_code) {
                Treatment::Refused => Decided::refused(code),
                Treatment::RetryLater => Decided::retry_later(code),
                Treatment::Unknown => unexpected(operation, code),
                answered => answer(answered, code, envelope),
            },
        };
        decided.called(draft)
    }

    /// A request we refuse to send (a trade number mockpay cannot take): definitive, nothing sent.
    fn refuse_locally<T>(&self, operation: Operation, method: Method, path: &str, why: String) -> Called<T> {
        let url = format!("{}{path}", self.base_url);
        refused_locally(self.name, operation.as_str(), method.as_str(), &url, &why)
    }

    fn check_numbers(numbers: &[(&str, &str)]) -> Result<(), String> {
        for (field, n) in numbers {
            if !valid_number(n) {
                return Err(format!(
                    "{field} {n:?} is not 1 to 64 characters of A-Z a-z 0-9 - _ . :, which mockpay requires"
                ));
            }
        }
        Ok(())
    }
}

impl MockpayAdapter {
    /// Opens `GET <path>` as a streamed CSV download.
    async fn download(
        &self,
        operation: &'static str,
        path: String,
    ) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        let path_and_query = format!("{}{path}", self.path_prefix);
        let signed = signing::sign_now(&self.merchant_id, &self.secret, "GET", &path_and_query, "");
        let url = format!("{}{path}", self.base_url);
        let request =
            OutboundRequest { operation, method: Method::GET, url, headers: signed.pairs(), body: None };
        let Opened { response, draft } = self.downloads.open(request).await;
        let fail = |draft: ExchangeDraft, outcome, code: Option<&MappedCode>, reason: String| {
            let exchange = draft.finish(outcome, code, Some(reason.clone()));
            (BillError::Download { operation, reason }, Some(exchange))
        };
        let response = match response {
            Ok(r) => r,
            Err(HttpEnd::TimedOut { error }) => {
                return Err(fail(
                    draft,
                    ExchangeOutcome::Timeout,
                    None,
                    format!("no answer within {:?}: {error}", self.timeout),
                ));
            }
            Err(
                HttpEnd::TransportFailed { error }
                | HttpEnd::Cut { error, .. }
                | HttpEnd::Answered(HttpAnswer { body: error, .. }),
            ) => {
                return Err(fail(draft, ExchangeOutcome::TransportError, None, error));
            }
        };
        let csv = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"));
        if response.status().as_u16() != 200 || !csv {
            // An envelope: its code says why (1106, 1110, 9000, ...).
            let status = response.status().as_u16();
            let (body, cut) = match read_capped(response, self.downloads.max_body()).await {
                Ok(Capped::Whole(body)) => (body, None),
                Ok(Capped::Cut(part)) => (part, Some(cut_error(self.downloads.max_body()))),
                Err(e) => (String::new(), Some(format!("the answer's body broke off: {e}"))),
            };
            let draft = draft.summarise_body(body.clone());
            if let Some(cut) = cut {
                let reason = format!("HTTP {status} instead of a CSV file: {cut}");
                return Err(fail(draft, ExchangeOutcome::Error, None, reason));
            }
            return Err(match ResponseEnvelope::parse(&body) {
                Ok(envelope) => {
                    let code = codes::map(&envelope.return_code, envelope.return_message);
                    let reason = format!("HTTP {status} with {}", code.describe());
                    fail(draft, ExchangeOutcome::Error, Some(&code), reason)
                }
                Err(e) => fail(draft, ExchangeOutcome::Error, None, format!("HTTP {status}: {e}")),
            });
        }
        let exchange = draft
            .summarise_body(format!(
                "{operation} file streamed to reconciliation; the lines are kept there, not here"
            ))
            .finish(ExchangeOutcome::Ok, None, None);
        let chunks = futures_util::stream::unfold(Some(response), |response| async move {
            let mut response = response?;
            match response.chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), Some(response))),
                Ok(None) => None,
                Err(e) => Some((Err(e.to_string()), None)),
            }
        });
        Ok(BillDownload { items: bill::items(operation, chunks), exchange, earlier: Vec::new() })
    }
}

#[async_trait::async_trait]
impl ProviderAdapter for MockpayAdapter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn refunds_are_asynchronous(&self) -> bool {
        true
    }

    fn notifications(&self) -> &dyn NotificationVerifier {
        &self.notifications
    }

    fn notification_policy(&self) -> NotificationPolicy {
        self.notification_policy
    }

    fn not_found_is_final_after(&self) -> Duration {
        self.not_found_final_after
    }

    async fn pay(&self, request: &PayRequest) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Pay;
        let path = "/v1/payments";
        if let Err(why) = Self::check_numbers(&[("trade number", &request.trade_no)]) {
            return self.refuse_locally(OP, Method::POST, path, why);
        }
        if let Err(refused) = pay_terms(&request.terms()) {
            return self.refuse_locally(OP, Method::POST, path, refused.to_string());
        }
        let body = json_body(&PaymentCreate::from_request(request, self.notify_url(&request.notify_url)));
        let order_id = request.trade_no.as_str();
        self.call(OP, Method::POST, path, Some(body), |treatment, code, envelope| match treatment {
            Treatment::Facts => {
                match envelope.info::<PaymentCreated>("a payment").and_then(|i| i.into_facts(order_id)) {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::Declined => {
                // A decline is final. Its info, when present, must agree that it is DECLINED.
                let facts = match &envelope.info {
                    None => Ok(PaymentFacts::status(PaymentStatus::Failed)),
                    Some(_) => envelope
                        .info::<PaymentCreated>("the declined payment")
                        .and_then(|i| i.into_facts(order_id)),
                };
                match facts {
                    Ok(facts) if facts.status == PaymentStatus::Failed => Decided::answer(facts, code),
                    Ok(facts) => unreadable(
                        OP,
                        &code,
                        Unreadable(format!("a decline whose payment is {:?}, not DECLINED", facts.status)),
                    ),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn bill(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        self.download("bill", format!("/v1/bills/{}", day.format("%Y-%m-%d"))).await
    }

    async fn settlement(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        self.download("settlement", format!("/v1/settlements/{}", day.format("%Y-%m-%d"))).await
    }

    async fn query(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Query;
        let path = format!("/v1/payments/{trade_no}");
        if let Err(why) = Self::check_numbers(&[("trade number", trade_no)]) {
            return self.refuse_locally(OP, Method::GET, &path, why);
        }
        self.call(OP, Method::GET, &path, None, |treatment, code, envelope| match treatment {
            Treatment::Facts => {
                let info = envelope.info::<PaymentInfo>("a payment");
                let decline_code = info.as_ref().ok().and_then(|i| i.decline_code.clone());
                match info.and_then(|i| i.into_facts(trade_no)) {
                    // A declined payment answers the query with 0000: the decline's own code is
                    // what tells why, so it is the code the answer carries.
                    Ok(facts) if facts.status == PaymentStatus::Failed && decline_code.is_some() => {
                        let decline = decline_code.unwrap_or_default();
                        let declined = codes::map(&decline, "declined (found by a query)");
                        Decided::answer(facts, declined)
                    }
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), code),
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn close(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Close;
        let path = format!("/v1/payments/{trade_no}/close");
        if let Err(why) = Self::check_numbers(&[("trade number", trade_no)]) {
            return self.refuse_locally(OP, Method::POST, &path, why);
        }
        self.call(OP, Method::POST, &path, Some("{}".to_owned()), |treatment, code, envelope| match treatment
        {
            Treatment::Facts => {
                match envelope
                    .info::<PaymentStatusInfo>("a payment status")
                    .and_then(|i| i.into_facts(trade_no))
                {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::Paid => {
                // Paid before the close arrived: the caller records the payment instead.
                let txn = envelope
                    .info::<PaymentStatusInfo>("a payment status")
                    .ok()
                    .filter(|i| i.order_id == trade_no)
                    .map(|i| i.transaction_id);
                let facts =
                    PaymentFacts { provider_txn_id: txn, ..PaymentFacts::status(PaymentStatus::Succeeded) };
                Decided::answer(facts, code)
            }
            Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), code),
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn capture(&self, request: &CaptureRequest) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Capture;
        let trade_no = request.trade_no.as_str();
        let path = format!("/v1/payments/{trade_no}/capture");
        if let Err(why) = Self::check_numbers(&[("trade number", trade_no)]) {
            return self.refuse_locally(OP, Method::POST, &path, why);
        }
        let body = json_body(&CaptureCreate { amount: request.amount.minor_units() });
        self.call(OP, Method::POST, &path, Some(body), |treatment, code, envelope| match treatment {
            Treatment::Facts => {
                match envelope.info::<PaymentInfo>("a payment").and_then(|i| i.into_facts(trade_no)) {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), code),
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn void(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Void;
        let path = format!("/v1/payments/{trade_no}/void");
        if let Err(why) = Self::check_numbers(&[("trade number", trade_no)]) {
            return self.refuse_locally(OP, Method::POST, &path, why);
        }
        self.call(OP, Method::POST, &path, Some("{}".to_owned()), |treatment, code, envelope| match treatment
        {
            Treatment::Facts => {
                match envelope
                    .info::<PaymentStatusInfo>("a payment status")
                    .and_then(|i| i.into_facts(trade_no))
                {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::Paid => {
                // Captured before the void arrived: the caller records the capture instead.
                let txn = envelope
                    .info::<PaymentStatusInfo>("a payment status")
                    .ok()
                    .filter(|i| i.order_id == trade_no)
                    .map(|i| i.transaction_id);
                let facts =
                    PaymentFacts { provider_txn_id: txn, ..PaymentFacts::status(PaymentStatus::Succeeded) };
                Decided::answer(facts, code)
            }
            Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), code),
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn refund(&self, request: &RefundRequest) -> Called<RefundFacts> {
        const OP: Operation = Operation::Refund;
        let path = "/v1/refunds";
        if let Err(why) = Self::check_numbers(&[
            ("trade number", &request.trade_no),
            ("refund number", &request.refund_trade_no),
        ]) {
            return self.refuse_locally(OP, Method::POST, path, why);
        }
        let body = json_body(&RefundCreate::from_request(request, self.notify_url(&request.notify_url)));
        let currency = request.amount.currency();
        self.call(OP, Method::POST, path, Some(body), |treatment, code, envelope| match treatment {
            Treatment::Facts => match envelope
                .info::<RefundInfo>("a refund")
                .and_then(|i| i.into_facts(&request.trade_no, &request.refund_trade_no, currency))
            {
                Ok(facts) => Decided::answer(facts, code),
                Err(e) => unreadable(OP, &code, e),
            },
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn refund_query(
        &self,
        trade_no: &str,
        refund_trade_no: &str,
        currency: Currency,
    ) -> Called<RefundFacts> {
        const OP: Operation = Operation::RefundQuery;
        let path = format!("/v1/refunds/{refund_trade_no}");
        if let Err(why) =
            Self::check_numbers(&[("trade number", trade_no), ("refund number", refund_trade_no)])
        {
            return self.refuse_locally(OP, Method::GET, &path, why);
        }
        self.call(OP, Method::GET, &path, None, |treatment, code, envelope| match treatment {
            Treatment::Facts => match envelope
                .info::<RefundInfo>("a refund")
                .and_then(|i| i.into_facts(trade_no, refund_trade_no, currency))
            {
                Ok(facts) => Decided::answer(facts, code),
                Err(e) => unreadable(OP, &code, e),
            },
            Treatment::NotFound => Decided::answer(RefundFacts::status(RefundStatus::NotFound), code),
            _ => unexpected(OP, code),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_numbers_are_checked_against_mockpays_alphabet() {
        assert!(valid_number("0190a1b2c3d4e5f60718293a4b5c6d7e"));
        assert!(valid_number("ord-1001.a_b:c"));
        assert!(!valid_number(""));
        assert!(!valid_number("a/b"));
        assert!(!valid_number(&"x".repeat(65)));
    }

    #[test]
    fn a_bad_configuration_is_named() {
        let err = MockpayAdapter::new(MockpayConfig::new("not a url", "m1", "s")).unwrap_err();
        assert!(err.to_string().contains("not a url"), "{err}");
        let err = MockpayAdapter::new(MockpayConfig::new("http://127.0.0.1:1", "", "s")).unwrap_err();
        assert!(matches!(err, MockpaySetupError::EmptyMerchantId));
        let err = MockpayAdapter::new(MockpayConfig::new("http://127.0.0.1:1", "m1", "")).unwrap_err();
        assert!(matches!(err, MockpaySetupError::EmptySecret));
    }

    #[test]
    fn the_notification_url_comes_from_the_request_or_the_base() {
        let adapter = MockpayAdapter::new(
            MockpayConfig::new("http://127.0.0.1:1/", "m1", "s").with_notify_url_base("http://n:8083/"),
        )
        .unwrap();
        assert_eq!(adapter.notify_url(&None).as_deref(), Some("http://n:8083/notify/mockpay"));
        assert_eq!(adapter.notify_url(&Some("http://x/y".into())).as_deref(), Some("http://x/y"));
        assert_eq!(adapter.base_url, "http://127.0.0.1:1");
        assert_eq!(adapter.path_prefix, "");
    }

    #[test]
    fn the_secret_does_not_show_in_the_adapters_debug() {
        let adapter =
            MockpayAdapter::new(MockpayConfig::new("http://127.0.0.1:1", "m1", "very-secret")).unwrap();
        assert!(!format!("{adapter:?}").contains("very-secret"));
    }
}
