//! The WeChat Pay API v3 adapter (shared PROVIDERS.md, "WeChat Pay API v3"; written from WeChat
//! Pay's published v3 pages, never from an SDK).
//!
//! This file is the flow: build the wire request ([`transformers`]), sign it
//! ([`signing::sign_request_now`]: `Authorization: WECHATPAY2-SHA256-RSA2048 …`), send it
//! ([`ProviderHttp`]), **verify the answer's signature** with the platform key its
//! `Wechatpay-Serial` names (within 300 s), and read the answer for the operation through the
//! code table ([`codes::CODES`]; the adapter names no code itself).
//!
//! - An answer whose signature does not verify (missing headers, unknown serial, bad signature,
//!   stale timestamp) is UNKNOWN, never success or failure, whatever its status: anyone between
//!   us and WeChat Pay could have written it. So is a timeout, a broken connection, a cut body,
//!   a 5xx, a code not in the table or not documented for the operation, and an answer about
//!   another order. The dispatcher then queries.
//! - Pay methods: `qr` → Native, `client_secret` → JSAPI / mini-program, `redirect` → H5. JSAPI
//!   needs the payer's `openid` and H5 the payer's IP: the pay command's `payer`, stored with
//!   the payment and carried in [`PayRequest::payer`]. Without it (and for `form`, `direct` and
//!   `barcode`: API v3 has no payment-code pay) the request is refused before it is sent, naming
//!   the field; ingest refuses such a command at the door with the same rule ([`pay_terms`]).
//! - Refunds are asynchronous: a refund is `PROCESSING` until a `REFUND.*` notification or a
//!   refund query says how it ended.
//! - Bills: the trade bill and fund-flow bill APIs each give a download URL and a SHA-1; the
//!   file is streamed through its parser ([`bill::TradeBill`], [`fundflow::FundFlowBill`]) by
//!   [`bill_file::items`], which checks the hash at the end. The fund-flow bill is the
//!   settlement: payments and refunds with their fees, and a checked total.
//!
//! Every call returns its exchange with `Authorization` redacted (the keys never reach it: only
//! the signature made with them is sent, and that is removed).
//!
//! - [`signing`]: the keys, request signing, and verifying signed responses and notifications;
//! - [`bill`]: the trade bill (backtick CSV read by header name, totals trailer, SHA-1 checked);
//! - [`fundflow`]: the fund-flow bill, the settlement (fee lines attached to their payments and
//!   refunds, the trailer checked, a settlement total; what is and is not confirmed);
//! - [`bill_file`]: what both bill files share (the location, fields, the SHA-1-checked stream);
//! - [`client_params`]: the signed parameters a JSAPI / mini-program client pays with;
//! - [`codes`]: the API v3 error codes, `trade_state` and refund `status` in one table each;
//! - [`notification`]: the notification body, its AES-256-GCM `resource` decrypted with the APIv3
//!   key, the transaction and refund inside in typed form, and the acknowledgements;
//! - [`settings`]: the adapter from `PAYGATE_PROVIDER_<NAME>_*`;
//! - [`transformers`]: the wire types of Native, JSAPI and H5 pay, query, close, refund and
//!   refund query, and their conversions to and from ours (CNY fen only);
//! - [`verifier`]: the notifications behind the common `NotificationVerifier` trait.
//!
//! Amounts are integer fen (`i64`). Signing and notifications are tested against vectors made
//! with the PyPI SDK `wechatpayv3` (tests/vectors/wechatpay/); the flow against an in-test
//! server (shared/tests/provider_wechatpay.rs).

pub mod bill;
pub mod bill_file;
pub mod client_params;
pub mod codes;
pub mod fundflow;
pub mod notification;
pub mod settings;
pub mod signing;
pub mod transformers;
#[cfg(test)]
mod vectors;
pub mod verifier;

use crate::domain::{Currency, ValidationError};
use crate::providers::adapter::{PayRequest, PayTerms, ProviderAdapter, RefundRequest};
use crate::providers::answers::{Called, PaymentFacts, PaymentStatus, RefundFacts, RefundStatus};
use crate::providers::bill::{BillDownload, BillError};
use crate::providers::codes::{MappedCode, UnifiedCode};
use crate::providers::decided::{Decided, refused_locally};
use crate::providers::exchange::{Exchange, ExchangeOutcome};
use crate::providers::http::json_body;
use crate::providers::http::{
    ExchangeDraft, HttpAnswer, HttpEnd, Opened, OutboundRequest, ProviderHttp, Redaction,
};
use crate::providers::notification::{NotificationPolicy, NotificationVerifier};
use bill_file::BillLocation;
use chrono::{NaiveDate, Utc};
use codes::{Operation, Treatment};
use reqwest::Method;
use signing::{ApiV3Key, MerchantKey, PlatformKeys, SignedHeaders};
use std::time::Duration;
use transformers::{
    CloseRequest, ErrorBody, NotSendable, PayKind, RefundAnswer, RefundCreate, Transaction,
    TransactionCreate, Unreadable,
};

/// The provider's name in commands, rows and the registry.
pub const NAME: &str = "wechatpay";

/// What WeChat Pay (API v3) takes: `qr` (Native), `client_secret` (JSAPI, with `payer.openid`)
/// and `redirect` (H5, with `payer.client_ip`). Checked by ingest at the door and by the adapter
/// before it sends.
pub fn pay_terms(terms: &PayTerms<'_>) -> Result<(), ValidationError> {
    let refused = |e: NotSendable| ValidationError::new(e.field, e.rule);
    PayKind::of(terms.pay_method).and_then(|kind| kind.payer_fields(terms.payer)).map(drop).map_err(refused)
}
/// WeChat Pay's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// The request timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after our last pay request a "no such order" is believed: WeChat Pay's query is
/// consistent with its create, but a create we timed out on may still arrive.
pub const DEFAULT_NOT_FOUND_FINAL_AFTER: Duration = Duration::from_secs(120);
/// The header our requests are signed in; redacted in the exchange log.
const AUTHORIZATION: &str = "Authorization";

/// How to reach WeChat Pay as one merchant and app.
#[derive(Debug, Clone)]
pub struct WechatpayConfig {
    pub name: &'static str,
    /// `https://api.mch.weixin.qq.com`, or a test server (a path prefix is allowed and signed).
    pub base_url: String,
    pub mchid: String,
    pub appid: String,
    pub merchant_key: MerchantKey,
    pub platform_keys: PlatformKeys,
    pub apiv3_key: ApiV3Key,
    pub request_timeout: Duration,
    /// The notification URL when a request names none (WeChat Pay requires one on every create).
    pub notify_url: Option<String>,
    pub notification_policy: NotificationPolicy,
    pub not_found_final_after: Duration,
    /// How far a response's or notification's timestamp may be from our clock, in seconds.
    pub window_secs: i64,
}

impl WechatpayConfig {
    pub fn new(
        mchid: impl Into<String>,
        appid: impl Into<String>,
        merchant_key: MerchantKey,
        platform_keys: PlatformKeys,
        apiv3_key: ApiV3Key,
    ) -> Self {
        Self {
            name: NAME,
            base_url: DEFAULT_BASE_URL.to_owned(),
            mchid: mchid.into(),
            appid: appid.into(),
            merchant_key,
            platform_keys,
            apiv3_key,
            request_timeout: DEFAULT_TIMEOUT,
            notify_url: None,
            notification_policy: NotificationPolicy::AlwaysQueryBack,
            not_found_final_after: DEFAULT_NOT_FOUND_FINAL_AFTER,
            window_secs: signing::DEFAULT_WINDOW_SECS,
        }
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum WechatpaySetupError {
    #[error("WeChat Pay base URL {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("WeChat Pay {field} must not be empty")]
    Empty { field: &'static str },
    #[error("WeChat Pay needs at least one platform public key to verify its answers")]
    NoPlatformKey,
    #[error("WeChat Pay request timeout must be more than zero")]
    ZeroTimeout,
    #[error("building the HTTP client for WeChat Pay failed: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// The WeChat Pay adapter. Cheap to share: `Arc<WechatpayAdapter>` in the registry.
#[derive(Debug)]
pub struct WechatpayAdapter {
    name: &'static str,
    base_url: String,
    path_prefix: String,
    mchid: String,
    appid: String,
    key: MerchantKey,
    platform_keys: PlatformKeys,
    notify_url: Option<String>,
    timeout: Duration,
    window_secs: i64,
    http: ProviderHttp,
    downloads: ProviderHttp,
    verifier: verifier::WechatpayVerifier,
    notification_policy: NotificationPolicy,
    not_found_final_after: Duration,
}

/// `out_trade_no` and `out_refund_no`: 6 to 32 (refunds: 1 to 64) of `A-Z a-z 0-9 _ - | *`.
fn valid_number(n: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
}

/// A code that decides nothing for this operation.
fn undecided<T>(operation: Operation, status: u16, code: MappedCode) -> Decided<T> {
    let op = operation.as_str();
    let reason = format!(
        "WeChat Pay answered {op} with HTTP {status} {}; that decides nothing, the outcome is unknown",
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

/// A verified answer: its status, its code as mapped, and what the code says to the operation.
struct Read {
    status: u16,
    treatment: Treatment,
    code: MappedCode,
    body: String,
}

impl WechatpayAdapter {
    pub fn new(config: WechatpayConfig) -> Result<Self, WechatpaySetupError> {
        let url = reqwest::Url::parse(&config.base_url).map_err(|e| WechatpaySetupError::BaseUrl {
            url: config.base_url.clone(),
            reason: e.to_string(),
        })?;
        let bad = |reason: &str| WechatpaySetupError::BaseUrl {
            url: config.base_url.clone(),
            reason: reason.to_owned(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it must not have a query or a fragment"));
        }
        for (field, value) in [("mchid", &config.mchid), ("appid", &config.appid)] {
            if value.trim().is_empty() {
                return Err(WechatpaySetupError::Empty { field });
            }
        }
        if config.platform_keys.is_empty() {
            return Err(WechatpaySetupError::NoPlatformKey);
        }
        if config.request_timeout.is_zero() {
            return Err(WechatpaySetupError::ZeroTimeout);
        }
        let redaction = || Redaction::headers(&[AUTHORIZATION]);
        let http = ProviderHttp::new(config.name, config.request_timeout, redaction())?;
        let downloads = ProviderHttp::for_downloads(config.name, config.request_timeout, redaction())?;
        let notifications = notification::WechatpayNotifications::new(
            config.mchid.clone(),
            config.appid.clone(),
            config.platform_keys.clone(),
            config.apiv3_key,
        )
        .with_window_secs(config.window_secs);
        Ok(Self {
            name: config.name,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            path_prefix: url.path().trim_end_matches('/').to_owned(),
            verifier: verifier::WechatpayVerifier::new(config.name, config.mchid.clone(), notifications),
            mchid: config.mchid,
            appid: config.appid,
            key: config.merchant_key,
            platform_keys: config.platform_keys,
            notify_url: config.notify_url,
            timeout: config.request_timeout,
            window_secs: config.window_secs,
            http,
            downloads,
            notification_policy: config.notification_policy,
            not_found_final_after: config.not_found_final_after,
        })
    }

    fn notify_url(&self, asked: &Option<String>) -> Option<String> {
        asked.clone().or_else(|| self.notify_url.clone())
    }

    /// The signed headers of one request to `path_and_query` (below the base URL's path).
    fn signed_headers(
        &self,
        method: &Method,
        signed_path: &str,
        body: Option<&str>,
    ) -> Vec<(String, String)> {
        let signature = signing::sign_request_now(
            &self.mchid,
            &self.key,
            method.as_str(),
            signed_path,
            body.unwrap_or(""),
            Utc::now(),
        );
        let mut headers = vec![
            (AUTHORIZATION.to_owned(), signature.authorization()),
            ("Accept".to_owned(), "application/json".to_owned()),
            ("User-Agent".to_owned(), concat!("paygate/", env!("CARGO_PKG_VERSION")).to_owned()),
        ];
        if body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        headers
    }

    /// Verifies an answer's signature over its exact body.
    fn verify(&self, answer: &HttpAnswer) -> Result<(), String> {
        let signed = SignedHeaders::from_headers(&answer.headers).map_err(|e| e.to_string())?;
        signing::verify(&self.platform_keys, &signed, answer.body.as_bytes(), Utc::now(), self.window_secs)
            .map_err(|e| e.to_string())
    }

    /// Reads a transport end into a verified answer, or the undecided outcome.
    fn read<T>(&self, operation: Operation, end: HttpEnd) -> Result<Read, Decided<T>> {
        let op = operation.as_str();
        let answer = Decided::answer_of(op, end, self.timeout)?;
        if let Err(why) = self.verify(&answer) {
            return Err(Decided::unknown(
                format!(
                    "the answer to {op} (HTTP {}) does not carry WeChat Pay's valid signature ({why}); it is not believed, the outcome is unknown",
                    answer.status
                ),
                MappedCode::local(UnifiedCode::UnreadableAnswer, why),
                ExchangeOutcome::Error,
            ));
        }
        let status = answer.status;
        if (200..300).contains(&status) {
            let code = codes::map(codes::ErrorCode::Success.wire(), "");
            return Ok(Read { status, treatment: Treatment::Facts, code, body: answer.body });
        }
        match ErrorBody::parse(&answer.body) {
            Ok(e) => {
                let code = codes::map(&e.code, e.message);
                let treatment = codes::treatment(operation, status, &e.code);
                Ok(Read { status, treatment, code, body: answer.body })
            }
            Err(e) => Err(Decided::unknown(
                format!("HTTP {status} to {op}: {e}; the outcome is unknown"),
                MappedCode::local(UnifiedCode::UnreadableAnswer, e.0),
                ExchangeOutcome::Error,
            )),
        }
    }

    /// Signs, sends and reads one call; `decide` turns a verified answer into the outcome.
    async fn call<T>(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        body: Option<String>,
        decide: impl FnOnce(Read) -> Decided<T>,
    ) -> Called<T> {
        let signed_path = format!("{}{path}", self.path_prefix);
        let headers = self.signed_headers(&method, &signed_path, body.as_deref());
        let url = format!("{}{path}", self.base_url);
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

    /// A request refused before it was sent (nothing reached WeChat Pay).
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

    fn check_trade_no(n: &str) -> Result<(), NotSendable> {
        if valid_number(n, 6, 32) {
            Ok(())
        } else {
            Err(NotSendable {
                field: "out_trade_no",
                rule: format!(
                    "{n:?} must be 6 to 32 characters of A-Z a-z 0-9 _ - | *, which WeChat Pay requires"
                ),
            })
        }
    }

    fn check_refund_no(n: &str) -> Result<(), NotSendable> {
        if valid_number(n, 1, 64) {
            Ok(())
        } else {
            Err(NotSendable {
                field: "out_refund_no",
                rule: format!(
                    "{n:?} must be 1 to 64 characters of A-Z a-z 0-9 _ - | *, which WeChat Pay requires"
                ),
            })
        }
    }

    /// Creates the payment, with what the create API needs to know about the payer (JSAPI's
    /// `openid`, H5's IP address: [`PayRequest::payer`]).
    async fn create(&self, request: &PayRequest) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Pay;
        let kind = match PayKind::of(request.pay_method) {
            Ok(kind) => kind,
            Err(why) => return self.refuse_locally(OP, Method::POST, PayKind::Native.path(), &why),
        };
        let path = kind.path();
        let create = Self::check_trade_no(&request.trade_no).and_then(|()| {
            TransactionCreate::from_request(
                kind,
                request,
                &self.appid,
                &self.mchid,
                self.notify_url(&request.notify_url),
            )
        });
        let body = match create {
            Ok(create) => json_body(&create),
            Err(why) => return self.refuse_locally(OP, Method::POST, path, &why),
        };
        self.call(OP, Method::POST, path, Some(body), |read| match read.treatment {
            Treatment::Facts => {
                match transformers::created_action(kind, &read.body, &self.key, &self.appid, Utc::now()) {
                    Ok(action) => Decided::answer(
                        PaymentFacts {
                            action: Some(action),
                            ..PaymentFacts::status(PaymentStatus::WaitingForCustomer)
                        },
                        read.code,
                    ),
                    Err(e) => unreadable(OP, e),
                }
            }
            t => otherwise(OP, read.status, t, read.code),
        })
        .await
    }

    /// Asks a bill API (`GET <path>`, a signed and verified call answering a [`BillLocation`]),
    /// then opens the file it points to and streams it through `parser`, its SHA-1 checked at
    /// the end ([`bill_file::items`]). `what` names the file in the exchange's summary.
    async fn bill_file<P: bill_file::LineParser>(
        &self,
        operation: &'static str,
        what: &'static str,
        path: String,
        parser: P,
    ) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        let signed_path = format!("{}{path}", self.path_prefix);
        let headers = self.signed_headers(&Method::GET, &signed_path, None);
        let url = format!("{}{path}", self.base_url);
        let sent = self
            .http
            .send(OutboundRequest { operation, method: Method::GET, url, headers, body: None })
            .await;
        let fail = |draft: ExchangeDraft, code: Option<&MappedCode>, reason: String| {
            let exchange = draft.finish(ExchangeOutcome::Error, code, Some(reason.clone()));
            (BillError::Download { operation, reason }, Some(exchange))
        };
        let location = match self.read::<()>(Operation::Query, sent.end) {
            Err(undecided) => {
                let reason = undecided.error.unwrap_or_default();
                return Err(fail(sent.draft, undecided.outcome.code(), reason));
            }
            Ok(read) if read.treatment != Treatment::Facts => {
                let reason = format!("HTTP {} with {}", read.status, read.code.describe());
                return Err(fail(sent.draft, Some(&read.code), reason));
            }
            Ok(read) => match transformers::read::<BillLocation>(
                &read.body,
                "a {hash_type, hash_value, download_url}",
            ) {
                Ok(l) if l.hash_type == "SHA1" => l,
                Ok(l) => {
                    return Err(fail(
                        sent.draft,
                        None,
                        format!("hash_type must be SHA1 (got {:?})", l.hash_type),
                    ));
                }
                Err(e) => return Err(fail(sent.draft, None, e.to_string())),
            },
        };
        let _ = sent.draft.finish(ExchangeOutcome::Ok, None, None);
        // The file: GET download_url, signed over its own path and query; its body is not signed,
        // the hash is what proves it.
        let target = reqwest::Url::parse(&location.download_url).map_err(|e| {
            (BillError::Download { operation, reason: format!("download_url is not a URL ({e})") }, None)
        })?;
        let signed_path = match target.query() {
            Some(q) => format!("{}?{q}", target.path()),
            None => target.path().to_owned(),
        };
        let headers = self.signed_headers(&Method::GET, &signed_path, None);
        let request = OutboundRequest {
            operation,
            method: Method::GET,
            url: location.download_url.clone(),
            headers,
            body: None,
        };
        let Opened { response, draft } = self.downloads.open(request).await;
        let response = match response {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let reason = format!("the download answered HTTP {}", r.status().as_u16());
                return Err(fail(draft, None, reason));
            }
            Err(
                HttpEnd::TimedOut { error } | HttpEnd::TransportFailed { error } | HttpEnd::Cut { error, .. },
            ) => {
                return Err(fail(draft, None, error));
            }
            Err(HttpEnd::Answered(a)) => return Err(fail(draft, None, format!("HTTP {}", a.status))),
        };
        let exchange = draft
            .summarise_body(format!(
                "{what} streamed to reconciliation (SHA-1 {} checked at its end); the lines are kept there, not here",
                location.hash_value
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
        Ok(BillDownload {
            items: bill_file::items(operation, chunks, Some(location.hash_value), parser),
            exchange,
            earlier: Vec::new(),
        })
    }
}

#[async_trait::async_trait]
impl ProviderAdapter for WechatpayAdapter {
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

    /// Native; JSAPI and H5 with the payer the request carries (see the module documentation).
    async fn pay(&self, request: &PayRequest) -> Called<PaymentFacts> {
        self.create(request).await
    }

    async fn query(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Query;
        let path = format!("/v3/pay/transactions/out-trade-no/{trade_no}?mchid={}", self.mchid);
        if let Err(why) = Self::check_trade_no(trade_no) {
            return self.refuse_locally(OP, Method::GET, &path, &why);
        }
        self.call(OP, Method::GET, &path, None, |read| match read.treatment {
            Treatment::Facts => {
                match transformers::read::<Transaction>(&read.body, "a transaction").and_then(|t| {
                    let code = t.declined_code().unwrap_or(read.code);
                    Ok((t.into_facts(trade_no, &self.mchid, &self.appid)?, code))
                }) {
                    Ok((facts, code)) => Decided::answer(facts, code),
                    Err(e) => unreadable(OP, e),
                }
            }
            Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), read.code),
            t => otherwise(OP, read.status, t, read.code),
        })
        .await
    }

    async fn close(&self, trade_no: &str, _currency: Currency) -> Called<PaymentFacts> {
        const OP: Operation = Operation::Close;
        let path = format!("/v3/pay/transactions/out-trade-no/{trade_no}/close");
        if let Err(why) = Self::check_trade_no(trade_no) {
            return self.refuse_locally(OP, Method::POST, &path, &why);
        }
        let body = json_body(&CloseRequest { mchid: self.mchid.clone() });
        self.call(OP, Method::POST, &path, Some(body), |read| match read.treatment {
            // 204, no body: closed.
            Treatment::Facts | Treatment::Closed => {
                Decided::answer(PaymentFacts::status(PaymentStatus::Closed), read.code)
            }
            // Paid before the close arrived: recorded instead; a query brings its details.
            Treatment::Paid => Decided::answer(PaymentFacts::status(PaymentStatus::Succeeded), read.code),
            Treatment::NotFound => Decided::answer(PaymentFacts::status(PaymentStatus::NotFound), read.code),
            t => otherwise(OP, read.status, t, read.code),
        })
        .await
    }

    async fn refund(&self, request: &RefundRequest) -> Called<RefundFacts> {
        const OP: Operation = Operation::Refund;
        let path = "/v3/refund/domestic/refunds";
        let create = Self::check_trade_no(&request.trade_no)
            .and_then(|()| Self::check_refund_no(&request.refund_trade_no))
            .and_then(|()| RefundCreate::from_request(request, self.notify_url(&request.notify_url)));
        let body = match create {
            Ok(create) => json_body(&create),
            Err(why) => return self.refuse_locally(OP, Method::POST, path, &why),
        };
        self.call(OP, Method::POST, path, Some(body), |read| match read.treatment {
            Treatment::Facts => match transformers::read::<RefundAnswer>(&read.body, "a refund")
                .and_then(|r| r.into_facts(&request.trade_no, &request.refund_trade_no))
            {
                Ok(facts) => Decided::answer(facts, read.code),
                Err(e) => unreadable(OP, e),
            },
            t => otherwise(OP, read.status, t, read.code),
        })
        .await
    }

    async fn refund_query(
        &self,
        trade_no: &str,
        refund_trade_no: &str,
        _currency: Currency,
    ) -> Called<RefundFacts> {
        const OP: Operation = Operation::RefundQuery;
        let path = format!("/v3/refund/domestic/refunds/{refund_trade_no}");
        if let Err(why) = Self::check_trade_no(trade_no).and_then(|()| Self::check_refund_no(refund_trade_no))
        {
            return self.refuse_locally(OP, Method::GET, &path, &why);
        }
        self.call(OP, Method::GET, &path, None, |read| match read.treatment {
            Treatment::Facts => match transformers::read::<RefundAnswer>(&read.body, "a refund")
                .and_then(|r| r.into_facts(trade_no, refund_trade_no))
            {
                Ok(facts) => Decided::answer(facts, read.code),
                Err(e) => unreadable(OP, e),
            },
            Treatment::NotFound => Decided::answer(RefundFacts::status(RefundStatus::NotFound), read.code),
            t => otherwise(OP, read.status, t, read.code),
        })
        .await
    }

    /// The trade bill of `day` (Beijing): every payment and refund ([`bill`]).
    fn day_offset(&self) -> chrono::FixedOffset {
        crate::providers::provider_day::china_standard_time()
    }

    async fn bill(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        let path = format!("/v3/bill/tradebill?bill_date={}&bill_type=ALL", day.format("%Y-%m-%d"));
        self.bill_file("bill", "trade bill", path, bill::TradeBill::new()).await
    }

    /// The fund-flow bill of `day` (Beijing) of the basic account: the settlement, with fees
    /// ([`fundflow`]).
    async fn settlement(&self, day: NaiveDate) -> Result<BillDownload, (BillError, Option<Exchange>)> {
        let path = format!("/v3/bill/fundflowbill?bill_date={}&account_type=BASIC", day.format("%Y-%m-%d"));
        self.bill_file("settlement", "fund-flow bill", path, fundflow::FundFlowBill::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked_against_wechat_pays_alphabet() {
        assert!(valid_number("0190a1b2c3d4e5f60718293a4b5c6d7e", 6, 32));
        assert!(valid_number("a_b-c|d*", 6, 32));
        assert!(!valid_number("short", 6, 32));
        assert!(!valid_number("a/b.cdef", 6, 32));
        assert!(!valid_number(&"x".repeat(33), 6, 32));
    }
}
