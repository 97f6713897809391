//! The Alipay adapter (open platform gateway, RSA2; ../shared/PROVIDERS.md, "Alipay open
//! platform"; issue 14).
//!
//! This file is the flow: build the request's parameters ([`transformers`]), sign them
//! ([`signing`]), post them to the gateway ([`ProviderHttp`]), verify the answer's signature over
//! the raw `*_response` text, and read its `code`/`sub_code` for the operation through the code
//! table ([`codes::CODES`]: what each code means to us and to each operation is written there
//! only). An answer whose signature does not verify is UNKNOWN, never success; so is a timeout, a
//! broken connection, an HTTP 5xx, an answer we cannot read, or one about another order.
//!
//! - Pay by [`PayMethod`]: `qr` is `alipay.trade.precreate` (its `qr_code` is the customer's
//!   action); `redirect` and `form` are `alipay.trade.page.pay` (PC) or `alipay.trade.wap.pay`
//!   (mobile; the `WEB_PAY` setting), which are not calls: the signed parameters become a GET URL
//!   or a POST form on the gateway for the customer's browser, and the trade exists at Alipay
//!   only once the customer opens it. `barcode` is `alipay.trade.pay` (face to face) with the
//!   customer's payment code (`PayRequest::auth_code`, [`pay_terms`]: 16 to 24 digits starting
//!   with 25 to 30): paid at once, declined, or in process (`10003`, the customer confirms on the
//!   phone: PROCESSING, polled by query). `direct` (a charge without the customer's code) and
//!   `client_secret` (app pay) are refused before anything is sent, at the door by ingest already.
//! - `alipay.trade.cancel` reverses a barcode payment (closing it, or refunding it if it was paid
//!   meanwhile): [`AlipayAdapter::cancel`], which is [`ProviderAdapter::reverse`]. The dispatcher
//!   reverses a barcode payment still unfinished [`DEFAULT_REVERSE_AFTER`] after its creation (the
//!   `REVERSE_AFTER` setting) instead of querying it again: Alipay's face-to-face guidance is to
//!   poll by query for about 30 s and then cancel whatever is not paid (and to cancel within 24
//!   hours). `retry_flag=Y` (send the cancel again) is UNKNOWN: the dispatcher asks again.
//! - CNY only: any other currency is refused before anything is sent.
//! - The exchange log never holds `sign`, the keys or the customer's barcode: the request form's
//!   `sign` and `biz_content.auth_code`, and the answer's `sign`, are redacted.
//! - Bills ([`ProviderAdapter::bill`]): `alipay.data.dataservice.bill.downloadurl.query`
//!   (`bill_type=trade`, the Beijing day) is called and verified like any answer (a signature
//!   that fails is an error, its URL never fetched), its code read through [`codes`] (no bill
//!   yet, `isp.bill_not_exist`, is an error that says to retry later). The ZIP at
//!   `bill_download_url` is fetched at once (the URL lives 30 s), streamed to a temporary file
//!   (`bill_dir`, at most `max_bill_bytes`; each wait for bytes bounded by the timeout) while its
//!   SHA-256 is taken, then read once to check it ([`bill::read_zip`]: every line parses and the
//!   summary's totals agree with the lines) before its lines are streamed from the file
//!   ([`bill::stream_file`], which removes it once read). The exchange log gets the query's
//!   exchange (redacted) and the download's, whose body is a summary (bytes, SHA-256, lines),
//!   never the file. If the download fails after the query, only the download's exchange is
//!   returned (its URL is the one the query gave): the trait's error carries one exchange.
//! - Settlements: not implemented. `bill_type=signcustomer` (the account's fund flow) is the
//!   candidate, but its file format could not be confirmed against Alipay's reference.

pub mod bill;
pub mod codes;
pub mod notification;
pub mod settings;
pub mod signing;
pub mod transformers;

pub use notification::{AlipayNotification, NotificationError, TradeStatus};
pub use signing::{AlipayPublicKey, AppPrivateKey, ResponseError};

use crate::domain::{AuthCode, Currency, ValidationError};
use crate::messages::commands::PayMethod;
use crate::providers::adapter::{PayRequest, PayTerms, ProviderAdapter, RefundRequest};
use crate::providers::answers::{
    CallOutcome, Called, PaymentFacts, PaymentStatus, RefundFacts, RefundStatus, ReversalFacts,
    ReversalStatus,
};
use crate::providers::bill::{BillDownload, BillError};
use crate::providers::codes::{MappedCode, UnifiedCode};
use crate::providers::decided::{Decided, refused_locally};
use crate::providers::exchange::{Exchange, ExchangeOutcome};
use crate::providers::http::{
    Capped, ExchangeDraft, HttpEnd, Opened, OutboundRequest, ProviderHttp, REDACTED, Redaction, Sent,
    read_capped,
};
use crate::providers::notification::{NotificationPolicy, NotificationVerifier};
use chrono::{NaiveDate, Utc};
use codes::{Operation, Treatment};
use reqwest::Method;
use std::time::Duration;
use transformers::CancelAction;
use transformers::{
    Answer, BarcodePay, CancelAnswer, CancelFacts, CloseAnswer, Common, PayAnswer, PrecreateAnswer,
    QueryAnswer, RefundAnswer, RefundCreate, RefundQueryAnswer, RefundRef, TradeCreate, TradeRef, Unreadable,
};

/// The provider's name in commands, rows and the registry.
pub const NAME: &str = "alipay";
/// Alipay's production gateway.
pub const DEFAULT_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
/// The request timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after our last pay request `ACQ.TRADE_NOT_EXIST` is believed. A page, wap or QR
/// trade exists at Alipay only once the customer opened or scanned it, so "no such trade" is
/// believed late (not confirmed against a published figure).
pub const DEFAULT_NOT_FOUND_FINAL_AFTER: Duration = Duration::from_secs(300);

/// How long a barcode payment may stay unfinished before it is reversed with
/// `alipay.trade.cancel`. Alipay's face-to-face call-flow guidance: poll by query from 5 s after
/// the payment, every 5 s, for at most 30 s; a payment not successful by then is cancelled (the
/// merchant may adjust the figure to its business; the cancel must come within 24 hours).
pub const DEFAULT_REVERSE_AFTER: Duration = Duration::from_secs(30);

/// Alipay's payment codes (`auth_code` of `alipay.trade.pay`): "25~30开头的长度为16~24位的数字"
/// (digits, 16 to 24 of them, starting with 25 to 30; the API reference of `alipay.trade.pay`).
pub const AUTH_CODE_DIGITS: std::ops::RangeInclusive<usize> = 16..=24;
pub const AUTH_CODE_PREFIXES: std::ops::RangeInclusive<u8> = 25..=30;

/// What Alipay takes: `barcode` with an Alipay payment code, `qr`, `redirect` and `form`; not
/// `direct` (Alipay charges a customer only through the code the customer shows) nor
/// `client_secret` (app pay). The payer is not needed. Checked by ingest at the door and by the
/// adapter before it sends.
pub fn pay_terms(terms: &PayTerms<'_>) -> Result<(), ValidationError> {
    match terms.pay_method {
        PayMethod::Barcode => auth_code_rule(terms.required_auth_code()?),
        PayMethod::Direct => Err(ValidationError::new(
            PayMethod::FIELD,
            "Alipay charges a customer only through the payment code the customer shows: use barcode with auth_code (got direct)",
        )),
        PayMethod::ClientSecret => Err(ValidationError::new(
            PayMethod::FIELD,
            "Alipay takes barcode, qr, redirect or form; app pay (client_secret) is not supported",
        )),
        PayMethod::Qr | PayMethod::Redirect | PayMethod::Form => Ok(()),
    }
}

/// An Alipay payment code: [`AUTH_CODE_DIGITS`] digits starting with one of
/// [`AUTH_CODE_PREFIXES`]. The refusal says the code's length and first two digits only (the
/// prefix says which wallet made it, and is no secret).
fn auth_code_rule(code: &AuthCode) -> Result<(), ValidationError> {
    let code = code.expose();
    let prefix: Option<u8> = code.get(..2).and_then(|p| p.parse().ok());
    let ok =
        AUTH_CODE_DIGITS.contains(&code.len()) && prefix.is_some_and(|p| AUTH_CODE_PREFIXES.contains(&p));
    if ok {
        return Ok(());
    }
    Err(ValidationError::new(
        AuthCode::FIELD,
        format!(
            "must be an Alipay payment code: {} to {} digits starting with {} to {} (got {} digits starting with {})",
            AUTH_CODE_DIGITS.start(),
            AUTH_CODE_DIGITS.end(),
            AUTH_CODE_PREFIXES.start(),
            AUTH_CODE_PREFIXES.end(),
            code.len(),
            code.get(..2).unwrap_or(code),
        ),
    ))
}

/// Which web payment `redirect` and `form` payments are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebPay {
    /// `alipay.trade.page.pay`, `FAST_INSTANT_TRADE_PAY` (PC).
    Page,
    /// `alipay.trade.wap.pay`, `QUICK_WAP_WAY` (mobile browsers).
    Wap,
}

impl WebPay {
    /// `page` or `wap`, as the setting spells it.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "page" => Ok(Self::Page),
            "wap" => Ok(Self::Wap),
            other => Err(format!("expected page or wap (got {other:?})")),
        }
    }

    fn method_and_product(self) -> (&'static str, &'static str) {
        match self {
            Self::Page => ("alipay.trade.page.pay", transformers::PRODUCT_PAGE),
            Self::Wap => ("alipay.trade.wap.pay", transformers::PRODUCT_WAP),
        }
    }
}

/// How to reach Alipay as one app.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// The provider's configured name: `alipay`, or another for a second app.
    pub name: &'static str,
    pub gateway_url: String,
    pub app_id: String,
    pub app_key: AppPrivateKey,
    pub alipay_key: AlipayPublicKey,
    /// Our seller id (PID, `2088…`): sent with payments and checked in notifications.
    pub seller_id: Option<String>,
    /// notify-handler's public base URL: Alipay is told `<base>/notify/<name>` unless a request
    /// names its own.
    pub notify_url_base: Option<String>,
    pub request_timeout: Duration,
    pub not_found_final_after: Duration,
    /// How long a barcode payment may stay unfinished before it is reversed (cancelled).
    pub reverse_after: Duration,
    pub web_pay: WebPay,
    /// Where bill ZIPs are written while they are read (the system's temporary directory by
    /// default); each is removed once read.
    pub bill_dir: Option<std::path::PathBuf>,
    /// The largest bill ZIP downloaded, in bytes; a longer one fails the download.
    pub max_bill_bytes: u64,
}

/// [`AlipayConfig::max_bill_bytes`] by default: 512 MiB, far above a large merchant's zipped day.
pub const DEFAULT_MAX_BILL_BYTES: u64 = 512 * 1024 * 1024;

impl AlipayConfig {
    pub fn new(app_id: impl Into<String>, app_key: AppPrivateKey, alipay_key: AlipayPublicKey) -> Self {
        Self {
            name: NAME,
            gateway_url: DEFAULT_GATEWAY.to_owned(),
            app_id: app_id.into(),
            app_key,
            alipay_key,
            seller_id: None,
            notify_url_base: None,
            request_timeout: DEFAULT_TIMEOUT,
            not_found_final_after: DEFAULT_NOT_FOUND_FINAL_AFTER,
            reverse_after: DEFAULT_REVERSE_AFTER,
            web_pay: WebPay::Page,
            bill_dir: None,
            max_bill_bytes: DEFAULT_MAX_BILL_BYTES,
        }
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum AlipaySetupError {
    #[error("Alipay gateway URL {url:?} is not usable: {reason}")]
    Gateway { url: String, reason: String },
    #[error("Alipay app id must not be empty")]
    EmptyAppId,
    #[error("Alipay request timeout must be more than zero")]
    ZeroTimeout,
    #[error("building the HTTP client for Alipay failed: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// The Alipay adapter. Cheap to share: `Arc<AlipayAdapter>` in the registry.
#[derive(Debug)]
pub struct AlipayAdapter {
    config: AlipayConfig,
    http: ProviderHttp,
    /// For bill files: the timeout bounds each wait for bytes, not the whole download.
    downloads: ProviderHttp,
    notifications: notification::AlipayNotifications,
}

fn unexpected<T>(operation: Operation, code: MappedCode) -> Decided<T> {
    let reason = format!(
        "Alipay answered {} with {}, which decides nothing for it; the outcome is unknown",
        operation.method(),
        code.describe()
    );
    Decided::unknown(reason, code, ExchangeOutcome::Error)
}

fn unreadable<T>(operation: Operation, code: &MappedCode, e: Unreadable) -> Decided<T> {
    Decided::unreadable(operation.method(), Some(&code.provider_code), e.0)
}

/// Redacts `sign` and `biz_content.auth_code` in a request form, and `sign` in a JSON answer.
fn redact(body: &str) -> String {
    if body.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(mut map)) => {
                if map.contains_key("sign") {
                    map.insert("sign".into(), REDACTED.into());
                }
                serde_json::Value::Object(map).to_string()
            }
            _ => REDACTED.to_owned(),
        };
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| {
            let v = match k.as_ref() {
                "sign" => REDACTED.to_owned(),
                "biz_content" => match serde_json::from_str::<serde_json::Value>(&v) {
                    Ok(serde_json::Value::Object(mut biz)) => {
                        if biz.contains_key("auth_code") {
                            biz.insert("auth_code".into(), REDACTED.into());
                        }
                        serde_json::Value::Object(biz).to_string()
                    }
                    _ => v.into_owned(),
                },
                _ => v.into_owned(),
            };
            (k.into_owned(), v)
        })
        .collect();
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

impl AlipayAdapter {
    pub fn new(config: AlipayConfig) -> Result<Self, AlipaySetupError> {
        let url = reqwest::Url::parse(&config.gateway_url).map_err(|e| AlipaySetupError::Gateway {
            url: config.gateway_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(AlipaySetupError::Gateway {
                url: config.gateway_url.clone(),
                reason: "it must be an http(s) URL without a query".into(),
            });
        }
        if config.app_id.is_empty() {
            return Err(AlipaySetupError::EmptyAppId);
        }
        if config.request_timeout.is_zero() {
            return Err(AlipaySetupError::ZeroTimeout);
        }
        let http =
            ProviderHttp::new(config.name, config.request_timeout, Redaction::default().with_body(redact))?;
        let downloads =
            ProviderHttp::for_downloads(config.name, config.request_timeout, Redaction::default())?;
        let notifications = notification::AlipayNotifications::new(
            config.name,
            config.alipay_key.clone(),
            notification::Expected { app_id: config.app_id.clone(), seller_id: config.seller_id.clone() },
        );
        Ok(Self { config, http, downloads, notifications })
    }

    fn notify_url(&self, asked: &Option<String>) -> Option<String> {
        asked.clone().or_else(|| {
            self.config
                .notify_url_base
                .as_ref()
                .map(|b| format!("{}/notify/{}", b.trim_end_matches('/'), self.config.name))
        })
    }

    /// The signed parameters of one request.
    fn signed(
        &self,
        method: &str,
        notify_url: Option<&str>,
        return_url: Option<&str>,
        biz: String,
    ) -> Result<Vec<(String, String)>, String> {
        let common = Common { app_id: &self.config.app_id, method, now: Utc::now(), notify_url, return_url };
        let mut params = transformers::request_params(&common, biz);
        let sign = signing::sign_request(&self.config.app_key, &params).map_err(|e| e.to_string())?;
        params.push(("sign".to_owned(), sign));
        Ok(params)
    }

    /// A request refused before anything was sent: definitive, nothing happened.
    fn refuse_locally<T>(&self, operation: &'static str, why: String) -> Called<T> {
        refused_locally(self.config.name, operation, "POST", &self.config.gateway_url, &why)
    }

    /// Signs, posts, verifies and reads one call, letting `answer` read the facts.
    async fn call<T>(
        &self,
        operation: Operation,
        biz: String,
        notify_url: Option<&str>,
        answer: impl FnOnce(Treatment, MappedCode, Answer) -> Decided<T>,
    ) -> Called<T> {
        let method = operation.method();
        let params = match self.signed(method, notify_url, None, biz) {
            Ok(p) => p,
            Err(why) => return self.refuse_locally(operation.as_str(), why),
        };
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let request = OutboundRequest {
            operation: operation.as_str(),
            method: Method::POST,
            url: self.config.gateway_url.clone(),
            headers: vec![(
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded;charset=utf-8".to_owned(),
            )],
            body: Some(body),
        };
        let Sent { end, draft } = self.http.send(request).await;
        let decided = match end {
            HttpEnd::TimedOut { error } => Decided::unknown(
                format!(
                    "no answer to {method} within {:?}; it may or may not have happened",
                    self.config.request_timeout
                ),
                MappedCode::local(UnifiedCode::Timeout, error),
                ExchangeOutcome::Timeout,
            ),
            HttpEnd::TransportFailed { error } => Decided::unknown(
                format!("the connection failed during {method} ({error}); it may or may not have happened"),
                MappedCode::local(UnifiedCode::TransportError, error),
                ExchangeOutcome::TransportError,
            ),
            HttpEnd::Cut { limit, error } => Decided::unknown(
                format!(
                    "the answer to {method} was longer than {limit} bytes and was cut; the outcome is unknown"
                ),
                MappedCode::local(UnifiedCode::UnreadableAnswer, error),
                ExchangeOutcome::Error,
            ),
            HttpEnd::Answered(a) if a.status >= 300 => Decided::unknown(
                format!("HTTP {} to {method}; the outcome is unknown", a.status),
                MappedCode::local(UnifiedCode::ProviderError, format!("HTTP {}", a.status)),
                ExchangeOutcome::Error,
            ),
            HttpEnd::Answered(a) => {
                match signing::verify_response(&self.config.alipay_key, &a.body, method) {
                    Err(e) => Decided::unknown(
                        format!("the answer to {method} cannot be trusted ({e}); the outcome is unknown"),
                        MappedCode::local(UnifiedCode::UnreadableAnswer, e.to_string()),
                        ExchangeOutcome::Error,
                    ),
                    Ok(verified) => match Answer::parse(verified.content) {
                        Err(e) => Decided::unknown(
                            format!("{method}: {e}; the outcome is unknown"),
                            MappedCode::local(UnifiedCode::UnreadableAnswer, e.0),
                            ExchangeOutcome::Error,
                        ),
                        Ok(parsed) => {
                            let code = codes::map(&parsed.code, parsed.sub_code.as_deref(), parsed.message());
                            match codes::treatment(operation, &code.provider_code) {
                                Treatment::Refused => Decided::refused(code),
                                Treatment::Unknown => unexpected(operation, code),
                                treatment => answer(treatment, code, parsed),
                            }
                        }
                    },
                }
            }
        };
        decided.called(draft)
    }

    /// The customer's browser action for page or wap pay: no call is made.
    fn web_pay(&self, request: &PayRequest, as_form: bool) -> Called<PaymentFacts> {
        let (method, product) = self.config.web_pay.method_and_product();
        let biz = match TradeCreate::from_request(request, Some(product), self.config.seller_id.as_deref()) {
            Ok(biz) => transformers::biz_json(&biz),
            Err(e) => return self.refuse_locally("pay", e.to_string()),
        };
        let notify = self.notify_url(&request.notify_url);
        let params = match self.signed(method, notify.as_deref(), request.return_url.as_deref(), biz) {
            Ok(p) => p,
            Err(why) => return self.refuse_locally("pay", why),
        };
        let action = transformers::gateway_action(&self.config.gateway_url, &params, as_form);
        let code =
            codes::map("10000", None, format!("{method}: signed for the customer's browser; no call made"));
        let draft = ExchangeDraft::not_sent(
            self.config.name,
            "pay",
            if as_form { "POST" } else { "GET" },
            &self.config.gateway_url,
            &format!("{method} is opened by the customer's browser, not called"),
        );
        let facts =
            PaymentFacts { action: Some(action), ..PaymentFacts::status(PaymentStatus::WaitingForCustomer) };
        Decided::answer(facts, code).called(draft)
    }

    /// `alipay.trade.pay` with the customer's payment code (`auth_code`, checked by
    /// [`pay_terms`] already): paid at once (`10000`), in process while the customer confirms
    /// (`10003`: PROCESSING, polled by query), or declined.
    async fn barcode_pay(&self, request: &PayRequest, auth_code: &AuthCode) -> Called<PaymentFacts> {
        const OP: Operation = Operation::BarcodePay;
        let seller_id = self.config.seller_id.as_deref();
        let biz = match BarcodePay::from_request(request, auth_code.expose(), seller_id) {
            Ok(biz) => transformers::biz_json(&biz),
            Err(e) => return self.refuse_locally(OP.as_str(), e.to_string()),
        };
        let notify = self.notify_url(&request.notify_url);
        let trade_no = request.trade_no.as_str();
        self.call(OP, biz, notify.as_deref(), |treatment, code, answer| {
            let facts = match treatment {
                Treatment::Facts => {
                    answer.fields::<PayAnswer>("a payment").and_then(|a| a.into_facts(trade_no, true))
                }
                Treatment::InProcess => {
                    answer.fields::<PayAnswer>("a payment").and_then(|a| a.into_facts(trade_no, false))
                }
                Treatment::Declined => Ok(PaymentFacts::status(PaymentStatus::Failed)),
                Treatment::Closed => Ok(PaymentFacts::status(PaymentStatus::Closed)),
                _ => return unexpected(OP, code),
            };
            match facts {
                Ok(facts) => Decided::answer(facts, code),
                Err(e) => unreadable(OP, &code, e),
            }
        })
        .await
    }

    /// `alipay.trade.cancel`: reverses a barcode payment, closing it or refunding it if it was paid.
    pub async fn cancel(&self, trade_no: &str) -> Called<CancelFacts> {
        const OP: Operation = Operation::Cancel;
        let biz = transformers::biz_json(&TradeRef { out_trade_no: trade_no.to_owned() });
        self.call(OP, biz, None, |treatment, code, answer| match treatment {
            Treatment::Facts => {
                match answer.fields::<CancelAnswer>("a cancel").and_then(|a| a.into_facts(trade_no)) {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::NotFound => {
                Decided::answer(CancelFacts { action: None, retry: false, provider_txn_id: None }, code)
            }
            _ => unexpected(OP, code),
        })
        .await
    }

    /// The refusal of a currency other than CNY, if `currency` is one.
    fn refuse_other_currency<T>(&self, operation: &'static str, currency: Currency) -> Option<Called<T>> {
        transformers::check_cny(currency).err().map(|e| self.refuse_locally(operation, e.to_string()))
    }
}

/// The part of the bill URL answer read.
#[derive(serde::Deserialize)]
struct BillUrlAnswer {
    bill_download_url: String,
}

/// A ZIP file's first bytes (a local file header).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// How much of a file is buffered before it is written out.
const WRITE_BUFFER: usize = 1024 * 1024;

/// A bill file written to disk: its path, size, SHA-256 (hex) and first bytes.
struct Saved {
    path: std::path::PathBuf,
    bytes: u64,
    sha256: String,
}

impl AlipayAdapter {
    /// The day's trade bill: the URL query, then the ZIP.
    async fn trade_bill(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        const OP: Operation = Operation::BillUrl;
        let download_error = |reason: String| BillError::Download { operation: OP.as_str(), reason };
        let biz = serde_json::json!({"bill_type": "trade", "bill_date": day.format("%Y-%m-%d").to_string()})
            .to_string();
        let called = self
            .call(OP, biz, None, |treatment, code, answer| match treatment {
                Treatment::Facts => match answer.fields::<BillUrlAnswer>("a bill_download_url") {
                    Ok(a) => Decided::answer(Some(a.bill_download_url), code),
                    Err(e) => unreadable(OP, &code, e),
                },
                Treatment::NotFound => Decided::answer(None, code),
                _ => unexpected(OP, code),
            })
            .await;
        let query_exchange = called.exchange;
        let later = |retryable: bool| if retryable { "; run it again later" } else { "" };
        let url = match called.outcome {
            CallOutcome::Answer { facts: Some(url), .. } => url,
            CallOutcome::Answer { facts: None, code } => {
                let reason = format!(
                    "Alipay has no trade bill for {day} yet ({}); a day's bill is made the next day, usually by 09:00 Beijing time{}",
                    code.describe(),
                    later(true)
                );
                return Err((download_error(reason), Some(query_exchange)));
            }
            CallOutcome::Refused { code } | CallOutcome::RetryLater { code } => {
                let reason = format!(
                    "Alipay refused the bill URL query for {day}: {}{}",
                    code.describe(),
                    later(code.retryable)
                );
                return Err((download_error(reason), Some(query_exchange)));
            }
            CallOutcome::Unknown { reason, .. } => {
                let reason =
                    format!("the bill URL query for {day} gave no usable answer ({reason}){}", later(true));
                return Err((download_error(reason), Some(query_exchange)));
            }
        };
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                let reason = format!("bill_download_url {url:?} is not an http(s) URL");
                return Err((download_error(reason), Some(query_exchange)));
            }
        }
        // The URL lives 30 s: fetch it now.
        let request = OutboundRequest {
            operation: OP.as_str(),
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: None,
        };
        let Opened { response, draft } = self.downloads.open(request).await;
        let fail = |draft: ExchangeDraft, reason: String| {
            let exchange = draft.finish(ExchangeOutcome::Error, None, Some(reason.clone()));
            (download_error(reason), Some(exchange))
        };
        let response = match response {
            Ok(r) if r.status().as_u16() == 200 => r,
            Ok(r) => {
                let status = r.status().as_u16();
                let body = match read_capped(r, 512).await {
                    Ok(Capped::Whole(b) | Capped::Cut(b)) => b,
                    Err(e) => format!("(its body broke off: {e})"),
                };
                let draft = draft.summarise_body(body.clone());
                let reason = format!(
                    "the bill file download answered HTTP {status} ({}); the URL lives 30 s, so an expired or unknown one needs a new query: run it again",
                    body.trim()
                );
                return Err(fail(draft, reason));
            }
            Err(HttpEnd::TimedOut { error }) => {
                return Err(fail(
                    draft,
                    format!("the bill file did not start within {:?}: {error}", self.config.request_timeout),
                ));
            }
            Err(HttpEnd::TransportFailed { error } | HttpEnd::Cut { error, .. }) => {
                return Err(fail(draft, format!("the bill file download failed: {error}")));
            }
            Err(HttpEnd::Answered(a)) => return Err(fail(draft, format!("HTTP {}", a.status))),
        };
        let saved = match self.save(response).await {
            Ok(saved) => saved,
            Err((reason, partial)) => {
                let draft = match partial {
                    Some(summary) => draft.summarise_body(summary),
                    None => draft,
                };
                return Err(fail(draft, reason));
            }
        };
        // Read it once through: every line parses and the summary agrees, before any line is handed
        // out (reconciliation then loads a bill known to be whole).
        let path = saved.path.clone();
        let checked = tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path)
                .map_err(|e| BillError::Line {
                    line: 0,
                    field: "file",
                    rule: format!("cannot be opened ({e})"),
                })
                .and_then(|f| bill::read_zip(std::io::BufReader::new(f), |_| Ok(())))
        })
        .await
        .unwrap_or_else(|e| {
            Err(BillError::Line {
                line: 0,
                field: "file",
                rule: format!("the check of the file failed ({e})"),
            })
        });
        let file = format!("bill file of {} bytes, sha256 {}", saved.bytes, saved.sha256);
        let totals = match checked {
            Ok(totals) => totals,
            Err(e) => {
                let _ = std::fs::remove_file(&saved.path);
                let draft = draft.summarise_body(format!("{file}; not loaded: {e}"));
                let exchange = draft.finish(ExchangeOutcome::Error, None, Some(e.to_string()));
                return Err((e, Some(exchange)));
            }
        };
        let exchange = draft
            .summarise_body(format!(
                "{file}, {} lines ({} payments, {} refunds), streamed to reconciliation from a temporary file; the lines are kept there, not here",
                totals.lines(),
                totals.payments,
                totals.refunds
            ))
            .finish(ExchangeOutcome::Ok, None, None);
        Ok(BillDownload {
            items: bill::stream_file(saved.path, true),
            exchange,
            earlier: vec![query_exchange],
        })
    }

    /// Streams `response`'s body to a new file in the bill directory, at most `max_bill_bytes`,
    /// taking its SHA-256. On failure the file is removed; the error comes with a summary of what
    /// was read, if anything was.
    async fn save(&self, mut response: reqwest::Response) -> Result<Saved, (String, Option<String>)> {
        use sha2::Digest;
        use std::io::Write;
        let dir = self.config.bill_dir.clone().unwrap_or_else(std::env::temp_dir);
        let path =
            dir.join(format!("paygate-{}-bill-{}.zip", self.config.name, uuid::Uuid::new_v4().simple()));
        let mut file =
            std::fs::File::options().write(true).create_new(true).open(&path).map_err(|e| {
                (format!("the bill file cannot be written to {} ({e})", path.display()), None)
            })?;
        let mut hasher = sha2::Sha256::new();
        let mut bytes: u64 = 0;
        let mut pending: Vec<u8> = Vec::with_capacity(WRITE_BUFFER);
        let mut head: Vec<u8> = Vec::new();
        let outcome: Result<(), String> = async {
            loop {
                let chunk = match response.chunk().await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(e) => {
                        let what = if e.is_timeout() {
                            format!("no bytes for {:?}", self.config.request_timeout)
                        } else {
                            e.to_string()
                        };
                        return Err(format!("the bill file download broke off after {bytes} bytes: {what}"));
                    }
                };
                bytes += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
                if bytes > self.config.max_bill_bytes {
                    return Err(format!(
                        "the bill file is longer than the limit of {} bytes (max_bill_bytes); the rest was not read",
                        self.config.max_bill_bytes
                    ));
                }
                if head.len() < 256 {
                    head.extend(chunk.iter().take(256 - head.len()));
                }
                hasher.update(&chunk);
                pending.extend_from_slice(&chunk);
                if pending.len() >= WRITE_BUFFER {
                    let mut full = std::mem::take(&mut pending);
                    let write = file.try_clone().map_err(|e| e.to_string())?;
                    let (written, buffer) = tokio::task::spawn_blocking(move || {
                        let mut write = write;
                        let r = write.write_all(&full);
                        full.clear();
                        (r, full)
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    written.map_err(|e| format!("the bill file cannot be written ({e})"))?;
                    pending = buffer;
                }
            }
            file.write_all(&pending).map_err(|e| format!("the bill file cannot be written ({e})"))
        }
        .await;
        let sha256 = hex::encode(hasher.finalize());
        let summary = format!("{bytes} bytes read, sha256 {sha256}; not kept");
        if let Err(reason) = outcome {
            let _ = std::fs::remove_file(&path);
            return Err((reason, Some(summary)));
        }
        if !head.starts_with(ZIP_MAGIC) {
            let _ = std::fs::remove_file(&path);
            let text = String::from_utf8(head.clone())
                .unwrap_or_else(|_| encoding_rs::GBK.decode_without_bom_handling(&head).0.into_owned());
            let reason = format!(
                "the bill file is not a ZIP archive ({bytes} bytes beginning {:?}); an expired link may answer a page instead: run it again",
                text.chars().take(120).collect::<String>()
            );
            return Err((reason, Some(summary)));
        }
        Ok(Saved { path, bytes, sha256 })
    }
}

#[async_trait::async_trait]
impl ProviderAdapter for AlipayAdapter {
    fn name(&self) -> &'static str {
        self.config.name
    }

    fn refunds_are_asynchronous(&self) -> bool {
        // A refund answered without fund_change=Y is finished by the refund query.
        true
    }

    fn notifications(&self) -> &dyn NotificationVerifier {
        &self.notifications
    }

    fn notification_policy(&self) -> NotificationPolicy {
        NotificationPolicy::AlwaysQueryBack
    }

    fn not_found_is_final_after(&self) -> Duration {
        self.config.not_found_final_after
    }

    // alipay.trade.precreate and the cashier pages (page and wap pay) make no trade until the
    // customer scans the code or opens the cashier; until then query and close answer
    // ACQ.TRADE_NOT_EXIST. A barcode pay makes the trade at once.
    fn trade_exists_before_the_customer_acts(&self, method: PayMethod) -> bool {
        !matches!(method, PayMethod::Qr | PayMethod::Redirect | PayMethod::Form)
    }

    fn reverse_barcode_after(&self) -> Option<Duration> {
        Some(self.config.reverse_after)
    }

    async fn reverse(&self, trade_no: &str, currency: Currency) -> Called<ReversalFacts> {
        if let Some(refused) = self.refuse_other_currency(Operation::Cancel.as_str(), currency) {
            return refused;
        }
        let Called { outcome, exchange, earlier } = self.cancel(trade_no).await;
        Called { outcome: reversal(outcome), exchange, earlier }
    }

    async fn pay(&self, request: &PayRequest) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Precreate;
        if let Some(refused) = self.refuse_other_currency("pay", request.amount.currency()) {
            return refused;
        }
        if let Err(refused) = pay_terms(&request.terms()) {
            return self.refuse_locally("pay", refused.to_string());
        }
        match (request.pay_method, request.auth_code.as_ref()) {
            (PayMethod::Redirect, _) => return self.web_pay(request, false),
            (PayMethod::Form, _) => return self.web_pay(request, true),
            (PayMethod::Barcode, Some(auth_code)) => return self.barcode_pay(request, auth_code).await,
            // qr; the others were refused by pay_terms.
            _ => {}
        }
        let biz = match TradeCreate::from_request(request, None, self.config.seller_id.as_deref()) {
            Ok(biz) => transformers::biz_json(&biz),
            Err(e) => return self.refuse_locally(OP.as_str(), e.to_string()),
        };
        let notify = self.notify_url(&request.notify_url);
        let trade_no = request.trade_no.as_str();
        self.call(OP, biz, notify.as_deref(), |treatment, code, answer| match treatment {
            Treatment::Facts => {
                match answer.fields::<PrecreateAnswer>("a QR code").and_then(|a| a.into_facts(trade_no)) {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::Closed => Decided::answer(PaymentFacts::status(PaymentStatus::Closed), code),
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn query(&self, trade_no: &str, currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Query;
        if let Some(refused) = self.refuse_other_currency(OP.as_str(), currency) {
            return refused;
        }
        let biz = transformers::biz_json(&TradeRef { out_trade_no: trade_no.to_owned() });
        self.call(OP, biz, None, |treatment, code, answer| match treatment {
            Treatment::Facts => {
                match answer.fields::<QueryAnswer>("a trade").and_then(|a| a.into_facts(trade_no)) {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
            Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), code),
            _ => unexpected(OP, code),
        })
        .await
    }

    async fn close(&self, trade_no: &str, currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Close;
        if let Some(refused) = self.refuse_other_currency(OP.as_str(), currency) {
            return refused;
        }
        let biz = transformers::biz_json(&TradeRef { out_trade_no: trade_no.to_owned() });
        let closed = self
            .call(OP, biz, None, |treatment, code, answer| match treatment {
                Treatment::Facts => {
                    match answer.fields::<CloseAnswer>("a closed trade").and_then(|a| a.into_facts(trade_no))
                    {
                        Ok(facts) => Decided::answer(facts, code),
                        Err(e) => unreadable(OP, &code, e),
                    }
                }
                Treatment::Paid => Decided::answer(PaymentFacts::status(PaymentStatus::Succeeded), code),
                Treatment::Closed => Decided::answer(PaymentFacts::status(PaymentStatus::Closed), code),
                Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), code),
                _ => unexpected(OP, code),
            })
            .await;
        let settled = closed
            .outcome
            .code()
            .is_some_and(|c| codes::treatment(OP, &c.provider_code) == Treatment::Settled);
        if !settled {
            return closed;
        }
        // Paid, finished or closed, the answer does not say which: the query does. Its answer
        // stands for the close's only where it is one of those (a close of a paid trade must
        // answer "succeeded", `ProviderAdapter::close`); anything else leaves the close unknown.
        let queried = self.query(trade_no, currency).await;
        let outcome = match queried.outcome {
            CallOutcome::Answer { facts, code }
                if matches!(facts.status, PaymentStatus::Succeeded | PaymentStatus::Closed) =>
            {
                CallOutcome::Answer { facts, code }
            }
            _ => closed.outcome,
        };
        let mut earlier = closed.earlier;
        earlier.push(closed.exchange);
        earlier.extend(queried.earlier);
        Called { outcome, exchange: queried.exchange, earlier }
    }

    async fn refund(&self, request: &RefundRequest) -> Called<RefundFacts> {
        const OP: Operation = Operation::Refund;
        let biz = match RefundCreate::from_request(request) {
            Ok(biz) => transformers::biz_json(&biz),
            Err(e) => return self.refuse_locally(OP.as_str(), e.to_string()),
        };
        self.call(OP, biz, None, |treatment, code, answer| match treatment {
            Treatment::Facts => {
                match answer.fields::<RefundAnswer>("a refund").and_then(|a| a.into_facts(request)) {
                    Ok(facts) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, &code, e),
                }
            }
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
        if let Some(refused) = self.refuse_other_currency(OP.as_str(), currency) {
            return refused;
        }
        let biz = transformers::biz_json(&RefundRef {
            out_trade_no: trade_no.to_owned(),
            out_request_no: refund_trade_no.to_owned(),
        });
        self.call(OP, biz, None, |treatment, code, answer| match treatment {
            Treatment::Facts => match answer
                .fields::<RefundQueryAnswer>("a refund")
                .and_then(|a| a.into_facts(trade_no, refund_trade_no))
            {
                Ok(facts) => Decided::answer(facts, code),
                Err(e) => unreadable(OP, &code, e),
            },
            Treatment::NotFound => Decided::answer(RefundFacts::status(RefundStatus::NotFound), code),
            _ => unexpected(OP, code),
        })
        .await
    }

    fn day_offset(&self) -> chrono::FixedOffset {
        crate::providers::provider_day::china_standard_time()
    }

    async fn bill(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        self.trade_bill(day).await
    }

    async fn settlement(&self, _day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        Err((
            BillError::Download {
                operation: "settlement",
                reason: "Alipay settlements are not implemented: the account bill (bill_type=signcustomer, a ZIP of GBK CSV 账务明细) is the candidate, but Alipay's published pages found give only the API and the ZIP/GBK/bizType=fnd facts, not the file's columns, the 业务类型 values or how a 服务费 line names its trade (the columns 账务流水号,业务流水号,商户订单号,…,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注 appear only in third-party code); reconcile Alipay by its trade bill (docs/providers/alipay.md, Settlement)".into(),
            },
            None,
        ))
    }
}

/// A cancel's outcome as a reversal: `action` `close` or `refund` is the answer; a cancel Alipay
/// asks to be sent again (`retry_flag=Y`), or a success naming no action, settles nothing
/// (UNKNOWN: the dispatcher asks again); "no such trade" is an answer the caller judges.
fn reversal(outcome: CallOutcome<CancelFacts>) -> CallOutcome<ReversalFacts> {
    match outcome {
        CallOutcome::Answer { facts, code } => {
            let status = match (facts.retry, facts.action) {
                (true, _) => {
                    let reason =
                        "Alipay asks for the cancel to be sent again (retry_flag=Y); it is not finished"
                            .into();
                    return CallOutcome::Unknown { reason, code: Some(code) };
                }
                (false, Some(CancelAction::Close)) => ReversalStatus::Closed,
                (false, Some(CancelAction::Refund)) => ReversalStatus::Refunded,
                (false, None) if code.unified == UnifiedCode::NotFound => ReversalStatus::NotFound,
                (false, None) => {
                    let reason = format!(
                        "Alipay answered the cancel with {} but said neither close nor refund; the outcome is unknown",
                        code.describe()
                    );
                    return CallOutcome::Unknown { reason, code: Some(code) };
                }
            };
            CallOutcome::Answer {
                facts: ReversalFacts { status, provider_txn_id: facts.provider_txn_id },
                code,
            }
        }
        CallOutcome::Refused { code } => CallOutcome::Refused { code },
        CallOutcome::RetryLater { code } => CallOutcome::RetryLater { code },
        CallOutcome::Unknown { reason, code } => CallOutcome::Unknown { reason, code },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cancelled(
        code: &str,
        sub_code: Option<&str>,
        retry: bool,
        action: Option<CancelAction>,
    ) -> CallOutcome<ReversalFacts> {
        let code = codes::map(code, sub_code, "test");
        reversal(CallOutcome::Answer {
            facts: CancelFacts { action, retry, provider_txn_id: Some("2024x".into()) },
            code,
        })
    }

    #[test]
    fn a_cancel_is_a_reversal_closed_refunded_not_found_or_unknown() {
        let status = |o: CallOutcome<ReversalFacts>| match o {
            CallOutcome::Answer { facts, .. } => Some(facts.status),
            _ => None,
        };
        assert_eq!(
            status(cancelled("10000", None, false, Some(CancelAction::Close))),
            Some(ReversalStatus::Closed)
        );
        assert_eq!(
            status(cancelled("10000", None, false, Some(CancelAction::Refund))),
            Some(ReversalStatus::Refunded)
        );
        assert_eq!(
            status(cancelled("40004", Some("ACQ.TRADE_NOT_EXIST"), false, None)),
            Some(ReversalStatus::NotFound)
        );
        // retry_flag=Y: send it again, never a local decision.
        assert!(matches!(
            cancelled("10000", None, true, None),
            CallOutcome::Unknown { code: Some(ref c), .. } if c.provider_code == "10000"
        ));
        // A success that names no action settles nothing.
        assert!(matches!(cancelled("10000", None, false, None), CallOutcome::Unknown { .. }));
        // Refusals pass through (the code table decides them: too late, not allowed, refunded before).
        let code = codes::map("40004", Some("ACQ.TRADE_CANCEL_TIME_OUT"), "too late");
        assert!(matches!(reversal(CallOutcome::Refused { code }), CallOutcome::Refused { .. }));
    }

    #[test]
    fn alipay_reverses_barcode_payments_after_thirty_seconds_by_default() {
        assert_eq!(DEFAULT_REVERSE_AFTER, Duration::from_secs(30));
    }

    #[test]
    fn the_exchange_log_never_holds_the_signature_or_the_barcode() {
        let form = "app_id=1&sign=abc%2Fdef&biz_content=%7B%22auth_code%22%3A%22281234%22%2C%22out_trade_no%22%3A%22t%22%7D";
        let out = redact(form);
        assert!(!out.contains("abc") && !out.contains("281234"), "{out}");
        assert!(out.contains("out_trade_no"), "{out}");
        let json = r#"{"alipay_trade_query_response":{"code":"10000"},"sign":"secret-sig"}"#;
        let out = redact(json);
        assert!(!out.contains("secret-sig") && out.contains("10000"), "{out}");
    }
}
