//! The LINE Pay adapter: Online API v3 (shared PROVIDERS.md, "LINE Pay"; written from LINE Pay's
//! reference, checked with the `search` tool; docs/providers/linepay.md).
//!
//! This file is the flow: build the body ([`transformers`]), sign it ([`signing`]), send it
//! ([`ProviderHttp`]), and read the answer's `returnCode` through the code table
//! ([`codes::CODES`]; the adapter names no code itself).
//!
//! - **Pay** (`redirect` only): `POST /v3/payments/request` with the amount in whole units, our
//!   trade number as `orderId`, one package of one product (the subject), and
//!   `redirectUrls.confirmUrl` = notify-handler's `/return/{provider}/{trade no}` (derived from
//!   the request's notify URL: LINE Pay has no webhook, the customer's redirect is the signal).
//!   The answer's `paymentUrl.web` is the customer's redirect and its `transactionId` the
//!   provider's transaction id (stored on the payment: query and close need it). Nothing is
//!   charged until we confirm. A `1172` (the order id is used) to a repeated request means our
//!   earlier request got through: UNKNOWN, and the dispatcher queries; never a failure.
//! - **Query** ([`ProviderAdapter::query_trade`]): the payment details by `orderId` first (a
//!   confirmed payment is there, with its pay infos and refund list). If it is not there and the
//!   transaction id is known, `check` says where the request is: `0000` waiting for the customer,
//!   `0110` approved (then **confirm**, with our amount, if the payment is still open here:
//!   `TradeRef::may_complete`; for a payment no longer open here, waiting or approved is
//!   closed: it is never confirmed), `0121` cancelled or expired, `0122` failed, `0123`
//!   completed.
//!   Confirm moves the money: it is made only inside a query the dispatcher runs under the
//!   order's serialisation, its read timeout is at least 40 s, and its answer's amount is
//!   checked by the dispatcher like every answer's. A confirm that does not answer is UNKNOWN;
//!   the next query finds the payment in the details, or confirms again (LINE Pay answers a
//!   repeat with `1172`/`1152`, read back). Without a transaction id (the request's answer was
//!   lost) only the details can be read: "not found", believed by the dispatcher only past the
//!   not-found delay (nothing can be charged without our confirm).
//! - **Close**: LINE Pay has no cancel of a payment request. A request that is not confirmed is
//!   closed here: nothing is charged without our confirm, which is never sent for a closed
//!   payment (`may_complete` is false), and LINE Pay lets the request expire. A payment the
//!   details show confirmed comes back as paid, so that the caller records it.
//! - **Refund**: the payment's transaction id from the details, then
//!   `POST /v3/payments/{transactionId}/refund` with `refundAmount` (always given: never a
//!   refund of "the rest"). Synchronous. LINE Pay keeps no refund number of ours.
//! - **Refund query** ([`ProviderAdapter::refund_query_ref`]): the payment's `refundList`, where
//!   our refund is the entry with the `refundTransactionId` the refund's answer gave (stored on
//!   the refund). LINE Pay keeps no refund number of ours: without that id, no refund at all
//!   proves ours was not made (not found); otherwise which entry is ours cannot be told, and the
//!   answer is UNKNOWN for a person (docs/providers/linepay.md).
//! - **Authorise, then capture** (a `capture: manual` redirect payment): the request carries
//!   `options.payment.capture: false`; confirm then only authorises (`Authorized`), and the
//!   details' `payStatus` says where the authorisation is (`AUTHORIZATION`,
//!   `VOIDED_AUTHORIZATION`, `EXPIRED_AUTHORIZATION`; none once captured).
//!   [`ProviderAdapter::capture`] and [`ProviderAdapter::void`] read the details first and post to
//!   `/v3/payments/authorizations/{transactionId}/capture|void` only while LINE Pay holds it; an
//!   answer saying it is not (or no longer) held is read back from the details
//!   ([`codes::after_capture`]), never repeated blind. A one-time-key payment with manual
//!   capture is paid with `capture: false`, read from the offline authorisations, captured or
//!   voided by its order id ([`pos`]); capture and void find it when the online details have
//!   no payment of the order.
//! - **One-time keys** (`barcode`, the offline POS API v2: [`pos`]): pay with the customer's
//!   key, checked by order id, voided (the reversal) or refunded; a query with the method
//!   unknown and nothing online falls back to the POS check.
//! - **Bills**: LINE Pay has no bill or settlement API: [`BillError::NotOffered`], and
//!   [`ProviderAdapter::offers_bills`] is false, so compensation-scheduler reconciles it by a query
//!   sweep (`recon::sweep`: every payment and refund completed on a day is queried, read-only).
//! - **Notifications**: none; [`NoWebhook`] refuses anything posted for LINE Pay.
//!
//! Whatever is not an answer (a timeout, a broken connection, a 5xx, a code not in the table) is
//! UNKNOWN. Every exchange is logged with `X-LINE-Authorization` and `X-LINE-ChannelSecret`
//! redacted; the channel secret never reaches the log.
//!
//! - [`codes`]: the return codes and the `check` statuses, as data;
//! - [`settings`]: the adapter from `PAYGATE_PROVIDER_<NAME>_*`;
//! - [`signing`]: the channel secret and the request signature;
//! - [`transformers`]: the wire types, amounts in whole units, and their conversions.

pub mod codes;
pub mod pos;
pub mod settings;
pub mod signing;
pub mod transformers;
#[cfg(test)]
mod vectors;

use crate::domain::{CaptureMode, Currency, ValidationError};
use crate::messages::commands::PayMethod;
use crate::messages::events::{CustomerAction, HttpGet};
use crate::providers::adapter::{
    CaptureRequest, PayRequest, PayTerms, ProviderAdapter, RefundRef, RefundRequest, TradeRef,
};
use crate::providers::answers::{
    CallOutcome, Called, PaymentFacts, PaymentStatus, RefundFacts, RefundStatus,
};
use crate::providers::bill::{BillDownload, BillError};
use crate::providers::codes::{MappedCode, UnifiedCode};
use crate::providers::decided::{Decided, refused_locally};
use crate::providers::exchange::{Exchange, ExchangeOutcome};
use crate::providers::http::{HttpEnd, OutboundRequest, ProviderHttp, Redaction, json_body};
use crate::providers::notification::{NoWebhook, NotificationPolicy, NotificationVerifier};
use chrono::NaiveDate;
use codes::{AfterCapture, CheckStatus, Meaning};
use reqwest::Method;
use signing::ChannelSecret;
use std::time::Duration;
use transformers::{
    ConfirmInfo, ConfirmRequest, Envelope, NotSendable, PayStatus, RefundInfo, RefundRequestBody,
    RequestInfo, Transaction, Unreadable,
};

/// The provider's name in commands, rows and the registry.
pub const NAME: &str = "linepay";
/// LINE Pay's API host.
pub const DEFAULT_BASE_URL: &str = "https://api-pay.line.me";
/// The read timeout of every call but confirm (LINE Pay's reference: at least 20 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The read timeout of confirm: LINE Pay's reference asks for at least 40 s.
pub const MIN_CONFIRM_TIMEOUT: Duration = Duration::from_secs(40);
/// The read timeout of a capture of an authorisation: LINE Pay's reference asks for at least
/// 60 s (the confirm timeout when that is longer).
pub const MIN_CAPTURE_TIMEOUT: Duration = Duration::from_secs(60);

/// Which read timeout a call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Every call but confirm and capture (at least 20 s at LINE Pay).
    Normal,
    /// Confirm (at least 40 s).
    Confirm,
    /// Capture of an authorisation (at least 60 s).
    Capture,
}
/// How long after our last request a "no such transaction" is believed.
pub const DEFAULT_NOT_FOUND_FINAL_AFTER: Duration = Duration::from_secs(300);
/// How long a one-time-key (POS) payment may stay unfinished before it is voided instead of
/// checked again: the key itself is valid 5 minutes (LINE Pay's offline reference).
pub const DEFAULT_REVERSE_AFTER: Duration = Duration::from_secs(60);
/// `X-LINE-MerchantDeviceType` of POS requests when none is configured.
pub const DEFAULT_DEVICE_TYPE: &str = "POS";

/// What LINE Pay takes: `redirect` (Online API v3: the customer approves at `paymentUrl.web`)
/// and `barcode` (the offline API v2: the customer's one-time key as `auth_code`). Checked by
/// ingest at the door and by the adapter before it sends.
pub fn pay_terms(terms: &PayTerms<'_>) -> Result<(), ValidationError> {
    match terms.pay_method {
        PayMethod::Redirect => Ok(()),
        // Either captures at once or (`capture: manual`) authorises only: online with
        // `options.payment.capture: false`, a one-time key with `capture: false`.
        PayMethod::Barcode => pos::one_time_key_rule(terms.required_auth_code()?),
        other => Err(ValidationError::new(
            PayMethod::FIELD,
            format!(
                "LINE Pay takes redirect (the customer approves at LINE Pay's payment URL) or barcode (the customer's one-time key); got {}",
                other.as_str()
            ),
        )),
    }
}

/// How to reach LINE Pay as one channel.
#[derive(Debug, Clone)]
pub struct LinePayConfig {
    pub name: &'static str,
    /// `https://api-pay.line.me`, the sandbox, or a test server.
    pub base_url: String,
    pub channel_id: String,
    pub channel_secret: ChannelSecret,
    /// `X-LINE-MerchantDeviceProfileId`, when the channel wants it.
    pub device_profile_id: Option<String>,
    /// `X-LINE-MerchantDeviceType` of POS requests.
    pub device_type: String,
    /// How long a one-time-key payment may stay unfinished before it is voided.
    pub reverse_after: Duration,
    pub request_timeout: Duration,
    /// At least [`MIN_CONFIRM_TIMEOUT`].
    pub confirm_timeout: Duration,
    pub not_found_final_after: Duration,
    /// notify-handler's public base URL, for a payment the dispatcher gives no notify URL
    /// (`NOTIFY_BASE_URL` unset): its confirmUrl is then `<it>/return/<name>/<trade no>`.
    pub notify_url_base: Option<String>,
}

impl LinePayConfig {
    pub fn new(channel_id: impl Into<String>, channel_secret: ChannelSecret) -> Self {
        Self {
            name: NAME,
            base_url: DEFAULT_BASE_URL.to_owned(),
            channel_id: channel_id.into(),
            channel_secret,
            device_profile_id: None,
            device_type: DEFAULT_DEVICE_TYPE.to_owned(),
            reverse_after: DEFAULT_REVERSE_AFTER,
            request_timeout: DEFAULT_TIMEOUT,
            confirm_timeout: MIN_CONFIRM_TIMEOUT,
            not_found_final_after: DEFAULT_NOT_FOUND_FINAL_AFTER,
            notify_url_base: None,
        }
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum LinePaySetupError {
    #[error("LINE Pay base URL {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("LINE Pay {field} must not be empty")]
    Empty { field: &'static str },
    #[error("LINE Pay request timeout must be more than zero")]
    ZeroTimeout,
    #[error("LINE Pay confirm timeout must be at least {}s (LINE Pay's reference), got {got:?}", MIN_CONFIRM_TIMEOUT.as_secs())]
    ConfirmTimeout { got: Duration },
    #[error("building the HTTP client for LINE Pay failed: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// The LINE Pay adapter. Cheap to share: `Arc<LinePayAdapter>` in the registry.
#[derive(Debug)]
pub struct LinePayAdapter {
    name: &'static str,
    base_url: String,
    channel_id: String,
    secret: ChannelSecret,
    device_profile_id: Option<String>,
    device_type: String,
    reverse_after: Duration,
    timeout: Duration,
    confirm_timeout: Duration,
    http: ProviderHttp,
    confirm_http: ProviderHttp,
    capture_timeout: Duration,
    capture_http: ProviderHttp,
    verifier: NoWebhook,
    not_found_final_after: Duration,
    notify_url_base: Option<String>,
}

/// An answer read: its code as mapped, what the code means, and the envelope.
struct Read {
    code: MappedCode,
    meaning: Meaning,
    envelope: Envelope,
}

/// A code that decides nothing for this operation.
fn undecided<T>(op: &str, code: MappedCode) -> Decided<T> {
    let reason = format!(
        "LINE Pay answered {op} with {}; that decides nothing, the outcome is unknown",
        code.describe()
    );
    Decided::unknown(reason, code, ExchangeOutcome::Error)
}

fn unreadable<T>(op: &str, code: &MappedCode, e: Unreadable) -> Decided<T> {
    Decided::unreadable(op, Some(&code.provider_code), e.0)
}

/// The usual reading of a code that is not the operation's facts.
fn otherwise<T>(op: &str, read: Read) -> Decided<T> {
    match read.meaning {
        Meaning::Refused => Decided::refused(read.code),
        Meaning::RetryLater | Meaning::InProcess => Decided::retry_later(read.code),
        _ => undecided(op, read.code),
    }
}

/// What a capture's or void's answer decides ([`codes::after_capture`]): `done` (the payment's
/// facts once it is captured or voided), refused, later, unknown, or nothing yet with `read_back`
/// set: the answer says the payment moved some other way, so its own state is read next. Both the
/// online (`/v3`) and the till's (`/v2`, [`pos`]) capture and void read their answer here.
fn capture_answer(op: &str, read: Read, done: PaymentFacts, read_back: &mut bool) -> Decided<PaymentFacts> {
    match codes::after_capture(read.meaning) {
        AfterCapture::Done => Decided::answer(done, read.code),
        AfterCapture::ReadBack => {
            *read_back = true;
            undecided(op, read.code)
        }
        AfterCapture::Refused => Decided::refused(read.code),
        AfterCapture::Later => Decided::retry_later(read.code),
        AfterCapture::Unknown => undecided(op, read.code),
    }
}

/// Appends `exchange` to the exchanges made before `called`'s own.
fn after<T>(mut called: Called<T>, mut before: Vec<Exchange>) -> Called<T> {
    before.append(&mut called.earlier);
    called.earlier = before;
    called
}

/// The facts of a confirmed payment, from its details: captured (`Succeeded`), or, for one
/// confirmed with `capture: false`, its `payStatus`: `AUTHORIZATION` authorised,
/// `VOIDED_AUTHORIZATION` closed, `EXPIRED_AUTHORIZATION` expired. A `payStatus` paygate does
/// not know is unreadable (UNKNOWN), never guessed.
fn paid_facts(t: &Transaction, trade: &TradeRef) -> Result<PaymentFacts, Unreadable> {
    let currency = trade.currency();
    if t.currency_differs(currency) {
        return Err(Unreadable(format!(
            "the payment is in {} but ours is in {}",
            t.currency.as_deref().unwrap_or(""),
            currency.as_str()
        )));
    }
    let Some(pay_status) = transformers::pay_status(t.pay_status.as_deref()) else {
        return Err(Unreadable(format!(
            "the payment's payStatus {:?} is not one paygate knows",
            t.pay_status.as_deref().unwrap_or("")
        )));
    };
    let status = match pay_status {
        PayStatus::Captured => PaymentStatus::Succeeded,
        PayStatus::Authorized => PaymentStatus::Authorized,
        PayStatus::Voided => PaymentStatus::Closed,
        PayStatus::Expired => PaymentStatus::Expired,
    };
    // The pay infos hold what was taken: after a partial capture of an authorisation, the
    // captured part, which does not say what the payment's amount was: not given then.
    let amount = match pay_status {
        PayStatus::Captured if trade.capture.is_manual() => None,
        _ => Some(t.paid(currency)?),
    };
    Ok(PaymentFacts {
        status,
        provider_txn_id: Some(t.transaction_id.0.clone()),
        action: None,
        amount,
        refunded: Some(t.refunded(currency)?),
        paid_at: t
            .transaction_date
            .as_deref()
            .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&chrono::Utc)),
    })
}

/// Whether the online details' answer was "no such payment": a capture or void then looks for a
/// one-time-key (POS) authorisation of the order.
fn online_nothing(called: &Called<PaymentFacts>) -> bool {
    matches!(&called.outcome, CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::NotFound)
}

/// What the payment details said.
enum Details {
    /// The confirmed payment of our order.
    Paid(Box<Transaction>),
    /// No confirmed payment of our order (yet), with the code that said so.
    Nothing(MappedCode),
}

/// The confirmUrl of a payment: notify-handler's return route for it, derived from the notify
/// URL the dispatcher gives (`{base}/notify/{provider}/{trade no}` →
/// `{base}/return/{provider}/{trade no}`), or, without one, from the provider's own
/// `notify_url_base` (`{it}/return/{provider}/{trade no}`).
fn confirm_url(
    request: &PayRequest,
    name: &str,
    notify_url_base: Option<&str>,
) -> Result<String, NotSendable> {
    let missing = || {
        NotSendable {
        field: "notify_url",
        rule: "LINE Pay needs our confirmUrl (notify-handler's /return/{provider}/{trade no}), derived from the notify URL; \
               configure notify-handler's public base URL (NOTIFY_BASE_URL, or the provider's NOTIFY_URL)"
            .into(),
    }
    };
    let Some(notify) = request.notify_url.as_deref() else {
        let base = notify_url_base.ok_or_else(missing)?;
        return Ok(format!("{}/return/{name}/{}", base.trim_end_matches('/'), request.trade_no));
    };
    let marker = "/notify/";
    let at = notify.rfind(marker).ok_or_else(missing)?;
    Ok(format!("{}/return/{}", &notify[..at], &notify[at + marker.len()..]))
}

/// An outcome that is not the details' answer (a refusal, "later", unknown) as a payment call's.
trait MapPayment {
    fn map_payment(self) -> CallOutcome<PaymentFacts>;
}

impl MapPayment for CallOutcome<Details> {
    fn map_payment(self) -> CallOutcome<PaymentFacts> {
        match self {
            CallOutcome::Answer { code, .. } => {
                CallOutcome::Unknown { reason: "the details' answer was not read".into(), code: Some(code) }
            }
            CallOutcome::Refused { code } => CallOutcome::Refused { code },
            CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
            CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
        }
    }
}

/// An outcome without facts (a refusal, "later", unknown) as a refund call's.
trait MapRefund {
    fn map_refund(self) -> CallOutcome<RefundFacts>;
}

impl MapRefund for CallOutcome<PaymentFacts> {
    fn map_refund(self) -> CallOutcome<RefundFacts> {
        match self {
            CallOutcome::Answer { code, .. } | CallOutcome::Refused { code } => CallOutcome::Refused { code },
            CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
            CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
        }
    }
}

impl LinePayAdapter {
    pub fn new(config: LinePayConfig) -> Result<Self, LinePaySetupError> {
        let url = reqwest::Url::parse(&config.base_url).map_err(|e| LinePaySetupError::BaseUrl {
            url: config.base_url.clone(),
            reason: e.to_string(),
        })?;
        let bad = |reason: &str| LinePaySetupError::BaseUrl {
            url: config.base_url.clone(),
            reason: reason.to_owned(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it must not have a query or a fragment"));
        }
        if config.channel_id.trim().is_empty() {
            return Err(LinePaySetupError::Empty { field: "channel id" });
        }
        if config.channel_secret.is_empty() {
            return Err(LinePaySetupError::Empty { field: "channel secret" });
        }
        if config.request_timeout.is_zero() {
            return Err(LinePaySetupError::ZeroTimeout);
        }
        if config.confirm_timeout < MIN_CONFIRM_TIMEOUT {
            return Err(LinePaySetupError::ConfirmTimeout { got: config.confirm_timeout });
        }
        // The customer's one-time key (POS pay) is a payment credential: never logged.
        let redaction = Redaction::headers(&[signing::SIGNATURE_HEADER, signing::CHANNEL_SECRET_HEADER])
            .with_json_fields(&["oneTimeKey"]);
        let http = ProviderHttp::new(config.name, config.request_timeout, redaction.clone())?;
        let confirm_http = ProviderHttp::new(config.name, config.confirm_timeout, redaction.clone())?;
        let capture_timeout = config.confirm_timeout.max(MIN_CAPTURE_TIMEOUT);
        let capture_http = ProviderHttp::new(config.name, capture_timeout, redaction)?;
        Ok(Self {
            name: config.name,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            verifier: NoWebhook::new(config.name, config.channel_id.clone()),
            channel_id: config.channel_id,
            secret: config.channel_secret,
            device_profile_id: config.device_profile_id,
            device_type: config.device_type,
            reverse_after: config.reverse_after,
            timeout: config.request_timeout,
            confirm_timeout: config.confirm_timeout,
            http,
            confirm_http,
            capture_timeout,
            capture_http,
            not_found_final_after: config.not_found_final_after,
            notify_url_base: config.notify_url_base,
        })
    }

    /// The signed headers of a request to `path` with `body_or_query`.
    fn headers(&self, path: &str, body_or_query: &str) -> Vec<(String, String)> {
        let nonce = signing::nonce();
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (signing::CHANNEL_ID_HEADER.to_owned(), self.channel_id.clone()),
            (signing::NONCE_HEADER.to_owned(), nonce.clone()),
            (signing::SIGNATURE_HEADER.to_owned(), signing::sign(&self.secret, path, body_or_query, &nonce)),
        ];
        if let Some(id) = &self.device_profile_id {
            headers.push(("X-LINE-MerchantDeviceProfileId".to_owned(), id.clone()));
        }
        headers
    }

    /// Reads a transport end into an answer, or the undecided outcome.
    fn read<T>(&self, op: &str, end: HttpEnd, timeout: Duration) -> Result<Read, Decided<T>> {
        let answer = Decided::answer_of(op, end, timeout)?;
        let status = answer.status;
        match transformers::envelope(&answer.body) {
            Ok(envelope) if (200..300).contains(&status) => {
                let (code, meaning) = codes::map(&envelope.return_code, &envelope.return_message);
                Ok(Read { code, meaning, envelope })
            }
            Ok(envelope) => Err(Decided::unknown(
                format!(
                    "HTTP {status} to {op} (returnCode {}); the outcome is unknown",
                    envelope.return_code
                ),
                MappedCode::local(UnifiedCode::ProviderError, format!("HTTP {status}")),
                ExchangeOutcome::Error,
            )),
            Err(e) => Err(Decided::unknown(
                format!("HTTP {status} to {op}: {}; the outcome is unknown", e.0),
                MappedCode::local(UnifiedCode::UnreadableAnswer, e.0),
                ExchangeOutcome::Error,
            )),
        }
    }

    /// Sends one signed request (`query` without `?` for a GET, `body` for a POST) and reads it;
    /// `decide` turns an answer into the outcome.
    #[allow(clippy::too_many_arguments)]
    async fn call<T>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        query: Option<&str>,
        body: Option<String>,
        wait: Wait,
        decide: impl FnOnce(Read) -> Decided<T>,
    ) -> Called<T> {
        let signed = body.as_deref().or(query).unwrap_or("");
        let headers = self.headers(path, signed);
        let url = match query {
            Some(q) if !q.is_empty() => format!("{}{path}?{q}", self.base_url),
            _ => format!("{}{path}", self.base_url),
        };
        let (http, timeout) = match wait {
            Wait::Normal => (&self.http, self.timeout),
            Wait::Confirm => (&self.confirm_http, self.confirm_timeout),
            Wait::Capture => (&self.capture_http, self.capture_timeout),
        };
        let sent = http.send(OutboundRequest { operation: op, method, url, headers, body }).await;
        let decided = match self.read(op, sent.end, timeout) {
            Ok(read) => decide(read),
            Err(undecided) => undecided,
        };
        decided.called(sent.draft)
    }

    fn refuse_locally<T>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        why: &NotSendable,
    ) -> Called<T> {
        let url = format!("{}{path}", self.base_url);
        refused_locally(self.name, op, method.as_str(), &url, &why.to_string())
    }

    /// Our trade number, as it goes in a query string (32 hex digits: nothing to escape).
    fn check_trade_no(field: &'static str, n: &str) -> Result<(), NotSendable> {
        if !n.is_empty()
            && n.len() <= 100
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(())
        } else {
            Err(NotSendable {
                field,
                rule: format!("{n:?} must be 1 to 100 characters of A-Z a-z 0-9 _ - (LINE Pay's orderId)"),
            })
        }
    }

    /// The payment details of `trade_no` (`GET /v3/payments?orderId=…`).
    async fn details(&self, op: &'static str, trade_no: &str) -> Called<Details> {
        let query = format!("orderId={trade_no}");
        self.call(op, Method::GET, "/v3/payments", Some(&query), None, Wait::Normal, |read| {
            match read.meaning {
                Meaning::Done => {
                    let list =
                        match transformers::info::<Vec<Transaction>>(&read.envelope, "the payment details") {
                            Ok(list) => list,
                            Err(e) => return unreadable(op, &read.code, e),
                        };
                    match transformers::payment_of(list, trade_no) {
                        Ok(Some(t)) => Decided::answer(Details::Paid(Box::new(t)), read.code),
                        Ok(None) => Decided::answer(Details::Nothing(read.code.clone()), read.code),
                        Err(e) => unreadable(op, &read.code, e),
                    }
                }
                Meaning::NotFound => Decided::answer(Details::Nothing(read.code.clone()), read.code),
                _ => otherwise(op, read),
            }
        })
        .await
    }

    /// `GET /v3/payments/requests/{transactionId}/check`: where the customer is with the request.
    async fn check(&self, op: &'static str, txn: &str) -> Called<(CheckStatus, MappedCode)> {
        let path = format!("/v3/payments/requests/{txn}/check");
        self.call(op, Method::GET, &path, None, None, Wait::Normal, |read| {
            match codes::check_status(&read.envelope.return_code) {
                Some(status) => {
                    let code = codes::check_code(&read.envelope.return_code, &read.envelope.return_message);
                    Decided::answer((status, code.clone()), code)
                }
                None => match read.meaning {
                    // No such request, or it expired: the caller reads the refusal's code.
                    Meaning::NotFound | Meaning::Expired => Decided::refused(read.code),
                    _ => otherwise(op, read),
                },
            }
        })
        .await
    }

    /// `POST /v3/payments/{transactionId}/confirm` with our amount: the money moves.
    async fn confirm(&self, trade: &TradeRef, txn: &str) -> Called<PaymentFacts> {
        const OP: &str = "confirm";
        let path = format!("/v3/payments/{txn}/confirm");
        let amount = match transformers::to_wire(trade.amount, "amount") {
            Ok(a) => a,
            Err(why) => return self.refuse_locally(OP, Method::POST, &path, &why),
        };
        let currency = trade.currency();
        let body = json_body(&ConfirmRequest { amount, currency: currency.as_str() });
        let mut again = false;
        let confirmed = self
            .call(OP, Method::POST, &path, None, Some(body), Wait::Confirm, |read| match read.meaning {
                Meaning::Done => {
                    match transformers::info::<ConfirmInfo>(&read.envelope, "the confirm answer") {
                        Ok(info) => {
                            if info.order_id.as_deref().is_some_and(|o| o != trade.trade_no)
                                || info.transaction_id.0 != txn
                            {
                                return unreadable(
                                    OP,
                                    &read.code,
                                    Unreadable("the confirm answer is about another payment".into()),
                                );
                            }
                            let whole = info.pay_info.iter().try_fold(0_i64, |s, p| s.checked_add(p.amount));
                            let amount = match whole.map(|w| transformers::from_wire(w, currency)) {
                                Some(Ok(m)) if !info.pay_info.is_empty() => Some(m),
                                Some(Ok(_)) => None,
                                Some(Err(e)) => return unreadable(OP, &read.code, e),
                                None => {
                                    return unreadable(
                                        OP,
                                        &read.code,
                                        Unreadable("the pay infos' sum overflows".into()),
                                    );
                                }
                            };
                            // Confirmed with `capture: false`: authorised only (the answer's
                            // authorisation expiry says so too); captured otherwise.
                            let status =
                                if trade.capture.is_manual() || info.authorization_expire_date.is_some() {
                                    PaymentStatus::Authorized
                                } else {
                                    PaymentStatus::Succeeded
                                };
                            let facts = PaymentFacts {
                                status,
                                provider_txn_id: Some(info.transaction_id.0),
                                action: None,
                                amount: amount.or(Some(trade.amount)),
                                refunded: None,
                                paid_at: None,
                            };
                            Decided::answer(facts, read.code)
                        }
                        Err(e) => unreadable(OP, &read.code, e),
                    }
                }
                Meaning::AlreadyDone => {
                    again = true;
                    undecided(OP, read.code)
                }
                Meaning::Expired => Decided::answer(PaymentFacts::status(PaymentStatus::Expired), read.code),
                Meaning::Declined => Decided::answer(PaymentFacts::status(PaymentStatus::Failed), read.code),
                Meaning::NotApproved => {
                    Decided::answer(PaymentFacts::status(PaymentStatus::WaitingForCustomer), read.code)
                }
                _ => otherwise(OP, read),
            })
            .await;
        if !again {
            return confirmed;
        }
        // Confirmed before (our earlier confirm got through): read it back.
        let read_back = self.paid_from_details("query", trade).await;
        after(read_back, vec![confirmed.exchange])
    }

    /// The details' answer as payment facts: paid, or `None` with the code when not there.
    async fn paid_from_details(&self, op: &'static str, trade: &TradeRef) -> Called<PaymentFacts> {
        let details = self.details(op, &trade.trade_no).await;
        let outcome = match details.outcome {
            CallOutcome::Answer { facts: Details::Paid(t), code } => match paid_facts(&t, trade) {
                Ok(facts) => CallOutcome::Answer { facts, code },
                Err(e) => CallOutcome::Unknown { reason: format!("{op}: {}", e.0), code: Some(code) },
            },
            CallOutcome::Answer { facts: Details::Nothing(_), code } => CallOutcome::Unknown {
                reason: "LINE Pay says the payment is completed, but its details do not list it yet".into(),
                code: Some(code),
            },
            CallOutcome::Refused { code } => CallOutcome::Refused { code },
            CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
            CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
        };
        Called { outcome, exchange: details.exchange, earlier: details.earlier }
    }

    /// Query and close share this: the details, then the check (and, for a query that may
    /// complete the payment, the confirm).
    async fn follow(&self, op: &'static str, trade: &TradeRef, closing: bool) -> Called<PaymentFacts> {
        if let Err(why) = Self::check_trade_no("trade_no", &trade.trade_no) {
            return self.refuse_locally(op, Method::GET, "/v3/payments", &why);
        }
        if trade.pay_method == Some(PayMethod::Barcode) {
            return self.pos_follow(op, trade).await;
        }
        let details = self.details(op, &trade.trade_no).await;
        let nothing = match details.outcome {
            CallOutcome::Answer { facts: Details::Paid(t), code } => {
                let outcome = match paid_facts(&t, trade) {
                    Ok(facts) => CallOutcome::Answer { facts, code },
                    Err(e) => CallOutcome::Unknown { reason: format!("{op}: {}", e.0), code: Some(code) },
                };
                return Called { outcome, exchange: details.exchange, earlier: details.earlier };
            }
            CallOutcome::Answer { facts: Details::Nothing(code), .. } => code,
            other => {
                let outcome = match other {
                    CallOutcome::Refused { code } => CallOutcome::Refused { code },
                    CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
                    CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
                    CallOutcome::Answer { .. } => unreachable!("both answers are read above"),
                };
                return Called { outcome, exchange: details.exchange, earlier: details.earlier };
            }
        };
        let mut before = details.earlier;
        before.push(details.exchange);
        let txn = match trade.provider_txn_id.as_deref() {
            Some(t) if transformers::is_txn_id(t) => t.to_owned(),
            // No transaction id: a one-time-key payment (its method unknown to the caller) is
            // found by its order id at the POS API; otherwise (the request's answer was lost)
            // the details are all we can read.
            _ if trade.pay_method.is_none() => return after(self.pos_follow(op, trade).await, before),
            _ => {
                let exchange = before.pop().expect("the details exchange");
                let facts = PaymentFacts::status(PaymentStatus::NotFound);
                return Called {
                    outcome: CallOutcome::Answer { facts, code: nothing },
                    exchange,
                    earlier: before,
                };
            }
        };
        let checked = self.check(op, &txn).await;
        let (status, code) = match checked.outcome {
            CallOutcome::Answer { facts, .. } => facts,
            // A check that says "no such request" or "expired".
            CallOutcome::Refused { code } if code.unified == UnifiedCode::NotFound => {
                if trade.pay_method.is_none() {
                    // Not an online request: perhaps a one-time-key payment.
                    before.push(checked.exchange);
                    return after(self.pos_follow(op, trade).await, before);
                }
                let facts = PaymentFacts::status(PaymentStatus::NotFound);
                return after(Called::new(CallOutcome::Answer { facts, code }, checked.exchange), before);
            }
            CallOutcome::Refused { code } if code.unified == UnifiedCode::ExpiredOrClosed => {
                let facts = PaymentFacts::status(PaymentStatus::Expired);
                return after(Called::new(CallOutcome::Answer { facts, code }, checked.exchange), before);
            }
            other => {
                let outcome = match other {
                    CallOutcome::Refused { code } => CallOutcome::Refused { code },
                    CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
                    CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
                    CallOutcome::Answer { .. } => unreachable!("read above"),
                };
                return after(Called::new(outcome, checked.exchange), before);
            }
        };
        let facts =
            |status| PaymentFacts { provider_txn_id: Some(txn.clone()), ..PaymentFacts::status(status) };
        let answer = |status: PaymentStatus, code: MappedCode, exchange: Exchange, before: Vec<Exchange>| {
            after(Called::new(CallOutcome::Answer { facts: facts(status), code }, exchange), before)
        };
        match status {
            CheckStatus::Waiting | CheckStatus::Approved if closing || !trade.may_complete => {
                // No cancel at LINE Pay: nothing is charged without our confirm, which a payment
                // closed (or no longer open) here never gets; LINE Pay lets the request lapse.
                let code = MappedCode {
                    message: format!(
                        "{}; closed here: LINE Pay has no cancel of a request, and nothing is charged without our confirm, which a payment no longer open here never gets",
                        code.message
                    ),
                    ..code
                };
                answer(PaymentStatus::Closed, code, checked.exchange, before)
            }
            CheckStatus::Waiting => answer(PaymentStatus::WaitingForCustomer, code, checked.exchange, before),
            CheckStatus::Approved => {
                before.push(checked.exchange);
                let confirmed = self.confirm(trade, &txn).await;
                after(confirmed, before)
            }
            CheckStatus::Cancelled => answer(PaymentStatus::Closed, code, checked.exchange, before),
            CheckStatus::Failed => answer(PaymentStatus::Failed, code, checked.exchange, before),
            CheckStatus::Completed => {
                // Completed, yet not in the details a moment ago: read them again.
                before.push(checked.exchange);
                after(self.paid_from_details(op, trade).await, before)
            }
        }
    }

    /// The authorisation of `trade` from the details, for a capture or void: its transaction id
    /// and the details' exchange when LINE Pay still holds it (`AUTHORIZATION`); otherwise the
    /// answer is the payment as the details show it (captured, voided, expired, not found),
    /// and nothing is sent.
    async fn held_authorization(
        &self,
        op: &'static str,
        trade: &TradeRef,
    ) -> Result<(PaymentFacts, MappedCode, Exchange), Called<PaymentFacts>> {
        let details = self.details(op, &trade.trade_no).await;
        let outcome = match details.outcome {
            CallOutcome::Answer { facts: Details::Paid(t), code } => match paid_facts(&t, trade) {
                Ok(facts) if facts.status == PaymentStatus::Authorized => {
                    return Ok((facts, code, details.exchange));
                }
                Ok(facts) => CallOutcome::Answer { facts, code },
                Err(e) => CallOutcome::Unknown { reason: format!("{op}: {}", e.0), code: Some(code) },
            },
            CallOutcome::Answer { facts: Details::Nothing(code), .. } => {
                CallOutcome::Answer { facts: PaymentFacts::status(PaymentStatus::NotFound), code }
            }
            other => other.map_payment(),
        };
        Err(Called { outcome, exchange: details.exchange, earlier: details.earlier })
    }

    /// The payment as the details show it now: what a capture or void answered by a code that
    /// means "not (or no longer) held" comes to ([`codes::after_capture`]).
    async fn read_back(&self, op: &'static str, trade: &TradeRef) -> Called<PaymentFacts> {
        match self.held_authorization(op, trade).await {
            Ok((facts, code, exchange)) => Called::new(CallOutcome::Answer { facts, code }, exchange),
            Err(called) => called,
        }
    }

    /// Sends a capture (`amount`) or void (`None`) of the authorisation `txn`, and reads it: done,
    /// refused, later, unknown, or read back from the details ([`codes::after_capture`]).
    async fn on_authorization(
        &self,
        op: &'static str,
        trade: &TradeRef,
        held: &PaymentFacts,
        amount: Option<i64>,
        found: Exchange,
    ) -> Called<PaymentFacts> {
        let txn = held.provider_txn_id.as_deref().unwrap_or_default();
        let (path, body, wait, done) = match amount {
            Some(a) => (
                format!("/v3/payments/authorizations/{txn}/capture"),
                Some(json_body(&ConfirmRequest { amount: a, currency: trade.currency().as_str() })),
                Wait::Capture,
                PaymentStatus::Succeeded,
            ),
            None => {
                (format!("/v3/payments/authorizations/{txn}/void"), None, Wait::Normal, PaymentStatus::Closed)
            }
        };
        // The payment's (authorised) amount, not the captured part: the dispatcher records the
        // capture's amount from its own request.
        let facts = PaymentFacts {
            provider_txn_id: Some(txn.to_owned()),
            amount: held.amount,
            ..PaymentFacts::status(done)
        };
        let mut again = false;
        let sent = self
            .call(op, Method::POST, &path, None, body, wait, |read| {
                capture_answer(op, read, facts, &mut again)
            })
            .await;
        if !again {
            return after(sent, vec![found]);
        }
        let read_back = self.read_back("query", trade).await;
        after(read_back, vec![found, sent.exchange])
    }

    /// The refundable payment of `trade_no`: its transaction, or the call's outcome without one.
    async fn payment_for_refund(
        &self,
        op: &'static str,
        trade_no: &str,
    ) -> Result<(Transaction, Exchange), Called<RefundFacts>> {
        let details = self.details(op, trade_no).await;
        match details.outcome {
            CallOutcome::Answer { facts: Details::Paid(t), .. } => Ok((*t, details.exchange)),
            CallOutcome::Answer { facts: Details::Nothing(code), .. } => {
                let code = MappedCode {
                    message: format!("no confirmed payment for order {trade_no}"),
                    unified: UnifiedCode::NotFound,
                    ..code
                };
                Err(Called {
                    outcome: CallOutcome::Refused { code },
                    exchange: details.exchange,
                    earlier: details.earlier,
                })
            }
            CallOutcome::Refused { code } => Err(Called {
                outcome: CallOutcome::Refused { code },
                exchange: details.exchange,
                earlier: details.earlier,
            }),
            CallOutcome::RetryLater { code } => Err(Called {
                outcome: CallOutcome::RetryLater { code },
                exchange: details.exchange,
                earlier: details.earlier,
            }),
            CallOutcome::Unknown { reason, code } => Err(Called {
                outcome: CallOutcome::Unknown { reason, code },
                exchange: details.exchange,
                earlier: details.earlier,
            }),
        }
    }
}

#[async_trait::async_trait]
impl ProviderAdapter for LinePayAdapter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn refunds_are_asynchronous(&self) -> bool {
        false
    }

    /// LINE Pay sends no notifications: a verifier that refuses everything posted for it.
    fn notifications(&self) -> &dyn NotificationVerifier {
        &self.verifier
    }

    /// There are no notifications to trust; every state comes from a query.
    fn notification_policy(&self) -> NotificationPolicy {
        NotificationPolicy::AlwaysQueryBack
    }

    fn not_found_is_final_after(&self) -> Duration {
        self.not_found_final_after
    }

    async fn pay(&self, request: &PayRequest) -> Called<PaymentFacts> {
        const OP: &str = "pay";
        if let (PayMethod::Barcode, Some(key)) = (request.pay_method, request.auth_code.as_ref()) {
            if let Err(e) = Self::check_trade_no("trade_no", &request.trade_no) {
                return self.refuse_locally(OP, Method::POST, "/v2/payments/oneTimeKeys/pay", &e);
            }
            return self.pos_pay(request, key).await;
        }
        let path = "/v3/payments/request";
        let body = pay_terms(&request.terms())
            .map_err(|e| NotSendable { field: PayMethod::FIELD, rule: e.to_string() })
            .and_then(|()| Self::check_trade_no("trade_no", &request.trade_no))
            .and_then(|()| confirm_url(request, self.name, self.notify_url_base.as_deref()))
            .and_then(|confirm| {
                let cancel = request.return_url.clone().unwrap_or_else(|| confirm.clone());
                transformers::payment_request(request, confirm, cancel).map(|b| json_body(&b))
            });
        let body = match body {
            Ok(body) => body,
            Err(why) => return self.refuse_locally(OP, Method::POST, path, &why),
        };
        self.call(OP, Method::POST, path, None, Some(body), Wait::Normal, |read| match read.meaning {
            Meaning::Done => match transformers::info::<RequestInfo>(&read.envelope, "the request answer") {
                Ok(info) => {
                    let facts = PaymentFacts {
                        status: PaymentStatus::WaitingForCustomer,
                        provider_txn_id: Some(info.transaction_id.0),
                        action: Some(CustomerAction::Redirect {
                            method: HttpGet::Get,
                            url: info.payment_url.web,
                        }),
                        amount: None,
                        refunded: None,
                        paid_at: None,
                    };
                    Decided::answer(facts, read.code)
                }
                Err(e) => unreadable(OP, &read.code, e),
            },
            // Our order id is used: by our own earlier request, which got through. Query.
            Meaning::AlreadyDone => undecided(OP, read.code),
            Meaning::Declined => Decided::answer(PaymentFacts::status(PaymentStatus::Failed), read.code),
            _ => otherwise(OP, read),
        })
        .await
    }

    /// By our trade number only: the payment details (a confirmed payment), never the check.
    async fn query(&self, trade_no: &str, currency: Currency) -> Called<PaymentFacts> {
        match crate::domain::Money::from_minor(0, currency) {
            Ok(zero) => {
                let trade = TradeRef { may_complete: false, ..TradeRef::new(trade_no, zero) };
                self.follow("query", &trade, false).await
            }
            Err(e) => self.refuse_locally(
                "query",
                Method::GET,
                "/v3/payments",
                &NotSendable { field: "currency", rule: e.to_string() },
            ),
        }
    }

    async fn close(&self, trade_no: &str, currency: Currency) -> Called<PaymentFacts> {
        match crate::domain::Money::from_minor(0, currency) {
            Ok(zero) => {
                self.follow("close", &TradeRef { may_complete: false, ..TradeRef::new(trade_no, zero) }, true)
                    .await
            }
            Err(e) => self.refuse_locally(
                "close",
                Method::GET,
                "/v3/payments",
                &NotSendable { field: "currency", rule: e.to_string() },
            ),
        }
    }

    fn reverse_barcode_after(&self) -> Option<Duration> {
        Some(self.reverse_after)
    }

    /// Voids a one-time-key payment that did not finish in time (refunds it if it completed).
    async fn reverse(
        &self,
        trade_no: &str,
        currency: Currency,
    ) -> Called<crate::providers::answers::ReversalFacts> {
        if let Err(why) = Self::check_trade_no("trade_no", trade_no) {
            return self.refuse_locally("reverse", Method::POST, "/v2/payments/orders/{orderId}/void", &why);
        }
        self.pos_reverse(trade_no, currency).await
    }

    async fn query_trade(&self, trade: &TradeRef) -> Called<PaymentFacts> {
        self.follow("query", trade, false).await
    }

    async fn close_trade(&self, trade: &TradeRef) -> Called<PaymentFacts> {
        let trade = TradeRef { may_complete: false, ..trade.clone() };
        self.follow("close", &trade, true).await
    }

    async fn refund(&self, request: &RefundRequest) -> Called<RefundFacts> {
        const OP: &str = "refund";
        if let Err(why) = Self::check_trade_no("trade_no", &request.trade_no)
            .and_then(|()| transformers::to_wire(request.amount, "amount").map(|_| ()))
        {
            return self.refuse_locally(OP, Method::POST, "/v3/payments/{transactionId}/refund", &why);
        }
        let (payment, found) = match self.payment_for_refund(OP, &request.trade_no).await {
            Ok(p) => p,
            Err(called) if matches!(&called.outcome, CallOutcome::Refused { code } if code.unified == UnifiedCode::NotFound) =>
            {
                // No online payment: a one-time-key payment is refunded by its order id.
                let trade = TradeRef::new(request.trade_no.clone(), request.amount);
                let mut before = called.earlier;
                before.push(called.exchange);
                let checked = self.pos_check(OP, &trade).await;
                before.extend(checked.earlier);
                before.push(checked.exchange);
                return match checked.outcome {
                    CallOutcome::Answer { facts, .. } if facts.status == PaymentStatus::Succeeded => {
                        self.pos_refund(request, before).await
                    }
                    CallOutcome::Answer { code, .. } | CallOutcome::Refused { code } => {
                        let exchange = before.pop().expect("the check's exchange");
                        let code = MappedCode {
                            message: format!("no paid payment for order {}", request.trade_no),
                            ..code
                        };
                        Called { outcome: CallOutcome::Refused { code }, exchange, earlier: before }
                    }
                    other => {
                        let exchange = before.pop().expect("the check's exchange");
                        Called { outcome: other.map_refund(), exchange, earlier: before }
                    }
                };
            }
            Err(called) => return called,
        };
        let txn = payment.transaction_id.0.clone();
        let path = format!("/v3/payments/{txn}/refund");
        let amount = transformers::to_wire(request.amount, "amount").expect("checked above");
        let body = json_body(&RefundRequestBody { refund_amount: amount });
        let refunded = self
            .call(OP, Method::POST, &path, None, Some(body), Wait::Normal, |read| match read.meaning {
                Meaning::Done => {
                    match transformers::info::<RefundInfo>(&read.envelope, "the refund answer") {
                        Ok(info) => Decided::answer(
                            RefundFacts {
                                status: RefundStatus::Succeeded,
                                provider_refund_id: Some(info.refund_transaction_id.0),
                                amount: Some(request.amount),
                            },
                            read.code,
                        ),
                        Err(e) => unreadable(OP, &read.code, e),
                    }
                }
                _ => otherwise(OP, read),
            })
            .await;
        after(refunded, vec![found])
    }

    /// By the numbers alone: LINE Pay keeps no refund number of ours, so only "no refund at all"
    /// can be said ([`ProviderAdapter::refund_query_ref`] finds a refund by its id).
    async fn refund_query(
        &self,
        trade_no: &str,
        refund_trade_no: &str,
        currency: Currency,
    ) -> Called<RefundFacts> {
        match crate::domain::Money::from_minor(0, currency) {
            Ok(zero) => {
                let refund = RefundRef {
                    trade_no: trade_no.to_owned(),
                    refund_trade_no: refund_trade_no.to_owned(),
                    amount: zero,
                    provider_refund_id: None,
                };
                self.refund_query_ref(&refund).await
            }
            Err(e) => self.refuse_locally(
                "refund_query",
                Method::GET,
                "/v3/payments",
                &NotSendable { field: "currency", rule: e.to_string() },
            ),
        }
    }

    /// The payment's `refundList`: the refund whose `refundTransactionId` is the one LINE Pay
    /// gave us; without it, no refund at all proves ours was not made, and anything else is
    /// UNKNOWN (which entry is ours cannot be told: a person compares the list).
    async fn refund_query_ref(&self, refund: &RefundRef) -> Called<RefundFacts> {
        const OP: &str = "refund_query";
        if let Err(why) = Self::check_trade_no("trade_no", &refund.trade_no) {
            return self.refuse_locally(OP, Method::GET, "/v3/payments", &why);
        }
        let currency = refund.amount.currency();
        let details = self.details(OP, &refund.trade_no).await;
        let details = match details.outcome {
            // No online payment: a one-time-key payment's refunds are in the offline payment
            // details ("retrieve payment details", `GET /v2/payments?orderId=`).
            CallOutcome::Answer { facts: Details::Nothing(_), .. } => {
                let trade = TradeRef::new(refund.trade_no.clone(), refund.amount);
                let mut before = details.earlier;
                before.push(details.exchange);
                let listed = self.pos_list(OP, pos::PAYMENTS, &trade).await;
                before.extend(listed.earlier);
                Called { outcome: listed.outcome, exchange: listed.exchange, earlier: before }
            }
            _ => details,
        };
        let outcome = match details.outcome {
            CallOutcome::Answer { facts: Details::Paid(t), code } => {
                let ours = refund
                    .provider_refund_id
                    .as_deref()
                    .and_then(|id| t.refund_list.iter().find(|r| r.refund_transaction_id.0 == id));
                match (ours, &refund.provider_refund_id) {
                    (Some(r), _) => match transformers::from_wire(r.refund_amount, currency) {
                        Ok(amount) => CallOutcome::Answer {
                            facts: RefundFacts {
                                status: RefundStatus::Succeeded,
                                provider_refund_id: Some(r.refund_transaction_id.0.clone()),
                                amount: Some(amount),
                            },
                            code,
                        },
                        Err(e) => CallOutcome::Unknown { reason: format!("{OP}: {}", e.0), code: Some(code) },
                    },
                    (None, _) if t.refund_list.is_empty() => {
                        CallOutcome::Answer { facts: RefundFacts::status(RefundStatus::NotFound), code }
                    }
                    (None, Some(id)) => CallOutcome::Unknown {
                        reason: format!(
                            "LINE Pay gave refund {id} for {}, but the refund list does not show it (yet)",
                            refund.refund_trade_no
                        ),
                        code: Some(code),
                    },
                    (None, None) => CallOutcome::Unknown {
                        reason: format!(
                            "LINE Pay keeps no refund number of ours and gave no refund id for {}: which of the payment's refunds is ours cannot be told (a person compares the refund list)",
                            refund.refund_trade_no
                        ),
                        code: Some(code),
                    },
                }
            }
            CallOutcome::Answer { facts: Details::Nothing(code), .. } => {
                CallOutcome::Answer { facts: RefundFacts::status(RefundStatus::NotFound), code }
            }
            CallOutcome::Refused { code } => CallOutcome::Refused { code },
            CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
            CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
        };
        Called { outcome, exchange: details.exchange, earlier: details.earlier }
    }

    /// Captures `amount` of an authorisation made with `options.payment.capture: false`
    /// (`POST /v3/payments/authorizations/{transactionId}/capture` `{amount, currency}`; the rest
    /// is released). The details first: the transaction id, and whether LINE Pay still holds it;
    /// a payment captured, voided or expired meanwhile is answered as the details show it, and
    /// nothing is sent (so a repeated capture answers the capture made).
    async fn capture(&self, request: &CaptureRequest) -> Called<PaymentFacts> {
        const OP: &str = "capture";
        let path = "/v3/payments/authorizations/{transactionId}/capture";
        let within = |a: i64| {
            if request.amount.currency() != request.authorized.currency()
                || request.amount.minor_units() > request.authorized.minor_units()
            {
                Err(NotSendable {
                    field: "amount",
                    rule: format!(
                        "a capture takes at most the authorised {}; got {}",
                        request.authorized.to_decimal_string(),
                        request.amount.to_decimal_string()
                    ),
                })
            } else {
                Ok(a)
            }
        };
        let amount = match Self::check_trade_no("trade_no", &request.trade_no)
            .and_then(|()| transformers::to_wire(request.amount, "amount"))
            .and_then(within)
        {
            Ok(a) => a,
            Err(why) => return self.refuse_locally(OP, Method::POST, path, &why),
        };
        let trade = TradeRef {
            capture: CaptureMode::Manual,
            ..TradeRef::new(request.trade_no.clone(), request.authorized)
        };
        match self.held_authorization(OP, &trade).await {
            Ok((held, _, found)) => self.on_authorization(OP, &trade, &held, Some(amount), found).await,
            // No online payment: a one-time-key authorisation is captured by its order id.
            Err(answered) if online_nothing(&answered) => {
                let mut before = answered.earlier;
                before.push(answered.exchange);
                self.pos_capture(request, amount, before).await
            }
            Err(answered) => answered,
        }
    }

    /// Voids (releases) an authorisation (`POST /v3/payments/authorizations/{transactionId}/void`):
    /// the details first, as [`ProviderAdapter::capture`]; a payment captured meanwhile answers
    /// as paid, one voided before as closed.
    async fn void(&self, trade_no: &str, currency: Currency) -> Called<PaymentFacts> {
        const OP: &str = "void";
        let path = "/v3/payments/authorizations/{transactionId}/void";
        let zero = crate::domain::Money::from_minor(0, currency)
            .map_err(|e| NotSendable { field: "currency", rule: e.to_string() });
        let zero = match Self::check_trade_no("trade_no", trade_no).and(zero) {
            Ok(z) => z,
            Err(why) => return self.refuse_locally(OP, Method::POST, path, &why),
        };
        // The amount is not known here: the read-back of a held authorisation gives the details'.
        let trade = TradeRef { capture: CaptureMode::Manual, ..TradeRef::new(trade_no, zero) };
        match self.held_authorization(OP, &trade).await {
            Ok((held, _, found)) => self.on_authorization(OP, &trade, &held, None, found).await,
            // No online payment: a one-time-key authorisation is voided by its order id.
            Err(answered) if online_nothing(&answered) => {
                let mut before = answered.earlier;
                before.push(answered.exchange);
                self.pos_void(&trade, before).await
            }
            Err(answered) => answered,
        }
    }

    fn offers_bills(&self) -> bool {
        false
    }

    /// LINE Pay's refund API takes no refund number of ours: a repeated request is a second
    /// refund (a partial one succeeds again).
    fn refunds_repeat_safely(&self) -> bool {
        false
    }

    async fn bill(&self, _day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        Err((
            BillError::NotOffered {
                operation: "bill",
                provider: self.name,
                why: "LINE Pay has no bill API (reconcile by querying each payment, or from Merchant Center exports)",
            },
            None,
        ))
    }

    async fn settlement(&self, _day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        Err((
            BillError::NotOffered {
                operation: "settlement",
                provider: self.name,
                why: "LINE Pay has no settlement API (reconcile from Merchant Center exports)",
            },
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthCode, Money, Payer};

    #[test]
    fn linepay_takes_redirect_and_one_time_keys_of_their_lengths() {
        let payer = Payer::default();
        let terms = |pay_method| PayTerms {
            pay_method,
            auth_code: None::<&AuthCode>,
            payer: &payer,
            capture: CaptureMode::Automatic,
        };
        assert!(pay_terms(&terms(PayMethod::Redirect)).is_ok());
        for m in [PayMethod::Qr, PayMethod::Form, PayMethod::ClientSecret, PayMethod::Direct] {
            let e = pay_terms(&terms(m)).unwrap_err().to_string();
            assert!(e.contains("pay_method") && e.contains("redirect") && e.contains("barcode"), "{e}");
        }
        let e = pay_terms(&terms(PayMethod::Barcode)).unwrap_err().to_string();
        assert!(e.contains("auth_code"), "{e}");
        let keys = [
            ("123456789012", true),
            ("123456789012345678", true),
            ("1234567890123456789", true),
            ("12345678901", false),
            ("12345678901234567", false),
        ];
        for (key, ok) in keys {
            let code = AuthCode::parse(key).unwrap();
            let t = PayTerms {
                pay_method: PayMethod::Barcode,
                auth_code: Some(&code),
                payer: &payer,
                capture: CaptureMode::Automatic,
            };
            assert_eq!(pay_terms(&t).is_ok(), ok, "{key}");
        }
    }

    #[test]
    fn manual_capture_is_taken_online_and_with_a_one_time_key() {
        let payer = Payer::default();
        let code = AuthCode::parse("123456789012").unwrap();
        let manual = |pay_method, auth_code| PayTerms {
            pay_method,
            auth_code,
            payer: &payer,
            capture: CaptureMode::Manual,
        };
        assert!(pay_terms(&manual(PayMethod::Redirect, None)).is_ok());
        assert!(pay_terms(&manual(PayMethod::Barcode, Some(&code))).is_ok());
        // The key's own rules still apply.
        let e = pay_terms(&manual(PayMethod::Barcode, None)).unwrap_err();
        assert_eq!(e.field(), AuthCode::FIELD);
    }

    #[test]
    fn an_authorisations_pay_status_says_where_it_is_and_an_unknown_one_is_unreadable() {
        let trade = TradeRef::new("o", Money::from_minor(100, Currency::JPY).unwrap());
        let t = |status: &str, paid: i64| -> Transaction {
            let status =
                if status.is_empty() { String::new() } else { format!(r#","payStatus":"{status}""#) };
            serde_json::from_str(&format!(
                r#"{{"transactionId":"1","orderId":"o","currency":"JPY","payInfo":[{{"amount":{paid}}}]{status}}}"#
            ))
            .unwrap()
        };
        let status = |s: &str| paid_facts(&t(s, 100), &trade).map(|f| f.status);
        assert_eq!(status(""), Ok(PaymentStatus::Succeeded));
        assert_eq!(status("AUTHORIZATION"), Ok(PaymentStatus::Authorized));
        assert_eq!(status("VOIDED_AUTHORIZATION"), Ok(PaymentStatus::Closed));
        assert_eq!(status("EXPIRED_AUTHORIZATION"), Ok(PaymentStatus::Expired));
        assert!(status("SOMETHING_NEW").is_err(), "never guessed");
        // A partial capture's pay infos hold the captured part: no amount is claimed for a
        // manual-capture payment then.
        let manual = TradeRef { capture: CaptureMode::Manual, ..trade.clone() };
        assert_eq!(paid_facts(&t("", 30), &manual).unwrap().amount, None);
        assert_eq!(
            paid_facts(&t("AUTHORIZATION", 100), &manual).unwrap().amount,
            Some(Money::from_minor(100, Currency::JPY).unwrap())
        );
    }

    #[test]
    fn the_confirm_url_is_notify_handlers_return_route() {
        let mut r = PayRequest {
            trade_no: "t".into(),
            amount: Money::from_minor(100, Currency::JPY).unwrap(),
            subject: "s".into(),
            pay_method: PayMethod::Redirect,
            notify_url: Some("https://pg.example/base/notify/linepay/abc".into()),
            return_url: None,
            expires_at: None,
            auth_code: None,
            payer: Payer::default(),
            capture: Default::default(),
        };
        assert_eq!(confirm_url(&r, "linepay", None).unwrap(), "https://pg.example/base/return/linepay/abc");
        // The dispatcher's notify URL wins over the provider's own base.
        assert_eq!(
            confirm_url(&r, "linepay", Some("http://other:1")).unwrap(),
            "https://pg.example/base/return/linepay/abc"
        );
        r.notify_url = None;
        assert_eq!(confirm_url(&r, "linepay", None).unwrap_err().field, "notify_url");
        // Without one, the provider's NOTIFY_URL (notify-handler's base URL) gives it.
        assert_eq!(
            confirm_url(&r, "linepay_tw", Some("http://127.0.0.1:8083/")).unwrap(),
            "http://127.0.0.1:8083/return/linepay_tw/t"
        );
    }

    #[test]
    fn a_confirm_timeout_under_40_seconds_is_refused() {
        let mut c = LinePayConfig::new("123", ChannelSecret::new("s"));
        c.confirm_timeout = Duration::from_secs(39);
        assert!(matches!(LinePayAdapter::new(c), Err(LinePaySetupError::ConfirmTimeout { .. })));
        assert!(LinePayAdapter::new(LinePayConfig::new("123", ChannelSecret::new("s"))).is_ok());
    }
}
